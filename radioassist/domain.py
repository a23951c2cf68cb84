"""The domain of a model (survey, frequency, beam, pixel scale) and how a mosaic is brought to it.

A vision model has seen cutouts of one survey: a pixel scale, a restoring
beam, a frequency and a field of view (``cutout_size_pix`` pixels at
``pixel_scale_arcsec``).  Its ``input_spec`` (the ``radioassist`` block of
its ``config.json``) records them.  Serving a mosaic made differently means

* :func:`to_model_grid`: cut every source on the model's grid, i.e. the
  model's field of view sampled at the model's pixel scale, after
  convolving the mosaic to the model's beam when the mosaic's beam is finer
  (Gaussian difference kernel, flux per beam kept);
* :func:`check_domain`: say why a mosaic lies outside the data the model
  was trained on, when it does.

Resampling rules (:func:`to_model_grid`)
----------------------------------------
* Pixel scales that agree within ``tolerance`` (1 %) and a mosaic beam that
  is not finer than the model's: no work at all, native pixels are cut
  (the common case: FIRST mosaics for the shipped FIRST models).
* Otherwise a native region covering the model's field of view (plus the
  kernel's reach) is cut for each source, convolved when the mosaic's beam
  is finer than the model's along any axis, and interpolated bilinearly
  onto the model's grid, centred exactly on the source and aligned with
  the mosaic's pixel axes.  Blank (NaN) pixels and the padding beyond the
  mosaic's edge stay NaN: the convolution is normalised over finite pixels
  only, and a model pixel is NaN when any of the four native pixels it is
  interpolated from is, so the fraction of the field of view with data is
  measured on what the model sees.

Domain checks (:func:`check_domain`)
------------------------------------
A mosaic lies outside a model's domain when

* model beam / mosaic beam (geometric mean of the axes) is outside
  :data:`BEAM_RATIO_RANGE` = [0.5, 2]: sources are resolved very
  differently (a finer mosaic beam is convolved to the model's, but a
  mosaic beam more than twice the model's, or less than half of it, changes
  what the model sees beyond what the kernel repairs: noise, sidelobes);
* mosaic pixel scale / model pixel scale is outside
  :data:`PIXEL_RATIO_RANGE` = [0.25, 4] (resampling by more than a factor 4);
* the mosaic's frequency lies outside the model's recorded frequency
  range widened by :data:`FREQUENCY_FACTOR` = 2 on each side (spectral
  index and source populations change);
* the mosaic's beam or frequency is unknown while the model records one
  (it cannot be checked: said once, as a note).

Models that record nothing (VLMs, the ``openai`` backend) are not checked.
"""
import math
import warnings
from collections import namedtuple

import numpy as np
from astropy import units as u

__all__ = ["BEAM_RATIO_RANGE", "PIXEL_RATIO_RANGE", "FREQUENCY_FACTOR", "SCALE_TOLERANCE", "model_domain",
           "check_domain", "model_grid", "to_model_grid", "cutouts_as_classified"]

#: Accepted range of model beam / mosaic beam (geometric mean FWHM).
BEAM_RATIO_RANGE = (0.5, 2.0)
#: Accepted range of mosaic pixel scale / model pixel scale.
PIXEL_RATIO_RANGE = (0.25, 4.0)
#: How far (a factor, either side) the mosaic's frequency may lie from the model's recorded range.
FREQUENCY_FACTOR = 2.0
#: Relative pixel-scale difference below which no resampling is done.
SCALE_TOLERANCE = 0.01

_FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
# native pixels of margin around the model's field of view: bilinear interpolation needs one
_INTERP_MARGIN = 2
# the Gaussian kernel is cut at this many sigma
_KERNEL_SIGMAS = 4.0
# cutouts resampled at once (bounded temporary memory)
_CHUNK = 64


# ----------------------------------------------------------------------------------------------------------
# the model's domain
# ----------------------------------------------------------------------------------------------------------

