"""The radio classification tasks (B1-B6 of radio-llava), as data.

A :class:`Task` holds everything a backend needs to know about a question:
its labels, whether it is single- or multi-label, the pieces of its prompts,
its class definitions and the accepted spellings of its answers.  Backends
read tasks; they never hard-code them.  Users can add their own with
:func:`register_task`.

Besides the six radio-llava benchmark tasks, one user-style example task is
registered: ``M4``, a 4-class radio-galaxy morphology (FR-I, FR-II, COMPACT,
BENT) as in the Radio Galaxy Dataset of Griese et al. (2023).

This module is data only and imports no other part of the package's task
handling: prompts are built from a task by
:func:`radioassist.prompts.build_prompt`, free-text answers parsed by
:func:`radioassist.parsing.parse_answer`; labels are written as text by
:func:`label_text` and the ground truth of B1/B3/B4/B5 is derived from
per-image tag lists by :func:`labels_from_tags`.
"""
import numbers
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from .exceptions import InputError
from .logger import log

__all__ = ["Task", "Applicability", "TASKS", "get_task", "register_task", "available_tasks", "label_text",
           "labels_from_tags", "TAG_NAMES", "yes_no_aliases", "fanaroff_riley_aliases"]


class _FrozenDict(dict):
    """A dict that cannot be changed: the prompts, definitions and aliases of a task."""

    def _immutable(self, *args, **kwargs):
        msg = ("a Task cannot be changed: make a new one (e.g. dataclasses.replace(task, prompts={...})) "
               "and register it with register_task(..., overwrite=True)")
        raise TypeError(msg)

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _immutable

    def __reduce__(self):
        return (_FrozenDict, (dict(self),))


