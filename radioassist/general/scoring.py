"""Scores of general visual question answering: the rules of the public benchmarks.

One function per answer type, each comparing a model's answer with the
reference answer(s) of an item and returning a score in [0, 1]:

``'multiple_choice'``
    :func:`choice_accuracy`: 1 when the chosen option letter is the right one
    (MMBench, ScienceQA).  With the VLM backends the letter is chosen by
    closed-set log-likelihood over the option letters, so nothing is ever
    unparsable.
``'exact'``
    :func:`exact_match`: 1 when the normalised answer equals a normalised
    reference (VQA-style normalisation: lower case, punctuation and articles
    removed, number words written as digits).
``'relaxed'``
    :func:`relaxed_accuracy`: ChartQA's relaxed accuracy: numbers within 5%
    of the reference count as right (a trailing ``%`` divides by 100),
    anything else must match exactly (case-insensitive).
``'anls'``
    :func:`anls`: DocVQA's average normalised Levenshtein similarity:
    ``1 - d(a, r) / max(len(a), len(r))`` on lower-cased, whitespace-collapsed
    strings, 0 when the normalised distance is 0.5 or more; the best reference counts.

The score of a set is the mean of its items' scores; its uncertainty is a
percentile bootstrap over items (:func:`bootstrap_mean_interval`), and the
relative change of a model against a base model is bootstrapped with the
same item draws for both (:func:`relative_change_interval`), so two runs of
one checkpoint give a change of exactly 0 with an interval of (0, 0).
"""
import re
import string

import numpy as np

from ..exceptions import InputError

__all__ = ["ANSWER_TYPES", "normalize_answer", "exact_match", "relaxed_accuracy", "anls", "levenshtein",
           "choice_accuracy", "score_answer", "bootstrap_mean_interval", "relative_change",
           "relative_change_interval"]

#: Answer types of general items and the rule that scores each.
ANSWER_TYPES = {"multiple_choice": "option letter accuracy", "exact": "normalised exact match",
                "relaxed": "relaxed accuracy (5% numeric tolerance)", "anls": "ANLS (threshold 0.5)"}

_NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
                 "twelve": "12"}
_ARTICLES = {"a", "an", "the"}
_PUNCT = re.compile("[" + re.escape(string.punctuation.replace(".", "")) + "]")
_PERIOD = re.compile(r"(?<!\d)\.(?!\d)")


def _references(references):
    if isinstance(references, str):
        return [references]
    return [str(r) for r in references]


def normalize_answer(text):
    """VQA-style normalisation of a short answer.

    Lower case, punctuation removed (a decimal point between digits is kept),
    articles dropped, number words up to twelve written as digits, whitespace
    collapsed.

    Examples
    --------
    >>> from radioassist.general.scoring import normalize_answer
    >>> normalize_answer('  The Three red circles. ')
    '3 red circles'
    >>> normalize_answer('3.50')
    '3.50'
    """
    text = str(text).lower().replace("\n", " ").replace("\t", " ").strip()
    text = _PUNCT.sub("", text)
    text = _PERIOD.sub("", text)
    words = [_NUMBER_WORDS.get(w, w) for w in text.split() if w not in _ARTICLES]
    return " ".join(words)


def exact_match(prediction, references):
    """1.0 when the normalised prediction equals a normalised reference, else 0.0.

    Examples
    --------
    >>> from radioassist.general.scoring import exact_match
    >>> exact_match('Three.', ['3'])
    1.0
    >>> exact_match('4', '3')
    0.0
    """
    if prediction is None:
        return 0.0
    answer = normalize_answer(prediction)
    return float(any(answer == normalize_answer(r) for r in _references(references)))


def _to_float(text):
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_accuracy(prediction, references, *, tolerance=0.05):
    """ChartQA's relaxed accuracy: numbers within ``tolerance`` (relative) of a reference, else exact text.

    Follows the published rule (pix2struct/ChartQA): both answers are read as
    numbers (``'12%'`` is 0.12); when both are numbers and the reference is not
    zero, the answer is right if ``|answer - reference| / |reference| <=
    tolerance``; otherwise the lower-cased strings must be equal.  The best
    reference counts.

    Examples
    --------
    >>> from radioassist.general.scoring import relaxed_accuracy
    >>> relaxed_accuracy('10.4', ['10'])
    1.0
    >>> relaxed_accuracy('10.6', ['10'])
    0.0
    >>> relaxed_accuracy('Yes', ['yes'])
    1.0
    """
    if prediction is None:
        return 0.0
    prediction = str(prediction).strip()
    best = 0.0
    for reference in _references(references):
        reference = reference.strip()
        p, r = _to_float(prediction), _to_float(reference)
        if p is not None and r:
            ok = abs(p - r) / abs(r) <= tolerance
        else:
            ok = prediction.lower() == reference.lower()
        best = max(best, float(ok))
    return best