def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _frequency_range(value):
    """``frequency_mhz`` of a spec (a number or [min, max]) as (min, max) MHz, or None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        values = [_number(v) for v in value]
        values = [v for v in values if v is not None]
        return (min(values), max(values)) if values else None
    v = _number(value)
    return None if v is None else (v, v)


def _outside(value, accepted):
    """Whether ``value`` lies outside the closed range ``accepted = (low, high)``."""
    low, high = accepted
    return not low <= value <= high


def _range_text(accepted):
    return f"{accepted[0]:g}-{accepted[1]:g}"


def model_domain(spec):
    """The domain a model records in its input spec, as plain values for provenance.

    Parameters
    ----------
    spec : dict
        A backend's ``input_spec(task)``.

    Returns
    -------
    dict
        ``surveys``, ``frequency_mhz``, ``beam_arcsec``, ``pixel_scale_arcsec``,
        ``cutout_size_pix``, ``training_samples``: the keys the spec has
        (missing keys are unknown and left out).

    Examples
    --------
    >>> from radioassist.domain import model_domain
    >>> model_domain({'pixel_scale_arcsec': 1.8, 'beam_arcsec': 5.4, 'render_preset': 'radio-llava'})
    {'beam_arcsec': 5.4, 'pixel_scale_arcsec': 1.8}
    """
    keys = ("surveys", "frequency_mhz", "beam_arcsec", "pixel_scale_arcsec", "cutout_size_pix", "training_samples")
    out = {}
    for key in keys:
        value = (spec or {}).get(key)
        if value is None:
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            value = [v if isinstance(v, str) else float(v) for v in value]
        elif not isinstance(value, str):
            value = float(value) if key != "cutout_size_pix" else int(value)
        out[key] = value
    return out


def _beam_fwhm(beam):
    """(major, minor, pa) in arcsec, arcsec, deg of a mosaic's `~radioassist.image.Beam`, or None."""
    if beam is None:
        return None
    try:
        major = u.Quantity(beam.major, u.deg).to_value(u.arcsec)
        minor = u.Quantity(beam.minor, u.deg).to_value(u.arcsec)
        pa = u.Quantity(beam.pa if beam.pa is not None else 0 * u.deg, u.deg).to_value(u.deg)
    except (AttributeError, TypeError, u.UnitsError):
        return None
    if not (math.isfinite(major) and math.isfinite(minor) and major > 0 and minor > 0):
        return None
    return max(major, minor), min(major, minor), pa if math.isfinite(pa) else 0.0


