"""Classify every source of a catalogue in a mosaic: cut -> render -> predict -> columns.

:func:`classify` streams the catalogue through the pipeline in batches, so
memory stays bounded for 10^5 sources, and returns the catalogue with new
columns (labels, one probability per class, a flag for rows that could not be
classified and why) and the provenance of the result in ``meta``.
"""
import time

import numpy as np
from astropy import units as u
from astropy.table import Column, Table

from .catalog import read_catalog
from .cutouts import extract_cutouts
from .exceptions import InputError
from .image import load_image
from .logger import log
from .render import blank_mask, render
from .tasks import get_task
from .version import __version__

__all__ = ["classify", "FLAG_OK", "FLAG_OUTSIDE", "FLAG_BLANK", "FLAG_POSITION"]

#: Values of the ``<task>_flag`` column.
FLAG_OK = ""
FLAG_OUTSIDE = "outside"          # the cutout lies entirely outside the image
FLAG_BLANK = "blank"              # the cutout is all NaN / constant (blank mosaic area)
FLAG_POSITION = "bad_position"    # the catalogue row has no valid position

#: Default cutout side (native pixels) when neither the user nor the model says otherwise.
DEFAULT_CUTOUT_SIZE = 64


def classify(image, catalog=None, *, task="B6", backend="vision", model=None, size=None, size_factor=None,
             min_size=None, max_size=None, preset=None, batch_size=512, device="cpu", backend_options=None,
             detect_options=None, catalog_options=None, progress=False, timings=None):
    """Classify every catalogued source of a mosaic and return the labelled catalogue.

    Parameters
    ----------
    image : str, path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        The mosaic (anything :func:`~radioassist.load_image` accepts).
    catalog : str, path, `~astropy.table.Table` or None
        The source list (anything :func:`~radioassist.read_catalog` accepts).
        None: sources are found in the image with :func:`radioassist.detect.find_sources`.
    task : str or `~radioassist.tasks.Task`
        The question to ask (``'B1'`` ... ``'B6'`` or a registered user task).
    backend : str or backend instance
        A registered backend name (see ``radioassist backends``) or an instance.
    model : str or path, optional
        Model folder or hub id for the backend; None uses the shipped default for the task.
    size : int or `~astropy.units.Quantity`, optional
        Cutout side in pixels or as an angle. Default: the field of view the
        model was trained on (so cutouts are resampled to the model's pixel
        scale when the mosaic's differs), else 64 pixels.
    size_factor, min_size, max_size : optional
        Scale each cutout on the catalogue source size instead (see
        :func:`~radioassist.extract_cutouts`).
    preset : str, optional
        Render preset; default: the one the model was trained with, else ``'radio-llava'``.
    batch_size : int, optional
        Sources per pipeline batch (cut, render and predict), default 512.
    device : str, optional
        Torch device for the backend (``'cpu'``, ``'cuda'``...).
    backend_options, detect_options, catalog_options : dict, optional
        Extra keyword arguments for the backend, the source finder and :func:`~radioassist.read_catalog`.
    progress : bool, optional
        Show a progress bar.
    timings : dict, optional
        If given, filled with the seconds spent in each stage (read, cut, render, predict).

    Returns
    -------
    table : `~astropy.table.Table`
        The input catalogue, rows in their original order, with columns
        ``<task>_label``, ``<task>_prob_<LABEL>`` for every label and
        ``<task>_flag`` (empty when the row was classified, otherwise why
        not), and ``meta['radioassist']`` recording how it was made.
    """
    from .backends import get_backend

    t_start = time.perf_counter()
    stages = {"read": 0.0, "cut": 0.0, "render": 0.0, "predict": 0.0}
    task = get_task(task)
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size}")
    image = load_image(image)
    if catalog is None:
        from .detect import find_sources
        catalog = find_sources(image, **(detect_options or {}))
        source_label = f"photutils detection on {image.label}"
    else:
        source_label = str(catalog) if not isinstance(catalog, Table) else "<Table>"
    table = read_catalog(catalog, **(catalog_options or {}))
    table = Table(table, copy=False)  # a plain Table whatever came in
    if isinstance(backend, str):
        backend_name = backend
        backend = get_backend(backend, model=model, device=device, **(backend_options or {}))
    else:
        backend_name = getattr(backend, "name", type(backend).__name__)
    spec = _model_spec(backend, task)
    cut_size, fov_note = _cutout_size(image, size=size, spec=spec)
    preset = preset or spec.get("render_preset") or "radio-llava"
    stages["read"] += time.perf_counter() - t_start

    n = len(table)
    labels = np.full(n, "", dtype=object)
    probs = np.full((n, task.n_classes), np.nan, dtype=np.float32)
    flags = np.full(n, FLAG_OK, dtype=object)
    answers = None
    positions = table["skycoord"]
    position_ok = np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames \
        else np.ones(n, dtype=bool)
    flags[~position_ok] = FLAG_POSITION
    todo = np.flatnonzero(position_ok)
    bar = _progress(len(todo), progress, f"classify {task.id}")
    size_kwargs = {}
    if size_factor is not None:
        size_kwargs = dict(size_factor=size_factor, min_size=min_size, max_size=max_size)
    for start in range(0, len(todo), int(batch_size)):
        rows = todo[start:start + int(batch_size)]
        t0 = time.perf_counter()
        if size_kwargs:
            sub = table[rows]
            stack = extract_cutouts(image, sub, size=cut_size, **size_kwargs)
        else:
            stack = extract_cutouts(image, positions[rows], size=cut_size)
        t1 = time.perf_counter()
        outside = np.asarray(stack.outside, dtype=bool)
        flags[rows[outside]] = FLAG_OUTSIDE
        keep = ~outside
        rendered = render(stack.data[keep], preset=preset) if keep.any() else None
        if rendered is not None:
            blank = blank_mask(stack.data[keep])
            flags[rows[keep][blank]] = FLAG_BLANK
            keep_idx = np.flatnonzero(keep)[~blank]
            rendered = rendered[~blank]
        else:
            keep_idx = np.array([], dtype=int)
        t2 = time.perf_counter()
        if len(keep_idx):
            preds = backend.predict(rendered, task)
            target = rows[keep_idx]
            probs[target] = np.asarray(preds.probabilities, dtype=np.float32)
            labels[target] = [_label_text(lab) for lab in preds.labels]
            if getattr(preds, "raw_answers", None) is not None:
                if answers is None:
                    answers = np.full(n, "", dtype=object)
                answers[target] = preds.raw_answers
        t3 = time.perf_counter()
        stages["cut"] += t1 - t0
        stages["render"] += t2 - t1
        stages["predict"] += t3 - t2
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()

    out = table.copy(copy_data=False)
    prefix = task.id
    out[f"{prefix}_label"] = Column(labels.astype(str), description=f"{task.name}: predicted label")
    for j, lab in enumerate(task.labels):
        out[f"{prefix}_prob_{lab}"] = Column(probs[:, j], description=f"probability of {lab}")
    if answers is not None:
        out[f"{prefix}_answer"] = Column(answers.astype(str), description="raw answer of the model")
    out[f"{prefix}_flag"] = Column(flags.astype(str), description="why the row was not classified (empty: ok)")
    n_bad = int(np.sum(flags != FLAG_OK))
    if n_bad:
        log.warning("%d of %d sources could not be classified (see column %s_flag)", n_bad, n, prefix)
    out.meta["radioassist"] = _provenance(image, backend, backend_name, task, preset, cut_size, fov_note,
                                          source_label, n, n_bad, size_kwargs)
    if timings is not None:
        timings.update(stages)
        timings["total"] = time.perf_counter() - t_start
    return out


