"""Prompts of the radio tasks, compatible with radio-llava.

Two prompt versions are available:

``'v2'`` (default; the format the fine-tuned radio-llava model saw)
    The preamble :data:`PREAMBLE`, optionally a context paragraph with the
    class definitions, the question, the option list (one label per line;
    B1, B2, B6 and user tasks that ask for it) and an instructions block::

        You are given a radio astronomical input image. Answer to the question below, [...]
        Question: Which of these morphological classes of radio galaxy do you see in the image?
        FR-I
        FR-II
        Instructions:
        - Answer with only one class label among FR-I, FR-II, without any additional explanation text.

    The reference describes the v2 wording in short (preamble, question,
    options, instructions); the exact upstream v2 strings were not available,
    so the instruction lines are a faithful reconstruction of that description.

``'v1'``
    The shorter first radio-llava layout: the question, the options joined by
    ``' \\n '`` and the answer format, in upstream's own words.

The zero-shot system prompt is :data:`SYSTEM_PROMPT`.

Prompt pieces live in each task's ``prompts`` dict: ``'question'`` (str),
``'options'`` (bool: list the labels), ``'instructions'`` (v2 instruction
lines; ``{labels}`` is replaced by the comma-separated labels),
``'v1_format'`` (the v1 answer-format sentence) and optionally
``'definitions_intro'``/``'definitions_outro'`` (around the class
definitions).  The built-in tasks also carry the rendered texts under
``'v1'`` and ``'v2'``.  A user task may give only literal ``'v1'``/``'v2'``
texts, or nothing at all (a generic question listing its labels is used).
"""

__all__ = [
    "SYSTEM_PROMPT",
    "PREAMBLE",
    "PROMPT_VERSIONS",
    "build_prompt",
    "reask_prompt",
    "format_answer",
    "chat_messages",
]

#: System prompt used upstream for zero-shot models.
SYSTEM_PROMPT = "You are an AI assistant specialized in radio astronomical topics."

#: First sentence of every v2 prompt.
PREAMBLE = ("You are given a radio astronomical input image. Answer to the question below, "
            "strictly following the provided instructions.")

#: Available prompt versions.
PROMPT_VERSIONS = ("v1", "v2")

_REASK = "The format of your response does not comply with the requested instructions."

_ISLAND = ("An island is a group of 4-connected pixels whose intensity is above a detection threshold "
           "with respect to the sky background level.")

_SOURCE_CLASSES = "Consider these morphological classes of radio astronomical sources, defined as follows:"
_GALAXY_CLASSES = "Consider these morphological classes of radio galaxies, defined as follows:"

_ONE_LABEL = "Answer with only one class label among {labels}, without any additional explanation text."
_YES_NO = "Answer concisely: Yes or No."

