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


# -----------------------------------------------------------------------------------------------------------
# The fast path for grey 8-bit images (what the vision backend gets from the pipeline) against the
# implementation it replaced, kept here as the reference: the model must see the tensor it was trained on.


def _reference_unit_images(images, *, channels=3):
    raw = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if raw.ndim == 3:
        x = raw.unsqueeze(1)
    elif raw.ndim == 4 and raw.shape[1] == 1:
        x = raw
    elif raw.shape[-1] == 1 or (torch.equal(raw[..., 0], raw[..., 1])
                                and torch.equal(raw[..., 0], raw[..., 2])):
        x = raw[..., 0].unsqueeze(1)
    elif channels == 1:
        x = raw.permute(0, 3, 1, 2).float().mean(dim=1, keepdim=True)
    else:
        x = raw.permute(0, 3, 1, 2)
    return x.float() / 255.0


def _reference_background_clip(x, nsigma, *, full_scale=1.0):
    n = x.shape[0]
    grey = x.mean(dim=1) if x.shape[1] > 1 else x[:, 0]
    flat = grey.flatten(1)
    sample = flat[:, :: max(1, flat.shape[1] // 4096)]
    median = sample.median(dim=1).values
    sigma = (sample - median[:, None]).abs().median(dim=1).values * 1.4826
    nsigma = torch.as_tensor(nsigma, dtype=x.dtype)
    level = (median + nsigma * sigma).view(n, 1, 1, 1)
    x = (x - level).clamp_min_(0)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return x.mul_(torch.where(peak > 0, full_scale / peak.clamp_min(1e-12), torch.ones_like(peak)))


def _reference_model_input(images, spec, *, clip_sigma="spec"):
    import torch.nn.functional as F

    channels = int(spec["num_channels"])
    x = _reference_unit_images(images, channels=channels)
    full = 255.0 * float(spec["rescale"])
    if abs(full - 1.0) > 1e-9:
        x = x * full
    if isinstance(clip_sigma, str):
        clip_sigma = spec.get("background_clip_sigma")
    if clip_sigma is not None:
        x = _reference_background_clip(x, clip_sigma, full_scale=full)
    size = spec["size"]
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        if spec["resample"] in ("bilinear", "bicubic"):
            x = F.interpolate(x, size=tuple(size), mode=spec["resample"], align_corners=False, antialias=True)
            if spec["resample"] == "bicubic":
                x = x.clamp(0.0, full)
        else:
            x = F.interpolate(x, size=tuple(size), mode=spec["resample"])
    crop = spec["crop"]
    if crop is not None:
        h, w = x.shape[-2:]
        top, left = max((h - crop[0]) // 2, 0), max((w - crop[1]) // 2, 0)
        x = x[..., top : top + crop[0], left : left + crop[1]]
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1)
    mean = torch.tensor(spec["mean"], dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"], dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def first_rgb(shared_data):
    """Real FIRST cutouts (FR-DEEP, 150 x 150) rendered as the pipeline renders them: uint8 RGB, grey."""
    import warnings

    from astropy.io import fits

    from radioassist.render import render

    files = sorted((shared_data / "frdeep_v2" / "FIRST").glob("*.fits"))[::8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FIRST headers: TAB characters in COMMENT cards
        arrays = np.stack([np.squeeze(fits.getdata(f)).astype(np.float32) for f in files])
    rgb = render(arrays, preset="radio-llava")
    assert rgb.shape == (len(files), 150, 150, 3) and len(files) >= 60
    return rgb


_SPECS = {
    "shipped B6 (64 px, bilinear)": {**SPEC, "size": (64, 64)},
    "bicubic": {**SPEC, "size": (64, 64), "resample": "bicubic"},
    "nearest": {**SPEC, "size": (48, 48), "resample": "nearest"},
    "area": {**SPEC, "size": (50, 50), "resample": "area"},
    "resize + crop": {**SPEC, "size": (72, 72), "crop": (64, 64)},
    "no resize": {**SPEC, "size": None},
    "0..255 input (rescale 1)": {**SPEC, "size": (64, 64), "rescale": 1.0},
    "no clip": {**SPEC, "size": (64, 64), "background_clip_sigma": None},
    "one channel": {**SPEC, "size": (64, 64), "num_channels": 1, "mean": [0.2], "std": [0.3]},
    "ImageNet mean/std": {**SPEC, "size": (64, 64), "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]},
}


@pytest.mark.parametrize("name", list(_SPECS))
def test_grey_fast_path_gives_the_reference_tensor_on_real_first_cutouts(first_rgb, name):
    spec = _SPECS[name]
    expected = _reference_model_input(first_rgb, spec)
    # float32 rounding: the resize sums torch's weights in another order (relative to the tensor's range)
    tolerance = 1e-6 * max(1.0, float(expected.abs().max()))
    for images in (first_rgb, first_rgb[..., 0], torch.from_numpy(first_rgb[..., 0].copy()).unsqueeze(1)):
        got = model_input(images, spec)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert float((got - expected).abs().max()) <= tolerance
    layout = model_input(first_rgb, spec, memory_format=torch.channels_last)
    assert layout.is_contiguous(memory_format=torch.channels_last)
    assert float((layout - expected).abs().max()) <= tolerance


@pytest.mark.parametrize("name", list(_SPECS))
def test_one_channel_model_input_stands_for_the_equal_channels(first_rgb, name):
    """expand=False (what the vision backend's prepare asks): one channel when all would be equal."""
    spec = _SPECS[name]
    full = model_input(first_rgb[..., 0], spec)
    one = model_input(first_rgb[..., 0], spec, expand=False)
    uniform = len(set(spec["mean"])) == 1 and len(set(spec["std"])) == 1
    if uniform:
        assert one.shape == (full.shape[0], 1, *full.shape[2:])
        torch.testing.assert_close(one.expand_as(full), full, rtol=0, atol=0)
    else:  # per-channel normalisation: the channels differ, nothing to collapse
        torch.testing.assert_close(one, full, rtol=0, atol=0)
    colour = first_rgb[:4].copy()
    colour[..., 2] //= 2  # not grey: always the model's channels
    assert model_input(colour, spec, expand=False).shape == model_input(colour, spec).shape


def test_one_torch_thread_is_shared_by_threads_and_restores_the_count():
    import threading

    from radioassist._threads import one_torch_thread, torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inside, release = threading.Barrier(3), threading.Event()
        seen = []

        def hold():
            with one_torch_thread():
                seen.append(torch.get_num_threads())
                inside.wait()
                release.wait()

        workers = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
        for w in workers:
            w.start()
        try:
            inside.wait(timeout=30)  # both inside at once: neither waits for the other
            assert seen == [1, 1]
            assert torch_threads() == 2  # what the user set, for ONNX Runtime's pool
        finally:
            release.set()
            for w in workers:
                w.join(timeout=30)
        assert torch.get_num_threads() == 2 and torch_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_grey_fast_path_edge_cases_match_the_reference(first_rgb):
    spec = _SPECS["shipped B6 (64 px, bilinear)"]
    sigmas = torch.linspace(0.5, 6.0, len(first_rgb))  # the training augmentation's per-image clip level
    got = model_input(first_rgb, spec, clip_sigma=sigmas)
    assert float((got - _reference_model_input(first_rgb, spec, clip_sigma=sigmas)).abs().max()) <= 1e-6
    flat = np.zeros((3, 150, 150, 3), np.uint8)  # blank and saturated images: peak 0, MAD 0
    flat[1] = 255
    flat[2, ::2] = 7
    assert float((model_input(flat, spec) - _reference_model_input(flat, spec)).abs().max()) <= 1e-6
    halves = np.full((2, 64, 64), 10, np.uint8)  # an even sample split in two: torch's median is the lower
    halves[:, 32:] = 200
    halves[1, 32:, :3] = 90
    assert float((model_input(halves, spec) - _reference_model_input(halves, spec)).abs().max()) <= 1e-6
    colour = first_rgb[:4].copy()
    colour[..., 2] //= 2  # not grey: the general path, averaged channels for the background level
    assert float((model_input(colour, spec) - _reference_model_input(colour, spec)).abs().max()) <= 1e-6
    assert not torch.equal(model_input(colour, spec), model_input(first_rgb[:4], spec))


def test_grey_fast_path_on_clipped_catalogue_pngs(shared_data):
    """RGD PNGs are already sigma-clipped (median and MAD 0): unchanged by the clip, like the reference."""
    from PIL import Image

    files = sorted((shared_data / "first_rgd_png" / "galaxy_data" / "test").rglob("*.png"))[:24]
    grey = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])
    spec = _SPECS["shipped B6 (64 px, bilinear)"]
    assert float((model_input(grey, spec) - _reference_model_input(grey, spec)).abs().max()) <= 1e-6


@pytest.mark.parametrize(("shape", "size", "mode"), [
    ((5, 1, 150, 150), (64, 64), "bilinear"),  # the shipped models: 150-pixel cutouts to 64
    ((3, 3, 150, 120), (64, 50), "bicubic"),  # colour, not square
    ((2, 1, 40, 40), (64, 64), "bilinear"),  # enlarged
    ((2, 2, 33, 17), (1, 5), "bicubic"),  # odd lengths, one output row
])
def test_resize_applies_torch_antialiased_weights(shape, size, mode):
    """The sparse separable resize of CPU batches is torch's antialiased interpolate to float32 rounding."""
    import torch.nn.functional as F

    from radioassist.preprocess import _resize

    x = torch.from_numpy(np.random.default_rng(0).random(shape, dtype=np.float32))
    expected = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    if mode == "bicubic":
        expected = expected.clamp(0.0, 1.0)
    got = _resize(x, size, mode, 1.0)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert float((got - expected).abs().max()) <= 1e-6
    # one image gives the same bits alone as in any batch (the chunks of the fast path)
    assert torch.equal(_resize(x[1:2], size, mode, 1.0), got[1:2])
    # autograd (training that back-propagates through the resize) keeps torch's kernel
    y = x.clone().requires_grad_(True)
    _resize(y, size, mode, 1.0).sum().backward()
    assert y.grad is not None and y.grad.shape == x.shape


def test_bilinear_weights_in_numpy_are_torch_weights_bit_for_bit():
    """The numpy path needs no torch: its antialiased bilinear weights are torch's own, for every length."""
    import torch.nn.functional as F

    from radioassist.preprocess import _antialiased_weights

    for n_out in (64, 32, 224, 150):
        for n_in in range(8, 401, 3):
            eye = torch.eye(n_in, dtype=torch.float32).view(n_in, 1, 1, n_in)
            expected = F.interpolate(eye, size=(1, n_out), mode="bilinear", align_corners=False,
                                     antialias=True).view(n_in, n_out).T.numpy()
            np.testing.assert_array_equal(_antialiased_weights(n_in, n_out, "bilinear"), expected,
                                          err_msg=f"{n_in} -> {n_out}")


@pytest.mark.parametrize("name", list(_SPECS))
def test_numpy_grey_model_input_is_model_input_and_per_image(first_rgb, name):
    """grey_model_input (what the backend runs, without torch) is model_input's tensor, and each image gives the
    same bits alone as in a batch."""
    from radioassist.preprocess import grey_model_input

    spec = _SPECS[name]
    grey = np.ascontiguousarray(first_rgb[..., 0])
    whole = grey_model_input(grey, spec)
    np.testing.assert_array_equal(whole, model_input(grey, spec).numpy())
    for i in (0, 7, len(grey) - 1):
        np.testing.assert_array_equal(grey_model_input(grey[i:i + 1], spec), whole[i:i + 1])
