"""Coverage (outside / blank / partial) and the model's domain (pixel scale, beam, frequency).

The real-data checks use the LoTSS DR1 mosaic P205+55 (400 x 400 pixels at
1.5"/px, 6" beam, 144 MHz) with the full 12,093-row catalogue of its field,
and compare the pipeline's flags with an independent computation from the
FITS header's WCS.
"""
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from click.testing import CliRunner

from radioassist import RadioImage
from radioassist.backends import Backend, Predictions, get_backend
from radioassist.cli import main
from radioassist.domain import check_domain, model_grid, to_model_grid
from radioassist.exceptions import DomainWarning, InputError
from radioassist.image import Beam
from radioassist.pipeline import classify

pytest.importorskip("torch")

N_CATALOG = 12093
# the shipped FIRST models record 1.4 GHz: a 144 MHz LoTSS mosaic lies outside their domain, said once per run
LOTSS_DOMAIN = r"mosaic frequency 143.7 MHz is outside the model's .* MHz by more than a factor 2"


def _text(column):
    return np.asarray(column.filled("") if hasattr(column, "filled") else column, dtype=str)


@pytest.fixture(scope="module")
def lotss(shared_data):
    folder = shared_data / "lotss_dr1_hetdex"
    return {"mosaic": folder / "P205+55-mosaic.fits", "second": folder / "P218+55-mosaic.fits",
            "catalog": folder / "catalog_shimwell_reduced.srl.fits"}


@pytest.fixture(scope="module")
def spec():
    """What the shipped B6 model says it expects (field of view, pixel scale)."""
    return get_backend("vision").input_spec("B6")


def _pixels(path, catalog):
    """Independent: catalogue RA/Dec -> 0-based pixels with the FITS header's celestial WCS."""
    header = fits.getheader(path)
    wcs = WCS(header).celestial
    x, y = wcs.world_to_pixel_values(np.asarray(catalog["RA"], dtype=float), np.asarray(catalog["DEC"], dtype=float))
    return np.asarray(x), np.asarray(y), (header["NAXIS2"], header["NAXIS1"])


def _fov_fraction(x, y, shape, spec, native_scale=1.5):
    """Independent: fraction of the model's grid (spec) centred on (x, y) that falls on the image's data.

    A model pixel has data when its native position lies between the first and the last pixel centre
    (bilinear interpolation needs both neighbours); the LoTSS cut-downs have no blank pixels inside.
    """
    size = int(spec["cutout_size_pix"])
    offsets = (np.arange(size) - (size - 1) / 2) * float(spec["pixel_scale_arcsec"]) / native_scale
    ny, nx = shape
    fx = np.mean((x[:, None] + offsets >= 0) & (x[:, None] + offsets <= nx - 1), axis=1)
    fy = np.mean((y[:, None] + offsets >= 0) & (y[:, None] + offsets <= ny - 1), axis=1)
    return fx * fy


# ---------------------------------------------------------------------------------------------- real mosaic
def test_lotss_full_catalogue_labels_no_row_off_the_mosaic(lotss, spec):
    with pytest.warns(DomainWarning, match=LOTSS_DOMAIN):
        table = classify(str(lotss["mosaic"]), str(lotss["catalog"]), task="B6", gate=False)
    catalog = Table.read(lotss["catalog"])
    assert len(table) == len(catalog) == N_CATALOG
    x, y, shape = _pixels(lotss["mosaic"], catalog)
    on = (x >= -0.5) & (x <= shape[1] - 0.5) & (y >= -0.5) & (y <= shape[0] - 0.5)
    assert on.sum() == 27  # the data README: 27 catalogue sources inside P205+55-mosaic
    flags = _text(table["B6_flag"])
    labels = _text(table["B6_label"])
    assert np.all(flags[~on] == "outside") and np.all(labels[~on] == "")
    assert np.all(np.isnan(np.asarray(table["B6_prob_FR-I"])[~on]))
    coverage = _fov_fraction(x[on], y[on], shape, spec)
    clear = np.abs(coverage - 0.9) > 0.01  # away from the threshold by more than a model-pixel row
    np.testing.assert_array_equal((flags[on] == "partial")[clear], (coverage < 0.9)[clear])
    np.testing.assert_array_equal((flags[on] == "")[clear], (coverage >= 0.9)[clear])
    assert np.all(np.isin(labels[on][flags[on] == ""], ["FR-I", "FR-II"]))
    n_ok, n_partial = int(np.sum(flags == "")), int(np.sum(flags == "partial"))
    assert n_ok >= 3 and n_partial >= 10 and n_ok + n_partial == 27
    meta = table.meta["radioassist"]
    assert meta["n_flagged"] == {"outside": N_CATALOG - 27, "partial": n_partial}
    assert meta["min_coverage"] == 0.9 and meta["n_unclassified"] == N_CATALOG - n_ok
    assert meta["n_unparsed"] == 0 and meta["n_errors"] == 0