def check_domain(image, spec, *, notes=None):
    """Why a mosaic lies outside the domain a model was trained on (empty when it does not).

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        The mosaic (or any object with ``pixel_scale``, ``beam`` and
        ``frequency`` attributes as `~radioassist.RadioImage` has them).
    spec : dict
        The backend's ``input_spec(task)``.  Keys read: ``pixel_scale_arcsec``,
        ``beam_arcsec``, ``frequency_mhz`` (a number or ``[min, max]``);
        missing keys are unknown and not checked.
    notes : list, optional
        If given, what could not be checked (an unknown mosaic beam or
        frequency while the model records one) is appended to this list
        instead of being returned as a reason: a FITS file without a
        frequency axis is not evidence that the mosaic lies outside the
        model's domain.  ``classify`` records these notes in
        ``meta['radioassist']['domain_notes']`` without warning.

    Returns
    -------
    list of str
        One sentence per reason (see the module documentation for the
        ranges); an unknown mosaic beam or frequency, when the model records
        one, is a reason too (it could not be checked) unless ``notes`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy import units as u
    >>> from astropy.wcs import WCS
    >>> from radioassist import RadioImage
    >>> from radioassist.domain import check_domain
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ['RA---SIN', 'DEC--SIN']
    >>> wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    >>> img = RadioImage(np.zeros((10, 10)), wcs, None, frequency=144e6 * u.Hz)
    >>> for reason in check_domain(img, {'pixel_scale_arcsec': 1.8, 'frequency_mhz': 1400}):
    ...     print(reason)
    mosaic frequency 144 MHz is outside the model's 1400 MHz by more than a factor 2
    """
    spec = spec or {}
    reasons = []
    unknown = reasons if notes is None else notes
    model_scale = _number(spec.get("pixel_scale_arcsec"))
    model_beam = _number(spec.get("beam_arcsec"))
    freq_range = _frequency_range(spec.get("frequency_mhz"))
    try:
        scale = float(u.Quantity(image.pixel_scale, u.arcsec).value)
    except (AttributeError, TypeError, u.UnitsError):
        scale = None
    if model_scale is not None and scale:
        ratio = scale / model_scale
        if _outside(ratio, PIXEL_RATIO_RANGE):
            reasons.append(f"mosaic pixel scale {scale:.3g}\" is {ratio:.3g} x the model's {model_scale:.3g}\" "
                           f"(accepted: {_range_text(PIXEL_RATIO_RANGE)})")
    if model_beam is not None:
        beam = _beam_fwhm(getattr(image, "beam", None))
        if beam is None:
            unknown.append(f"mosaic beam unknown (no BMAJ/BMIN in its header): not compared with the model's "
                           f"{model_beam:.3g}\" beam")
        else:
            mean = math.sqrt(beam[0] * beam[1])
            ratio = model_beam / mean
            if _outside(ratio, BEAM_RATIO_RANGE):
                reasons.append(f"model beam {model_beam:.3g}\" / mosaic beam {mean:.3g}\" = {ratio:.3g} is outside "
                               f"the accepted range {_range_text(BEAM_RATIO_RANGE)}")
    if freq_range is not None:
        freq = getattr(image, "frequency", None)
        try:
            mhz = None if freq is None else float(u.Quantity(freq, u.Hz).to_value(u.MHz))
        except (TypeError, u.UnitsError):
            mhz = None
        model_text = (f"{freq_range[0]:.4g} MHz" if freq_range[0] == freq_range[1]
                      else f"{freq_range[0]:.4g}-{freq_range[1]:.4g} MHz")
        if mhz is None or not math.isfinite(mhz) or mhz <= 0:
            unknown.append(f"mosaic frequency unknown (no FREQ axis or RESTFRQ): not compared with the model's "
                           f"{model_text}")
        elif _outside(mhz, (freq_range[0] / FREQUENCY_FACTOR, freq_range[1] * FREQUENCY_FACTOR)):
            reasons.append(f"mosaic frequency {mhz:.4g} MHz is outside the model's {model_text} by more than a "
                           f"factor {FREQUENCY_FACTOR:g}")
    return reasons


# ----------------------------------------------------------------------------------------------------------
# resampling to the model's grid
# ----------------------------------------------------------------------------------------------------------

class ModelGrid(namedtuple("ModelGrid", ["size", "pixel_scale", "native_scale", "native_size", "resample",
                                         "kernel", "flux_factor", "note"])):
    """How cutouts of one mosaic are brought to a model's grid (made by :func:`model_grid`).

    Attributes
    ----------
    size : int
        Side of the model's cutouts (model pixels).
    pixel_scale : float
        Model pixel scale (arcsec).
    native_scale : float
        Mosaic pixel scale (arcsec).
    native_size : int
        Side of the native cutout: the model's field of view when no
        resampling is needed, else the region cut before convolution and
        interpolation.
    resample : bool
        Whether any convolution or interpolation is done.
    kernel : `numpy.ndarray` or None
        The normalised convolution kernel (native pixels), None when the
        mosaic's beam is not finer than the model's.
    flux_factor : float
        Factor applied after convolution (ratio of beam areas), 1 without.
    note : str
        One line saying what is done, for provenance.
    """

    __slots__ = ()


