"""The result of a classifier backend: one label and per-class probabilities per image."""

import numpy as np

from ..exceptions import BackendError
from ..tasks import Task, get_task

__all__ = ["Predictions"]


class Predictions:
    """Labels and class probabilities that a backend returns for a batch of images.

    Parameters
    ----------
    task : `~radioassist.tasks.Task` or str
        The task the images were classified for.
    labels : sequence
        One answer per image: a label of ``task`` (str) for single-label tasks,
        a tuple of labels for multi-label tasks (``(task.none_label,)`` or an
        empty tuple when no label applies).  ``None`` marks an answer that
        could not be parsed (generative backends only).
    probabilities : array-like, shape (N, n_classes)
        Per-class probabilities in ``task.labels`` order, in [0, 1] (NaN where
        a backend has no score).
    raw_answers : sequence of str, optional
        The free-text answers of a generative backend, one per image; ``None``
        for backends that do not generate text.
    n_unparsed : int, optional
        How many answers have no label (could not be parsed, or their
        request failed).  Default: the number of ``None`` labels.
    errors : sequence of str or None, optional
        Per image, why its request failed (a short reason) or None; None
        (the default) when no request failed.  A row with an error has
        label None.

    Attributes
    ----------
    unparsed : `numpy.ndarray`
        ``(N,)`` bool, answers that were received but could not be parsed
        (label None and no error).
    failed : `numpy.ndarray`
        ``(N,)`` bool, rows whose request failed (``errors[i]`` is not None).

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.backends import Predictions
    >>> p = Predictions('B6', ['FR-I', 'FR-II'], np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> len(p)
    2
    >>> sorted(p.to_columns())
    ['B6_label', 'B6_prob_FR-I', 'B6_prob_FR-II']
    """

    def __init__(self, task, labels, probabilities, *, raw_answers=None, n_unparsed=None, errors=None):
        task = get_task(task)
        if not isinstance(task, Task):  # pragma: no cover - get_task always returns a Task
            raise BackendError(f"task must be a Task, got {type(task).__name__}")
        self.task = task
        probabilities = np.asarray(probabilities, dtype=float)
        labels = list(labels)
        n = len(labels)
        if probabilities.size == 0 and n == 0:
            probabilities = probabilities.reshape(0, task.n_classes)
        if probabilities.ndim != 2 or probabilities.shape != (n, task.n_classes):
            msg = (
                f"probabilities must have shape (n_images, n_classes) = ({n}, {task.n_classes}) for "
                f"task {task.id} with {n} labels, got shape {probabilities.shape}"
            )
            raise BackendError(msg)
        finite = probabilities[np.isfinite(probabilities)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            msg = (
                f"probabilities must lie in [0, 1], got values from {finite.min():.3g} to {finite.max():.3g}"
            )
            raise BackendError(msg)
        self.labels = [self._check_label(label, i) for i, label in enumerate(labels)]
        self.probabilities = probabilities
        if raw_answers is not None:
            raw_answers = [None if a is None else str(a) for a in raw_answers]
            if len(raw_answers) != n:
                msg = f"raw_answers has {len(raw_answers)} entries but there are {n} labels"
                raise BackendError(msg)
        self.raw_answers = raw_answers
        if errors is not None:
            errors = [None if e is None else (str(e).strip().splitlines() or [""])[0] or "request failed"
                      for e in errors]
            if len(errors) != n:
                msg = f"errors has {len(errors)} entries but there are {n} labels"
                raise BackendError(msg)
            bad = [i for i, e in enumerate(errors) if e is not None and self.labels[i] is not None]
            if bad:
                msg = f"rows {bad[:5]} have both a label and an error: a failed request has label None"
                raise BackendError(msg)
            if all(e is None for e in errors):
                errors = None
        self.errors = errors
        if n_unparsed is None:
            n_unparsed = sum(label is None for label in self.labels)
        n_unparsed = int(n_unparsed)
        if not 0 <= n_unparsed <= n:
            msg = f"n_unparsed must be between 0 and the number of images ({n}), got {n_unparsed}"
            raise BackendError(msg)
        self.n_unparsed = n_unparsed

    @property
    def failed(self):
        """``(N,)`` bool: rows whose request failed."""
        if self.errors is None:
            return np.zeros(len(self), dtype=bool)
        return np.array([e is not None for e in self.errors], dtype=bool)

    @property
    def unparsed(self):
        """``(N,)`` bool: answers received but not parsed into a label (label None, no error)."""
        return np.array([lab is None for lab in self.labels], dtype=bool) & ~self.failed

    def _check_label(self, label, index):
        task = self.task
        if label is None:
            return None
        if task.multilabel:
            if isinstance(label, str):
                label = tuple(part.strip() for part in label.split(",") if part.strip())
            label = tuple(label)
            if len(label) == 0 or label == (task.none_label,):
                return (task.none_label,)
            bad = [lab for lab in label if lab not in task.labels]
            if bad:
                msg = (
                    f"label {label!r} of image {index} has values {bad} that are not labels of task "
                    f"{task.id} ({', '.join(task.labels)}, or {task.none_label})"
                )
                raise BackendError(msg)
            return tuple(lab for lab in task.labels if lab in label)  # canonical order, no duplicates
        if label not in task.labels:
            msg = (
                f"label {label!r} of image {index} is not a label of task {task.id} "
                f"({', '.join(task.labels)})"
            )
            raise BackendError(msg)
        return label

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return f"<Predictions task={self.task.id} n={len(self)} n_unparsed={self.n_unparsed}>"

    @classmethod
    def empty(cls, task, *, generative=False):
        """An empty result (no images) for ``task``."""
        task = get_task(task)
        return cls(task, [], np.zeros((0, task.n_classes)), raw_answers=[] if generative else None)

    @classmethod
    def concatenate(cls, parts, *, task=None):
        """Join several `Predictions` of the same task, in order.

        Parameters
        ----------
        parts : sequence of `Predictions`
            Results of consecutive batches.
        task : `~radioassist.tasks.Task` or str, optional
            The task, needed only when ``parts`` is empty.
        """
        parts = list(parts)
        if not parts:
            if task is None:
                msg = "cannot concatenate an empty list of Predictions without task="
                raise BackendError(msg)
            return cls.empty(task)
        first = parts[0].task
        for part in parts[1:]:
            if part.task != first:
                msg = f"cannot concatenate Predictions of tasks {first.id} and {part.task.id}"
                raise BackendError(msg)
        labels = [lab for part in parts for lab in part.labels]
        probabilities = np.concatenate([part.probabilities for part in parts], axis=0)
        if any(part.raw_answers is not None for part in parts):
            raw = [a for part in parts for a in (part.raw_answers or [None] * len(part))]
        else:
            raw = None
        if any(part.errors is not None for part in parts):
            errors = [e for part in parts for e in (part.errors or [None] * len(part))]
        else:
            errors = None
        return cls(
            first, labels, probabilities, raw_answers=raw, n_unparsed=sum(part.n_unparsed for part in parts),
            errors=errors,
        )

    @property
    def label_indices(self):
        """Class index per image (-1 when unparsed); multi-hot ``(N, n_classes)`` for multi-label tasks."""
        task = self.task
        if task.multilabel:
            out = np.zeros((len(self), task.n_classes), dtype=bool)
            for i, label in enumerate(self.labels):
                for lab in label or ():
                    if lab in task.labels:
                        out[i, task.labels.index(lab)] = True
            return out
        return np.array([-1 if lab is None else task.labels.index(lab) for lab in self.labels], dtype=int)

    def to_columns(self, *, prefix=None):
        """Catalogue columns: name -> array.

        Names follow ``{prefix}_label``, ``{prefix}_prob_{LABEL}`` (e.g.
        ``B6_prob_FR-I``) and, for generative backends, ``{prefix}_answer``.
        Multi-label answers are written as comma-separated labels
        (``'EXTENDED,DIFFUSE'``, or ``'NONE'``); an unparsed answer is an empty string.

        Parameters
        ----------
        prefix : str, optional
            Column-name prefix; the task id by default.

        Returns
        -------
        dict
            Ordered mapping of column name to a 1-D numpy array of length N.
        """
        prefix = self.task.id if prefix is None else str(prefix)
        if self.task.multilabel:
            text = ["" if lab is None else ",".join(lab) for lab in self.labels]
        else:
            text = ["" if lab is None else lab for lab in self.labels]
        width = max([len(t) for t in text] + [1])
        columns = {f"{prefix}_label": np.array(text, dtype=f"<U{width}")}
        for j, label in enumerate(self.task.labels):
            columns[f"{prefix}_prob_{label}"] = self.probabilities[:, j].astype(np.float32)
        if self.raw_answers is not None:
            answers = ["" if a is None else a for a in self.raw_answers]
            width = max([len(a) for a in answers] + [1])
            columns[f"{prefix}_answer"] = np.array(answers, dtype=f"<U{width}")
        return columns