def test_min_coverage_decides_which_edge_rows_are_labelled(lotss, spec):
    catalog = Table.read(lotss["catalog"])
    x, y, shape = _pixels(lotss["mosaic"], catalog)
    on = (x >= -0.5) & (x <= shape[1] - 0.5) & (y >= -0.5) & (y <= shape[0] - 0.5)
    near = catalog[on]  # the 27 rows on the mosaic (a few thousand rows would only add 'outside' flags)
    with pytest.warns(DomainWarning, match=LOTSS_DOMAIN):
        every = classify(str(lotss["mosaic"]), near, task="B6", gate=False, min_coverage=0.0)
    assert set(_text(every["B6_flag"])) == {""}  # position on the image, data at the position: all labelled
    with pytest.warns(DomainWarning, match=LOTSS_DOMAIN):
        half = classify(str(lotss["mosaic"]), near, task="B6", gate=False, min_coverage=0.5)
    coverage = _fov_fraction(x[on], y[on], shape, spec)
    clear = np.abs(coverage - 0.5) > 0.01
    np.testing.assert_array_equal((_text(half["B6_flag"]) == "partial")[clear], (coverage < 0.5)[clear])
    ok = _text(half["B6_flag"]) == ""
    np.testing.assert_allclose(np.asarray(half["B6_prob_FR-I"])[ok], np.asarray(every["B6_prob_FR-I"])[ok],
                               atol=1e-6)  # the rule only decides which rows, never changes an answer
    with pytest.raises(InputError, match="min_coverage"):
        classify(str(lotss["mosaic"]), near, task="B6", gate=False, min_coverage=1.5)
    result = CliRunner().invoke(main, ["classify", str(lotss["mosaic"]), "--catalog", str(lotss["catalog"]),
                                       "--min-coverage", "-0.1"])
    assert result.exit_code == 2 and "--min-coverage" in result.output


def test_survey_mode_applies_the_same_rule(lotss, spec):
    with pytest.warns(DomainWarning, match="P205[+]55-mosaic.fits: " + LOTSS_DOMAIN):
        table = classify([str(lotss["mosaic"]), str(lotss["second"])], str(lotss["catalog"]), task="B6",
                         gate=False)
    assert len(table.meta["radioassist"]["domain_warnings"]) == 2  # one reason per tile, in one warning
    catalog = Table.read(lotss["catalog"])
    flags, tiles, labels = _text(table["B6_flag"]), _text(table["B6_tile"]), _text(table["B6_label"])
    assert set(flags) <= {"", "partial", "no_tile", "outside"}
    for path in (lotss["mosaic"], lotss["second"]):
        mine = tiles == path.name
        x, y, shape = _pixels(path, catalog[mine])
        assert np.all((x >= -0.5) & (x <= shape[1] - 0.5) & (y >= -0.5) & (y <= shape[0] - 0.5))
        coverage = _fov_fraction(x, y, shape, spec)
        clear = np.abs(coverage - 0.9) > 0.01
        np.testing.assert_array_equal((flags[mine] == "")[clear], (coverage >= 0.9)[clear])
        np.testing.assert_array_equal((flags[mine] == "partial")[clear], (coverage < 0.9)[clear])
    # a row is labelled only in a tile that holds its position, and only with 90 % of the field of view
    assert np.all(tiles[flags == ""] != "") and np.all(labels[flags != ""] == "")
    assert np.sum(flags == "") >= 4 and np.sum(flags == "no_tile") > 12000


# ---------------------------------------------------------------------------------------------- synthetic
def _image(data, *, scale=1.8, beam=None, freq=1.4e9):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.wcs.crval = [150.0, 30.0]
    wcs.wcs.crpix = [data.shape[1] / 2 + 0.5, data.shape[0] / 2 + 0.5]
    return RadioImage(np.asarray(data, dtype=np.float32), wcs, wcs.to_header(), beam=beam,
                      frequency=None if freq is None else freq * u.Hz)


