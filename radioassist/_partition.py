"""One partition of a classify run: the catalogue rows of one mosaic, cut -> render -> predict, in batches.

:func:`run_partition` is what a serial run calls for each partition and what
a dask worker runs (through :func:`partition_task`); it returns plain arrays
(rows, labels, probabilities, flags, raw answers) and a description of how the
cutouts were made, which :class:`Collector` gathers into the output columns.

While the backend classifies one batch (in a helper thread: torch and the
HTTP clients release the GIL), the next batch is cut and rendered; a serial
run streams the batches of all its partitions this way
(:func:`stream_partitions`), so the model does not wait at the start of each.
"""
import collections
import functools
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from astropy import units as u
from astropy.table import Table

from ._parameters import as_coverage
from ._provenance import describe_backend
from ._threads import one_thread_call
from .cutouts import extract_cutouts
from .domain import check_domain, model_domain, model_grid, to_model_grid
from .flags import DEFAULT_MIN_COVERAGE, FLAG_BLANK, FLAG_OK, FLAG_OUTSIDE, answer_flags, coverage_flags, on_image
from .render import render

__all__ = ["DEFAULT_CUTOUT_SIZE", "DEFAULT_PRESET", "run_partition", "PartitionRun", "stream_partitions",
           "partition_task", "cut_plan",
           "effective_coverage", "partition_info", "Collector"]

#: Default cutout side (native pixels) when neither the user nor the model says otherwise.
DEFAULT_CUTOUT_SIZE = 64
#: Render preset when neither the user nor the model names one.
DEFAULT_PRESET = "radio-llava"


def partition_task(tile, positions, sizes, rows, backend_spec, run):
    """Run one partition on a dask worker (the backend is built once per worker).

    Parameters
    ----------
    tile : `~radioassist.tiles.TileRef`
    positions, sizes, rows
        As for :func:`run_partition`.
    backend_spec : dict or backend instance
        ``backend.to_spec()`` (rebuilt once per worker) or a picklable instance.
    run : dict
        The keyword settings of :func:`run_partition`.
    """
    from .parallel import worker_backend
    backend = worker_backend(backend_spec)
    img = tile.open()
    try:
        return run_partition(img, positions, sizes, rows, backend=backend, spec=None, **run)
    finally:
        tile.close(img)


def run_partition(image, positions, sizes, rows, *, backend, task, size, size_rule, preset, batch_size,
                  min_coverage=None, spec=None, on_batch=None):
    """Classify the catalogue rows ``rows`` (at ``positions``) in one image.

    Parameters
    ----------
    image : `~radioassist.RadioImage`
    positions : `~astropy.coordinates.SkyCoord`
        One per row.
    sizes : `~astropy.units.Quantity` or None
        Catalogue source sizes, for a size rule.
    rows : array-like of int
        The rows' indices in the catalogue.
    backend : backend instance
    task : `~radioassist.tasks.Task`
    size : int, `~astropy.units.Quantity` or None
        Requested cutout side (None: the model's grid, else the default).
    size_rule : dict
        ``size_factor``/``min_size``/``max_size`` when cutouts scale with the source.
    preset : str or None
        Render preset (None: the model's own).
    batch_size : int
        Rows per batch.
    min_coverage : float, optional
        Coverage threshold (None: the model's own, else the default).
    spec : dict, optional
        ``backend.input_spec(task)`` when already known.
    on_batch : callable, optional
        Called with the number of rows of each finished batch.

    Returns
    -------
    dict
        ``rows``, ``labels``, ``probs``, ``flags``, ``answers`` (or None),
        ``info`` (how the cutouts were made: :func:`partition_info`) and
        ``stages`` (seconds spent cutting, rendering, preparing the model input and predicting).
    """
    part = PartitionRun(None, image, positions, sizes, rows, backend=backend, task=task, size=size,
                        size_rule=size_rule, preset=preset, batch_size=batch_size, min_coverage=min_coverage,
                        spec=spec)
    [(_, result)] = stream_partitions([part], backend=backend, task=task, overlap=len(rows) > batch_size,
                                      on_batch=on_batch)
    return result


