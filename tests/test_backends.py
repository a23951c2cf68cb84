"""The backend layer: Predictions, the registry, and the ``vision`` backend on tiny random checkpoints."""

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from radioassist.backends import (
    Backend,
    Predictions,
    available_backends,
    backend_from_spec,
    get_backend,
    get_backend_class,
    register_backend,
)
from radioassist.backends import registry
from radioassist.backends.testing import BaseTestBackend, make_test_images
from radioassist.exceptions import BackendError, InputError, ModelError
from radioassist.tasks import get_task

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _save_tiny(folder, labels, *, multilabel=False, radioassist=None, processor=None, seed=0, channels=3):
    """Save a tiny random ResNet classifier with ``save_pretrained``."""
    torch.manual_seed(seed)
    config = transformers.ResNetConfig(
        num_channels=channels,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
        problem_type="multi_label_classification" if multilabel else "single_label_classification",
    )
    if radioassist is not None:
        config.radioassist = radioassist
    model = transformers.ResNetForImageClassification(config)
    model.save_pretrained(folder)
    if processor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


RA_META = {
    "task": "B6",
    "image_size": 32,
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "resample": "bilinear",
    "render_preset": "radio-llava",
    "pixel_scale_arcsec": 1.8,
    "beam_arcsec": 5.4,
    "cutout_size_pix": 150,
}


@pytest.fixture(scope="module")
def tiny_b6(tmp_path_factory):
    return _save_tiny(tmp_path_factory.mktemp("tiny_b6"), ["FR-I", "FR-II"], radioassist=RA_META)


@pytest.fixture(scope="module")
def tiny_b1(tmp_path_factory):
    processor = {
        "image_processor_type": "ViTImageProcessor",
        "size": {"height": 24, "width": 24},
        "resample": 3,
        "image_mean": [0.4, 0.4, 0.4],
        "image_std": [0.3, 0.3, 0.3],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
    }
    return _save_tiny(
        tmp_path_factory.mktemp("tiny_b1"),
        ["EXTENDED", "DIFFUSE", "DIFFUSE-LARGE"],
        multilabel=True,
        processor=processor,
    )


# ------------------------------------------------------------------------------------------- Predictions
def test_predictions_columns():
    p = Predictions("B6", ["FR-I", "FR-II"], [[0.9, 0.1], [0.3, 0.7]])
    cols = p.to_columns()
    assert list(cols) == ["B6_label", "B6_prob_FR-I", "B6_prob_FR-II"]
    assert cols["B6_label"].tolist() == ["FR-I", "FR-II"]
    np.testing.assert_allclose(cols["B6_prob_FR-II"], [0.1, 0.7], rtol=1e-6)
    assert list(p.to_columns(prefix="morph")) == ["morph_label", "morph_prob_FR-I", "morph_prob_FR-II"]
    assert p.label_indices.tolist() == [0, 1]


def test_predictions_generative_and_multilabel():
    p = Predictions(
        "B1",
        [("DIFFUSE", "EXTENDED"), (), None],
        np.full((3, 3), 0.5),
        raw_answers=["diffuse, extended", "none", "???"],
        n_unparsed=1,
    )
    assert p.labels == [("EXTENDED", "DIFFUSE"), ("NONE",), None]
    cols = p.to_columns()
    assert cols["B1_label"].tolist() == ["EXTENDED,DIFFUSE", "NONE", ""]
    assert cols["B1_answer"].tolist() == ["diffuse, extended", "none", "???"]
    assert p.label_indices.tolist() == [[True, True, False], [False, False, False], [False, False, False]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(labels=["FR-I"], probabilities=[[0.5, 0.5], [0.5, 0.5]]), "shape"),
        (dict(labels=["FR-I", "FR-II"], probabilities=[[0.5, 0.5, 0.0]] * 2), "shape"),
        (dict(labels=["FR-I", "FR-III"], probabilities=[[0.5, 0.5]] * 2), "FR-III"),
        (dict(labels=["FR-I", "FR-II"], probabilities=[[1.5, -0.5]] * 2), r"\[0, 1\]"),
        (dict(labels=["FR-I", "FR-II"], probabilities=[[0.5, 0.5]] * 2, raw_answers=["a"]), "raw_answers"),
    ],
)
def test_predictions_validation(kwargs, match):
    with pytest.raises(BackendError, match=match):
        Predictions("B6", **kwargs)


