"""Figures of evaluation results: confusion matrices and model comparisons (matplotlib, optional).

matplotlib is imported only when a figure is made (``pip install
'radioassist[plot]'``).  The functions build `matplotlib.figure.Figure`
objects directly (no pyplot state), so they are safe in scripts, notebooks
and threads; save them with ``fig.savefig(path)``.
"""
import numpy as np

from .exceptions import InputError
from .metrics import _binned_calibration_error

__all__ = ["plot_confusion_matrix", "plot_metric_comparison", "plot_reliability_diagram", "MODEL_COLORS"]

#: Bar colours, in the order of the radio-llava paper's figures (blue, green, red, orange, black), then more.
MODEL_COLORS = ("#1f5fbf", "#2ca02c", "#d62728", "#ff8c1a", "#222222", "#9467bd", "#8c564b", "#17becf",
                "#e377c2", "#bcbd22")

_METRIC_NAMES = {"macro_f1": "macro-averaged F1-score", "weighted_f1": "weighted F1-score",
                 "accuracy": "accuracy", "macro_precision": "macro-averaged precision",
                 "macro_recall": "macro-averaged recall", "unparsed_rate": "unparsed answers (fraction)",
                 "hamming_loss": "Hamming loss"}


def _matplotlib():
    from ._optional_deps import require
    require("matplotlib", purpose="evaluation figures")
    from matplotlib.figure import Figure
    return Figure


def _new_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    Figure = _matplotlib()
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_confusion_matrix(report, *, ax=None, title=None, cmap="Blues"):
    """Draw the confusion matrix of a `~radioassist.metrics.ClassificationReport`.

    Single-label tasks: true classes as rows, predicted classes as columns
    (plus a grey-labelled ``unparsed`` column when answers failed to parse);
    colours show the fraction of each true class (row-normalised, i.e. the
    recall on the diagonal) and every cell gives its count and percentage.
    Multi-label tasks: one ``[[TN, FP], [FN, TP]]`` panel per label.

    Parameters
    ----------
    report : `~radioassist.metrics.ClassificationReport`
    ax : `matplotlib.axes.Axes`, optional
        Draw into these axes (single-label only); a new figure otherwise.
    title : str, optional
        Figure title; the macro F1 and accuracy are appended below it.
    cmap : str, optional
        Matplotlib colour map.

    Returns
    -------
    `matplotlib.figure.Figure`
        The figure of ``ax`` when given; else a new one (one panel per label for multi-label tasks).

    Examples
    --------
    >>> from radioassist.metrics import classification_report
    >>> from radioassist.plotting import plot_confusion_matrix
    >>> report = classification_report(['FR-I', 'FR-II', 'FR-II'], ['FR-I', 'FR-II', None], labels='B6')
    >>> fig = plot_confusion_matrix(report, title='B6')  # doctest: +SKIP
    >>> fig.savefig('confusion.png')  # doctest: +SKIP
    """
    subtitle = (f"macro F1 {report.macro_f1:.3f}, {'exact match' if report.multilabel else 'accuracy'} "
                f"{report.accuracy:.3f}, n = {report.n}")
    if report.n_unparsed:
        subtitle += f", unparsed {report.n_unparsed} ({100 * report.unparsed_rate:.1f}%)"
    full_title = subtitle if title is None else f"{title}\n{subtitle}"
    if report.multilabel:
        if ax is not None:
            msg = "the confusion matrices of a multi-label task need a figure of their own; do not pass ax="
            raise InputError(msg)
        return _plot_multilabel(report, full_title, cmap)
    matrix = np.asarray(report.confusion_matrix, dtype=float)
    k = len(report.confusion_rows)
    n_cols = len(report.confusion_columns)
    fig, ax = _new_axes(ax, (1.6 + 1.05 * n_cols, 1.4 + 0.95 * k))
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    image = ax.imshow(fraction, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(k):
        for j in range(n_cols):
            colour = "white" if fraction[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(matrix[i, j])}\n{100 * fraction[i, j]:.0f}%", ha="center", va="center",
                    color=colour, fontsize=9)
    ax.set_xticks(range(n_cols), labels=list(report.confusion_columns), rotation=30 if n_cols > 4 else 0,
                  ha="right" if n_cols > 4 else "center")
    ax.set_yticks(range(k), labels=list(report.confusion_rows))
    if report.n_unparsed:
        ax.get_xticklabels()[-1].set_color("0.45")
        ax.get_xticklabels()[-1].set_style("italic")
        ax.axvline(k - 0.5, color="0.3", lw=1.2)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(full_title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03, label="fraction of true class")
    return fig


