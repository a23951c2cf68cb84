"""Render radio cutouts as 8-bit RGB images, the way a model expects them.

:func:`render` turns a stack of float cutouts (a
:class:`~radioassist.cutouts.CutoutStack`, an ``(N, H, W)`` array or one
``(H, W)`` image) into an ``(N, H, W, 3)`` ``uint8`` array.  The
``'radio-llava'`` preset reproduces the transform of the radio-llava reference
code bit for bit (FITS -> PIL RGB image):

1. non-finite pixels (NaN, +-inf) are set to 0;
2. optionally (``zscale=True``; off by default upstream) an astropy
   ``ZScaleInterval(contrast=contrast)`` stretch, clipped to [0, 1];
3. optionally (``size=``) a bicubic resize of the longer side to ``size`` and
   zero padding to a ``size`` x ``size`` square (upstream's ``resize_img``);
4. a min-max scaling of each image to 0..255, computed as
   ``(x - min) / (max - min) * 255`` in the image's own floating dtype
   (``float32`` cutouts stay ``float32``, ``float64`` stays ``float64``;
   integer images are promoted to ``float64``, as numpy does upstream);
5. a cast to ``uint8`` by truncation and the grey image replicated into
   three identical channels.

Upstream skips an image whose pixels are all zero or non-finite; here such an
image (and any image that is constant after step 1, for which upstream would
divide by zero) renders as zeros, and :func:`blank_mask` tells which images
are unusable so that callers can skip or flag them.

The other presets map each image to [0, 1] with an interval (and a stretch),
draw pixels without data (non-finite) black, and quantise by rounding:

``'zscale'``
    linear between the IRAF zscale limits (astropy ``ZScaleInterval``).
``'percentile'``
    linear between two percentiles of the finite pixels (``percentiles=``,
    default 0.5 and 99.5).
``'asinh'``
    astropy ``AsinhStretch(a=asinh_a)`` (default ``a=0.1``) on a percentile
    interval (default 0.5 and 99.9).
``'sigma-clip'``
    linear between ``median - sigma_lower * std`` and ``median + sigma_upper *
    std`` (default 3 and 50), where the median and standard deviation of the
    finite non-zero pixels come from astropy's ``sigma_clipped_stats``
    (``clip_sigma=3``, 5 iterations).

All presets except ``'zscale'`` (and ``'radio-llava'`` with ``zscale=True``)
are vectorised over the stack and processed in chunks of ``chunk_size``
images, so memory stays bounded for 10^5 cutouts.
"""
import warnings
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .logger import log

__all__ = ["PRESETS", "render", "blank_mask", "write_png"]

#: Names of the rendering presets accepted by :func:`render`.
PRESETS = ("radio-llava", "zscale", "asinh", "percentile", "sigma-clip")
_DEFAULT_PERCENTILES = {"percentile": (0.5, 99.5), "asinh": (0.5, 99.9)}


# --------------------------------------------------------------------------------------
# input normalisation
# --------------------------------------------------------------------------------------
def _as_stack(images, *, name="images"):
    """Return ``images`` as an (N, H, W) floating array (a view when possible)."""
    data = images
    if not isinstance(data, np.ndarray) and hasattr(data, "data"):
        data = data.data  # CutoutStack, NDData, RadioImage...
    if isinstance(data, np.ma.MaskedArray):
        data = np.ma.filled(data.astype(np.result_type(data.dtype, np.float32)), np.nan)
    try:
        data = np.asarray(data)  # drops Quantity units
    except Exception as exc:  # pragma: no cover - exotic inputs
        msg = f"{name} must be an array-like of images, got {type(images).__name__}: {exc}"
        raise InputError(msg) from exc
    kind = data.dtype.kind
    if kind in "iub":
        data = data.astype(np.float64)
    elif kind == "f":
        if data.dtype.itemsize < 4:
            data = data.astype(np.float32)
    else:
        msg = f"{name} must hold real numbers, got dtype {data.dtype}"
        raise InputError(msg)
    if data.ndim == 2:
        data = data[np.newaxis]
    if data.ndim != 3:
        msg = (f"{name} must be one 2-D image (H, W) or a stack (N, H, W); got an array of shape "
               f"{data.shape}. Squeeze degenerate axes or pick a plane first.")
        raise InputError(msg)
    if data.shape[1] == 0 or data.shape[2] == 0:
        msg = f"{name} have an empty image shape {data.shape[1:]}"
        raise InputError(msg)
    return data


