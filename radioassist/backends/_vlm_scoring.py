"""Shared pieces of the vision-language backends (``llava``, ``hf-vlm``, ``openai``).

* Conversations: the radio system prompt, optional few-shot turns (example
  images with their true answers) and the task prompt, as chat messages whose
  user turns carry one image each (:func:`build_conversation`).
* The closed answer set of a task (:func:`answer_candidates`): the labels of a
  single-label task; for a multi-label task every subset of its labels in the
  canonical answer format (``'EXTENDED,DIFFUSE'``, ``'NONE'`` for the empty set).
* Closed-set probabilities from per-candidate answer log-likelihoods
  (:func:`candidate_predictions`) and one-hot results from parsed free-text
  answers (:func:`parsed_predictions`).
* With torch: one prefill of the image+prompt prefix per image and cheap
  continuations over the candidate answers on the prefix's key/value cache
  (:func:`score_candidates`), and the token ids of each candidate answer as the
  model's chat template writes it (:func:`candidate_token_ids`).

Scoring rule
------------
The score of a candidate answer ``a`` for image ``x`` and prompt ``q`` is its
total log-likelihood ``log p(a, <end> | x, q) = sum_t log p(a_t | x, q, a_<t)``
over the answer's tokens *and* the end-of-turn token that closes the
assistant's answer (``<|im_end|>`` for Qwen2 models), with no length
normalisation.  Including the end-of-turn token makes answers that are prefixes
of others (``FR-I`` vs ``FR-II``) well defined: ``FR-I`` is scored as "FR-I then
stop".  The probabilities are the softmax of these scores over the closed
candidate set, i.e. the model's distribution restricted to the allowed answers
and renormalised.

Multi-label tasks (B1) are scored over the subsets of their labels (2**n
candidates, the empty set written ``NONE``); the class probabilities are the
marginals ``P(label) = sum of P(S) over the subsets S containing label`` and the
answer is the most probable subset.  Tasks with many labels keep only the
subsets up to the largest size that keeps the count within ``max_subsets``
(all subsets up to 6 labels with the default 64).
"""
import hashlib
import itertools
from collections import namedtuple

import numpy as np

from ..exceptions import InputError
from ..prompts import PROMPT_VERSIONS, SYSTEM_PROMPT, build_prompt, format_answer, reask_prompt
from .base import as_image_list

__all__ = ["Candidate", "PROMPT_OPTION_DEFAULTS", "check_prompt_options", "normalise_examples",
           "examples_digest", "system_text", "build_conversation", "answer_candidates",
           "candidate_predictions",
           "parsed_predictions", "log_softmax", "score_candidates", "candidate_token_ids", "end_of_turn_id",
           "join_attempts"]

#: One allowed answer: its text and the labels it stands for (a tuple; empty for NONE).
Candidate = namedtuple("Candidate", ["text", "labels"])

#: Prompt options shared by the VLM backends, with their defaults.
PROMPT_OPTION_DEFAULTS = {"prompt_version": "v2", "with_definitions": False, "system_prompt": True,
                          "examples": ()}

_MODES = ("score", "generate")


def check_prompt_options(options, *, modes=_MODES):
    """Validate the shared prompt options in place (``options`` is the backend's option dict)."""
    version = options.get("prompt_version", "v2")
    if version not in PROMPT_VERSIONS:
        msg = f"prompt_version must be one of {', '.join(PROMPT_VERSIONS)}, got {version!r}"
        raise InputError(msg)
    system = options.get("system_prompt", True)
    if system is not None and not isinstance(system, (bool, str)):
        msg = f"system_prompt must be True (the radio system prompt), False/None or a string, got {system!r}"
        raise InputError(msg)
    if "mode" in options and options["mode"] not in modes:
        msg = f"mode must be one of {', '.join(modes)}, got {options['mode']!r}"
        raise InputError(msg)
    for key in ("max_new_tokens", "max_reasks", "max_subsets"):
        if key in options:
            value = options[key]
            low = 0 if key == "max_reasks" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                msg = f"{key} must be an integer >= {low}, got {value!r}"
                raise InputError(msg)
    options["examples"] = normalise_examples(options.get("examples") or ())
    return options


