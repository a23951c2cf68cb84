"""Classify every source of a catalogue in a mosaic (or a survey of mosaics): cut -> render -> predict -> columns.

:func:`classify` streams the catalogue through the pipeline in batches, so
memory stays bounded for 10^5 sources, and returns the catalogue with new
columns (labels, one probability per class, a flag for rows that could not be
classified and why) and the provenance of the result in ``meta``.

Given a list of mosaics (the tiles of a survey), each catalogue row is
classified in exactly one tile, the one where it lies farthest from the edge
and from blank areas (:mod:`radioassist.tiles`).  The work is cut into
partitions (a tile, big tiles split into catalogue chunks) that run in this
process or on dask.distributed (``scheduler=``/``workers=``,
:mod:`radioassist.parallel`) with identical results, and that can be saved as
they finish so that an interrupted run resumes where it stopped
(``checkpoint=``/``resume=``, :mod:`radioassist.resume`).
"""
import os
import time
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Column, Table

from .catalog import read_catalog
from .cutouts import _parse_size as _cutout_pixels
from .cutouts import extract_cutouts
from .domain import check_domain, model_domain, model_grid, to_model_grid
from .exceptions import DomainWarning, InputError
from .image import RadioImage, load_image
from .logger import log
from .render import render
from .tasks import get_task
from .version import __version__

__all__ = ["classify", "classify_survey", "FLAG_OK", "FLAG_OUTSIDE", "FLAG_BLANK", "FLAG_PARTIAL",
           "FLAG_POSITION", "FLAG_NO_TILE", "FLAG_UNPARSED", "FLAG_ERROR", "FLAGS", "DEFAULT_MIN_COVERAGE",
           "flag_counts"]

#: Values of the ``<task>_flag`` column (their meanings: :data:`FLAGS`).
FLAG_OK = ""
FLAG_POSITION = "bad_position"
FLAG_NO_TILE = "no_tile"
FLAG_OUTSIDE = "outside"
FLAG_BLANK = "blank"
FLAG_PARTIAL = "partial"
FLAG_UNPARSED = "unparsed"
#: Prefix of the flag of a row whose request failed: ``'error: <reason>'``.
FLAG_ERROR = "error"

#: Every flag of the ``<task>_flag`` column and what it means, in the order the checks are made.
FLAGS = {
    FLAG_POSITION: "the catalogue row has no valid position (masked or non-finite RA/Dec)",
    FLAG_NO_TILE: "survey mode: the position lies in none of the mosaics",
    FLAG_OUTSIDE: "the position lies outside the image (pixel coordinates beyond -0.5 ... n - 0.5)",
    FLAG_BLANK: "the pixel at the position has no data (NaN), or the cutout is all blank / constant",
    FLAG_PARTIAL: "less than min_coverage of the model's field of view around the position has data",
    FLAG_UNPARSED: "the model answered, but its answer could not be read as a label (see <task>_answer)",
    FLAG_ERROR: "'error: <reason>': the request for this row failed (e.g. the server could not be reached)",
}

#: Default least fraction of the model's field of view that must hold data for a row to be classified,
#: for models that do not record their own ``min_coverage`` (trained without cutouts at mosaic edges).
DEFAULT_MIN_COVERAGE = 0.9
# longest reason kept in an 'error: <reason>' flag
_MAX_REASON = 120

#: Default cutout side (native pixels) when neither the user nor the model says otherwise.
DEFAULT_CUTOUT_SIZE = 64
#: Default partition size, in pipeline batches.
CHUNK_BATCHES = 4