def _plot_multilabel(report, title, cmap):
    Figure = _matplotlib()
    k = len(report.labels)
    fig = Figure(figsize=(0.6 + 2.4 * k, 2.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, k))
    for j, (ax, label) in enumerate(zip(axes, report.labels)):
        matrix = np.asarray(report.confusion_matrix[j], dtype=float)
        rows = matrix.sum(axis=1, keepdims=True)
        fraction = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
        ax.imshow(fraction, cmap=cmap, vmin=0, vmax=1)
        for a in range(2):
            for b in range(2):
                ax.text(b, a, f"{int(matrix[a, b])}\n{100 * fraction[a, b]:.0f}%", ha="center", va="center",
                        color="white" if fraction[a, b] > 0.6 else "black", fontsize=9)
        ax.set_xticks([0, 1], labels=["no", "yes"])
        ax.set_yticks([0, 1], labels=["no", "yes"])
        ax.set_xlabel("predicted")
        if j == 0:
            ax.set_ylabel("true")
        ax.set_title(f"{label}\nF1 {report.f1[j]:.3f}", fontsize=9)
    fig.suptitle(title, fontsize=9)
    return fig


def _column(summary, name):
    if isinstance(summary, dict):
        return summary.get(name)
    return summary[name] if name in getattr(summary, "colnames", ()) else None