def _model_spec(backend, task):
    """What the model expects of its input (pixel scale, cutout size, preset), from the backend if it says."""
    getter = getattr(backend, "input_spec", None)
    if callable(getter):
        try:
            return dict(getter(task) or {})
        except TypeError:
            return dict(getter() or {})
    return {}


def _cutout_size(image, *, size, spec):
    """Native cutout side in pixels; matches the model's field of view when the model records one."""
    if size is not None:
        if isinstance(size, u.Quantity):
            return size, f"{size} as requested"
        return int(size), f"{int(size)} px as requested"
    scale = spec.get("pixel_scale_arcsec")
    npix = spec.get("cutout_size_pix")
    if scale and npix:
        fov = float(scale) * float(npix) * u.arcsec
        native = int(round(float((fov / image.pixel_scale).decompose())))
        native = max(native, 8)
        note = (f"{native} px = the model's field of view {fov.to_value(u.arcsec):.0f}\" "
                f"({npix} px at {float(scale):.3g}\"/px); the backend resamples it to the model's input")
        return native, note
    return DEFAULT_CUTOUT_SIZE, f"{DEFAULT_CUTOUT_SIZE} px (default)"


def _provenance(image, backend, backend_name, task, preset, cut_size, fov_note, source_label, n, n_bad,
                size_kwargs):
    describe = {}
    if hasattr(backend, "describe"):
        try:
            try:
                describe = dict(backend.describe(task))
            except TypeError:
                describe = dict(backend.describe())
        except Exception as exc:  # provenance must never break a finished run
            describe = {"describe_error": str(exc)}
    meta = {
        "radioassist_version": __version__,
        "task": task.id,
        "task_name": task.name,
        "labels": list(task.labels),
        "backend": backend_name,
        "prompt_version": describe.pop("prompt_version", None),
        "render_preset": preset,
        "cutout_size": str(cut_size),
        "cutout_size_note": fov_note,
        "pixel_scale_arcsec": round(float(image.pixel_scale.to_value(u.arcsec)), 6),
        "image": image.label,
        "catalog": source_label,
        "n_sources": int(n),
        "n_unclassified": int(n_bad),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if size_kwargs:
        meta["size_rule"] = {k: str(v) for k, v in size_kwargs.items()}
    for key, value in describe.items():
        meta.setdefault(key if key.startswith("model") or key in ("device", "dtype", "backend") else f"model_{key}",
                        _plain(value))
    return meta


def _label_text(label):
    """A predicted label as catalogue text: multi-label joined with commas, unparsed (None) as ''."""
    if label is None:
        return ""
    if isinstance(label, (tuple, list)):
        return ",".join(str(lab) for lab in label)
    return str(label)


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _progress(total, enabled, desc):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="src", leave=False)
