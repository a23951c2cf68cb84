"""Tests of radioassist.simulate: a deterministic synthetic radio sky with a truth catalogue."""
import math
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from click.testing import CliRunner

from radioassist.exceptions import InputError, RadioassistWarning
from radioassist.image import load_image
from radioassist.simulate import SimulatedSky, simulate_sky

SIGMA_BEAM = 5.4 / 1.8 / (2 * math.sqrt(2 * math.log(2)))  # default beam sigma in pixels
BEAM_AREA = 2 * math.pi * SIGMA_BEAM ** 2  # default beam area in pixels


def _near(catalog, shape, margin):
    """Mask of pixels within ``margin`` pixels (+ the source size) of any catalogue source."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    mask = np.zeros(shape, dtype=bool)
    for row in catalog:
        radius = row["size"] / 1.8 + margin
        mask |= (xx - row["x"]) ** 2 + (yy - row["y"]) ** 2 < radius ** 2
    return mask


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path):
    kwargs = dict(shape=(200, 240), n_sources=12)
    a = simulate_sky(seed=7, output=tmp_path / "a.fits", **kwargs)
    b = simulate_sky(seed=7, output=tmp_path / "b.fits", **kwargs)
    c = simulate_sky(seed=8, **kwargs)
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    assert not np.array_equal(a.data, c.data)
    for name in a.catalog.colnames:
        assert np.array_equal(a.catalog[name], b.catalog[name])
    assert not np.allclose(a.catalog["x"], c.catalog["x"])
    # the in-memory sky is the same image as the streamed one
    d = simulate_sky(seed=7, **kwargs)
    assert np.array_equal(d.data, a.data)
    a.close()
    b.close()


def test_image_does_not_depend_on_the_strip_height(monkeypatch):
    import radioassist.simulate as simulate

    kwargs = dict(shape=(300, 256), n_sources=15, artefact_fraction=0.2, blank_border=5, seed=4)
    whole = simulate_sky(**kwargs).data  # one strip
    monkeypatch.setattr(simulate, "_STRIP_PIXELS", 256 * 16)  # 16-row strips: sources and noise cross them
    strips = simulate_sky(**kwargs).data
    assert np.array_equal(whole, strips, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_and_header(dtype):
    sky = simulate_sky(shape=(96, 160), n_sources=3, dtype=dtype, seed=1)
    assert isinstance(sky, SimulatedSky)
    assert sky.data.shape == (96, 160)
    assert sky.data.dtype == np.dtype(dtype)
    h = sky.header
    assert (h["NAXIS1"], h["NAXIS2"]) == (160, 96)
    assert h["CTYPE1"] == "RA---SIN" and h["CTYPE2"] == "DEC--SIN"
    assert h["CRPIX1"] == pytest.approx(80.5) and h["CRPIX2"] == pytest.approx(48.5)
    assert h["BUNIT"] == "JY/BEAM" and h["TELESCOP"] == "radioassist-sim"
    assert h["BMAJ"] == pytest.approx(5.4 / 3600)
    assert any("seed = 1" in str(card) for card in h["HISTORY"])
    image = sky.image
    assert image.pixel_scale.to_value(u.arcsec) == pytest.approx(1.8)
    assert image.beam.major.to_value(u.arcsec) == pytest.approx(5.4)
    assert image.unit == u.Jy / u.beam
    centre = image.wcs.pixel_to_world(79.5, 47.5)
    assert centre.separation(SkyCoord(150, 30, unit="deg")).arcsec < 1e-6
    assert sky.catalog.meta["seed"] == 1
    assert sky.catalog.meta["shape"] == "96x160"


def test_four_d_cube_loads_as_2d(tmp_path):
    path = tmp_path / "cube.fits"
    sky = simulate_sky(shape=(64, 80), n_sources=2, four_d=True, frequency=888 * u.MHz, output=path, seed=3)
    with fits.open(path) as hdul:
        assert hdul[0].data.shape == (1, 1, 64, 80)
        assert hdul[0].header["CTYPE3"] == "FREQ" and hdul[0].header["CTYPE4"] == "STOKES"
    image = load_image(path)
    assert image.shape == (64, 80)
    assert image.frequency.to_value(u.MHz) == pytest.approx(888)
    # the 4-D cube holds the same pixels as the 2-D image
    flat = simulate_sky(shape=(64, 80), n_sources=2, frequency=888 * u.MHz, seed=3)
    assert np.array_equal(image.data, flat.data)
    in_memory = simulate_sky(shape=(64, 80), n_sources=2, four_d=True, frequency=888 * u.MHz, seed=3)
    assert in_memory.header["NAXIS"] == 4 and in_memory.data.shape == (64, 80)
    image.close()
    sky.close()


def test_point_sources_at_their_true_positions_with_their_peak_flux():
    noise = 1.5e-4
    sky = simulate_sky(shape=(300, 300), n_sources=25, mix={"point": 1}, artefact_fraction=0, noise=noise,
                       seed=5)
    cat = sky.catalog
    assert set(cat["kind"]) == {"point"}
    assert np.allclose(cat["total_flux"], cat["peak_flux"])
    data = sky.data
    checked = 0
    for row in cat:
        x, y, peak = row["x"], row["y"], row["peak_flux"]
        ix, iy = int(round(x)), int(round(y))
        box = data[iy - 3:iy + 4, ix - 3:ix + 4]
        by, bx = np.unravel_index(np.argmax(box), box.shape)
        if peak > 10 * noise:  # the brightest pixel is the source, within ~1 px of the truth
            assert math.hypot(ix - 3 + bx - x, iy - 3 + by - y) < 1.5
            checked += 1
        # the pixel nearest to the truth holds the beam-sampled peak, within the noise
        expected = peak * math.exp(-0.5 * ((ix - x) ** 2 + (iy - y) ** 2) / SIGMA_BEAM ** 2)
        assert abs(data[iy, ix] - expected) < 5 * noise
    assert checked >= 5


def test_noiseless_image_is_calibrated_in_jy_per_beam():
    # flux density = sum of pixels / beam area in pixels, for every kind of source
    sky = simulate_sky(shape=(512, 512), n_sources=12, noise=0, artefact_fraction=0, seed=2)
    cat = sky.catalog
    assert set(cat["kind"]) == {"point", "FR-I", "FR-II", "diffuse"}
    total = np.sum(sky.data, dtype=float) / BEAM_AREA
    assert total == pytest.approx(np.sum(cat["total_flux"]), rel=0.02)
    # the catalogue peak is the noiseless peak between pixels: the pixel maximum is at most that
    assert 0.85 * np.max(cat["peak_flux"]) < np.nanmax(sky.data) <= np.max(cat["peak_flux"]) * (1 + 1e-6)


def test_noise_rms_and_beam_correlation():
    empty = simulate_sky(shape=(512, 512), n_sources=0, noise=2e-4, seed=4)
    data = empty.data.astype(float)
    assert np.std(data) == pytest.approx(2e-4, rel=0.05)
    assert abs(np.mean(data)) < 2e-5

    def corr(a, b):
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    # the autocorrelation of the noise is the beam: exp(-1 / (2 sigma^2)) = 0.735 at one pixel
    expected = math.exp(-0.5 / SIGMA_BEAM ** 2)
    assert corr(data[:, 1:], data[:, :-1]) == pytest.approx(expected, abs=0.05)
    assert corr(data[1:, :], data[:-1, :]) == pytest.approx(expected, abs=0.05)
    assert abs(corr(data[:, 6:], data[:, :-6])) < 0.05

    # with sources: the rms in source-free areas is still the requested one
    sky = simulate_sky(shape=(512, 512), n_sources=20, noise=1.5e-4, seed=4)
    free = ~_near(sky.catalog, sky.data.shape, margin=12)
    assert free.mean() > 0.3
    assert np.std(sky.data[free]) == pytest.approx(1.5e-4, rel=0.1)


def test_elliptical_beam():
    sky = simulate_sky(shape=(256, 256), n_sources=0, beam=(8 * u.arcsec, 4 * u.arcsec, 30 * u.deg), seed=6)
    assert np.std(sky.data) == pytest.approx(1.5e-4, rel=0.1)
    beam = sky.image.beam
    assert beam.major.to_value(u.arcsec) == pytest.approx(8) and beam.pa.to_value(u.deg) == pytest.approx(30)
    # noise blobs are elongated along PA 30 deg (from +y towards -x): stronger correlation along that axis
    d = sky.data.astype(float)
    along = np.corrcoef(d[2:, :-1].ravel(), d[:-2, 1:].ravel())[0, 1]  # step (-1, +2): PA ~ 27 deg
    across = np.corrcoef(d[1:, 2:].ravel(), d[:-1, :-2].ravel())[0, 1]  # step (+2, +1): PA ~ -63 deg
    assert along > across + 0.3


def test_nan_border_and_sources_inside():
    border = 24
    sky = simulate_sky(shape=(320, 288), n_sources=10, blank_border=border, noise=0, artefact_fraction=0,
                       seed=9)
    data = sky.data
    assert np.all(np.isnan(data[:border])) and np.all(np.isnan(data[-border:]))
    assert np.all(np.isnan(data[:, :border])) and np.all(np.isnan(data[:, -border:]))
    inner = data[border:-border, border:-border]
    assert np.all(np.isfinite(inner))
    cat = sky.catalog
    assert np.all((cat["x"] >= border) & (cat["x"] <= 288 - 1 - border))
    assert np.all((cat["y"] >= border) & (cat["y"] <= 320 - 1 - border))
    # the emission of every source lies inside the unblanked area
    assert np.sum(inner, dtype=float) / BEAM_AREA == pytest.approx(np.sum(cat["total_flux"]), rel=0.03)


def _brightest_offset(data, row):
    """Distance (px) from the source centre to its brightest pixel, and centre/peak brightness ratio."""
    radius = row["size"] / 1.8 / 2 + 4
    yy, xx = np.mgrid[:data.shape[0], :data.shape[1]]
    r = np.hypot(xx - row["x"], yy - row["y"])
    inside = r < radius
    k = np.argmax(np.where(inside, data, -np.inf))
    centre = data[int(round(row["y"])), int(round(row["x"]))]
    return r.ravel()[k], centre / data.ravel()[k], r, inside


def test_fr1_brightest_near_the_centre_fr2_at_the_ends():
    fr1 = simulate_sky(shape=(400, 400), n_sources=6, mix={"FR-I": 1}, noise=0, artefact_fraction=0, seed=11)
    for row in fr1.catalog:
        las = row["size"] / 1.8
        offset, centre_ratio, r, inside = _brightest_offset(fr1.data, row)
        assert offset < max(0.1 * las, 2.0)
        assert centre_ratio > 0.8
        # brightness declines outward: the outer half of the jets is fainter than the inner part
        data = fr1.data
        inner = np.max(data[r < 0.15 * las])
        outer = np.max(data[(r > 0.3 * las) & inside])
        assert outer < inner
        assert row["B6_true"] == "FR-I" and row["B1_true"] == "EXTENDED" and row["B3_true"] == "YES"
    fr2 = simulate_sky(shape=(500, 500), n_sources=6, mix={"FR-II": 1}, noise=0, artefact_fraction=0, seed=11)
    for row in fr2.catalog:
        las = row["size"] / 1.8
        offset, centre_ratio, _, _ = _brightest_offset(fr2.data, row)
        assert offset > 0.35 * las
        assert centre_ratio < 0.5
        assert row["B6_true"] == "FR-II" and row["B5_true"] == "COMPLEX"


def test_truth_columns_and_artefacts():
    sky = simulate_sky(shape=(512, 512), n_sources=40, artefact_fraction=0.1, seed=13)
    cat = sky.catalog
    for name in ("name", "ra", "dec", "x", "y", "kind", "peak_flux", "total_flux", "size", "pa",
                 "has_artefact", "B1_true", "B3_true", "B4_true", "B5_true", "B6_true"):
        assert name in cat.colnames
    assert len(set(cat["name"])) == 40
    assert cat["ra"].unit == u.deg and cat["size"].unit == u.arcsec and cat["pa"].unit == u.deg
    assert cat["peak_flux"].unit == u.Jy / u.beam and cat["total_flux"].unit == u.Jy
    kind = np.asarray(cat["kind"])
    counts = {k: int(np.sum(kind == k)) for k in ("point", "FR-I", "FR-II", "diffuse")}
    assert counts == {"point": 22, "FR-I": 6, "FR-II": 6, "diffuse": 6}
    rg = (kind == "FR-I") | (kind == "FR-II")
    assert np.array_equal(np.asarray(cat["B3_true"]) == "YES", rg)
    assert np.array_equal(np.asarray(cat["B6_true"])[rg], kind[rg])
    assert np.all(np.asarray(cat["B6_true"])[~rg] == "")
    assert np.array_equal(np.asarray(cat["B5_true"]) == "ORDINARY", kind == "point")
    b1 = np.asarray(cat["B1_true"])
    assert np.all(b1[rg] == "EXTENDED") and np.all(b1[kind == "point"] == "NONE")
    assert set(b1[kind == "diffuse"]) <= {"DIFFUSE", "DIFFUSE-LARGE"}
    # the brightest 10% get ring artefacts
    art = np.asarray(cat["has_artefact"])
    assert art.sum() == 4
    assert np.array_equal(np.asarray(cat["B4_true"]) == "YES", art)
    assert cat["peak_flux"][art].min() >= cat["peak_flux"][~art].max()
    assert (cat["peak_flux"] / 1.5e-4 > 5).mean() > 0.9  # most sources are detectable


def test_ring_artefacts_alternate_in_sign():
    sky = simulate_sky(shape=(256, 256), n_sources=1, mix={"point": 1}, artefact_fraction=1, noise=0, seed=1)
    row = sky.catalog[0]
    assert row["has_artefact"] and row["B4_true"] == "YES"
    yy, xx = np.mgrid[:256, :256]
    r = np.hypot(xx - row["x"], yy - row["y"])
    peak = row["peak_flux"]
    ring_zone = (r > 8) & (r < 60)
    assert sky.data[ring_zone].min() < -0.005 * peak
    assert sky.data[ring_zone].max() > 0.005 * peak
    # the rings leave the source itself alone
    ix, iy = int(round(row["x"])), int(round(row["y"]))
    expected = peak * math.exp(-0.5 * ((ix - row["x"]) ** 2 + (iy - row["y"]) ** 2) / SIGMA_BEAM ** 2)
    assert sky.data[iy, ix] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("projection", ["SIN", "TAN"])
def test_galactic_frame(projection):
    centre = SkyCoord(30 * u.deg, 0.5 * u.deg, frame="galactic")
    sky = simulate_sky(shape=(200, 200), n_sources=8, frame="galactic", center=centre, projection=projection,
                       seed=2)
    assert sky.header["CTYPE1"] == f"GLON-{projection}" and sky.header["CTYPE2"] == f"GLAT-{projection}"
    assert sky.image.frame == "galactic"
    cat = sky.catalog
    gal = SkyCoord(cat["glon"], cat["glat"], frame="galactic")
    icrs = SkyCoord(cat["ra"], cat["dec"], frame="icrs")
    assert np.all(gal.separation(icrs).arcsec < 1e-3)
    x, y = sky.image.wcs.world_to_pixel(icrs)
    assert np.allclose(x, cat["x"], atol=1e-3) and np.allclose(y, cat["y"], atol=1e-3)


def test_icrs_positions_match_the_wcs():
    sky = simulate_sky(shape=(150, 150), n_sources=6, projection="TAN", seed=3)
    x, y = sky.image.wcs.world_to_pixel(SkyCoord(sky.catalog["ra"], sky.catalog["dec"]))
    assert np.allclose(x, sky.catalog["x"], atol=1e-4) and np.allclose(y, sky.catalog["y"], atol=1e-4)


def test_output_file_is_valid_fits_and_memmapped(tmp_path):
    path = tmp_path / "mosaic.fits"
    sky = simulate_sky(shape=(130, 110), n_sources=5, output=path, seed=21)
    assert sky.filename == str(path)
    assert sky.image.memmapped
    with fits.open(path) as hdul:
        hdul.verify("exception")
        assert len(hdul) == 1 and hdul[0].data.shape == (130, 110)
        assert np.array_equal(hdul[0].data, sky.data)
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate_sky(shape=(130, 110), n_sources=5, output=path, seed=21)
    again = simulate_sky(shape=(130, 110), n_sources=5, output=tmp_path / "other.fits", seed=22,
                         overwrite=True)
    # writing an in-memory sky gives the same bytes as streaming it
    mem = simulate_sky(shape=(130, 110), n_sources=5, seed=21)
    mem.write(tmp_path / "copy.fits")
    assert (tmp_path / "copy.fits").read_bytes() == path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        mem.write(tmp_path / "copy.fits")
    sky.write(tmp_path / "copy2.fits")
    assert (tmp_path / "copy2.fits").read_bytes() == path.read_bytes()
    with pytest.raises(InputError, match="compressed"):
        simulate_sky(shape=(64, 64), n_sources=1, output=tmp_path / "x.fits.gz")
    assert not list(tmp_path.glob("*.part"))
    sky.close()
    again.close()


@pytest.mark.parametrize("ext", [".ecsv", ".vot", ".fits"])
def test_write_catalog_round_trip(tmp_path, ext):
    sky = simulate_sky(shape=(200, 200), n_sources=9, seed=8)
    path = tmp_path / f"truth{ext}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about units, meta or empty strings
        sky.write_catalog(path)
    back = Table.read(path)
    assert len(back) == 9
    # ECSV and FITS read an empty string back as a masked value
    assert list(np.ma.filled(back["B6_true"], "")) == list(sky.catalog["B6_true"])
    assert np.allclose(back["x"], sky.catalog["x"])
    assert back["size"].unit == u.arcsec
    with pytest.raises(FileExistsError, match="overwrite"):
        sky.write_catalog(path)
    sky.write_catalog(path, overwrite=True)
    with pytest.raises(InputError, match="extension"):
        sky.write_catalog(tmp_path / "truth.txt")


@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=(10, 10)), "too small"),
    (dict(shape="big"), "shape"),
    (dict(n_sources=-1), "n_sources"),
    (dict(mix={"quasar": 1}), "unknown source kind"),
    (dict(mix={"point": 0}), "no positive fraction"),
    (dict(dtype=np.int16), "dtype"),
    (dict(frame="fk4"), "frame"),
    (dict(noise=-1.0), "noise"),
    (dict(noise=1 * u.m), "Jy/beam"),
    (dict(pixel_scale=0 * u.arcsec), "pixel_scale"),
    (dict(beam=(4 * u.arcsec, 6 * u.arcsec)), "minor axis"),
    (dict(artefact_fraction=1.5), "artefact_fraction"),
    (dict(blank_border=60), "blank_border"),
    (dict(projection="XY"), "projection"),
    (dict(projection="QQQ"), "projection"),
    (dict(seed=-3), "seed"),
    (dict(center="M31"), "SkyCoord"),
])
def test_invalid_parameters(kwargs, match):
    params = dict(shape=(128, 128), n_sources=2)
    params.update(kwargs)
    with pytest.raises(InputError, match=match):
        simulate_sky(**params)


def test_crowded_field_warns():
    with pytest.warns(RadioassistWarning, match="crowded"):
        simulate_sky(shape=(64, 64), n_sources=200, mix={"point": 1}, seed=0)


def test_cli_simulate(tmp_path):
    from radioassist.cli._simulate import simulate

    runner = CliRunner()
    out = tmp_path / "m.fits"
    result = runner.invoke(simulate, ["-o", str(out), "--size", "160x120", "--n-sources", "6", "--seed", "3",
                                      "--four-d", "--blank-border", "4"])
    assert result.exit_code == 0, result.output
    truth = tmp_path / "m_truth.ecsv"
    assert out.exists() and truth.exists()
    assert str(out) in result.output and str(truth) in result.output
    image = load_image(out)
    assert image.shape == (120, 160)
    assert fits.getheader(out)["NAXIS"] == 4
    assert np.isnan(image.data[0, 0])
    cat = Table.read(truth)
    assert len(cat) == 6 and cat.meta["seed"] == 3
    image.close()
    # refuses to overwrite, then does with --overwrite
    result = runner.invoke(simulate, ["-o", str(out), "--size", "160x120", "--n-sources", "6"])
    assert result.exit_code == 1 and "already exists" in result.output and "--overwrite" in result.output
    other_truth = tmp_path / "t.vot"
    result = runner.invoke(simulate, ["-o", str(out), "--size", "128", "--n-sources", "2", "--truth",
                                      str(other_truth), "--overwrite", "--frame", "galactic"])
    assert result.exit_code == 0, result.output
    assert fits.getheader(out)["CTYPE1"] == "GLON-SIN"
    assert len(Table.read(other_truth)) == 2
    result = runner.invoke(simulate, ["-o", str(out), "--size", "12x", "--overwrite"])
    assert result.exit_code == 2 and "WxH" in result.output
    result = runner.invoke(simulate, ["-o", str(out), "--size", "16", "--overwrite"])
    assert result.exit_code == 1 and "Error:" in result.output and "too small" in result.output
    help_text = runner.invoke(simulate, ["--help"]).output
    for option in ("--truth", "--size", "--n-sources", "--pixel-scale", "--beam", "--noise", "--seed",
                   "--four-d", "--blank-border", "--overwrite"):
        assert option in help_text
    assert "default: 2048" in help_text
