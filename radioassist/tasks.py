"""The radio classification tasks (B1-B6 of radio-llava), as data.

A :class:`Task` holds everything a backend needs to know about a question:
its labels, whether it is single- or multi-label, its prompts and how to parse
a free-text answer.  Backends read tasks; they never hard-code them.  Users can
add their own with :func:`register_task`.

Besides the six radio-llava benchmark tasks, one user-style example task is
registered: ``M4``, a 4-class radio-galaxy morphology (FR-I, FR-II, COMPACT,
BENT) as in the Radio Galaxy Dataset of Griese et al. (2023).

Prompts are built by :func:`radioassist.prompts.build_prompt` (or
:meth:`Task.prompt`), free-text answers parsed by
:func:`radioassist.parsing.parse_answer` (or :meth:`Task.parse_answer`), and
the ground truth of B1/B3/B4/B5 derived from per-image tag lists by
:func:`labels_from_tags`.
"""
from dataclasses import dataclass, field

from .exceptions import InputError
from .logger import log
from .parsing import fanaroff_riley_aliases, yes_no_aliases
from .prompts import BUILTIN_DEFINITIONS, BUILTIN_PROMPTS

__all__ = ["Task", "TASKS", "get_task", "register_task", "available_tasks", "labels_from_tags", "TAG_NAMES"]


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
        Prompt pieces (``'question'``, ``'options'``, ``'instructions'``,
        ``'v1_format'``) and/or literal prompt texts by version (``'v1'``,
        ``'v2'``); see :mod:`radioassist.prompts`.  Empty: a generic question
        listing the labels.
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

    def prompt(self, *, version="v2", with_definitions=False):
        """The prompt text for this task (see :func:`radioassist.prompts.build_prompt`)."""
        from .prompts import build_prompt

        return build_prompt(self, version=version, with_definitions=with_definitions)

    def parse_answer(self, text):
        """Labels named by a free-text answer, or None (see :func:`radioassist.parsing.parse_answer`)."""
        from .parsing import parse_answer

        return parse_answer(self, text)

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


# --- per-image tags -> labels (B1/B3/B4/B5), as the reference system derives its ground truth ---
#: Tags seen in the radio-llava annotated image sets.
TAG_NAMES = ("BACKGROUND", "COMPACT", "EXTENDED", "RADIO-GALAXY", "DIFFUSE", "DIFFUSE-LARGE", "ARTEFACT",
             "FILAMENT", "BORDER", "MOSAICING", "WTF", "DUBIOUS", "RING", "ARC")


def _tags_b1(tags):
    # RADIO-GALAXY implies EXTENDED; keep EXTENDED/DIFFUSE/DIFFUSE-LARGE; anything else (a lone COMPACT or
    # BACKGROUND, or only other tags) means NONE, i.e. no label
    selected = set(tags)
    if "RADIO-GALAXY" in selected:
        selected.add("EXTENDED")
    return selected & {"EXTENDED", "DIFFUSE", "DIFFUSE-LARGE"}


def _tags_b3(tags):
    return {"YES" if "RADIO-GALAXY" in tags else "NO"}


def _tags_b4(tags):
    return {"YES" if "ARTEFACT" in tags else "NO"}


def _tags_b5(tags):
    # upstream's rule: DIFFUSE-LARGE alone does not make an image COMPLEX
    if "WTF" in tags:
        return {"PECULIAR"}
    if tags & {"EXTENDED", "DIFFUSE", "RADIO-GALAXY"}:
        return {"COMPLEX"}
    return {"ORDINARY"}


_TAG_RULES = {"B1": _tags_b1, "B3": _tags_b3, "B4": _tags_b4, "B5": _tags_b5}


