"""radioassist.preprocess: the one path from a cutout to the model's input tensor."""

import numpy as np
import pytest

from radioassist.preprocess import (
    background_clip,
    cutouts_to_model_input,
    model_input,
    render_cutouts,
    unit_images,
)

torch = pytest.importorskip("torch")

SPEC = {"size": (32, 32), "crop": None, "resample": "bilinear", "rescale": 1 / 255, "mean": [0.5] * 3,
        "std": [0.5] * 3, "num_channels": 3, "background_clip_sigma": 3.0}


def _cutouts(n=3, size=60, seed=0):
    rng = np.random.default_rng(seed)
    arrays = rng.normal(0, 1e-4, (n, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        arrays[i] += 5e-3 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2 - 4 * i) ** 2) / 8)
    arrays[0, :5, :5] = np.nan  # a blank corner, as at a mosaic edge
    return arrays


def test_render_cutouts_is_the_pipeline_rendering():
    from radioassist.render import render
    from radioassist.training.datasets import render_grey

    arrays = _cutouts()
    grey = render_cutouts(arrays)
    assert grey.dtype == np.uint8 and grey.shape == arrays.shape
    np.testing.assert_array_equal(grey, render(arrays, preset="radio-llava")[..., 0])
    np.testing.assert_array_equal(grey[1], render_grey(arrays[1]))  # what training datasets hold
    assert render_cutouts(arrays[1]).shape == (1, 60, 60)


def test_grey_rgb_uint8_and_float_inputs_give_the_same_tensor():
    grey = render_cutouts(_cutouts())
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    a = model_input(grey, SPEC)
    b = model_input(rgb, SPEC)
    c = model_input(torch.from_numpy(grey).unsqueeze(1), SPEC)
    d = model_input(unit_images(grey), SPEC)  # the float path the training augmentation takes
    for other in (b, c, d):
        assert torch.equal(a, other)
    assert a.shape == (3, 3, 32, 32)
    assert torch.equal(cutouts_to_model_input(_cutouts(), SPEC), a)


def test_model_input_steps():
    grey = render_cutouts(_cutouts())
    unclipped = model_input(grey, {**SPEC, "background_clip_sigma": None})
    clipped = model_input(grey, SPEC)
    assert float((clipped == -1).float().mean()) > float((unclipped == -1).float().mean())  # background -> 0
    assert float(clipped.max()) <= 1.0 + 1e-6 and float(clipped.min()) == -1.0
    per_image = model_input(grey, SPEC, clip_sigma=torch.tensor([3.0, 3.0, 3.0]))
    assert torch.allclose(per_image, clipped)
    none = model_input(grey, SPEC, clip_sigma=None)
    assert torch.equal(none, unclipped)
    half = model_input(grey, {**SPEC, "mean": [0.0], "std": [1.0], "num_channels": 1,
                              "background_clip_sigma": None})
    assert half.shape == (3, 1, 32, 32) and 0 <= float(half.min()) and float(half.max()) <= 1
    cropped = model_input(grey, {**SPEC, "size": (40, 40), "crop": (32, 32)})
    assert cropped.shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="images must be"):
        model_input(np.zeros((2, 3, 4, 5, 6), np.uint8), SPEC)


def test_background_clip_is_per_image_and_idempotent():
    x = unit_images(render_cutouts(_cutouts()))
    out = background_clip(x, 3.0)
    assert torch.allclose(out.amax((1, 2, 3)), torch.ones(3))
    assert torch.allclose(background_clip(out, 3.0), out)
    assert torch.equal(x, unit_images(render_cutouts(_cutouts())))  # the input is not modified in place
    flat = torch.zeros(1, 1, 8, 8)
    assert torch.equal(background_clip(flat, 3.0), flat)
