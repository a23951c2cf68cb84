"""Validators for the parameters shared by the Python API and the command line.

One small function per kind of parameter (cutout size, size rule, batch
size, partition size, parallel run, render preset, coverage threshold), in
the manner of photutils' ``utils/_parameters.py``.  Each returns the value in
the one form the rest of the package uses, or raises
`~radioassist.exceptions.InputError` with a message that names the parameter
*and* its command-line option (``size (--size) must be ...``), so that
``radioassist.classify(...)`` and ``radioassist classify ...`` say the same
thing about the same mistake.  The click callbacks of
``radioassist.cli._options`` call these functions.
"""
import math

import numpy as np
from astropy import units as u

from .exceptions import InputError
from .render import PRESETS

__all__ = ["MAX_CUTOUT_SIZE", "CHUNK_BATCHES", "as_size", "size_in_pixels", "as_size_rule", "check_size_choice",
           "as_angle", "as_positive_int", "as_batch_size", "as_chunk_size", "as_parallel", "as_preset", "as_coverage"]

#: Largest cutout side, in pixels.
MAX_CUTOUT_SIZE = 8192

#: Default partition size of :func:`radioassist.classify`, in batches.
CHUNK_BATCHES = 4

_SIZE_HINT = "a positive number of pixels (e.g. 128) or an angle (e.g. '90arcsec')"


def _label(name, option=None):
    """``'size (--size)'``: the parameter and its command-line option."""
    option = option or "--" + name.replace("_", "-")
    return f"{name} ({option})"


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_size(size, *, name="size"):
    """A cutout size: None, a positive number of pixels (int) or a positive finite angle.

    Parameters
    ----------
    size : int, float, str, `~astropy.units.Quantity` or None
        Pixels (``128``, ``128.0``, ``'128'``, ``128 * u.pix``) or an angle
        (``90 * u.arcsec``, ``'90arcsec'``, ``'1.5 arcmin'``).
    name : str, optional
        The parameter's name, for the error message (its option is ``--name``).

    Returns
    -------
    int, `~astropy.units.Quantity` or None
        Pixels as an int, angles as a scalar angular Quantity.

    Raises
    ------
    radioassist.InputError
        Anything else, a size that is not positive, or more than
        `MAX_CUTOUT_SIZE` pixels.
    """
    if size is None:
        return None
    label = _label(name)
    original = size
    if isinstance(size, (bool, np.bool_)):
        msg = f"{label} must be {_SIZE_HINT}, got {original!r}"
        raise InputError(msg)
    if isinstance(size, str):
        text = size.strip()
        try:
            size = float(text)
        except ValueError:
            try:
                size = u.Quantity(text)
            except (TypeError, ValueError):
                size = None
        if size is None:
            msg = f"{label} must be {_SIZE_HINT}, got {original!r}"
            raise InputError(msg)
        if isinstance(size, u.Quantity) and size.unit.physical_type != "angle" and size.unit != u.pix:
            msg = f"{label} must be {_SIZE_HINT}, got {original!r}, which is not an angle"
            raise InputError(msg)
    if isinstance(size, u.Quantity):
        if not size.isscalar:
            msg = f"{label} must be {_SIZE_HINT}, got {original!r}"
            raise InputError(msg)
        if size.unit == u.pix or size.unit == u.dimensionless_unscaled:
            size = size.value
        elif size.unit.physical_type == "angle":
            if not np.isfinite(size.value) or size.value <= 0:
                msg = f"{label} must be {_SIZE_HINT}, got {size}"
                raise InputError(msg)
            return size
        else:
            msg = f"{label} must be {_SIZE_HINT}, got {size}, which is not an angle"
            raise InputError(msg)
    if isinstance(size, (float, np.floating)) and np.isfinite(size) and float(size).is_integer():
        size = int(size)
    if not _is_int(size) or size < 1:
        msg = f"{label} must be {_SIZE_HINT}, got {original!r}"
        raise InputError(msg)
    if size > MAX_CUTOUT_SIZE:
        msg = f"{label} is {int(size)} pixels, more than the maximum {MAX_CUTOUT_SIZE}"
        raise InputError(msg)
    return int(size)


