"""Evaluate vision-language models on general question sets, and what fine-tuning changed.

:func:`evaluate_general` asks every model every item of every set and scores
the answers by the rule of each item's answer type
(:mod:`radioassist.general.scoring`):

* multiple-choice items are answered by closed-set scoring: the
  log-likelihood of each option letter (plus the end-of-turn token) after
  one shared prefill of image + prompt, as the radio tasks are scored by the
  ``llava``/``hf-vlm`` backends; the most likely letter is the answer, so
  nothing is unparsable.  The ``openai`` backend scores the letters from the
  returned top log-probabilities when the server gives them, and otherwise
  reads the letter from the answer text (an answer naming no option is
  wrong, and counted in ``n_unanswered``);
* open items are answered by greedy generation (``max_new_tokens`` of the
  backend, 32 by default) and scored by normalised exact match, relaxed
  accuracy or ANLS.

The prompt is :func:`radioassist.general.sets.item_prompt` (the
LLaVA-OneVision evaluation instructions), with no system turn unless
``system_prompt`` is given: the radio system prompt of the radio tasks is not
used for general questions.

The result has one row per set and model: the set score (mean of the
per-item scores) with a bootstrap interval, and for every model but the base
the relative change ``(score - base) / base`` with a paired bootstrap
interval (same item draws for both models), exactly 0 when a model answers
exactly as its base.
"""
import gc
import json
import re
import time
import warnings
from pathlib import Path

import numpy as np

from ..exceptions import BackendError, InputError, RadioassistWarning
from ..logger import log
from .scoring import (ANSWER_TYPES, bootstrap_mean_interval, relative_change, relative_change_interval,
                      score_answer)
from .sets import GeneralSet, item_prompt, load_general_set

__all__ = ["evaluate_general", "GeneralEvaluationResult", "answer_items", "tradeoff_table", "parse_letter"]


# ------------------------------------------------------------------------------------------- answering
def _messages(item, system_prompt, image_part=None):
    messages = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": str(system_prompt)}]})
    part = image_part if image_part is not None else {"type": "image"}
    messages.append({"role": "user", "content": [part, {"type": "text", "text": item_prompt(item)}]})
    return messages


def _answer(predicted, raw=None, option_logprobs=None, error=None):
    return {"predicted": predicted, "raw": predicted if raw is None else raw,
            "option_logprobs": option_logprobs, "error": error}


def _chunks(rows, size):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _hf_answers(backend, items, system_prompt, progress):
    import torch

    from ..backends import _vlm_scoring as vs

    if backend.options.get("examples"):
        msg = (f"backend {backend.name!r} has few-shot radio examples (examples=); general questions are asked "
               "without them: use a backend without examples")
        raise InputError(msg)
    loaded = backend.load()
    size = int(backend.batch_size)
    messages = [_messages(item, system_prompt) for item in items]
    out = [None] * len(items)
    groups = {}
    for i, item in enumerate(items):
        if item.answer_type != "multiple_choice":
            continue
        candidates = [vs.Candidate(letter, (letter,)) for letter in item.letters]
        ids = vs.candidate_token_ids(loaded.processor, messages[i], candidates, eos_token_id=loaded.eos_token_id)
        groups.setdefault(tuple(tuple(x) for x in ids), []).append(i)
    open_rows = [i for i, item in enumerate(items) if item.answer_type != "multiple_choice"]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(items), desc=f"{backend.name} general", unit="item", leave=False)
    try:
        with loaded.lock, torch.inference_mode():
            for key, rows in groups.items():
                ids = [list(x) for x in key]
                for chunk in _chunks(rows, size):
                    texts = [backend._render(loaded, messages[i]) for i in chunk]
                    inputs = backend._encode(loaded, texts, [items[i].load_image() for i in chunk])
                    scores = vs.score_candidates(loaded.model, inputs, ids)
                    logp = vs.log_softmax(scores, axis=1)
                    for row, i in enumerate(chunk):
                        letter = items[i].letters[int(np.argmax(scores[row]))]
                        out[i] = _answer(letter, option_logprobs=[float(v) for v in logp[row]])
                    if bar is not None:
                        bar.update(len(chunk))
            if open_rows:
                config = backend._generation_config(loaded, messages[open_rows[0]])
                for chunk in _chunks(open_rows, size):
                    texts = [backend._render(loaded, messages[i]) for i in chunk]
                    answers = backend._generate(loaded, config, texts, [items[i].load_image() for i in chunk])
                    for i, text in zip(chunk, answers):
                        out[i] = _answer(text)
                    if bar is not None:
                        bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return out


