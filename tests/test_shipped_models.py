"""The classifiers shipped in radioassist/models: complete, offline, and as good as their cards say."""

import json
import warnings

import numpy as np
import pytest

from radioassist.models import DEFAULT_MODELS, available_models, default_model, model_info, model_path

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SHIPPED = ["first-frdeep-b6", "first-rgd-b3"]
# macro F1 measured on the held-out test splits when the models were trained (see their model cards),
# minus a small margin for numerical differences between platforms and library versions
MIN_MACRO_F1 = {"first-frdeep-b6": 0.78, "first-rgd-b3": 0.88}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_defaults_are_shipped():
    assert set(SHIPPED) <= set(available_models())
    assert default_model("B6") == model_path("first-frdeep-b6")
    assert default_model("B3") == model_path("first-rgd-b3")
    assert DEFAULT_MODELS == {"B6": "first-frdeep-b6", "B3": "first-rgd-b3"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_complete(name):
    from radioassist.backends import get_backend
    from radioassist.backends.vision import weights_sha256

    path = model_path(name)
    for file in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md"):
        assert (path / file).is_file(), file
    assert not list(path.glob("*.bin"))  # no pickle
    assert (path / "model.safetensors").stat().st_size < 3e6  # small: a few MB at most
    info = model_info(name)
    assert info["task"] in DEFAULT_MODELS and info["weights_sha256"] == weights_sha256(path)
    assert info["pixel_scale_arcsec"] == pytest.approx(1.8) and info["beam_arcsec"] == pytest.approx(5.4)
    assert info["render_preset"] == "radio-llava" and info["image_size"] == [64, 64]
    card = (path / "README.md").read_text()
    assert "radioassist train " in card and "macro F1" in card and "Held-out test split" in card
    backend = get_backend("vision", model=path)
    described = backend.describe()
    assert described["model_sha256"] == info["weights_sha256"]
    spec = backend.input_spec(info["task"])
    assert spec["cutout_size_pix"] == info["cutout_size_pix"] and spec["pixel_scale_arcsec"] == pytest.approx(
        1.8
    )


def _macro_f1(name, data):
    from radioassist.backends import get_backend
    from radioassist.training import classification_metrics

    predictions = get_backend("vision", model=model_path(name)).predict(data.rgb(), data.task)
    return classification_metrics(data.targets, predictions.label_indices, data.task.labels)


def test_b6_on_frdeep_test_split(shared_data, tmp_path):
    import csv

    from radioassist.training import load_image_folder

    folder = shared_data / "frdeep_v2"
    with open(folder / "frdeep_v2_manifest.csv", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["split"] == "test"]
    with open(tmp_path / "test.csv", "w", newline="") as fh:  # read only the 198 held-out images
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "file_first": str(folder / row["file_first"])} for row in rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = load_image_folder(
            folder,
            task="B6",
            manifest=tmp_path / "test.csv",
            file_column="file_first",
            label_from_filename=r"_(I|II)\.fits$",
            label_map="I=FR-I,II=FR-II",
        )
    assert len(test) == 198 and set(test.splits) == {"test"}
    metrics = _macro_f1("first-frdeep-b6", test)
    recorded = json.loads((model_path("first-frdeep-b6") / "config.json").read_text())["radioassist"]
    assert metrics["macro_f1"] == pytest.approx(recorded["test_macro_f1"], abs=0.02)
    assert metrics["macro_f1"] >= MIN_MACRO_F1["first-frdeep-b6"]


def test_b3_on_rgd_test_split(shared_data):
    from radioassist.training import load_image_folder

    info = model_info("first-rgd-b3")
    with warnings.catch_warnings():  # one validation image is blank once cropped
        warnings.simplefilter("ignore")
        data = load_image_folder(
            shared_data / "first_rgd_png",
            task="B3",
            manifest="labels.csv",
            label_column="label_name",
            label_map="Compact=NO,FRI=YES,FRII=YES,Bent=YES",
            cutout_size=info["cutout_size_pix"],
        )
    test = data.subset(data.splits == "test")
    assert len(test) == 138
    metrics = _macro_f1("first-rgd-b3", test)
    assert metrics["macro_f1"] == pytest.approx(info["test_macro_f1"], abs=0.02)
    assert metrics["macro_f1"] >= MIN_MACRO_F1["first-rgd-b3"]


def test_default_backend_uses_shipped_models():
    from radioassist.backends import get_backend
    from radioassist.backends.testing import make_test_images

    backend = get_backend("vision")
    images = make_test_images(3, 150)
    for task in ("B6", "B3"):
        predictions = backend.predict(images, task)
        assert predictions.probabilities.shape == (3, 2)
        np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1, atol=1e-5)
        assert backend.describe(task)["model"] == str(default_model(task))