def _check_size(size):
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        msg = f"size must be None or a positive integer (the side of the square output), got {size!r}"
        raise InputError(msg)
    return int(size)


# --------------------------------------------------------------------------------------
# resize (upstream resize_img(mode="square", order=3), via scipy.ndimage)
# --------------------------------------------------------------------------------------
def _resize_square(image, size):
    """Bicubic resize so the longer side is ``size``, then zero-pad to a square.

    Follows skimage ``resize(order=3, mode='constant', cval=0, clip=True,
    preserve_range=True, anti_aliasing=False)`` (which is ``scipy.ndimage.zoom``
    with ``grid_mode=True``), then ``np.pad`` centred, as upstream does.
    """
    from scipy import ndimage

    h, w = image.shape
    scale = size / max(h, w)
    oh, ow = max(1, round(h * scale)), max(1, round(w * scale))
    if (oh, ow) != (h, w):
        resized = ndimage.zoom(image, (oh / h, ow / w), order=3, mode="grid-constant", cval=0.0,
                               grid_mode=True)
        # skimage's clip: back to the input range (extended to cval=0 when the padding used it)
        vmin, vmax = image.min(), image.max()
        if not vmin <= 0 <= vmax and resized.min() <= 0 <= resized.max():
            vmin, vmax = min(vmin, 0), max(vmax, 0)
        np.clip(resized, vmin, vmax, out=resized)
    else:
        resized = image
    top, left = (size - oh) // 2, (size - ow) // 2
    out = np.zeros((size, size), dtype=image.dtype)
    out[top:top + oh, left:left + ow] = resized
    return out


def _resize_stack(stack, size):
    return np.stack([_resize_square(img, size) for img in stack])


# --------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------
def _fill_nonfinite(block, dtype):
    """Copy of ``block`` in ``dtype`` (native byte order) with non-finite pixels set to 0."""
    work = np.array(block, dtype=dtype, copy=True, order="C")
    bad = ~np.isfinite(work)
    if bad.any():
        work[bad] = 0
    return work, bad


