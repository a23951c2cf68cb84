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

Prompt pieces are data of each task (:mod:`radioassist.tasks`), in its
``prompts`` dict: ``'question'`` (str), ``'options'`` (bool: list the
labels), ``'instructions'`` (v2 instruction lines; ``{labels}`` is replaced
by the comma-separated labels), ``'v1_format'`` (the v1 answer-format
sentence) and optionally ``'definitions_intro'``/``'definitions_outro'``
(around the class definitions); :meth:`radioassist.tasks.Task.prompt_pieces`
fills in the generic defaults.  A user task may give only literal
``'v1'``/``'v2'`` texts, or nothing at all (a generic question listing its
labels is used).  This module turns those pieces into text; the functions
take a `~radioassist.tasks.Task` or a task id.
"""
from .exceptions import InputError
from .tasks import get_task

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


def _fill(text, task):
    return text.replace("{labels}", ", ".join(task.labels))


def _definitions(task, pieces, version):
    definitions = dict(task.class_definitions)
    if not definitions:
        return ""
    intro = pieces["definitions_intro"]
    outro = pieces["definitions_outro"]
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


def _check_version(version):
    if version not in PROMPT_VERSIONS:
        msg = f"unknown prompt version {version!r}; available versions: {', '.join(PROMPT_VERSIONS)}"
        raise InputError(msg)


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
    task = get_task(task)
    _check_version(version)
    parts = task.prompt_pieces()
    if "question" not in task.prompts and isinstance(task.prompts.get(version), str):
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
    task = get_task(task)
    _check_version(version)
    parts = task.prompt_pieces()
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
    task = get_task(task)
    if labels is None or (isinstance(labels, str) and not labels.strip()):
        msg = f"format_answer needs the true labels of the image for task {task.id}, got {labels!r}"
        raise InputError(msg)
    text = task.label_text(labels)
    if not task.multilabel and text == task.none_label:
        msg = f"task {task.id} is single-label: give exactly one label, got {labels!r}"
        raise InputError(msg)
    return text


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
