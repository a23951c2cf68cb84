"""Tests of the ``radioassist cutout`` command (click's CliRunner, real LoTSS data)."""
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from click.testing import CliRunner

from radioassist.cli._cutout import cutout_command
from radioassist.cutouts import CutoutStack


@pytest.fixture
def lotss(shared_data):
    folder = shared_data / "lotss_dr1_hetdex"
    return folder / "P205+55-mosaic.fits", folder / "catalog_sources_in_images.csv", folder


def run(*args):
    result = CliRunner().invoke(cutout_command, [str(a) for a in args])
    return result


def assert_clean_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert not result.exception or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output


def test_cube_output(lotss, tmp_path):
    mosaic, catalog, _ = lotss
    out = tmp_path / "cutouts.fits"
    result = run(mosaic, "--catalog", catalog, "-o", out, "--size", "32")
    assert result.exit_code == 0, result.output
    assert "27 cutouts of 32x32 px" in result.output and "46 off the image (skipped)" in result.output
    stack = CutoutStack.read(out)
    rows = Table.read(catalog)
    in_image = np.flatnonzero(np.asarray(rows["image"]) == "P205+55-mosaic.fits")
    # only the 27 rows on this mosaic get a cutout, each with its catalogue row
    assert len(stack) == 27 and stack.size == 32 and stack.n_input == 73
    np.testing.assert_array_equal(stack.rows, in_image)
    assert stack.valid.all()
    np.testing.assert_allclose(stack.xy[:, 0], rows["x_pix0"][in_image], atol=0.01)
    np.testing.assert_allclose(stack.xy[:, 1], rows["y_pix0"][in_image], atol=0.01)
    with fits.open(out) as hdul:
        assert hdul[0].data.shape == (27, 32, 32) and hdul["CUTOUTS"].data["row"].tolist() == in_image.tolist()
        assert hdul[0].header["BUNIT"].upper() == "JY/BEAM"


def test_refuses_to_overwrite(lotss, tmp_path):
    mosaic, catalog, _ = lotss
    out = tmp_path / "cutouts.fits"
    out.write_bytes(b"precious")
    result = run(mosaic, "-c", catalog, "-o", out)
    assert_clean_error(result, "--overwrite")
    assert out.read_bytes() == b"precious"
    result = run(mosaic, "-c", catalog, "-o", out, "--size", "16", "--overwrite")
    assert result.exit_code == 0, result.output
    assert len(CutoutStack.read(out)) == 27
    folder = tmp_path / "folder"
    assert run(mosaic, "-c", catalog, "-o", folder, "--size", "16").exit_code == 0
    assert_clean_error(run(mosaic, "-c", catalog, "-o", folder, "--size", "16"), "overwrite")


def test_folder_of_fits_named_by_a_column(lotss, tmp_path):
    mosaic, catalog, _ = lotss
    folder = tmp_path / "cutouts"
    result = run(mosaic, "-c", catalog, "-o", folder, "--size", "90arcsec", "--name-col", "Source_Name")
    assert result.exit_code == 0, result.output
    assert "46 off the image (skipped)" in result.output
    files = sorted(folder.glob("*.fits"))
    rows = Table.read(catalog)
    inside = rows[rows["image"] == "P205+55-mosaic.fits"]
    assert {f.stem for f in files} >= set(inside["Source_Name"])
    first = inside[0]
    with fits.open(folder / f"{first['Source_Name']}.fits") as hdul:
        header, pixels = hdul[0].header, hdul[0].data
    assert pixels.shape == (60, 60)  # 90" at 1.5"/px
    x, y = WCS(header).world_to_pixel_values(first["RA"], first["DEC"])
    assert abs(x - 29.5) <= 0.5 and abs(y - 29.5) <= 0.5


