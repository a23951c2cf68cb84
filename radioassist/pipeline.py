"""Classify every source of a catalogue in a mosaic (or a survey of mosaics): cut -> render -> predict -> columns.

:func:`classify` streams the catalogue through the pipeline in batches, so
memory stays bounded for 10^5 sources, and returns the catalogue with new
columns (labels, one probability per class, a flag for rows that could not be
classified and why, :mod:`radioassist.flags`) and the provenance of the result
in ``meta``.

It reads as three steps: resolve the inputs (parameters checked by
``radioassist._parameters``, mosaics opened as ``radioassist.tiles.Tile``,
the catalogue read, the backend built), plan the partitions (each catalogue
row goes to one tile, :mod:`radioassist.tiles`; big tiles are split into
catalogue chunks), and dispatch them (``radioassist._dispatch``: in this
process or on dask.distributed with ``scheduler=``/``workers=``, identical
results), each partition running ``radioassist._partition.run_partition``.
Finished partitions can be saved as they come (``checkpoint=``/``resume=``,
:mod:`radioassist.resume`) so that an interrupted run resumes where it stopped.
"""
import time

import numpy as np
from astropy import units as u
from astropy.table import Column, Table

from ._dispatch import Partition, dispatch
from ._gate import as_gate, in_gate_run, run_gate
from ._parameters import (as_batch_size, as_chunk_size, as_coverage, as_parallel, as_preset, as_size,
                          as_size_rule, check_size_choice, size_in_pixels)
from ._partition import Collector, effective_coverage, partition_info
from ._provenance import parallel_note, run_provenance, warn_domain
from .catalog import TABLE_LABEL_KEY, _SizeError, read_catalog
from .domain import check_domain
from .exceptions import InputError
from .flags import (  # noqa: F401 - the flags stay importable from radioassist.pipeline
    DEFAULT_MIN_COVERAGE, FLAG_BLANK, FLAG_ERROR, FLAG_NO_TILE, FLAG_OK, FLAG_OUTSIDE,
    FLAG_NOT_APPLICABLE, FLAG_PARTIAL, FLAG_POSITION, FLAG_UNPARSED, FLAGS, flag_counts)
from .logger import log
from .tasks import get_task
from .tiles import Tile, rows_to_tiles, tile_identity, tile_labels

# the flags are documented in radioassist.flags; they stay importable from here
__all__ = ["classify", "classify_survey"]


