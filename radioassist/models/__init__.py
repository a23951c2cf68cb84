"""Classifiers shipped inside the package (small vision-only models, safetensors).

Each sub-folder is a transformers ``AutoModelForImageClassification``
checkpoint trained with `radioassist.training.train_vision_classifier` on
real survey images (``tools/train_shipped_models.py`` reproduces them), with
a model card (``README.md``: training data, licence, domain, preprocessing,
cross-sample results with bootstrap intervals, calibration, known failure
modes and the exact training command).  Their ``config.json`` records the
domain (surveys, frequency, pixel scale, beam, training samples), the
calibration temperature and the headline figures that ``radioassist models``
prints.  They work offline.
"""

import json
from pathlib import Path

from ..exceptions import ModelError
from ..tasks import get_task

__all__ = ["MODELS_DIR", "DEFAULT_MODELS", "default_model", "available_models", "model_path", "model_info"]

#: Folder holding the shipped checkpoints.
MODELS_DIR = Path(__file__).resolve().parent

#: Task id -> name of the shipped checkpoint used when no model is given.
DEFAULT_MODELS = {"B6": "first-frdeep-b6", "B3": "first-rgd-b3"}


def available_models():
    """Names of the shipped checkpoints (folders with a ``config.json``).

    Returns
    -------
    list of str
        Sorted names, as taken by :func:`model_path` and :func:`model_info`.

    Examples
    --------
    >>> from radioassist.models import DEFAULT_MODELS, available_models
    >>> set(DEFAULT_MODELS.values()) <= set(available_models())
    True
    """
    return sorted(p.name for p in MODELS_DIR.iterdir() if p.is_dir() and (p / "config.json").is_file())


def model_path(name):
    """Path of the shipped checkpoint ``name`` (see :func:`available_models`)."""
    path = MODELS_DIR / str(name)
    if not (path / "config.json").is_file():
        msg = f"no shipped model named {name!r}; shipped models: {', '.join(available_models()) or 'none'}"
        raise ModelError(msg)
    return path


def default_model(task):
    """Path of the shipped default checkpoint for a task.

    Parameters
    ----------
    task : `~radioassist.tasks.Task` or str

    Returns
    -------
    `pathlib.Path`

    Raises
    ------
    ModelError
        If no shipped model answers this task (the message lists those that do).

    Examples
    --------
    >>> from radioassist.models import default_model
    >>> default_model('B6').name
    'first-frdeep-b6'
    """
    task = get_task(task)
    name = DEFAULT_MODELS.get(task.id)
    if name is None:
        msg = (
            f"no default model is shipped for task {task.id} ({task.name}); tasks with a default: "
            f"{', '.join(sorted(DEFAULT_MODELS))}. Pass model= (a checkpoint folder or hub id) or train one "
            "with `radioassist train`"
        )
        raise ModelError(msg)
    path = MODELS_DIR / name
    if not (path / "config.json").is_file():
        msg = (
            f"the default model for task {task.id} is missing from the installation ({path}); "
            "reinstall radioassist"
        )
        raise ModelError(msg)
    return path


def model_info(name):
    """The ``radioassist`` metadata of a shipped checkpoint (task, labels, preprocessing, metrics...)."""
    path = model_path(name)
    with open(path / "config.json", encoding="utf-8") as fh:
        config = json.load(fh)
    info = dict(config.get("radioassist", {}))
    info.setdefault(
        "labels", [config.get("id2label", {}).get(str(i)) for i in range(len(config.get("id2label", {})))]
    )
    info["path"] = str(path)
    return info
