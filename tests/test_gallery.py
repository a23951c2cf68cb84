"""Tests of radioassist.gallery.make_gallery."""
import numpy as np
import pytest
from PIL import Image

from radioassist.exceptions import InputError
from radioassist.gallery import PALETTE, make_gallery
from radioassist.render import render


@pytest.fixture
def cutouts(rng):
    stack = rng.normal(0, 1e-4, size=(10, 48, 48)).astype(np.float32)
    stack[:, 20:28, 20:28] += 1e-2
    return stack


def _cell(tile):
    return tile + 2 * max(2, tile // 40)


def test_size_and_layout(cutouts):
    image = make_gallery(cutouts, ncols=4, tile=64)
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    cell = _cell(64)
    assert image.width == 4 * cell + 5 * 4
    assert image.height == 3 * cell + 4 * 4  # 3 rows, no captions, no legend
    # fewer images than columns: the mosaic shrinks to the images
    assert make_gallery(cutouts[:2], ncols=8, tile=64).width == 2 * cell + 3 * 4
    # captions add height
    assert make_gallery(cutouts, ncols=4, tile=64, labels=["FR-I"] * 10).height > image.height


def test_captions_change_pixels(cutouts):
    base = dict(ncols=5, tile=64, legend=False)
    fr1 = np.asarray(make_gallery(cutouts, labels=["FR-I"] * 10, colors={"FR-I": (255, 0, 0)}, **base))
    fr2 = np.asarray(make_gallery(cutouts, labels=["FR-II"] * 10, colors={"FR-II": (255, 0, 0)}, **base))
    assert fr1.shape == fr2.shape
    assert (fr1 != fr2).any()  # only the caption text differs
    with_prob = np.asarray(make_gallery(cutouts, labels=["FR-I"] * 10, probabilities=np.full(10, 0.93),
                                        colors={"FR-I": (255, 0, 0)}, **base))
    assert (with_prob != fr1).any()
    titled = np.asarray(make_gallery(cutouts, titles=[f"src{i}" for i in range(10)], **base))
    plain = np.asarray(make_gallery(cutouts, **base))
    assert titled.shape[0] > plain.shape[0]
    assert titled[..., 0].max() > 200  # light caption text on the dark background


def test_frames_are_coloured_by_label(cutouts):
    labels = ["FR-I", "FR-II"] * 5
    image = np.asarray(make_gallery(cutouts, labels=labels, ncols=5, tile=64))
    # frame pixel of the first two tiles (top-left corner of each cell), colours assigned in sorted order
    cell = _cell(64)
    assert tuple(image[4, 4]) == PALETTE[0]               # FR-I
    assert tuple(image[4, 4 + cell + 4]) == PALETTE[1]    # FR-II
    custom = np.asarray(make_gallery(cutouts, labels=labels, ncols=5, tile=64,
                                     colors={"FR-I": (1, 2, 3), "FR-II": (4, 5, 6)}))
    assert tuple(custom[4, 4]) == (1, 2, 3)


def test_tile_content_is_the_rendered_cutout(cutouts):
    rendered = render(cutouts)
    image = np.asarray(make_gallery(rendered, ncols=5, tile=48))
    frame = max(2, 48 // 40)
    x0 = y0 = 4 + frame
    np.testing.assert_array_equal(image[y0:y0 + 48, x0:x0 + 48], rendered[0])
    # raw cutouts are rendered with the default preset
    np.testing.assert_array_equal(np.asarray(make_gallery(cutouts, ncols=5, tile=48)), image)


def test_multilabel_probabilities_and_save(tmp_path, cutouts):
    labels = [("EXTENDED", "DIFFUSE"), (), None] + [("EXTENDED",)] * 7
    probs = np.random.default_rng(0).uniform(size=(10, 3))
    path = tmp_path / "sub" / "gallery.png"
    image = make_gallery(cutouts, labels=labels, probabilities=probs, ncols=5, tile=64, path=path)
    with Image.open(path) as saved:
        assert saved.size == image.size
        np.testing.assert_array_equal(np.asarray(saved.convert("RGB")), np.asarray(image))


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels=["FR-I"]), "labels has 1 entries but there are 10 images"),
    (dict(titles=["a", "b"]), "titles has 2"),
    (dict(probabilities=np.zeros((10, 2, 2))), "probabilities must have shape"),
    (dict(ncols=0), "ncols"),
    (dict(tile=4), "tile"),
])
def test_errors(cutouts, kwargs, match):
    with pytest.raises(InputError, match=match):
        make_gallery(cutouts, **kwargs)


def test_no_images():
    with pytest.raises(InputError, match="at least one image"):
        make_gallery(np.zeros((0, 8, 8), np.float32))