class PartitionRun:
    """The rows of one partition, to be cut, rendered and prepared batch by batch (:func:`stream_partitions`).

    Everything about the image (its WCS, how cutouts are made, :func:`partition_info`) is settled here, so
    the image may be closed once :meth:`batches` is exhausted, while the model still runs on the last ones.

    Parameters
    ----------
    key
        Returned with the result (the partition's id).
    image, positions, sizes, rows
        As for :func:`run_partition`.
    backend, task, size, size_rule, preset, batch_size, min_coverage, spec
        As for :func:`run_partition`.
    """

    def __init__(self, key, image, positions, sizes, rows, *, backend, task, size, size_rule, preset, batch_size,
                 min_coverage=None, spec=None):
        self.key = key
        self.stages = {"cut": 0.0, "render": 0.0, "prepare": 0.0, "predict": 0.0}
        if spec is None:
            spec = backend.input_spec(task)
        self.min_coverage = effective_coverage(min_coverage, spec)
        cut = cut_plan(image, size=size, size_rule=size_rule, spec=spec)
        self.grid, self.cut_size, _ = cut
        self.preset = preset or spec.get("render_preset") or DEFAULT_PRESET
        self.info = partition_info(image, backend, task, preset=self.preset, spec=spec, cut=cut)
        self.info["min_coverage"] = self.min_coverage
        self.image, self.positions, self.sizes, self.size_rule = image, positions, sizes, size_rule
        self.rows = np.asarray(rows, dtype=np.int64)
        self.backend, self.task = backend, task
        m = len(self.rows)
        self.out = _Outputs(m, task)
        wcs = image.wcs.deepcopy()  # astropy WCS objects are not thread-safe: never share the caller's
        batch_size = int(batch_size)
        # batches in the image's row order: each batch reads one band of the mosaic, so every page of a
        # memory-mapped mosaic is read (and released) once, not once per batch of a catalogue in random order
        self.xy = _pixels(wcs, positions)  # once for the partition: each batch tests which rows are on it
        self.order = _row_order(self.xy) if m > batch_size else np.arange(m)
        self.bounds = [(start, min(m, start + batch_size)) for start in range(0, m, batch_size)]
        self.unfinished = len(self.bounds)

    def ramp_up(self, sizes):
        """Split the first batch into smaller ones of ``sizes`` rows (then the rest of it).

        The first batch of a stream is cut, rendered and prepared while no model runs: the smaller it is,
        the sooner the model starts.
        """
        if not self.bounds:
            return
        start, stop = self.bounds[0]
        cuts = [start]
        for size in sizes:
            if cuts[-1] + int(size) >= stop:
                break
            cuts.append(cuts[-1] + int(size))
        self.bounds[:1] = list(zip(cuts, cuts[1:] + [stop]))
        self.unfinished = len(self.bounds)

    def batches(self, buffer):
        """Yield the `_Batch` of each batch of rows, cut, rendered and prepared (in the calling thread).

        ``buffer`` (a `_CutBuffer`) holds the float cutouts of a batch until it is rendered.
        """
        for start, stop in self.bounds:
            yield _prepare(self.image, self.xy, self.positions, self.sizes, self.order[start:stop],
                           grid=self.grid, cut_size=self.cut_size, size_rule=self.size_rule, preset=self.preset,
                           min_coverage=self.min_coverage, stages=self.stages, backend=self.backend,
                           task=self.task, buffer=buffer)
        self.image = None  # cut: the image may be closed

    def predict(self, batch):
        """The backend's predictions for a batch (None when none of its rows is classified)."""
        t0 = time.perf_counter()
        preds = self.backend.predict(batch.prepared, self.task) if len(batch.keep) else None
        self.stages["predict"] += time.perf_counter() - t0
        return preds

    def finish(self, batch, preds):
        """Put a batch's flags and predictions in place; True once every batch is."""
        self.out.flags[batch.local] = batch.why
        if preds is not None:
            self.out.add(batch.local[batch.keep], preds)
        self.unfinished -= 1
        return self.unfinished == 0

    def result(self):
        """The partition's result (see :func:`run_partition`)."""
        out = self.out
        return {"rows": self.rows, "labels": out.labels.astype(str), "probs": out.probs,
                "flags": out.flags.astype(str), "answers": None if out.answers is None else out.answers.astype(str),
                "info": self.info, "stages": self.stages}