def classify(image, catalog=None, *, task="B6", backend="vision", model=None, size=None, size_factor=None,
             min_size=None, max_size=None, preset=None, batch_size=512, chunk_size=None, device="cpu",
             backend_options=None, detect_options=None, catalog_options=None, hdu=None, plane=None,
             scheduler=None, workers=None, checkpoint=None, resume=False, progress=False, timings=None,
             min_coverage=None, gate=True, gate_threshold=None):
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
        None: sources are found in the image with :func:`radioassist.detect.find_sources`;
        for a list of images, in each image, and each source is classified in
        the image it was found in (column ``<task>_tile``): a folder of
        cutouts is one call.
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
        If given, filled with the seconds spent in each stage (``read``, ``cut``, ``render``,
        ``prepare``: the backend's preprocessing, ``predict``: the model; ``prepare`` and ``predict``
        overlap in two threads) and ``total``.
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

    t_start = time.perf_counter()
    # -- resolve the inputs ---------------------------------------------------------------------------------
    task = get_task(task)
    from ._structure_classify import STRUCTURE_BACKEND, classify_structure, uses_structure
    if isinstance(backend, str) and backend.strip().lower() == STRUCTURE_BACKEND and task.id != "B2":
        msg = (f"backend '{STRUCTURE_BACKEND}' answers task B2 only (the components and peaks of each radio "
               f"source); for task {task.id} use backend 'vision' (the shipped model) or a model of your own")
        raise InputError(msg)
    if uses_structure(task, backend, model):  # task B2 offline: from the source structure, no model
        if catalog is not None:  # the source structure gives each source's extent: a catalogue's sizes are not read
            catalog_options = {"size": False, **(catalog_options or {})}
        kwargs = dict(task=task, detect_options=detect_options, catalog_options=catalog_options, hdu=hdu,
                      plane=plane, backend_options=backend_options)
        if isinstance(image, list):
            return _structure_over_images(image, catalog, classify_structure, **kwargs)
        return classify_structure(image, catalog, **kwargs)
    batch_size = as_batch_size(batch_size)
    chunk_size = as_chunk_size(chunk_size, batch_size)
    scheduler, workers = as_parallel(scheduler, workers)
    parallel = scheduler is not None or workers is not None
    min_coverage = as_coverage(min_coverage)
    size = as_size(size)
    size_rule = as_size_rule(size_factor, min_size, max_size)
    check_size_choice(size, size_rule)
    preset = None if preset is None else as_preset(preset)
    gate_spec = as_gate(gate, task, gate_threshold)
    survey = isinstance(image, list)
    tiles, footprints = _open_tiles(image, catalog, survey=survey, hdu=hdu, plane=plane, size=size,
                                    size_rule=size_rule)
    table, source_label, own_tile = _read_sources(catalog, tiles, detect_options=detect_options,
                                                  catalog_options=catalog_options, size_rule=size_rule)
    options = dict(backend_options or {})
    backend_obj, backend_name, backend_spec = _resolve_backend(backend, model=model, device=device,
                                                               options=options, parallel=parallel)
    spec = None if parallel else backend_obj.input_spec(task)  # load the model now: a bad model fails first

    # -- plan the partitions --------------------------------------------------------------------------------
    n = len(table)
    positions = table["skycoord"]
    position_ok = np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames \
        else np.ones(n, dtype=bool)
    flags = np.full(n, FLAG_OK, dtype=object)
    flags[~position_ok] = FLAG_POSITION
    if own_tile is None:
        tile_of = rows_to_tiles(positions, position_ok, tiles, footprints, survey=survey, size=size, flags=flags,
                                source_label=source_label)
    else:  # sources found in each image: each is classified in its own image
        tile_of = np.where(position_ok, own_tile, -1)
    sizes = _source_sizes(table) if size_rule else None
    gate_prob = gate_meta = None
    tile_run = tile_of
    if gate_spec is not None:  # ask the gate task first; the rows it rules out are flagged, not classified
        t_gate = time.perf_counter()
        gate_prob, applies, gate_meta = run_gate(
            gate_spec, image, table, position_ok=position_ok & (tile_of >= 0), classify=classify,
            own_tile=None if own_tile is None else tile_of,
            classify_options=dict(batch_size=batch_size, chunk_size=chunk_size, device=device, hdu=hdu,
                                  plane=plane, scheduler=scheduler, workers=workers, progress=progress))
        ruled_out = ~applies & (tile_of >= 0)
        flags[ruled_out] = FLAG_NOT_APPLICABLE
        tile_run = np.where(ruled_out, -1, tile_of)
        gate_seconds = time.perf_counter() - t_gate
    partitions = _plan_partitions(tile_run, len(tiles), chunk_size)
    store, done = None, {}
    if checkpoint is not None:
        params = _run_parameters(task, backend, backend_obj, model, options, table, tiles, footprints,
                                 size=size, size_rule=size_rule, preset=preset, survey=survey,
                                 batch_size=batch_size, chunk_size=chunk_size, n_partitions=len(partitions),
                                 min_coverage=min_coverage, gate=gate_meta)
        from .resume import PartialResults
        store = PartialResults.open(checkpoint, params, resume=resume)
        done = store.load({p.pid: p.rows for p in partitions})
    results = Collector(n, task, flags)
    results.stages["read"] += time.perf_counter() - t_start
    if gate_spec is not None:
        results.stages["read"] -= gate_seconds
        results.stages["gate"] = gate_seconds
    warned = []
    if spec is not None:  # the model is loaded: say now (once) if a mosaic lies outside its domain
        warned = warn_domain([(tile.label, check_domain(tile, spec, notes=[])) for tile in tiles], len(tiles))

    # -- dispatch -------------------------------------------------------------------------------------------
    for result in done.values():
        results.add(result, restored=True)
    todo = [p for p in partitions if p.pid not in done]
    bar = _progress(sum(len(p.rows) for p in todo), progress, f"classify {task.id}")
    run = dict(task=task, size=size, size_rule=size_rule, preset=preset, batch_size=batch_size,
               min_coverage=min_coverage)
    try:
        for pid, result in dispatch(todo, tiles, positions, sizes, backend=backend_obj, backend_spec=backend_spec,
                                    spec=spec, run=run, scheduler=scheduler, workers=workers,
                                    on_batch=None if bar is None else bar.update):
            results.add(result)
            if store is not None:
                store.save(pid, result)
            if bar is not None and parallel:
                bar.update(len(result["rows"]))
    except BaseException:
        if store is not None:
            store.discard_if_empty()
        raise
    finally:
        if bar is not None:
            bar.close()

    # -- the output catalogue -------------------------------------------------------------------------------
    tile_names = tile_labels(tiles) if survey else None
    out = _output_table(table, results, task, tile_names=tile_names, tile_of=tile_of)
    if gate_prob is not None:
        out[f"{task.id}_gate_prob"] = Column(
            gate_prob, description=(f"gate {gate_spec.task.id}: probability of {gate_spec.label} (the task applies "
                                    f"to {gate_spec.description}); below {gate_spec.threshold:g}: not_applicable"))
    n_bad = int(np.sum(results.flags != FLAG_OK))
    counts = flag_counts(results.flags)
    if n_bad and not in_gate_run():
        log.warning("%d of %d sources could not be classified (%s; see column %s_flag)", n_bad, n,
                    ", ".join(f"{k} {v}" for k, v in counts.items()), task.id)
    infos = results.infos
    if not infos:  # nothing was classified: describe the backend here
        if spec is None:
            spec = backend_obj.input_spec(task)
        infos = [partition_info(tiles[0], backend_obj, task, preset=preset, spec=spec, size=size,
                                size_rule=size_rule)]
    if not warned:  # parallel runs: the workers checked the model's domain
        by_tile = {}
        for info in infos:
            by_tile.setdefault(info["tile"], info.get("domain_warnings") or [])
        warned = warn_domain(list(by_tile.items()), len(tiles))
    meta = run_provenance(infos, backend_name=backend_name, task=task, source_label=source_label, n=n,
                          n_bad=n_bad, size_rule=size_rule, tiles=tile_names,
                          pixel_scales=[tile.pixel_scale.to_value(u.arcsec) for tile in tiles],
                          parallel=parallel_note(scheduler, workers), n_partitions=len(partitions),
                          chunk_size=chunk_size, restored=results.n_restored)
    used = sorted({info["min_coverage"] for info in infos if info.get("min_coverage") is not None})
    if used:
        meta["min_coverage"] = used[0] if len(used) == 1 else used
    else:  # nothing was cut: the threshold the run would have used
        meta["min_coverage"] = effective_coverage(
            min_coverage, spec if spec is not None else backend_obj.input_spec(task))
    meta["n_flagged"] = counts
    if gate_meta is not None:
        meta["gate"] = gate_meta
    meta["n_unparsed"] = counts.get(FLAG_UNPARSED, 0)
    meta["n_errors"] = counts.get(FLAG_ERROR, 0)
    domain = infos[-1].get("model_domain")
    if domain:
        meta["model_domain"] = domain
    meta["domain_warnings"] = warned
    notes = sorted({note for info in infos for note in info.get("domain_notes") or []})
    if notes:
        meta["domain_notes"] = notes
    if "radioassist_structure" in table.meta:  # catalogue-free: how the radio sources were found
        meta["structure"] = table.meta["radioassist_structure"]
    out.meta["radioassist"] = meta
    for tile in tiles:
        tile.release()
    if timings is not None:
        timings.update(results.stages)
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
# resolving the inputs
# ----------------------------------------------------------------------------------------------------------