def _radio_llava(block, *, zscale, contrast, size, blank=None, overwrite=False, **_):
    dtype = block.dtype.newbyteorder("=")
    if not (zscale or size is not None) and dtype.kind == "f" and block.size:
        # the common case, images without NaN or inf: a finite minimum and maximum show it (NaN and inf
        # reach them); no per-pixel test, and the scaling writes the working copy.  The few images with
        # non-finite pixels (at a mosaic's edge) are rendered again below, in the general way
        own = not block.dtype.isnative  # e.g. FITS data: one native copy first, scaled in place
        if own:
            block = block.astype(dtype)
        elif overwrite and block.flags.writeable:  # the caller's scratch array: scaled in place
            own = True
        with np.errstate(invalid="ignore", over="ignore"):
            vmin = block.min(axis=(1, 2), keepdims=True).astype(dtype)
            vmax = block.max(axis=(1, 2), keepdims=True).astype(dtype)
            span = vmax - vmin  # finite limits may still be too far apart for the dtype
        finite = np.isfinite(span[:, 0, 0])
        if finite.any():
            other = np.flatnonzero(~finite)
            sub_blank = None if blank is None else np.zeros(len(other), dtype=bool)
            rest = None
            if len(other):  # (before ``block`` may be scaled in place)
                rest = _radio_llava(block[other], zscale=False, contrast=contrast, size=None, blank=sub_blank)
            work = _min_max_scale(block, vmin, span, dtype, blank, in_place=own)
            if rest is not None:
                work[other] = rest
                if blank is not None:
                    blank[other] = sub_blank
            return work
    work, _bad = _fill_nonfinite(block, dtype)
    if blank is not None and (zscale or size is not None):
        blank[:] = _blank_of_filled(work)
    if zscale:
        from astropy.visualization import ZScaleInterval

        interval = ZScaleInterval(contrast=contrast)
        work = np.stack([interval(img) for img in work])
    if size is not None:
        work = _resize_stack(work, size)
    vmin = work.min(axis=(1, 2), keepdims=True)
    vmax = work.max(axis=(1, 2), keepdims=True)
    if blank is not None and not (zscale or size is not None):
        blank[:] = (vmax == vmin)[:, 0, 0]  # what blank_mask says: constant once non-finite pixels are 0
    with np.errstate(over="ignore"):
        span = vmax - vmin
    span[span == 0] = 1  # constant image: (x - min) is 0 everywhere, the output is black
    overflow = ~np.isfinite(span[:, 0, 0])
    if overflow.any():  # max - min overflows the dtype (|values| ~ 1e38 in float32): use float64 there
        wide = work[overflow].astype(np.float64)
        lo = wide.min(axis=(1, 2), keepdims=True)
        wide = (wide - lo) / (wide.max(axis=(1, 2), keepdims=True) - lo) * 255.0
        if blank is not None and not (zscale or size is not None):
            blank[overflow] = False  # max - min overflowed: far from constant
        result = np.empty(work.shape, dtype=np.uint8)
        result[overflow] = wide.astype(np.uint8)
        keep = ~overflow
        if keep.any():
            result[keep] = _radio_llava(work[keep], zscale=False, contrast=contrast,
                                        size=None).astype(np.uint8)
        return result
    return _min_max_scale(work, vmin, span, work.dtype, None, in_place=True)


def _min_max_scale(block, vmin, span, dtype, blank, *, in_place=False):
    """`_radio_llava` of finite images (minimum ``vmin``, finite ``span``): a new array unless ``in_place``.

    The exact upstream arithmetic, ``(x - min) / (max - min) * (255 - 0) (+ 0)``; the cast to uint8
    (truncation) is left to the caller, which writes it straight into the output.
    """
    if blank is not None:
        blank[:] = (span == 0)[:, 0, 0]  # constant
    span[span == 0] = 1
    with np.errstate(invalid="ignore"):  # images with a non-finite span are rendered apart
        work = np.subtract(block, vmin, out=block if in_place else None, dtype=dtype)
        np.divide(work, span, out=work)
        np.multiply(work, 255.0, out=work)
    return work


def _normalise(work, bad, vmin, vmax):
    """Linear map of each image from [vmin, vmax] to [0, 1], clipped; invalid limits -> 0."""
    vmin = np.asarray(vmin, dtype=np.float64).reshape(-1, 1, 1)
    vmax = np.asarray(vmax, dtype=np.float64).reshape(-1, 1, 1)
    span = vmax - vmin
    ok = np.isfinite(vmin) & np.isfinite(span) & (span > 0)
    span = np.where(ok, span, 1.0).astype(work.dtype)
    vmin = np.where(ok, vmin, 0.0).astype(work.dtype)
    np.subtract(work, vmin, out=work)
    np.divide(work, span, out=work)
    np.clip(work, 0.0, 1.0, out=work)
    work[bad] = 0
    work *= ok
    return work