def normalise_examples(examples):
    """Few-shot examples as a tuple of ``(uint8 (H, W, 3) image, labels)`` pairs.

    Parameters
    ----------
    examples : sequence of (image, labels)
        Each image is a rendered uint8 RGB (or grey) array; labels are a label
        string or a sequence of labels (multi-label tasks; empty for NONE).
    """
    out = []
    for i, item in enumerate(examples):
        try:
            image, labels = item
        except (TypeError, ValueError):
            msg = (f"few-shot example {i} must be an (image, labels) pair, e.g. (rendered_cutout, 'FR-II'), "
                   f"got {type(item).__name__}")
            raise InputError(msg) from None
        image = as_image_list([image])[0]
        if isinstance(labels, str):
            labels = (labels,)
        out.append((np.ascontiguousarray(image), tuple(str(lab) for lab in labels)))
    return tuple(out)


def examples_digest(examples):
    """SHA-256 of the few-shot examples (image bytes, shapes and answers), for provenance; None if none."""
    if not examples:
        return None
    h = hashlib.sha256()
    for image, labels in examples:
        h.update(str(image.shape).encode())
        h.update(image.tobytes())
        h.update(("|".join(labels) + "\n").encode())
    return h.hexdigest()


def system_text(system_prompt):
    """The text of a ``system_prompt`` option: the radio system prompt (True), a custom string, or None."""
    if system_prompt is True:
        return SYSTEM_PROMPT
    if system_prompt:
        return str(system_prompt)
    return None