def size_in_pixels(size, pixel_scale, *, name="size"):
    """A cutout size (see :func:`as_size`) in pixels of ``pixel_scale``.

    Parameters
    ----------
    size : int, str or `~astropy.units.Quantity`
        Pixels or an angle.
    pixel_scale : `~astropy.units.Quantity`
        Angle per pixel, used to convert an angular size.
    name : str, optional
        The parameter's name, for the error message.

    Returns
    -------
    int
        The side in pixels (an angle is rounded to the nearest pixel).

    Raises
    ------
    radioassist.InputError
        A bad size, no size, or an angle less than one pixel or more than `MAX_CUTOUT_SIZE` pixels.
    """
    value = as_size(size, name=name)
    if value is None:
        msg = f"{_label(name)} is required: {_SIZE_HINT}"
        raise InputError(msg)
    if _is_int(value):
        return value
    scale = u.Quantity(pixel_scale)
    npix = int(np.round((value / scale).decompose().value))
    if npix < 1:
        msg = f"{_label(name)} = {value} is less than one pixel ({scale:.3g} per pixel)"
        raise InputError(msg)
    if npix > MAX_CUTOUT_SIZE:
        msg = f"{_label(name)} = {value} is {npix} pixels, more than the maximum {MAX_CUTOUT_SIZE}"
        raise InputError(msg)
    return npix


def as_angle(value, *, name, option=None):
    """A positive finite scalar angle, in arcsec (None passes through).

    Parameters
    ----------
    value : `~astropy.units.Quantity`, str or None
        An angle (``1.8 * u.arcsec``, ``'1.8arcsec'``).
    name, option : str
        The parameter and its command-line option (default ``--name``), named by the error message.

    Returns
    -------
    `~astropy.units.Quantity` or None

    Raises
    ------
    radioassist.InputError
        Anything but a positive finite angle.
    """
    if value is None:
        return None
    original = value
    if isinstance(value, str):
        try:
            value = u.Quantity(value)
        except (TypeError, ValueError):
            value = None
    if (not isinstance(value, u.Quantity) or value.unit.physical_type != "angle" or not value.isscalar
            or not np.isfinite(value.value) or value.value <= 0):
        msg = f"{_label(name, option)} must be a positive angle such as '1.8arcsec' (with a unit), got {original!r}"
        raise InputError(msg)
    return value.to(u.arcsec)


def as_size_rule(size_factor=None, min_size=None, max_size=None):
    """The size rule ``clip(size_factor * source_size, min_size, max_size)``, validated.

    Parameters
    ----------
    size_factor : float, optional
        Positive, finite.
    min_size, max_size : int, str or `~astropy.units.Quantity`, optional
        Limits (pixels or angles, see :func:`as_size`); they need ``size_factor``.

    Returns
    -------
    dict
        The given ones among ``size_factor``, ``min_size``, ``max_size``
        (keyword arguments of :func:`radioassist.extract_cutouts`); empty
        when none is given.

    Raises
    ------
    radioassist.InputError
        A bad value, ``min_size``/``max_size`` without ``size_factor``, or
        ``max_size`` smaller than ``min_size``.
    """
    rule = {}
    if size_factor is not None:
        try:
            factor = None if isinstance(size_factor, (bool, np.bool_)) else float(size_factor)
        except (TypeError, ValueError):
            factor = None
        if factor is None or not math.isfinite(factor) or factor <= 0:
            msg = (f"{_label('size_factor')} must be a positive number (cutout side / catalogue source size), "
                   f"got {size_factor!r}")
            raise InputError(msg)
        rule["size_factor"] = factor
    lo = as_size(min_size, name="min_size")
    hi = as_size(max_size, name="max_size")
    if (lo is not None or hi is not None) and not rule:
        msg = (f"{_label('min_size')} and {_label('max_size')} only apply with {_label('size_factor')}: "
               "give a size factor, or a fixed size with size (--size)")
        raise InputError(msg)
    if lo is not None and hi is not None and _is_int(lo) == _is_int(hi) and hi < lo:
        msg = f"max_size (--max-size, {hi}) is smaller than min_size (--min-size, {lo})"
        raise InputError(msg)
    if lo is not None:
        rule["min_size"] = lo
    if hi is not None:
        rule["max_size"] = hi
    return rule


