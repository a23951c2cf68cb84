"""Safe model loading: safetensors only unless asked, no remote code unless asked, API keys never leak."""
import json
import logging
import os
import pickle
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from radioassist.backends import get_backend, get_backend_class
from radioassist.backends.testing import make_test_images
from radioassist.exceptions import BackendError, ModelError
from radioassist.pipeline import classify
from radioassist.simulate import simulate_sky

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

KEY = "sk-radioassist-test-SECRET-7f3a9c"
KEY_ENV = "RADIOASSIST_SAFE_LOADING_TEST_KEY"


class _Trap:
    """Unpickling this creates a marker folder: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def trap_pickle(path, marker):
    path.write_bytes(pickle.dumps({"weights": _Trap(marker)}))


def save_tiny_model(folder, labels=("FR-I", "FR-II"), task="B6"):
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    config.radioassist = {"task": task, "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3,
                          "resample": "bilinear", "render_preset": "radio-llava"}
    model = transformers.ResNetForImageClassification(config)
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder, model = save_tiny_model(tmp_path_factory.mktemp("tiny") / "safe")
    return folder, model


@pytest.fixture
def images():
    return make_test_images(3, 48)


# ------------------------------------------------------------------------------------------------ vision
def test_vision_options_are_safe_by_default():
    defaults = get_backend_class("vision").option_defaults
    assert defaults["allow_pickle"] is False and defaults["trust_remote_code"] is False


def test_vision_refuses_pickle_weights_unless_allowed(tiny, tmp_path, images):
    folder, model = tiny
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(folder / "config.json", pickled / "config.json")
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"only has pickle weights \(pytorch_model.bin\).*allow_pickle=True"):
        get_backend("vision", model=pickled).predict(images, "B6")
    reference = get_backend("vision", model=folder).predict(images, "B6")
    allowed = get_backend("vision", model=pickled, allow_pickle=True).predict(images, "B6")
    np.testing.assert_allclose(allowed.probabilities, reference.probabilities, atol=1e-6)


def test_vision_never_unpickles_when_safetensors_exist(tiny, tmp_path, images):
    folder, _ = tiny
    both = tmp_path / "both"
    shutil.copytree(folder, both)
    marker = tmp_path / "PICKLE-WAS-LOADED"
    trap_pickle(both / "pytorch_model.bin", marker)
    for allow in (False, True):
        backend = get_backend("vision", model=both, allow_pickle=allow)
        assert backend.predict(images, "B6").probabilities.shape == (3, 2)
        assert not marker.exists()
    # and a trapped pickle alone is refused before it is opened
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(folder / "config.json", only / "config.json")
    trap_pickle(only / "pytorch_model.bin", marker)
    with pytest.raises(ModelError, match="only has pickle weights"):
        get_backend("vision", model=only).predict(images, "B6")
    assert not marker.exists()


def test_vision_refuses_remote_code_by_default(tmp_path, images):
    folder = tmp_path / "custom"
    folder.mkdir()
    marker = tmp_path / "REMOTE-CODE-RAN"
    (folder / "custom_model.py").write_text(f"import os\nos.makedirs({str(marker)!r})\n")
    config = {"model_type": "radioassist-custom-test", "architectures": ["CustomModel"],
              "auto_map": {"AutoConfig": "custom_model.CustomConfig",
                           "AutoModelForImageClassification": "custom_model.CustomModel"},
              "id2label": {"0": "FR-I", "1": "FR-II"}, "label2id": {"FR-I": 0, "FR-II": 1}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="(?i)trust_remote_code|custom code|radioassist-custom-test"):
        get_backend("vision", model=folder).predict(images, "B6")
    assert not marker.exists()


def test_vision_hub_models_load_safetensors_without_remote_code(monkeypatch, images):
    """For hub ids nothing is on disk to check: the loader must be asked for safetensors and no remote code."""
    seen = {}

    def fake_from_pretrained(source, **kwargs):
        seen.update(kwargs, source=source)
        raise OSError("no network in tests")

    monkeypatch.setattr(transformers.AutoModelForImageClassification, "from_pretrained", fake_from_pretrained)
    with pytest.raises(ModelError, match="no network in tests"):
        get_backend("vision", model="some-org/radio-classifier").predict(images, "B6")
    assert seen["source"] == "some-org/radio-classifier"
    assert seen["use_safetensors"] is True and seen["trust_remote_code"] is False
    seen.clear()
    with pytest.raises(ModelError):
        get_backend("vision", model="some-org/radio-classifier", allow_pickle=True,
                    trust_remote_code=True).predict(images, "B6")
    assert seen["use_safetensors"] is None and seen["trust_remote_code"] is True  # only when asked


def test_vision_detects_modified_weights(tiny, tmp_path, images):
    folder, _ = tiny
    copy = tmp_path / "recorded"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    config["radioassist"]["weights_sha256"] = "0" * 64
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="corrupted or were modified"):
        get_backend("vision", model=copy).predict(images, "B6")


def test_cli_allow_pickle_flag(tiny, tmp_path):
    folder, model = tiny
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(folder / "config.json", pickled / "config.json")
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    sky = simulate_sky(shape=(128, 128), n_sources=5, seed=1, output=tmp_path / "sky.fits")
    sky.write_catalog(tmp_path / "sky.ecsv")
    from radioassist.cli import main
    args = ["classify", str(tmp_path / "sky.fits"), "--catalog", str(tmp_path / "sky.ecsv"), "-m", str(pickled),
            "--size", "32"]
    result = CliRunner().invoke(main, args + ["-o", str(tmp_path / "a.ecsv")])
    assert result.exit_code == 1 and "only has pickle weights" in result.output
    assert not (tmp_path / "a.ecsv").exists()
    result = CliRunner().invoke(main, args + ["-o", str(tmp_path / "b.ecsv"), "--allow-pickle"])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------------------------ llava
@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from radioassist.backends.tiny import make_tiny_llava_onevision
    return make_tiny_llava_onevision(tmp_path_factory.mktemp("llava") / "tiny")


def test_llava_options_are_safe_by_default():
    for name in ("llava", "hf-vlm"):
        defaults = get_backend_class(name).option_defaults
        assert defaults["allow_pickle"] is False and defaults["trust_remote_code"] is False


def test_llava_loads_safetensors_and_refuses_pickles(tiny_llava, tmp_path):
    images = make_test_images(2, 32)
    backend = get_backend("llava", model=tiny_llava)
    assert backend.predict(images, "B6").probabilities.shape == (2, 2)
    info = backend.describe()
    assert info["model_sha256"] and len(info["model_sha256"]) == 64
    # the same checkpoint with pickle weights only
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_llava, pickled)
    from safetensors.torch import load_file
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"only has pickle weights.*allow_pickle=True"):
        get_backend("llava", model=pickled).predict(images, "B6")
    # a trapped pickle next to the safetensors is never opened
    both = tmp_path / "both"
    shutil.copytree(tiny_llava, both)
    marker = tmp_path / "PICKLE-WAS-LOADED"
    trap_pickle(both / "pytorch_model.bin", marker)
    assert get_backend("llava", model=both, allow_pickle=True).predict(images, "B6").probabilities.shape == (2, 2)
    assert not marker.exists()


def test_llava_refuses_pickle_adapters(tiny_llava, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    marker = tmp_path / "ADAPTER-PICKLE-LOADED"
    trap_pickle(adapter / "adapter_model.bin", marker)
    with pytest.raises(ModelError, match=r"only has pickle weights \(adapter_model.bin\)"):
        get_backend("llava", model=tiny_llava, adapter=adapter).predict(make_test_images(1, 32), "B6")
    assert not marker.exists()


def test_llava_hub_models_load_without_remote_code(monkeypatch):
    seen = {}

    def fake_from_pretrained(source, **kwargs):
        seen.update(kwargs, source=source)
        raise OSError("no network in tests")

    monkeypatch.setattr(transformers.LlavaOnevisionForConditionalGeneration, "from_pretrained", fake_from_pretrained)
    with pytest.raises(ModelError, match="no network in tests"):
        get_backend("llava", model="some-org/radio-llava").predict(make_test_images(1, 32), "B6")
    assert seen["use_safetensors"] is True and seen["trust_remote_code"] is False


# ------------------------------------------------------------------------------------------------ openai
class _Server:
    """An OpenAI-compatible endpoint on 127.0.0.1 answering 'FR-II'; records the headers it receives."""

    def __init__(self, *, status=200):
        self.headers = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                server.headers.append(dict(self.headers))
                if status != 200:  # an error page that echoes what it was sent, as some proxies do
                    body = json.dumps({"error": {"message": f"bad key {self.headers.get('Authorization')}"}})
                else:
                    body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                                             "content": "FR-II"}}]})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def small_sky(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai-sky")
    sky = simulate_sky(shape=(128, 128), n_sources=4, seed=3, output=folder / "sky.fits")
    sky.write_catalog(folder / "sky.ecsv")
    return folder


def test_openai_key_only_from_the_environment_and_never_written(small_sky, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG, logger="radioassist")
    options = {"base_url": None, "api_key_env": KEY_ENV, "mode": "generate", "max_retries": 0}
    with _Server() as server:
        options["base_url"] = server.url
        table = classify(str(small_sky / "sky.fits"), str(small_sky / "sky.ecsv"), backend="openai",
                         model="radio-llava", size=32, backend_options=options,
                         min_coverage=0.0, gate=False)
        assert server.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in server.headers)
    assert set(np.asarray(table["B6_label"], dtype=str)) == {"FR-II"}
    assert "B6_answer" in table.colnames
    meta = json.dumps(table.meta, default=str)
    assert KEY not in meta and table.meta["radioassist"]["model_api_key_env"] == KEY_ENV
    from radioassist.output import write_table
    for ext in (".ecsv", ".fits", ".vot"):
        out = tmp_path / f"o{ext}"
        write_table(table, out)
        assert KEY.encode() not in out.read_bytes()
    assert KEY not in caplog.text
    # there is no way to pass the key itself
    with pytest.raises(BackendError, match=r"unknown option\(s\) api_key"):
        get_backend("openai", model="m", api_key=KEY)


def test_openai_key_not_leaked_by_an_echoing_error_page(small_sky, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG, logger="radioassist")
    with _Server(status=401) as server:
        backend = get_backend("openai", model="radio-llava", base_url=server.url, api_key_env=KEY_ENV,
                              mode="generate", max_retries=0)
        predictions = backend.predict(make_test_images(1, 32), "B6")
    assert predictions.labels == [None]
    assert "HTTP 401" in predictions.raw_answers[0]
    leaks = [where for where, text in (("raw answer", predictions.raw_answers[0]), ("log", caplog.text),
                                       ("errors", str(predictions.errors)),
                                       ("last_errors", str(backend.last_errors))) if KEY in text]
    assert not leaks, f"the API key leaked into: {', '.join(leaks)}"


def test_openai_through_the_cli(small_sky, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    from radioassist.cli import main
    out = tmp_path / "labels.ecsv"
    with _Server() as server:
        result = CliRunner().invoke(main, [
            "classify", str(small_sky / "sky.fits"), "--catalog", str(small_sky / "sky.ecsv"), "-b", "openai",
            "-m", "radio-llava", "--size", "32", "-o", str(out), "--option", f"base_url={server.url}",
            "--option", f"api_key_env={KEY_ENV}", "--option", "mode=generate", "--min-coverage", "0",
            "--no-gate"])
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and KEY not in out.read_text()
    table = Table.read(out)
    assert len(table) == 4 and set(table["B6_label"]) == {"FR-II"}
