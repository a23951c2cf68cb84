"""Source finding (no catalogue given) on the real LoTSS mosaic and on synthetic images."""
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS

from radioassist import ImageError
from radioassist.detect import find_sources
from radioassist.structure import find_structure


def _wcs(n):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150, 30]
    w.wcs.crpix = [n / 2, n / 2]
    w.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    return w


def test_finds_synthetic_point_sources(rng):
    n = 200
    yy, xx = np.mgrid[:n, :n]
    data = rng.normal(0, 1e-4, (n, n)).astype(np.float32)
    truth = [(40.3, 50.7), (150.2, 60.1), (100.0, 160.5)]
    for x, y in truth:
        data += 2e-3 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.7 ** 2))
    data[:, :10] = np.nan  # a blank border is not a source
    table = find_sources((data, _wcs(n)), snr=6)
    assert len(table) == 3
    for x, y in truth:
        d = np.hypot(table["x"] - x, table["y"] - y)
        assert d.min() < 0.5
    assert np.all(table["snr"] > 6)
    assert table["size"].unit == "arcsec"


def test_all_nan_image():
    with pytest.raises(ImageError, match="no finite pixels"):
        find_sources((np.full((64, 64), np.nan), _wcs(64)))


def test_lotss_mosaic_detections_match_pybdsf(shared_data):
    folder = shared_data / "lotss_dr1_hetdex"
    # PyBDSF never merges islands: compare its sources with the components (islands)
    table = find_sources(folder / "P205+55-mosaic.fits", snr=5, components=True)
    sources = find_sources(folder / "P205+55-mosaic.fits", snr=5)
    assert len(sources) <= len(table)
    assert sources["n_components"].sum() == len(table)
    ref = Table.read(folder / "catalog_sources_in_images.csv")
    ref = ref[np.asarray(ref["image"], dtype=str) == "P205+55-mosaic.fits"]
    found = SkyCoord(table["ra"], table["dec"])
    known = SkyCoord(ref["RA"], ref["DEC"], unit="deg")
    _, sep, _ = found.match_to_catalog_sky(known)
    assert len(table) >= 15
    assert np.mean(sep.arcsec < 8) > 0.9  # detections are real catalogue sources
    bright = np.asarray(ref["Peak_flux"] / ref["Isl_rms"]) > 20
    # bright survey sources are found: PyBDSF splits an island into Gaussians, here they are its peaks
    peaks = find_structure(folder / "P205+55-mosaic.fits").peaks
    _, sep_back, _ = known[bright].match_to_catalog_sky(SkyCoord(peaks["ra"], peaks["dec"]))
    assert np.mean(sep_back.arcsec < 10) > 0.7