def _difference_kernel(native_beam, model_beam, native_scale):
    """Normalised Gaussian kernel (native pixels) taking the mosaic's beam to the model's, or None.

    The model beam is circular (FWHM ``model_beam``); along each axis of the
    mosaic's (elliptical) beam, the kernel's variance is the difference of the
    variances, zero where the mosaic's beam is already as coarse.
    """
    major, minor, pa = native_beam
    var_major = max(model_beam ** 2 - major ** 2, 0.0)
    var_minor = max(model_beam ** 2 - minor ** 2, 0.0)
    if max(var_major, var_minor) <= (SCALE_TOLERANCE * model_beam) ** 2 * 2:
        return None, 1.0
    s_major = math.sqrt(var_major) * _FWHM_TO_SIGMA / native_scale
    s_minor = math.sqrt(var_minor) * _FWHM_TO_SIGMA / native_scale
    # position angle from north through east; with east to the left in the image, the major axis points
    # along (-sin pa, cos pa) in (x, y) pixels
    theta = math.radians(pa)
    ux, uy = -math.sin(theta), math.cos(theta)
    vx, vy = math.cos(theta), math.sin(theta)
    floor = 0.05 ** 2  # a line kernel (one axis already coarse enough): keep it a few hundredths of a pixel wide
    a, b = max(s_major ** 2, floor), max(s_minor ** 2, floor)
    cxx = a * ux * ux + b * vx * vx
    cyy = a * uy * uy + b * vy * vy
    cxy = a * ux * uy + b * vx * vy
    det = cxx * cyy - cxy * cxy
    half = int(math.ceil(_KERNEL_SIGMAS * math.sqrt(max(a, b))))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    q = (cyy * xx * xx - 2 * cxy * xx * yy + cxx * yy * yy) / det
    kernel = np.exp(-0.5 * q)
    kernel /= kernel.sum()
    if abs(cxy) <= 1e-9 * max(cxx, cyy):  # axis-aligned (a circular mosaic beam): two 1-D passes are enough
        kernel = _SeparableKernel(kernel, (math.sqrt(cxx), math.sqrt(cyy)))
    # Jy/beam: the flux per (new) beam grows with the beam area
    flux_factor = (math.sqrt(major ** 2 + var_major) * math.sqrt(minor ** 2 + var_minor)) / (major * minor)
    return kernel, flux_factor


class _SeparableKernel(np.ndarray):
    """A Gaussian kernel array that also knows its (sigma_x, sigma_y) in pixels (axis-aligned)."""

    def __new__(cls, array, sigmas):
        obj = np.asarray(array, dtype=np.float64).view(cls)
        obj.sigmas = sigmas
        return obj

    def __array_finalize__(self, obj):
        self.sigmas = getattr(obj, "sigmas", None)


def model_grid(image, spec, *, tolerance=SCALE_TOLERANCE):
    """How to bring cutouts of ``image`` to a model's pixel scale and beam; None when the model records no grid.

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        The mosaic.
    spec : dict
        The backend's ``input_spec(task)``: ``pixel_scale_arcsec`` and
        ``cutout_size_pix`` are needed, ``beam_arcsec`` is used when known.
    tolerance : float, optional
        Relative pixel-scale difference below which the mosaic is cut as it
        is (default 1 %).

    Returns
    -------
    ModelGrid or None
        A named tuple: ``size`` (model pixels), ``pixel_scale`` and
        ``native_scale`` (arcsec), ``native_size`` (side of the native region
        cut), ``resample`` (whether any convolution or interpolation is
        done), ``kernel`` (the convolution kernel in native pixels, or None),
        ``flux_factor`` (beam-area ratio applied after convolution) and
        ``note`` (one line for provenance).
    """
    spec = spec or {}
    model_scale = _number(spec.get("pixel_scale_arcsec"))
    size = _number(spec.get("cutout_size_pix"))
    if model_scale is None or size is None:
        return None
    size = int(round(size))
    native = float(u.Quantity(image.pixel_scale, u.arcsec).value)
    zoom = model_scale / native  # native pixels per model pixel
    kernel, flux_factor = None, 1.0
    model_beam = _number(spec.get("beam_arcsec"))
    beam = _beam_fwhm(getattr(image, "beam", None))
    if model_beam is not None and beam is not None:
        kernel, flux_factor = _difference_kernel(beam, model_beam, native)
    fov = model_scale * size
    if abs(zoom - 1.0) <= tolerance and kernel is None:
        native_size = max(int(round(fov / native)), 8)
        note = (f"{native_size} px = the model's field of view {fov:.0f}\" ({size} px at {model_scale:.3g}\"/px); "
                f"mosaic at {native:.3g}\"/px: no resampling")
        return ModelGrid(size, model_scale, native, native_size, False, None, 1.0, note)
    reach = 0 if kernel is None else kernel.shape[0] // 2
    half = (size / 2.0) * zoom + reach + _INTERP_MARGIN
    native_size = 2 * int(math.ceil(half)) + 1
    what = [f"resampled from {native:.3g}\"/px"]
    if kernel is not None:
        what.append(f"convolved from the mosaic's {beam[0]:.3g}\"x{beam[1]:.3g}\" beam to the model's "
                    f"{model_beam:.3g}\"")
    note = (f"{size} px at the model's {model_scale:.3g}\"/px = its field of view {fov:.0f}\" "
            f"({', '.join(what)})")
    return ModelGrid(size, model_scale, native, native_size, True, kernel, flux_factor, note)


