"""The provenance of a classify run: what ``meta['radioassist']`` of the output catalogue records."""
import time
import warnings

import numpy as np

from .exceptions import DomainWarning
from .version import __version__

__all__ = ["run_provenance", "describe_backend", "parallel_note", "warn_domain", "plain"]


def describe_backend(backend, task):
    """``backend.describe(task)`` as plain JSON-able values; a failure is recorded, never raised.

    Provenance must never break a finished run.
    """
    try:
        return plain(dict(backend.describe(task)))
    except Exception as exc:  # noqa: BLE001 - recorded in meta instead
        return {"describe_error": f"{type(exc).__name__}: {exc}"}


def parallel_note(scheduler, workers):
    """How the run was spread over dask, for ``meta['parallel']`` (None: in this process)."""
    if workers is not None:
        return f"dask.distributed LocalCluster, {workers} workers"
    if scheduler is not None:
        return "dask.distributed" + ("" if not isinstance(scheduler, str) else f" at {scheduler}")
    return None


def warn_domain(reasons_by_tile, n_tiles):
    """One `~radioassist.exceptions.DomainWarning` for the whole run; returns the reasons as meta records them."""
    records = []
    for label, reasons in reasons_by_tile:
        for reason in reasons:
            records.append(reason if n_tiles == 1 else f"{label}: {reason}")
    if records:
        shown = records if len(records) <= 5 else records[:5] + [f"... and {len(records) - 5} more"]
        warnings.warn("the mosaic lies outside the domain the model was trained on (labels may not be "
                      "trustworthy): " + "; ".join(shown), DomainWarning, stacklevel=3)
    return records


def _uniform(values):
    """The value if all are equal, else the list."""
    first = values[0]
    return first if all(v == first for v in values) else list(values)


def run_provenance(infos, *, backend_name, task, source_label, n, n_bad, size_rule, tiles, pixel_scales,
                   parallel, n_partitions, chunk_size, restored):
    """The ``meta['radioassist']`` record of a run, from the partitions' infos.

    Parameters
    ----------
    infos : list of dict
        :func:`radioassist._partition.partition_info` of each partition.
    backend_name : str
    task : `~radioassist.tasks.Task`
    source_label : str
        Where the catalogue came from.
    n, n_bad : int
        Rows, and rows not classified.
    size_rule : dict
        The size rule, if any.
    tiles : list of str or None
        Tile names of a survey run (None: one mosaic).
    pixel_scales : list of float
        Pixel scale (arcsec) of each tile.
    parallel : str or None
        :func:`parallel_note`.
    n_partitions, chunk_size, restored : int
    """
    describe = dict(infos[-1].get("describe") or {})
    by_tile = {}
    for info in infos:
        by_tile.setdefault(info["tile"], info)
    per_tile = list(by_tile.values())
    meta = {
        "radioassist_version": __version__,
        "task": task.id,
        "task_name": task.name,
        "labels": list(task.labels),
        "backend": backend_name,
        "prompt_version": describe.pop("prompt_version", None),
        "render_preset": _uniform([i["render_preset"] for i in per_tile]),
        "cutout_size": _uniform([i["cutout_size"] for i in per_tile]),
        "cutout_size_note": _uniform([i["cutout_size_note"] for i in per_tile]),
        "cut_on_model_grid": all(i.get("model_grid", False) for i in per_tile),
        "pixel_scale_arcsec": (_uniform([i["pixel_scale_arcsec"] for i in per_tile]) if tiles is None else
                               _uniform([round(float(s), 6) for s in pixel_scales])),
        "image": per_tile[0]["tile"] if tiles is None else list(tiles),
        "catalog": source_label,
        "n_sources": int(n),
        "n_unclassified": int(n_bad),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if tiles is not None:
        meta["n_tiles"] = len(tiles)
        meta["tile_assignment"] = ("each row in the tile where it lies farthest from the edge and from blank "
                                   "(NaN) areas; coverage sampled on a coarse grid")
    if parallel is not None:
        meta["parallel"] = parallel
    if n_partitions > 1 or parallel is not None:
        meta["partitions"] = int(n_partitions)
        meta["chunk_size"] = int(chunk_size)
    if restored:
        meta["rows_resumed"] = int(restored)
    if size_rule:
        meta["size_rule"] = {k: str(v) for k, v in size_rule.items()}
    for key, value in describe.items():
        meta.setdefault(key if key.startswith("model") or key in ("device", "dtype", "backend") else f"model_{key}",
                        plain(value))
    return meta


def plain(value):
    """``value`` with numpy scalars, tuples and str subclasses made plain Python (YAML/JSON-safe)."""
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's version string) do not serialise to YAML
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)