def _row_percentiles(work, bad, percentiles):
    """Percentiles (numpy 'linear' method) of the valid pixels of each image, vectorised."""
    n_img = work.shape[0]
    flat = np.where(bad, np.nan, work).reshape(n_img, -1)
    flat.sort(axis=1)  # NaNs go last
    count = (~bad).reshape(n_img, -1).sum(axis=1)
    last = np.maximum(count - 1, 0)
    result = []
    for p in percentiles:
        pos = p / 100.0 * last
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        a = np.take_along_axis(flat, lo[:, None], axis=1)[:, 0].astype(np.float64)
        b = np.take_along_axis(flat, hi[:, None], axis=1)[:, 0].astype(np.float64)
        value = a + (b - a) * frac
        value[count == 0] = np.nan
        result.append(value)
    return result


def _percentile(block, *, percentiles, size, **_):
    work, bad = _fill_nonfinite(block, np.float32)
    vmin, vmax = _row_percentiles(work, bad, percentiles)
    return _normalise(work, bad, vmin, vmax)


def _asinh(block, *, percentiles, asinh_a, size, **_):
    from astropy.visualization import AsinhStretch

    work = _percentile(block, percentiles=percentiles, size=size)
    return AsinhStretch(a=asinh_a)(work, clip=True, out=work)


def _zscale(block, *, contrast, size, **_):
    from astropy.visualization import ZScaleInterval

    work, bad = _fill_nonfinite(block, np.float32)
    interval = ZScaleInterval(contrast=contrast)
    limits = np.full((work.shape[0], 2), np.nan)
    for i, (img, img_bad) in enumerate(zip(work, bad)):
        if not img_bad.all():
            limits[i] = interval.get_limits(img[~img_bad])
    return _normalise(work, bad, limits[:, 0], limits[:, 1])