# Prompt pieces of the built-in tasks.  'question', 'options' and 'instructions' make the v2
# prompt; 'v1_format' is upstream's answer-format sentence of the first prompt version.
BUILTIN_PROMPTS = {
    "B1": {
        "question": "Which of these morphological classes of radio sources do you see in the image?",
        "options": True,
        "instructions": (
            "Answer with only the labels of the classes among {labels} that you see in the image, "
            "separated by commas, without any additional explanation text.",
            "Answer NONE if you cannot recognize any of the above classes in the image.",
        ),
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

# Class definitions (own wording of the reference's definitions), optionally added as context.
BUILTIN_DEFINITIONS = {
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


def _task(task):
    from .tasks import get_task

    return get_task(task)


def _parts(task):
    """Prompt pieces of a task, with generic defaults for user tasks."""
    parts = dict(task.prompts or {})
    if "question" not in parts:
        parts.setdefault("question", "Which of these classes does the radio source in the image belong to?")
        parts.setdefault("options", True)
    parts.setdefault("options", False)
    if "instructions" not in parts:
        if task.multilabel:
            parts["instructions"] = (
                "Answer with only the labels of the classes among {labels} that you see in the image, "
                "separated by commas, without any additional explanation text.",
                f"Answer {task.none_label} if you cannot recognize any of the above classes in the image.",
            )
        else:
            parts["instructions"] = (_ONE_LABEL,)
    if isinstance(parts["instructions"], str):
        parts["instructions"] = (parts["instructions"],)
    if "v1_format" not in parts:
        parts["v1_format"] = " ".join(parts["instructions"])
    return parts


def _fill(text, task):
    return text.replace("{labels}", ", ".join(task.labels))


def _definitions(task, parts, version):
    definitions = dict(task.class_definitions or {})
    if not definitions:
        return ""
    intro = parts.get("definitions_intro", "Consider these classes, defined as follows:")
    outro = parts.get("definitions_outro", "")
    items = [(label, definitions[label]) for label in task.labels if label in definitions]
    items += [(label, text) for label, text in definitions.items() if label not in task.labels]
    if version == "v1":
        body = "; \n ".join(f"{label}: {text}" for label, text in items)
        paragraph = f"{intro} \n {body}."
        return f"{paragraph} \n {outro}" if outro else paragraph
    lines = [f"Context: {intro}"] + [f"- {label}: {text}." for label, text in items]
    if outro:
        lines.append(outro)
    return "\n".join(lines)


def build_prompt(task, *, version="v2", with_definitions=False):
    """The text prompt (without the image token) asking ``task`` about one image.

    Parameters
    ----------
    task : str or `~radioassist.tasks.Task`
        Task id (``'B6'``), upstream name or Task.
    version : {'v2', 'v1'}, optional
        Prompt version (see the module documentation).  ``'v2'`` is what the
        fine-tuned radio-llava model saw.
    with_definitions : bool, optional
        Add a context paragraph that defines each class (the task's
        ``class_definitions``).

    Returns
    -------
    prompt : str

    Raises
    ------
    InputError
        Unknown task or version.

    Examples
    --------
    >>> from radioassist.prompts import PREAMBLE, build_prompt
    >>> prompt = build_prompt('B6')
    >>> prompt.startswith(PREAMBLE)
    True
    >>> print(prompt[len(PREAMBLE) + 1:])
    Question: Which of these morphological classes of radio galaxy do you see in the image?
    FR-I
    FR-II
    Instructions:
    - Answer with only one class label among FR-I, FR-II, without any additional explanation text.
    >>> build_prompt('B4', version='v1').split(' \\n ')
    ['Do you see any imaging artefact with a ring pattern around bright sources in the image? ',
     'Answer concisely: Yes or No.']
    """
    from .exceptions import InputError

    task = _task(task)
    if version not in PROMPT_VERSIONS:
        msg = f"unknown prompt version {version!r}; available versions: {', '.join(PROMPT_VERSIONS)}"
        raise InputError(msg)
    parts = _parts(task)
    if "question" not in (task.prompts or {}) and isinstance((task.prompts or {}).get(version), str):
        literal = task.prompts[version]  # a user task given as literal prompt text
        context = _definitions(task, parts, version) if with_definitions else ""
        return f"{context}\n{literal}" if context else literal
    question = _fill(parts["question"], task)
    context = _definitions(task, parts, version) if with_definitions else ""
    if version == "v1":
        # upstream layout: description + ' \n' + question + ' \n ' + options joined by ' \n '
        # + ' \n ' + answer format
        text = f"{question}  \n "
        if parts["options"]:
            text += " \n ".join(task.labels) + " \n "
        text += _fill(parts["v1_format"], task)
        return f"{context} \n{text}" if context else text
    lines = [PREAMBLE]
    if context:
        lines.append(context)
    lines.append(f"Question: {question}")
    if parts["options"]:
        lines.extend(task.labels)
    lines.append("Instructions:")
    lines.extend(f"- {_fill(line, task)}" for line in parts["instructions"])
    return "\n".join(lines)


def reask_prompt(task, *, version="v2"):
    """A format reminder for re-asking after an unparsable answer (the question is not repeated).

    Sent as a new user turn after the model's answer, as upstream does (up to
    a few times) before giving up on an image.

    Examples
    --------
    >>> from radioassist.prompts import reask_prompt
    >>> print(reask_prompt('B3'))
    The format of your response does not comply with the requested instructions.
    Answer again, strictly following these instructions:
    - Answer concisely: Yes or No.
    """
    from .exceptions import InputError

    task = _task(task)
    if version not in PROMPT_VERSIONS:
        msg = f"unknown prompt version {version!r}; available versions: {', '.join(PROMPT_VERSIONS)}"
        raise InputError(msg)
    parts = _parts(task)
    lines = [_REASK, "Answer again, strictly following these instructions:"]
    instructions = [_fill(line, task) for line in parts["instructions"]]
    if parts["options"] and not any(", ".join(task.labels) in line for line in instructions):
        lines.append(f"- Choose among: {', '.join(task.labels)}.")
    lines.extend(f"- {line}" for line in instructions)
    return "\n".join(lines)


def format_answer(task, labels):
    """The answer text a model should give for true ``labels`` (few-shot turns, training data).

    Single-label tasks: the label; multi-label tasks: the labels in task order
    joined by commas, or the task's none label (``'NONE'``) when empty.

    Examples
    --------
    >>> from radioassist.prompts import format_answer
    >>> format_answer('B1', ['DIFFUSE', 'EXTENDED']), format_answer('B1', []), format_answer('B6', 'FR-II')
    ('EXTENDED,DIFFUSE', 'NONE', 'FR-II')
    """
    task = _task(task)
    if isinstance(labels, str):
        labels = [labels]
    indices = sorted({task.label_index(label) for label in labels})
    if not task.multilabel:
        if len(indices) != 1:
            from .exceptions import InputError

            msg = f"task {task.id} is single-label: give exactly one label, got {list(labels)!r}"
            raise InputError(msg)
        return task.labels[indices[0]]
    if not indices:
        return task.none_label
    return ",".join(task.labels[i] for i in indices)


def chat_messages(task, *, version="v2", with_definitions=False, system_prompt=None, examples=()):
    """OpenAI-style chat messages (text parts only) for one image, optionally few-shot.

    Parameters
    ----------
    task, version, with_definitions
        As for :func:`build_prompt`.
    system_prompt : str or bool, optional
        A system message: True for :data:`SYSTEM_PROMPT`, a string for a custom
        one, None/False for none.
    examples : sequence of labels, optional
        True answers of few-shot example images: each adds a user turn (the
        prompt) and an assistant turn (:func:`format_answer`) before the query;
        the caller attaches one image per user turn, in order.

    Returns
    -------
    messages : list of dict
        ``{'role': ..., 'content': str}`` dicts; every user turn expects one image.
    """
    prompt = build_prompt(task, version=version, with_definitions=with_definitions)
    messages = []
    if system_prompt:
        content = SYSTEM_PROMPT if system_prompt is True else str(system_prompt)
        messages.append({"role": "system", "content": content})
    for labels in examples:
        messages.append({"role": "user", "content": prompt})
        messages.append({"role": "assistant", "content": format_answer(task, labels)})
    messages.append({"role": "user", "content": prompt})
    return messages