_ALONE = re.compile(r"^\(?([A-Ja-j])\)?[.:]?$")
_LEADING = re.compile(r"^(?:(?i:the\s+)?(?i:answer|option)(?:\s+is)?\s*:?\s*)?\(?([A-J])(?:[).:]|\)?$|\s)")


def parse_letter(text, item):
    """The option letter an answer names, or None.

    A letter alone (``'b'``, ``'(B)'``, ``'B.'``), a capital letter leading
    the answer (``'B. red'``, ``'(B) red'``, ``'Answer: B'``), or the text
    of one option (``'red'``).

    Examples
    --------
    >>> from radioassist.general import load_general_set
    >>> from radioassist.general.evaluate import parse_letter
    >>> item = load_general_set('synthetic-general', limit=6)[5]
    >>> parse_letter('(C) bottom left', item), parse_letter('top right', item), parse_letter('a square', item)
    ('C', 'B', None)
    """
    text = str(text or "").strip()
    for pattern in (_ALONE, _LEADING):
        match = pattern.match(text)
        if match and match.group(1).upper() in item.letters:
            return match.group(1).upper()
    low = text.lower().rstrip(".")
    for letter, option in zip(item.letters, item.options):
        if low == str(option).strip().lower():
            return letter
    return None


def _openai_answers(backend, items, system_prompt, progress):
    import concurrent.futures

    from ..backends import _vlm_scoring as vs
    from ..backends.openai_compat import _RequestError, png_data_url, topk_candidate_scores

    mode = backend.options["mode"]
    detail = backend.options.get("image_detail")

    def one(i):
        item = items[i]
        spec = {"url": png_data_url(item.load_image())}
        if detail:
            spec["detail"] = str(detail)
        messages = _messages(item, None, {"type": "image_url", "image_url": spec})
        if system_prompt:
            messages.insert(0, {"role": "system", "content": str(system_prompt)})
        try:
            if item.answer_type == "multiple_choice":
                text, tokens = backend._ask(messages, logprobs=mode in ("auto", "score"))
                if tokens:
                    candidates = [vs.Candidate(letter, (letter,)) for letter in item.letters]
                    scores = topk_candidate_scores(tokens, candidates)
                    if np.any(np.isfinite(scores)):
                        letter = item.letters[int(np.argmax(scores))]
                        return _answer(letter, text, [float(v) for v in vs.log_softmax(scores)])
                elif mode == "score":
                    raise _RequestError("the server returned no log-probabilities (needed by mode='score')")
                return _answer(parse_letter(text, item), text)
            text, _ = backend._ask(messages, logprobs=False)
            return _answer(text)
        except _RequestError as exc:
            error = backend._redact(str(exc))
            return _answer(None, "ERROR: " + error, error=error)

    out = [None] * len(items)
    workers = max(1, min(int(backend.options["concurrency"]), len(items)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                               thread_name_prefix="radioassist-general") as pool:
        futures = {pool.submit(one, i): i for i in range(len(items))}
        for future in concurrent.futures.as_completed(futures):
            out[futures[future]] = future.result()
    failed = [a["error"] for a in out if a["error"]]
    if failed:
        log.warning("%d of %d general questions failed (scored 0); first error: %s", len(failed), len(items),
                    failed[0])
    return out


def answer_items(backend, items, *, system_prompt=None, progress=False):
    """Answers of a backend to general items.

    Parameters
    ----------
    backend : `~radioassist.backends.Backend`
        A ``llava``, ``hf-vlm`` (or subclass) or ``openai`` backend.
    items : `GeneralSet` or sequence of `GeneralItem`
    system_prompt : str, optional
        A system turn before every question (none by default).
    progress : bool, optional
        Show a progress bar (local models).

    Returns
    -------
    list of dict
        Per item: ``predicted`` (the option letter, the answer text, or None
        when no answer could be had), ``raw`` (what the model said),
        ``option_logprobs`` (log-probabilities of the option letters,
        renormalised over them; None for open items or parsed answers) and
        ``error`` (None, or why a request failed).
    """
    from ..backends.hf_vlm import HFVLMBackend
    from ..backends.openai_compat import OpenAIBackend

    items = list(items)
    if not items:
        return []
    if isinstance(backend, HFVLMBackend):
        return _hf_answers(backend, items, system_prompt, progress)
    if isinstance(backend, OpenAIBackend):
        return _openai_answers(backend, items, system_prompt, progress)
    msg = (f"backend {backend.name!r} cannot answer general questions: use a vision-language backend "
           "(llava, hf-vlm or openai)")
    raise BackendError(msg)


# ------------------------------------------------------------------------------------------- evaluation
def _release(backend):
    backend._loaded = None
    gc.collect()
    try:
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def _one_line(text):
    return " ".join(str(text).split()) if text is not None else ""


def evaluate_general(sets, models, *, base=None, limit=None, device="cpu", dtype=None, batch_size=8,
                     system_prompt=None, n_bootstrap=1000, confidence=0.95, seed=0, backend_options=None,
                     progress=False):
    """Score vision-language models on general question sets, and each model's change against a base.

    Parameters
    ----------
    sets : str, `GeneralSet` or sequence of them
        Set specs (``'synthetic-general'``, paths, ``'FORMAT:PATH,split=...'``;
        see :func:`radioassist.general.load_general_set`) or loaded sets.
    models : str, dict, Backend or sequence of them
        Model specs as for :func:`radioassist.evaluate.evaluate`
        (``'llava=BASE'``, ``'llava=BASE,adapter=LORA,name=lora'``,
        ``'openai=gpt-4.1'``...).
    base : str or int, optional
        The model the others are compared with (its name or index); the first by default.
    limit : int, optional
        Use the first ``limit`` items of every set.
    device, dtype, batch_size : optional
        Given to every backend that does not set them in its spec.
    system_prompt : str, optional
        A system turn before every question (none by default).
    n_bootstrap : int, optional
        Bootstrap resamples of the intervals (0: none).
    confidence : float, optional
        Coverage of the intervals.
    seed : int, optional
        Seed of the bootstrap (the same item draws for every model of a set).
    backend_options : dict, optional
        Extra options for every backend built from a spec.
    progress : bool, optional
        Show progress bars.

    Returns
    -------
    `GeneralEvaluationResult`

    Examples
    --------
    >>> from radioassist.general import evaluate_general
    >>> result = evaluate_general('synthetic-general', ['llava=base-model',
    ...                           'llava=base-model,adapter=radio-lora,name=lora'])  # doctest: +SKIP
    >>> result.summary['set', 'model', 'score', 'relative_change']  # doctest: +SKIP
    """
    from ..backends import Backend, get_backend
    from ..evaluate import _specs, parse_model_spec
    from ..version import __version__

    if isinstance(sets, (str, GeneralSet)) or hasattr(sets, "__fspath__"):
        sets = [sets]
    general_sets = [load_general_set(s, limit=limit) for s in sets]
    if not general_sets:
        msg = "no general set given: pass at least one, e.g. 'synthetic-general'"
        raise InputError(msg)
    names = [s.name for s in general_sets]
    if len(set(names)) != len(names):
        msg = f"two general sets have the same name ({', '.join(names)}); rename one with ',name=...'"
        raise InputError(msg)
    if isinstance(models, (str, dict, Backend)) or hasattr(models, "__fspath__"):
        models = [models]
    specs = _specs([_named(parse_model_spec(m)) for m in models], None)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        msg = f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}"
        raise InputError(msg)
    model_names = [spec.name for spec in specs]
    if base is None:
        base_name = model_names[0]
    elif isinstance(base, (int, np.integer)) and not isinstance(base, bool):
        if not 0 <= base < len(model_names):
            msg = f"base index {base} is out of range for {len(model_names)} models"
            raise InputError(msg)
        base_name = model_names[int(base)]
    elif str(base) in model_names:
        base_name = str(base)
    else:
        msg = f"base {base!r} is not one of the models ({', '.join(model_names)})"
        raise InputError(msg)

    scores, answers, provenance, seconds = {}, {}, {}, {}
    for spec in specs:
        if isinstance(spec.backend, Backend):
            backend, owned = spec.backend, False
        else:
            options = {**dict(backend_options or {}), **spec.options}
            options.setdefault("device", device)
            options.setdefault("batch_size", int(batch_size))
            if dtype is not None:
                options.setdefault("dtype", dtype)
            backend, owned = get_backend(spec.backend, model=spec.model, cache=False, **options), True
        for general in general_sets:
            start = time.perf_counter()
            found = answer_items(backend, general.items, system_prompt=system_prompt, progress=progress)
            seconds[(general.name, spec.name)] = time.perf_counter() - start
            answers[(general.name, spec.name)] = found
            scores[(general.name, spec.name)] = np.array(
                [score_answer(a["predicted"], item.answers, item.answer_type)
                 for a, item in zip(found, general.items)], dtype=float)
            log.info("%s on %s: score %.4f (%d items, %.1f s)", spec.name, general.name,
                     float(np.mean(scores[(general.name, spec.name)])), len(general),
                     seconds[(general.name, spec.name)])
        info = backend.describe()
        provenance[spec.name] = json.loads(json.dumps(info, default=str))
        if owned:
            _release(backend)

    rows = []
    for general in general_sets:
        kinds = general.counts()
        metric = "; ".join(f"{ANSWER_TYPES[k]} ({n})" for k, n in kinds.items())
        for spec in specs:
            values = scores[(general.name, spec.name)]
            found = answers[(general.name, spec.name)]
            score = float(np.mean(values))
            if n_bootstrap:
                low, high = bootstrap_mean_interval(values, n_resamples=int(n_bootstrap), confidence=confidence,
                                                    seed=seed)
            else:
                low = high = float("nan")
            if spec.name == base_name:
                change = change_low = change_high = float("nan")
            else:
                reference = scores[(general.name, base_name)]
                change = relative_change(score, float(np.mean(reference)))
                if n_bootstrap:
                    change_low, change_high = relative_change_interval(
                        values, reference, n_resamples=int(n_bootstrap), confidence=confidence, seed=seed)
                else:
                    change_low = change_high = float("nan")
            kinds_of = np.array([item.answer_type for item in general.items])
            per_type = {k: float(np.mean(values[kinds_of == k])) if np.any(kinds_of == k) else float("nan")
                        for k in ANSWER_TYPES}
            rows.append({"set": general.name, "model": spec.name, "backend": provenance[spec.name].get("backend"),
                         "base": base_name, "n": len(general), "score": score, "score_low": low,
                         "score_high": high, "relative_change": change, "relative_change_low": change_low,
                         "relative_change_high": change_high,
                         **{f"score_{k}": v for k, v in per_type.items()},
                         "n_unanswered": sum(a["predicted"] is None for a in found), "metric": metric,
                         "seconds": seconds[(general.name, spec.name)]})
    meta = {"radioassist_version": __version__, "base": base_name, "n_bootstrap": int(n_bootstrap),
            "confidence": float(confidence), "seed": int(seed), "system_prompt": system_prompt,
            "limit": limit, "sets": {s.name: s.describe() for s in general_sets}, "models": provenance,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    summary = _summary_table(rows, meta)
    items = _items_table(general_sets, specs, answers, scores)
    return GeneralEvaluationResult(summary=summary, items=items, meta=meta)


def _named(spec):
    """Name a LoRA spec after its adapter when the user gave no name (both would be called after the base)."""
    from ..backends import Backend
    from ..evaluate import ModelSpec, _default_name

    adapter = spec.options.get("adapter") if isinstance(spec.options, dict) else None
    if adapter and not isinstance(spec.backend, Backend) and spec.name == _default_name(spec.backend, spec.model):
        name = f"{spec.backend}:{Path(str(adapter).rstrip('/')).name}"
        return ModelSpec(name, spec.backend, spec.model, spec.options)
    return spec


def _summary_table(rows, meta):
    from astropy.table import Table

    table = Table(rows=rows, names=list(rows[0]))
    for name in table.colnames:
        if name.startswith(("score", "relative_change")):
            table[name].format = ".4f"
    table["seconds"].format = ".1f"
    conf = f"{100 * meta['confidence']:g}%"
    descriptions = {"score": "mean of the per-item scores", "score_low": f"lower bound of the {conf} bootstrap "
                    "interval of score", "score_high": f"upper bound of the {conf} bootstrap interval of score",
                    "relative_change": "(score - score of base) / score of base",
                    "relative_change_low": f"lower bound of the {conf} paired bootstrap interval of relative_change",
                    "relative_change_high": f"upper bound of the {conf} paired bootstrap interval of "
                    "relative_change",
                    "n_unanswered": "items without an answer (failed requests, no option named): scored 0",
                    "metric": "scoring rules of the items (number of items)"}
    for kind, text in ANSWER_TYPES.items():
        descriptions[f"score_{kind}"] = f"mean score of the {kind} items ({text}); NaN if none"
    for name, text in descriptions.items():
        table[name].description = text
    table.meta.update(meta)
    return table


def _items_table(general_sets, specs, answers, scores):
    from astropy.table import Table

    cols = {k: [] for k in ("set", "model", "id", "category", "answer_type", "references", "predicted", "raw",
                            "score")}
    for general in general_sets:
        for spec in specs:
            found = answers[(general.name, spec.name)]
            for item, answer, value in zip(general.items, found, scores[(general.name, spec.name)]):
                cols["set"].append(general.name)
                cols["model"].append(spec.name)
                cols["id"].append(item.id)
                cols["category"].append(item.category)
                cols["answer_type"].append(item.answer_type)
                cols["references"].append(" | ".join(item.answers))
                cols["predicted"].append(_one_line(answer["predicted"]))
                cols["raw"].append(_one_line(answer["raw"]))
                cols["score"].append(float(value))
    table = Table(cols)
    table["score"].format = ".4f"
    return table


def _fmt(value, spec=".3f"):
    value = float(value)
    return "-" if not np.isfinite(value) else format(value, spec)


def _pct(value):
    value = float(value)
    return "-" if not np.isfinite(value) else f"{100 * value:+.1f}%"


class GeneralEvaluationResult:
    """Scores of models on general question sets (made by :func:`evaluate_general`).

    Attributes
    ----------
    summary : `~astropy.table.Table`
        One row per set and model: ``score`` with ``score_low``/``score_high``
        (bootstrap interval), ``relative_change`` against ``base`` with its
        paired interval (NaN on the base's own rows), per-answer-type scores,
        ``n_unanswered``, ``seconds``; provenance in ``meta``.
    items : `~astropy.table.Table`
        One row per item and model: references, answer, score.
    meta : dict
        Provenance: sets (source, hash, counts), models (backend description), bootstrap settings.
    """

    def __init__(self, *, summary, items, meta):
        self.summary = summary
        self.items = items
        self.meta = meta

    def __repr__(self):
        return (f"<GeneralEvaluationResult: {len(set(self.summary['set']))} set(s) x "
                f"{len(set(self.summary['model']))} model(s), base {self.meta.get('base')}>")

    def scores(self, set_name, model):
        """Per-item scores of a model on a set, in item order."""
        mask = (self.items["set"] == set_name) & (self.items["model"] == model)
        if not mask.any():
            msg = f"no result for model {model!r} on set {set_name!r}"
            raise InputError(msg)
        return np.asarray(self.items["score"][mask], dtype=float)

    def row(self, set_name, model):
        """The summary row of a model on a set."""
        for row in self.summary:
            if row["set"] == set_name and row["model"] == model:
                return row
        msg = f"no result for model {model!r} on set {set_name!r}"
        raise InputError(msg)

    def to_markdown(self):
        """The summary as a Markdown table (score with its interval, change against the base)."""
        conf = f"{100 * self.meta.get('confidence', 0.95):g}%"
        lines = [f"| set | model | n | score [{conf} CI] | change vs {self.meta.get('base')} [{conf} CI] | "
                 "unanswered |", "|---|---|---:|---:|---:|---:|"]
        for row in self.summary:
            score = f"{_fmt(row['score'])} [{_fmt(row['score_low'])}, {_fmt(row['score_high'])}]"
            if np.isfinite(float(row["relative_change"])):
                change = (f"{_pct(row['relative_change'])} [{_pct(row['relative_change_low'])}, "
                          f"{_pct(row['relative_change_high'])}]")
            else:
                change = "base" if row["model"] == self.meta.get("base") else "-"
            lines.append(f"| {row['set']} | {row['model']} | {row['n']} | {score} | {change} | "
                         f"{row['n_unanswered']} |")
        return "\n".join(lines)

    def plot(self, **kwargs):
        """Grouped bars: one group per set, one bar per model, with the score intervals; changes written on top.

        Keyword arguments go to `radioassist.plotting.plot_metric_comparison`.

        Returns
        -------
        `matplotlib.figure.Figure`
        """
        from ..plotting import plot_metric_comparison

        summary = {"model": list(self.summary["model"]), "task": list(self.summary["set"]),
                   "score": list(self.summary["score"]), "score_low": list(self.summary["score_low"]),
                   "score_high": list(self.summary["score_high"]), "n": list(self.summary["n"])}
        kwargs.setdefault("title", f"error bars: {100 * self.meta.get('confidence', 0.95):g}% bootstrap interval\n"
                                   f"above bars: change vs {self.meta.get('base')}")
        fig = plot_metric_comparison(summary, metric="score", **kwargs)
        ax = fig.axes[0]
        models = list(dict.fromkeys(summary["model"]))
        sets = list(dict.fromkeys(summary["task"]))
        width = 0.8 / len(models)
        for row in self.summary:
            change = float(row["relative_change"])
            if not np.isfinite(change):
                continue
            x = sets.index(row["set"]) - 0.4 + width * (models.index(row["model"]) + 0.5)
            top = float(row["score_high"]) if np.isfinite(float(row["score_high"])) else float(row["score"])
            ax.text(x, min(top, 0.9) + 0.03, f"{100 * change:+.0f}%", ha="center", va="bottom", fontsize=7,
                    color="#b00000" if change < 0 else "#006000")
        return fig

    def write(self, folder, *, overwrite=False, figures=True, dpi=120):
        """Write ``summary.ecsv``, ``summary.md``, ``items.ecsv``, ``general.json`` and ``general_scores.png``.

        Parameters
        ----------
        folder : str or path-like
            Created if needed.
        overwrite : bool, optional
            Write into a folder that is not empty.
        figures : bool, optional
            Write the figure (skipped with a warning without matplotlib).
        dpi : int, optional

        Returns
        -------
        list of `pathlib.Path`
        """
        from ..evaluate import _write_results

        summary = [dict(zip(self.summary.colnames, map(_plain, r))) for r in self.summary]
        folder, written = _write_results(folder, {
            "summary.ecsv": self.summary,
            "summary.md": "# General-task evaluation\n\n" + self.to_markdown() + "\n",
            "items.ecsv": self.items,
            "general.json": json.dumps({"meta": self.meta, "summary": summary}, indent=1, default=str) + "\n",
        }, overwrite=overwrite)
        if figures:
            try:
                from .._optional_deps import require
                require("matplotlib", purpose="evaluation figures")
            except ImportError as exc:
                warnings.warn(f"figure not written: {exc}", RadioassistWarning)
            else:
                path = folder / "general_scores.png"
                self.plot().savefig(path, dpi=dpi)
                written.append(path)
        log.info("general evaluation written to %s (%d files)", folder, len(written))
        return written


def _plain(value):
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value) if not isinstance(value, (int, bool)) else value