def test_size_factor_and_resample(lotss, tmp_path):
    mosaic, catalog, _ = lotss
    out = tmp_path / "rule.fits"
    result = run(mosaic, "-c", catalog, "-o", out, "--size", "48", "--size-factor", "3", "--size-col", "Maj",
                 "--size-unit", "arcsec", "--min-size", "30arcsec", "--max-size", "2arcmin")
    assert result.exit_code == 0, result.output
    stack = CutoutStack.read(out)
    assert stack.resampled and stack.data.shape[1:] == (48, 48)
    scales = stack.pixel_scale.to_value(u.arcsec)
    assert scales.min() >= 30 / 48 - 1e-9 and scales.max() <= 120 / 48 + 1e-9
    maj = Table.read(catalog)["Maj"][stack.rows]  # arcsec, no unit in the CSV
    np.testing.assert_allclose(scales, np.clip(3 * maj, 30, 120) / 48)
    out2 = tmp_path / "resampled.fits"
    result = run(mosaic, "-c", catalog, "-o", out2, "--size", "40", "--resample-to", "1.8arcsec")
    assert result.exit_code == 0, result.output
    assert "1.8\"/px" in result.output
    assert CutoutStack.read(out2).pixel_scale.to_value(u.arcsec) == pytest.approx(1.8)


def test_png_folder(lotss, tmp_path):
    pytest.importorskip("radioassist.render")
    mosaic, catalog, _ = lotss
    folder = tmp_path / "png"
    result = run(mosaic, "-c", catalog, "-o", folder, "--format", "png", "--size", "24")
    assert result.exit_code == 0, result.output
    files = sorted(folder.glob("*.png"))
    assert len(files) == 27
    from PIL import Image
    with Image.open(files[0]) as img:
        assert img.size == (24, 24) and img.mode == "RGB"


@pytest.mark.parametrize(("args", "message"), [
    (["--size", "0"], "Error: --size must be a positive number of pixels"),
    (["--size", "9000"], "maximum"),
    (["--size", "12furlongs"], "--size"),
    (["--resample-to", "3"], "--resample-to"),
    (["--min-size", "10arcsec"], "--min-size and --max-size only apply with --size-factor"),
    (["--size-factor", "3", "--size", "30arcsec"], "with --size-factor, --size is the output side in pixels"),
    (["--preset", "sepia"], "--preset must be a render preset, got 'sepia'; available presets: radio-llava"),
    (["--format", "png"], "folder"),
    (["--ra-col", "nope"], "nope"),
])
def test_bad_input_is_a_one_line_error(lotss, tmp_path, args, message):
    mosaic, catalog, _ = lotss
    result = run(mosaic, "-c", catalog, "-o", tmp_path / "x.fits", *args)
    assert_clean_error(result, message)
    assert not (tmp_path / "x.fits").exists()


def test_missing_inputs(lotss, tmp_path):
    mosaic, catalog, _ = lotss
    assert_clean_error(run(mosaic, "-c", tmp_path / "missing.csv", "-o", tmp_path / "x.fits"), "missing.csv")
    result = run(tmp_path / "missing.fits", "-c", catalog, "-o", tmp_path / "x.fits")
    assert_clean_error(result, "missing.fits")
    assert_clean_error(run(mosaic, "-o", tmp_path / "x.fits"), "--catalog")


def test_help_lists_defaults():
    result = CliRunner().invoke(cutout_command, ["--help"])
    assert result.exit_code == 0
    for text in ("--size", "default: 128", "--size-factor", "--resample-to", "--overwrite", "default: fits"):
        assert text in result.output


def test_full_survey_catalogue_writes_only_the_sources_on_the_mosaic(shared_data, tmp_path):
    """12,093 LoTSS rows, 27 on the mosaic: the cube holds 27 cutouts, not 12,093 blank ones."""
    folder = shared_data / "lotss_dr1_hetdex"
    out = tmp_path / "c.fits"
    result = run(folder / "P205+55-mosaic.fits", "-c", folder / "catalog_shimwell_reduced.srl.fits", "-o", out)
    assert result.exit_code == 0, result.output
    assert "12,066 off the image (skipped)" in result.output
    assert out.stat().st_size < 3e6  # 27 cutouts of 128 x 128 float32 = 1.8 MB
    stack = CutoutStack.read(out)
    assert len(stack) == 27 and stack.n_input == 12093
    names = Table.read(folder / "catalog_shimwell_reduced.srl.fits")["Source_Name"][stack.rows]
    inside = Table.read(folder / "catalog_sources_in_images.csv")
    assert set(names) == set(inside["Source_Name"][inside["image"] == "P205+55-mosaic.fits"])