def _open_tiles(image, catalog, *, survey, hdu, plane, size, size_rule):
    """The run's `~radioassist.tiles.Tile` objects and their footprints (checked before any work)."""
    if survey:
        if not image:
            msg = "the list of mosaics is empty: give at least one mosaic"
            raise InputError(msg)
    tiles = [Tile(src, hdu=hdu, plane=plane, keep_open=not survey) for src in (image if survey else [image])]
    footprints = [tile.footprint() for tile in tiles]
    if isinstance(size, u.Quantity) and not size_rule:
        for tile in tiles:
            size_in_pixels(size, tile.pixel_scale)  # a size too small or too large for this mosaic: fail now
    return tiles, footprints


def _read_sources(catalog, tiles, *, detect_options, catalog_options, size_rule=None):
    """The catalogue as a plain Table, where it came from, and the tile of each row (None: any tile).

    Without a catalogue the sources are found in each image (:func:`radioassist.detect.find_sources`, one
    image at a time), and each row belongs to the image it was found in.
    """
    own_tile = None
    if catalog is None:
        from .detect import find_sources
        found, own = [], []
        for t, tile in enumerate(tiles):
            image = tile.open()
            try:
                found.append(find_sources(image, **(detect_options or {})))
            finally:
                tile.close(image)
            own.append(np.full(len(found[-1]), t))
        if len(tiles) == 1:
            catalog = found[0]
            source_label = f"source finding (radioassist.structure) on {tiles[0].label}"
            catalog.meta.setdefault(TABLE_LABEL_KEY, f"sources found in {tiles[0].label}")
        else:
            from astropy.table import vstack
            catalog = vstack(found, metadata_conflicts="silent")
            own_tile = np.concatenate(own).astype(int)
            source_label = f"source finding (radioassist.structure) on each of {len(tiles)} images"
            catalog.meta[TABLE_LABEL_KEY] = f"sources found in {len(tiles)} images"
    else:
        source_label = str(catalog) if not isinstance(catalog, Table) else "a table given in Python"
    options = dict(catalog_options or {})
    try:
        table = read_catalog(catalog, **options)
    except _SizeError as exc:
        if "size" in options or "size_unit" in options or size_rule:
            raise  # sizes were asked for: they must be right
        # sizes only annotate the output (report, regions) when no size rule uses them: positions are enough
        log.warning("source sizes not used: %s", exc)
        table = read_catalog(catalog, **options, size=False)
    return Table(table, copy=False), source_label, own_tile  # a plain Table whatever came in