class _Spec(Backend):
    """A backend with a stated domain that answers FR-I for everything."""

    name = "test-domain"

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec

    def predict(self, images, task):
        n = len(images)
        return Predictions(task, ["FR-I"] * n, np.tile([1.0, 0.0], (n, 1)))

    def input_spec(self, task):
        return dict(self.spec)

    def describe(self, task=None):
        return {"backend": self.name}


def test_blank_and_partial_inside_the_image():
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1e-4, (300, 300))
    data[100:160, 100:160] = np.nan  # a blanked area inside the mosaic
    img = _image(data)
    xs, ys = np.array([130.0, 175.0, 250.0, 30.0]), np.array([130.0, 130.0, 250.0, 150.0])
    positions = img.wcs.pixel_to_world(xs, ys)
    backend = _Spec({"pixel_scale_arcsec": 1.8, "cutout_size_pix": 80})
    table = classify(img, Table({"ra": positions.ra.deg, "dec": positions.dec.deg}), backend=backend, task="B6",
                     gate=False)
    # no data at the position; 75 px from a 60 px hole (field of view 80 px): ~85 % coverage; clear; edge: 88 %
    assert list(_text(table["B6_flag"])) == ["blank", "partial", "", "partial"]
    assert table.meta["radioassist"]["n_flagged"] == {"blank": 1, "partial": 2}


def test_resampled_point_source_has_the_models_beam_and_flux():
    # mosaic: 1"/px, circular 3" beam, Jy/beam; model: 2"/px, 6" beam, 65 px field of view
    native, beam = 1.0, 3.0
    yy, xx = np.mgrid[0:201, 0:201].astype(float)
    x0, y0 = 100.3, 99.6
    sigma = beam / 2.3548 / native
    data = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma ** 2))  # a 1 Jy point source, peak 1 Jy/beam
    img = _image(data, scale=native, beam=Beam(beam / 3600 * u.deg, beam / 3600 * u.deg, 0 * u.deg))
    spec = {"pixel_scale_arcsec": 2.0, "beam_arcsec": 6.0, "cutout_size_pix": 65}
    grid = model_grid(img, spec)
    assert grid.resample and grid.kernel is not None and "convolved" in grid.note
    out = to_model_grid(img, img.wcs.pixel_to_world([x0], [y0]), grid)
    cut = out.data[0].astype(float)
    assert out.data.shape == (1, 65, 65) and out.nan_fraction[0] == 0
    # a point source: peak Jy/beam = its flux (bilinear interpolation of the peak between native pixels: -3 %)
    assert cut[32, 32] == cut.max() == pytest.approx(1.0, rel=0.05)
    beam_area = np.pi / (4 * np.log(2)) * 6.0 ** 2  # arcsec^2
    assert cut.sum() * 2.0 ** 2 / beam_area == pytest.approx(1.0, rel=0.02)  # flux density conserved
    w = np.clip(cut, 0, None)
    yy, xx = np.mgrid[0:65, 0:65].astype(float)
    cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    assert cx == pytest.approx(32, abs=0.05) and cy == pytest.approx(32, abs=0.05)  # centred on the source
    fwhm = np.sqrt((w * (xx - cx) ** 2).sum() / w.sum()) * 2.3548 * 2.0
    assert fwhm == pytest.approx(6.0, rel=0.05)


def test_elliptical_beam_is_made_circular():
    # a 4" x 2" beam at position angle 30 deg (north through east) convolved to a circular 6" beam
    native = 1.0
    yy, xx = np.mgrid[0:161, 0:161].astype(float)
    pa = np.radians(30.0)
    ux, uy = -np.sin(pa), np.cos(pa)  # the major axis on the sky, in pixels (east is -x)
    s_maj, s_min = 4.0 / 2.3548, 2.0 / 2.3548
    dx, dy = xx - 80, yy - 80
    a, b = dx * ux + dy * uy, -dx * uy + dy * ux
    data = np.exp(-0.5 * (a ** 2 / s_maj ** 2 + b ** 2 / s_min ** 2))
    img = _image(data, scale=native, beam=Beam(4 / 3600 * u.deg, 2 / 3600 * u.deg, 30 * u.deg))
    out = to_model_grid(img, img.wcs.pixel_to_world([80.0], [80.0]),
                        model_grid(img, {"pixel_scale_arcsec": 1.0, "beam_arcsec": 6.0, "cutout_size_pix": 60}))
    w = np.clip(out.data[0].astype(float), 0, None)
    yy, xx = np.mgrid[0:60, 0:60].astype(float)
    cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    vxx = (w * (xx - cx) ** 2).sum() / w.sum()
    vyy = (w * (yy - cy) ** 2).sum() / w.sum()
    vxy = (w * (xx - cx) * (yy - cy)).sum() / w.sum()
    assert vxx == pytest.approx(vyy, rel=0.03) and abs(vxy) < 0.03 * vxx
    assert np.sqrt(vxx) * 2.3548 == pytest.approx(6.0, rel=0.05)


