"""Classification metrics that never hide a failed answer.

:func:`classification_report` computes, for single-label tasks (B2-B6), the
macro-averaged F1 (the headline number, as in the radio-llava paper's
figures), the support-weighted F1 (the number upstream code reported),
accuracy, per-class precision/recall/F1/support and the confusion matrix; for
multi-label tasks (B1), per-label precision/recall/F1, their macro and weighted
averages, the Hamming loss and the exact-match ratio (subset accuracy).
:func:`bootstrap_interval` gives a percentile bootstrap confidence interval for
any of these numbers.  Everything is plain numpy.

Unparsed answers
----------------
A generative model may give an answer that names no label.  Upstream
radio-llava dropped those images from its metrics; here they stay in, and
count as wrong:

* **single-label**: an unparsed answer is treated as the prediction of an
  extra pseudo-class ``'unparsed'`` that is never the truth.  It is a miss
  (false negative) of the image's true class and a false alarm of no class;
  accuracy counts it wrong; the confusion matrix gets an extra ``unparsed``
  column.  The pseudo-class takes no part in the averages.  This is exactly
  scikit-learn's ``precision_recall_fscore_support(y_true, y_pred,
  labels=<the real classes>, zero_division=0)`` and ``accuracy_score`` with
  unparsed answers encoded as a label that never occurs in ``y_true``;
* **multi-label**: an unparsed answer predicts no label (a miss of every true
  label, a false alarm of none: per-label precision/recall/F1 as scikit-learn
  with an extra never-true column), is never an exact match (even when the
  truth is NONE), and counts as wrong for every label in the Hamming loss
  (the fraction of wrong image-label decisions).

Averages
--------
Per-class precision, recall and F1 that divide by zero are ``zero_division``
(0 by default, as scikit-learn's ``zero_division=0``); F1 is
``2 TP / (2 TP + FP + FN)``.  Macro averages run over the classes that occur
in the truth or among the (parsed) predictions: a class that is neither true
nor predicted for any image has no defined score and is left out (it is still
listed, with support 0).  For single-label tasks this is scikit-learn's
default (``labels=None``); for multi-label tasks scikit-learn averages every
column instead, which only differs when a label is absent from both the truth
and the predictions.  Weighted averages weight each class by its support.

Examples
--------
>>> from radioassist.metrics import classification_report
>>> report = classification_report(['FR-I', 'FR-II', 'FR-II', 'FR-I'],
...                                ['FR-I', 'FR-II', None, 'FR-II'], labels=['FR-I', 'FR-II'])
>>> round(report.macro_f1, 3), report.accuracy, report.n_unparsed
(0.583, 0.5, 1)
>>> report.confusion_matrix
array([[1, 1, 0],
       [0, 1, 1]])
"""
from dataclasses import dataclass

import numpy as np

from .exceptions import InputError

__all__ = ["ClassificationReport", "classification_report", "bootstrap_interval", "UNPARSED", "METRICS",
           "reliability_curve", "expected_calibration_error", "fit_temperature", "negative_log_likelihood"]

#: Name of the pseudo-class (confusion-matrix column) of answers that could not be parsed.
UNPARSED = "unparsed"