def check_size_choice(size, size_rule):
    """Refuse an angular ``size`` together with a size rule (the rule sets the angular extent).

    With a size rule, ``size`` (in pixels) is the side of the output
    cutouts; an angle would contradict the rule.

    Parameters
    ----------
    size : int, `~astropy.units.Quantity` or None
        As returned by :func:`as_size`.
    size_rule : dict
        As returned by :func:`as_size_rule`.

    Raises
    ------
    radioassist.InputError
        An angular size with a size rule.
    """
    if size_rule and isinstance(size, u.Quantity):
        msg = (f"with size_factor (--size-factor), size (--size) is the output side in pixels (the angular extent "
               f"comes from the size rule); got {size}")
        raise InputError(msg)


def as_positive_int(value, name, *, option=None):
    """A positive integer (ints and integer numpy scalars; not bools, floats or strings).

    Parameters
    ----------
    value : int
        The value.
    name : str
        The parameter's name, for the error message.
    option : str, optional
        Its command-line option; default ``--name`` with dashes.

    Returns
    -------
    int

    Raises
    ------
    radioassist.InputError
        Anything but a positive integer.
    """
    if not _is_int(value) or int(value) < 1:
        msg = f"{_label(name, option)} must be a positive integer, got {value!r}"
        raise InputError(msg)
    return int(value)


def as_batch_size(value):
    """The number of sources per batch: a positive integer (see :func:`as_positive_int`)."""
    return as_positive_int(value, "batch_size")


def as_chunk_size(chunk_size, batch_size):
    """Sources per partition: ``CHUNK_BATCHES * batch_size`` by default, else rounded up to whole batches.

    Parameters
    ----------
    chunk_size : int or None
        The requested partition size.
    batch_size : int
        The (validated) batch size.

    Returns
    -------
    int
        A multiple of ``batch_size``, so that a partition batches as a serial run does.
    """
    batch_size = as_batch_size(batch_size)
    if chunk_size is None:
        return CHUNK_BATCHES * batch_size
    chunk_size = as_positive_int(chunk_size, "chunk_size")
    return -(-chunk_size // batch_size) * batch_size


def as_parallel(scheduler, workers):
    """``(scheduler, workers)`` of a parallel run: at most one of them, workers a positive integer.

    Parameters
    ----------
    scheduler : str, `distributed.Client` or None
        Address of a running dask scheduler, or a client.
    workers : int or None
        Number of local worker processes.

    Returns
    -------
    tuple
        ``(scheduler, workers)``; an address is stripped of surrounding blanks.

    Raises
    ------
    radioassist.InputError
        Both given, an empty address, or workers not a positive integer.
    """
    if isinstance(scheduler, str):
        scheduler = scheduler.strip()
        if not scheduler:
            msg = f"{_label('scheduler')} must be the address of a dask scheduler (e.g. tcp://host:8786), got ''"
            raise InputError(msg)
    if workers is not None:
        workers = as_positive_int(workers, "workers")
    if scheduler is not None and workers is not None:
        msg = "give scheduler= (--scheduler, an existing dask cluster) or workers= (--workers, a local one), not both"
        raise InputError(msg)
    return scheduler, workers


def as_preset(name):
    """The canonical name of a render preset (one of `radioassist.render.PRESETS`).

    Case, blanks and ``_`` for ``-`` do not matter (``'Radio_LLaVA'`` is ``'radio-llava'``).

    Raises
    ------
    radioassist.InputError
        An unknown preset; the message lists the available ones.
    """
    if isinstance(name, str):
        key = name.strip().lower().replace("_", "-").replace(" ", "-")
        if key in PRESETS:
            return key
    msg = f"preset (--preset) must be a render preset, got {name!r}; available presets: {', '.join(PRESETS)}"
    raise InputError(msg)


def as_coverage(value, *, name="min_coverage", option="--min-coverage"):
    """A fraction from 0 to 1 (None passes through).

    Parameters
    ----------
    value : float or None
        The fraction.
    name, option : str, optional
        The parameter and its command-line option, for the error message.

    Returns
    -------
    float or None

    Raises
    ------
    radioassist.InputError
        Anything but a number from 0 to 1.
    """
    if value is None:
        return None
    try:
        ok = not isinstance(value, (bool, np.bool_)) and 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        msg = (f"{_label(name, option)} must be a number from 0 to 1 (the least fraction of the model's field of "
               f"view that must hold data), got {value!r}")
        raise InputError(msg)
    return float(value)
