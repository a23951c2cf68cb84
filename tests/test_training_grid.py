"""Training from a catalogue resamples cutouts exactly as classify brings them to a model's grid."""
import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from radioassist.exceptions import DomainWarning
from radioassist.domain import model_grid, to_model_grid
from radioassist.image import load_image
from radioassist.training.datasets import load_catalog_cutouts, render_grey


def test_catalog_training_cutouts_use_the_serving_grid(shared_data, tmp_path):
    folder = shared_data / "lotss_dr1_hetdex"
    mosaic = folder / "P205+55-mosaic.fits"
    rows = Table.read(folder / "catalog_sources_in_images.csv")
    rows = rows[np.asarray(rows["image"], dtype=str) == "P205+55-mosaic.fits"][:8]
    catalog = Table({"RA": rows["RA"], "DEC": rows["DEC"],
                     "label": np.where(np.asarray(rows["S_Code"], dtype=str) == "S", "NO", "YES")})
    data = load_catalog_cutouts(str(mosaic), catalog, task="B3", label_column="label", size=150,
                                resample_to=1.8 * u.arcsec)
    assert data.pixel_scale_arcsec == pytest.approx(1.8) and data.cutout_size_pix == 150
    assert data.images.shape[1:] == (150, 150)
    image = load_image(str(mosaic))
    grid = model_grid(image, {"pixel_scale_arcsec": 1.8, "cutout_size_pix": 150})
    assert grid.resample  # LoTSS is 1.5"/px: a real resampling, not a native cut
    from astropy.coordinates import SkyCoord
    served = to_model_grid(image, SkyCoord(rows["RA"], rows["DEC"], unit="deg"), grid)
    expected = [render_grey(a) for a in served.data]
    expected = np.stack([e for e in expected if e is not None])
    np.testing.assert_array_equal(data.images, expected)


def test_catalog_training_resample_to_must_be_an_angle(shared_data):
    from radioassist.exceptions import InputError

    folder = shared_data / "lotss_dr1_hetdex"
    rows = Table.read(folder / "catalog_sources_in_images.csv")[:3]
    catalog = Table({"RA": rows["RA"], "DEC": rows["DEC"], "label": ["NO"] * 3})
    with pytest.raises(InputError, match="resample_to must be a positive angle"):
        load_catalog_cutouts(str(folder / "P205+55-mosaic.fits"), catalog, task="B3", label_column="label",
                             resample_to=2 * u.m)


def test_views_cut_what_the_model_saw(shared_data):
    """Gallery and report re-cut a run's sources on the model's grid recorded in its provenance."""

    import radioassist as ra
    from astropy.coordinates import SkyCoord
    from radioassist.domain import cutouts_as_classified

    folder = shared_data / "lotss_dr1_hetdex"
    mosaic = folder / "P205+55-mosaic.fits"
    rows = Table.read(folder / "catalog_sources_in_images.csv")
    rows = rows[np.asarray(rows["image"], dtype=str) == "P205+55-mosaic.fits"][:5]
    with pytest.warns(DomainWarning, match=r"frequency 143.7 MHz is outside the model's 1400 MHz"):
        table = ra.classify(str(mosaic), Table({"RA": rows["RA"], "DEC": rows["DEC"]}), task="B3")
    prov = table.meta["radioassist"]
    assert prov["cut_on_model_grid"]
    image = load_image(str(mosaic))
    positions = SkyCoord(rows["RA"], rows["DEC"], unit="deg")
    seen = cutouts_as_classified(image, positions, prov)
    grid = model_grid(image, prov["model_domain"])
    np.testing.assert_array_equal(seen.data, to_model_grid(image, positions, grid).data)
    assert seen.data.shape[1:] == (150, 150)  # 270" at the model's 1.8"/px, not 150 native 1.5" pixels
    # a run with an explicit size was cut in native pixels: so is its view
    with pytest.warns(DomainWarning, match=r"frequency 143.7 MHz is outside the model's 1400 MHz"):
        native = ra.classify(str(mosaic), Table({"RA": rows["RA"], "DEC": rows["DEC"]}), task="B3", size=40)
    assert not native.meta["radioassist"]["cut_on_model_grid"]
    assert cutouts_as_classified(image, positions, native.meta["radioassist"]).data.shape[1:] == (40, 40)


def test_views_apply_the_size_rule_of_the_run():
    """A run cut with a size rule (--size-factor) is shown with the same rule, not fixed-size cutouts."""
    import radioassist as ra
    from radioassist.catalog import read_catalog
    from radioassist.cutouts import extract_cutouts
    from radioassist.domain import cutouts_as_classified

    sky = ra.simulate_sky(shape=(400, 400), n_sources=12, seed=3)
    table = ra.classify(sky.image, sky.catalog, task="B6", size=48, size_factor=3.0, min_size=16, max_size=120)
    prov = table.meta["radioassist"]
    assert prov["size_rule"] == {"size_factor": "3.0", "min_size": "16", "max_size": "120"}
    rows = read_catalog(sky.catalog)
    seen = cutouts_as_classified(sky.image, rows, prov)
    expected = extract_cutouts(sky.image, rows, size=48, size_factor=3.0, min_size=16, max_size=120)
    np.testing.assert_array_equal(seen.data, expected.data)
    plain = extract_cutouts(sky.image, rows, size=48)
    assert not np.array_equal(np.nan_to_num(seen.data), np.nan_to_num(plain.data))