def _resolve_backend(backend, *, model, device, options, parallel):
    """``(instance, name, spec for workers)``; the spec is ``to_spec()``, or the instance if it cannot be rebuilt."""
    from .backends import get_backend
    from .exceptions import BackendError
    if isinstance(backend, str):
        backend_obj = get_backend(backend, model=model, device=device, **options)  # cheap: models load lazily
        name = backend
    else:
        backend_obj = get_backend(backend)
        name = getattr(backend_obj, "name", None) or type(backend_obj).__name__
    spec = None
    if parallel:
        try:
            spec = backend_obj.to_spec()  # rebuilt once per worker (instances hold locks and loaded models)
        except BackendError:
            spec = backend_obj  # an unregistered instance travels as it is (it must be picklable)
    return backend_obj, name, spec


def _source_sizes(table):
    if "source_size" not in table.colnames:
        return None
    col = table["source_size"]
    unit = getattr(col, "unit", None) or u.arcsec
    values = np.array(np.ma.filled(np.ma.asarray(getattr(col, "value", col), dtype=float), np.nan))
    return values * u.Unit(unit)


# ----------------------------------------------------------------------------------------------------------
# planning
# ----------------------------------------------------------------------------------------------------------

def _plan_partitions(tile_of, n_tiles, chunk_size):
    """The partitions: each tile's rows in chunks of ``chunk_size``, with ids stable across runs."""
    partitions = []
    for t in range(n_tiles):
        rows = np.flatnonzero(tile_of == t)
        for c, start in enumerate(range(0, len(rows), chunk_size)):
            partitions.append(Partition(f"t{t:05d}-c{c:06d}", t, rows[start:start + chunk_size]))
    return partitions


def _run_parameters(task, backend, backend_obj, model, options, table, tiles, footprints, *, size, size_rule,
                    preset, survey, batch_size, chunk_size, n_partitions, min_coverage, gate=None):
    """What a resumed run must share with the saved one (:class:`radioassist.resume.PartialResults`)."""
    from .resume import catalog_fingerprint, model_fingerprint
    return {
        "task": task.id, "labels": list(task.labels),
        "model": (model_fingerprint(backend, model, task=task, options=options or None)
                  if isinstance(backend, str) else model_fingerprint(backend_obj, task=task)),
        "size": None if size is None else str(size), "size_rule": {k: str(v) for k, v in size_rule.items()},
        "preset": preset, "catalog": catalog_fingerprint(table),
        "tiles": [tile_identity(tile, fp) for tile, fp in zip(tiles, footprints)],
        "survey": survey, "batch_size": batch_size, "chunk_size": chunk_size,
        "n_partitions": n_partitions,
        "min_coverage": "the model's own" if min_coverage is None else min_coverage,
        "gate": None if gate is None else {k: gate[k] for k in ("task", "label", "model", "threshold",
                                                                "model_sha256") if k in gate},
    }