def levenshtein(a, b):
    """Edit distance between two strings (insertions, deletions and substitutions cost 1).

    Examples
    --------
    >>> from radioassist.general.scoring import levenshtein
    >>> levenshtein('kitten', 'sitting')
    3
    """
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls(prediction, references, *, threshold=0.5):
    """DocVQA's ANLS of one answer: ``1 - normalised edit distance`` to the closest reference.

    The normalised distance is the edit distance over the longer string's
    length; a distance of ``threshold`` (0.5) or more scores 0.

    Strings are lower-cased and their whitespace collapsed first.

    Examples
    --------
    >>> from radioassist.general.scoring import anls
    >>> anls('radioassist', ['radioassist'])
    1.0
    >>> round(anls('radio asist', ['radio assist']), 3)
    0.917
    >>> anls('xyz', ['radio'])
    0.0
    """
    if prediction is None:
        return 0.0
    answer = " ".join(str(prediction).strip().lower().split())
    best = 0.0
    for reference in _references(references):
        reference = " ".join(reference.strip().lower().split())
        longest = max(len(answer), len(reference))
        distance = 0.0 if longest == 0 else levenshtein(answer, reference) / longest
        best = max(best, 1.0 - distance if distance < threshold else 0.0)
    return float(best)


def choice_accuracy(prediction, references):
    """1.0 when the chosen option letter equals the reference letter (case-insensitive), else 0.0."""
    if prediction is None:
        return 0.0
    chosen = str(prediction).strip().upper()
    return float(any(chosen == r.strip().upper() for r in _references(references)))


_SCORERS = {"multiple_choice": choice_accuracy, "exact": exact_match, "relaxed": relaxed_accuracy, "anls": anls}


def score_answer(prediction, references, answer_type):
    """Score of one answer by the rule of its answer type (see :data:`ANSWER_TYPES`).

    Parameters
    ----------
    prediction : str or None
        The model's answer (an option letter for ``'multiple_choice'``); None
        (no answer) scores 0.
    references : str or sequence of str
        Reference answer(s).
    answer_type : str
        One of :data:`ANSWER_TYPES`.

    Returns
    -------
    float
        In [0, 1].
    """
    try:
        scorer = _SCORERS[answer_type]
    except KeyError:
        msg = f"answer_type must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}"
        raise InputError(msg) from None
    return scorer(prediction, references)


def _weights(n, n_resamples, seed):
    from ..metrics import _resample_weights

    rng = np.random.default_rng(seed)
    block = max(1, min(int(n_resamples), 4_000_000 // max(n, 1)))
    return np.concatenate(list(_resample_weights(n, int(n_resamples), rng, block)), axis=0)


def _check_bootstrap(n_resamples, confidence):
    from ..metrics import _check_bootstrap as check

    check(n_resamples, confidence)


def bootstrap_mean_interval(scores, *, n_resamples=1000, confidence=0.95, seed=0):
    """Percentile bootstrap interval of the mean of per-item scores (items resampled with replacement).

    The resampling is that of :func:`radioassist.metrics.bootstrap_interval`
    (same seed, same draws for the same number of items).

    Parameters
    ----------
    scores : array-like, shape (n,)
        Per-item scores.
    n_resamples : int, optional
    confidence : float, optional
    seed : int, optional

    Returns
    -------
    (float, float)
        ``(nan, nan)`` for an empty set.

    Examples
    --------
    >>> from radioassist.general.scoring import bootstrap_mean_interval
    >>> low, high = bootstrap_mean_interval([1.0] * 60 + [0.0] * 40)
    >>> bool(low < 0.6 < high)
    True
    """
    _check_bootstrap(n_resamples, confidence)
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return float("nan"), float("nan")
    means = _weights(scores.size, n_resamples, seed) @ scores / scores.size
    alpha = (1 - float(confidence)) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def relative_change(score, base):
    """``(score - base) / base``; NaN when the base score is 0 (no change can be expressed relative to it)."""
    score, base = float(score), float(base)
    if base == 0:
        return float("nan")
    return (score - base) / base


def relative_change_interval(scores, base_scores, *, n_resamples=1000, confidence=0.95, seed=0):
    """Paired bootstrap interval of the relative change of a set score against a base model's.

    Items are resampled once per draw and both models are scored on the same
    draw, so the interval reflects the difference between the models, not
    the sampling of the set twice.

    Parameters
    ----------
    scores, base_scores : array-like, shape (n,)
        Per-item scores of the model and of its base, item by item.
    n_resamples, confidence, seed : optional
        As for :func:`bootstrap_mean_interval`.

    Returns
    -------
    (float, float)
        Quantiles of ``(mean(scores) - mean(base)) / mean(base)`` over draws
        whose base mean is not 0; ``(nan, nan)`` when there are none.

    Examples
    --------
    >>> from radioassist.general.scoring import relative_change_interval
    >>> relative_change_interval([1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    (0.0, 0.0)
    """
    _check_bootstrap(n_resamples, confidence)
    scores = np.asarray(scores, dtype=float)
    base_scores = np.asarray(base_scores, dtype=float)
    if scores.shape != base_scores.shape:
        msg = f"scores and base_scores must have the same length, got {scores.size} and {base_scores.size}"
        raise InputError(msg)
    if scores.size == 0:
        return float("nan"), float("nan")
    weights = _weights(scores.size, n_resamples, seed)
    model = weights @ scores
    base = weights @ base_scores
    ok = base != 0
    if not ok.any():
        return float("nan"), float("nan")
    change = (model[ok] - base[ok]) / base[ok]
    alpha = (1 - float(confidence)) / 2
    low, high = np.quantile(change, [alpha, 1 - alpha])
    return float(low), float(high)