#: Scalar metrics that :func:`bootstrap_interval` can resample.
METRICS = ("macro_f1", "weighted_f1", "macro_precision", "macro_recall", "accuracy", "hamming_loss",
           "unparsed_rate")


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Metrics of predictions against the truth (made by :func:`classification_report`).

    Attributes
    ----------
    labels : tuple of str
        The classes, in order.
    multilabel : bool
        True for multi-label tasks (B1).
    n : int
        Number of images.
    n_unparsed : int
        Images whose answer could not be parsed (counted as wrong).
    unparsed_rate : float
        ``n_unparsed / n``.
    accuracy : float
        Fraction of images whose answer is exactly right (for multi-label
        tasks: the exact-match ratio, also :attr:`exact_match`).
    macro_f1, macro_precision, macro_recall : float
        Unweighted means over the classes in :attr:`averaged_labels`.
    weighted_f1, weighted_precision, weighted_recall : float
        Means weighted by the number of true images of each class.
    precision, recall, f1 : `numpy.ndarray`
        Per class, in :attr:`labels` order.
    support : `numpy.ndarray`
        True images of each class.
    n_predicted : `numpy.ndarray`
        (Parsed) predictions of each class.
    confusion_matrix : `numpy.ndarray`
        Single-label: counts with true classes as rows and predicted classes
        as columns, ``(n_classes, n_classes)``, plus a last ``unparsed``
        column when some answer was unparsed.  Multi-label: one
        ``[[TN, FP], [FN, TP]]`` matrix per label, ``(n_classes, 2, 2)``
        (as scikit-learn's ``multilabel_confusion_matrix``; unparsed answers
        count as predicting no label).
    confusion_rows, confusion_columns : tuple of str
        Names of the confusion-matrix rows and columns (single-label), or of
        the labels and ``('no', 'yes')`` (multi-label).
    averaged_labels : tuple of str
        The classes that enter the macro averages (true or predicted at least once).
    hamming_loss : float or None
        Multi-label only: fraction of wrong image-label decisions (an
        unparsed answer is wrong on every label).
    exact_match : float or None
        Multi-label only: fraction of images whose whole label set is right
        (an empty set being NONE); equal to :attr:`accuracy`.
    zero_division : float
        The value used for scores that divide by zero.
    """

    labels: tuple
    multilabel: bool
    n: int
    n_unparsed: int
    unparsed_rate: float
    accuracy: float
    macro_f1: float
    macro_precision: float
    macro_recall: float
    weighted_f1: float
    weighted_precision: float
    weighted_recall: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    n_predicted: np.ndarray
    confusion_matrix: np.ndarray
    confusion_rows: tuple
    confusion_columns: tuple
    averaged_labels: tuple
    hamming_loss: float = None
    exact_match: float = None
    zero_division: float = 0.0

    #: Scalar metrics, in the order of :meth:`to_dict`.
    SCALARS = ("n", "n_unparsed", "unparsed_rate", "accuracy", "macro_f1", "macro_precision", "macro_recall",
               "weighted_f1", "weighted_precision", "weighted_recall", "hamming_loss", "exact_match")

    def __getitem__(self, key):
        return self.to_dict()[key]

    def __repr__(self):
        kind = "multi-label" if self.multilabel else "single-label"
        return (f"<ClassificationReport {kind} n={self.n} macro_f1={self.macro_f1:.4f} "
                f"accuracy={self.accuracy:.4f} n_unparsed={self.n_unparsed}>")

    def per_class(self):
        """Per-class metrics as a table.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``label``, ``precision``, ``recall``, ``f1``, ``support``,
            ``n_predicted`` and ``averaged`` (whether the class enters the macro averages).
        """
        from astropy.table import Table
        return Table({"label": list(self.labels), "precision": self.precision, "recall": self.recall,
                      "f1": self.f1, "support": self.support, "n_predicted": self.n_predicted,
                      "averaged": [label in self.averaged_labels for label in self.labels]})

    def to_dict(self):
        """All metrics as a JSON-serialisable dict (per-class metrics under ``'per_class'``)."""
        out = {"labels": list(self.labels), "multilabel": self.multilabel}
        for key in self.SCALARS:
            value = getattr(self, key)
            out[key] = None if value is None else (int(value) if key in ("n", "n_unparsed") else float(value))
        out["per_class"] = {label: {"precision": float(self.precision[j]), "recall": float(self.recall[j]),
                                    "f1": float(self.f1[j]), "support": int(self.support[j]),
                                    "n_predicted": int(self.n_predicted[j])}
                            for j, label in enumerate(self.labels)}
        out["averaged_labels"] = list(self.averaged_labels)
        out["confusion_matrix"] = self.confusion_matrix.tolist()
        out["confusion_rows"] = list(self.confusion_rows)
        out["confusion_columns"] = list(self.confusion_columns)
        out["zero_division"] = float(self.zero_division)
        return out

    def to_markdown(self, *, digits=3):
        """Per-class metrics and the confusion matrix as Markdown tables.

        Parameters
        ----------
        digits : int, optional
            Decimals of the scores.
        """
        fmt = f"{{:.{digits}f}}"
        lines = ["| class | precision | recall | F1 | support | predicted |", "|---|---:|---:|---:|---:|---:|"]
        for j, label in enumerate(self.labels):
            mark = "" if label in self.averaged_labels else " (not averaged)"
            lines.append(f"| {label}{mark} | {fmt.format(self.precision[j])} | {fmt.format(self.recall[j])} | "
                         f"{fmt.format(self.f1[j])} | {self.support[j]} | {self.n_predicted[j]} |")
        lines.append("")
        if self.multilabel:
            lines += ["| label | TN | FP | FN | TP |", "|---|---:|---:|---:|---:|"]
            for j, label in enumerate(self.labels):
                (tn, fp), (fn, tp) = self.confusion_matrix[j]
                lines.append(f"| {label} | {tn} | {fp} | {fn} | {tp} |")
        else:
            lines.append("| true \\ predicted | " + " | ".join(self.confusion_columns) + " |")
            lines.append("|---|" + "---:|" * len(self.confusion_columns))
            for label, row in zip(self.confusion_rows, self.confusion_matrix):
                lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- input handling
def _resolve(labels, multilabel):
    """(labels tuple, multilabel or None, none_label) from a label list, a Task or a task id."""
    from .tasks import Task, get_task
    none_label = "NONE"
    if isinstance(labels, str):
        labels = get_task(labels)
    if isinstance(labels, Task):
        if multilabel is None:
            multilabel = labels.multilabel
        none_label = labels.none_label
        labels = labels.labels
    try:
        labels = tuple(str(label) for label in labels)
    except TypeError:
        msg = f"labels must be a sequence of class names or a Task, got {type(labels).__name__}"
        raise InputError(msg) from None
    if len(labels) == 0 or len(set(labels)) != len(labels):
        msg = f"labels must be a non-empty sequence of distinct class names, got {labels!r}"
        raise InputError(msg)
    return labels, multilabel, none_label


def _is_missing(value):
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


class _Encoder:
    """Turns labels given as names or indices into class indices."""

    def __init__(self, labels, none_label):
        self.labels = labels
        self.none_label = none_label
        self.exact = {label: j for j, label in enumerate(labels)}
        self.upper = {label.upper(): j for j, label in enumerate(labels)}

    def index(self, value, what, i):
        if isinstance(value, (bool, np.bool_)):
            msg = f"{what}[{i}] is a boolean ({value!r}); give class names or class indices"
            raise InputError(msg)
        if isinstance(value, (int, np.integer)):
            if 0 <= value < len(self.labels):
                return int(value)
            msg = f"{what}[{i}] = {value} is not a class index (0..{len(self.labels) - 1})"
            raise InputError(msg)
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return self.index(int(value), what, i)
        text = str(value).strip()
        if text in self.exact:
            return self.exact[text]
        if text.upper() in self.upper:
            return self.upper[text.upper()]
        msg = f"{what}[{i}] = {value!r} is not one of the labels ({', '.join(self.labels)})"
        raise InputError(msg)


def _unparsed_mask(unparsed, n):
    if unparsed is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(unparsed)
    if mask.dtype != bool:
        if mask.ndim == 1 and mask.size and np.issubdtype(mask.dtype, np.integer) and set(np.unique(mask)) <= {0, 1}:
            mask = mask.astype(bool)
        else:
            msg = "unparsed must be a boolean mask with one entry per image"
            raise InputError(msg)
    if mask.shape != (n,):
        msg = f"unparsed has shape {mask.shape}; expected one boolean per image ({n},)"
        raise InputError(msg)
    return mask


def _as_sequence(values, what):
    if isinstance(values, str):
        msg = f"{what} must be a sequence of labels (one per image), not a single string {values!r}"
        raise InputError(msg)
    if hasattr(values, "labels") and hasattr(values, "probabilities"):  # a backend's Predictions
        return list(values.labels)
    if isinstance(values, np.ndarray):
        return values
    try:
        return list(values)
    except TypeError:
        msg = f"{what} must be a sequence (one entry per image), got {type(values).__name__}"
        raise InputError(msg) from None


def _encode_single(y_true, y_pred, labels, none_label, unparsed):
    enc = _Encoder(labels, none_label)
    y_true = _as_sequence(y_true, "y_true")
    y_pred = _as_sequence(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        msg = f"y_true has {len(y_true)} entries but y_pred has {len(y_pred)}; give one of each per image"
        raise InputError(msg)
    n = len(y_true)
    mask = _unparsed_mask(unparsed, n)
    true = np.empty(n, dtype=np.intp)
    pred = np.empty(n, dtype=np.intp)
    for i, value in enumerate(y_true):
        if isinstance(value, (list, tuple, set)):
            msg = (f"y_true[{i}] = {value!r} is a set of labels: for multi-label data pass multilabel=True "
                   "or a multi-label task as labels=")
            raise InputError(msg)
        if _is_missing(value):
            msg = f"y_true[{i}] is missing ({value!r}); every image needs its true class"
            raise InputError(msg)
        true[i] = enc.index(value, "y_true", i)
    k = len(labels)
    for i, value in enumerate(y_pred):
        if mask[i] or _is_missing(value) or (isinstance(value, (int, np.integer))
                                             and not isinstance(value, (bool, np.bool_)) and value == -1):
            pred[i] = k
        else:
            pred[i] = enc.index(value, "y_pred", i)
    return true, pred


def _label_set(value, enc, what, i, *, allow_missing):
    """Multi-hot row from a label set given as names, indices, a comma-separated string or a bool row."""
    k = len(enc.labels)
    row = np.zeros(k, dtype=bool)
    if _is_missing(value):
        if allow_missing:
            return None
        msg = f"{what}[{i}] is missing ({value!r}); every image needs its true labels (NONE for none)"
        raise InputError(msg)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, np.ndarray) and value.dtype == bool:
        if value.shape != (k,):
            msg = f"{what}[{i}] is a boolean row of shape {value.shape}; expected ({k},)"
            raise InputError(msg)
        return value.copy()
    else:
        try:
            parts = list(value)
        except TypeError:
            parts = [value]
    for part in parts:
        if isinstance(part, str) and part.strip().upper() == enc.none_label.upper():
            continue
        row[enc.index(part, what, i)] = True
    return row


def _encode_multi(y_true, y_pred, labels, none_label, unparsed):
    enc = _Encoder(labels, none_label)
    k = len(labels)
    arrays = []
    missing = None
    for values, what in ((y_true, "y_true"), (y_pred, "y_pred")):
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype != object:
            if values.shape[1] != k:
                msg = f"{what} has {values.shape[1]} columns but there are {k} labels ({', '.join(labels)})"
                raise InputError(msg)
            if not np.isin(values, (0, 1)).all():
                msg = f"{what} must hold 0/1 or booleans (one column per label)"
                raise InputError(msg)
            arrays.append(values.astype(bool))
            if what == "y_pred":
                missing = np.zeros(len(values), dtype=bool)
            continue
        seq = _as_sequence(values, what)
        rows = [_label_set(v, enc, what, i, allow_missing=(what == "y_pred")) for i, v in enumerate(seq)]
        if what == "y_pred":
            missing = np.array([r is None for r in rows], dtype=bool)
            rows = [np.zeros(k, dtype=bool) if r is None else r for r in rows]
        arrays.append(np.array(rows, dtype=bool).reshape(len(rows), k))
    true, pred = arrays
    if len(true) != len(pred):
        msg = f"y_true has {len(true)} entries but y_pred has {len(pred)}; give one of each per image"
        raise InputError(msg)
    mask = _unparsed_mask(unparsed, len(true)) | missing
    pred = pred & ~mask[:, None]
    return true, pred, mask


# ---------------------------------------------------------------------------------------- scores
def _div(num, den, zero_division):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, zero_division)


def _scores(tp, fp, fn, support, zero_division):
    """Per-class and averaged precision/recall/F1 from counts of shape (..., n_classes)."""
    precision = _div(tp, tp + fp, zero_division)
    recall = _div(tp, tp + fn, zero_division)
    f1 = _div(2 * tp, 2 * tp + fp + fn, zero_division)
    present = (tp + fp + fn) > 0
    n_present = present.sum(axis=-1)

    def macro(values):
        return _div(np.where(present, values, 0).sum(axis=-1), n_present, zero_division)

    def weighted(values):
        return _div((values * support).sum(axis=-1), support.sum(axis=-1), zero_division)

    return {"precision": precision, "recall": recall, "f1": f1, "present": present,
            "macro_precision": macro(precision), "macro_recall": macro(recall), "macro_f1": macro(f1),
            "weighted_precision": weighted(precision), "weighted_recall": weighted(recall),
            "weighted_f1": weighted(f1)}


def _single_from_confusion(confusion, zero_division):
    """Scores from confusion counts (..., k, k + 1) whose last column counts unparsed answers."""
    k = confusion.shape[-2]
    tp = np.diagonal(confusion[..., :k], axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion[..., :k].sum(axis=-2)
    out = _scores(tp, predicted - tp, support - tp, support, zero_division)
    n = support.sum(axis=-1)
    out["accuracy"] = _div(tp.sum(axis=-1), n, zero_division)
    out["unparsed_rate"] = _div(confusion[..., k].sum(axis=-1), n, zero_division)
    out["hamming_loss"] = np.full(np.shape(n), np.nan)
    return out


def _multi_scores(tp, fp, fn, support, exact, wrong, unparsed, n, k, zero_division):
    out = _scores(tp, fp, fn, support, zero_division)
    out["accuracy"] = _div(exact, n, zero_division)
    out["hamming_loss"] = _div(wrong, n * k, zero_division)
    out["unparsed_rate"] = _div(unparsed, n, zero_division)
    return out


def _check_zero_division(zero_division):
    try:
        value = float(zero_division)
    except (TypeError, ValueError):
        value = None
    if value is None or not (value in (0.0, 1.0) or np.isnan(value)):
        msg = f"zero_division must be 0, 1 or nan, got {zero_division!r}"
        raise InputError(msg)
    return value


def _encode(y_true, y_pred, labels, unparsed, multilabel):
    labels, multilabel, none_label = _resolve(labels, multilabel)
    if multilabel is None:
        multilabel = isinstance(y_true, np.ndarray) and y_true.ndim == 2
    if multilabel:
        true, pred, mask = _encode_multi(y_true, y_pred, labels, none_label, unparsed)
    else:
        true, pred = _encode_single(y_true, y_pred, labels, none_label, unparsed)
        mask = pred == len(labels)
    if len(true) == 0:
        msg = "there are no images to evaluate (y_true and y_pred are empty)"
        raise InputError(msg)
    return labels, multilabel, true, pred, mask


def classification_report(y_true, y_pred, *, labels, unparsed=None, multilabel=None, zero_division=0.0):
    """Metrics of a classifier's answers against the truth, with unparsed answers counted as wrong.

    See the module documentation (:mod:`radioassist.metrics`) for the exact
    rules on unparsed answers and on averaging.

    Parameters
    ----------
    y_true : sequence or `numpy.ndarray`
        The true class of every image: class names or class indices
        (single-label); for multi-label tasks an ``(N, n_classes)`` boolean
        array, or per image a sequence of class names, a comma-separated
        string, or ``'NONE'`` / an empty sequence for no label.
    y_pred : sequence, `numpy.ndarray` or `~radioassist.backends.Predictions`
        The answers, in the same forms.  ``None``, ``''``, NaN and (for class
        indices) ``-1`` mark an unparsed answer; a ``Predictions`` is read
        through its ``labels`` (``None`` when unparsed).
    labels : sequence of str, `~radioassist.tasks.Task` or str
        The classes in order (class index = position), or a task (its labels,
        multi-label flag and none label).
    unparsed : array-like of bool, optional
        Also mark these answers as unparsed (whatever their value in ``y_pred``).
    multilabel : bool, optional
        Multi-label task; taken from the task, or from the shape of ``y_true``
        (2-D) when not given.
    zero_division : float, optional
        Value of a precision, recall or F1 that divides by zero: 0 (default), 1 or NaN.

    Returns
    -------
    ClassificationReport

    Raises
    ------
    InputError
        If a true label is missing or unknown, a predicted label is unknown,
        the lengths differ or there is no image.

    Examples
    --------
    >>> from radioassist.metrics import classification_report
    >>> r = classification_report(['YES', 'NO', 'NO', 'NO'], ['YES', 'NO', 'YES', 'NO'], labels='B3')
    >>> r.labels, round(r.macro_f1, 3), round(r.weighted_f1, 3), r.accuracy
    (('YES', 'NO'), 0.733, 0.767, 0.75)
    >>> b1 = classification_report([('EXTENDED',), 'NONE', 'EXTENDED,DIFFUSE'],
    ...                            [('EXTENDED',), (), None], labels='B1')
    >>> b1.exact_match, round(b1.hamming_loss, 3), b1.n_unparsed
    (0.6666666666666666, 0.333, 1)
    """
    zero_division = _check_zero_division(zero_division)
    labels, multilabel, true, pred, mask = _encode(y_true, y_pred, labels, unparsed, multilabel)
    k = len(labels)
    n = len(true)
    n_unparsed = int(mask.sum())
    if multilabel:
        tp = (true & pred).sum(axis=0)
        fp = (~true & pred).sum(axis=0)
        fn = (true & ~pred).sum(axis=0)
        support = true.sum(axis=0)
        exact = int(np.sum(np.all(true == pred, axis=1) & ~mask))
        wrong = int(np.sum(true[~mask] != pred[~mask])) + k * n_unparsed
        scores = _multi_scores(tp, fp, fn, support, exact, wrong, n_unparsed, n, k, zero_division)
        tn = n - tp - fp - fn
        confusion = np.stack([np.stack([tn, fp], axis=-1), np.stack([fn, tp], axis=-1)], axis=-2)
        rows, columns = labels, ("no", "yes")
        n_predicted = pred.sum(axis=0)
        hamming, exact_match = float(scores["hamming_loss"]), float(scores["accuracy"])
    else:
        full = np.bincount(true * (k + 1) + pred, minlength=k * (k + 1)).reshape(k, k + 1)
        scores = _single_from_confusion(full, zero_division)
        support = full.sum(axis=1)
        n_predicted = full[:, :k].sum(axis=0)
        confusion = full if n_unparsed else full[:, :k]
        rows = labels
        columns = labels + ((UNPARSED,) if n_unparsed else ())
        hamming = exact_match = None
    return ClassificationReport(
        labels=labels, multilabel=bool(multilabel), n=n, n_unparsed=n_unparsed, unparsed_rate=n_unparsed / n,
        accuracy=float(scores["accuracy"]), macro_f1=float(scores["macro_f1"]),
        macro_precision=float(scores["macro_precision"]), macro_recall=float(scores["macro_recall"]),
        weighted_f1=float(scores["weighted_f1"]), weighted_precision=float(scores["weighted_precision"]),
        weighted_recall=float(scores["weighted_recall"]), precision=scores["precision"], recall=scores["recall"],
        f1=scores["f1"], support=np.asarray(support, dtype=np.int64), n_predicted=np.asarray(n_predicted, np.int64),
        confusion_matrix=np.asarray(confusion, dtype=np.int64), confusion_rows=tuple(rows),
        confusion_columns=tuple(columns),
        averaged_labels=tuple(label for label, p in zip(labels, scores["present"]) if p),
        hamming_loss=hamming, exact_match=exact_match, zero_division=zero_division)


def _check_bootstrap(n_resamples, confidence):
    """The bootstrap settings of `bootstrap_interval` (and the general-task intervals), or a clear error."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        msg = f"n_resamples must be a positive integer, got {n_resamples!r}"
        raise InputError(msg)
    if not 0 < float(confidence) < 1:
        msg = f"confidence must lie between 0 and 1, got {confidence!r}"
        raise InputError(msg)