def test_predictions_concatenate_and_empty():
    a = Predictions("B6", ["FR-I"], [[0.6, 0.4]])
    b = Predictions("B6", ["FR-II", "FR-II"], [[0.1, 0.9], [0.2, 0.8]])
    joined = Predictions.concatenate([a, b])
    assert joined.labels == ["FR-I", "FR-II", "FR-II"]
    assert joined.probabilities.shape == (3, 2)
    assert len(Predictions.concatenate([], task="B3")) == 0
    with pytest.raises(BackendError, match="tasks B6 and B3"):
        Predictions.concatenate([a, Predictions("B3", ["YES"], [[1.0, 0.0]])])


# ------------------------------------------------------------------------------------------- registry
def test_registry_unknown_lists_available():
    with pytest.raises(BackendError, match="unknown backend 'nope'.*vision"):
        get_backend("nope")
    assert "vision" in available_backends()


def test_registry_duplicate_and_custom_backend():
    @register_backend("test-constant")
    class Constant(Backend):
        description = "always the first label"
        option_defaults = {"confidence": 1.0}

        def predict(self, images, task):
            task = get_task(task)
            n = len(images)
            probs = np.zeros((n, task.n_classes))
            probs[:, 0] = self.options["confidence"]
            probs[:, 1] = 1 - self.options["confidence"]
            return Predictions(task, [task.labels[0]] * n, probs)

    try:
        assert Constant.name == "test-constant"
        backend = get_backend("Test-Constant", confidence=0.8)
        assert backend.predict(np.zeros((2, 8, 8, 3), np.uint8), "B6").labels == ["FR-I", "FR-I"]
        assert get_backend(backend) is backend
        with pytest.raises(BackendError, match="already registered"):
            register_backend("test-constant")(type("Other", (Backend,), {"predict": lambda s, i, t: None}))
        with pytest.raises(BackendError, match="unknown option.*colour.*confidence"):
            get_backend("test-constant", colour="red")
        with pytest.raises(BackendError, match="Backend subclasses"):
            register_backend("not-a-backend")(object)
        with pytest.raises(InputError, match="batch_size"):
            get_backend("test-constant", batch_size=0)
    finally:
        registry._BACKENDS.pop("test-constant", None)


def test_to_spec_rebuilds_only_registered_classes(tiny_b6):
    class Unregistered(Backend):
        def predict(self, images, task):
            raise NotImplementedError

    with pytest.raises(BackendError, match="Unregistered.*name None.*register_backend"):
        Unregistered().to_spec()
    # a subclass that inherits the name 'vision' is not what get_backend('vision') builds
    from radioassist.backends.vision import VisionBackend

    class Tweaked(VisionBackend):
        pass

    with pytest.raises(BackendError, match="Tweaked.*'vision'.*cannot be rebuilt"):
        Tweaked(model=tiny_b6).to_spec()
    with pytest.raises(BackendError, match="model=.*cannot be sent to another process"):
        VisionBackend(model=object()).to_spec()
    spec = get_backend("vision", model=tiny_b6, dtype="float64", batch_size=5, threshold=0.25).to_spec()
    assert spec == {"backend": "vision", "model": str(tiny_b6), "device": "cpu", "dtype": "float64",
                    "batch_size": 5, "options": {**VisionBackend.option_defaults, "threshold": 0.25}}


