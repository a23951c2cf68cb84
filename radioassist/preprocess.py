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

import numpy as np

__all__ = ["render_cutouts", "model_input", "cutouts_to_model_input", "background_clip", "unit_images"]


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


def model_input(images, spec, *, clip_sigma="spec", device="cpu", dtype=None):
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

    Returns
    -------
    `torch.Tensor`
        ``(N, num_channels, h, w)``.
    """
    import torch
    import torch.nn.functional as F

    channels = int(spec["num_channels"])
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        x = images.to(device)
    else:
        x = unit_images(images, channels=channels, device=device)
    full = 255.0 * float(spec["rescale"])
    if abs(full - 1.0) > 1e-9:
        x = x * full
    if isinstance(clip_sigma, str):
        clip_sigma = spec.get("background_clip_sigma")
    if clip_sigma is not None:
        x = background_clip(x, clip_sigma, full_scale=full)
    size = spec["size"]
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        mode = spec["resample"]
        if mode in ("bilinear", "bicubic"):
            x = F.interpolate(x, size=tuple(size), mode=mode, align_corners=False, antialias=True)
            if mode == "bicubic":
                x = x.clamp(0.0, full)
        else:
            x = F.interpolate(x, size=tuple(size), mode=mode)
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
    if dtype is not None:
        x = x.to(dtype)
    return x


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
