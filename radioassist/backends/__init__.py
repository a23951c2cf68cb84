"""Classifier backends: one small interface, one registry.

A backend turns rendered cutouts (uint8 RGB images) into
:class:`Predictions` (a label and per-class probabilities per image) for a
`~radioassist.tasks.Task`.  Get one by name with :func:`get_backend`; add
your own with :func:`register_backend` or the ``radioassist.backends``
entry-point group.  Importing this package does not import torch.

Examples
--------
>>> from radioassist.backends import available_backends
>>> 'vision' in available_backends()
True
"""

from ._cache import clear_model_cache
from .base import Backend, PreparedImages
from .predictions import Predictions
from .registry import (
    ENTRY_POINT_GROUP,
    available_backends,
    backend_from_spec,
    get_backend,
    get_backend_class,
    register_backend,
)

__all__ = [
    "Backend",
    "PreparedImages",
    "Predictions",
    "register_backend",
    "get_backend",
    "get_backend_class",
    "backend_from_spec",
    "available_backends",
    "ENTRY_POINT_GROUP",
    "clear_model_cache",
    "VisionBackend",
]


def __getattr__(name):
    if name == "VisionBackend":  # imported on demand so the registry stays lazy
        from .vision import VisionBackend

        return VisionBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
