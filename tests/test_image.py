"""Tests of radioassist.load_image on real survey files and synthetic edge cases."""
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS
from astropy.utils.exceptions import AstropyUserWarning

from radioassist import ImageError, RadioassistWarning, load_image


def _header(nx=64, ny=48, naxis=2, freq_planes=1, stokes_planes=1, ctype=("RA---SIN", "DEC--SIN")):
    h = fits.Header()
    h["NAXIS"] = naxis
    h["NAXIS1"], h["NAXIS2"] = nx, ny
    h.update(CTYPE1=ctype[0], CTYPE2=ctype[1], CRVAL1=150.0, CRVAL2=30.0, CRPIX1=nx / 2, CRPIX2=ny / 2,
             CDELT1=-1.5 / 3600, CDELT2=1.5 / 3600, CUNIT1="deg", CUNIT2="deg",
             BUNIT="JY/BEAM", BMAJ=6 / 3600, BMIN=5 / 3600, BPA=30.0)
    if naxis == 4:
        h["NAXIS3"], h["NAXIS4"] = freq_planes, stokes_planes
        h.update(CTYPE3="FREQ", CRVAL3=1.4e9, CDELT3=1e6, CRPIX3=1, CUNIT3="Hz",
                 CTYPE4="STOKES", CRVAL4=1, CDELT4=1, CRPIX4=1)
    return h


@pytest.mark.parametrize("kind", ["path", "hdulist", "hdu", "nddata", "array_header", "array_wcs"])
def test_input_variants_give_same_image(tmp_path, kind):
    header = _header()
    data = np.arange(48 * 64, dtype=np.float32).reshape(48, 64)
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    source = {
        "path": path,
        "hdulist": lambda: fits.open(path),
        "hdu": lambda: fits.PrimaryHDU(data, header),
        "nddata": lambda: NDData(data, wcs=WCS(header), unit="Jy/beam"),
        "array_header": lambda: (data, header),
        "array_wcs": lambda: (data, WCS(header)),
    }[kind]
    image = load_image(source() if callable(source) else source)
    assert image.shape == (48, 64)
    np.testing.assert_array_equal(image.data, data)
    assert image.wcs.naxis == 2
    assert image.pixel_scale.to_value(u.arcsec) == pytest.approx(1.5)
    centre = image.wcs.pixel_to_world(31, 23)  # CRPIX (1-based 32, 24)
    assert centre.separation(SkyCoord(150, 30, unit="deg")).arcsec < 1e-6
    if kind != "array_wcs":
        assert image.unit == u.Jy / u.beam
    if kind not in ("nddata", "array_wcs"):
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(6)
        assert image.beam.minor.to_value(u.arcsec) == pytest.approx(5)
        assert image.beam.pa.to_value(u.deg) == pytest.approx(30)


def test_file_is_memory_mapped(tmp_path):
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(np.zeros((48, 64), np.float32), _header()).writeto(path)
    image = load_image(path)
    assert image.memmapped
    image.close()


def test_bscale_warns_full_read(tmp_path):
    path = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(np.arange(48 * 64, dtype=np.float32).reshape(48, 64), _header())
    hdu.scale("int16", bscale=0.5, bzero=10)
    hdu.writeto(path)
    with pytest.warns(RadioassistWarning, match="full read"):
        image = load_image(path)
    assert image.data[0, 3] == pytest.approx(3, abs=0.5)


def test_degenerate_axes_dropped(tmp_path):
    header = _header(naxis=4)
    data = np.random.default_rng(0).normal(size=(1, 1, 48, 64)).astype(np.float32)
    image = load_image((data, header))
    assert image.shape == (48, 64)
    np.testing.assert_array_equal(image.data, data[0, 0])
    assert image.frequency.to_value(u.GHz) == pytest.approx(1.4)


def test_cube_needs_plane():
    header = _header(naxis=4, freq_planes=3)
    data = np.arange(3 * 48 * 64, dtype=np.float32).reshape(1, 3, 48, 64)
    with pytest.raises(ImageError, match=r"axis 3 \(FREQ\) has 3 planes.*plane="):
        load_image((data, header))
    image = load_image((data, header), plane=2)
    np.testing.assert_array_equal(image.data, data[0, 2])
    assert image.frequency.to_value(u.GHz) == pytest.approx(1.402)
    image = load_image((data, header), plane={"freq": 1})
    np.testing.assert_array_equal(image.data, data[0, 1])
    with pytest.raises(ImageError, match="out of range"):
        load_image((data, header), plane=3)


def test_stray_axis_keywords_on_2d_image():
    header = _header()
    header.update(CTYPE3="FREQ", CRVAL3=1.4e9, CTYPE4="STOKES", CRVAL4=1)
    image = load_image((np.zeros((48, 64), np.float32), header))
    assert image.shape == (48, 64)
    assert image.wcs.naxis == 2


def test_no_celestial_wcs():
    header = _header(ctype=("FREQ", "STOKES"))
    with pytest.raises(ImageError, match="cannot be parsed.*CUNIT"):
        load_image((np.zeros((48, 64)), header))
    header.update(CUNIT1="Hz", CUNIT2="")
    with pytest.raises(ImageError, match="no celestial WCS"):
        load_image((np.zeros((48, 64)), header))


def test_errors_for_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "missing.fits")
    text = tmp_path / "notfits.fits"
    text.write_text("hello, this is not FITS")
    with pytest.raises(ImageError, match="not a FITS file"):
        load_image(text)
    good = tmp_path / "good.fits"
    fits.PrimaryHDU(np.zeros((480, 640), np.float32), _header(640, 480)).writeto(good)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(good.read_bytes()[:20000])
    with pytest.raises(ImageError, match="truncated"), pytest.warns(AstropyUserWarning, match="truncated"):
        load_image(truncated)
    with pytest.raises(ImageError, match="has no HDU 3"):
        load_image(good, hdu=3)


