"""The one preprocessing of the vision classifiers: cutout -> rendered image -> model input tensor.

Training (`radioassist.training.train_vision_classifier`), evaluation
(``radioassist evaluate``) and every prediction of the ``vision`` backend
run images through the functions of this module, so that a model sees at
serving time exactly the tensor it was trained on:

1. :func:`render_cutouts` renders float cutouts (FITS pixel values) to 8-bit
   grey with the model's render preset (``radio-llava``: non-finite -> 0,
   min-max to 0..255), as `radioassist.render.render` does in the pipeline;
2. :func:`model_input` turns 8-bit images (``(N, H, W)`` grey or
   ``(N, H, W, 3)`` RGB) into the normalised float tensor the network takes:
   scale to [0, 1], background clip (`background_clip`), resize
   (antialiased), centre crop, replicate grey to the model's channels and
   normalise with the model's mean and std.

:func:`cutouts_to_model_input` chains the two.  The training augmentation
(rotations, flips, zoom, noise, contrast) acts on the [0, 1] images between
the two steps and hands them to :func:`model_input` as float tensors.
"""

import functools

import numpy as np


__all__ = ["render_cutouts", "model_input", "grey_model_input", "cutouts_to_model_input", "background_clip",
           "unit_images", "grey_images"]


def render_cutouts(arrays, *, preset="radio-llava"):
    """Render float cutouts to 8-bit grey images, as the pipeline does before classifying them.

    Parameters
    ----------
    arrays : array-like
        ``(N, H, W)`` or ``(H, W)`` float pixel values (non-finite values allowed).
    preset : str, optional
        Render preset (see `radioassist.render.render`).

    Returns
    -------
    `numpy.ndarray`
        ``(N, H, W)`` uint8.
    """
    from .render import render

    arrays = np.asarray(arrays, dtype=np.float32)
    if arrays.ndim == 2:
        arrays = arrays[None]
    return np.ascontiguousarray(render(arrays, preset=preset)[..., 0])


