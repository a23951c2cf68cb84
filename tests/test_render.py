"""Tests of radioassist.render: the bit-exact radio-llava transform, the other presets, PNG output."""
import types

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval, ZScaleInterval
from PIL import Image

from radioassist.exceptions import InputError
from radioassist.render import PRESETS, blank_mask, render, write_png


# --------------------------------------------------------------------------------------
# an independent, literal per-image implementation of the upstream FITS -> RGB transform
# --------------------------------------------------------------------------------------
def upstream_rgb(image, *, zscale=False, contrast=0.25):
    """radio-llava's transform read literally: one image at a time, in the image's own dtype.

    Returns None for the images upstream skips (no finite non-zero pixel).
    """
    data = np.array(image, copy=True)  # same dtype (and byte order) as the FITS data
    finite = np.isfinite(data)
    if data[np.logical_and(data != 0, finite)].size == 0:
        return None
    data[~finite] = 0
    if zscale:
        data = ZScaleInterval(contrast=contrast)(data)
    data_min = data.min()
    data_max = data.max()
    norm_min, norm_max = 0.0, 255.0
    data = (data - data_min) / (data_max - data_min) * (norm_max - norm_min) + norm_min
    rgb = np.stack((data,) * 3, axis=-1)
    return rgb.astype(np.uint8)