@dataclass(frozen=True)
class Applicability:
    """The sources a task applies to, and the task whose answer says which those are (the gate).

    FR-I/FR-II (B6) only means something for an extended radio galaxy, and B3
    answers exactly that: B6 applies where B3 says ``YES``.
    :func:`radioassist.classify` runs the gate first (the shipped model of
    ``task`` unless another is given) and flags the other rows
    ``not_applicable`` instead of labelling them.

    Parameters
    ----------
    description : str
        What the task applies to, in words (``'extended radio galaxies'``).
    task : str
        Id of the task that decides it (``'B3'``).
    label : str
        The label of that task meaning "applies" (``'YES'``).
    """

    description: str
    task: str
    label: str

    def __post_init__(self):
        for name in ("description", "task", "label"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                msg = f"Applicability.{name} must be a non-empty string, got {value!r}"
                raise InputError(msg)


@dataclass(frozen=True)
class Task:
    """A classification question asked of every cutout.

    A task is immutable: its dicts (``prompts``, ``class_definitions``,
    ``answer_aliases``) are read-only copies of the ones given.  To change a
    registered task, make a new one (`dataclasses.replace`) and register it
    with ``overwrite=True``.

    Parameters
    ----------
    id : str
        Short identifier used in column names, e.g. ``'B6'``.
    name : str
        Human-readable description.
    labels : tuple of str
        The allowed answers, in a fixed order (class index = position).
    multilabel : bool, optional
        True when an image can carry several labels at once (B1); such a task
        also accepts the answer ``none_label`` for "no label applies".  This
        and the following parameters are keyword-only.
    upstream_name : str, optional
        The task's name in radio-llava (e.g. ``'galaxymorphclass-mirabest'``).
    none_label : str, optional
        The answer meaning "none of the labels" (``'NONE'``).
    prompts : dict, optional
        Prompt pieces (``'question'``, ``'options'``, ``'instructions'``,
        ``'v1_format'``, ``'definitions_intro'``, ``'definitions_outro'``)
        and/or literal prompt texts by version (``'v1'``, ``'v2'``); see
        :mod:`radioassist.prompts` and :meth:`prompt_pieces`.  Empty: a
        generic question listing the labels.
    class_definitions : dict, optional
        Label -> one-sentence definition, optionally added to prompts.
    answer_aliases : dict, optional
        Extra accepted spellings of answers (e.g. ``{'FRI': 'FR-I'}``), used by the parser.
    survey : str, optional
        Where the task's reference data comes from.
    applies_to : `Applicability`, optional
        The sources the question is meaningful for and the task that picks
        them out (B6: extended radio galaxies, as B3 says).  None: every
        source.
    """

    id: str
    name: str
    labels: tuple
    _: KW_ONLY
    multilabel: bool = False
    upstream_name: str = ""
    none_label: str = "NONE"
    prompts: dict = field(default_factory=dict, compare=False)
    class_definitions: dict = field(default_factory=dict, compare=False)
    answer_aliases: dict = field(default_factory=dict, compare=False)
    survey: str = ""
    applies_to: Applicability = None

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.strip():
            raise InputError(f"a task id must be a non-empty string, got {self.id!r}")
        labels = () if isinstance(self.labels, str) else tuple(self.labels)
        if not labels or not all(isinstance(lab, str) and lab.strip() for lab in labels):
            msg = (f"the labels of task {self.id!r} must be a sequence of non-empty strings, "
                   f"got {self.labels!r}")
            raise InputError(msg)
        if len(labels) < 2 and not self.multilabel:
            raise InputError(f"task {self.id!r} needs at least two labels, got {labels!r}")
        if len({lab.upper() for lab in labels}) != len(labels):
            raise InputError(f"task {self.id!r} has duplicate labels: {labels!r}")
        if self.none_label.upper() in {lab.upper() for lab in labels}:
            msg = f"the none label {self.none_label!r} of task {self.id!r} is also one of its labels"
            raise InputError(msg)
        if self.multilabel and any("," in lab for lab in labels):
            msg = (f"the labels of the multi-label task {self.id!r} cannot contain commas "
                   "(answers join them with commas)")
            raise InputError(msg)
        # normalise while the object is being built (the one place a frozen dataclass may do so)
        object.__setattr__(self, "labels", labels)
        for name in ("prompts", "class_definitions", "answer_aliases"):
            object.__setattr__(self, name, _FrozenDict(getattr(self, name) or {}))
        if self.applies_to is not None and not isinstance(self.applies_to, Applicability):
            msg = (f"applies_to of task {self.id!r} must be an Applicability (or None), "
                   f"got {type(self.applies_to).__name__}")
            raise InputError(msg)
        if self.applies_to is not None and self.applies_to.task.upper() == self.id.upper():
            msg = f"task {self.id!r} cannot be its own gate (applies_to.task)"
            raise InputError(msg)

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

    def label_text(self, value):
        """``value`` (a label, labels, class index, indicator vector or None) as catalogue text.

        Same as ``label_text(value, task=self)``; see :func:`radioassist.tasks.label_text`.
        """
        return label_text(value, task=self)

    def prompt_pieces(self):
        """The pieces of this task's prompts, with the generic defaults filled in.

        Returns
        -------
        pieces : dict
            A new dict with at least ``'question'`` (str), ``'options'``
            (bool: list the labels), ``'instructions'`` (tuple of str;
            ``{labels}`` stands for the comma-separated labels),
            ``'v1_format'`` (str), ``'definitions_intro'`` and
            ``'definitions_outro'`` (str), plus any literal ``'v1'``/``'v2'``
            texts the task gives.  A task without a question gets a generic
            one and its labels listed as options.
        """
        pieces = dict(self.prompts)
        if "question" not in pieces:
            pieces["question"] = _GENERIC_QUESTION
            pieces.setdefault("options", True)
        pieces.setdefault("options", False)
        if "instructions" not in pieces:
            if self.multilabel:
                pieces["instructions"] = (_SEVERAL_LABELS, f"Answer {self.none_label} {_NONE_APPLIES}")
            else:
                pieces["instructions"] = (_ONE_LABEL,)
        if isinstance(pieces["instructions"], str):
            pieces["instructions"] = (pieces["instructions"],)
        pieces["instructions"] = tuple(pieces["instructions"])
        pieces.setdefault("v1_format", " ".join(pieces["instructions"]))
        pieces.setdefault("definitions_intro", "Consider these classes, defined as follows:")
        pieces.setdefault("definitions_outro", "")
        return pieces


TASKS = {}


def register_task(task, *, overwrite=False):
    """Add a user-defined :class:`Task` to the registry (by its ``id``)."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task expects a Task, got {type(task).__name__}")
    if task.id in TASKS and not overwrite:
        msg = f"a task with id {task.id!r} is already registered; pass overwrite=True to replace it"
        raise InputError(msg)
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


def _is_number(value):
    return isinstance(value, (numbers.Number, np.bool_)) and not isinstance(value, str)


def label_text(value, *, task=None):
    """A label, or the labels of a multi-label answer, as the text written in catalogues.

    The one spelling of labels in the ``<task>_label`` column of
    :func:`radioassist.classify`, the tables of :func:`radioassist.evaluate`,
    the captions of :func:`radioassist.gallery.make_gallery` and the answers
    of training data (:func:`radioassist.prompts.format_answer`).

    Parameters
    ----------
    value : str, sequence of str, int, array-like of bool, or None
        A label (``'FR-II'``), the labels of a multi-label answer (a tuple;
        empty, or the none label alone, when no label applies), or None when
        there is no answer (unparsed, failed or not classified).  With
        ``task``, also a class index (single-label tasks) or a boolean
        indicator vector over the task's labels (multi-label tasks), as in
        training targets, and for multi-label tasks a comma-separated string.
    task : str or `Task`, optional
        The task: labels are checked (case-insensitively) and written in its
        spelling and order, and its none label is used.  Without a task,
        strings are written as given and tuples joined in their order.

    Returns
    -------
    text : str
        ``''`` for None; the label; the labels joined by commas without
        spaces; the none label (``'NONE'``) when no label applies.

    Raises
    ------
    InputError
        A label that is not one of the task's, several labels for a
        single-label task, or a class index without a task.

    Examples
    --------
    >>> from radioassist.tasks import label_text
    >>> label_text(('DIFFUSE', 'EXTENDED'), task='B1'), label_text((), task='B1'), label_text(None)
    ('EXTENDED,DIFFUSE', 'NONE', '')
    >>> label_text(1, task='B6'), label_text([True, False, True], task='B1'), label_text('fr-ii', task='B6')
    ('FR-II', 'EXTENDED,DIFFUSE-LARGE', 'FR-II')
    """
    if value is None:
        return ""
    if task is None:
        if isinstance(value, str):
            return value
        if _is_number(value):
            msg = f"label_text needs task= to turn the class index {value!r} into a label"
            raise InputError(msg)
        return ",".join(str(lab) for lab in value) or "NONE"
    task = get_task(task)
    if isinstance(value, str):
        if value in task.labels:  # the common case first: a label as the backends give it
            return value
        if not value.strip():
            return ""
        parts = value.split(",") if task.multilabel else [value]
    elif isinstance(value, tuple) and value and all(v in task.labels for v in value) and (
            task.multilabel or len(set(value)) == 1):  # labels as the backends give them
        return ",".join(lab for lab in task.labels if lab in value)
    elif _is_number(value):
        index = float(value)
        if isinstance(value, (bool, np.bool_)) or not index.is_integer() or not 0 <= index < task.n_classes:
            msg = f"{value!r} is not a class index of task {task.id} (0 ... {task.n_classes - 1})"
            raise InputError(msg)
        return task.labels[int(value)]
    else:
        values = list(value)
        if task.multilabel and values and len(values) == task.n_classes and all(map(_is_number, values)):
            parts = [lab for lab, on in zip(task.labels, values) if on]
        else:
            parts = [str(v) for v in values]
    none = task.none_label.upper()
    indices = sorted({task.label_index(p) for p in parts if p.strip() and p.strip().upper() != none})
    if not indices:
        return task.none_label
    if len(indices) > 1 and not task.multilabel:
        msg = f"task {task.id} is single-label: give one label, got {value!r}"
        raise InputError(msg)
    return ",".join(task.labels[i] for i in indices)


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


# --- built-in task data: answer aliases, prompt pieces, class definitions ---
def yes_no_aliases():
    """Aliases of the YES/NO answers (``{'TRUE': 'YES', 'FALSE': 'NO', ...}``)."""
    return {"TRUE": "YES", "YEP": "YES", "AFFIRMATIVE": "YES", "FALSE": "NO", "NOPE": "NO", "NEGATIVE": "NO"}


def fanaroff_riley_aliases():
    """Aliases of FR-I / FR-II (``FRI``, ``FR 1``, ``Fanaroff-Riley type II``...)."""
    aliases = {}
    for label, numerals in (("FR-I", ("I", "1")), ("FR-II", ("II", "2"))):
        for numeral in numerals:
            for prefix in ("FR", "FR TYPE", "FR CLASS", "FANAROFF-RILEY", "FANAROFF-RILEY TYPE",
                           "FANAROFF-RILEY CLASS", "FANAROFF RILEY"):
                alias = f"{prefix}-{numeral}" if prefix == "FR" else f"{prefix} {numeral}"
                if alias != label:
                    aliases[alias] = label
            aliases[f"FR{numeral}"] = label
    return aliases


_FR = fanaroff_riley_aliases()
_ALIASES = {
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

# generic prompt pieces ({labels}: the comma-separated labels), used by tasks that give none of their own
_GENERIC_QUESTION = "Which of these classes does the radio source in the image belong to?"
_ONE_LABEL = "Answer with only one class label among {labels}, without any additional explanation text."
_SEVERAL_LABELS = ("Answer with only the labels of the classes among {labels} that you see in the image, "
                   "separated by commas, without any additional explanation text.")
_NONE_APPLIES = "if you cannot recognize any of the above classes in the image."
_YES_NO = "Answer concisely: Yes or No."

_ISLAND = ("An island is a group of 4-connected pixels whose intensity is above a detection threshold "
           "with respect to the sky background level.")
_SOURCE_CLASSES = "Consider these morphological classes of radio astronomical sources, defined as follows:"
_GALAXY_CLASSES = "Consider these morphological classes of radio galaxies, defined as follows:"

# prompt pieces of the built-in tasks.  'question', 'options' and 'instructions' make the v2
# prompt; 'v1_format' is upstream's answer-format sentence of the first prompt version.
_PROMPTS = {
    "B1": {
        "question": "Which of these morphological classes of radio sources do you see in the image?",
        "options": True,
        "instructions": (_SEVERAL_LABELS, f"Answer NONE {_NONE_APPLIES}"),
        "v1_format": ("Please report the identified class labels separated by commas, without any "
                      "additional explanation text. Report just NONE if you cannot recognize any of the "
                      "above classes in the image."),
        "definitions_intro": _SOURCE_CLASSES,
        "definitions_outro": _ISLAND,
    },
    "B2": {
        "question": "Which of these morphological classes of radio sources do you see in the image?",
        "options": True,
        "instructions": (_ONE_LABEL,),
        "v1_format": ("Please report only the identified class label, without any additional explanation "
                      "text. Report just NONE if you cannot recognize any of the above classes in the "
                      "image."),
        "definitions_intro": _SOURCE_CLASSES,
        "definitions_outro": _ISLAND,
    },
    "B3": {
        "question": "Do you see any likely radio galaxy with an extended morphology in the image?",
        "options": False,
        "instructions": (_YES_NO,),
        "v1_format": _YES_NO,
        "definitions_intro": "Consider these answers, defined as follows:",
    },
    "B4": {
        "question": "Do you see any imaging artefact with a ring pattern around bright sources in the image?",
        "options": False,
        "instructions": (_YES_NO,),
        "v1_format": _YES_NO,
        "definitions_intro": "Consider these answers, defined as follows:",
    },
    "B5": {
        "question": "Can you identify which peculiarity class the presented image belongs to?",
        "options": False,
        "instructions": (_ONE_LABEL,),
        "v1_format": ("Please report only the identified class label, without any additional explanation "
                      "text."),
        "definitions_intro": "Consider these radio image peculiarity classes, defined as follows:",
    },
    "B6": {
        "question": "Which of these morphological classes of radio galaxy do you see in the image?",
        "options": True,
        "instructions": (_ONE_LABEL,),
        "v1_format": "Report only the identified class label, without any additional explanation text.",
        "definitions_intro": _GALAXY_CLASSES,
    },
    "M4": {
        "question": "Which of these morphological classes of radio galaxy do you see in the image?",
        "options": True,
        "instructions": (_ONE_LABEL,),
        "v1_format": "Report only the identified class label, without any additional explanation text.",
        "definitions_intro": _GALAXY_CLASSES,
    },
}

_FR_I = (
    "a jet-dominated radio galaxy whose emission is brightest close to the core and fades with distance "
    "from it"
)
_FR_II = (
    "an edge-brightened radio galaxy whose lobes are brightest far from the core, with hotspots at the "
    "ends of powerful, well-collimated jets"
)

# class definitions (own wording of the reference's definitions), optionally added as context.
_DEFINITIONS = {
    "B1": {
        "EXTENDED": (
            "a single-island source with sharp edges whose size or shape differs from the synthesised beam"
            " (e.g. more than about 10 times the beam size, or elongated), or a source made of several "
            "disjoint islands, each compact or extended, such as a radio galaxy with separate core and "
            "lobes"
        ),
        "DIFFUSE": (
            "a single-island extended object of small angular size (below a few arcminutes) with diffuse "
            "edges and a roundish shape"
        ),
        "DIFFUSE-LARGE": (
            "large-scale diffuse emission (above a few arcminutes, covering a large part of the image) "
            "with an irregular shape"
        ),
    },
    "B2": {
        "1C-1P": "a single island with one flux intensity peak",
        "1C-2P": "a single island with two flux intensity peaks",
        "1C-3P": "a single island with three flux intensity peaks",
        "2C-2P": "two disjoint islands, each with a single flux intensity peak",
        "2C-3P": (
            "two disjoint islands, one with a single flux intensity peak and the other with two flux "
            "intensity peaks"
        ),
        "3C-3P": "three disjoint islands, each with a single flux intensity peak",
    },
    "B3": {
        "YES": (
            "the image contains at least one likely radio galaxy with an extended morphology (jets, lobes,"
            " or a core with separate lobes)"
        ),
        "NO": (
            "the image contains no such extended radio galaxy (only compact sources, diffuse emission or "
            "noise)"
        ),
    },
    "B4": {
        "YES": (
            "the image contains imaging artefacts, such as ring patterns or sidelobes around bright "
            "sources"
        ),
        "NO": "the image contains no such imaging artefact",
    },
    "B5": {
        "ORDINARY": (
            "the image contains only point-like or slightly resolved compact radio sources over the sky "
            "background, possibly with imaging artefacts"
        ),
        "COMPLEX": "the image contains one or more radio sources with an extended or diffuse morphology",
        "PECULIAR": (
            "the image contains one or more radio sources with an anomalous extended morphology, often "
            "with diffuse edges and irregular shapes covering a large part of the image"
        ),
    },
    "B6": {
        "FR-I": _FR_I,
        "FR-II": _FR_II,
    },
    "M4": {
        "FR-I": _FR_I,
        "FR-II": _FR_II,
        "COMPACT": (
            "a point-like or barely resolved source, similar in size and shape to the synthesised beam"
        ),
        "BENT": (
            "a radio galaxy whose jets or lobes are bent (a wide- or narrow-angle tail), usually by its "
            "motion through the surrounding medium"
        ),
    },
}


# --- the six radio-llava benchmark tasks (labels and upstream names from the reference system) ---
def _builtin(task_id, name, labels, **kwargs):
    return Task(task_id, name, labels, prompts=_PROMPTS[task_id], class_definitions=_DEFINITIONS[task_id],
                answer_aliases=_ALIASES[task_id], **kwargs)


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
             upstream_name="galaxymorphclass-mirabest", survey="FIRST (MiraBest)",
             applies_to=Applicability("extended radio galaxies", "B3", "YES")),
    # a user-style task: 4-class radio-galaxy morphology (Radio Galaxy Dataset, Griese et al. 2023)
    _builtin("M4", "radio-galaxy morphology (FR-I/FR-II/compact/bent)", ("FR-I", "FR-II", "COMPACT", "BENT"),
             survey="FIRST (Radio Galaxy Dataset, Griese et al. 2023)"),
):
    register_task(_task)
del _task