#: Cutouts on a model's grid, returned by :func:`to_model_grid`.
ModelCutouts = namedtuple("ModelCutouts", ["data", "xy", "nan_fraction"])
ModelCutouts.__doc__ = """Cutouts on a model's grid (returned by :func:`to_model_grid`).

Attributes
----------
data : `numpy.ndarray`
    ``(N, S, S)`` float32, NaN where there is no data.
xy : `numpy.ndarray`
    ``(N, 2)`` pixel positions of the sources in the mosaic (NaN when the
    position could not be converted).
nan_fraction : `numpy.ndarray`
    ``(N,)`` fraction of the model's field of view without data.
"""


def cutouts_as_classified(image, positions, provenance, *, size=None):
    """Cut ``positions`` out of ``image`` as the ``classify`` run of ``provenance`` cut them for its model.

    Views of a run's results (the gallery, the HTML report) use it so that
    they show what the model saw: the model's grid (pixel scale, beam, field
    of view) when the run was cut on it, else native cutouts of ``size``.

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        The mosaic (one tile of a survey run).
    positions : `~astropy.coordinates.SkyCoord` or `~astropy.table.Table`
        The sources; a table with ``skycoord`` and ``source_size`` columns
        (as :func:`~radioassist.read_catalog` makes) when the run used a
        size rule (``size_factor``), which is then applied again.
    provenance : dict
        ``meta['radioassist']`` of the labelled table.
    size : int or `~astropy.units.Quantity`, optional
        Native cutout side when the run was not cut on the model's grid
        (default: the provenance's ``cutout_size``, else 64 pixels).

    Returns
    -------
    `~radioassist.CutoutStack` or ModelCutouts
        Both have ``data`` ``(N, S, S)`` (NaN without data) and
        ``nan_fraction`` (1 for a cutout with no data at all).
    """
    from .cutouts import extract_cutouts

    provenance = provenance or {}
    domain = provenance.get("model_domain") or {}
    if provenance.get("cut_on_model_grid") and not provenance.get("size_rule"):
        grid = model_grid(image, domain)
        if grid is not None:
            return to_model_grid(image, positions, grid)
    if size is None:
        size = provenance.get("cutout_size", 64)
        text = str(size[0] if isinstance(size, (list, tuple)) else size).strip()
        try:
            size = int(text) if text.isdigit() else u.Quantity(text)
        except (TypeError, ValueError):
            size = 64
    rule = provenance.get("size_rule")
    if rule and hasattr(positions, "colnames") and "source_size" in positions.colnames:
        from ._parameters import as_size_rule
        rule = as_size_rule(**{k: v for k, v in dict(rule).items() if v not in (None, "None")})
        return extract_cutouts(image, positions, size=size, **rule, off_image="keep")
    return extract_cutouts(image, positions, size=size, off_image="keep")