def _sigma_clip(block, *, clip_sigma, sigma_lower, sigma_upper, maxiters, size, **_):
    from astropy.stats import sigma_clipped_stats

    work, bad = _fill_nonfinite(block, np.float32)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # all-masked images: NaN statistics, drawn black
        _, median, std = sigma_clipped_stats(work, mask=bad | (work == 0), sigma=clip_sigma,
                                             maxiters=maxiters, axis=(1, 2))
    median = np.asarray(median, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    return _normalise(work, bad, median - sigma_lower * std, median + sigma_upper * std)


_RENDERERS = {
    "radio-llava": _radio_llava,
    "zscale": _zscale,
    "asinh": _asinh,
    "percentile": _percentile,
    "sigma-clip": _sigma_clip,
}


def _quantise(unit, size):
    """[0, 1] floats -> uint8 (rounded), after the optional resize."""
    if size is not None:
        unit = _resize_stack(unit, size)
        np.clip(unit, 0.0, 1.0, out=unit)
    unit *= 255.0
    unit += 0.5
    return unit.astype(np.uint8)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def render(images, *, preset="radio-llava", zscale=False, contrast=0.25, size=None,
           percentiles=None, asinh_a=0.1, clip_sigma=3.0, sigma_lower=3.0, sigma_upper=50.0, maxiters=5,
           chunk_size=32, out=None, return_blank=False, channels=3, overwrite_input=False):
    """Render cutouts as 8-bit RGB (or grey) images.

    Parameters
    ----------
    images : `~radioassist.cutouts.CutoutStack`, array-like
        An object with a ``.data`` attribute holding an (N, H, W) array, an
        (N, H, W) array, or a single (H, W) image (rendered as N=1).  Masked
        pixels of a masked array count as missing (NaN).
    preset : str, optional
        One of :data:`PRESETS`: ``'radio-llava'`` (default; bit-exact with the
        reference code), ``'zscale'``, ``'asinh'``, ``'percentile'``,
        ``'sigma-clip'``.
    zscale : bool, optional
        ``'radio-llava'`` only: apply the ZScale stretch before the min-max
        scaling (upstream's ``--zscale``; off by default as upstream).
    contrast : float, optional
        Contrast of the ZScale interval (``'radio-llava'`` with ``zscale=True``
        and ``'zscale'``).
    size : int, optional
        Side of a square output: the longer image side is resized to ``size``
        (bicubic) and the shorter one zero-padded, as upstream's optional
        resize.  Default: keep the native size.
    percentiles : (float, float), optional
        Lower and upper percentiles of the finite pixels for ``'percentile'``
        (default ``(0.5, 99.5)``) and ``'asinh'`` (default ``(0.5, 99.9)``).
    asinh_a : float, optional
        The ``a`` parameter of astropy's ``AsinhStretch`` (``'asinh'``).
    clip_sigma, maxiters : float, int, optional
        ``'sigma-clip'``: the median and standard deviation of the finite
        non-zero pixels come from astropy's ``sigma_clipped_stats`` with these
        parameters (default 3 sigma, 5 iterations).
    sigma_lower, sigma_upper : float, optional
        ``'sigma-clip'``: the output spans ``median - sigma_lower * std`` to
        ``median + sigma_upper * std`` (default 3 and 50).
    chunk_size : int, optional
        Number of images processed at once (bounds the temporary memory; small
        chunks stay in the CPU caches).
    out : `~numpy.ndarray`, optional
        A C-contiguous ``uint8`` array of shape (N, H, W, 3) (or (N, size,
        size, 3); (N, H, W) with ``channels=1``) to write into and return,
        e.g. a buffer reused batch after batch.
    return_blank : bool, optional
        Also return the :func:`blank_mask` of the input, computed on the way
        (for ``'radio-llava'`` at no extra cost).
    channels : {3, 1}, optional
        3 (default): RGB with three identical channels, what image models and
        PNG writers take; 1: the grey image alone, shape (N, H, W), a third
        of the memory (what `radioassist.classify` hands to a backend's
        ``prepare``).
    overwrite_input : bool, optional
        Allow the ``'radio-llava'`` preset to scale a writeable float array
        given as ``images`` in place, destroying its values: one temporary
        array less per chunk (`radioassist.classify` renders its own buffer
        of cutouts this way).  Default False: the input is left as it was.

    Returns
    -------
    rgb : `~numpy.ndarray`
        ``uint8`` array of shape (N, H, W, 3) (or (N, size, size, 3)) with
        three identical channels (``out`` when given); (N, H, W) with
        ``channels=1``.
    blank : `~numpy.ndarray`
        Only with ``return_blank=True``: boolean array of shape (N,), as :func:`blank_mask`.

    Raises
    ------
    InputError
        Unknown preset, bad option values, or images that are not (N, H, W)/(H, W).

    See Also
    --------
    blank_mask : which images are unusable (all zero/non-finite, or constant).

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.render import render
    >>> image = np.array([[0.0, 1.0], [np.nan, 3.0]], dtype=np.float32)
    >>> rgb = render(image)
    >>> rgb.shape, rgb.dtype
    ((1, 2, 2, 3), dtype('uint8'))
    >>> rgb[0, :, :, 0]
    array([[  0,  85],
           [  0, 255]], dtype=uint8)
    """
    if preset not in _RENDERERS:
        msg = f"unknown render preset {preset!r}; available presets: {', '.join(PRESETS)}"
        raise InputError(msg)
    if zscale and preset != "radio-llava":
        msg = (f"zscale=True only applies to preset='radio-llava'; for a ZScale rendering use "
               f"preset='zscale' (got preset={preset!r})")
        raise InputError(msg)
    size = _check_size(size)
    if not np.isfinite(contrast) or contrast < 0:
        msg = f"contrast must be a non-negative number, got {contrast!r}"
        raise InputError(msg)
    if percentiles is None:
        percentiles = _DEFAULT_PERCENTILES.get(preset, (0.5, 99.5))
    try:
        p_lo, p_hi = (float(p) for p in percentiles)
    except (TypeError, ValueError) as exc:
        msg = f"percentiles must be two numbers (lower, upper), got {percentiles!r}"
        raise InputError(msg) from exc
    if not 0 <= p_lo < p_hi <= 100:
        msg = f"percentiles must satisfy 0 <= lower < upper <= 100, got {percentiles!r}"
        raise InputError(msg)
    if not asinh_a > 0:
        msg = f"asinh_a must be positive, got {asinh_a!r}"
        raise InputError(msg)
    if not (clip_sigma > 0 and sigma_lower >= 0 and sigma_upper > 0):
        msg = (f"clip_sigma and sigma_upper must be positive and sigma_lower non-negative, got "
               f"clip_sigma={clip_sigma!r}, sigma_lower={sigma_lower!r}, sigma_upper={sigma_upper!r}")
        raise InputError(msg)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        msg = f"chunk_size must be a positive integer, got {chunk_size!r}"
        raise InputError(msg)

    if isinstance(channels, bool) or channels not in (1, 3):
        msg = f"channels must be 3 (RGB) or 1 (grey), got {channels!r}"
        raise InputError(msg)

    data = _as_stack(images)
    n_img, height, width = data.shape
    out_h, out_w = (size, size) if size is not None else (height, width)
    shape = (n_img, out_h, out_w, 3) if channels == 3 else (n_img, out_h, out_w)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == shape
              and out.flags.c_contiguous):
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        msg = f"out must be a C-contiguous uint8 array of shape {shape}, got {got}"
        raise InputError(msg)
    blank = np.zeros(n_img, dtype=bool) if return_blank else None
    renderer = _RENDERERS[preset]
    options = dict(zscale=zscale, contrast=contrast, size=size, percentiles=(p_lo, p_hi),
                   asinh_a=asinh_a, clip_sigma=clip_sigma, sigma_lower=sigma_lower,
                   sigma_upper=sigma_upper, maxiters=maxiters, overwrite=bool(overwrite_input))
    log.debug("rendering %d image(s) of %dx%d with preset %r", n_img, height, width, preset)
    for start in range(0, n_img, int(chunk_size)):
        stop = min(start + int(chunk_size), n_img)
        if preset == "radio-llava":
            grey = renderer(data[start:stop], blank=None if blank is None else blank[start:stop], **options)
        else:
            grey = _quantise(renderer(data[start:stop], **options), size)
            if blank is not None:
                block_in = data[start:stop]
                blank[start:stop] = _blank_of_filled(np.where(np.isfinite(block_in), block_in, 0))
        block = out[start:stop]
        if channels == 1:
            np.copyto(block, grey, casting="unsafe")  # the float -> uint8 cast (truncation, as astype)
            continue
        # the float -> uint8 cast (truncation, as astype) straight into the first channel, then two
        # uint8 copies: much faster than a broadcast assignment into the last axis
        np.copyto(block[..., 0], grey, casting="unsafe")
        block[..., 1] = block[..., 0]
        block[..., 2] = block[..., 0]
    if return_blank:
        return out, blank
    return out