def synthetic_stack(rng, n=12, shape=(40, 40), dtype=np.float32):
    """Noise + a few Gaussian sources, with NaN/inf patches and wide dynamic ranges."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    stack = rng.normal(0, 1e-4, size=(n,) + shape)
    for i in range(n):
        for _ in range(3):
            cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
            radius2 = (y - cy) ** 2 + (x - cx) ** 2
            stack[i] += rng.uniform(1e-4, 0.5) * np.exp(-radius2 / (2 * rng.uniform(1, 4) ** 2))
    stack = stack.astype(dtype)
    specials = [
        lambda img: img.__setitem__((slice(0, 5), slice(None)), np.nan),  # blank edge (mosaic border)
        lambda img: img.__setitem__((3, 4), np.inf),
        lambda img: img.__setitem__((7, 8), -np.inf),
        lambda img: img.__setitem__((slice(None, None, 2), slice(None, None, 3)), np.nan),  # scattered NaNs
        lambda img: img.__imul__(1e6),                                      # large values
        lambda img: img.__isub__(3.0),                                      # all negative
    ]
    for img, special in zip(stack[1:], specials):
        special(img)
    return stack


@pytest.mark.parametrize("dtype", [np.float32, ">f4", np.float64])
@pytest.mark.parametrize("zscale", [False, True])
def test_radio_llava_preset_is_bit_exact(rng, dtype, zscale):
    stack = synthetic_stack(rng).astype(dtype)
    original = stack.copy()
    rendered = render(stack, preset="radio-llava", zscale=zscale, chunk_size=5)
    assert rendered.shape == stack.shape + (3,)
    assert rendered.dtype == np.uint8
    for i, image in enumerate(stack):
        expected = upstream_rgb(image, zscale=zscale)
        assert expected is not None
        np.testing.assert_array_equal(rendered[i], expected, err_msg=f"image {i}")
    # the input is left untouched (upstream modifies its array in place)
    np.testing.assert_array_equal(stack, original)
    # unless the caller offers it as scratch space (classify's own cutout buffer): same output, bit for bit
    scratch = stack.copy()
    again = render(scratch, preset="radio-llava", zscale=zscale, chunk_size=5, channels=1,
                   overwrite_input=True)
    np.testing.assert_array_equal(again, rendered[..., 0])
    if not zscale and np.dtype(dtype).isnative:  # scaled in place: only the images without NaN or inf kept
        finite = np.isfinite(original).all(axis=(1, 2))
        assert not np.array_equal(scratch[finite], original[finite])


def test_radio_llava_real_first_cutouts_bit_exact(shared_data):
    files = sorted((shared_data / "frdeep_v2" / "FIRST").glob("*.fits"))[::60]
    assert files
    images = [np.squeeze(fits.getdata(f)) for f in files]  # big-endian float32, as upstream reads them
    stack = np.stack(images)
    for zscale in (False, True):
        rendered = render(stack, zscale=zscale)
        for i, image in enumerate(images):
            np.testing.assert_array_equal(rendered[i], upstream_rgb(image, zscale=zscale),
                                          err_msg=files[i].name)


def test_float32_arithmetic_differs_from_float64():
    """The parity test can fail: float32 and float64 arithmetic give different truncations."""
    rng = np.random.default_rng(3)
    stack = rng.uniform(-1, 1, size=(20, 64, 64)).astype(np.float32)
    as_float32 = render(stack)
    as_float64 = render(stack.astype(np.float64))
    assert np.any(as_float32 != as_float64)
    for i in range(3):
        np.testing.assert_array_equal(as_float64[i], upstream_rgb(stack[i].astype(np.float64)))


def test_channels_identical_and_full_range(rng):
    rendered = render(synthetic_stack(rng))
    np.testing.assert_array_equal(rendered[..., 0], rendered[..., 1])
    np.testing.assert_array_equal(rendered[..., 0], rendered[..., 2])
    assert (rendered.min(axis=(1, 2, 3)) == 0).all()
    assert (rendered.max(axis=(1, 2, 3)) == 255).all()


@pytest.mark.parametrize("preset", ["radio-llava", "zscale", "asinh", "percentile", "sigma-clip"])
def test_grey_output_is_the_first_channel(rng, preset):
    stack = synthetic_stack(rng, n=4)
    stack[1] = np.nan  # blank
    rgb, blank = render(stack, preset=preset, return_blank=True)
    grey, grey_blank = render(stack, preset=preset, return_blank=True, channels=1)
    assert grey.shape == stack.shape and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey, rgb[..., 0])
    np.testing.assert_array_equal(grey_blank, blank)
    out = np.empty(stack.shape, np.uint8)
    assert render(stack, preset=preset, channels=1, out=out) is out
    with pytest.raises(InputError, match=r"out must be a C-contiguous uint8 array of shape \(4, "):
        render(stack, channels=1, out=np.empty((*stack.shape, 3), np.uint8))
    with pytest.raises(InputError, match="channels must be 3 .RGB. or 1 .grey., got 2"):
        render(stack, channels=2)


def test_input_forms(rng):
    stack = synthetic_stack(rng, n=3)
    expected = render(stack)
    np.testing.assert_array_equal(render(types.SimpleNamespace(data=stack)), expected)  # CutoutStack-like
    np.testing.assert_array_equal(render(stack[0]), expected[:1])                       # one 2-D image
    np.testing.assert_array_equal(render(list(stack)), expected)
    masked = np.ma.masked_invalid(stack)
    np.testing.assert_array_equal(render(masked), expected)
    ints = (rng.uniform(0, 1000, size=(2, 9, 9))).astype(np.int16)
    np.testing.assert_array_equal(render(ints)[0], upstream_rgb(ints[0].astype(np.float64)))
    assert render(np.empty((0, 8, 8), np.float32)).shape == (0, 8, 8, 3)


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 3, 4, 5)), np.zeros((3, 0, 4))])
def test_bad_shapes(bad):
    with pytest.raises(InputError, match="images"):
        render(bad)


def test_blank_and_constant_images():
    stack = np.zeros((5, 6, 6), dtype=np.float32)
    stack[0] = np.nan                      # all NaN: upstream skips it
    stack[1] = 0.0                         # all zero: upstream skips it
    stack[2] = 4.0                         # constant: upstream would divide 0 by 0
    stack[3] = np.nan
    stack[3, 2, 2] = 1.5                   # one valid pixel among NaNs: usable (NaN -> 0)
    stack[4] = np.inf
    stack[4, 0, 0] = 2.0
    mask = blank_mask(stack)
    np.testing.assert_array_equal(mask, [True, True, True, False, False])
    with np.errstate(all="ignore"):  # upstream divides 0 by 0 on the constant image
        assert [upstream_rgb(img) is None for img in stack] == [True, True, False, False, False]
    for preset in PRESETS:
        with np.errstate(all="raise"):  # no division by zero or invalid operations
            rendered = render(stack, preset=preset)
        assert (rendered[:3] == 0).all(), preset
    rendered = render(stack)
    assert rendered[3, 2, 2, 0] == 255 and rendered[3].sum() == 3 * 255
    np.testing.assert_array_equal(rendered[3], upstream_rgb(stack[3]))
    assert render(stack, zscale=True)[:3].max() == 0
    for preset in PRESETS:  # the mask computed while rendering is blank_mask's
        for kwargs in ({}, {"size": 8}):
            with np.errstate(all="ignore"):
                again, blank = render(stack, preset=preset, return_blank=True, **kwargs)
            np.testing.assert_array_equal(blank, mask, err_msg=f"{preset} {kwargs}")
            np.testing.assert_array_equal(again, render(stack, preset=preset, **kwargs))


@pytest.mark.parametrize("preset", PRESETS)
def test_render_into_out_buffer(rng, preset):
    stack = synthetic_stack(rng, n=7)
    expected = render(stack, preset=preset)
    buffer = np.full((7,) + stack.shape[1:] + (3,), 99, dtype=np.uint8)
    result = render(stack, preset=preset, out=buffer, chunk_size=3)
    assert result is buffer
    np.testing.assert_array_equal(buffer, expected)
    with pytest.raises(InputError, match=r"out must be a C-contiguous uint8 array of shape \(7, "):
        render(stack, preset=preset, out=np.empty((6,) + stack.shape[1:] + (3,), dtype=np.uint8))
    with pytest.raises(InputError, match="out must be"):
        render(stack, preset=preset, out=buffer.astype(np.float32))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_dtype_shape_range(rng, preset):
    stack = synthetic_stack(rng, n=6)
    rendered = render(stack, preset=preset)
    assert rendered.shape == (6, 40, 40, 3) and rendered.dtype == np.uint8
    assert rendered.max() > 200 and rendered.min() == 0
    np.testing.assert_array_equal(rendered[..., 0], rendered[..., 2])
    if preset != "radio-llava":
        assert (rendered[1, :5] == 0).all()  # pixels without data are black
    resized = render(stack, preset=preset, size=64)
    assert resized.shape == (6, 64, 64, 3) and resized.dtype == np.uint8


def _per_image_reference(image, vmin, vmax, stretch=None):
    unit = np.clip((np.nan_to_num(image, nan=vmin, posinf=vmin, neginf=vmin) - vmin) / (vmax - vmin), 0, 1)
    if stretch is not None:
        unit = stretch(unit)
    unit[~np.isfinite(image)] = 0
    return np.floor(unit * 255 + 0.5)


def test_presets_match_astropy_per_image(rng):
    stack = synthetic_stack(rng, n=8)
    checks = {
        "percentile": lambda img: _per_image_reference(
            img, *AsymmetricPercentileInterval(0.5, 99.5).get_limits(img)),
        "asinh": lambda img: _per_image_reference(
            img, *AsymmetricPercentileInterval(0.5, 99.9).get_limits(img), stretch=AsinhStretch(a=0.1)),
        "zscale": lambda img: _per_image_reference(img, *ZScaleInterval(contrast=0.25).get_limits(img)),
    }

    def sigma_reference(img):
        valid = img[np.isfinite(img) & (img != 0)]
        _, median, std = sigma_clipped_stats(valid, sigma=3, maxiters=5)
        return _per_image_reference(img, median - 3 * std, median + 50 * std)

    checks["sigma-clip"] = sigma_reference
    for preset, reference in checks.items():
        rendered = render(stack, preset=preset)[..., 0].astype(int)
        for i, image in enumerate(stack):
            diff = np.abs(rendered[i] - reference(image.astype(np.float64)))
            assert diff.max() <= 1, (preset, i, diff.max())


def test_resize_pads_to_a_square(rng):
    image = rng.uniform(1, 2, size=(20, 40)).astype(np.float32)  # positive: padding maps to 0
    rendered = render(image, size=80)[0, ..., 0]
    assert rendered.shape == (80, 80)
    assert (rendered[:20] == 0).all() and (rendered[60:] == 0).all()
    assert rendered[25:55].min() > 0
    # a smooth ramp is upscaled smoothly (bicubic): close to the linearly interpolated ramp
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    up = render(ramp, size=128, preset="percentile", percentiles=(0, 100))[0, 64, :, 0].astype(float)
    assert np.all(np.diff(up[8:100]) >= -1)
    assert abs(up[64] - 127.5) < 6


def test_resize_matches_skimage_when_available(rng):
    skimage_transform = pytest.importorskip("skimage.transform")
    image = rng.normal(size=(30, 30)).astype(np.float32)
    image[image > 0] = 0
    expected = skimage_transform.resize(image, (64, 64), order=3, mode="constant", cval=0, clip=True,
                                        preserve_range=True, anti_aliasing=False).astype(np.float32)
    lo, hi = expected.min(), expected.max()
    reference = ((expected - lo) / (hi - lo) * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(render(image, size=64)[0, ..., 0], reference)


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset="nope"), "radio-llava, zscale, asinh, percentile, sigma-clip"),
    (dict(preset="asinh", zscale=True), "zscale=True only applies"),
    (dict(size=0), "size"),
    (dict(size=12.5), "size"),
    (dict(percentiles=(99, 1)), "percentiles"),
    (dict(percentiles=5), "percentiles"),
    (dict(asinh_a=0), "asinh_a"),
    (dict(sigma_lower=-1), "sigma_lower"),
    (dict(clip_sigma=0), "clip_sigma"),
    (dict(contrast=-1), "contrast"),
    (dict(chunk_size=0), "chunk_size"),
])
def test_option_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        render(np.ones((2, 4, 4)), **kwargs)


def test_write_png_round_trip(tmp_path, rng):
    rendered = render(synthetic_stack(rng, n=3))
    paths = write_png(rendered, tmp_path / "pngs")
    assert [p.name for p in paths] == ["0000.png", "0001.png", "0002.png"]
    for path, image in zip(paths, rendered):
        with Image.open(path) as png:
            assert png.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(png), image)
    named = write_png(rendered, tmp_path / "named", names=["a", "b.png", "c"])
    assert [p.name for p in named] == ["a.png", "b.png", "c.png"]
    with pytest.raises(InputError, match="already exists"):
        write_png(rendered, tmp_path / "pngs")
    assert write_png(rendered[::-1], tmp_path / "pngs", overwrite=True) == paths
    with Image.open(paths[0]) as png:
        np.testing.assert_array_equal(np.asarray(png), rendered[2])


def test_write_png_paths_and_raw_input(tmp_path, rng):
    raw = synthetic_stack(rng, n=2)
    paths = write_png(raw, [tmp_path / "x.png", tmp_path / "sub" / "y.png"])
    with Image.open(paths[1]) as png:
        np.testing.assert_array_equal(np.asarray(png), render(raw)[1])
    single = write_png(raw[0], tmp_path / "one.png")
    assert single == [tmp_path / "one.png"] and single[0].exists()
    with pytest.raises(InputError, match="single file"):
        write_png(raw, tmp_path / "two.png")
    with pytest.raises(InputError, match="2 paths for 3 images"):
        write_png(synthetic_stack(rng, n=3), [tmp_path / "p.png", tmp_path / "q.png"])
    with pytest.raises(InputError, match="names has 1"):
        write_png(raw, tmp_path / "folder", names=["only"])
