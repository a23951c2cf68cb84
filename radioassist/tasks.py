"""The radio classification tasks (B1-B6 of radio-llava), as data.

A :class:`Task` holds everything a backend needs to know about a question:
its labels, whether it is single- or multi-label, its prompts and how to parse
a free-text answer.  Backends read tasks; they never hard-code them.  Users can
add their own with :func:`register_task`.
"""
from dataclasses import dataclass, field

from .exceptions import InputError

__all__ = ["Task", "TASKS", "get_task", "register_task", "available_tasks"]


@dataclass(frozen=True)
class Task:
    """A classification question asked of every cutout.

    Parameters
    ----------
    id : str
        Short identifier used in column names, e.g. ``'B6'``.
    name : str
        Human-readable description.
    labels : tuple of str
        The allowed answers, in a fixed order (class index = position).
    multilabel : bool
        True when an image can carry several labels at once (B1); such a task
        also accepts the answer ``none_label`` for "no label applies".
    upstream_name : str, optional
        The task's name in radio-llava (e.g. ``'galaxymorphclass-mirabest'``).
    none_label : str, optional
        The answer meaning "none of the labels" for multi-label tasks (``'NONE'``).
    prompts : dict, optional
        Prompt texts by version (``'v1'``, ``'v2'``), see :mod:`radioassist.prompts` users.
    class_definitions : dict, optional
        Label -> one-sentence definition, optionally added to prompts.
    answer_aliases : dict, optional
        Extra accepted spellings of answers (e.g. ``{'FRI': 'FR-I'}``), used by the parser.
    survey : str, optional
        Where the task's reference data comes from.
    """

    id: str
    name: str
    labels: tuple
    multilabel: bool = False
    upstream_name: str = ""
    none_label: str = "NONE"
    prompts: dict = field(default_factory=dict, compare=False)
    class_definitions: dict = field(default_factory=dict, compare=False)
    answer_aliases: dict = field(default_factory=dict, compare=False)
    survey: str = ""

    def __post_init__(self):
        if len(self.labels) < 2 and not self.multilabel:
            raise InputError(f"task {self.id!r} needs at least two labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise InputError(f"task {self.id!r} has duplicate labels: {self.labels!r}")
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def n_classes(self):
        """Number of labels."""
        return len(self.labels)

    def label_index(self, label):
        """Index of ``label`` in :attr:`labels` (case-insensitive), or a clear error."""
        wanted = str(label).strip().upper()
        for i, candidate in enumerate(self.labels):
            if candidate.upper() == wanted:
                return i
        raise InputError(f"{label!r} is not a label of task {self.id} (labels: {', '.join(self.labels)})")


TASKS = {}


def register_task(task, *, overwrite=False):
    """Add a user-defined :class:`Task` to the registry (by its ``id``)."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task expects a Task, got {type(task).__name__}")
    if task.id in TASKS and not overwrite:
        raise InputError(f"a task with id {task.id!r} is already registered; pass overwrite=True to replace it")
    TASKS[task.id] = task
    return task


def get_task(task):
    """Return the :class:`Task` for an id (``'B6'``), an upstream name, or a Task (returned as is)."""
    if isinstance(task, Task):
        return task
    key = str(task).strip()
    for candidate in TASKS.values():
        if key.upper() == candidate.id.upper() or key == candidate.upstream_name:
            return candidate
    raise InputError(f"unknown task {task!r}; available tasks: {', '.join(available_tasks())}")


def available_tasks():
    """Ids of the registered tasks."""
    return list(TASKS)


# --- the six radio-llava benchmark tasks (labels and upstream names from the reference system) ---
for _task in (
    Task("B1", "extended/diffuse source detection", ("EXTENDED", "DIFFUSE", "DIFFUSE-LARGE"), multilabel=True,
         upstream_name="smorph-radioimg", survey="SMGPS, EMU"),
    Task("B2", "source morphology (components-peaks)", ("1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"),
         upstream_name="smorph-rgz", survey="FIRST (Radio Galaxy Zoo)"),
    Task("B3", "extended radio-galaxy detection", ("YES", "NO"), upstream_name="galaxydet-radioimg",
         survey="SMGPS, EMU"),
    Task("B4", "imaging artefact detection", ("YES", "NO"), upstream_name="artefactdet-radioimg",
         survey="SMGPS, EMU"),
    Task("B5", "image peculiarity", ("ORDINARY", "COMPLEX", "PECULIAR"), upstream_name="anomalydet-radioimg",
         survey="SMGPS, EMU"),
    Task("B6", "radio-galaxy morphology (FR-I/FR-II)", ("FR-I", "FR-II"), upstream_name="galaxymorphclass-mirabest",
         survey="FIRST (MiraBest)"),
):
    register_task(_task)
del _task
