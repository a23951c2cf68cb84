"""radioassist._noise gives photutils' numbers (Background2D with a median and MAD-std RMS, detect_sources) on
real images of every family, with blank (NaN) coverage and partial edge boxes, so that find_structure's islands do
not depend on which of the two computed them."""
import warnings

import numpy as np
import pytest

from radioassist._noise import Islands, background_and_rms, detect_islands
from radioassist.image import load_image

photutils_background = pytest.importorskip("photutils.background")
photutils_segmentation = pytest.importorskip("photutils.segmentation")

#: One image of each family in ../shared/data: FIRST (FK5), LoTSS, AMI 4-D, ATCA NCP, MAGPIS Galactic.
FAMILIES = ["frdeep_v2/FIRST/1408+0050_II.fits", "lotss_dr1_hetdex/P205+55-cutout600.fits",
            "pyse_ami_lofar/GRB120422A-120429.fits", "scorpio_atca/ScorpioExtendedSourceField.fits",
            "astroquery_first_magpis/magpis_G10.5+0.0.fits"]


def _photutils(data, box, coverage, threshold, n_pixels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bkg = photutils_background.Background2D(
            data, box, coverage_mask=coverage, bkg_estimator=photutils_background.MedianBackground(),
            bkg_rms_estimator=photutils_background.MADStdBackgroundRMS(), filter_size=(3, 3))
        background, rms = bkg.background, bkg.background_rms
        snr = (data - background) / np.where(rms > 0, rms, np.inf)
        segm = photutils_segmentation.detect_sources(snr, threshold, n_pixels, mask=coverage, connectivity=8)
    return background, rms, snr, segm


def _blanked(path, *, blank):
    data = np.asarray(load_image(path).data, dtype=np.float32)
    if blank:  # a survey edge: a blank corner wider than a box, and a blank stripe
        ny, nx = data.shape
        data[: ny // 3, : nx // 2] = np.nan
        data[:, nx - 7:] = np.nan
    coverage = ~np.isfinite(data)
    return np.where(coverage, 0.0, data).astype(np.float32), coverage


@pytest.mark.parametrize("blank", [False, True], ids=["full", "blank-edges"])
@pytest.mark.parametrize("name", FAMILIES)
def test_background_rms_and_islands_equal_photutils(shared_data, name, blank):
    data, coverage = _blanked(shared_data / name, blank=blank)
    box = max(8, min(37, min(data.shape) // 4))  # 37 leaves partial boxes on every edge of these images
    background, rms, snr, segm = _photutils(data, box, coverage, 3.0, 5)
    mine_bkg, mine_rms = background_and_rms(data, box, coverage_mask=coverage)
    np.testing.assert_array_equal(mine_bkg, background)
    np.testing.assert_array_equal(mine_rms, rms)
    islands = detect_islands(snr, 3.0, 5, mask=coverage)
    assert segm is not None and islands is not None
    np.testing.assert_array_equal(islands.data, segm.data)
    assert list(islands.labels) == list(segm.labels)
    assert islands.slices == list(segm.slices)
    # removing islands (find_structure drops sidelobes and faint islands) numbers the rest as photutils does
    drop = segm.labels[::3]
    segm.remove_labels(drop, relabel=True)
    islands.remove_labels(drop, relabel=True)
    np.testing.assert_array_equal(islands.data, segm.data)
    assert list(islands.labels) == list(segm.labels) and islands.slices == list(segm.slices)
    assert islands.n_labels == segm.n_labels


def test_islands_hand_over_to_photutils_deblending(shared_data):
    data, coverage = _blanked(shared_data / FAMILIES[0], blank=False)
    background, rms, snr, _ = _photutils(data, 37, coverage, 3.0, 5)
    islands = detect_islands(snr, 3.0, 5, mask=coverage)
    segm = islands.to_photutils()
    np.testing.assert_array_equal(segm.data, islands.data)


def test_no_island_and_bad_input():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(64, 64)).astype(np.float32)
    assert detect_islands(noise, 50.0, 5) is None
    assert detect_islands(noise, -50.0, 5).n_labels == 1  # everything is one island
    with pytest.raises(ValueError, match="connectivity"):
        detect_islands(noise, 3.0, 5, connectivity=6)
    with pytest.raises(ValueError, match="masked"):
        background_and_rms(np.full((64, 64), np.nan), 16)
    with pytest.raises(ValueError, match="box_size"):
        background_and_rms(noise, 65)
    # a constant image: flat maps (photutils returns the constant, not a spline)
    bkg, rms = background_and_rms(np.ones((50, 50), dtype=np.float32), 16)
    assert np.all(bkg == 1) and np.all(rms == 0)


def test_islands_keep_integer_labels_after_removal():
    data = np.zeros((20, 20), dtype=np.int32)
    data[2:4, 2:4], data[10:12, 10:12], data[15:18, 1:3] = 1, 2, 3
    slices = [(slice(2, 4), slice(2, 4)), (slice(10, 12), slice(10, 12)), (slice(15, 18), slice(1, 3))]
    isl = Islands(data, [1, 2, 3], slices)
    isl.remove_labels([2])
    assert list(isl.labels) == [1, 2] and isl.data[16, 1] == 2 and isl.data[10, 10] == 0