def test_table_only_file(tmp_path):
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="ra", format="D", array=np.arange(3.0))])]).writeto(path)
    with pytest.raises(ImageError, match="no image HDU"):
        load_image(path)


def test_aips_history_beam():
    header = _header()
    for key in ("BMAJ", "BMIN", "BPA"):
        del header[key]
    header.add_history("AIPS   CLEAN BMAJ=  1.6667E-03 BMIN=  1.3889E-03 BPA=  45.00")
    image = load_image((np.zeros((48, 64)), header))
    assert image.beam.major.to_value(u.arcsec) == pytest.approx(6.0, rel=1e-3)
    assert image.beam.pa.to_value(u.deg) == pytest.approx(45)


# --- real survey files ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, axis", [("GRB120422A-120429.fits", "STOKES"), ("SWIFT_554620-130504.fits", "FREQ")])
def test_pyse_4d_images(shared_data, name, axis):
    path = shared_data / "pyse_ami_lofar" / name
    with fits.open(path) as hdul:
        raw = hdul[0].data
        assert raw.ndim == 4
    image = load_image(path)
    assert image.shape == (512, 512)
    assert image.memmapped
    np.testing.assert_array_equal(image.data, raw[0, 0])
    assert image.beam is not None and image.beam.major > 20 * u.arcsec
    assert image.pixel_scale.to_value(u.arcsec) == pytest.approx(5.0, rel=1e-3)


def test_ncp_projection_with_stray_axes(shared_data):
    image = load_image(shared_data / "scorpio_atca" / "ScorpioS17Field.fits")
    assert image.shape == (1000, 1000)
    assert image.wcs.wcs.ctype[0].startswith("RA---")
    assert image.pixel_scale.to_value(u.arcsec) == pytest.approx(1.5, rel=1e-3)
    # a round trip through the NCP (SIN+PV) projection is exact
    sky = image.wcs.pixel_to_world(10.0, 900.0)
    x, y = image.wcs.world_to_pixel(sky)
    assert abs(x - 10) < 1e-6 and abs(y - 900) < 1e-6


def test_galactic_image(shared_data):
    image = load_image(shared_data / "astroquery_first_magpis" / "magpis_G10.5+0.0.fits")
    assert image.frame == "galactic"
    centre = image.wcs.pixel_to_world(149.5, 149.5)
    assert abs(centre.l.deg - 10.5) < 0.2 and abs(centre.b.deg) < 0.2


@pytest.mark.parametrize("relpath", ["astroquery_first_magpis/first_J105007+304037.fits",
                                     "pyse_ami_lofar/GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits"])
def test_reference_pixel_far_outside(shared_data, relpath):
    image = load_image(shared_data / relpath)
    ny, nx = image.shape
    crpix = image.wcs.wcs.crpix
    assert not (0 < crpix[0] <= nx and 0 < crpix[1] <= ny)
    sky = image.wcs.pixel_to_world(nx / 2, ny / 2)
    x, y = image.wcs.world_to_pixel(sky)
    assert abs(x - nx / 2) < 1e-6 and abs(y - ny / 2) < 1e-6


def test_first_header_tabs_do_not_warn(shared_data):
    path = sorted((shared_data / "frdeep_v2" / "FIRST").glob("*.fits"))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(path)
        image.close()
    assert image.shape == (150, 150)


def test_lotss_float64_and_units(shared_data):
    image = load_image(shared_data / "lotss_dr1_hetdex" / "P205+55-cutout600.fits")
    assert image.data.dtype.kind == "f" and image.data.dtype.itemsize == 8
    assert image.unit == u.Jy / u.beam
    assert image.beam.major.to_value(u.arcsec) == pytest.approx(6, rel=1e-3)
    assert "LoTSS" in repr(image) or "P205" in repr(image)


@pytest.mark.parametrize("text, expected", [
    ("JY/BEAM", u.Jy / u.beam), ("Jy/beam", u.Jy / u.beam), ("JY/BEAM ", u.Jy / u.beam),
    ("jy/beam", u.Jy / u.beam), ("JY BEAM-1", u.Jy / u.beam), ("JY/PIXEL", u.Jy / u.pix),
    ("mJy/beam", u.mJy / u.beam), ("K", u.K), ("Jy", u.Jy),
])
def test_radio_bunit_values(tmp_path, text, expected):
    header = _header()
    header["BUNIT"] = text
    path = tmp_path / "unit.fits"
    fits.PrimaryHDU(np.zeros((48, 64), np.float32), header).writeto(path)
    assert load_image(path).unit == expected


def test_bunit_parsed_once_without_astropy_suggestions(monkeypatch):
    """FITS-style JY/BEAM must not go through astropy's slow failure path (~15 ms of 'did you mean')."""
    from radioassist import image as image_module

    image_module._parse_bunit_text.cache_clear()
    calls = []
    real = u.Unit
    monkeypatch.setattr(image_module.u, "Unit", lambda *a, **k: calls.append(a) or real(*a, **k))
    for text in ("JY/BEAM", "JY/BEAM ", "Jy/beam", "JY/PIXEL"):
        assert image_module._parse_bunit(text).is_equivalent(u.Jy / u.beam) or text == "JY/PIXEL"
    assert calls == []
    monkeypatch.undo()
    # anything else is parsed by astropy once per distinct string, then cached
    assert image_module._parse_bunit("MJY/SR") == image_module._parse_bunit(" MJY/SR ")
    assert image_module._parse_bunit_text.cache_info().hits >= 1
    unknown = image_module._parse_bunit("counts per fortnight")
    assert isinstance(unknown, u.UnrecognizedUnit)
