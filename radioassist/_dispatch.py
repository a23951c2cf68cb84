"""Run the partitions of a classify run in this process or on dask.distributed (same results either way).

In the manner of reproject's ``_reproject_dispatcher``: :func:`dispatch` takes
the planned partitions and yields ``(partition id, result)`` as they finish,
running them serially here or on a dask cluster (``scheduler=`` /
``workers=``, :mod:`radioassist.parallel`).
"""
from ._partition import PartitionRun, partition_task, stream_partitions

__all__ = ["Partition", "dispatch"]


class Partition:
    """One unit of work: the catalogue rows ``rows`` of tile ``tile``, saved under ``pid`` when checkpointing."""

    __slots__ = ("pid", "tile", "rows")

    def __init__(self, pid, tile, rows):
        self.pid = pid
        self.tile = tile
        self.rows = rows


def dispatch(partitions, tiles, positions, sizes, *, backend, backend_spec, spec, run, scheduler=None,
             workers=None, on_batch=None):
    """Yield ``(pid, result)`` of every partition as it finishes.

    Parameters
    ----------
    partitions : list of `Partition`
        The partitions still to run.
    tiles : list of `~radioassist.tiles.Tile`
    positions : `~astropy.coordinates.SkyCoord`
        Every catalogue position.
    sizes : `~astropy.units.Quantity` or None
        Every catalogue source size (for a size rule).
    backend : backend instance
        For a serial run.
    backend_spec : dict or backend instance
        ``backend.to_spec()`` (or a picklable instance) for dask workers.
    spec : dict or None
        ``backend.input_spec(task)`` (serial runs load the model first).
    run : dict
        The settings of :func:`radioassist._partition.run_partition`.
    scheduler, workers : optional
        A dask scheduler address or client, or a number of local workers; neither: serial.
    on_batch : callable, optional
        Progress callback of serial runs (rows per finished batch).
    """
    if scheduler is None and workers is None:
        yield from _serial(partitions, tiles, positions, sizes, backend=backend, spec=spec, run=run,
                           on_batch=on_batch)
    else:
        yield from _on_dask(partitions, tiles, positions, sizes, backend_spec=backend_spec, run=run,
                            scheduler=scheduler, workers=workers)


def _serial(partitions, tiles, positions, sizes, *, backend, spec, run, on_batch):
    """The partitions in this process, their batches in one stream (the model runs while the next is cut)."""

    def parts():  # each mosaic is open while its partitions are cut (the model may still run after)
        for t in sorted({p.tile for p in partitions}):
            img = tiles[t].open()
            try:
                for p in (p for p in partitions if p.tile == t):
                    yield PartitionRun(p.pid, img, positions[p.rows], None if sizes is None else sizes[p.rows],
                                       p.rows, backend=backend, spec=spec, **run)
            finally:
                tiles[t].close(img)

    n_rows = sum(len(p.rows) for p in partitions)
    source = parts()
    try:
        yield from stream_partitions(source, backend=backend, task=run["task"],
                                     overlap=n_rows > run["batch_size"], on_batch=on_batch)
    finally:
        source.close()  # closes the open mosaic when the run stops early


def _on_dask(partitions, tiles, positions, sizes, *, backend_spec, run, scheduler, workers):
    from .parallel import dask_client, run_partitions
    with dask_client(scheduler, workers) as client:
        refs = {}
        for t in sorted({p.tile for p in partitions}):
            ref = tiles[t].reference()
            refs[t] = client.scatter(ref) if ref.in_memory else ref
        spec_arg = backend_spec if isinstance(backend_spec, dict) else client.scatter(backend_spec)
        items = ((p.pid, (refs[p.tile], positions[p.rows], None if sizes is None else sizes[p.rows], p.rows,
                          spec_arg, run)) for p in partitions)
        yield from run_partitions(client, partition_task, items)