# ----------------------------------------------------------------------------------------------------------
# the output
# ----------------------------------------------------------------------------------------------------------

def _structure_over_images(images, catalog, classify_structure, **kwargs):
    """Task B2 from the source structure over several images: each image's own sources without a catalogue
    (rows naming their image in ``<task>_tile``); with one, each row labelled in the first image where it
    lies on data (the others keep the first image's flag)."""
    from astropy.table import vstack

    if not images:
        raise InputError("image is an empty list: give at least one mosaic")
    prefix = kwargs["task"].id
    source = None
    if catalog is not None:  # read once, not once per image
        source = str(catalog) if not isinstance(catalog, Table) else "a table given in Python"
        catalog = read_catalog(catalog, **(kwargs.pop("catalog_options") or {}))
    # each image would count the rows off it: one count for the whole run, below
    tables = [classify_structure(img, catalog, report_counts=False, **kwargs) for img in images]
    names = [t.meta["radioassist"]["image"] for t in tables]
    if catalog is None:
        for t, name in zip(tables, names):
            t[f"{prefix}_tile"] = Column(np.full(len(t), name, dtype=object).astype(str),
                                         description="mosaic (tile) the row was classified in")
        out = vstack(tables, metadata_conflicts="silent")
        out.meta = dict(tables[0].meta)
        source = f"radio sources found in each of {len(images)} images"
    else:
        ok = np.array([np.asarray(t[f"{prefix}_flag"], dtype=str) == FLAG_OK for t in tables])
        which = np.where(ok.any(axis=0), np.argmax(ok, axis=0), 0)  # the first image where the row is on data
        out = tables[0]
        for col in [c for c in out.colnames if c.startswith(f"{prefix}_")]:
            old = np.asarray(out[col])
            values = old.astype(object)
            for k in range(1, len(tables)):
                values[which == k] = np.asarray(tables[k][col])[which == k]
            # a whole new column: a longer string from another image must not be cut to the old width
            out[col] = Column(values.astype(str if old.dtype.kind == "U" else old.dtype), unit=out[col].unit,
                              description=out[col].description)
        tile = np.where(ok.any(axis=0), np.asarray(names, dtype=object)[which], "")
        out[f"{prefix}_tile"] = Column(tile.astype(str), description="mosaic (tile) the row was classified in")
    flags = np.asarray(out[f"{prefix}_flag"], dtype=str)
    meta = dict(tables[0].meta["radioassist"])
    meta.update(source=source, image=names, n_sources=len(out), n_unclassified=int(np.sum(flags != FLAG_OK)),
                n_flagged=flag_counts(flags))
    out.meta["radioassist"] = meta
    if meta["n_unclassified"]:
        log.warning("%d of %d sources could not be classified (%s; see column %s_flag)", meta["n_unclassified"],
                    len(out), ", ".join(f"{k} {v}" for k, v in meta["n_flagged"].items()), prefix)
    return out


def _output_table(table, results, task, *, tile_names, tile_of):
    """The input catalogue with the label, probability, answer, flag (and tile) columns."""
    out = table.copy(copy_data=False)
    prefix = task.id
    out[f"{prefix}_label"] = Column(results.labels.astype(str), description=f"{task.name}: predicted label")
    for j, lab in enumerate(task.labels):
        out[f"{prefix}_prob_{lab}"] = Column(results.probs[:, j], description=f"probability of {lab}")
    if results.answers is not None:
        out[f"{prefix}_answer"] = Column(results.answers.astype(str), description="raw answer of the model")
    out[f"{prefix}_flag"] = Column(results.flags.astype(str), description="why the row was not classified (empty: ok)")
    if tile_names is not None:
        names = np.asarray([""] + list(tile_names), dtype=str)
        out[f"{prefix}_tile"] = Column(names[tile_of + 1], description="mosaic (tile) the row was classified in")
    return out


def _progress(total, enabled, desc):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="src", leave=False)
