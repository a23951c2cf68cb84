"""The registry of classifier backends (built-ins, decorated classes and entry points).

Built-in backends are imported only when first asked for, and third-party
packages add backends through the ``radioassist.backends`` entry-point group::

    [project.entry-points."radioassist.backends"]
    mybackend = "mypackage.module:MyBackend"

Entry points are discovered on the first lookup and each one is imported only
when its name is requested.
"""

import importlib
import threading

from ..exceptions import BackendError, InputError
from ._cache import cached_backend
from .base import Backend

__all__ = ["register_backend", "get_backend", "get_backend_class", "backend_from_spec", "available_backends",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "radioassist.backends"

#: name -> Backend subclass (registered and imported)
_BACKENDS = {}
#: built-in backends: name -> module that registers it on import (imported lazily)
_BUILTIN_MODULES = {
    "vision": "radioassist.backends.vision",
    "llava": "radioassist.backends.llava",
    "hf-vlm": "radioassist.backends.hf_vlm",
    "openai": "radioassist.backends.openai_compat",
}
_entry_points = None
_lock = threading.RLock()


def register_backend(name, *, overwrite=False):
    """Class decorator that registers a `~radioassist.backends.Backend` subclass under ``name``.

    Parameters
    ----------
    name : str
        Registry name (used as ``get_backend(name)`` and ``--backend name``).
    overwrite : bool, optional
        Replace an existing backend of the same name instead of raising.

    Raises
    ------
    BackendError
        If ``name`` is taken (and ``overwrite`` is false) or the class is not a Backend.

    Examples
    --------
    >>> from radioassist.backends import Backend, register_backend
    >>> @register_backend('always-first-doc-example')
    ... class AlwaysFirst(Backend):
    ...     description = 'answers the first label of every task'
    ...     def predict(self, images, task):
    ...         raise NotImplementedError
    >>> AlwaysFirst.name
    'always-first-doc-example'
    """
    key = _check_name(name)

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            msg = f"register_backend({key!r}) decorates Backend subclasses, not {cls!r}"
            raise BackendError(msg)
        with _lock:
            existing = _BACKENDS.get(key)
            if existing is not None and existing is not cls and not overwrite:
                msg = (
                    f"a backend named {key!r} is already registered ({existing.__module__}."
                    f"{existing.__qualname__}); choose another name or pass overwrite=True"
                )
                raise BackendError(msg)
            if existing is not None and existing is not cls:
                _unmark(existing)
            _mark(cls, key)
            _BACKENDS[key] = cls
        return cls

    return decorator


def _mark(cls, key):
    """Name ``cls`` and mark the class itself as the one built for ``key`` (read by Backend.to_spec)."""
    cls.name = key
    cls._registered_name = key


def _unmark(cls):
    if "_registered_name" in vars(cls):
        del cls._registered_name


def _check_name(name):
    if not isinstance(name, str) or not name.strip():
        msg = f"a backend name must be a non-empty string, got {name!r}"
        raise BackendError(msg)
    return name.strip().lower()


def _discover_entry_points():
    global _entry_points
    with _lock:
        if _entry_points is None:
            from importlib.metadata import entry_points

            try:
                found = entry_points(group=ENTRY_POINT_GROUP)
            except Exception:  # a broken distribution must not break radioassist
                found = []
            _entry_points = {ep.name.strip().lower(): ep for ep in found}
        return _entry_points


def available_backends():
    """Names of all backends: built-in, registered and provided by entry points (sorted).

    Examples
    --------
    >>> from radioassist.backends import available_backends
    >>> 'vision' in available_backends()
    True
    """
    names = set(_BACKENDS) | set(_BUILTIN_MODULES) | set(_discover_entry_points())
    return sorted(names)


def get_backend_class(name):
    """The `~radioassist.backends.Backend` subclass registered as ``name`` (imported if needed)."""
    if isinstance(name, type) and issubclass(name, Backend):
        return name
    key = _check_name(name)
    with _lock:
        if key in _BACKENDS:
            return _BACKENDS[key]
        if key in _BUILTIN_MODULES:
            importlib.import_module(_BUILTIN_MODULES[key])
            if key in _BACKENDS:
                return _BACKENDS[key]
        entry = _discover_entry_points().get(key)
        if entry is not None:
            try:
                cls = entry.load()
            except Exception as exc:
                msg = f"backend {key!r} (entry point {entry.value!r}) could not be imported: {exc}"
                raise BackendError(msg) from exc
            if not (isinstance(cls, type) and issubclass(cls, Backend)):
                msg = (
                    f"entry point {key!r} = {entry.value!r} of group {ENTRY_POINT_GROUP!r} is not a "
                    "radioassist.backends.Backend subclass"
                )
                raise BackendError(msg)
            if _BACKENDS.get(key) is None:
                _mark(cls, key)
                _BACKENDS[key] = cls
            return _BACKENDS[key]
    msg = f"unknown backend {name!r}; available backends: {', '.join(available_backends())}"
    raise BackendError(msg)


def get_backend(name, *, cache=True, **options):
    """Create a backend by name, or return the cached one built with the same options.

    Built-in backends (``vision``, ``llava``, ``hf-vlm``, ``openai``) are kept for
    the rest of the process, keyed by backend, model (its resolved folder and a
    fingerprint of its files, so replacing or editing the folder gives a fresh
    one), device, dtype, batch size and options: a model loaded by one
    `radioassist.classify` call is reused by the next.  The instance is shared,
    so do not change its attributes; pass ``cache=False`` for a private one.
    `radioassist.clear_model_cache` empties the cache.

    Parameters
    ----------
    name : str or `~radioassist.backends.Backend`
        Registry name (``'vision'``...), a Backend subclass, or an instance
        (returned unchanged when no options are given).
    cache : bool, optional
        Reuse (and keep) the cached instance of a built-in backend (default).
        Backends registered by users or entry points are never cached.
    **options
        Passed to the backend: ``model``, ``device``, ``dtype``, ``batch_size`` and
        backend-specific options.

    Returns
    -------
    `~radioassist.backends.Backend`

    Examples
    --------
    >>> from radioassist.backends import get_backend
    >>> get_backend('vision', device='cpu')  # the shipped model of each task, loaded on first use
    <VisionBackend name='vision' model=None device='cpu'>
    >>> get_backend('vision', device='cpu') is get_backend('vision', device='cpu')
    True
    >>> get_backend('vision', device='cpu', cache=False) is get_backend('vision', device='cpu')
    False
    """
    if isinstance(name, Backend):
        if options:
            msg = f"options {sorted(options)} cannot be applied to an existing backend instance {name!r}"
            raise BackendError(msg)
        return name
    cls = get_backend_class(name)
    if cache and _is_builtin(cls):
        return cached_backend(cls.name, cls, options)
    return cls(**options)


#: The keys of a `Backend.to_spec` dict.
_SPEC_KEYS = ("backend", "model", "device", "dtype", "batch_size", "options")


def backend_from_spec(spec, *, cache=False):
    """Rebuild a backend from the settings returned by its `~radioassist.backends.Backend.to_spec`.

    This is how a backend travels to another process (a dask worker): its
    settings, not the instance with its loaded model and locks.

    Parameters
    ----------
    spec : dict
        ``{'backend', 'model', 'device', 'dtype', 'batch_size', 'options'}``,
        as made by ``backend.to_spec()``.
    cache : bool, optional
        Reuse the process-wide cached instance of a built-in backend, as
        `get_backend` does (off by default: the caller keeps its own).

    Returns
    -------
    `~radioassist.backends.Backend`

    Raises
    ------
    InputError
        If ``spec`` is not such a dict (the message names the missing or unknown keys).
    BackendError
        If the backend is unknown here or rejects the options.

    Examples
    --------
    >>> from radioassist.backends import backend_from_spec
    >>> backend = backend_from_spec({'backend': 'vision', 'model': None, 'device': 'cpu', 'dtype': None,
    ...                              'batch_size': 32, 'options': {'threshold': 0.4}})
    >>> backend.batch_size, backend.options['threshold']
    (32, 0.4)
    """
    if not isinstance(spec, dict):
        msg = f"a backend spec must be a dict made by Backend.to_spec(), got {type(spec).__name__}"
        raise InputError(msg)
    missing = [key for key in _SPEC_KEYS if key not in spec]
    unknown = sorted(set(spec) - set(_SPEC_KEYS))
    if missing or unknown:
        problems = ([f"missing key(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown key(s) {', '.join(map(str, unknown))}"] if unknown else [])
        msg = (f"backend spec has {'; '.join(problems)}; expected exactly the keys {', '.join(_SPEC_KEYS)} "
               "as made by Backend.to_spec()")
        raise InputError(msg)
    options = spec["options"]
    if not isinstance(options, dict):
        msg = f"backend spec 'options' must be a dict of backend options, got {type(options).__name__}"
        raise InputError(msg)
    clash = sorted(set(options) & {"model", "device", "dtype", "batch_size", "cache"})
    if clash:
        msg = f"backend spec 'options' must not repeat {', '.join(clash)}; they are keys of the spec itself"
        raise InputError(msg)
    return get_backend(spec["backend"], model=spec["model"], device=spec["device"], dtype=spec["dtype"],
                       batch_size=spec["batch_size"], cache=cache, **options)


def _is_builtin(cls):
    """True for the classes of the built-in backend modules (not user overrides of their names)."""
    module = _BUILTIN_MODULES.get(getattr(cls, "name", None) or "")
    return module is not None and cls.__module__ == module
