"""``radioassist classify`` options shared with the Python API: --preset and the size rule.

A small simulated FIRST-like mosaic and the model shipped for B6; the command line must do what
``radioassist.classify`` does with the same arguments, record it in the provenance, and refuse bad values
with the API's own message (exit status 2, no traceback).
"""
import importlib
import re

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from radioassist.cli import main
from radioassist.exceptions import InputError
from radioassist.pipeline import classify
from radioassist.simulate import simulate_sky

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

RULE = ["--size", "32", "--size-factor", "3", "--min-size", "20arcsec", "--max-size", "2arcmin"]


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sky")
    simulated = simulate_sky(shape=(200, 200), n_sources=12, seed=2, output=folder / "sky.fits")
    simulated.write_catalog(folder / "sky.ecsv")
    return folder / "sky.fits", folder / "sky.ecsv"


def run(*args):
    return CliRunner().invoke(main, ["classify", *[str(a) for a in args]])


def probabilities(table):
    return np.ma.filled(np.ma.asarray(table["B6_prob_FR-I"], dtype=float), np.nan)


def test_preset_and_size_rule_are_used_and_recorded(sky, tmp_path):
    mosaic, catalog = sky
    out = tmp_path / "zscale.ecsv"
    result = run(mosaic, "-c", catalog, "-o", out, "--preset", "ZScale", *RULE)
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    meta = table.meta["radioassist"]
    assert meta["render_preset"] == "zscale"  # canonical name of --preset ZScale
    assert meta["size_rule"] == {"size_factor": "3.0", "min_size": "20.0 arcsec", "max_size": "2.0 arcmin"}
    assert meta["cutout_size"] == "32"
    # the command line did what the API does with the same arguments
    api = classify(str(mosaic), str(catalog), preset="zscale", size=32, size_factor=3, min_size="20arcsec",
                   max_size="2arcmin")
    assert api.meta["radioassist"]["size_rule"] == meta["size_rule"]
    np.testing.assert_allclose(probabilities(table), probabilities(api), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(table["B6_flag"].filled("")), np.asarray(api["B6_flag"]))

    # without --preset and the rule: the model's own preset, native 32-pixel cutouts, other probabilities
    plain = tmp_path / "plain.ecsv"
    result = run(mosaic, "-c", catalog, "-o", plain, "--size", "32")
    assert result.exit_code == 0, result.output
    default = Table.read(plain)
    assert default.meta["radioassist"]["render_preset"] == default.meta["radioassist"]["model_render_preset"]
    assert "size_rule" not in default.meta["radioassist"]
    ok = np.isfinite(probabilities(default)) & np.isfinite(probabilities(table))
    assert ok.sum() >= 8 and not np.allclose(probabilities(default)[ok], probabilities(table)[ok])


def test_gallery_renders_with_the_preset_of_the_run(sky, tmp_path, monkeypatch):
    render_module = importlib.import_module("radioassist.render")
    mosaic, catalog = sky
    presets = []
    original = render_module.render

    def spy(images, **kwargs):
        presets.append(kwargs.get("preset"))
        return original(images, **kwargs)

    monkeypatch.setattr(render_module, "render", spy)
    gallery = tmp_path / "gallery.png"
    result = run(mosaic, "-c", catalog, "-o", tmp_path / "out.ecsv", "--size", "32", "--preset", "asinh",
                 "--gallery", gallery)
    assert result.exit_code == 0, result.output
    assert gallery.stat().st_size > 0
    assert presets and set(presets) == {"asinh"}  # the gallery renders as the run did, not with a fixed preset


@pytest.mark.parametrize(("args", "api", "message"), [
    (["--preset", "sepia"], dict(preset="sepia"),
     "preset (--preset) must be a render preset, got 'sepia'; available presets: radio-llava, zscale"),
    (["--size-factor", "0"], dict(size_factor=0), "size_factor (--size-factor) must be a positive number"),
    (["--size-factor", "2", "--min-size", "-3arcsec"], dict(size_factor=2, min_size="-3arcsec"),
     "min_size (--min-size) must be a positive number of pixels"),
    (["--min-size", "20arcsec"], dict(min_size="20arcsec"),
     "min_size (--min-size) and max_size (--max-size) only apply with size_factor (--size-factor)"),
    (["--size-factor", "2", "--min-size", "2arcmin", "--max-size", "1arcmin"],
     dict(size_factor=2, min_size="2arcmin", max_size="1arcmin"), "max_size (--max-size, 1.0 arcmin) is smaller"),
    (["--size", "30arcsec", "--size-factor", "2"], dict(size="30arcsec", size_factor=2),
     "with size_factor (--size-factor), size (--size) is the output side in pixels"),
    (["--min-coverage", "1.5"], dict(min_coverage=1.5), "min_coverage (--min-coverage) must be a number from 0 to 1"),
    (["--chunk-size", "0"], dict(chunk_size=0), "chunk_size (--chunk-size) must be a positive integer, got 0"),
])
def test_bad_values_give_the_api_message(sky, tmp_path, args, api, message):
    """The same check on both sides, each in its own words: options on the command line, keywords in Python."""
    from radioassist.cli._common import cli_message

    mosaic, catalog = sky
    result = run(mosaic, "-c", catalog, "-o", tmp_path / "x.ecsv", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [f"Error: {errors[0][7:]}"] and cli_message(message) in errors[0]
    assert not re.search(r"\b[a-z_]+ \(--", errors[0])  # no keyword argument on the command line
    with pytest.raises(InputError, match=re.escape(message)):
        classify(str(mosaic), str(catalog), **api)
    assert not (tmp_path / "x.ecsv").exists()


def test_help_lists_the_new_options():
    result = CliRunner().invoke(main, ["classify", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option in ("--preset", "--size-factor", "--min-size", "--max-size", "--size-unit", "--hdu", "--plane"):
        assert option in text
    assert "radio-llava, zscale, asinh, percentile, sigma-clip" in text
