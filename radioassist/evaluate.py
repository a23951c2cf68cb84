"""Evaluate classifiers on labelled radio images, honestly.

:func:`evaluate` runs one or more backends/models on labelled data (a
radio-llava datalist, a labelled image folder or CSV manifest, or a mosaic
with a labelled catalogue; see `radioassist.training.load_dataset`) for one or
more tasks, on the held-out split, and returns an :class:`EvaluationResult`:
a summary table (one row per model and task: macro F1 with a bootstrap
confidence interval, weighted F1, accuracy, number of images, unparsed
rate), the per-image predictions and the full
`~radioassist.metrics.ClassificationReport` of every run, with writers for
ECSV, Markdown, JSON and PNG figures (confusion matrices and a grouped bar
chart of macro F1 in the style of the radio-llava paper).

Unparsed answers of generative backends are kept and counted as wrong (see
`radioassist.metrics`); the rate is reported for every run.

Models are given as *model specs*:

* ``'vision'``: a backend with its default model (for ``vision``, the model
  shipped for each task);
* ``'vision=path/to/checkpoint'``: a backend and a model (folder or hub id);
* ``'llava=/path/tiny,mode=generate,name=tiny-gen'``: backend options after
  commas (values read as JSON when they parse: numbers, ``true``, ``null``),
  ``name=`` sets the name shown in tables and figures;
* a plain model path or hub id, when a single backend is given in ``backends``;
* a dict ``{'backend': 'llava', 'model': '...', 'name': '...', 'options': {...}}``
  (other keys are options too), or a `~radioassist.backends.Backend` instance.
"""
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._parameters import as_batch_size
from .exceptions import BackendError, InputError, ModelError, RadioassistWarning
from .logger import log
from .metrics import bootstrap_interval, classification_report, expected_calibration_error, reliability_curve
from .tasks import get_task

__all__ = ["evaluate", "EvaluationResult", "ModelSpec", "parse_model_spec", "SPLITS"]

#: Accepted values of ``split=`` (and their meaning).
SPLITS = {"test": "test", "testing": "test", "valid": "valid", "val": "valid", "validation": "valid",
          "train": "train", "training": "train", "all": "all"}