def test_matching_scale_and_beam_cut_native_pixels():
    data = np.random.default_rng(1).normal(size=(200, 200))
    img = _image(data, scale=1.8, beam=Beam(5.4 / 3600 * u.deg, 5.4 / 3600 * u.deg, 0 * u.deg))
    grid = model_grid(img, {"pixel_scale_arcsec": 1.8, "beam_arcsec": 5.4, "cutout_size_pix": 50})
    assert not grid.resample and grid.native_size == 50 and "no resampling" in grid.note
    pos = img.wcs.pixel_to_world([100.0], [100.0])
    out = to_model_grid(img, pos, grid)
    np.testing.assert_array_equal(out.data[0], data[75:125, 75:125].astype(np.float32))
    assert model_grid(img, {"render_preset": "radio-llava"}) is None  # a model that records no grid


def test_domain_warning_once_with_reasons_in_meta(lotss, tmp_path):
    spec = {"pixel_scale_arcsec": 1.8, "beam_arcsec": 5.4, "cutout_size_pix": 150, "frequency_mhz": 1400.0,
            "surveys": ["FIRST"], "training_samples": ["RGZ DR1"]}
    catalog = Table.read(lotss["catalog"])
    x, y, shape = _pixels(lotss["mosaic"], catalog)
    catalog = catalog[(x > 0) & (x < shape[1] - 1) & (y > 0) & (y < shape[0] - 1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = classify(str(lotss["mosaic"]), catalog, backend=_Spec(spec), task="B6", batch_size=8, gate=False)
    domain = [w for w in caught if issubclass(w.category, DomainWarning)]
    assert len(domain) == 1  # once per run, not per batch or partition
    assert "143.7 MHz is outside the model's 1400 MHz by more than a factor 2" in str(domain[0].message)
    meta = table.meta["radioassist"]
    assert meta["domain_warnings"] == ["mosaic frequency 143.7 MHz is outside the model's 1400 MHz by more than a "
                                       "factor 2"]
    assert meta["model_domain"]["surveys"] == ["FIRST"] and meta["model_domain"]["frequency_mhz"] == 1400.0
    assert "resampled from 1.5\"/px" in meta["cutout_size_note"]
    from radioassist.output import read_provenance, write_table
    for ext in (".fits", ".vot", ".ecsv"):  # the reasons survive every output format, whole
        path = write_table(table, tmp_path / f"out{ext}")
        assert read_provenance(path)["domain_warnings"] == meta["domain_warnings"]


def test_check_domain_ranges():
    beam = Beam(6 / 3600 * u.deg, 6 / 3600 * u.deg, 0 * u.deg)
    img = _image(np.zeros((10, 10)), scale=1.5, beam=beam, freq=1.4e9)
    spec = {"pixel_scale_arcsec": 1.8, "beam_arcsec": 5.4, "frequency_mhz": [1000, 1500]}
    assert check_domain(img, spec) == []
    assert check_domain(img, {}) == []  # a model that records nothing is not checked
    assert check_domain(img, dict(spec, beam_arcsec=15.0)) == [
        "model beam 15\" / mosaic beam 6\" = 2.5 is outside the accepted range 0.5-2"]
    coarse = _image(np.zeros((10, 10)), scale=8.0, beam=beam, freq=3.1e9)
    reasons = check_domain(coarse, spec)
    assert any("pixel scale 8\" is 4.44 x the model's 1.8\"" in r for r in reasons)
    assert any("3100 MHz is outside the model's 1000-1500 MHz" in r for r in reasons)
    unknown = _image(np.zeros((10, 10)), scale=1.8, beam=None, freq=None)
    reasons = check_domain(unknown, spec)
    assert len(reasons) == 2 and all("unknown" in r for r in reasons)
