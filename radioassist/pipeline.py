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
from .exceptions import InputError
from .image import RadioImage, load_image
from .logger import log
from .render import blank_mask, render
from .tasks import get_task
from .version import __version__

__all__ = ["classify", "classify_survey", "FLAG_OK", "FLAG_OUTSIDE", "FLAG_BLANK", "FLAG_POSITION",
           "FLAG_NO_TILE"]

#: Values of the ``<task>_flag`` column.
FLAG_OK = ""
FLAG_OUTSIDE = "outside"          # the cutout lies entirely outside the image
FLAG_BLANK = "blank"              # the cutout is all NaN / constant (blank mosaic area)
FLAG_POSITION = "bad_position"    # the catalogue row has no valid position
FLAG_NO_TILE = "no_tile"          # survey mode: the source lies in none of the mosaics

#: Default cutout side (native pixels) when neither the user nor the model says otherwise.
DEFAULT_CUTOUT_SIZE = 64
#: Default partition size, in pipeline batches.
CHUNK_BATCHES = 4


def classify(image, catalog=None, *, task="B6", backend="vision", model=None, size=None, size_factor=None,
             min_size=None, max_size=None, preset=None, batch_size=512, chunk_size=None, device="cpu",
             backend_options=None, detect_options=None, catalog_options=None, hdu=None, plane=None,
             scheduler=None, workers=None, checkpoint=None, resume=False, progress=False, timings=None):
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

    Returns
    -------
    table : `~astropy.table.Table`
        The input catalogue, rows in their original order, with columns
        ``<task>_label``, ``<task>_prob_<LABEL>`` for every label,
        ``<task>_flag`` (empty when the row was classified, otherwise why
        not), for a list of mosaics ``<task>_tile`` (the tile each row was
        classified in), and ``meta['radioassist']`` recording how it was made.

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
        }
        store = PartialResults.open(checkpoint, params, resume=resume)
        done = store.load({pid: rows for pid, _, rows in partitions})
    stages["read"] += time.perf_counter() - t_start

    results = _Collector(n, task, flags)
    for pid, result in done.items():
        results.add(result, restored=True)
    todo = [p for p in partitions if p[0] not in done]
    bar = _progress(sum(len(p[2]) for p in todo), progress, f"classify {task.id}")
    run = dict(task=task, size=size, size_kwargs=size_kwargs, preset=preset, batch_size=batch_size)
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
    if n_bad:
        log.warning("%d of %d sources could not be classified (see column %s_flag)", n_bad, n, prefix)
    infos = results.infos
    if not infos:  # nothing was classified: describe the backend here
        infos = [_partition_info(tiles[0].pixel_scale, tiles[0].label, backend_obj, task, size, preset,
                                 spec if spec is not None else _model_spec(backend_obj, task))]
    out.meta["radioassist"] = _provenance(infos, backend_name, task, source_label, n, n_bad, size_kwargs,
                                          tiles=labels_of_tiles if survey else None, footprints=footprints,
                                          parallel=_parallel_note(scheduler, workers), n_partitions=len(partitions),
                                          chunk_size=chunk_size, restored=results.n_restored)
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
                   spec=None, on_batch=None):
    """Classify the catalogue rows ``rows`` (positions given) in one image; returns plain arrays."""
    stages = {"cut": 0.0, "render": 0.0, "predict": 0.0}
    if spec is None:
        spec = _model_spec(backend, task)
    cut_size, fov_note = _cutout_size(image.pixel_scale, size=size, spec=spec)
    preset = preset or spec.get("render_preset") or "radio-llava"
    m = len(rows)
    labels = np.full(m, "", dtype=object)
    probs = np.full((m, task.n_classes), np.nan, dtype=np.float32)
    flags = np.full(m, FLAG_OK, dtype=object)
    answers = None
    for start in range(0, m, int(batch_size)):
        local = np.arange(start, min(m, start + int(batch_size)))
        t0 = time.perf_counter()
        if size_kwargs:
            sub = Table({"skycoord": positions[local]})
            if sizes is not None:
                sub["source_size"] = sizes[local]
            stack = extract_cutouts(image, sub, size=cut_size, **size_kwargs)
        else:
            stack = extract_cutouts(image, positions[local], size=cut_size)
        t1 = time.perf_counter()
        outside = np.asarray(stack.outside, dtype=bool)
        flags[local[outside]] = FLAG_OUTSIDE
        keep = ~outside
        rendered = render(stack.data[keep], preset=preset) if keep.any() else None
        if rendered is not None:
            blank = blank_mask(stack.data[keep])
            flags[local[keep][blank]] = FLAG_BLANK
            keep_idx = np.flatnonzero(keep)[~blank]
            rendered = rendered[~blank]
        else:
            keep_idx = np.array([], dtype=int)
        t2 = time.perf_counter()
        if len(keep_idx):
            preds = backend.predict(rendered, task)
            target = local[keep_idx]
            probs[target] = np.asarray(preds.probabilities, dtype=np.float32)
            labels[target] = [_label_text(lab) for lab in preds.labels]
            if getattr(preds, "raw_answers", None) is not None:
                if answers is None:
                    answers = np.full(m, "", dtype=object)
                answers[target] = preds.raw_answers
        t3 = time.perf_counter()
        stages["cut"] += t1 - t0
        stages["render"] += t2 - t1
        stages["predict"] += t3 - t2
        if on_batch is not None:
            on_batch(len(local))
    info = _partition_info(image.pixel_scale, image.label, backend, task, size, preset, spec,
                           cut=(cut_size, fov_note))
    return {"rows": np.asarray(rows, dtype=np.int64), "labels": labels.astype(str), "probs": probs,
            "flags": flags.astype(str), "answers": None if answers is None else answers.astype(str),
            "info": info, "stages": stages}


def _partition_info(pixel_scale, label, backend, task, size, preset, spec, *, cut=None):
    if cut is None:
        cut = _cutout_size(pixel_scale, size=size, spec=spec)
    return {"tile": label, "cutout_size": str(cut[0]), "cutout_size_note": cut[1],
            "render_preset": preset or spec.get("render_preset") or "radio-llava",
            "pixel_scale_arcsec": round(float(u.Quantity(pixel_scale, u.arcsec).value), 6),
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


def _cutout_size(pixel_scale, *, size, spec):
    """Native cutout side in pixels; matches the model's field of view when the model records one."""
    if size is not None:
        if isinstance(size, u.Quantity):
            return size, f"{size} as requested"
        return int(size), f"{int(size)} px as requested"
    scale = spec.get("pixel_scale_arcsec")
    npix = spec.get("cutout_size_pix")
    if scale and npix:
        fov = float(scale) * float(npix) * u.arcsec
        native = int(round(float((fov / u.Quantity(pixel_scale, u.arcsec)).decompose())))
        native = max(native, 8)
        note = (f"{native} px = the model's field of view {fov.to_value(u.arcsec):.0f}\" "
                f"({npix} px at {float(scale):.3g}\"/px); the backend resamples it to the model's input")
        return native, note
    return DEFAULT_CUTOUT_SIZE, f"{DEFAULT_CUTOUT_SIZE} px (default)"


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
