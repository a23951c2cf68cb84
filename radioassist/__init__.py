"""radioassist: classify radio sources in survey mosaics.

Cut every catalogued source out of a radio mosaic with its WCS, render each
cutout the way a model expects, ask a classifier one of the radio tasks
(B1-B6 of radio-llava) and write labels and class probabilities back into the
catalogue.
"""
from .version import __version__
from .exceptions import *  # noqa: F401,F403
from .image import Beam, RadioImage, load_image  # noqa: F401
from .catalog import read_catalog  # noqa: F401
from .cutouts import CutoutStack, extract_cutouts  # noqa: F401
from .render import blank_mask, render, write_png  # noqa: F401
from .simulate import SimulatedSky, simulate_sky  # noqa: F401
from .tasks import Task, available_tasks, get_task, register_task  # noqa: F401
from .backends import Predictions, available_backends, clear_model_cache, get_backend  # noqa: F401
from .backends import register_backend  # noqa: F401
from .pipeline import classify, classify_survey  # noqa: F401
from .evaluate import EvaluationResult, evaluate  # noqa: F401
from .general import evaluate_general  # noqa: F401
from .metrics import classification_report  # noqa: F401
from .report import write_report  # noqa: F401

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