def blank_mask(images, *, chunk_size=64):
    """Which images are unusable (upstream skips them).

    An image is blank when none of its pixels is both finite and non-zero, or
    when it is constant once non-finite pixels are set to 0 (a min-max scaling
    is then undefined).  :func:`render` draws such images black.

    Parameters
    ----------
    images : `~radioassist.cutouts.CutoutStack`, array-like
        As for :func:`render`.
    chunk_size : int, optional
        Number of images examined at once.

    Returns
    -------
    mask : `~numpy.ndarray`
        Boolean array of shape (N,), True for unusable images.

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.render import blank_mask
    >>> stack = np.zeros((3, 4, 4), dtype=np.float32)
    >>> stack[0] = np.nan
    >>> stack[1, 1, 1] = 2.5
    >>> stack[2] = 7.0
    >>> blank_mask(stack)
    array([ True, False,  True])
    """
    data = _as_stack(images)
    n_img = data.shape[0]
    mask = np.empty(n_img, dtype=bool)
    for start in range(0, n_img, int(chunk_size)):
        block = data[start:start + int(chunk_size)]
        mask[start:start + int(chunk_size)] = _blank_of_filled(np.where(np.isfinite(block), block, 0))
    return mask


def _blank_of_filled(filled):
    """Blank images of a stack whose non-finite pixels are already 0: constant ones.

    An image without a finite non-zero pixel is all zeros once filled, so it is
    constant too: the one test ``max == min`` covers both cases of `blank_mask`.
    """
    return filled.max(axis=(1, 2)) == filled.min(axis=(1, 2))