def background_clip(x, nsigma, *, full_scale=1.0):
    """Clip the background of a batch of images and stretch what is left to the full range.

    For every image, pixels below ``median + nsigma * sigma`` (sigma from the
    median absolute deviation, on the grey mean of the channels) become 0, the
    rest are shifted down by that level and the image is rescaled so that its
    maximum is ``full_scale``.  Images that are already clipped (a zero
    median and MAD) are unchanged.  This puts plain min-max renderings of FITS
    cutouts and sigma-clipped images (e.g. catalogue PNGs) on the same footing.

    Parameters
    ----------
    x : `torch.Tensor`
        Float images ``(n, C, H, W)`` in ``[0, full_scale]``.
    nsigma : float or `torch.Tensor`
        Clip level in units of the background sigma (a scalar, or one per image).
    full_scale : float, optional
        Maximum of the output.

    Returns
    -------
    `torch.Tensor`
    """
    import torch

    n = x.shape[0]
    grey = x.mean(dim=1) if x.shape[1] > 1 else x[:, 0]
    flat = grey.flatten(1)
    step = max(1, flat.shape[1] // 4096)  # a robust estimate needs no more pixels
    sample = flat[:, ::step]
    median = sample.median(dim=1).values
    sigma = (sample - median[:, None]).abs().median(dim=1).values * 1.4826
    nsigma = torch.as_tensor(nsigma, dtype=x.dtype, device=x.device)
    level = (median + nsigma * sigma).view(n, 1, 1, 1)
    x = (x - level).clamp_min_(0)  # a new tensor: the caller's images are not modified
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    scale = torch.where(peak > 0, full_scale / peak.clamp_min(1e-12), torch.ones_like(peak))
    return x.mul_(scale)


def unit_images(images, *, channels=3, device="cpu"):
    """8-bit images -> float tensor ``(N, C, H, W)`` in [0, 1] (one channel when the image is grey).

    Parameters
    ----------
    images : `numpy.ndarray` or `torch.Tensor`
        uint8 ``(N, H, W)`` grey, ``(N, H, W, 3)`` RGB or ``(N, 1, H, W)``.
    channels : int, optional
        Channels the model takes (1 or 3): colour images are averaged to grey for 1.
    device : str, optional

    Returns
    -------
    `torch.Tensor`
    """
    import torch

    raw = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    raw = raw.to(device)
    if raw.ndim == 3:
        x = raw.unsqueeze(1)
    elif raw.ndim == 4 and raw.shape[1] == 1:
        x = raw
    elif raw.ndim == 4 and raw.shape[-1] in (1, 3):
        if raw.shape[-1] == 1 or (
            torch.equal(raw[..., 0], raw[..., 1]) and torch.equal(raw[..., 0], raw[..., 2])
        ):  # rendered radio cutouts are grey: work on one channel, expand at the end
            x = raw[..., 0].unsqueeze(1)
        elif channels == 1:
            x = raw.permute(0, 3, 1, 2).float().mean(dim=1, keepdim=True)
        else:
            x = raw.permute(0, 3, 1, 2)
    else:
        msg = f"images must be (N, H, W), (N, 1, H, W) or (N, H, W, 3), got shape {tuple(raw.shape)}"
        raise ValueError(msg)
    return x.float() / 255.0



def _resize(x, size, mode, full):
    """Resize a ``(N, C, H, W)`` float batch to ``size`` as training did (antialiased, bicubic clamped to range).

    float32 batches on the CPU (training and serving alike) take `_separable_resize`, torch's weights applied
    as two sparse products; others (GPU, autograd) torch's ``interpolate``.  The two agree to float32
    rounding.
    """
    import torch
    import torch.nn.functional as F

    if (mode in _SEPARABLE and x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad
            and x.ndim == 4 and x.numel()):
        return _separable_resize(x, size, mode, full)
    if mode in ("bilinear", "bicubic"):
        x = F.interpolate(x, size=tuple(size), mode=mode, align_corners=False, antialias=True)
        return x.clamp(0.0, full) if mode == "bicubic" else x
    return F.interpolate(x, size=tuple(size), mode=mode)

def model_input(images, spec, *, clip_sigma="spec", device="cpu", dtype=None, memory_format=None,
                expand=True):
    """The normalised tensor a vision model takes, from 8-bit images or [0, 1] float images.

    Parameters
    ----------
    images : `numpy.ndarray` or `torch.Tensor`
        uint8 images (see :func:`unit_images`), or a float tensor
        ``(N, C, H, W)`` already in [0, 1] (the training augmentation's output).
    spec : dict
        The model's preprocessing: ``size`` (h, w) or None, ``crop`` (h, w) or
        None, ``resample`` (``'bilinear'``, ``'bicubic'``, ``'nearest'``,
        ``'area'``), ``rescale`` (1/255 for models that take [0, 1]),
        ``mean``, ``std``, ``num_channels`` and ``background_clip_sigma``
        (None: no clip).
    clip_sigma : float, `torch.Tensor` or None, optional
        Background clip level; by default the model's
        (``spec['background_clip_sigma']``).  The training augmentation passes
        a jittered level per image.
    device : str, optional
    dtype : `torch.dtype`, optional
        Cast the result (the model's dtype).
    memory_format : `torch.memory_format`, optional
        Layout of the result (e.g. ``torch.channels_last``, what convolutional
        networks run fastest on); default: contiguous.
    expand : bool, optional
        True (default): the model's ``num_channels`` channels.  False: grey
        images whose channels would all be equal (grey 8-bit input on the CPU,
        the same mean and std for every channel) come back as one channel
        ``(N, 1, h, w)`` that stands for all of them (what a network whose
        first convolution sums its input channels' weights takes, a third of the
        memory); other input is expanded as usual.

    Returns
    -------
    `torch.Tensor`
        ``(N, num_channels, h, w)`` (``(N, 1, h, w)`` for grey input with
        ``expand=False``).

    Notes
    -----
    Grey 8-bit images on the CPU (rendered radio cutouts, the common case)
    take a faster path that gives the same tensor bit for bit: the background
    level comes from a histogram of the 256 grey levels instead of sorting the
    pixels, and the batch is scaled, clipped, resized and normalised with
    numpy (:func:`grey_model_input`) in chunks that stay in the CPU cache,
    each image on its own: an image gives the same bits alone as in any batch.
    """
    import torch

    channels = int(spec["num_channels"])
    full = 255.0 * float(spec["rescale"])
    if isinstance(clip_sigma, str):
        clip_sigma = spec.get("background_clip_sigma")
    grey8 = _grey_uint8(images) if torch.device(device).type == "cpu" else None
    if grey8 is not None:
        x = torch.from_numpy(grey_model_input(grey8, spec, clip_sigma=clip_sigma, expand=expand))
        if memory_format is not None:
            x = x.contiguous(memory_format=memory_format)
        return x if dtype is None else x.to(dtype)
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        x = images.to(device)
    else:
        x = unit_images(images, channels=channels, device=device)
    if abs(full - 1.0) > 1e-9:
        x = x * full
    if clip_sigma is not None:
        x = background_clip(x, clip_sigma, full_scale=full)
    size = spec["size"]
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = _resize(x, size, spec["resample"], full)
    crop = spec["crop"]
    if crop is not None:
        h, w = x.shape[-2:]
        top, left = max((h - crop[0]) // 2, 0), max((w - crop[1]) // 2, 0)
        x = x[..., top : top + crop[0], left : left + crop[1]]
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1)
    mean = torch.tensor(spec["mean"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    x = (x - mean) / std
    if memory_format is not None:
        x = x.contiguous(memory_format=memory_format)
    if dtype is not None:
        x = x.to(dtype)
    return x


#: Pixels per chunk of the grey fast path (a few MB of float32: the chunk stays in the CPU cache).
_CHUNK_PIXELS = 1 << 19


def _grey_uint8(images):
    """The ``(n, H, W)`` uint8 array of grey 8-bit images, or None for float, colour or non-CPU input.

    Follows the shape rules of :func:`unit_images`: ``(N, H, W)``, ``(N, 1, H, W)``, ``(N, H, W, 1)`` and
    ``(N, H, W, 3)`` with three equal channels (how rendered cutouts arrive) are grey.
    """
    if isinstance(images, np.ndarray):
        arr = images
    elif type(images).__module__.startswith("torch"):
        if str(images.dtype) != "torch.uint8" or images.device.type != "cpu":
            return None
        arr = images.numpy()
    else:
        return None
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or arr.size == 0:
        return None
    if arr.ndim == 3:
        return arr
    if arr.shape[1] == 1:
        return arr[:, 0]
    if arr.shape[-1] == 1:
        return arr[..., 0]
    if arr.shape[-1] == 3:
        grey = arr[..., 0]
        if np.array_equal(arr[..., 1], grey) and np.array_equal(arr[..., 2], grey):
            return grey
    return None


def grey_images(images):
    """Which of a stack of uint8 ``(N, H, W, 3)`` images are grey (three equal channels), image by image.

    Parameters
    ----------
    images : `numpy.ndarray`
        uint8 ``(N, H, W, 3)``.

    Returns
    -------
    `numpy.ndarray`
        ``(N,)`` bool.
    """
    flat = images.reshape(len(images), -1, images.shape[-1])
    return ((flat[..., 1] == flat[..., 0]) & (flat[..., 2] == flat[..., 0])).all(axis=1)


def _unit_levels(full):
    """float32 value of each of the 256 grey levels: ``level / 255`` (times ``full`` when it is not 1)."""
    unit = np.arange(256, dtype=np.float32) / np.float32(255.0)
    if abs(full - 1.0) > 1e-9:
        unit = unit * np.float32(full)
    return unit


def _weighted_lower_median(values, counts, k):
    """Per row, the ``k``-th smallest (0-based) of ``values`` (n, 256) each repeated ``counts`` times."""
    order = np.argsort(values, axis=1, kind="stable")
    cumulative = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    index = (cumulative <= k).sum(axis=1, keepdims=True)
    return np.take_along_axis(np.take_along_axis(values, order, axis=1), index, axis=1)[:, 0]


def _grey_clip_levels(grey, unit, nsigma):
    """Level and peak of `background_clip` for grey uint8 images, from a histogram of the grey levels.

    ``unit`` holds the float32 value of each of the 256 grey levels (as the
    images are scaled).  The median and the median absolute deviation of the
    same pixel sample as `background_clip` are order statistics of at most 256
    distinct values, computed exactly from the counts; the peak of the clipped
    image is the clipped value of its brightest pixel.  The float32 operations
    on the levels are those of `background_clip`, image by image, so the result
    is the same bit for bit whatever the other images.
    """
    n = grey.shape[0]
    flat = grey.reshape(n, -1)
    step = max(1, flat.shape[1] // 4096)  # the pixel sample of background_clip
    sample = flat[:, ::step]
    m = sample.shape[1]
    k = (m - 1) // 2  # torch.median: the lower of the two middle values
    index = sample.astype(np.int64) + (np.arange(n, dtype=np.int64) * 256)[:, None]
    counts = np.bincount(index.ravel(), minlength=256 * n).reshape(n, 256)
    cumulative = np.cumsum(counts, axis=1)
    median = unit[(cumulative <= k).sum(axis=1)]
    deviation = np.abs(unit[None, :] - median[:, None])
    sigma = _weighted_lower_median(deviation, counts, k) * np.float32(1.4826)
    nsigma = np.asarray(nsigma, dtype=np.float32)
    level = median + nsigma * sigma
    peak = np.maximum(unit[flat.max(axis=1)] - level, np.float32(0))
    return level.astype(np.float32, copy=False), peak.astype(np.float32, copy=False)


def grey_model_input(grey, spec, *, clip_sigma="spec", expand=True):
    """`model_input` of grey uint8 images ``(n, H, W)`` with numpy alone: a float32 ``(n, C, h, w)`` array.

    The one preprocessing of grey images: :func:`model_input` returns this
    array as a tensor, and the ``vision`` backend hands it to ONNX Runtime
    without importing torch.  Every image is computed on its own (its own
    background level, the same resize weights whatever the batch), so an
    image gives the same bits alone as in any batch, chunk or order.

    Parameters
    ----------
    grey : `numpy.ndarray`
        uint8 ``(n, H, W)``.
    spec : dict
        The model's preprocessing (see :func:`model_input`).
    clip_sigma : float, array-like or None, optional
        Background clip level (one, or one per image); by default the model's.
    expand : bool, optional
        False: one channel ``(n, 1, h, w)`` when the model normalises all its
        channels alike (it stands for them all).

    Returns
    -------
    `numpy.ndarray`
    """
    grey = np.asarray(grey)
    if isinstance(clip_sigma, str):
        clip_sigma = spec.get("background_clip_sigma")
    elif clip_sigma is not None and not np.isscalar(clip_sigma):
        clip_sigma = np.asarray(clip_sigma.cpu() if hasattr(clip_sigma, "cpu") else clip_sigma, dtype=np.float32)
    n, height, width = grey.shape
    channels = int(spec["num_channels"])
    full = 255.0 * float(spec["rescale"])
    unit = _unit_levels(full)
    if clip_sigma is not None:
        level, peak = _grey_clip_levels(grey, unit, clip_sigma)
        # ``full / peak`` as torch computes it (``Tensor.__rtruediv__``: the reciprocal, times ``full``)
        scale = np.where(peak > 0, (np.float32(1) / np.maximum(peak, np.float32(1e-12))) * np.float32(full),
                         np.float32(1))
        level = level.astype(np.float32).reshape(n, 1, 1, 1)
        scale = scale.astype(np.float32).reshape(n, 1, 1, 1)
    size, crop, mode = spec["size"], spec["crop"], spec["resample"]
    out_h, out_w = (height, width) if size is None else tuple(int(v) for v in size)
    if crop is not None:
        top, left = max((out_h - crop[0]) // 2, 0), max((out_w - crop[1]) // 2, 0)
        out_h, out_w = min(crop[0], out_h - top), min(crop[1], out_w - left)
    mean = np.asarray(spec["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    out_channels = max(channels, mean.shape[1], std.shape[1])
    # the same mean and std for every channel (the usual case): normalise the one grey channel, then copy it
    uniform = bool((mean == mean[:, :1]).all() and (std == std[:, :1]).all())
    if uniform and not expand:
        out_channels = 1
    out = np.empty((n, out_channels, out_h, out_w), dtype=np.float32)
    chunk = max(1, _CHUNK_PIXELS // max(1, height * width))
    resize = size is not None and (height, width) != tuple(size)
    if resize and mode not in _SEPARABLE:
        import torch  # nearest and area resampling: torch's kernels

    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        x = np.empty((stop - start, 1, height, width), dtype=np.float32)
        for i in range(start, stop):
            # the float32 value of each grey level of this image (scaled, clipped, stretched: the operations
            # of background_clip, on the 256 levels instead of every pixel), then one look-up per pixel
            table = unit
            if clip_sigma is not None:
                table = np.maximum(unit - level[i, 0, 0, 0], np.float32(0)) * scale[i, 0, 0, 0]
            np.take(table, grey[i], out=x[i - start, 0])
        if resize:
            if mode in _SEPARABLE:
                x = _separable_resize_array(x, size, mode, full)
            else:
                x = _resize(torch.from_numpy(x), size, mode, full).numpy()
        if crop is not None:
            x = x[..., top : top + out_h, left : left + out_w]
        if uniform:
            y = np.divide(np.subtract(x, mean[:, :1]), std[:, :1])
            out[start:stop] = y
        else:
            out[start:stop] = np.divide(np.subtract(x, mean), std)
    return out


#: Resampling modes whose antialiased resize the grey fast path runs as two sparse matrix products.
_SEPARABLE = ("bilinear", "bicubic")


def _antialiased_weights(n_in, n_out, mode):
    """``(n_out, n_in)`` float32 weights of torch's antialiased bilinear resize along one axis, in numpy.

    The arithmetic of torch's ``_compute_weights_aa`` (float32 values, the
    double-precision steps where C++ promotes), so that the weights are torch's
    bit for bit (``tests/test_preprocess.py`` checks every length up to 400).
    """
    f32 = np.float32
    scale = f32(f32(n_in) / f32(n_out))
    support = f32(1.0 * float(scale)) if scale >= 1.0 else f32(1.0)
    invscale = f32(1.0 / float(scale)) if scale >= 1.0 else f32(1.0)
    weights = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        center = f32(float(scale) * (i + 0.5))
        xmin = max(int(float(f32(center - support)) + 0.5), 0)
        xsize = min(int(float(f32(center + support)) + 0.5), n_in) - xmin
        row = []
        total = f32(0)
        for j in range(xsize):
            x = abs(f32((float(f32(f32(j + xmin) - center)) + 0.5) * float(invscale)))
            w = f32(1.0 - float(x)) if x < 1.0 else f32(0)
            row.append(w)
            total = f32(total + w)
        if total != 0:
            row = [f32(w / total) for w in row]
        weights[i, xmin:xmin + xsize] = row
    return weights


@functools.lru_cache(maxsize=32)
def _resize_weights(n_in, n_out, mode):
    """``(n_out, n_in)`` CSR matrix of the weights of `_resize` along one axis (torch's own weights).

    Torch's antialiased ``interpolate`` is separable: each output pixel of an
    axis is a weighted sum of a few input pixels, with weights that depend
    only on the two lengths.  Bilinear weights are computed in numpy
    (`_antialiased_weights`, torch's arithmetic); others by resizing the rows
    of an identity matrix with torch.
    """
    import scipy.sparse

    if mode == "bilinear":
        return scipy.sparse.csr_matrix(_antialiased_weights(n_in, n_out, mode))
    import torch
    import torch.nn.functional as F

    eye = torch.eye(n_in, dtype=torch.float32).view(n_in, 1, 1, n_in)
    weights = F.interpolate(eye, size=(1, n_out), mode=mode, align_corners=False, antialias=True)
    return scipy.sparse.csr_matrix(weights.view(n_in, n_out).T.numpy())


@functools.lru_cache(maxsize=16)
def _stacked_weights(n_images, n_in, n_out, mode):
    """`_resize_weights` for ``n_images`` images stacked along the axis (block diagonal)."""
    import scipy.sparse

    return scipy.sparse.kron(scipy.sparse.identity(n_images, dtype=np.float32, format="csr"),
                             _resize_weights(n_in, n_out, mode), format="csr")


def _separable_resize_array(x, size, mode, full):
    """`_separable_resize` of a float32 ``(n, C, H, W)`` numpy array (each image alone: the same bits in any batch)."""
    batch, channels, height, width = x.shape
    n = batch * channels
    out_h, out_w = (int(v) for v in size)
    pixels = np.ascontiguousarray(x).reshape(n * height, width)
    columns = _stacked_weights(n, height, out_h, mode) @ pixels  # (n * out_h, width)
    rows = _resize_weights(width, out_w, mode) @ columns.T  # (out_w, n * out_h)
    y = np.ascontiguousarray(rows.reshape(out_w, n, out_h).transpose(1, 2, 0), dtype=np.float32)
    y = y.reshape(batch, channels, out_h, out_w)
    return np.clip(y, 0.0, full, out=y) if mode == "bicubic" else y


def _separable_resize(x, size, mode, full):
    """`_resize` of a float32 ``(n, C, H, W)`` CPU batch as two sparse products (same up to float32 rounding).

    The antialiased kernels touch 4-6 input pixels per output pixel when
    shrinking a cutout to the network's size: the two passes along the axes
    (columns of all images at once, then rows) cost a fraction of torch's
    generic kernel.
    """
    import torch

    return torch.from_numpy(_separable_resize_array(x.contiguous().numpy(), size, mode, full))


def cutouts_to_model_input(arrays, spec, *, render_preset="radio-llava", device="cpu", dtype=None):
    """Float cutouts (FITS pixel values) -> the model's input: :func:`render_cutouts`, then :func:`model_input`.

    Parameters
    ----------
    arrays : array-like
        ``(N, H, W)`` or ``(H, W)`` float cutouts at the model's pixel scale.
    spec : dict
        The model's preprocessing (see :func:`model_input`).
    render_preset : str, optional
    device : str, optional
    dtype : `torch.dtype`, optional

    Returns
    -------
    `torch.Tensor`

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.preprocess import cutouts_to_model_input
    >>> spec = {'size': (64, 64), 'crop': None, 'resample': 'bilinear', 'rescale': 1 / 255,
    ...         'mean': [0.5] * 3, 'std': [0.5] * 3, 'num_channels': 3, 'background_clip_sigma': 3.0}
    >>> cutout = np.random.default_rng(0).normal(size=(150, 150))
    >>> cutout[70:80, 70:80] += 50
    >>> tuple(cutouts_to_model_input(cutout, spec).shape)
    (1, 3, 64, 64)
    """
    return model_input(render_cutouts(arrays, preset=render_preset), spec, device=device, dtype=dtype)
