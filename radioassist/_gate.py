"""The gate: a task is asked only of the sources it applies to.

A task may declare what it applies to (:class:`radioassist.tasks.Applicability`;
B6, FR-I/FR-II, applies to extended radio galaxies) and which task decides
it (B3).  :func:`radioassist.classify` then asks the gate task first (the
shipped model of that task unless another is given), on the same rows, and
the rows whose probability of the "applies" label is below the threshold are
flagged ``not_applicable`` instead of being labelled; that probability is kept
in the ``<task>_gate_prob`` column for every row the gate could see.  The
gate's model, threshold and counts are recorded in ``meta['radioassist']['gate']``.

A row's gate answer depends on that row alone (the same cut, render and
model as any classify run), so gating keeps the rule that the same source
gets the same numbers whatever else is in the run.
"""
import contextlib
import contextvars
import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ._frames import plain_icrs
from .exceptions import InputError
from .flags import FLAG_OK
from .logger import log
from .tasks import get_task

__all__ = ["DEFAULT_GATE_THRESHOLD", "GateSpec", "as_gate", "run_gate", "in_gate_run"]

_IN_GATE = contextvars.ContextVar("radioassist_gate_run", default=False)


def in_gate_run():
    """True inside the gate's own classify call (its run messages are left to the main run)."""
    return _IN_GATE.get()


class _GateQuiet(logging.Filter):
    """Drops the informational messages of the gate's inner classify call (the main run says what matters)."""

    def filter(self, record):
        return record.levelno >= logging.WARNING or not _IN_GATE.get()


if not any(isinstance(f, _GateQuiet) for f in log.filters):
    log.addFilter(_GateQuiet())


@contextlib.contextmanager
def _gate_run():
    from .exceptions import DomainWarning

    token = _IN_GATE.set(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DomainWarning)  # the main run warns once for the mosaic
            yield
    finally:
        _IN_GATE.reset(token)

#: Default threshold of the gate: a row is ``not_applicable`` when the gate's probability of the "applies"
#: label is below it.  Chosen on held-out data (``tools/gate_validation.py``; see the B6 model card): the
#: radio galaxies of MiraBest sky regions that no model saw keep their label, compact sources lose it.
DEFAULT_GATE_THRESHOLD = 0.2


@dataclass(frozen=True)
class GateSpec:
    """A resolved gate: the task that decides, its "applies" label, the model and the threshold."""

    task: object
    label: str
    description: str
    backend: object
    model: object
    threshold: float

    def describe(self):
        """What a resumed run must share and what the provenance records (no counts)."""
        model = self.model
        if model is not None and not isinstance(model, str):
            model = os.fspath(model)
        backend = self.backend if isinstance(self.backend, str) else type(self.backend).__name__
        return {"task": self.task.id, "label": self.label, "applies_to": self.description,
                "backend": backend, "model": "default" if model is None else str(model),
                "threshold": self.threshold}


def as_gate(gate, task, threshold=None):
    """The `GateSpec` of a run, or None when the task applies to every source or the gate is off.

    Parameters
    ----------
    gate : bool, str, path, backend instance or None
        True (default of :func:`radioassist.classify`): the shipped model of
        the gate task; a model folder / hub id: that model with the ``vision``
        backend; a backend instance; False or None: no gate.
    task : `~radioassist.tasks.Task`
        The run's task.
    threshold : float, optional
        Least probability of the "applies" label (default `DEFAULT_GATE_THRESHOLD`).

    Returns
    -------
    `GateSpec` or None
    """
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(threshold) <= 1.0:
            msg = f"gate_threshold must be a number from 0 to 1, got {threshold!r}"
            raise InputError(msg)
    if gate is None or gate is False:
        return None
    applies = task.applies_to
    if applies is None:
        if gate is not True:
            msg = (f"task {task.id} applies to every source: it has no gate, so gate={gate!r} cannot be used "
                   "(tasks with a gate: "
                   + ", ".join(t.id for t in _tasks_with_gate()) + ")")
            raise InputError(msg)
        return None
    gate_task = get_task(applies.task)
    gate_task.label_index(applies.label)  # a clear error when the task's label is not one of the gate task's
    if gate is True:
        backend, model = "vision", None
    elif isinstance(gate, (str, os.PathLike)):
        backend, model = "vision", gate
    else:
        backend, model = gate, None
    return GateSpec(gate_task, applies.label, applies.description, backend, model,
                    float(DEFAULT_GATE_THRESHOLD if threshold is None else threshold))


def _tasks_with_gate():
    from .tasks import TASKS

    return [t for t in TASKS.values() if t.applies_to is not None]


def run_gate(spec, image, table, *, position_ok, classify, classify_options, own_tile=None):
    """Ask the gate task of every row with a valid position.

    Parameters
    ----------
    spec : `GateSpec`
    image : the run's mosaic (or list of mosaics), as given to :func:`radioassist.classify`
    table : `~astropy.table.Table`
        The run's catalogue as read (with ``skycoord``).
    position_ok : `~numpy.ndarray` of bool
        Rows with a valid position.
    classify : callable
        :func:`radioassist.classify` (passed in: this module sits below the pipeline).
    classify_options : dict
        Keyword arguments of the run passed on to the gate's classify
        (batch and chunk sizes, device, hdu, plane, scheduler, workers, progress).
    own_tile : `~numpy.ndarray`, optional
        With a list of images whose rows each belong to one image (sources found in each image), the
        image of each row: the gate asks each image about its own rows.

    Returns
    -------
    prob : `~numpy.ndarray`
        Probability of the "applies" label per row (NaN where the gate could not look).
    applies : `~numpy.ndarray` of bool
        False where the gate says the task does not apply (probability below the threshold).
    meta : dict
        The gate's provenance (model, its hash, threshold, counts).
    """
    n = len(table)
    prob = np.full(n, np.nan)
    applies = np.ones(n, dtype=bool)
    rows = np.flatnonzero(position_ok)
    meta = spec.describe()
    if len(rows) == 0:
        return prob, applies, meta
    groups = [(image, rows)] if own_tile is None else [
        (image[t], rows[own_tile[rows] == t]) for t in np.unique(own_tile[rows])]
    for source, sub in groups:
        icrs = plain_icrs(table["skycoord"][sub])
        positions = Table({"ra": icrs.ra.deg, "dec": icrs.dec.deg})
        positions["ra"].unit = positions["dec"].unit = "deg"
        positions.meta["radioassist_source_label"] = "the run's catalogue (gate)"
        with _gate_run():
            gated = classify(source, positions, task=spec.task, backend=spec.backend, model=spec.model, gate=False,
                             **classify_options)
        looked = np.asarray(gated[f"{spec.task.id}_flag"], dtype=str) == FLAG_OK
        prob[sub[looked]] = np.asarray(gated[f"{spec.task.id}_prob_{spec.label}"], dtype=float)[looked]
        inner = gated.meta.get("radioassist", {})
        meta.update({key: inner[key] for key in ("model", "model_sha256") if key in inner})
    seen = np.isfinite(prob)
    applies[seen] = prob[seen] >= spec.threshold
    meta["n_seen"] = int(seen.sum())
    meta["n_not_applicable"] = int((~applies).sum())
    log.info("gate %s (%s >= %.2f): %d of %d sources are not %s", spec.task.id, spec.label, spec.threshold,
             meta["n_not_applicable"], meta["n_seen"], spec.description)
    return prob, applies, meta