def _summary_of(result, what):
    from astropy.table import Table

    if hasattr(result, "summary"):
        return result.summary
    if isinstance(result, Table):
        return result
    path = Path(result)
    if path.is_dir():
        path = path / "summary.ecsv"
    if not path.is_file():
        msg = f"{what} {result} is neither a result, a summary table, nor a folder/file with summary.ecsv"
        raise InputError(msg)
    return Table.read(path, format="ascii.ecsv")


def tradeoff_table(radio, general, *, metric="macro_f1"):
    """What a fine-tune gained on radio tasks against what it lost on general sets, in one table.

    Parameters
    ----------
    radio : `~radioassist.evaluate.EvaluationResult`, `~astropy.table.Table` or path
        Radio-task evaluation (:func:`radioassist.evaluate.evaluate`), its
        summary, or the folder ``radioassist evaluate`` wrote.
    general : `GeneralEvaluationResult`, `~astropy.table.Table` or path
        General evaluation of the same models under the same names
        (:func:`evaluate_general`), its summary or its folder.  Its base model
        is the reference of both comparisons.
    metric : str, optional
        Radio metric column (``'macro_f1'``).

    Returns
    -------
    `~astropy.table.Table`
        One row per model, radio task and general set: ``{metric}``,
        ``{metric}_gain`` (difference with the base, in metric units),
        ``general_score``, ``general_change`` (relative change against the
        base) with its interval.

    Raises
    ------
    InputError
        When a model of the general evaluation has no radio result (give the
        models the same ``name=`` in both evaluations).
    """
    from astropy.table import Table

    radio_summary = _summary_of(radio, "radio evaluation")
    general_summary = _summary_of(general, "general evaluation")
    if metric not in radio_summary.colnames:
        msg = f"the radio summary has no column {metric!r} (columns: {', '.join(radio_summary.colnames)})"
        raise InputError(msg)
    base = str(general_summary.meta.get("base") or general_summary["base"][0])
    values = {(str(r["model"]), str(r["task"])): float(r[metric]) for r in radio_summary}
    tasks = list(dict.fromkeys(str(t) for t in radio_summary["task"]))
    models = list(dict.fromkeys(str(m) for m in general_summary["model"]))
    missing = sorted({m for m in models for t in tasks if (m, t) not in values})
    if missing:
        msg = (f"model(s) {', '.join(missing)} of the general evaluation have no radio result for task(s) "
               f"{', '.join(tasks)}: name the models the same in both evaluations (name=...); radio models: "
               f"{', '.join(dict.fromkeys(str(m) for m in radio_summary['model']))}")
        raise InputError(msg)
    rows = []
    for model in models:
        for task in tasks:
            for row in general_summary[general_summary["model"] == model]:
                rows.append({"model": model, "task": task, metric: values[(model, task)],
                             f"{metric}_gain": values[(model, task)] - values[(base, task)],
                             "set": str(row["set"]), "general_score": float(row["score"]),
                             "general_change": float(row["relative_change"]),
                             "general_change_low": float(row["relative_change_low"]),
                             "general_change_high": float(row["relative_change_high"])})
    table = Table(rows=rows, names=list(rows[0]))
    for name in table.colnames[2:]:
        if name != "set":
            table[name].format = ".4f"
    table.meta["base"] = base
    return table
