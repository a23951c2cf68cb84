"""The process-wide cache of backends and their loaded models (repeated ``classify`` calls reuse them)."""
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import radioassist as ra
from radioassist.backends import _cache, get_backend

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _save_tiny(folder, *, seed=0):
    torch.manual_seed(seed)
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=2, id2label={0: "FR-I", 1: "FR-II"}, label2id={"FR-I": 0, "FR-II": 1},
        problem_type="single_label_classification")
    config.radioassist = {"task": "B6", "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3,
                          "resample": "bilinear", "render_preset": "radio-llava", "pixel_scale_arcsec": 1.8,
                          "beam_arcsec": 5.4, "cutout_size_pix": 32}
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture
def fresh_cache():
    ra.clear_model_cache()
    yield
    ra.clear_model_cache()


@pytest.fixture
def image_and_row(tmp_path):
    """A 300x300 FITS at the model's 1.8"/px with a FITS-style JY/BEAM unit, and a one-row catalogue."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [150.5, 150.5]
    wcs.wcs.cdelt = [-1.8 / 3600, 1.8 / 3600]
    rng = np.random.default_rng(1)
    data = rng.normal(0, 1e-4, (300, 300)).astype(np.float32)
    yy, xx = np.mgrid[:300, :300]
    data += 5e-3 * np.exp(-((xx - 150) ** 2 + (yy - 150) ** 2) / 18.0)
    header = wcs.to_header()
    header.update(BUNIT="JY/BEAM", BMAJ=5.4 / 3600, BMIN=5.4 / 3600, BPA=0.0)
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    return path, Table({"ra": [150.0], "dec": [2.0], "name": ["s1"]})


def test_classify_calls_reuse_the_loaded_model(fresh_cache, tmp_path, image_and_row, monkeypatch):
    model = _save_tiny(tmp_path / "model")
    path, row = image_and_row
    loads = []
    auto = transformers.AutoModelForImageClassification
    real_load = auto.from_pretrained
    monkeypatch.setattr(auto, "from_pretrained", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    # gate=False: the B6 gate would load the shipped B3 model too (once as well)
    first = ra.classify(path, row, task="B6", model=model, gate=False)
    second = ra.classify(path, row, task="B6", model=str(model) + os.sep, gate=False)  # the same, spelt differently
    assert len(loads) == 1
    np.testing.assert_array_equal(first["B6_prob_FR-I"], second["B6_prob_FR-I"])
    assert first["B6_flag"][0] == ""
    assert get_backend("vision", model=model) is get_backend("vision", model=model)
    # other settings are other backends
    assert get_backend("vision", model=model, batch_size=7) is not get_backend("vision", model=model)
    assert get_backend("vision", model=model, cache=False) is not get_backend("vision", model=model)


def test_modified_or_replaced_model_folder_is_reloaded(fresh_cache, tmp_path):
    folder = _save_tiny(tmp_path / "model", seed=0)
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    images[:, 12:20, 10:22] = 255
    first = get_backend("vision", model=folder)
    p0 = first.predict(images, "B6").probabilities

    shutil.rmtree(folder)  # replace the folder by another model
    _save_tiny(folder, seed=1)
    second = get_backend("vision", model=folder)
    assert second is not first
    p1 = second.predict(images, "B6").probabilities
    assert not np.allclose(p0, p1)
    # the stale entry is gone
    assert len([k for k in _cache.cache_info() if k[1] == str(folder.resolve())]) == 1

    weights = folder / "model.safetensors"  # rewrite a file in place (new size or mtime)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert get_backend("vision", model=folder) is not second


def test_clear_model_cache(fresh_cache):
    backend = ra.get_backend("vision")
    assert ra.get_backend("vision") is backend
    assert ("vision", None, "cpu") in _cache.cache_info()
    assert ra.clear_model_cache() == 1
    assert _cache.cache_info() == []
    assert ra.get_backend("vision") is not backend
    assert "clear_model_cache" in ra.__all__


def test_released_backend_is_rebuilt(fresh_cache):
    backend = get_backend("vision")
    backend._loaded = None  # what an owner does to free the model's memory
    assert get_backend("vision") is not backend


def test_user_backends_and_unhashable_options_are_not_cached(fresh_cache):
    from radioassist.backends import Backend, register_backend

    @register_backend("cache-test-constant", overwrite=True)
    class Constant(Backend):
        option_defaults = {"thing": None}

        def predict(self, images, task):
            raise NotImplementedError

    assert get_backend("cache-test-constant") is not get_backend("cache-test-constant")
    assert get_backend("cache-test-constant", thing=object()) is not get_backend("cache-test-constant")
    assert _cache.cache_info() == []