_SPEC_KEYS = ("backend", "model", "name", "options")


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate: a backend, a model for it, its options and a display name.

    Attributes
    ----------
    name : str
        Name shown in tables, figures and file names.
    backend : str or `~radioassist.backends.Backend`
        Registry name of the backend, or a ready backend instance.
    model : str or None
        Model (folder or hub id); ``None`` for the backend's default.
    options : dict
        Extra backend options.
    """

    name: str
    backend: object
    model: str = None
    options: dict = field(default_factory=dict)


def _value(text):
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _default_name(backend, model):
    if model is None:
        return str(backend)
    text = str(model).rstrip("/\\")
    short = Path(text).name if (Path(text).exists() or text.count("/") != 1) else text
    return f"{backend}:{short or text}"


def parse_model_spec(spec, *, default_backend=None):
    """Turn a model spec (string, dict, Backend or ModelSpec) into a :class:`ModelSpec`.

    Parameters
    ----------
    spec : str, dict, `~radioassist.backends.Backend` or `ModelSpec`
        See the module documentation: ``'BACKEND'``, ``'BACKEND=MODEL'``,
        ``'BACKEND=MODEL,OPTION=VALUE,...,name=NAME'``, a plain model path
        (with ``default_backend``), a dict or a backend instance.
    default_backend : str, optional
        Backend of a spec that names only a model.

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> from radioassist.evaluate import parse_model_spec
    >>> parse_model_spec('vision')
    ModelSpec(name='vision', backend='vision', model=None, options={})
    >>> parse_model_spec('vision=/models/b1,threshold=0.3,name=b1-low')
    ModelSpec(name='b1-low', backend='vision', model='/models/b1', options={'threshold': 0.3})
    """
    from .backends import Backend, available_backends
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, Backend):
        return ModelSpec(name=_default_name(spec.name or type(spec).__name__, spec.model), backend=spec,
                         model=None if spec.model is None else str(spec.model))
    if isinstance(spec, dict):
        extra = {k: v for k, v in spec.items() if k not in _SPEC_KEYS}
        backend = spec.get("backend", default_backend)
        if backend is None:
            msg = f"model spec {spec!r} names no backend; add 'backend': 'vision' (or another backend)"
            raise InputError(msg)
        if isinstance(backend, Backend):
            return ModelSpec(name=spec.get("name") or parse_model_spec(backend).name, backend=backend,
                             model=backend.model)
        model = spec.get("model")
        options = {**dict(spec.get("options") or {}), **extra}
        name = spec.get("name") or _default_name(backend, model)
        return ModelSpec(name=str(name), backend=str(backend).strip().lower(),
                         model=None if model is None else str(model), options=options)
    if hasattr(spec, "__fspath__"):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        msg = f"a model spec is a string such as 'vision' or 'vision=path/to/model', a dict or a Backend; got {spec!r}"
        raise InputError(msg)
    head, *rest = spec.split(",")
    options = {}
    for item in rest:
        if "=" not in item:
            msg = (f"backend options in model spec {spec!r} look like OPTION=VALUE after a comma, got {item!r} "
                   "(model paths with commas need the dict form)")
            raise InputError(msg)
        key, value = item.split("=", 1)
        options[key.strip()] = _value(value)
    name = options.pop("name", None)
    known = available_backends()
    head = head.strip()
    backend, model = None, None
    if "=" in head:
        backend, model = (part.strip() for part in head.split("=", 1))
        model = model or None
    elif ":" in head and head.split(":", 1)[0].strip().lower() in known:
        backend, model = (part.strip() for part in head.split(":", 1))
        model = model or None
    elif head.lower() in known:
        backend = head
    elif default_backend is not None:
        backend, model = default_backend, head
    else:
        msg = (f"model spec {spec!r} names no known backend ({', '.join(known)}); write BACKEND=MODEL, "
               "e.g. vision=path/to/checkpoint")
        raise InputError(msg)
    backend = backend.lower()
    if backend not in known:
        msg = f"unknown backend {backend!r} in model spec {spec!r}; available backends: {', '.join(known)}"
        raise InputError(msg)
    return ModelSpec(name=str(name) if name is not None else _default_name(backend, model), backend=backend,
                     model=model, options=options)


def _specs(backends, models):
    if isinstance(backends, str) or not hasattr(backends, "__iter__"):
        backends = [backends]
    backends = list(backends)
    if models is None:
        raw = backends
        default = None
    else:
        if isinstance(models, (str, dict)) or hasattr(models, "__fspath__") or not hasattr(models, "__iter__"):
            models = [models]
        raw = list(models)
        names = [b for b in backends if isinstance(b, str)]
        default = names[0] if len(names) == 1 and len(backends) == 1 else None
    if not raw:
        msg = "nothing to evaluate: give at least one backend or model"
        raise InputError(msg)
    specs = [parse_model_spec(spec, default_backend=default) for spec in raw]
    seen = {}
    out = []
    for spec in specs:
        name = spec.name
        if name in seen:
            seen[name] += 1
            name = f"{name}-{seen[spec.name]}"
        else:
            seen[name] = 1
        out.append(spec if name == spec.name else ModelSpec(name, spec.backend, spec.model, spec.options))
    return out


def _per_key(options, key, universe):
    """``options`` if it is one dict of settings, or its entry for ``key`` if it is a dict keyed by ``universe``."""
    options = dict(options or {})
    names = {str(k).upper() for k in universe}
    if options and all(isinstance(v, dict) for v in options.values()) and {str(k).upper() for k in options} <= names:
        lowered = {str(k).upper(): v for k, v in options.items()}
        return dict(lowered.get(str(key).upper(), {}))
    return options


def _select_split(data, split, task):
    if split is None:
        return data, "all"
    key = str(split).strip().lower()
    if key not in SPLITS:
        msg = f"split must be one of test, valid, train or all, got {split!r}"
        raise InputError(msg)
    wanted = SPLITS[key]
    if wanted == "all":
        return data, "all"
    splits = np.asarray(data.splits)
    if not np.any(splits != ""):
        warnings.warn(f"the {task.id} data ({data.source}) has no train/valid/test split: evaluating all "
                      f"{len(data)} images, not just {wanted!r}; give a split column to hold images out",
                      RadioassistWarning)
        return data, "all (no split in the data)"
    mask = splits == wanted
    if not mask.any():
        counts = {s or "none": int(np.sum(splits == s)) for s in np.unique(splits)}
        msg = (f"no image of the {task.id} data is in split {wanted!r} (splits: "
               f"{', '.join(f'{k} {v}' for k, v in counts.items())}); choose another split or split='all'")
        raise InputError(msg)
    return data.subset(mask), wanted


def _load(data, task, options, progress):
    from .training.datasets import LabelledImages, load_dataset
    if isinstance(data, LabelledImages):
        if data.task.id != task.id:
            msg = f"the labelled images are for task {data.task.id}, not {task.id}"
            raise InputError(msg)
        return data
    return load_dataset(data, task=task, progress=progress, **options)


def _label_text(task, value):
    if task.multilabel:
        value = np.asarray(value, dtype=bool)
        return ",".join(label for label, on in zip(task.labels, value) if on) or task.none_label
    return task.labels[int(value)]


def _predicted_text(task, label):
    if label is None:
        return ""
    if task.multilabel:
        return ",".join(label) or task.none_label
    return label


def _describe(backend, task):
    return json.loads(json.dumps(backend.describe(task), default=str))


def _check_input_spec(backend, name, task, data):
    """Warn when the images differ from what the model was trained on (pixel scale, cutout size)."""
    spec = backend.input_spec(task)
    pairs = (("pixel_scale_arcsec", data.pixel_scale_arcsec, "pixel scale", "arcsec"),
             ("cutout_size_pix", data.cutout_size_pix, "cutout size", "pixels"))
    for key, have, what, unit in pairs:
        want = spec.get(key)
        if want is None or have is None:
            continue
        if abs(float(have) - float(want)) > 0.05 * float(want):
            warnings.warn(f"{name} was trained on images with a {what} of {float(want):g} {unit}, but the {task.id} "
                          f"images have {float(have):g} {unit}: the metrics measure the model out of its domain",
                          RadioassistWarning)


def _run(backend, images, task, batch_size, progress, desc):
    from .backends import Predictions
    parts = []
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        parts.append(backend.predict(images[start:start + batch_size], task))
    predictions = Predictions.concatenate(parts, task=task)
    if len(predictions) != len(images):
        msg = f"backend {backend.name!r} returned {len(predictions)} answers for {len(images)} images"
        raise BackendError(msg)
    if predictions.task.id != task.id:
        msg = f"backend {backend.name!r} answered task {predictions.task.id} instead of {task.id}"
        raise BackendError(msg)
    return predictions


def evaluate(data, *, tasks=None, backends=("vision",), models=None, split="test", batch_size=64, device="cpu",
             output_dir=None, overwrite=False, progress=False, dataset_options=None, backend_options=None,
             n_bootstrap=1000, confidence=0.95, seed=0):
    """Evaluate one or more models on labelled images, for one or more tasks.

    Parameters
    ----------
    data : str, path-like, `~radioassist.training.LabelledImages` or dict
        Labelled images: a radio-llava datalist ``.json``, a folder of images
        (labelled by sub-folder, manifest or file-name pattern), a CSV
        manifest, or a mosaic (with ``dataset_options={'catalog': ...,
        'label_column': ...}``).  See `radioassist.training.load_dataset`.
        A dict maps task ids to such data, one source per task (as the
        radio-llava benchmark has one datalist per task).
    tasks : str or sequence of str, optional
        Task ids: ``'B6'`` by default, or the keys of a dict ``data``.
    backends : str or sequence, optional
        Backends evaluated with their default model when ``models`` is not
        given (``'vision'``: the model shipped for each task).  With ``models``,
        a single backend name here is the backend of model specs that name
        only a model.
    models : sequence of model specs, optional
        What to evaluate (see the module documentation): ``'vision=ckpt'``,
        ``'llava=/path,mode=generate'``, dicts or Backend instances.
    split : str, optional
        ``'test'`` (default), ``'valid'``, ``'train'`` or ``'all'``.  Data without
        any split information is evaluated whole, with a warning.
    batch_size : int, optional
        Images per call to a backend (also given to backends as ``batch_size``).
    device : str, optional
        Torch device for the backends.
    output_dir : str or path-like, optional
        Also write the results there (see :meth:`EvaluationResult.write`).
    overwrite : bool, optional
        Allow writing into a non-empty ``output_dir``.
    progress : bool, optional
        Show progress bars.
    dataset_options : dict, optional
        Keyword arguments of `~radioassist.training.load_dataset` (``manifest``,
        ``label_from_filename``, ``label_map``, ``file_column``, ``label_column``,
        ``split_column``, ``catalog``, ``cutout_size``...), or a dict of such
        dicts keyed by task id.
    backend_options : dict, optional
        Options given to every backend (``dtype``, ``mode``...), or a dict of such
        dicts keyed by backend name.  Options in a model spec take precedence.
    n_bootstrap : int, optional
        Bootstrap resamples for the confidence interval of the macro F1 (0: none).
    confidence : float, optional
        Coverage of that interval.
    seed : int, optional
        Seed of the bootstrap.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    InputError
        Bad data, split, spec or options.
    ModelError
        If no model could answer any of the tasks.

    Examples
    --------
    >>> from radioassist.evaluate import evaluate
    >>> result = evaluate('../shared/data/frdeep_v2', tasks='B6',
    ...                   dataset_options={'manifest': 'frdeep_v2_manifest.csv', 'file_column': 'file_first',
    ...                                    'label_from_filename': r'_(I|II)\\.fits$',
    ...                                    'label_map': 'I=FR-I,II=FR-II'})  # doctest: +SKIP
    >>> print(result.to_markdown())  # doctest: +SKIP
    """
    from .backends import Backend, available_backends, get_backend
    from .tasks import available_tasks
    from .version import __version__

    sources = None
    if isinstance(data, dict):
        sources = {get_task(key).id: value for key, value in data.items()}
        if tasks is None:
            tasks = list(sources)
    elif tasks is None:
        tasks = ("B6",)
    if isinstance(tasks, str) or not hasattr(tasks, "__iter__"):
        tasks = [tasks]
    task_list = list(dict.fromkeys(get_task(t) for t in tasks))
    if not task_list:
        msg = "tasks is empty: give at least one task id such as 'B6'"
        raise InputError(msg)
    batch_size = as_batch_size(batch_size)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        msg = f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}"
        raise InputError(msg)
    specs = _specs(backends, models)
    task_ids = [t.id for t in task_list]
    if sources is not None:
        missing = [t for t in task_ids if t not in sources]
        if missing:
            msg = (f"no data for task(s) {', '.join(missing)}: the data dict has tasks "
                   f"{', '.join(sources) or 'none'}")
            raise InputError(msg)

    datasets = {}
    for task in task_list:
        options = _per_key(dataset_options, task.id, set(available_tasks()) | set(task_ids))
        full = _load(data if sources is None else sources[task.id], task, options, progress)
        subset, used = _select_split(full, split, task)
        datasets[task.id] = (subset, used)
        log.info("%s: %d %s images (%s) from %s", task.id, len(subset), used,
                 ", ".join(f"{k} {v}" for k, v in subset.counts().items()), subset.source)

    reports, intervals, rows, skipped, provenance = {}, {}, [], [], {}
    columns = {t: [] for t in task_ids}
    for spec in specs:
        if isinstance(spec.backend, Backend):
            backend = spec.backend
        else:
            options = {**_per_key(backend_options, spec.backend, available_backends()), **spec.options}
            options.setdefault("device", device)
            options.setdefault("batch_size", int(batch_size))
            backend = get_backend(spec.backend, model=spec.model, **options)
        provenance[spec.name] = {"backend": backend.name, "model": spec.model,
                                 "options": json.loads(json.dumps(spec.options, default=str)), "tasks": {}}
        for task in task_list:
            subset, used = datasets[task.id]
            try:
                backend.check_task(task)
            except ModelError as exc:
                reason = " ".join(str(exc).split())
                warnings.warn(f"skipping {spec.name} on task {task.id}: {reason}", RadioassistWarning)
                skipped.append({"model": spec.name, "task": task.id, "reason": reason})
                continue
            _check_input_spec(backend, spec.name, task, subset)
            start = time.perf_counter()
            predictions = _run(backend, subset.rgb(), task, int(batch_size), progress, f"{spec.name} {task.id}")
            seconds = time.perf_counter() - start
            report = classification_report(subset.targets, predictions, labels=task)
            if n_bootstrap:
                low, high = bootstrap_interval(subset.targets, predictions, labels=task, n_resamples=int(n_bootstrap),
                                               confidence=confidence, seed=seed)
            else:
                low = high = float("nan")
            ece, mean_conf = _calibration(task, subset.targets, predictions.probabilities)
            reports[(spec.name, task.id)] = report
            intervals[(spec.name, task.id)] = (low, high)
            provenance[spec.name]["tasks"][task.id] = _describe(backend, task)
            rows.append({"model": spec.name, "backend": backend.name, "task": task.id, "split": used,
                         "n": report.n, "macro_f1": report.macro_f1, "macro_f1_low": low, "macro_f1_high": high,
                         "weighted_f1": report.weighted_f1, "accuracy": report.accuracy,
                         "ece": ece, "mean_confidence": mean_conf,
                         "n_unparsed": report.n_unparsed, "unparsed_rate": report.unparsed_rate,
                         "hamming_loss": np.nan if report.hamming_loss is None else report.hamming_loss,
                         "seconds": seconds, "images_per_s": report.n / seconds if seconds > 0 else np.nan})
            columns[task.id].append((spec.name, subset, predictions))
            log.info("%s on %s: macro F1 %.3f [%.3f, %.3f], accuracy %.3f, %d/%d unparsed (%.1f s)", spec.name,
                     task.id, report.macro_f1, low, high, report.accuracy, report.n_unparsed, report.n, seconds)
    if not rows:
        reasons = "; ".join(f"{s['model']} on {s['task']}: {s['reason']}" for s in skipped)
        msg = f"no model could answer any of the tasks: {reasons}"
        raise ModelError(msg)

    meta = {"radioassist_version": __version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "data": _data_text(data),
            "split": str(split), "tasks": task_ids, "n_bootstrap": int(n_bootstrap), "confidence": float(confidence),
            "bootstrap_seed": int(seed),
            "datasets": {t: {"source": d.source, "split": used, "n": len(d), "counts": d.counts(),
                             "pixel_scale_arcsec": d.pixel_scale_arcsec, "beam_arcsec": d.beam_arcsec,
                             "render_preset": d.render_preset, "notes": list(d.notes)}
                         for t, (d, used) in datasets.items()},
            "models": provenance, "skipped": skipped,
            "unparsed_rule": "unparsed answers are kept and counted as wrong (radioassist.metrics)"}
    result = EvaluationResult(summary=_summary_table(rows, meta), predictions=_prediction_tables(columns),
                              reports=reports, meta=meta)
    if output_dir is not None:
        result.write(output_dir, overwrite=overwrite)
    return result


def _calibration(task, targets, probabilities):
    """(15-bin expected calibration error, mean confidence) of a single-label run; nan for multi-label tasks."""
    if task.multilabel:
        return float("nan"), float("nan")
    probabilities = np.asarray(probabilities, dtype=float)
    ok = np.all(np.isfinite(probabilities), axis=1)
    if not ok.any():
        return float("nan"), float("nan")
    targets = np.asarray(targets, dtype=int)[ok]
    return (expected_calibration_error(probabilities[ok], targets),
            float(np.mean(probabilities[ok].max(axis=1))))


def _data_text(data):
    if isinstance(data, dict):
        return {get_task(k).id: _data_text(v) for k, v in data.items()}
    return data.source if hasattr(data, "source") else str(data)


def _summary_table(rows, meta):
    from astropy.table import Table
    names = ["model", "backend", "task", "split", "n", "macro_f1", "macro_f1_low", "macro_f1_high", "weighted_f1",
             "accuracy", "ece", "mean_confidence", "n_unparsed", "unparsed_rate", "hamming_loss", "seconds",
             "images_per_s"]
    if all(np.isnan(r["hamming_loss"]) for r in rows):
        names.remove("hamming_loss")
    if all(np.isnan(r["ece"]) for r in rows):
        names.remove("ece")
        names.remove("mean_confidence")
    table = Table(rows=[[r[n] for n in names] for r in rows], names=names)
    descriptions = {
        "macro_f1": "F1 averaged over classes (headline)",
        "macro_f1_low": f"lower bound of the {100 * meta['confidence']:g}% bootstrap interval of macro_f1",
        "macro_f1_high": f"upper bound of the {100 * meta['confidence']:g}% bootstrap interval of macro_f1",
        "weighted_f1": "F1 averaged over classes weighted by support (upstream's number)",
        "accuracy": "fraction of exactly right answers (exact-match ratio for multi-label tasks)",
        "ece": "expected calibration error (15 equal-width confidence bins; single-label tasks)",
        "mean_confidence": "mean probability of the predicted class",
        "n_unparsed": "answers that named no label (counted as wrong)",
        "hamming_loss": "fraction of wrong image-label decisions (multi-label tasks)",
        "seconds": "wall time of the predictions",
    }
    for name, text in descriptions.items():
        if name in table.colnames:
            table[name].description = text
    for name in ("macro_f1", "macro_f1_low", "macro_f1_high", "weighted_f1", "accuracy", "ece", "mean_confidence",
                 "unparsed_rate", "hamming_loss"):
        if name in table.colnames:
            table[name].format = ".4f"
    table["seconds"].format = ".2f"
    table["images_per_s"].format = ".1f"
    table.meta.update(meta)
    return table


def _prediction_tables(columns):
    from astropy.table import Table, vstack
    tables = {}
    for task_id, runs in columns.items():
        if not runs:
            continue
        task = get_task(task_id)
        parts = []
        generative = any(p.raw_answers is not None for _, _, p in runs)
        for name, subset, predictions in runs:
            n = len(subset)
            true = [_label_text(task, t) for t in subset.targets]
            predicted = [_predicted_text(task, lab) for lab in predictions.labels]
            cols = {"model": [name] * n, "file": list(subset.files), "split": list(subset.splits), "true": true,
                    "predicted": predicted,
                    "correct": np.array([p == t for p, t in zip(predicted, true)], dtype=bool),
                    "unparsed": np.array([lab is None for lab in predictions.labels], dtype=bool)}
            for j, label in enumerate(task.labels):
                cols[f"prob_{label}"] = predictions.probabilities[:, j].astype(np.float32)
            if generative:
                raw = predictions.raw_answers or [None] * n
                cols["answer"] = ["" if a is None else a for a in raw]
            parts.append(Table(cols))
        table = vstack(parts, metadata_conflicts="silent") if len(parts) > 1 else parts[0]
        for name in table.colnames:
            if name.startswith("prob_"):
                table[name].format = ".4f"
        table.meta.update({"task": task.id, "labels": list(task.labels), "multilabel": task.multilabel})
        tables[task_id] = table
    return tables


def _output_folder(folder, *, overwrite):
    """Check and create a results folder: an error when it is a file, or not empty without ``overwrite``.

    Parameters
    ----------
    folder : str or path-like
    overwrite : bool
        Write into a folder that is not empty (files of the same names are replaced).

    Returns
    -------
    `pathlib.Path`
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        msg = f"output {folder} exists and is not a folder"
        raise InputError(msg)
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        msg = f"output folder {folder} is not empty; choose another folder or pass overwrite=True (--overwrite)"
        raise InputError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_results(folder, contents, *, overwrite):
    """Write a results folder: each ``name -> content`` as ECSV (a Table) or UTF-8 text (a str).

    The folder is checked by :func:`_output_folder` first.  Returns the folder
    and the list of paths written, in order.
    """
    folder = _output_folder(folder, overwrite=overwrite)
    written = []
    for name, content in contents.items():
        path = folder / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            content.write(path, format="ascii.ecsv", overwrite=True)
        written.append(path)
    return folder, written