def _as_rgb_uint8(images):
    """Rendered RGB uint8 (N, H, W, 3) from rendered or raw images."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        if images.ndim == 3 and images.shape[-1] == 3:
            return images[np.newaxis]
        if images.ndim == 4 and images.shape[-1] == 3:
            return images
        if images.ndim in (2, 3):  # grey image(s)
            grey = images if images.ndim == 3 else images[np.newaxis]
            return np.repeat(grey[..., np.newaxis], 3, axis=-1)
        msg = f"uint8 images must have shape (N, H, W, 3), (H, W, 3), (N, H, W) or (H, W); got {images.shape}"
        raise InputError(msg)
    return render(images)


def write_png(images, paths_or_folder, *, names=None, overwrite=False):
    """Write images as 8-bit RGB PNG files.

    Parameters
    ----------
    images : array-like
        Rendered images (``uint8``, (N, H, W, 3), (H, W, 3) or grey (N, H, W))
        or raw cutouts, which are first rendered with :func:`render` and its
        default ``'radio-llava'`` preset.
    paths_or_folder : str, `~pathlib.Path` or sequence of them
        One path per image, a single ``.png`` path for a single image, or a
        folder (created if needed) that receives one file per image.
    names : sequence of str, optional
        File names used inside a folder (``.png`` is appended when missing).
        Default: zero-padded numbers (``0000.png``, ``0001.png``...).
    overwrite : bool, optional
        Replace existing files.  Default: refuse, before writing anything.

    Returns
    -------
    paths : list of `~pathlib.Path`
        The files written, in image order.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from radioassist.render import write_png
    >>> folder = tempfile.mkdtemp()
    >>> paths = write_png(np.random.default_rng(0).normal(size=(2, 8, 8)), folder)
    >>> [p.name for p in paths]
    ['0000.png', '0001.png']
    """
    from PIL import Image

    rgb = _as_rgb_uint8(images)
    n_img = rgb.shape[0]
    if isinstance(paths_or_folder, (str, Path)):
        target = Path(paths_or_folder)
        if target.suffix.lower() == ".png" and not target.is_dir():
            if n_img != 1:
                msg = (f"{target} is a single file name but there are {n_img} images; "
                       f"give a folder or one path per image")
                raise InputError(msg)
            if names is not None:
                msg = "names= only applies when writing into a folder"
                raise InputError(msg)
            paths = [target]
        else:
            if names is None:
                width = max(4, len(str(max(n_img - 1, 0))))
                names = [f"{i:0{width}d}.png" for i in range(n_img)]
            else:
                names = [str(name) for name in names]
                if len(names) != n_img:
                    msg = f"names has {len(names)} entries but there are {n_img} images"
                    raise InputError(msg)
                names = [name if name.lower().endswith(".png") else f"{name}.png" for name in names]
                if len(set(names)) != len(names):
                    msg = "names must be unique"
                    raise InputError(msg)
            paths = [target / name for name in names]
    else:
        if names is not None:
            msg = "names= only applies when writing into a folder"
            raise InputError(msg)
        paths = [Path(p) for p in paths_or_folder]
        if len(paths) != n_img:
            msg = f"got {len(paths)} paths for {n_img} images"
            raise InputError(msg)
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            msg = f"{existing[0]}{more} already exists; pass overwrite=True to replace"
            raise InputError(msg)
    for path, image in zip(paths, rgb):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG")
    log.debug("wrote %d PNG file(s)", n_img)
    return paths