def to_model_grid(image, positions, grid, *, out=None):
    """Cut ``positions`` out of ``image`` on a model's grid (see the module documentation).

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        The mosaic.
    positions : `~astropy.coordinates.SkyCoord` or table
        As for :func:`~radioassist.extract_cutouts`.
    grid : ModelGrid
        From :func:`model_grid` for this image.
    out : `~numpy.ndarray`, optional
        A float32 ``(N, grid.native_size, grid.native_size)`` buffer for the
        native-pixel cutouts (as ``extract_cutouts(out=...)``; reused batch
        after batch by `radioassist.classify`).

    Returns
    -------
    stack : `~radioassist.CutoutStack` or ModelCutouts
        A `~radioassist.CutoutStack` of native pixels when no resampling is
        needed (``grid.resample`` False), else a named tuple; both have
        ``data`` (``(N, S, S)`` float32, NaN without data), ``xy`` (``(N, 2)``
        pixel positions of the sources in the mosaic) and ``nan_fraction``
        (``(N,)`` fraction of the model's field of view without data).
    """
    from .cutouts import extract_cutouts

    stack = extract_cutouts(image, positions, size=grid.native_size, off_image="keep", out=out)
    if not grid.resample:
        return stack
    n = len(stack)
    data = np.asarray(stack.data)
    xy = np.asarray(stack.xy, dtype=float)
    origin = np.asarray(stack.origin, dtype=float)
    size = grid.size
    out = np.full((n, size, size), np.nan, dtype=np.float32)
    zoom = grid.pixel_scale / grid.native_scale
    offsets = (np.arange(size) - (size - 1) / 2.0) * zoom
    finite_xy = np.isfinite(xy).all(axis=1)
    todo = np.flatnonzero(finite_xy & ~np.asarray(stack.outside, dtype=bool))
    for start in range(0, len(todo), _CHUNK):
        idx = todo[start:start + _CHUNK]
        block = data[idx].astype(np.float32)
        valid = np.isfinite(block)
        filled = np.where(valid, block, np.float32(0))
        if grid.kernel is not None:
            filled, valid = _convolve(filled, valid, grid.kernel)
            filled *= grid.flux_factor
        local = xy[idx] - origin[idx]
        num = _interp_axis(_interp_axis(filled, local[:, 1], offsets, 1), local[:, 0], offsets, 2)
        den = _interp_axis(_interp_axis(valid.astype(np.float32), local[:, 1], offsets, 1), local[:, 0], offsets, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.where(den > 1.0 - 1e-4, num / np.where(den > 0, den, 1.0), np.nan)
        out[idx] = res
    nan_fraction = np.ones(n)
    if len(todo):
        nan_fraction[todo] = np.isnan(out[todo]).reshape(len(todo), -1).mean(axis=1)
    return ModelCutouts(out, xy, nan_fraction)


def _interp_axis(arr, centre, offsets, axis):
    """Bilinear interpolation of ``(m, A, B)`` along ``axis`` (1 or 2) at ``centre + offsets`` (pixels).

    Samples beyond the array get weight 0 (so interpolating the validity mask
    tells which model pixels have all their native neighbours).
    """
    src = arr if axis == 1 else np.ascontiguousarray(arr.transpose(0, 2, 1))
    m, n = arr.shape[0], arr.shape[axis]
    pos = centre[:, None] + offsets[None, :]  # (m, S)
    j0 = np.floor(pos).astype(np.int64)
    frac = (pos - j0).astype(np.float32)
    rows = np.arange(m)[:, None]
    out = None
    for shift, weight in ((0, 1.0 - frac), (1, frac)):
        j = j0 + shift
        ok = (j >= 0) & (j < n)
        j = np.clip(j, 0, n - 1)
        weight = np.where(ok, weight, np.float32(0))
        part = src[rows, j]  # whole rows gathered: (m, S, other axis)
        part *= weight[:, :, None]
        out = part if out is None else out + part
    return out if axis == 1 else out.transpose(0, 2, 1)


def _convolve(filled, valid, kernel):
    """Kernel convolution normalised over finite pixels; pixels without data stay without data."""
    weights = valid.astype(filled.dtype)
    sigmas = getattr(kernel, "sigmas", None)
    if sigmas is not None:  # separable: two 1-D Gaussian passes, cut at the same reach as the kernel
        from scipy.ndimage import gaussian_filter1d

        def smooth(a):
            half = kernel.shape[0] // 2
            for axis, sigma in ((2, sigmas[0]), (1, sigmas[1])):
                if sigma > 0.1:
                    a = gaussian_filter1d(a, sigma, axis=axis, mode="constant", cval=0.0,
                                          truncate=half / sigma)
            return a
        num, den = smooth(filled), smooth(weights)
    else:
        from scipy.signal import fftconvolve
        k = np.asarray(kernel, dtype=filled.dtype)[None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            num = fftconvolve(filled, k, mode="same", axes=(1, 2))
            den = fftconvolve(weights, k, mode="same", axes=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(valid & (den > 1e-3), num / np.where(den > 1e-3, den, 1.0), 0.0)
    return smooth, valid & (den > 1e-3)