def _safe(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "model"


def _fmt(value, spec=".3f"):
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


@dataclass(kw_only=True, eq=False, repr=False)
class EvaluationResult:
    """What :func:`evaluate` measured.

    Attributes
    ----------
    summary : `~astropy.table.Table`
        One row per model and task: ``model``, ``backend``, ``task``, ``split``,
        ``n``, ``macro_f1`` (with ``macro_f1_low``/``macro_f1_high``, the
        bootstrap interval), ``weighted_f1``, ``accuracy``, ``ece`` (expected
        calibration error) and ``mean_confidence`` (single-label tasks), ``n_unparsed``,
        ``unparsed_rate``, ``hamming_loss`` (multi-label tasks only),
        ``seconds`` and ``images_per_s``.  ``meta`` records the data, split,
        package version, and every model's provenance (path, weight hash...).
    predictions : dict of `~astropy.table.Table`
        Per task id: one row per model and image (``model``, ``file``,
        ``split``, ``true``, ``predicted`` (empty when unparsed), ``correct``,
        ``unparsed``, ``prob_<LABEL>`` per class and, for generative backends,
        the raw ``answer``).
    reports : dict
        ``(model name, task id)`` -> `~radioassist.metrics.ClassificationReport`.
    meta : dict
        The provenance also stored in ``summary.meta``.
    """

    summary: object
    predictions: dict
    reports: dict
    meta: dict

    def __repr__(self):
        return (f"<EvaluationResult {len(self.summary)} run(s): models {', '.join(self.models)}; "
                f"tasks {', '.join(self.tasks)}>")

    @property
    def models(self):
        """Names of the evaluated models, in order."""
        return list(dict.fromkeys(str(m) for m in self.summary["model"]))

    @property
    def tasks(self):
        """Ids of the evaluated tasks, in order."""
        return list(dict.fromkeys(str(t) for t in self.summary["task"]))

    def report(self, model, task):
        """The `~radioassist.metrics.ClassificationReport` of one model on one task."""
        task_id = get_task(task).id
        try:
            return self.reports[(str(model), task_id)]
        except KeyError:
            msg = f"no result for model {model!r} on task {task_id}; results: {sorted(self.reports)}"
            raise InputError(msg) from None

    @classmethod
    def read(cls, folder):
        """Read results written by :meth:`write` (to re-plot or compare them).

        The reports are recomputed from the ``predictions_<TASK>.ecsv`` tables.

        Parameters
        ----------
        folder : str or path-like

        Returns
        -------
        EvaluationResult
        """
        from astropy.table import Table
        folder = Path(folder)
        path = folder / "summary.ecsv"
        if not path.is_file():
            msg = f"{folder} holds no summary.ecsv; it is not a folder written by EvaluationResult.write"
            raise InputError(msg)
        summary = Table.read(path, format="ascii.ecsv")
        predictions, reports = {}, {}
        for task_id in dict.fromkeys(str(t) for t in summary["task"]):
            table = Table.read(folder / f"predictions_{_safe(task_id)}.ecsv", format="ascii.ecsv")
            predictions[task_id] = table
            for model in dict.fromkeys(str(m) for m in table["model"]):
                rows = table[table["model"] == model]
                reports[(model, task_id)] = classification_report(
                    [str(v) for v in rows["true"]], [str(v) for v in rows["predicted"]], labels=task_id,
                    unparsed=np.asarray(rows["unparsed"], dtype=bool))
        return cls(summary=summary, predictions=predictions, reports=reports, meta=dict(summary.meta))

    def to_markdown(self, *, details=False):
        """The summary as a Markdown table; with ``details``, per-class metrics and confusion matrices too."""
        conf = self.meta.get("confidence", 0.95)
        has_ci = "macro_f1_low" in self.summary.colnames and not np.all(np.isnan(self.summary["macro_f1_low"]))
        multi = "hamming_loss" in self.summary.colnames
        calibrated = "ece" in self.summary.colnames
        head = ["model", "task", "split", "n", f"macro F1 [{100 * conf:g}% CI]" if has_ci else "macro F1",
                "weighted F1", "accuracy"] + (["ECE"] if calibrated else []) + ["unparsed"] + (
                    ["Hamming loss"] if multi else [])
        lines = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
        for row in self.summary:
            f1 = _fmt(float(row["macro_f1"]))
            if has_ci:
                f1 += f" [{_fmt(float(row['macro_f1_low']))}, {_fmt(float(row['macro_f1_high']))}]"
            cells = [str(row["model"]), str(row["task"]), str(row["split"]), str(row["n"]), f1,
                     _fmt(float(row["weighted_f1"])), _fmt(float(row["accuracy"]))]
            if calibrated:
                cells.append(_fmt(float(row["ece"])))
            cells.append(f"{row['n_unparsed']} ({100 * float(row['unparsed_rate']):.1f}%)")
            if multi:
                cells.append(_fmt(float(row["hamming_loss"])))
            lines.append("| " + " | ".join(cells) + " |")
        if details:
            for (model, task), report in self.reports.items():
                lines += ["", f"### {model} on {task}", "", report.to_markdown()]
        skipped = self.meta.get("skipped") or []
        if skipped:
            lines += [""] + [f"Skipped: {s['model']} on {s['task']} ({s['reason']})" for s in skipped]
        return "\n".join(lines)

    def plot_confusion_matrix(self, model, task, **kwargs):
        """Figure of the confusion matrix of one run (see `radioassist.plotting.plot_confusion_matrix`)."""
        from .plotting import plot_confusion_matrix
        report = self.report(model, task)
        task_id = get_task(task).id
        kwargs.setdefault("title", f"{model} on {task_id} ({self.meta['datasets'][task_id]['split']})")
        return plot_confusion_matrix(report, **kwargs)

    def reliability(self, model, task, *, n_bins=15):
        """Reliability curve of one single-label run (see `radioassist.metrics.reliability_curve`), or None.

        Computed from the ``prob_<LABEL>`` columns of :attr:`predictions`
        (rows with unparsed answers left out).
        """
        task = get_task(task)
        table = self.predictions.get(task.id)
        if task.multilabel or table is None:
            return None
        rows = table[table["model"] == str(model)]
        if len(rows) == 0:
            return None
        probs = np.stack([np.asarray(rows[f"prob_{label}"], dtype=float) for label in task.labels], axis=1)
        truth = np.array([task.labels.index(str(t)) for t in rows["true"]])
        ok = np.all(np.isfinite(probs), axis=1)
        if not ok.any():
            return None
        return reliability_curve(probs[ok], truth[ok], n_bins=n_bins)

    def plot_reliability(self, model, task, **kwargs):
        """Reliability diagram of one single-label run (see `radioassist.plotting.plot_reliability_diagram`)."""
        from .plotting import plot_reliability_diagram
        curve = self.reliability(model, task)
        if curve is None:
            msg = f"no class probabilities of {model!r} on task {get_task(task).id} to draw a reliability diagram"
            raise InputError(msg)
        kwargs.setdefault("title", f"{model} on {get_task(task).id}")
        return plot_reliability_diagram(curve, **kwargs)

    def plot_comparison(self, *, metric="macro_f1", **kwargs):
        """Grouped bar chart of a metric per task and model (see `radioassist.plotting.plot_metric_comparison`)."""
        from .plotting import plot_metric_comparison
        return plot_metric_comparison(self.summary, metric=metric, **kwargs)

    def write(self, folder, *, overwrite=False, figures=True, dpi=120):
        """Write the results into a folder.

        Files: ``summary.ecsv`` (with provenance in its header), ``summary.md``
        (the summary, then per-class metrics and confusion matrices of every
        run), ``metrics.json`` (every report and the provenance),
        ``predictions_<TASK>.ecsv`` and, when matplotlib is installed and
        ``figures`` is true, ``confusion_<MODEL>_<TASK>.png`` and (single-label
        tasks) ``reliability_<MODEL>_<TASK>.png`` per run and
        ``macro_f1.png`` comparing the models on every task.

        Parameters
        ----------
        folder : str or path-like
            Created if needed.
        overwrite : bool, optional
            Write into a folder that is not empty (files of the same names are replaced).
        figures : bool, optional
            Write the PNG figures (skipped with a warning if matplotlib is missing).
        dpi : int, optional
            Resolution of the figures.

        Returns
        -------
        list of `pathlib.Path`
            The files written.
        """
        data = self.meta.get("data")
        if isinstance(data, dict):
            data = "; ".join(f"{task}: {source}" for task, source in data.items())
        metrics = {"meta": self.meta,
                   "runs": [{"model": m, "task": t, "macro_f1_interval": list(self._interval(m, t)),
                             **r.to_dict()} for (m, t), r in self.reports.items()]}
        folder, written = _write_results(folder, {
            "summary.ecsv": self.summary,
            "summary.md": f"# Evaluation on {data}\n\n" + self.to_markdown(details=True) + "\n",
            "metrics.json": json.dumps(metrics, indent=1, default=str) + "\n",
            **{f"predictions_{_safe(task_id)}.ecsv": table for task_id, table in self.predictions.items()},
        }, overwrite=overwrite)
        if figures:
            written += self._write_figures(folder, dpi)
        log.info("evaluation results written to %s (%d files)", folder, len(written))
        return written

    def _interval(self, model, task):
        for row in self.summary:
            if row["model"] == model and row["task"] == task:
                return float(row["macro_f1_low"]), float(row["macro_f1_high"])
        return float("nan"), float("nan")

    def _write_figures(self, folder, dpi):
        try:
            from ._optional_deps import require
            require("matplotlib", purpose="evaluation figures")
        except ImportError as exc:
            warnings.warn(f"figures not written: {exc}", RadioassistWarning)
            return []
        written = []
        for model, task in self.reports:
            fig = self.plot_confusion_matrix(model, task)
            path = folder / f"confusion_{_safe(model)}_{_safe(task)}.png"
            fig.savefig(path, dpi=dpi)
            written.append(path)
            if self.reliability(model, task) is not None:
                fig = self.plot_reliability(model, task)
                path = folder / f"reliability_{_safe(model)}_{_safe(task)}.png"
                fig.savefig(path, dpi=dpi)
                written.append(path)
        title = f"{self.meta['split']} split"
        if self.meta.get("n_bootstrap"):
            title += f"; error bars: {100 * self.meta.get('confidence', 0.95):g}% bootstrap interval"
        fig = self.plot_comparison(title=title)
        path = folder / "macro_f1.png"
        fig.savefig(path, dpi=dpi)
        written.append(path)
        return written
