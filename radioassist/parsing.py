"""Turn a model's free-text answer into task labels.

:func:`parse_answer` first applies radio-llava's own rule (upper-case, strip
``, ! . ;``, exact match of a label; for the multi-label task B1, split on
commas and match every part), then, when that fails, a robust reading:

* aliases and spellings: ``FRI``, ``FR I``, ``FR-1``, ``Fanaroff-Riley type
  II``; ``1C1P``, ``1c-1p``, ``1C 1P``; ``Yes``/``True``; unicode dashes;
  markdown emphasis and quotes;
* labels inside a sentence (``"The answer is FR-II."``), matched as whole
  words (``FR-I`` never matches inside ``FR-II``);
* labels negated just before (``not``, ``no``, ``neither``, ``n't``... within
  the same clause) are dropped (an answer that only negates is unparsable);
  if several labels remain, the label after an answer cue (``answer is``,
  ``label:``...) or one that opens the answer and ends its first sentence
  wins; otherwise the answer is ambiguous (None);
* multi-label answers: every non-negated label found, in task order; the none
  label (``NONE``, or an alias such as ``nothing``) gives an empty tuple.

An answer that names no label gives None (unparsable): count it as wrong and
report the unparsed rate, never drop it silently.
"""
import re

from .tasks import get_task

__all__ = ["parse_answer", "NONE_ALIASES"]

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_APOSTROPHES = dict.fromkeys(map(ord, "\u2018\u2019\u02bc"), "'")
_DECORATION = re.compile(r"[*`\"\u201c\u201d#]|</?\w+>")
_UPSTREAM_STRIP = {ord(c): None for c in ",!.;"}
_UPSTREAM_STRIP_MULTI = {ord(c): None for c in "!.;"}
_SEP = r"[\s_\-]*"
_NEGATION = re.compile(r"(?:\bNOT|\bNO|\bNEITHER|\bNOR|\bWITHOUT|\bRATHER THAN|\bINSTEAD OF|N'T|\bNON)"
                       r"(?:\s+[A-Z0-9'\-]+){0,3}\s*$")
_CUE = re.compile(r"\b(?:ANSWER|LABEL|CLASS|CLASSIFICATION|CATEGORY|PREDICTION|MORPHOLOGY)\s*(?:IS|:|=|-)\s*")
_CLAUSE_BREAK = re.compile(r"[,.;:!?\n()\[\]]")

#: Accepted spellings of "no label applies" in multi-label answers (besides the task's none label).
NONE_ALIASES = ("NONE", "NONE OF THE ABOVE", "NOTHING", "NO", "NO CLASS", "NO CLASSES", "NULL")


def _normalise(text):
    text = str(text).translate(_DASHES).translate(_APOSTROPHES)
    text = _DECORATION.sub(" ", text)
    return text.upper()


def _form_pattern(form):
    chunks = re.findall(r"[A-Z0-9]+", form.upper())
    if not chunks:
        return None
    return _SEP.join(re.escape(chunk) for chunk in chunks)


_CACHE = {}


def _matcher(task):
    """Compiled regex of every surface form of the task's answers, longest first, and form -> answer."""
    key = (task.id, task.labels, task.none_label, task.multilabel,
           tuple(sorted((str(k), str(v)) for k, v in task.answer_aliases.items())))
    if key in _CACHE:
        return _CACHE[key]
    forms = {label.upper(): label for label in task.labels}
    none_label = task.none_label
    if none_label and none_label.upper() not in forms:
        forms[none_label.upper()] = none_label
    for alias, target in task.answer_aliases.items():
        target = str(target)
        canonical = next((lab for lab in task.labels if lab.upper() == target.upper()), None)
        if canonical is None and none_label and target.upper() == none_label.upper():
            canonical = none_label
        if canonical is not None:
            forms.setdefault(str(alias).upper(), canonical)
    if task.multilabel:
        for alias in NONE_ALIASES:
            forms.setdefault(alias, none_label)
    patterns = []
    answers = []
    for form in sorted(forms, key=lambda f: (-len(f), f)):
        pattern = _form_pattern(form)
        if pattern is None:
            continue
        patterns.append(f"(?P<g{len(answers)}>{pattern})")
        answers.append(forms[form])
    regex = re.compile(r"(?<![A-Z0-9\-])(?:" + "|".join(patterns) + r")(?![A-Z0-9])")
    _CACHE[key] = (regex, answers)
    if len(_CACHE) > 256:
        _CACHE.pop(next(iter(_CACHE)))
    return regex, answers