def test_backend_from_spec_checks_the_spec(tiny_b6):
    spec = get_backend("vision", model=tiny_b6).to_spec()
    # every setting spelled out, as in a spec, or left to its default: the same cached backend
    assert backend_from_spec(spec, cache=True) is get_backend("vision", model=tiny_b6)
    assert backend_from_spec(spec) is not get_backend("vision", model=tiny_b6)  # private by default
    with pytest.raises(InputError, match="must be a dict made by Backend.to_spec.*got tuple"):
        backend_from_spec(("vision", {}))
    with pytest.raises(InputError, match="missing key.s. options.*expected exactly the keys"):
        backend_from_spec({k: v for k, v in spec.items() if k != "options"})
    with pytest.raises(InputError, match="unknown key.s. name"):
        backend_from_spec({**spec, "name": "x"})
    with pytest.raises(InputError, match="'options' must be a dict"):
        backend_from_spec({**spec, "options": [("threshold", 0.3)]})
    with pytest.raises(InputError, match="must not repeat batch_size"):
        backend_from_spec({**spec, "options": {"batch_size": 3}})
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        backend_from_spec({**spec, "backend": "nope"})
    with pytest.raises(BackendError, match="unknown option.*colour"):
        backend_from_spec({**spec, "options": {"colour": "red"}})


def test_registry_entry_points(tmp_path, monkeypatch):
    module = tmp_path / "ra_plugin_mod.py"
    module.write_text(
        "from radioassist.backends import Backend\n"
        "class PluginBackend(Backend):\n"
        "    description = 'from a plug-in'\n"
        "    def predict(self, images, task):\n"
        "        raise NotImplementedError\n"
        "NotABackend = object\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {
        "plugged": EntryPoint("plugged", "ra_plugin_mod:PluginBackend", registry.ENTRY_POINT_GROUP),
        "broken": EntryPoint("broken", "ra_plugin_missing_mod:X", registry.ENTRY_POINT_GROUP),
        "wrong": EntryPoint("wrong", "ra_plugin_mod:NotABackend", registry.ENTRY_POINT_GROUP),
    }
    monkeypatch.setattr(registry, "_entry_points", eps)
    try:
        assert {"plugged", "broken", "wrong"} <= set(available_backends())
        assert "ra_plugin_mod" not in sys.modules  # listed, not imported
        cls = get_backend_class("plugged")
        assert cls.__name__ == "PluginBackend" and cls.name == "plugged"
        with pytest.raises(BackendError, match="could not be imported"):
            get_backend("broken")
        with pytest.raises(BackendError, match="not a radioassist.backends.Backend"):
            get_backend("wrong")
    finally:
        registry._BACKENDS.pop("plugged", None)