def labels_from_tags(task, tags):
    """Ground-truth labels of ``task`` from an image's tag list (radio-llava rules).

    Parameters
    ----------
    task : str or Task
        ``'B1'``, ``'B3'``, ``'B4'`` or ``'B5'`` (the tasks whose labels derive from tags).
    tags : sequence of str, or str
        The image's tags (see :data:`TAG_NAMES`), case-insensitive; a string is
        split on commas.

    Returns
    -------
    labels : tuple of str
        In task order; ``()`` means NONE for B1.  Single-label tasks give one label.

    Notes
    -----
    B1: RADIO-GALAXY implies EXTENDED; EXTENDED, DIFFUSE and DIFFUSE-LARGE are
    kept; everything else is dropped, so a lone COMPACT or BACKGROUND gives
    NONE (upstream logs an error and keeps an empty list when only other tags
    remain; here that is NONE too).  B3: YES iff RADIO-GALAXY.  B4: YES iff
    ARTEFACT.  B5: PECULIAR if WTF, else COMPLEX if any of EXTENDED, DIFFUSE,
    RADIO-GALAXY, else ORDINARY.

    Examples
    --------
    >>> from radioassist.tasks import labels_from_tags
    >>> labels_from_tags('B1', ['RADIO-GALAXY', 'DIFFUSE']), labels_from_tags('B1', ['COMPACT'])
    (('EXTENDED', 'DIFFUSE'), ())
    >>> labels_from_tags('B5', 'COMPACT, WTF'), labels_from_tags('B3', ['compact'])
    (('PECULIAR',), ('NO',))
    """
    task = get_task(task)
    rule = _TAG_RULES.get(task.id)
    if rule is None:
        msg = (f"task {task.id} has no tag mapping (tags give the labels of {', '.join(_TAG_RULES)}); "
               "its labels come directly from the datalist")
        raise InputError(msg)
    if isinstance(tags, str):
        tags = tags.split(",")
    if tags is None:
        msg = f"tags must be a sequence of strings (e.g. ['COMPACT', 'EXTENDED']), got {tags!r}"
        raise InputError(msg)
    normalised = {str(tag).strip().upper().replace("_", "-") for tag in tags}
    normalised.discard("")
    unknown = normalised.difference(TAG_NAMES)
    if unknown:
        log.debug("ignoring unknown tags %s for task %s", sorted(unknown), task.id)
    chosen = rule(normalised)
    return tuple(label for label in task.labels if label in chosen)


# --- the six radio-llava benchmark tasks (labels and upstream names from the reference system) ---
_FR = fanaroff_riley_aliases()
_BUILTIN_ALIASES = {
    "B1": {"DIFFUSE LARGE": "DIFFUSE-LARGE", "LARGE DIFFUSE": "DIFFUSE-LARGE",
           "LARGE-SCALE DIFFUSE": "DIFFUSE-LARGE"},
    # upstream's class description misspells 1C-2P as 1C-2C: models may echo it
    "B2": {"1C-2C": "1C-2P"},
    "B3": yes_no_aliases(),
    "B4": yes_no_aliases(),
    "B5": {"ANOMALOUS": "PECULIAR"},
    "B6": dict(_FR),
    "M4": {**_FR, "COMPT": "COMPACT", "POINT-LIKE": "COMPACT", "POINT SOURCE": "COMPACT",
           "UNRESOLVED": "COMPACT", "BENT-TAILED": "BENT", "BENT-TAIL": "BENT", "BENT TAILED": "BENT",
           "WAT": "BENT", "NAT": "BENT", "WIDE-ANGLE TAIL": "BENT", "NARROW-ANGLE TAIL": "BENT",
           "HEAD-TAIL": "BENT"},
}


def _builtin(task_id, name, labels, **kwargs):
    task = Task(task_id, name, labels, prompts=dict(BUILTIN_PROMPTS[task_id]),
                class_definitions=dict(BUILTIN_DEFINITIONS[task_id]),
                answer_aliases=dict(_BUILTIN_ALIASES[task_id]), **kwargs)
    return task


for _task in (
    _builtin("B1", "extended/diffuse source detection", ("EXTENDED", "DIFFUSE", "DIFFUSE-LARGE"),
             multilabel=True, upstream_name="smorph-radioimg", survey="SMGPS, EMU"),
    _builtin("B2", "source morphology (components-peaks)",
             ("1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"),
             upstream_name="smorph-rgz", survey="FIRST (Radio Galaxy Zoo)"),
    _builtin("B3", "extended radio-galaxy detection", ("YES", "NO"), upstream_name="galaxydet-radioimg",
             survey="SMGPS, EMU"),
    _builtin("B4", "imaging artefact detection", ("YES", "NO"), upstream_name="artefactdet-radioimg",
             survey="SMGPS, EMU"),
    _builtin("B5", "image peculiarity", ("ORDINARY", "COMPLEX", "PECULIAR"),
             upstream_name="anomalydet-radioimg", survey="SMGPS, EMU"),
    _builtin("B6", "radio-galaxy morphology (FR-I/FR-II)", ("FR-I", "FR-II"),
             upstream_name="galaxymorphclass-mirabest", survey="FIRST (MiraBest)"),
    # a user-style task: 4-class radio-galaxy morphology (Radio Galaxy Dataset, Griese et al. 2023)
    _builtin("M4", "radio-galaxy morphology (FR-I/FR-II/compact/bent)", ("FR-I", "FR-II", "COMPACT", "BENT"),
             survey="FIRST (Radio Galaxy Dataset, Griese et al. 2023)"),
):
    register_task(_task)
    # the rendered prompt texts, for code that reads them directly
    _task.prompts["v1"] = _task.prompt(version="v1")
    _task.prompts["v2"] = _task.prompt(version="v2")
del _task