def stream_partitions(parts, *, backend, task, overlap=True, on_batch=None):
    """Yield ``(key, result)`` of each `PartitionRun` of ``parts`` as it finishes, in order.

    The batches of all the partitions form one stream: while the backend
    classifies a batch in a helper thread (torch, ONNX Runtime and the HTTP
    clients release the GIL), the next ones are cut, rendered and prepared
    here, across partition boundaries, so the model never waits at the start
    of a partition; the stream's first batches are smaller (`RAMP_UP`), so that
    the model starts after a few rows are cut.  A backend that runs several predictions at once
    (`~radioassist.backends.Backend.predict_workers`: the ``vision`` backend
    on a CPU of a few cores, one per core) gets them in as many helper threads, one thread each;
    one more batch than there are helpers waits for the model while the next
    is cut, so that a batch slower to cut than to classify leaves no core
    idle.  ``parts`` may be a generator that opens each image when its
    partitions come (it is asked for the next partition once the previous one
    is cut).  If anything fails, the partitions already classified are still
    yielded before the error is raised.

    Parameters
    ----------
    parts : iterable of `PartitionRun`
    backend : backend instance
    task : `~radioassist.tasks.Task`
    overlap : bool, optional
        False runs every batch in this thread (one batch in all: nothing to overlap).
    on_batch : callable, optional
        Called with the number of rows of each finished batch.
    """
    pending = collections.deque()  # (part, batch, future) in the order cut
    workers = max(1, int(backend.predict_workers())) if overlap else 0
    in_flight = workers + 1 if overlap else 0  # batches left with the model while the next one is cut
    # the float cutouts of a batch live until it is rendered, in this thread; its rendered images until the
    # batch is settled, at most in_flight batches later
    buffer = _CutBuffer(renders=in_flight + 1)

    def settle(limit):  # finish the oldest batches until at most ``limit`` are left in the model
        while len(pending) > limit:
            part, batch, future = pending.popleft()
            complete = part.finish(batch, future.result())
            if on_batch is not None:
                on_batch(len(batch.local))
            if complete:
                yield part.key, part.result()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="radioassist-predict") if overlap else None
    first = overlap
    try:
        for part in parts:
            if not part.bounds:  # no rows
                yield part.key, part.result()
                continue
            if first:  # the model waits for the stream's first batch alone: start it on a few rows
                part.ramp_up(RAMP_UP)
                first = False
            predict = part.predict if workers <= 1 else functools.partial(_one_thread, part.predict)
            for batch in part.batches(buffer):
                pending.append((part, batch, _submit(pool, predict, batch)))
                yield from settle(in_flight)
        yield from settle(0)
    except Exception:
        # keep what is classified: partitions whose last batches are in flight still finish
        try:
            yield from settle(0)
        except Exception:
            pass  # the first error is the one to raise
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


#: Rows of the first batches of a stream, before batches of ``batch_size`` rows (`PartitionRun.ramp_up`).
RAMP_UP = (32, 64, 128)


def _one_thread(func, *args):
    """``func(*args)`` on one thread (`one_thread_call`): one of several predict calls side by side."""
    with one_thread_call():
        return func(*args)