def plot_metric_comparison(summary, *, metric="macro_f1", ax=None, title=None, colors=None, annotate=True):
    """Grouped bar chart of a metric: one group per task, one bar (colour) per model.

    The style follows the radio-llava paper's figures (macro-averaged F1 per
    task, one coloured bar per model).  When the summary has
    ``{metric}_low`` / ``{metric}_high`` columns (bootstrap confidence
    interval), they are drawn as error bars; an ``unparsed_rate`` column
    adds the share of unparsed answers above the bars where it is not zero,
    and an ``n`` column the number of images under each task.

    Parameters
    ----------
    summary : `~astropy.table.Table` or dict of sequences
        One row per model and task, with columns ``model``, ``task`` and ``metric``
        (the summary of `radioassist.evaluate.evaluate`).
    metric : str, optional
        Column to plot (``'macro_f1'`` by default).
    ax : `matplotlib.axes.Axes`, optional
        Draw into these axes; a new figure otherwise.
    title : str, optional
    colors : sequence of str, optional
        One colour per model (default: :data:`MODEL_COLORS`).
    annotate : bool, optional
        Write the value above each bar.

    Returns
    -------
    `matplotlib.figure.Figure`
        The figure of ``ax`` when given, else a new one sized for the number of tasks and models.

    Examples
    --------
    >>> from radioassist.plotting import plot_metric_comparison
    >>> summary = {'model': ['vision', 'llava', 'vision'], 'task': ['B6', 'B6', 'B3'],
    ...            'macro_f1': [0.86, 0.55, 0.93]}
    >>> fig = plot_metric_comparison(summary)  # doctest: +SKIP
    """
    models_col, tasks_col, values_col = (_column(summary, c) for c in ("model", "task", metric))
    if models_col is None or tasks_col is None or values_col is None:
        msg = f"the summary needs columns 'model', 'task' and {metric!r}"
        raise InputError(msg)
    low_col, high_col = _column(summary, f"{metric}_low"), _column(summary, f"{metric}_high")
    models = list(dict.fromkeys(str(m) for m in models_col))
    tasks = list(dict.fromkeys(str(t) for t in tasks_col))
    values = {(str(m), str(t)): float(v) for m, t, v in zip(models_col, tasks_col, values_col)}
    bounds = {}
    if low_col is not None and high_col is not None:
        bounds = {(str(m), str(t)): (float(lo), float(hi))
                  for m, t, lo, hi in zip(models_col, tasks_col, low_col, high_col)}
    rate_col = _column(summary, "unparsed_rate")
    unparsed = {} if rate_col is None else {(str(m), str(t)): float(r)
                                            for m, t, r in zip(models_col, tasks_col, rate_col)}
    colors = list(colors or MODEL_COLORS)
    width = 0.8 / len(models)
    fig, ax = _new_axes(ax, (max(4.0, 1.2 + len(tasks) * (0.5 + 0.45 * len(models))), 3.6))
    x = np.arange(len(tasks))
    for i, model in enumerate(models):
        pos = x - 0.4 + width * (i + 0.5)
        heights = np.array([values.get((model, t), np.nan) for t in tasks])
        kwargs = {}
        if bounds:
            lo = np.array([bounds.get((model, t), (np.nan, np.nan))[0] for t in tasks])
            hi = np.array([bounds.get((model, t), (np.nan, np.nan))[1] for t in tasks])
            if np.isfinite(lo).any():
                kwargs["yerr"] = np.vstack([np.clip(heights - lo, 0, None), np.clip(hi - heights, 0, None)])
                kwargs["error_kw"] = {"elinewidth": 0.9, "capsize": 2.5, "ecolor": "0.35"}
        ok = np.isfinite(heights)  # a model without a result for a task gets no bar
        if "yerr" in kwargs:
            kwargs["yerr"] = kwargs["yerr"][:, ok]
        bars = ax.bar(pos[ok], heights[ok], width * 0.92, label=model, color=colors[i % len(colors)],
                      edgecolor="black", linewidth=0.4, **kwargs)
        if annotate:
            rates = [unparsed.get((model, t), 0.0) for t, good in zip(tasks, ok) if good]
            for bar, h, rate in zip(bars, heights[ok], rates):
                centre = bar.get_x() + bar.get_width() / 2
                ax.text(centre, 0.015, f"{h:.2f}", ha="center", va="bottom", rotation=90, fontsize=7,
                        color="white" if h > 0.2 else "black")
                if rate > 0:  # never let a low bar hide that the model's answers could not be parsed
                    ax.text(centre, max(h, 0.12) + 0.02, f"{100 * rate:.0f}% unparsed", ha="center", va="bottom",
                            rotation=90, fontsize=6.5, color="0.25")
    n_col = _column(summary, "n")
    ticks = list(tasks)
    if n_col is not None:
        sizes = {}
        for t, n in zip(tasks_col, n_col):
            sizes.setdefault(str(t), set()).add(int(n))
        ticks = [f"{t}\nn = {next(iter(sizes[t]))}" if len(sizes.get(t, ())) == 1 else t for t in tasks]
    ax.set_xticks(x, labels=ticks)
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    if metric != "hamming_loss" or np.nanmax(list(values.values())) <= 1:
        ax.set_ylim(0, 1.05)
    ax.set_ylabel(_METRIC_NAMES.get(metric, metric))
    ax.yaxis.grid(True, color="0.88", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_reliability_diagram(curve, *, ax=None, title=None, color="#1f5fbf"):
    """Reliability diagram: accuracy against confidence per bin, with the bin counts.

    Parameters
    ----------
    curve : dict
        As returned by `radioassist.metrics.reliability_curve` (``edges``,
        ``count``, ``confidence``, ``accuracy``).
    ax : `matplotlib.axes.Axes`, optional
        Draw into these axes; a new figure otherwise.
    title : str, optional
        Figure title; the expected calibration error is appended below it.
    color : str, optional
        Colour of the bars.

    Returns
    -------
    `matplotlib.figure.Figure`
        The figure of ``ax`` when given, else a new square one; the bin counts are written in the bars.
    """
    try:
        edges = np.asarray(curve["edges"], dtype=float)
        count = np.asarray(curve["count"], dtype=float)
        accuracy = np.asarray(curve["accuracy"], dtype=float)
        confidence = np.asarray(curve["confidence"], dtype=float)
    except (KeyError, TypeError) as exc:
        msg = "curve must be a dict made by radioassist.metrics.reliability_curve (edges, count, accuracy, confidence)"
        raise InputError(msg) from exc
    fig, ax = _new_axes(ax, (4.2, 4.2))
    filled = count > 0
    widths = np.diff(edges)
    ax.bar(edges[:-1][filled], accuracy[filled], width=widths[filled], align="edge", color=color, alpha=0.75,
           edgecolor="white", label="accuracy")
    ax.plot([0, 1], [0, 1], color="#555555", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(confidence[filled], accuracy[filled], "o", color="#222222", markersize=3, label="bin mean confidence")
    ece = _binned_calibration_error(count, accuracy, confidence)
    for x, n in zip(edges[:-1][filled], count[filled]):
        ax.text(x + widths[0] / 2, 0.02, f"{int(n)}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    heading = f"ECE {ece:.3f} ({int(count.sum())} images)"
    ax.set_title(heading if not title else f"{title}\n{heading}", fontsize=9)
    return fig
