"""A process-wide cache of built-in backends and the models they have loaded.

A survey pipeline that calls ``radioassist.classify`` once per source must not
rebuild the model each time: `~radioassist.backends.get_backend` returns the
same instance for the same (backend, model, device, dtype, batch size,
options), so models loaded by an earlier call are reused.

The model is part of the key through a cheap fingerprint of its files on disk
(path, inode, size and modification time of the folder and of each file in
it), so replacing or editing a model folder gives a fresh backend, and the
stale one is dropped.  `clear_model_cache` empties the cache (and frees the
models, if nothing else holds them).
"""
import inspect
import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["cached_backend", "clear_model_cache", "model_fingerprint", "cache_info", "MAX_CACHED_BACKENDS"]

#: Most backends kept at once (least recently used ones are dropped first).
MAX_CACHED_BACKENDS = 8

_lock = threading.RLock()
#: (name, model identity, device, frozen options) -> (fingerprint, backend)
_cache = OrderedDict()


class _Unhashable(Exception):
    pass


def _freeze(value):
    """A hashable, order-independent form of an option value (or _Unhashable)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, os.PathLike):
        return ("path", os.fspath(value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(_freeze(v)) for v in value)))
    raise _Unhashable(type(value).__name__)


def _stat_signature(path):
    """(inode, mtime_ns, size) of a path and of the files directly in it (a checkpoint folder)."""
    st = path.stat()
    entries = [("", st.st_ino, st.st_mtime_ns, st.st_size)]
    if path.is_dir():
        with os.scandir(path) as it:
            for entry in it:
                try:
                    est = entry.stat()
                except OSError:  # a file removed while we look
                    continue
                entries.append((entry.name, est.st_ino, est.st_mtime_ns, est.st_size))
    return tuple(sorted(entries))


def model_fingerprint(model):
    """``(identity, fingerprint)`` of a model argument: what it is, and the state of its files.

    ``identity`` is the resolved folder for a local model (the argument as
    given for a hub id; ``None`` for the backend's default); ``fingerprint``
    changes when the folder or one of its files is replaced or modified.  For
    ``model=None`` the shipped models (`radioassist.models`) are fingerprinted,
    as the vision backend's defaults come from there.  Only ``stat`` calls: a
    few microseconds per file.
    """
    if model is None:
        from ..models import MODELS_DIR

        try:
            folders = sorted(p for p in MODELS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
            return None, tuple((p.name, _stat_signature(p)) for p in folders)
        except OSError:
            return None, None
    text = os.fspath(model) if isinstance(model, os.PathLike) else model
    if not isinstance(text, str):
        raise _Unhashable(type(model).__name__)
    path = Path(text).expanduser()
    try:
        if path.exists():
            resolved = path.resolve()
            return str(resolved), _stat_signature(resolved)
    except OSError:
        pass
    return text, None  # a hub id (or a path that does not exist: the backend will say so when it loads)


def _released(backend):
    # a backend whose models were freed by its owner (e.g. ``backend._loaded = None``) is not reused; a VLM
    # backend that has not loaded its model yet looks the same, and rebuilding it costs nothing
    return hasattr(backend, "_loaded") and backend._loaded is None


def _defaults(cls):
    """The keyword defaults of ``cls.__init__`` and its ``option_defaults``."""
    params = inspect.signature(cls.__init__).parameters.values()
    defaults = {p.name: p.default for p in params
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}
    return {**defaults, **getattr(cls, "option_defaults", {})}


def cached_backend(name, cls, options):
    """The cached instance of backend ``cls`` (registered as ``name``) for ``options``, built if needed.

    Falls back to a fresh, uncached instance when an option cannot be hashed
    (an object given as an option value).
    """
    options = dict(options)
    settings = {**_defaults(cls), **options}  # the same settings give the same key, given or defaulted
    try:
        identity, fingerprint = model_fingerprint(options.get("model"))
        frozen = tuple(sorted((k, _freeze(v)) for k, v in settings.items() if k != "model"))
    except _Unhashable:
        return cls(**options)
    key = (name, cls, identity, frozen)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == fingerprint and not _released(hit[1]):
            _cache.move_to_end(key)
            return hit[1]
        backend = cls(**options)  # errors in options propagate, nothing is cached
        _cache[key] = (fingerprint, backend)  # replaces a stale entry for the same model
        _cache.move_to_end(key)
        while len(_cache) > MAX_CACHED_BACKENDS:
            _cache.popitem(last=False)
        return backend


def cache_info():
    """``[(backend name, model, device), ...]`` of the cached backends, least recently used first."""
    with _lock:
        return [(key[0], key[2], getattr(entry[1], "device", None)) for key, entry in _cache.items()]


def clear_model_cache():
    """Forget every cached backend and its loaded models (memory is freed once nothing else holds them).

    `~radioassist.backends.get_backend` (and so `radioassist.classify`)
    keeps built-in backends and their loaded models for the rest of the
    process so that repeated calls are fast; call this to release them, for
    example between two large models on a GPU.

    Returns
    -------
    int
        The number of backends dropped.

    Examples
    --------
    >>> import radioassist as ra
    >>> b = ra.get_backend('vision')
    >>> ra.get_backend('vision') is b
    True
    >>> ra.clear_model_cache() >= 1
    True
    >>> ra.get_backend('vision') is b
    False
    """
    with _lock:
        n = len(_cache)
        _cache.clear()
    if n:
        import gc
        import sys

        gc.collect()
        torch = sys.modules.get("torch")  # only if already imported
        if torch is not None:
            try:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:  # pragma: no cover - a broken CUDA set-up must not break this
                pass
    return n
