"""Why a catalogue row was not classified: the values of the ``<task>_flag`` column.

A row is labelled only when its position is on the image, the pixel there
holds data, at least ``min_coverage`` of the model's field of view holds
data, and the model's answer could be read as a label.  Every other row keeps
its place in the output catalogue with an empty label, NaN probabilities and
one of the flags of :data:`FLAGS` saying why.
"""
import numpy as np

__all__ = ["FLAG_OK", "FLAG_POSITION", "FLAG_NO_TILE", "FLAG_OUTSIDE", "FLAG_BLANK", "FLAG_PARTIAL",
           "FLAG_UNPARSED", "FLAG_ERROR", "FLAG_NOT_APPLICABLE", "FLAGS", "OFF_IMAGE_FLAGS", "DEFAULT_MIN_COVERAGE",
           "flag_counts", "coverage_flags", "answer_flags", "on_image"]

#: Values of the ``<task>_flag`` column (their meanings: :data:`FLAGS`).
FLAG_OK = ""
FLAG_POSITION = "bad_position"
FLAG_NO_TILE = "no_tile"
FLAG_OUTSIDE = "outside"
FLAG_BLANK = "blank"
FLAG_PARTIAL = "partial"
FLAG_UNPARSED = "unparsed"
#: The task does not apply to the source (e.g. FR-I/FR-II for a compact source): set by the gate.
FLAG_NOT_APPLICABLE = "not_applicable"
#: Prefix of the flag of a row whose request failed: ``'error: <reason>'``.
FLAG_ERROR = "error"

#: Every flag of the ``<task>_flag`` column and what it means, in the order the checks are made.
FLAGS = {
    FLAG_POSITION: "the catalogue row has no valid position (masked or non-finite RA/Dec)",
    FLAG_NO_TILE: "survey mode: the position lies in none of the mosaics",
    FLAG_OUTSIDE: "the position lies outside the image (pixel coordinates beyond -0.5 ... n - 0.5)",
    FLAG_BLANK: "the pixel at the position has no data (NaN), or the cutout is all blank / constant",
    FLAG_PARTIAL: "less than min_coverage of the model's field of view around the position has data",
    FLAG_NOT_APPLICABLE: ("the task does not apply to the source: the gate (the shipped B3 model for B6) says it "
                          "is not an extended radio galaxy (its probability: column <task>_gate_prob)"),
    FLAG_UNPARSED: "the model answered, but its answer could not be read as a label (see <task>_answer)",
    FLAG_ERROR: "'error: <reason>': the request for this row failed (e.g. the server could not be reached)",
}

#: Flags of rows whose position is not on any image: nothing of them is cut, drawn or shown.
OFF_IMAGE_FLAGS = (FLAG_POSITION, FLAG_NO_TILE, FLAG_OUTSIDE)

#: Default least fraction of the model's field of view that must hold data for a row to be classified,
#: for models that do not record their own ``min_coverage`` (trained without cutouts at mosaic edges).
DEFAULT_MIN_COVERAGE = 0.9
# longest reason kept in an 'error: <reason>' flag
_MAX_REASON = 120


def on_image(shape, xy):
    """Which pixel positions lie on an image of ``shape`` (``-0.5 <= x <= nx - 0.5``, same for y).

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)``.
    xy : `~numpy.ndarray`
        ``(n, 2)`` pixel coordinates (x, y), 0-based.

    Returns
    -------
    `~numpy.ndarray` of bool
    """
    ny, nx = shape
    with np.errstate(invalid="ignore"):
        x, y = xy[:, 0], xy[:, 1]
        return np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)


def coverage_flags(image, xy, nan_fraction, *, min_coverage):
    """Per cutout: ``''`` (classify it), ``'outside'``, ``'blank'`` or ``'partial'`` (see :data:`FLAGS`).

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        The mosaic the cutouts were cut from (its pixel at each position is read).
    xy : array-like
        ``(n, 2)`` pixel positions of the cutout centres in ``image``.
    nan_fraction : array-like
        Fraction of each cutout (the model's field of view) without data.
    min_coverage : float
        Least fraction of the field of view that must hold data.

    Returns
    -------
    `~numpy.ndarray` of object (str)
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    ny, nx = image.shape
    flags = np.full(n, FLAG_OK, dtype=object)
    x, y = xy[:, 0], xy[:, 1]
    inside = on_image((ny, nx), xy)
    flags[~inside] = FLAG_OUTSIDE
    idx = np.flatnonzero(inside)
    if len(idx):
        ix = np.clip(np.floor(x[idx] + 0.5).astype(np.int64), 0, nx - 1)
        iy = np.clip(np.floor(y[idx] + 0.5).astype(np.int64), 0, ny - 1)
        order = np.lexsort((ix, iy))  # read in row order (memory-mapped mosaics)
        centre = np.empty(len(idx), dtype=float)
        centre[order] = np.asarray(image.data[iy[order], ix[order]], dtype=float)
        no_data = ~np.isfinite(centre)
        flags[idx[no_data]] = FLAG_BLANK
        coverage = 1.0 - np.asarray(nan_fraction, dtype=float)[idx]
        low = ~no_data & (coverage < min_coverage - 1e-9)
        flags[idx[low]] = FLAG_PARTIAL
    return flags


def answer_flags(predictions):
    """Per prediction: ``''`` for a label, ``'unparsed'``, or ``'error: <reason>'``.

    Parameters
    ----------
    predictions : `~radioassist.backends.Predictions`

    Returns
    -------
    `~numpy.ndarray` of object (str)
    """
    flags = np.array([FLAG_OK if lab is not None else FLAG_UNPARSED for lab in predictions.labels], dtype=object)
    errors = getattr(predictions, "errors", None)
    if errors is not None:
        for i, error in enumerate(errors):
            if error is not None:
                flags[i] = f"{FLAG_ERROR}: {_short_reason(error)}"
    return flags


def _short_reason(text):
    """One line, at most ``_MAX_REASON`` characters."""
    line = " ".join(str(text).split()) or "request failed"
    return line if len(line) <= _MAX_REASON else line[:_MAX_REASON - 3] + "..."


def flag_counts(flags):
    """How many rows carry each flag of :data:`FLAGS` (``error: ...`` flags counted together as ``error``).

    Parameters
    ----------
    flags : array-like of str
        A ``<task>_flag`` column.

    Returns
    -------
    dict
        Flag -> count, for the flags that occur, in the order of :data:`FLAGS`
        (unknown flags last, in order of appearance).

    Examples
    --------
    >>> from radioassist.flags import flag_counts
    >>> flag_counts(['', 'outside', 'partial', 'outside', 'error: timed out', 'unparsed'])
    {'outside': 2, 'partial': 1, 'unparsed': 1, 'error': 1}
    """
    values = np.asarray(flags, dtype=str)
    values = values[values != FLAG_OK]
    keys = np.where(np.char.startswith(values, FLAG_ERROR + ":"), FLAG_ERROR, values) if len(values) else values
    found, counts = np.unique(keys, return_counts=True)
    found = dict(zip(found.tolist(), counts.tolist()))
    ordered = {k: int(found.pop(k)) for k in FLAGS if k in found}
    ordered.update({k: int(v) for k, v in found.items()})
    return ordered
