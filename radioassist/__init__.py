"""radioassist: classify radio sources in survey mosaics.

Cut every catalogued source out of a radio mosaic with its WCS, render each
cutout the way a model expects, ask a classifier one of the radio tasks
(B1-B6 of radio-llava) and write labels and class probabilities back into the
catalogue.

The public names below are imported on first use (PEP 562), so that
``import radioassist`` and the command line start in a fraction of a second
and pull in only what a call needs.
"""
import importlib
import sys
import types

from .version import __version__
from .exceptions import *  # noqa: F401,F403

#: Public name -> module (relative to the package) that defines it, imported on first use.
_LAZY = {
    "load_image": "image", "RadioImage": "image", "Beam": "image",
    "read_catalog": "catalog",
    "extract_cutouts": "cutouts", "CutoutStack": "cutouts",
    "render": "render", "blank_mask": "render", "write_png": "render",
    "simulate_sky": "simulate", "SimulatedSky": "simulate",
    "Task": "tasks", "get_task": "tasks", "register_task": "tasks", "available_tasks": "tasks",
    "get_backend": "backends", "available_backends": "backends", "register_backend": "backends",
    "Predictions": "backends", "clear_model_cache": "backends",
    "classify": "pipeline", "classify_survey": "pipeline",
    "evaluate": "evaluate", "EvaluationResult": "evaluate",
    "evaluate_general": "general",
    "classification_report": "metrics",
    "write_report": "report",
}

__all__ = [
    "__version__", "load_image", "RadioImage", "Beam", "read_catalog", "extract_cutouts", "CutoutStack",
    "render", "blank_mask", "write_png", "simulate_sky", "SimulatedSky", "Task", "get_task", "register_task",
    "available_tasks", "get_backend", "available_backends", "register_backend", "Predictions", "classify",
    "clear_model_cache",
    "classify_survey", "evaluate", "EvaluationResult", "evaluate_general", "classification_report",
    "write_report",
    "RadioassistError", "InputError", "ImageError", "CatalogError", "ModelError", "BackendError",
    "RadioassistWarning",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The package module: a public function named as its own submodule (``render``, ``evaluate``) stays
    the function when the submodule is imported (the import system sets the submodule as an attribute)."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
