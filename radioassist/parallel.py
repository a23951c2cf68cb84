"""Run the classification pipeline on dask.distributed: a partition per tile or catalogue chunk.

:func:`radioassist.classify` uses this module when given ``scheduler=`` (the
address of a running dask scheduler, or a `distributed.Client`) or
``workers=`` (start a `distributed.LocalCluster` of that many single-threaded
worker processes).  Partitions are submitted with ``Client.submit`` and
collected with ``as_completed``: no scheduler of our own.  Each worker builds
the classifier backend once and keeps it (:func:`worker_backend`), so a
model is loaded once per worker, not once per partition.

dask and distributed are optional: ``pip install 'radioassist[dask]'``.
"""
import contextlib
import json
import logging
import os
import socket
import threading

from ._parameters import as_parallel
from .exceptions import InputError
from .logger import log

__all__ = ["dask_client", "worker_backend", "preload_backend", "clear_backend_cache", "run_partitions"]

# (worker id, backend key) -> backend instance
_BACKENDS = {}
_LOCK = threading.Lock()
#: seconds to wait for a remote scheduler
CONNECT_TIMEOUT = 20


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None, *, processes=True, threads_per_worker=1, timeout=None):
    """A dask.distributed client for a run: an existing one, a remote scheduler, or a local cluster.

    Parameters
    ----------
    scheduler : str or `distributed.Client`, optional
        Address of a running scheduler (``tcp://host:8786``) or a client (used as is).
    workers : int, optional
        Start a `distributed.LocalCluster` with this many workers (closed on exit).
    processes : bool, optional
        Local cluster workers as processes (default) or threads.
    threads_per_worker : int, optional
        Threads per local worker (default 1: a worker runs one partition at a time).
    timeout : float, optional
        Seconds to wait for a remote scheduler (default `CONNECT_TIMEOUT`).

    Yields
    ------
    `distributed.Client`
    """
    from ._optional_deps import require
    distributed = require("distributed", purpose="parallel classification (scheduler=/workers=)")
    scheduler, workers = as_parallel(scheduler, workers)
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is not None:
        address = str(scheduler).strip()
        timeout = CONNECT_TIMEOUT if timeout is None else timeout
        try:
            _probe(address, timeout)
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT if timeout is None else timeout,
                                        set_as_default=False)
        except (OSError, TimeoutError, ValueError, KeyError) as exc:
            msg = (f"cannot connect to the dask scheduler at {address!r} ({type(exc).__name__}: "
                   f"{' '.join(str(exc).split())[:200]}); start one with `dask scheduler` and `dask worker ADDRESS`, "
                   "or use --workers N (workers=N) for a local cluster")
            raise InputError(msg) from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers is None:
        msg = "give scheduler= (--scheduler, an existing dask cluster) or workers= (--workers, a local one)"
        raise InputError(msg)
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=int(threads_per_worker),
                                       processes=processes, dashboard_address=None,
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    log.info("started a local dask cluster with %d %s", workers, "processes" if processes else "threads")
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _probe(address, timeout):
    """Fail fast (without a half-built Client) when nothing listens at a tcp/tls address."""
    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import backends
    scheme, location = parse_address(address)
    if scheme not in backends:
        raise ValueError(f"unknown address scheme {scheme!r} (known: {', '.join(sorted(backends))})")
    if scheme not in ("tcp", "tls"):
        return
    host, port = parse_host_port(location)
    if port is None:
        raise ValueError(f"missing port number in address {address!r}")
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _json_default(value):
    return os.fspath(value) if isinstance(value, os.PathLike) else repr(value)


def _backend_key(spec):
    return json.dumps(spec, sort_keys=True, default=_json_default)


def _worker_id():
    try:
        from distributed import get_worker
        return get_worker().id
    except (ImportError, ValueError):
        return None


def worker_backend(spec):
    """The backend for ``spec``, built once per dask worker (or once per process outside dask).

    Parameters
    ----------
    spec : dict or `~radioassist.backends.Backend`
        The settings of a registered backend, as returned by its
        :meth:`~radioassist.backends.Backend.to_spec`, or a backend instance
        (returned as is).

    Returns
    -------
    `~radioassist.backends.Backend`
    """
    if not isinstance(spec, dict):
        return spec
    key = (_worker_id(), _backend_key(spec))
    with _LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            from .backends import backend_from_spec
            backend = backend_from_spec(spec, cache=False)
            _BACKENDS[key] = backend
            log.debug("worker %s: built backend %s", key[0], spec.get("backend"))
    return backend


def _preload(spec, task):
    backend = worker_backend(spec)
    if task is not None:
        backend.input_spec(task)  # backends that load lazily load their model here
    return _worker_id()


def preload_backend(client, spec, *, task=None):
    """Build the backend (and load its model for ``task``) on every worker of ``client`` now.

    A run loads the model on a worker with its first partition anyway; call this
    before timing a run, or to find a broken model before submitting a survey.

    Parameters
    ----------
    client : `distributed.Client`
    spec : dict
        ``backend.to_spec()``, as for :func:`worker_backend`.
    task : `~radioassist.tasks.Task` or str, optional
        Load the model the backend uses for this task.

    Returns
    -------
    list of str
        The ids of the workers that are ready.
    """
    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(_preload, spec, task, workers=[address], allow_other_workers=False, pure=False)
               for address in workers]
    return client.gather(futures)


def clear_backend_cache():
    """Forget the backends kept by :func:`worker_backend` in this process (frees their models)."""
    with _LOCK:
        _BACKENDS.clear()


def run_partitions(client, func, items, *, key_prefix="radioassist-partition"):
    """Submit ``func(*args)`` for every ``(pid, args)`` of ``items``; yield ``(pid, result)`` as they finish.

    A failing partition cancels the others and raises its error.

    Parameters
    ----------
    client : `distributed.Client`
    func : callable
        A module-level function (importable on the workers).
    items : iterable of (str, tuple)
        Partition id and the arguments of ``func``.
    key_prefix : str, optional
        Prefix of the dask task keys (a token of the run is added).
    """
    from distributed import as_completed
    import uuid

    token = uuid.uuid4().hex[:12]
    futures = {}
    for pid, args in items:
        future = client.submit(func, *args, key=f"{key_prefix}-{token}-{pid}", pure=False)
        futures[future] = pid
    if not futures:
        return
    done = set()
    try:
        for future in as_completed(futures, loop=client.loop):
            pid = futures[future]
            result = future.result()  # re-raises the partition's own exception
            done.add(future)
            future.release()
            yield pid, result
    finally:
        pending = [f for f in futures if f not in done]
        if pending:
            client.cancel(pending)