def _answer_of(match, answers):
    return answers[int(match.lastgroup[1:])]


def _fullmatch(regex, answers, text):
    text = text.strip()
    if not text:
        return None
    match = regex.fullmatch(text)
    return _answer_of(match, answers) if match else None


def _ordered(task, labels):
    chosen = set(labels)
    return tuple(label for label in task.labels if label in chosen)


def parse_answer(task, text):
    """Labels named by a free-text answer, or None when it cannot be parsed.

    Parameters
    ----------
    task : str or `~radioassist.tasks.Task`
        Task id, upstream name or Task.
    text : str
        The model's answer.

    Returns
    -------
    labels : tuple of str or None
        Single-label tasks: ``(label,)``.  Multi-label tasks: the labels in
        task order, ``()`` for an explicit NONE.  An explicit NONE answer to a
        single-label task also gives ``()`` (parsed, but no label: count it as
        wrong).  None: no label found, or several conflicting labels.

    Examples
    --------
    >>> from radioassist.parsing import parse_answer
    >>> parse_answer('B6', 'FR-II'), parse_answer('B6', 'The answer is fri.')
    (('FR-II',), ('FR-I',))
    >>> parse_answer('B1', 'Extended, diffuse-large'), parse_answer('B1', 'NONE')
    (('EXTENDED', 'DIFFUSE-LARGE'), ())
    >>> parse_answer('B3', 'Yes, there is an extended radio galaxy.')
    ('YES',)
    >>> parse_answer('B6', 'I cannot tell.') is None
    True
    """
    task = get_task(task)
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    raw = str(text)
    regex, answers = _matcher(task)
    none_label = task.none_label

    # 1. the upstream rule: exact labels once punctuation is stripped
    upper = raw.strip().translate(_DASHES).upper()
    if task.multilabel:
        parts = [p.strip() for p in upper.translate(_UPSTREAM_STRIP_MULTI).split(",")]
        found = [_fullmatch(regex, answers, p) for p in parts]
        if parts and all(found):
            return _ordered(task, [f for f in found if f != none_label])
    else:
        found = _fullmatch(regex, answers, upper.translate(_UPSTREAM_STRIP))
        if found is not None:
            return () if found == none_label else (found,)

    # 2. the robust reading
    text = _normalise(raw)
    matches = []
    for match in regex.finditer(text):
        answer = _answer_of(match, answers)
        clause = _CLAUSE_BREAK.split(text[:match.start()])[-1]
        negated = bool(_NEGATION.search(clause)) and answer != none_label
        matches.append((answer, match.start(), negated))
    if not matches:
        return None
    labels = [a for a, _, _ in matches if a != none_label]
    kept = [a for a, _, neg in matches if a != none_label and not neg]
    has_none = any(a == none_label for a, _, _ in matches)

    if task.multilabel:
        if kept:
            return _ordered(task, kept)
        if has_none or labels:  # only NONE, or only negated labels ("no diffuse emission")
            return ()
        return None

    distinct_kept = list(dict.fromkeys(kept))
    if len(distinct_kept) == 1:
        return (distinct_kept[0],)
    if not distinct_kept:  # only NONE, or only negated labels ("it is not FR-I": no answer)
        return () if has_none and not labels else None
    for cue in _CUE.finditer(text):
        after = [a for a, start, neg in matches if start >= cue.end() and a != none_label and not neg]
        if after:
            return (after[0],)
    # an answer that starts with a label and goes on with an explanation ("FR-II. The lobes...")
    first = next(regex.finditer(text))
    first_answer = _answer_of(first, answers)
    if (first_answer != none_label and not text[:first.start()].strip()
            and re.match(r"\s*(?:$|[.!:\n(])", text[first.end():])):
        return (first_answer,)
    return None