def _resample_weights(n, n_resamples, rng, block):
    """Yield ``(b, n)`` arrays: how many times each image is drawn in each of ``b`` bootstrap resamples."""
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        done += b


def bootstrap_interval(y_true, y_pred, *, labels, unparsed=None, multilabel=None, metric="macro_f1",
                       n_resamples=1000, confidence=0.95, seed=0, zero_division=0.0):
    """Percentile bootstrap confidence interval of a metric (images resampled with replacement).

    With a test set of a few hundred images, a macro F1 has an uncertainty of
    several per cent; report it before comparing models.

    Parameters
    ----------
    y_true, y_pred, labels, unparsed, multilabel, zero_division
        As for :func:`classification_report`.
    metric : str or sequence of str, optional
        One of :data:`METRICS` (``'macro_f1'`` by default), or several.
    n_resamples : int, optional
        Number of bootstrap resamples.
    confidence : float, optional
        Coverage of the interval (0.95: the 2.5th and 97.5th percentiles).
    seed : int, optional
        Seed of the random resampling (the result is reproducible).

    Returns
    -------
    tuple of float, or dict
        ``(low, high)``; a dict of metric name -> ``(low, high)`` when
        ``metric`` is a sequence.  ``(nan, nan)`` for a metric that does not
        apply (the Hamming loss of a single-label task).

    Examples
    --------
    >>> from radioassist.metrics import bootstrap_interval
    >>> truth = ['FR-I'] * 50 + ['FR-II'] * 50
    >>> answers = ['FR-I'] * 40 + ['FR-II'] * 10 + ['FR-II'] * 45 + ['FR-I'] * 5
    >>> low, high = bootstrap_interval(truth, answers, labels='B6')
    >>> bool(low < 0.85 < high)
    True
    """
    zero_division = _check_zero_division(zero_division)
    names = (metric,) if isinstance(metric, str) else tuple(metric)
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        msg = f"metric must be one of {', '.join(METRICS)}, got {metric!r}"
        raise InputError(msg)
    _check_bootstrap(n_resamples, confidence)
    labels, multilabel, true, pred, mask = _encode(y_true, y_pred, labels, unparsed, multilabel)
    k = len(labels)
    n = len(true)
    rng = np.random.default_rng(seed)
    block = max(1, min(int(n_resamples), 4_000_000 // max(n, 1)))
    values = {m: [] for m in names}
    if multilabel:
        per_image = np.stack([true & pred, ~true & pred, true & ~pred, true], axis=0).astype(np.int64)
        exact = (np.all(true == pred, axis=1) & ~mask).astype(np.int64)
        wrong = np.where(mask, k, (true != pred).sum(axis=1)).astype(np.int64)
    else:
        code = true * (k + 1) + pred
        onehot = np.zeros((n, k * (k + 1)), dtype=np.int64)
        onehot[np.arange(n), code] = 1
    for weights in _resample_weights(n, int(n_resamples), rng, block):
        if multilabel:
            tp, fp, fn, support = (weights @ per_image[j] for j in range(4))
            scores = _multi_scores(tp, fp, fn, support, weights @ exact, weights @ wrong,
                                   weights @ mask.astype(np.int64), n, k, zero_division)
        else:
            confusion = (weights @ onehot).reshape(len(weights), k, k + 1)
            scores = _single_from_confusion(confusion, zero_division)
        for m in names:
            values[m].append(np.asarray(scores[m], dtype=float))
    alpha = (1 - float(confidence)) / 2
    out = {}
    for m in names:
        samples = np.concatenate(values[m])
        if np.all(np.isnan(samples)):
            out[m] = (float("nan"), float("nan"))
        else:
            low, high = np.nanquantile(samples, [alpha, 1 - alpha])
            out[m] = (float(low), float(high))
    return out[names[0]] if isinstance(metric, str) else out


# ---------------------------------------------------------------------------------------- calibration
def _calibration_inputs(probabilities, y_true):
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        msg = f"probabilities must be an (N, n_classes) array with n_classes >= 2, got shape {probabilities.shape}"
        raise InputError(msg)
    y_true = np.asarray(y_true)
    if y_true.shape != (len(probabilities),) or not np.issubdtype(y_true.dtype, np.integer):
        msg = (f"y_true must hold one class index per row of probabilities ({len(probabilities)}), "
               f"got {y_true.dtype} array of shape {y_true.shape}")
        raise InputError(msg)
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= probabilities.shape[1]):
        msg = f"y_true holds class indices outside 0..{probabilities.shape[1] - 1}"
        raise InputError(msg)
    return probabilities, y_true


def reliability_curve(probabilities, y_true, *, n_bins=15):
    """Confidence against accuracy in equal-width confidence bins (single-label classifiers).

    The confidence of an image is its highest class probability; it is right
    when that class is the true one.

    Parameters
    ----------
    probabilities : array-like
        ``(N, n_classes)`` class probabilities.
    y_true : array-like of int
        True class index of each image.
    n_bins : int, optional
        Number of equal-width bins over [0, 1] (15).

    Returns
    -------
    dict
        ``edges`` (n_bins + 1), and per bin ``count``, ``confidence`` (mean
        confidence) and ``accuracy`` (fraction right; nan for empty bins).
    """
    probabilities, y_true = _calibration_inputs(probabilities, y_true)
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        msg = f"n_bins must be a positive integer, got {n_bins!r}"
        raise InputError(msg)
    confidence = probabilities.max(axis=1)
    right = (probabilities.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=right, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probabilities, y_true, *, n_bins=15):
    """Expected calibration error: the count-weighted mean of ``|accuracy - confidence|`` over confidence bins.

    Parameters
    ----------
    probabilities, y_true : array-like
        Class probabilities and true class indices, as for `reliability_curve`.
    n_bins : int, optional
        Number of equal-width confidence bins (15, as Guo et al. 2017).

    Returns
    -------
    float
        Between 0 (calibrated) and 1; nan for no image.

    Examples
    --------
    >>> from radioassist.metrics import expected_calibration_error
    >>> probs = [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]
    >>> round(expected_calibration_error(probs, [0, 1, 0, 1]), 3)
    0.375
    """
    curve = reliability_curve(probabilities, y_true, n_bins=n_bins)
    return _binned_calibration_error(curve["count"], curve["accuracy"], curve["confidence"])


def _binned_calibration_error(count, accuracy, confidence):
    """The count-weighted mean ``|accuracy - confidence|`` of the non-empty bins of a reliability curve."""
    n = count.sum()
    if n == 0:
        return float("nan")
    filled = count > 0
    gap = np.abs(accuracy[filled] - confidence[filled])
    return float(np.sum(gap * count[filled]) / n)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def negative_log_likelihood(logits, y_true, *, temperature=1.0):
    """Mean negative log-likelihood of the true classes under ``softmax(logits / temperature)``.

    Parameters
    ----------
    logits : array-like
        ``(N, n_classes)`` raw model outputs.
    y_true : array-like of int
        True class indices, or ``(N, n_classes)`` target probabilities (soft labels).
    temperature : float, optional

    Returns
    -------
    float
    """
    logits = np.asarray(logits, dtype=float)
    logp = _log_softmax(logits / float(temperature))
    y_true = np.asarray(y_true)
    if y_true.ndim == 2:
        return float(-np.mean(np.sum(y_true * logp, axis=1)))
    return float(-np.mean(logp[np.arange(len(logits)), y_true.astype(int)]))


def fit_temperature(logits, y_true, *, bounds=(0.05, 20.0)):
    """The temperature ``T`` that minimises the negative log-likelihood of ``softmax(logits / T)``.

    Temperature scaling (Guo et al. 2017) divides all logits by one number
    fitted on held-out data: the predicted class does not change, only how
    confident the probabilities are.

    Parameters
    ----------
    logits : array-like
        ``(N, n_classes)`` raw model outputs on validation images.
    y_true : array-like of int
        True class indices, or ``(N, n_classes)`` target probabilities.
    bounds : tuple of float, optional
        Range searched for ``T``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.metrics import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> margin = rng.normal(0.0, 2.0, 5000)  # calibrated logit of class 1
    >>> y = (rng.random(5000) < 1 / (1 + np.exp(-margin))).astype(int)
    >>> logits = np.stack([np.zeros(5000), 4 * margin], axis=1)  # 4x over-confident
    >>> 3.5 < fit_temperature(logits, y) < 4.5
    True
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=float)
    if logits.ndim != 2 or len(logits) == 0:
        msg = f"logits must be a non-empty (N, n_classes) array, got shape {logits.shape}"
        raise InputError(msg)
    low, high = (float(b) for b in bounds)
    result = minimize_scalar(lambda log_t: negative_log_likelihood(logits, y_true, temperature=np.exp(log_t)),
                             bounds=(np.log(low), np.log(high)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))