def test_import_is_light():
    code = (
        "import sys, radioassist, radioassist.backends, radioassist.models, radioassist.training; "
        "radioassist.backends.available_backends(); radioassist.backends.get_backend_class('vision'); "
        "bad = [m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})


# ------------------------------------------------------------------------------------------- contract
class TestVisionBackendContract(BaseTestBackend):
    @pytest.fixture
    def backend_factory(self, tiny_b6):
        return lambda **options: get_backend("vision", model=tiny_b6, **options)

    @pytest.fixture
    def task(self):
        return get_task("B6")


class TestVisionBackendMultilabelContract(BaseTestBackend):
    image_size = 40

    @pytest.fixture
    def backend_factory(self, tiny_b1):
        return lambda **options: get_backend("vision", model=tiny_b1, **options)

    @pytest.fixture
    def task(self):
        return get_task("B1")


# ------------------------------------------------------------------------------------------- vision backend
def test_vision_preprocessing_and_describe(tiny_b6, tiny_b1):
    from radioassist.backends.vision import weights_sha256

    backend = get_backend("vision", model=tiny_b6)
    info = backend.describe()
    assert info["model_sha256"] == weights_sha256(tiny_b6) and len(info["model_sha256"]) == 64
    assert info["preprocessing"]["size"] == [32, 32]
    assert info["pixel_scale_arcsec"] == 1.8 and info["cutout_size_pix"] == 150
    assert backend.input_spec("B6") == {
        "render_preset": "radio-llava",
        "pixel_scale_arcsec": 1.8,
        "beam_arcsec": 5.4,
        "cutout_size_pix": 150,
        "image_size": [32, 32],
    }
    other = get_backend("vision", model=str(tiny_b1)).describe()
    assert other["preprocessing"]["size"] == [24, 24]
    assert other["preprocessing"]["resample"] == "bicubic"
    assert other["preprocessing"]["mean"] == [0.4, 0.4, 0.4]
    assert other["multilabel"] and other["threshold"] == 0.5


def test_vision_preprocess_matches_hf_processor(tiny_b1):
    """The batched torch preprocessing agrees with the checkpoint's own transformers image processor."""
    from radioassist.backends.vision import VisionBackend, _preprocess

    images = make_test_images(3, 24)
    processor = transformers.AutoImageProcessor.from_pretrained(tiny_b1, local_files_only=True)
    ref = processor(images=list(images), return_tensors="pt")["pixel_values"]
    spec = VisionBackend(model=tiny_b1).load().spec
    ours = _preprocess(images, spec)
    torch.testing.assert_close(ours, ref.float(), atol=1e-5, rtol=1e-5)
    big = make_test_images(3, 150)  # with a bicubic resize 150 -> 24: transformers rounds to uint8, we do not
    ref = processor(images=list(big), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(_preprocess(big, spec), ref.float(), atol=0.02, rtol=0)


def test_vision_multilabel_threshold(tiny_b1):
    images = make_test_images(4, 40)
    low = get_backend("vision", model=tiny_b1, threshold=0.01).predict(images, "B1")
    assert all(label == ("EXTENDED", "DIFFUSE", "DIFFUSE-LARGE") for label in low.labels)
    high = get_backend("vision", model=tiny_b1, threshold=0.99).predict(images, "B1")
    assert all(label == ("NONE",) for label in high.labels)
    with pytest.raises(InputError, match="threshold"):
        get_backend("vision", threshold=1.5)


def test_vision_label_aliases_and_order(tmp_path):
    folder = _save_tiny(tmp_path / "m", ["fr_ii", "FRI"], processor={"size": 16})
    backend = get_backend("vision", model=folder)
    images = make_test_images(3, 16)
    preds = backend.predict(images, "B6")
    with torch.inference_mode():
        from radioassist.backends.vision import _preprocess

        loaded = backend.load()
        raw = torch.softmax(loaded.model(pixel_values=_preprocess(images, loaded.spec)).logits, -1).numpy()
    np.testing.assert_allclose(preds.probabilities, raw[:, ::-1], atol=1e-6)  # model order FR-II, FR-I


def test_vision_label_mismatch(tmp_path, tiny_b6):
    folder = _save_tiny(tmp_path / "m", ["COMPACT", "EXTENDED"], processor={"size": 16})
    backend = get_backend("vision", model=folder)
    with pytest.raises(ModelError, match=r"COMPACT, EXTENDED.*task B3 \(YES, NO\)"):
        backend.predict(make_test_images(1, 16), "B3")
    with pytest.raises(ModelError, match="COMPACT"):
        backend.check_task("B3")
    with pytest.raises(ModelError, match="trained for task B6, not B3"):
        get_backend("vision", model=tiny_b6).check_task("B3")
    with pytest.raises(ModelError, match="single-label classifier but task B1 is multi-label"):
        get_backend("vision", model=folder).check_task("B1")
    yes_no = _save_tiny(tmp_path / "yn", ["YES", "NO"], radioassist={**RA_META, "task": "B3"})
    with pytest.raises(ModelError, match="trained for task B3, not B4"):
        get_backend("vision", model=yes_no).predict(make_test_images(1, 16), "B4")


def test_vision_broken_checkpoints(tmp_path, tiny_b6):
    import shutil

    with pytest.raises(ModelError, match="does not exist"):
        get_backend("vision", model=tmp_path / "missing").load()
    with pytest.raises(ModelError, match="does not exist"):
        get_backend("vision", model="./no/such/folder").load()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        get_backend("vision", model=empty).load()
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_b6, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no weight file"):
        get_backend("vision", model=no_weights).load()
    garbage = tmp_path / "garbage"
    shutil.copytree(tiny_b6, garbage)
    (garbage / "model.safetensors").write_bytes(b"not a safetensors file" * 4)
    with pytest.raises(ModelError, match="could not load"):
        get_backend("vision", model=garbage).load()
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_b6, truncated)
    content = (tiny_b6 / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(content[: len(content) // 2])
    with pytest.raises(ModelError, match="could not load"):
        get_backend("vision", model=truncated).load()
    with pytest.raises(ModelError, match="is a file"):
        get_backend("vision", model=tiny_b6 / "config.json").load()


def test_vision_recorded_hash_detects_modified_weights(tmp_path, tiny_b6):
    import shutil
    from radioassist.backends.vision import weights_sha256

    folder = tmp_path / "hashed"
    shutil.copytree(tiny_b6, folder)
    config = json.loads((folder / "config.json").read_text())
    config["radioassist"]["weights_sha256"] = weights_sha256(folder)
    (folder / "config.json").write_text(json.dumps(config))
    get_backend("vision", model=folder).load()  # intact: fine
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # flip bits of the last weight: still a valid file
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupted or were modified"):
        get_backend("vision", model=folder).load()


def test_vision_pickle_only_refused_unless_allowed(tmp_path, tiny_b6):
    import shutil

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_b6, folder)
    model = transformers.AutoModelForImageClassification.from_pretrained(folder, local_files_only=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="pickle.*allow_pickle=True"):
        get_backend("vision", model=folder).load()
    images = make_test_images(2, 32)
    preds = get_backend("vision", model=folder, allow_pickle=True).predict(images, "B6")
    ref = get_backend("vision", model=tiny_b6).predict(images, "B6")
    np.testing.assert_allclose(preds.probabilities, ref.probabilities, atol=1e-6)


def test_vision_dtype_and_bad_input(tiny_b6):
    images = make_test_images(3, 32)
    ref = get_backend("vision", model=tiny_b6).predict(images, "B6")
    half = get_backend("vision", model=tiny_b6, dtype="bfloat16").predict(images, "B6")
    np.testing.assert_allclose(half.probabilities, ref.probabilities, atol=0.05)
    assert get_backend("vision", model=tiny_b6, dtype="bfloat16").describe()["dtype"] == "bfloat16"
    with pytest.raises(InputError, match="dtype"):
        get_backend("vision", dtype="int8")
    backend = get_backend("vision", model=tiny_b6)
    with pytest.raises(InputError, match="uint8"):
        backend.predict(images.astype(np.float32), "B6")
    with pytest.raises(InputError, match=r"image\[None\]"):
        backend.predict(images[0], "B6")
    with pytest.raises(InputError, match="path"):
        backend.predict("cutout.png", "B6")
    grey = backend.predict(images[..., 0], "B6")  # a grey (N, H, W) stack is replicated to RGB
    np.testing.assert_allclose(grey.probabilities, ref.probabilities, atol=1e-6)


def test_vision_default_model_per_task():
    from radioassist.models import DEFAULT_MODELS, available_models, default_model

    backend = get_backend("vision")
    assert backend.describe()["model"] == "default"
    if DEFAULT_MODELS["B6"] not in available_models():
        pytest.skip("the shipped models are not installed")
    images = make_test_images(2, 150)
    preds = backend.predict(images, "B6")
    assert preds.probabilities.shape == (2, 2)
    assert backend.describe("B6")["model"] == str(default_model("B6"))
    with pytest.raises(ModelError, match="no default model is shipped for task B5.*B3, B6"):
        backend.predict(images, "B5")