def build_conversation(task, *, prompt_version="v2", with_definitions=False, system_prompt=True, examples=(),
                       history=(), image_part=None):
    """Chat messages asking ``task`` about one image, in the transformers multimodal format.

    Parameters
    ----------
    task : `~radioassist.tasks.Task`
    prompt_version, with_definitions : optional
        As for :func:`radioassist.prompts.build_prompt`.
    system_prompt : bool or str, optional
        True: the radio system prompt; a string: a custom one; False/None: none.
    examples : sequence of (image, labels)
        Few-shot examples: each adds a user turn (image + prompt) and an
        assistant turn with the true answer before the query.
    history : sequence of str
        Earlier answers of the model to the query, each followed by a re-ask
        turn (:func:`radioassist.prompts.reask_prompt`); used by generation
        mode.  The question and image stay in the conversation.
    image_part : callable, optional
        ``image_part(index)`` returns the content part of the ``index``-th image
        (examples first, the query last); ``{'type': 'image'}`` by default.

    Returns
    -------
    list of dict
        ``{'role': ..., 'content': [parts]}`` messages.
    """
    prompt = build_prompt(task, version=prompt_version, with_definitions=with_definitions)
    part = image_part or (lambda index: {"type": "image"})
    messages = []
    system = system_text(system_prompt)
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    for i, (_, labels) in enumerate(examples):
        if task.multilabel and [str(lab).upper() for lab in labels] == [task.none_label.upper()]:
            labels = ()
        messages.append({"role": "user", "content": [part(i), {"type": "text", "text": prompt}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": format_answer(task, labels)}]})
    messages.append({"role": "user", "content": [part(len(examples)), {"type": "text", "text": prompt}]})
    if history:
        reask = reask_prompt(task, version=prompt_version)
        for answer in history:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": str(answer)}]})
            messages.append({"role": "user", "content": [{"type": "text", "text": reask}]})
    return messages


def answer_candidates(task, *, max_subsets=64):
    """The closed set of answers of ``task``, as `Candidate` tuples.

    Single-label tasks: one candidate per label.  Multi-label tasks: the
    subsets of the labels in :func:`radioassist.prompts.format_answer` form
    (``'NONE'`` first), all of them when there are at most ``max_subsets``,
    otherwise the subsets up to the largest size that keeps within it (never
    fewer than NONE and the single labels).

    Examples
    --------
    >>> from radioassist.backends._vlm_scoring import answer_candidates
    >>> [c.text for c in answer_candidates('B6')]
    ['FR-I', 'FR-II']
    >>> [c.text for c in answer_candidates('B1')][:5]
    ['NONE', 'EXTENDED', 'DIFFUSE', 'DIFFUSE-LARGE', 'EXTENDED,DIFFUSE']
    """
    from ..tasks import get_task

    task = get_task(task)
    if not task.multilabel:
        return [Candidate(label, (label,)) for label in task.labels]
    n = task.n_classes
    out = []
    for size in range(n + 1):
        combos = list(itertools.combinations(task.labels, size))
        if size > 1 and len(out) + len(combos) > max_subsets:
            break
        out.extend(Candidate(format_answer(task, combo), tuple(combo)) for combo in combos)
    return out


def log_softmax(scores, axis=-1):
    """Numerically stable log-softmax of a float array (``-inf`` entries stay ``-inf``)."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.max(scores, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return scores - top - np.log(np.sum(np.exp(scores - top), axis=axis, keepdims=True))


def candidate_predictions(task, candidates, scores):
    """Labels and class probabilities from candidate log-likelihoods.

    Parameters
    ----------
    task : `~radioassist.tasks.Task`
    candidates : list of `Candidate`
        As returned by :func:`answer_candidates`.
    scores : array, shape (N, n_candidates)
        Total answer log-likelihoods (or any log-scores); a row that is not
        finite anywhere gives label None and NaN probabilities.

    Returns
    -------
    labels : list
        A label per row (a tuple of labels for multi-label tasks).
    probabilities : ndarray, shape (N, n_classes)
        Softmax over the candidates (single-label), or marginal label
        probabilities over the candidate subsets (multi-label).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(candidates))
    n = scores.shape[0]
    ok = np.any(np.isfinite(scores), axis=1)
    safe = np.where(np.isnan(scores), -np.inf, scores)
    joint = np.zeros_like(safe)
    if ok.any():
        joint[ok] = np.exp(log_softmax(safe[ok], axis=1))
    # candidate -> multi-hot membership over task labels
    member = np.zeros((len(candidates), task.n_classes))
    for k, cand in enumerate(candidates):
        for label in cand.labels:
            member[k, task.labels.index(label)] = 1.0
    probabilities = np.full((n, task.n_classes), np.nan)
    probabilities[ok] = np.clip(joint[ok] @ member, 0.0, 1.0)
    labels = []
    best = np.argmax(np.where(np.isfinite(safe), safe, -np.inf), axis=1)
    for i in range(n):
        if not ok[i]:
            labels.append(None)
        elif task.multilabel:
            labels.append(candidates[best[i]].labels or (task.none_label,))
        else:
            labels.append(candidates[best[i]].labels[0])
    return labels, probabilities


def parsed_predictions(task, parsed):
    """Labels and one-hot probabilities from parsed free-text answers.

    ``parsed`` holds the output of :func:`radioassist.parsing.parse_answer` per
    row.  A parsed answer gives probability 1 to its label(s) and 0 to the
    others; None (unparsable), or an explicit NONE to a single-label task,
    gives label None and NaN probabilities.
    """
    n = len(parsed)
    probabilities = np.full((n, task.n_classes), np.nan)
    labels = []
    for i, found in enumerate(parsed):
        if found is None or (not task.multilabel and len(found) != 1):
            labels.append(None)
            continue
        probabilities[i] = 0.0
        for label in found:
            probabilities[i, task.labels.index(label)] = 1.0
        labels.append((tuple(found) or (task.none_label,)) if task.multilabel else found[0])
    return labels, probabilities


def join_attempts(answers):
    """The raw-answer text of a row answered in several attempts (first answer, then each re-ask's)."""
    answers = [str(a) for a in answers]
    if len(answers) <= 1:
        return answers[0] if answers else ""
    return " | ".join([answers[0]] + [f"re-ask {i}: {a}" for i, a in enumerate(answers[1:], 1)])


# ---------------------------------------------------------------------------------------------- torch
def _special_ids(tokenizer):
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    for token_id, token in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items():
        if getattr(token, "special", False):
            special.add(int(token_id))
    return special


_SENTINEL = "\u2063ANSWER\u2063"


def _reply_layout(processor, messages):
    """(generation prompt, text the template writes before the answer, text after it), all as strings."""
    prefix = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = processor.apply_chat_template(
        messages + [{"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]}],
        add_generation_prompt=False, tokenize=False)
    at = full.find(_SENTINEL)
    if full.startswith(prefix) and at >= len(prefix):
        return prefix, full[len(prefix):at], full[at + len(_SENTINEL):]
    return prefix, "", ""  # the template writes replies unlike its generation prompt: answer text only


def end_of_turn_id(processor, messages, *, eos_token_id=None):
    """The token that closes the assistant's reply in the chat template (``eos_token_id`` if it writes none)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    _, _, after = _reply_layout(processor, messages)
    if after:
        special = _special_ids(tokenizer)
        for token in tokenizer(after, add_special_tokens=False)["input_ids"]:
            if token in special:
                return int(token)
    if isinstance(eos_token_id, (list, tuple)):
        eos_token_id = eos_token_id[0] if eos_token_id else None
    return None if eos_token_id is None else int(eos_token_id)


def candidate_token_ids(processor, messages, candidates, *, eos_token_id=None):
    """Token ids of each candidate answer as the chat template writes the assistant's reply.

    The continuation of a candidate is what follows the generation prompt in the
    rendered conversation: any text the template puts before the answer, the
    answer, and the end-of-turn token (the first special token the template
    writes after the answer; ``eos_token_id`` when it writes none).  Ids are
    taken from the tokenisation of prompt + answer, so merges across the
    boundary are those the model would see.

    Parameters
    ----------
    processor
        A transformers processor with ``apply_chat_template`` and ``tokenizer``.
    messages : list of dict
        The conversation up to the question (as :func:`build_conversation` makes it).
    candidates : list of `Candidate`
    eos_token_id : int, optional
        End-of-turn token when the template writes no special token after the answer.

    Returns
    -------
    list of list of int
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    prefix, before, _ = _reply_layout(processor, messages)
    end = end_of_turn_id(processor, messages, eos_token_id=eos_token_id)
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    out = []
    for cand in candidates:
        text = before + cand.text
        ids = tokenizer(prefix + text, add_special_tokens=False)["input_ids"]
        if ids[:len(prefix_ids)] == prefix_ids and len(ids) > len(prefix_ids):
            cont = list(ids[len(prefix_ids):])
        else:
            cont = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if end is not None:
            cont.append(end)
        out.append(cont)
    return out


def _generation_positions(model, inputs):
    """Position ids of a left-padded prompt batch, as ``generate`` computes them (2-D, or 3-D/4-D for M-RoPE)."""
    import torch

    prepare = getattr(model, "_prepare_position_ids_for_generation", None)
    if prepare is not None:
        try:
            return prepare(inputs["input_ids"], dict(inputs))
        except Exception:  # pragma: no cover - private API of transformers; fall back to the plain rule
            pass
    mask = inputs["attention_mask"].long()
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0).to(torch.long)


def _forward_names(model):
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # an unmerged peft model
    params = inspect.signature(base.forward).parameters
    cache = "cache" if "cache" in params else "past_key_values"
    keep = next((name for name in ("logits_to_keep", "num_logits_to_keep") if name in params), None)
    return cache, keep


def _output_cache(output):
    cache = getattr(output, "cache", None)
    if cache is None:
        cache = getattr(output, "past_key_values", None)
    return cache


def score_candidates(model, inputs, candidate_ids):
    """Answer log-likelihoods of every candidate for a batch of prompts: one prefill, cached continuations.

    The image+prompt prefix of each row is run once (``use_cache=True``, logits
    of its last position only); the first answer token is scored from those
    logits, and each candidate's remaining tokens run as a short continuation
    on the prefix's key/value cache (only the answer tokens are computed; the
    cache is cropped back after each candidate).  Positions continue those of
    the prompt as in ``generate``, so left-padded rows of different lengths
    (images with different numbers of tokens) are scored as if alone.

    Parameters
    ----------
    model : transformers model
        An image-text-to-text model in eval mode.
    inputs : mapping
        Processor output for the batch (left padded), on the model's device.
    candidate_ids : list of list of int
        Token ids of each candidate (:func:`candidate_token_ids`).

    Returns
    -------
    ndarray, shape (batch, n_candidates)
        ``sum_t log p(token_t | prefix, earlier tokens)`` in float64.
    """
    import torch

    cache_name, keep_name = _forward_names(model)
    inputs = dict(inputs)
    mask = inputs["attention_mask"]
    positions = _generation_positions(model, inputs)
    kwargs = dict(inputs, position_ids=positions, use_cache=True)
    if keep_name:
        kwargs[keep_name] = 1
    output = model(**kwargs)
    first = torch.log_softmax(output.logits[:, -1].float(), dim=-1)
    cache = _output_cache(output)
    del output
    batch = mask.shape[0]
    device = mask.device
    scores = np.zeros((batch, len(candidate_ids)))
    for k, ids in enumerate(candidate_ids):
        total = first[:, ids[0]].double().cpu().numpy()  # sums in float64 on the CPU (no float64 on MPS)
        if len(ids) > 1:
            steps = len(ids) - 1
            tokens = torch.tensor(ids[:-1], dtype=torch.long, device=device).expand(batch, steps)
            targets = torch.tensor(ids[1:], dtype=torch.long, device=device).expand(batch, steps)
            shape = [1] * (positions.dim() - 1) + [steps]
            cont_positions = positions[..., -1:] + 1 + torch.arange(steps, device=device).view(*shape)
            cont_mask = torch.cat([mask, mask.new_ones((batch, steps))], dim=1)
            out = model(input_ids=tokens, attention_mask=cont_mask, position_ids=cont_positions,
                        use_cache=True, **{cache_name: cache})
            logp = torch.log_softmax(out.logits.float(), dim=-1)
            total = total + logp.gather(-1, targets[..., None])[..., 0].double().cpu().numpy().sum(-1)
            cache = _output_cache(out) or cache
            del out, logp
            cache.crop(-steps)
        scores[:, k] = total
    return scores