def _submit(pool, func, *args):
    """``pool.submit(func, *args)``, or without a pool a future of ``func(*args)`` run here and now."""
    if pool is not None:
        return pool.submit(func, *args)
    future = Future()
    try:
        future.set_result(func(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


class _Batch:
    """One batch of rows, cut, rendered and prepared for the model.

    ``why`` (flag per row), ``keep`` (rows classified), ``prepared`` (what
    ``backend.prepare`` made of their rendered images).
    """

    __slots__ = ("local", "why", "keep", "prepared")

    def __init__(self, local, why, keep, prepared):
        self.local = local
        self.why = why
        self.keep = keep
        self.prepared = prepared


class _CutBuffer:
    """Reused arrays for the batches of a stream: the native-pixel cutouts and the rendered images.

    A new array per batch costs page faults on fresh memory (tens of MB a batch, ~8 us an image for the
    rendered ones alone).  The float cutouts of a batch are rendered before the next batch is cut, in the
    same thread, so one array serves them all.  The rendered images of a batch may be referred to by what
    ``backend.prepare`` made of them until the batch is settled, so they take turns in ``renders`` arrays:
    a stream settles each batch before it renders the ``renders``-th batch after it.

    Parameters
    ----------
    renders : int, optional
        Arrays for rendered images.
    """

    def __init__(self, renders=1):
        self.array = None
        self.renders = [None] * max(1, int(renders))
        self.turn = 0

    def get(self, n, npix):
        """A C-contiguous float32 ``(n, npix, npix)`` view of the buffer (grown when needed)."""
        if self.array is None or self.array.shape[1] != npix or len(self.array) < n:
            self.array = np.empty((n, npix, npix), dtype=np.float32)
        return self.array[:n]

    def rendered(self, n, height, width):
        """The next C-contiguous uint8 ``(n, height, width)`` array for rendered images (grown when needed)."""
        k = self.turn
        self.turn = (k + 1) % len(self.renders)
        array = self.renders[k]
        if array is None or array.shape[1:] != (height, width) or len(array) < n:
            array = self.renders[k] = np.empty((n, height, width), dtype=np.uint8)
        return array[:n]


def _prepare(image, xy, positions, sizes, local, *, grid, cut_size, size_rule, preset, min_coverage, stages,
             backend, task, buffer):
    t0 = time.perf_counter()
    why = np.full(len(local), FLAG_OUTSIDE, dtype=object)
    inside = np.flatnonzero(on_image(image.shape, xy[local]))  # only rows on the image are cut
    cut_rows = local[inside]
    keep = np.array([], dtype=int)
    prepared = None
    t1 = t2 = t3 = time.perf_counter()
    if len(cut_rows):
        if size_rule:
            sub = Table({"skycoord": positions[cut_rows]})
            if sizes is not None:
                sub["source_size"] = sizes[cut_rows]
            stack = extract_cutouts(image, sub, size=cut_size, **size_rule, off_image="keep")
        elif grid is not None:
            stack = to_model_grid(image, positions[cut_rows], grid, out=buffer.get(len(cut_rows), grid.native_size))
        elif isinstance(cut_size, u.Quantity):
            stack = extract_cutouts(image, positions[cut_rows], size=cut_size, off_image="keep")
        else:
            stack = extract_cutouts(image, positions[cut_rows], size=cut_size, off_image="keep",
                                    out=buffer.get(len(cut_rows), int(cut_size)))
        data = stack.data
        sub_why = coverage_flags(image, stack.xy, stack.nan_fraction, min_coverage=min_coverage)
        keep_sub = np.flatnonzero(sub_why == FLAG_OK)
        t1 = time.perf_counter()
        if len(keep_sub):
            # render (grey: a third of the memory of RGB) and the blank test in one pass; rendering the few
            # cutouts flagged for coverage too costs less than copying the float cutouts of the others
            rendered, blank = render(data, preset=preset, return_blank=True, channels=1,
                                     out=buffer.rendered(*np.shape(data)), overwrite_input=True)
            blank = blank[keep_sub]
            if blank.any():
                sub_why[keep_sub[blank]] = FLAG_BLANK
                keep_sub = keep_sub[~blank]
            if len(keep_sub) < len(rendered):
                rendered = rendered[keep_sub]
            t2 = time.perf_counter()
            # the backend's per-image work (the vision backend's preprocessing) here, while the model runs
            if len(keep_sub):
                prepared = backend.prepare(rendered, task)
            t3 = time.perf_counter()
        else:
            t2 = t3 = time.perf_counter()
        why[inside] = sub_why
        keep = inside[keep_sub]
    stages["cut"] += t1 - t0
    stages["render"] += t2 - t1
    stages["prepare"] += t3 - t2
    return _Batch(local, why, keep, prepared)


class _Outputs:
    """The output arrays of one partition."""

    def __init__(self, m, task):
        self.task = task
        self.labels = np.full(m, "", dtype=object)
        self.probs = np.full((m, task.n_classes), np.nan, dtype=np.float32)
        self.flags = np.full(m, FLAG_OK, dtype=object)
        self.answers = None

    def add(self, target, preds):
        self.probs[target] = np.asarray(preds.probabilities, dtype=np.float32)
        self.labels[target] = [self.task.label_text(lab) for lab in preds.labels]
        self.flags[target] = answer_flags(preds)
        if getattr(preds, "raw_answers", None) is not None:
            if self.answers is None:
                self.answers = np.full(len(self.labels), "", dtype=object)
            self.answers[target] = ["" if a is None else a for a in preds.raw_answers]


def _pixels(wcs, positions):
    """``(N, 2)`` pixel positions (x, y) of ``positions`` on the image of ``wcs`` (NaN off the sky)."""
    if len(positions) == 0:
        return np.zeros((0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = wcs.world_to_pixel(positions)
    return np.column_stack([np.ravel(x), np.ravel(y)]).astype(float)


def _row_order(xy):
    """Indices of the pixel positions ``xy`` sorted by their row (positions off the sky last)."""
    y = xy[:, 1]
    return np.argsort(np.where(np.isfinite(y), y, np.inf), kind="stable")


def cut_plan(image, *, size, size_rule, spec):
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
    if not size_rule:
        grid = model_grid(image, spec)
        if grid is not None:
            return grid, (grid.size if grid.resample else grid.native_size), grid.note
    return None, DEFAULT_CUTOUT_SIZE, f"{DEFAULT_CUTOUT_SIZE} px (default)"


def effective_coverage(min_coverage, spec):
    """The coverage threshold of a run: the one given, else the model's own, else the default."""
    if min_coverage is not None:
        return float(min_coverage)
    recorded = (spec or {}).get("min_coverage")
    return DEFAULT_MIN_COVERAGE if recorded is None else as_coverage(recorded)


def partition_info(image, backend, task, *, preset, spec, size=None, size_rule=None, cut=None):
    """How the cutouts of ``image`` are made and what the model is: a record for the provenance."""
    notes = []
    if cut is None:
        cut = cut_plan(image, size=size, size_rule=size_rule, spec=spec)
    grid, cut_size, note = cut
    return {"tile": image.label, "cutout_size": str(cut_size), "cutout_size_note": note,
            "render_preset": preset or spec.get("render_preset") or DEFAULT_PRESET,
            "pixel_scale_arcsec": round(float(u.Quantity(image.pixel_scale, u.arcsec).value), 6),
            "resampled": bool(grid is not None and grid.resample), "model_grid": grid is not None,
            "model_domain": model_domain(spec), "domain_warnings": check_domain(image, spec, notes=notes),
            "domain_notes": notes,
            "describe": describe_backend(backend, task)}


class Collector:
    """The output arrays of a run, filled partition by partition (in any order)."""

    def __init__(self, n, task, flags):
        self.n = n
        self.labels = np.full(n, "", dtype=object)
        self.probs = np.full((n, task.n_classes), np.nan, dtype=np.float32)
        self.flags = flags
        self.answers = None
        self.infos = []
        self.n_restored = 0
        self.stages = {"read": 0.0, "cut": 0.0, "render": 0.0, "prepare": 0.0, "predict": 0.0}

    def add(self, result, *, restored=False):
        """Put one partition's result in place."""
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
        else:
            for key, value in result.get("stages", {}).items():
                self.stages[key] = self.stages.get(key, 0.0) + value