def classify(image, catalog=None, *, task="B6", backend="vision", model=None, size=None, size_factor=None,
             min_size=None, max_size=None, preset=None, batch_size=512, chunk_size=None, device="cpu",
             backend_options=None, detect_options=None, catalog_options=None, hdu=None, plane=None,
             scheduler=None, workers=None, checkpoint=None, resume=False, progress=False, timings=None,
             min_coverage=None):
    """Classify every catalogued source of a mosaic (or of a survey of mosaics) and return the labelled catalogue.

    Parameters
    ----------
    image : str, path, HDU, NDData, (array, WCS), `~radioassist.RadioImage`, or a list of them
        The mosaic (anything :func:`~radioassist.load_image` accepts), or a
        ``list`` of mosaics (the tiles of a survey): each catalogue row is
        then classified in the one tile where it lies farthest from the edge
        and from blank (NaN) areas, and rows in no tile are flagged
        ``no_tile``.
    catalog : str, path, `~astropy.table.Table` or None
        The source list (anything :func:`~radioassist.read_catalog` accepts).
        None: sources are found in the image with :func:`radioassist.detect.find_sources`
        (a single mosaic only).
    task : str or `~radioassist.tasks.Task`
        The question to ask (``'B1'`` ... ``'B6'`` or a registered user task).
    backend : str or backend instance
        A registered backend name (see ``radioassist backends``) or an instance.
        With ``scheduler``/``workers`` an instance of a registered backend is
        rebuilt on each worker from its settings (model, device, dtype,
        batch size, options); other instances are sent to the workers as they
        are, which needs them to be picklable.
    model : str or path, optional
        Model folder or hub id for the backend; None uses the shipped default for the task.
    size : int or `~astropy.units.Quantity`, optional
        Cutout side in pixels or as an angle (native pixels: no resampling).
        Default: the model's field of view on the model's grid: cutouts are
        resampled to the model's pixel scale when the mosaic's differs by
        more than 1 %, and convolved to the model's beam when the mosaic's
        is finer (:mod:`radioassist.domain`); else 64 native pixels.
    size_factor, min_size, max_size : optional
        Scale each cutout on the catalogue source size instead (see
        :func:`~radioassist.extract_cutouts`).
    preset : str, optional
        Render preset; default: the one the model was trained with, else ``'radio-llava'``.
    batch_size : int, optional
        Sources per pipeline batch (cut, render and predict), default 512.
    chunk_size : int, optional
        Most sources per partition (the unit of parallel work and of saved
        partial results), rounded up to a multiple of ``batch_size``.
        Default ``4 * batch_size``.
    device : str, optional
        Torch device for the backend (``'cpu'``, ``'cuda'``...).
    backend_options, detect_options, catalog_options : dict, optional
        Extra keyword arguments for the backend, the source finder and :func:`~radioassist.read_catalog`.
    hdu, plane : optional
        Image HDU and cube plane, for mosaics given as paths (see :func:`~radioassist.load_image`).
    scheduler : str or `distributed.Client`, optional
        Run the partitions on dask.distributed: the address of a running
        scheduler, or a client.  Results are identical to a serial run.
    workers : int, optional
        Run the partitions on a local dask cluster of this many worker processes.
    checkpoint : str or path, optional
        Folder where each finished partition is saved (e.g.
        ``radioassist.resume.partial_path(output)``), so that an interrupted
        run can be resumed; it is left in place (delete it with
        ``radioassist.resume.PartialResults(folder).remove()`` once the
        output is written).
    resume : bool, optional
        Continue from the partitions saved in ``checkpoint`` (their run
        parameters must match: task, backend, model and its files, size,
        preset, catalogue, tiles, partitioning); without it an existing
        ``checkpoint`` folder is an error.
    progress : bool, optional
        Show a progress bar.
    timings : dict, optional
        If given, filled with the seconds spent in each stage (read, cut, render, predict).
    min_coverage : float, optional
        Least fraction (0 to 1) of the cutout the model sees (its field of
        view) that must hold data (finite pixels) for a row to be
        classified; rows below it are flagged ``partial``.  Default: the
        value the model records (``min_coverage`` in its config: 0.5 for
        the shipped B3 model, which was trained on cutouts cut by mosaic
        edges), else 0.9 (`DEFAULT_MIN_COVERAGE`: a source may lie up to
        0.4 of the half field of view from the edge of the data along one
        axis).  Whatever its value, a row whose position is off the image
        is flagged ``outside`` and one whose pixel has no data ``blank``.

    Returns
    -------
    table : `~astropy.table.Table`
        The input catalogue, rows in their original order, with columns
        ``<task>_label``, ``<task>_prob_<LABEL>`` for every label,
        ``<task>_flag`` (empty when the row was classified, otherwise why
        not: one of :data:`FLAGS`), for a list of mosaics ``<task>_tile``
        (the tile each row was classified in), and ``meta['radioassist']``
        recording how it was made (with ``n_unclassified``, ``n_flagged``
        per flag, ``n_unparsed``, ``n_errors``, ``min_coverage``, the
        model's domain and ``domain_warnings``).  Unparsed answers and
        failed requests never stop the run: check ``n_unparsed`` and
        ``n_errors`` (the ``--strict`` option of the command line exits
        non-zero when either is not zero).

    Warns
    -----
    radioassist.exceptions.DomainWarning
        Once per run, when a mosaic lies outside the domain the model was
        trained on (:func:`radioassist.domain.check_domain`); the reasons
        are also in ``meta['radioassist']['domain_warnings']``.

    Raises
    ------
    radioassist.InputError
        For a bad parameter, a mosaic or catalogue that cannot be used, or a
        catalogue with no source in any mosaic (the message says which and what to do).
    radioassist.ModelError, radioassist.BackendError
        For a model or backend that cannot be used.
    """
    from .backends import get_backend

    t_start = time.perf_counter()
    stages = {"read": 0.0, "cut": 0.0, "render": 0.0, "predict": 0.0}
    task = get_task(task)
    batch_size = _positive_int(batch_size, "batch_size")
    chunk_size = _chunk_size(chunk_size, batch_size)
    if workers is not None:
        _positive_int(workers, "workers")
    if scheduler is not None and workers is not None:
        msg = "give scheduler= (--scheduler, an existing dask cluster) or workers= (--workers, a local one), not both"
        raise InputError(msg)
    parallel = scheduler is not None or workers is not None
    survey = isinstance(image, list)
    min_coverage = None if min_coverage is None else _coverage(min_coverage)
    size = _check_size(size, size_factor)
    if survey:
        if not image:
            msg = "the list of mosaics is empty: give at least one mosaic"
            raise InputError(msg)
        if catalog is None:
            msg = "a catalogue is needed to classify several mosaics: pass catalog= (--catalog)"
            raise InputError(msg)
    sources = image if survey else [image]
    tiles = [_Tile(src, hdu=hdu, plane=plane, keep_open=not survey) for src in sources]
    footprints = [tile.footprint() for tile in tiles]
    labels_of_tiles = _tile_labels(tiles)
    for tile, fp in zip(tiles, footprints):
        tile.pixel_scale = _scale_of(fp)
        if isinstance(size, u.Quantity) and size_factor is None:
            _cutout_pixels(size, tile.pixel_scale)  # a size too small or too large for this mosaic: fail now

    if catalog is None:
        from .detect import find_sources
        catalog = find_sources(tiles[0].image, **(detect_options or {}))
        source_label = f"photutils detection on {tiles[0].label}"
    else:
        source_label = str(catalog) if not isinstance(catalog, Table) else "<Table>"
    table = read_catalog(catalog, **(catalog_options or {}))
    table = Table(table, copy=False)  # a plain Table whatever came in
    size_kwargs = {}
    if size_factor is not None:
        size_kwargs = dict(size_factor=size_factor, min_size=min_size, max_size=max_size)

    options = dict(backend_options or {})
    if isinstance(backend, str):
        backend_name = backend
        backend_obj = get_backend(backend, model=model, device=device, **options)  # cheap: models load lazily
        backend_spec = (backend, dict(model=model, device=device, **options))
    else:
        backend_obj = get_backend(backend)
        backend_name = getattr(backend_obj, "name", None) or type(backend_obj).__name__
        backend_spec = _rebuild_spec(backend_obj) if parallel else backend_obj
    spec = None
    if not parallel:  # load the model now: a bad model fails before any work
        spec = _model_spec(backend_obj, task)

    n = len(table)
    positions = table["skycoord"]
    position_ok = np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames \
        else np.ones(n, dtype=bool)
    flags = np.full(n, FLAG_OK, dtype=object)
    flags[~position_ok] = FLAG_POSITION
    tile_of = _assign(positions, position_ok, tiles, footprints, survey=survey, size=size, flags=flags,
                      n_tiles=len(tiles), source_label=source_label)
    sizes = _source_sizes(table) if size_kwargs else None

    partitions = []
    for t in range(len(tiles)):
        rows = np.flatnonzero(tile_of == t)
        for c, start in enumerate(range(0, len(rows), chunk_size)):
            partitions.append((f"t{t:05d}-c{c:06d}", t, rows[start:start + chunk_size]))

    store = None
    done = {}
    if checkpoint is not None:
        from .resume import PartialResults, catalog_fingerprint, model_fingerprint
        params = {
            "task": task.id, "labels": list(task.labels),
            "model": (model_fingerprint(backend, model, task=task, options=options or None)
                      if isinstance(backend, str) else model_fingerprint(backend_obj, task=task)),
            "size": None if size is None else str(size), "size_rule": {k: str(v) for k, v in size_kwargs.items()},
            "preset": preset, "catalog": catalog_fingerprint(table),
            "tiles": [_tile_identity(tile, fp) for tile, fp in zip(tiles, footprints)],
            "survey": survey, "batch_size": batch_size, "chunk_size": chunk_size,
            "n_partitions": len(partitions),
            "min_coverage": "the model's own" if min_coverage is None else min_coverage,
        }
        store = PartialResults.open(checkpoint, params, resume=resume)
        done = store.load({pid: rows for pid, _, rows in partitions})
    stages["read"] += time.perf_counter() - t_start

    warned = []
    if spec is not None:  # the model is loaded: say now (once) if a mosaic lies outside its domain
        warned = _warn_domain([(tile.label, check_domain(tile, spec, notes=[])) for tile in tiles], len(tiles))

    results = _Collector(n, task, flags)
    for pid, result in done.items():
        results.add(result, restored=True)
    todo = [p for p in partitions if p[0] not in done]
    bar = _progress(sum(len(p[2]) for p in todo), progress, f"classify {task.id}")
    run = dict(task=task, size=size, size_kwargs=size_kwargs, preset=preset, batch_size=batch_size,
               min_coverage=min_coverage)
    try:
        if parallel and todo:
            from .parallel import dask_client, run_partitions
            with dask_client(scheduler, workers) as client:
                refs = {}
                for t in sorted({p[1] for p in todo}):
                    ref = tiles[t].reference()
                    refs[t] = client.scatter(ref) if ref.in_memory else ref
                spec_arg = client.scatter(backend_spec) if not isinstance(backend_spec, tuple) else backend_spec
                items = ((pid, (refs[t], positions[rows], None if sizes is None else sizes[rows], rows,
                                spec_arg, run)) for pid, t, rows in todo)
                for pid, result in run_partitions(client, _partition_task, items):
                    _finish_partition(pid, result, results, store, stages, bar)
        else:
            for t in sorted({p[1] for p in todo}):
                img = tiles[t].open()
                try:
                    for pid, _, rows in (p for p in todo if p[1] == t):
                        result = _run_partition(img, positions[rows], None if sizes is None else sizes[rows], rows,
                                                backend=backend_obj, spec=spec, on_batch=_bar_update(bar), **run)
                        _finish_partition(pid, result, results, store, stages, None)
                finally:
                    tiles[t].close(img)
    except BaseException:
        if store is not None:
            store.discard_if_empty()
        raise
    finally:
        if bar is not None:
            bar.close()

    out = table.copy(copy_data=False)
    prefix = task.id
    out[f"{prefix}_label"] = Column(results.labels.astype(str), description=f"{task.name}: predicted label")
    for j, lab in enumerate(task.labels):
        out[f"{prefix}_prob_{lab}"] = Column(results.probs[:, j], description=f"probability of {lab}")
    if results.answers is not None:
        out[f"{prefix}_answer"] = Column(results.answers.astype(str), description="raw answer of the model")
    out[f"{prefix}_flag"] = Column(results.flags.astype(str), description="why the row was not classified (empty: ok)")
    if survey:
        names = np.asarray([""] + labels_of_tiles, dtype=str)
        out[f"{prefix}_tile"] = Column(names[tile_of + 1], description="mosaic (tile) the row was classified in")
    n_bad = int(np.sum(results.flags != FLAG_OK))
    counts = flag_counts(results.flags)
    if n_bad:
        log.warning("%d of %d sources could not be classified (%s; see column %s_flag)", n_bad, n,
                    ", ".join(f"{k} {v}" for k, v in counts.items()), prefix)
    infos = results.infos
    if not infos:  # nothing was classified: describe the backend here
        if spec is None:
            spec = _model_spec(backend_obj, task)
        infos = [_partition_info(tiles[0], backend_obj, task, size, size_kwargs, preset, spec)]
    by_tile = {}
    for info in infos:
        by_tile.setdefault(info["tile"], info.get("domain_warnings") or [])
    if not warned:  # parallel runs: the workers checked the model's domain
        warned = _warn_domain(list(by_tile.items()), len(tiles))
    out.meta["radioassist"] = _provenance(infos, backend_name, task, source_label, n, n_bad, size_kwargs,
                                          tiles=labels_of_tiles if survey else None, footprints=footprints,
                                          parallel=_parallel_note(scheduler, workers), n_partitions=len(partitions),
                                          chunk_size=chunk_size, restored=results.n_restored)
    meta = out.meta["radioassist"]
    used = sorted({info["min_coverage"] for info in infos if info.get("min_coverage") is not None})
    if used:
        meta["min_coverage"] = used[0] if len(used) == 1 else used
    else:  # nothing was cut: the threshold the run would have used
        meta["min_coverage"] = _effective_coverage(
            min_coverage, spec if spec is not None else _model_spec(backend_obj, task))
    meta["n_flagged"] = counts
    meta["n_unparsed"] = counts.get(FLAG_UNPARSED, 0)
    meta["n_errors"] = counts.get(FLAG_ERROR, 0)
    domain = infos[-1].get("model_domain")
    if domain:
        meta["model_domain"] = domain
    meta["domain_warnings"] = warned
    notes = sorted({note for info in infos for note in info.get("domain_notes") or []})
    if notes:
        meta["domain_notes"] = notes
    for tile in tiles:
        tile.release()
    if timings is not None:
        timings.update(stages)
        timings["total"] = time.perf_counter() - t_start
    return out


def classify_survey(tiles, catalog, **kwargs):
    """Classify a survey catalogue over many mosaics: ``classify(list(tiles), catalog, **kwargs)``.

    Parameters
    ----------
    tiles : iterable
        The mosaics (paths or anything :func:`~radioassist.load_image` accepts).
    catalog : str, path or `~astropy.table.Table`
        The survey catalogue.
    **kwargs
        Any keyword of :func:`classify` (``task``, ``backend``, ``workers``, ``checkpoint``...).

    Returns
    -------
    `~astropy.table.Table`
        As :func:`classify`, with the ``<task>_tile`` column.
    """
    return classify(list(tiles), catalog, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# tiles
# ----------------------------------------------------------------------------------------------------------

class _TileRef:
    """What a worker needs to open a tile: a path (+ hdu/plane), or the image itself (in-memory tiles)."""

    def __init__(self, *, path=None, hdu=None, plane=None, image=None):
        self.path = path
        self.hdu = hdu
        self.plane = plane
        self.image = image

    @property
    def in_memory(self):
        return self.path is None

    def open(self):
        if self.path is not None:
            return load_image(self.path, hdu=self.hdu, plane=self.plane)
        return self.image

    def close(self, img):
        if self.path is not None:
            img.close()


class _Tile:
    """One mosaic of a run, opened (memory-mapped) only while it is needed."""

    def __init__(self, source, *, hdu, plane, keep_open):
        self.path = None
        self.hdu = hdu
        self.plane = plane
        self.image = None
        self.pixel_scale = None
        if isinstance(source, (str, os.PathLike)):
            self.path = str(Path(source).expanduser().resolve())
            img = load_image(self.path, hdu=hdu, plane=plane)  # header, WCS and shape are checked here
            if keep_open:
                self.image = img
        else:
            img = load_image(source, hdu=hdu, plane=plane)
            self.image = img
        self.label = img.label
        self.beam = img.beam
        self.frequency = img.frequency
        self._first = img

    def footprint(self):
        from .tiles import tile_footprint
        img = self._first
        try:
            return tile_footprint(img)
        finally:
            if img is not self.image:
                img.close()
            self._first = None

    def open(self):
        return self.image if self.image is not None else load_image(self.path, hdu=self.hdu, plane=self.plane)

    def close(self, img):
        if img is not self.image:
            img.close()

    def reference(self):
        if self.path is not None:
            return _TileRef(path=self.path, hdu=self.hdu, plane=self.plane)
        img = self.image
        plain = RadioImage(np.asarray(img.data), img.wcs, img.header, beam=img.beam, unit=img.unit,
                           frequency=img.frequency, filename=img.filename)
        return _TileRef(image=plain)

    def release(self):
        """Drop our reference to a path-based image (the caller's in-memory images are theirs)."""
        if self.path is not None and self.image is not None:
            self.image = None


def _tile_labels(tiles):
    """Unique names of the tiles: file names, else paths, else names with the tile's index."""
    for labels in ([tile.label for tile in tiles], [tile.path or tile.label for tile in tiles]):
        if len(set(labels)) == len(labels):
            return labels
    return [f"{tile.label}[{i}]" for i, tile in enumerate(tiles)]


def _tile_identity(tile, fp):
    wcs = fp.wcs.wcs
    return {"name": tile.label, "shape": list(fp.shape), "crval": [round(float(v), 9) for v in wcs.crval],
            "crpix": [round(float(v), 6) for v in wcs.crpix], "ctype": list(wcs.ctype)}


def _scale_of(fp):
    from astropy.wcs.utils import proj_plane_pixel_scales
    return (float(np.mean(proj_plane_pixel_scales(fp.wcs))) * u.deg).to(u.arcsec)


def _assign(positions, position_ok, tiles, footprints, *, survey, size, flags, n_tiles, source_label):
    """Tile index of every row (-1: none), flagging rows in no tile; an error when no row is in any tile."""
    n = len(position_ok)
    if not position_ok.any():
        msg = f"no row of the catalogue {source_label} has a valid position"
        raise InputError(msg)
    if survey:
        from .tiles import assign_tiles
        tile_of, _ = assign_tiles(positions, footprints, valid=position_ok)
        flags[position_ok & (tile_of < 0)] = FLAG_NO_TILE
        n_in = int(np.sum(tile_of >= 0))
        if n_in == 0:
            msg = (f"none of the {int(position_ok.sum())} catalogue sources lies in any of the {n_tiles} mosaics: "
                   "check that the catalogue and the mosaics cover the same field (and the catalogue's RA/Dec "
                   "columns: --ra-col/--dec-col)")
            raise InputError(msg)
        log.info("%d of %d sources assigned to %d tiles; %d in no tile", n_in, n, n_tiles,
                 int(np.sum(position_ok & (tile_of < 0))))
        return tile_of
    # one mosaic: every valid row is cut from it (rows off the image are flagged 'outside' by the cutter);
    # still, a catalogue entirely off the image is a mistake worth an error
    fp = footprints[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = fp.wcs.world_to_pixel(positions[position_ok])
    half = (size / 2) if isinstance(size, (int, np.integer)) else 0.5
    ny, nx = fp.shape
    with np.errstate(invalid="ignore"):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        near = (x > -half) & (x < nx - 1 + half) & (y > -half) & (y < ny - 1 + half)
    if not near.any():
        msg = (f"none of the {int(position_ok.sum())} catalogue sources lies in the mosaic {tiles[0].label}: "
               "check that the catalogue and the mosaic cover the same field (and the catalogue's RA/Dec columns: "
               "--ra-col/--dec-col)")
        raise InputError(msg)
    return np.where(position_ok, 0, -1)


def _source_sizes(table):
    if "source_size" not in table.colnames:
        return None
    col = table["source_size"]
    unit = getattr(col, "unit", None) or u.arcsec
    values = np.array(np.ma.filled(np.ma.asarray(getattr(col, "value", col), dtype=float), np.nan))
    return values * u.Unit(unit)


# ----------------------------------------------------------------------------------------------------------
# one partition
# ----------------------------------------------------------------------------------------------------------

def _partition_task(tile, positions, sizes, rows, backend_spec, run):
    """Run one partition on a dask worker (the backend is built once per worker)."""
    from .parallel import worker_backend
    backend = worker_backend(backend_spec)
    img = tile.open()
    try:
        return _run_partition(img, positions, sizes, rows, backend=backend, spec=None, **run)
    finally:
        tile.close(img)


def _run_partition(image, positions, sizes, rows, *, backend, task, size, size_kwargs, preset, batch_size,
                   min_coverage=None, spec=None, on_batch=None):
    """Classify the catalogue rows ``rows`` (positions given) in one image; returns plain arrays."""
    stages = {"cut": 0.0, "render": 0.0, "predict": 0.0}
    if spec is None:
        spec = _model_spec(backend, task)
    min_coverage = _effective_coverage(min_coverage, spec)
    grid, cut_size, fov_note = _cut_plan(image, size=size, size_kwargs=size_kwargs, spec=spec)
    preset = preset or spec.get("render_preset") or "radio-llava"
    m = len(rows)
    labels = np.full(m, "", dtype=object)
    probs = np.full((m, task.n_classes), np.nan, dtype=np.float32)
    flags = np.full(m, FLAG_OK, dtype=object)
    answers = None
    wcs = image.wcs.deepcopy()  # astropy WCS objects are not thread-safe: never share the caller's
    for start in range(0, m, int(batch_size)):
        local = np.arange(start, min(m, start + int(batch_size)))
        t0 = time.perf_counter()
        why = np.full(len(local), FLAG_OUTSIDE, dtype=object)
        inside = np.flatnonzero(_inside(wcs, image.shape, positions[local]))  # only rows on the image are cut
        cut_rows = local[inside]
        if len(cut_rows) == 0:
            pass
        elif size_kwargs:
            sub = Table({"skycoord": positions[cut_rows]})
            if sizes is not None:
                sub["source_size"] = sizes[cut_rows]
            stack = extract_cutouts(image, sub, size=cut_size, **size_kwargs)
        elif grid is not None:
            stack = to_model_grid(image, positions[cut_rows], grid)
        else:
            stack = extract_cutouts(image, positions[cut_rows], size=cut_size)
        keep_idx = np.array([], dtype=int)
        rendered = None
        t1 = t2 = time.perf_counter()
        if len(cut_rows):
            data = stack.data
            sub_why = _coverage_flags(image, stack.xy, stack.nan_fraction, min_coverage)
            keep_sub = np.flatnonzero(sub_why == FLAG_OK)
            t1 = time.perf_counter()
            if len(keep_sub):
                # render and the blank test in one pass (no copy when every cutout is kept: the common case)
                rendered, blank = render(data if len(keep_sub) == len(data) else data[keep_sub], preset=preset,
                                         return_blank=True)
                if blank.any():
                    sub_why[keep_sub[blank]] = FLAG_BLANK
                    rendered = rendered[~blank]
                    keep_sub = keep_sub[~blank]
            t2 = time.perf_counter()
            why[inside] = sub_why
            keep_idx = inside[keep_sub]
        flags[local] = why
        if len(keep_idx):
            preds = backend.predict(rendered, task)
            target = local[keep_idx]
            probs[target] = np.asarray(preds.probabilities, dtype=np.float32)
            labels[target] = [_label_text(lab) for lab in preds.labels]
            flags[target] = _answer_flags(preds)
            if getattr(preds, "raw_answers", None) is not None:
                if answers is None:
                    answers = np.full(m, "", dtype=object)
                answers[target] = ["" if a is None else a for a in preds.raw_answers]
        t3 = time.perf_counter()
        stages["cut"] += t1 - t0
        stages["render"] += t2 - t1
        stages["predict"] += t3 - t2
        if on_batch is not None:
            on_batch(len(local))
    info = _partition_info(image, backend, task, size, size_kwargs, preset, spec, cut=(grid, cut_size, fov_note))
    info["min_coverage"] = min_coverage
    return {"rows": np.asarray(rows, dtype=np.int64), "labels": labels.astype(str), "probs": probs,
            "flags": flags.astype(str), "answers": None if answers is None else answers.astype(str),
            "info": info, "stages": stages}


def _inside(wcs, shape, positions):
    """Which positions lie on the image (pixel coordinates within -0.5 ... n - 0.5)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = wcs.world_to_pixel(positions)
    return _on_image(shape, np.column_stack([np.ravel(x), np.ravel(y)]).astype(float))


def _on_image(shape, xy):
    ny, nx = shape
    with np.errstate(invalid="ignore"):
        x, y = xy[:, 0], xy[:, 1]
        return np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)


def _coverage_flags(image, xy, nan_fraction, min_coverage):
    """Per cutout: '' (classify it), ``outside``, ``blank`` or ``partial`` (see :data:`FLAGS`)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    ny, nx = image.shape
    flags = np.full(n, FLAG_OK, dtype=object)
    x, y = xy[:, 0], xy[:, 1]
    inside = _on_image((ny, nx), xy)
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


def _answer_flags(preds):
    """Per prediction: '' for a label, ``unparsed``, or ``error: <reason>``."""
    flags = np.array([FLAG_OK if lab is not None else FLAG_UNPARSED for lab in preds.labels], dtype=object)
    errors = getattr(preds, "errors", None)
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
    >>> from radioassist.pipeline import flag_counts
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


def _warn_domain(reasons_by_tile, n_tiles):
    """One `DomainWarning` for the whole run; returns the reasons as meta records them."""
    records = []
    for label, reasons in reasons_by_tile:
        for reason in reasons:
            records.append(reason if n_tiles == 1 else f"{label}: {reason}")
    if records:
        shown = records if len(records) <= 5 else records[:5] + [f"... and {len(records) - 5} more"]
        warnings.warn("the mosaic lies outside the domain the model was trained on (labels may not be "
                      "trustworthy): " + "; ".join(shown), DomainWarning, stacklevel=3)
    return records


def _partition_info(image, backend, task, size, size_kwargs, preset, spec, *, cut=None):
    notes = []
    if cut is None:
        cut = _cut_plan(image, size=size, size_kwargs=size_kwargs, spec=spec)
    grid, cut_size, note = cut
    return {"tile": image.label, "cutout_size": str(cut_size), "cutout_size_note": note,
            "render_preset": preset or spec.get("render_preset") or "radio-llava",
            "pixel_scale_arcsec": round(float(u.Quantity(image.pixel_scale, u.arcsec).value), 6),
            "resampled": bool(grid is not None and grid.resample), "model_grid": grid is not None,
            "model_domain": model_domain(spec), "domain_warnings": check_domain(image, spec, notes=notes),
            "domain_notes": notes,
            "describe": _plain(_describe(backend, task))}


class _Collector:
    """The output arrays, filled partition by partition (in any order)."""

    def __init__(self, n, task, flags):
        self.n = n
        self.labels = np.full(n, "", dtype=object)
        self.probs = np.full((n, task.n_classes), np.nan, dtype=np.float32)
        self.flags = flags
        self.answers = None
        self.infos = []
        self.n_restored = 0

    def add(self, result, *, restored=False):
        rows = np.asarray(result["rows"], dtype=np.int64)
        self.labels[rows] = result["labels"]
        self.probs[rows] = result["probs"]
        self.flags[rows] = result["flags"]
        if result.get("answers") is not None:
            if self.answers is None:
                self.answers = np.full(self.n, "", dtype=object)
            self.answers[rows] = result["answers"]
        self.infos.append(result["info"])
        if restored:
            self.n_restored += len(rows)


def _finish_partition(pid, result, results, store, stages, bar):
    results.add(result)
    for key, value in result.get("stages", {}).items():
        stages[key] = stages.get(key, 0.0) + value
    if store is not None:
        store.save(pid, result)
    if bar is not None:
        bar.update(len(result["rows"]))


def _bar_update(bar):
    return None if bar is None else bar.update


# ----------------------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------------------

def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InputError(msg)
    return int(value)


def _chunk_size(chunk_size, batch_size):
    if chunk_size is None:
        return CHUNK_BATCHES * batch_size
    chunk_size = _positive_int(chunk_size, "chunk_size")
    return -(-chunk_size // batch_size) * batch_size  # whole batches: a partition batches as a serial run does


def _check_size(size, size_factor):
    """Validate a requested cutout size before any work (angles are checked again per mosaic)."""
    if size is None:
        return None
    if isinstance(size, str):
        text = size.strip()
        try:
            size = int(text) if text.lstrip("+-").isdigit() else u.Quantity(text)
        except (TypeError, ValueError):
            msg = f"size must be a number of pixels (128) or an angle ('90arcsec'), got {size!r}"
            raise InputError(msg) from None
    if isinstance(size, u.Quantity) and size.unit.physical_type == "angle":
        if size_factor is not None:
            msg = (f"with size_factor, size is the output side in pixels (the angular extent comes from the "
                   f"size rule); got size={size}")
            raise InputError(msg)
        _cutout_pixels(size, size)  # positive and finite
        return size
    return _cutout_pixels(size, 1 * u.arcsec)


def _model_spec(backend, task):
    """What the model expects of its input (pixel scale, cutout size, preset), from the backend if it says."""
    getter = getattr(backend, "input_spec", None)
    if callable(getter):
        try:
            return dict(getter(task) or {})
        except TypeError:
            return dict(getter() or {})
    return {}


def _cut_plan(image, *, size, size_kwargs, spec):
    """``(grid, cutout side, note)``: how cutouts of ``image`` are made for the model.

    An explicit ``size`` or a size rule cuts native pixels; otherwise the
    model's grid (:func:`radioassist.domain.model_grid`: its field of view
    at its pixel scale and beam) when the model records one, else 64 native
    pixels.  ``grid`` is None unless the model's grid is used.
    """
    if size is not None:
        if isinstance(size, u.Quantity):
            return None, size, f"{size} as requested"
        return None, int(size), f"{int(size)} px as requested"
    if not size_kwargs:
        grid = model_grid(image, spec)
        if grid is not None:
            return grid, (grid.size if grid.resample else grid.native_size), grid.note
    return None, DEFAULT_CUTOUT_SIZE, f"{DEFAULT_CUTOUT_SIZE} px (default)"


def _effective_coverage(min_coverage, spec):
    """The coverage threshold of a run: the one given, else the model's own, else the default."""
    if min_coverage is not None:
        return float(min_coverage)
    recorded = (spec or {}).get("min_coverage")
    return DEFAULT_MIN_COVERAGE if recorded is None else _coverage(recorded)


def _coverage(value):
    try:
        ok = not isinstance(value, bool) and 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        msg = (f"min_coverage (--min-coverage) must be a number from 0 to 1 (the least fraction of the model's "
               f"field of view that must hold data), got {value!r}")
        raise InputError(msg)
    return float(value)


# ----------------------------------------------------------------------------------------------------------
# provenance
# ----------------------------------------------------------------------------------------------------------

def _describe(backend, task):
    if not hasattr(backend, "describe"):
        return {}
    try:
        try:
            return dict(backend.describe(task))
        except TypeError:
            return dict(backend.describe())
    except Exception as exc:  # provenance must never break a finished run
        return {"describe_error": str(exc)}


def _rebuild_spec(backend):
    """``(name, options)`` that rebuild a registered backend instance on a worker, else the instance itself.

    Backend instances hold locks and loaded models that cannot be sent to other
    processes; a registered backend is rebuilt from its settings instead (each
    worker loads the model once).
    """
    from .backends import get_backend_class
    from .exceptions import BackendError
    name = getattr(backend, "name", None)
    try:
        registered = name is not None and get_backend_class(name) is type(backend)
    except BackendError:
        registered = False
    if not registered or not hasattr(backend, "options"):
        return backend
    options = dict(backend.options)
    options.update(model=backend.model, device=backend.device, dtype=getattr(backend, "dtype", None),
                   batch_size=getattr(backend, "batch_size", 64))
    return name, options


def _parallel_note(scheduler, workers):
    if workers is not None:
        return f"dask.distributed LocalCluster, {workers} workers"
    if scheduler is not None:
        return "dask.distributed" + ("" if not isinstance(scheduler, str) else f" at {scheduler}")
    return None


def _uniform(values):
    """The value if all are equal, else the list."""
    first = values[0]
    return first if all(v == first for v in values) else list(values)


def _provenance(infos, backend_name, task, source_label, n, n_bad, size_kwargs, *, tiles, footprints, parallel,
                n_partitions, chunk_size, restored):
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
                               _uniform([round(float(_scale_of(fp).value), 6) for fp in footprints])),
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
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _progress(total, enabled, desc):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="src", leave=False)
