"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

Works with the OpenAI API (GPT-4.1...) and with servers that speak the same
protocol, such as a vLLM server hosting radio-llava for large catalogues
(``vllm serve path/to/radio-llava`` then ``base_url='http://host:8000/v1'``).
Only the standard library is used (``urllib``, ``json``, ``concurrent.futures``).

Each image is one ``POST {base_url}/chat/completions`` request with the
radio-llava conversation (system prompt, optional few-shot turns, the task
prompt) and the image as a PNG data URL.  Requests run on ``concurrency``
threads, each with a ``timeout``; HTTP 429 and 5xx answers and network errors
are retried up to ``max_retries`` times with exponential backoff (``backoff``
seconds doubled each time, at most ``max_backoff``; a ``Retry-After`` header,
capped at ``max_backoff``, is obeyed instead).  A request that still fails
does not stop the run: its row gets label None and NaN probabilities, its raw
answer is ``'ERROR: <what happened>'``, the reason is kept in
``Predictions.errors`` (the pipeline flags the row ``error: <reason>``) and it
is counted in ``Predictions.n_unparsed`` (details also in
:attr:`OpenAIBackend.last_errors`).  An answer that arrives but cannot be
parsed gets label None and no error (``Predictions.unparsed``; flagged
``unparsed``).

The API key is read from the environment variable named by ``api_key_env``
(``OPENAI_API_KEY`` by default) at each request; it is never logged, stored or
reported by :meth:`~OpenAIBackend.describe`.  No key: no ``Authorization``
header (fine for a local vLLM server).

Modes
-----
``'auto'`` (default)
    Ask for log-probabilities (``logprobs=True``, ``top_logprobs``) and score
    the closed answer set from them when the server returns them; otherwise
    parse the answer text as in ``'generate'``.  A server that rejects the
    log-probability parameters (HTTP 400 naming them) is asked without them
    from then on.
``'score'``
    Log-probabilities are required; a response without them is a row error.
``'generate'``
    Parse the answer (:func:`radioassist.parsing.parse_answer`) and re-ask up
    to ``max_reasks`` times when it cannot be parsed (the answer and a format
    reminder are appended to the conversation).  Parsed rows get probability
    1 for their label(s); unparsed rows get label None and NaN probabilities.

Scoring from top log-probabilities
----------------------------------
A chat endpoint returns the log-probabilities of the generated tokens and of
their ``top_logprobs`` best alternatives, not of arbitrary answers, so the
answer log-likelihoods are reconstructed along the returned answer (token and
answer texts compared upper-cased, whitespace removed):

* a candidate that the returned tokens spell scores the sum of their
  log-probabilities; if the returned answer stops after it (end of the
  answer, whitespace, special tokens, punctuation that cannot continue a
  label) the stop counts as certain (servers do not report the stop token),
  and if the answer goes on spelling a longer label (``FR-I`` within
  ``FR-II``) the candidate adds the log of the total probability of the "end"
  alternatives at that position;
* a candidate the returned answer departs from takes, at the last position
  where it departs, the best alternative token that continues (or completes)
  it; what would follow that token is unknown and counted as certain;
* a candidate found nowhere among the alternatives scores ``-inf`` (probability 0).

The probabilities are the softmax of these scores over the candidates (label
subsets for multi-label tasks, as in :mod:`radioassist.backends._vlm_scoring`);
when no candidate can be found the answer text is parsed instead.  This is
exact for answers that differ in their first token (YES/NO) when the end
tokens are reported, and an approximation otherwise (an upper bound for
candidates reached through an alternative token).
"""
import base64
import concurrent.futures
import email.utils
import http.client
import json
import math
import os
import random
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

import numpy as np

from ..exceptions import InputError
from ..logger import log
from ..parsing import parse_answer
from ..tasks import get_task
from ..version import __version__
from . import _vlm_scoring as vs
from .base import Backend, as_image_list
from .predictions import Predictions
from .registry import register_backend

__all__ = ["OpenAIBackend", "png_bytes", "png_data_url", "topk_candidate_scores"]

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_ERROR_PREFIX = "ERROR: "


def png_bytes(image, *, level=6):
    """Encode a uint8 ``(H, W, 3)`` RGB (or ``(H, W)`` grey) image as PNG bytes (standard library only).

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.backends.openai_compat import png_bytes
    >>> png_bytes(np.zeros((4, 5, 3), dtype=np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        msg = f"PNG encoding needs a uint8 image, got dtype {image.dtype}"
        raise InputError(msg)
    if image.ndim == 2:
        colour, channels = 0, 1
    elif image.ndim == 3 and image.shape[2] == 3:
        colour, channels = 2, 3
    else:
        msg = f"PNG encoding needs an (H, W, 3) or (H, W) image, got shape {image.shape}"
        raise InputError(msg)
    height, width = image.shape[:2]
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1).tobytes()

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, level))
            + chunk(b"IEND", b""))


def png_data_url(image):
    """``data:image/png;base64,...`` URL of a uint8 image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


# ------------------------------------------------------------------------------- top-logprob scoring
def _norm(text):
    return re.sub(r"\s+", "", str(text)).upper()


def _options(entry):
    """(raw token, normalised token, logprob) of the alternatives at one position, best logprob per token."""
    seen = {}
    pairs = [(entry.get("token", ""), entry.get("logprob"))]
    pairs += [(alt.get("token", ""), alt.get("logprob")) for alt in entry.get("top_logprobs") or ()]
    for token, logprob in pairs:
        if logprob is None:
            continue
        key = str(token)
        if key not in seen or logprob > seen[key][2]:
            seen[key] = (key, _norm(key), float(logprob))
    return list(seen.values())


def _is_end(ntoken, label_chars):
    return ntoken == "" or ntoken[0] not in label_chars


def _logsumexp(values):
    values = [v for v in values if v is not None and v > -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _candidate_score(content, t, pos, target, label_chars, total):
    """Log-score of ``target[pos:]`` from position ``t`` of the returned tokens on (see the module doc)."""
    rest = target[pos:]
    if t >= len(content):  # the answer stopped here (the stop token is not reported: counted as certain)
        return total if not rest else -math.inf
    entry = content[t]
    gen_raw = str(entry.get("token", ""))
    gen = _norm(gen_raw)
    gen_lp = float(entry.get("logprob") or 0.0)
    options = _options(entry)
    if not rest:  # complete: the answer must stop here
        if _is_end(gen, label_chars):  # and it does (what follows does not change the answer): certain
            return total
        return total + _logsumexp([lp for _, tok, lp in options if _is_end(tok, label_chars)])
    if gen == "" and pos == 0:  # leading whitespace, shared by every candidate
        return _candidate_score(content, t + 1, pos, target, label_chars, total + gen_lp)
    path = -math.inf
    if gen and rest.startswith(gen):  # the returned answer goes on spelling this candidate
        path = _candidate_score(content, t + 1, pos + len(gen), target, label_chars, total + gen_lp)
    elif gen.startswith(rest) and _is_end(gen[len(rest):], label_chars):  # "II." completes "II" and stops
        path = total + gen_lp
    if path > -math.inf:
        return path
    # the returned answer departs from the candidate here: the best alternative token that spells it
    # (what would follow that token is unknown and counted as certain)
    departures = [lp for raw, tok, lp in options if raw != gen_raw and tok
                  and (rest.startswith(tok) or (tok.startswith(rest) and _is_end(tok[len(rest):], label_chars)))]
    return total + max(departures) if departures else -math.inf


def topk_candidate_scores(content, candidates, *, multilabel=False):
    """Log-scores of closed-set candidates from a chat completion's ``logprobs.content`` list.

    Parameters
    ----------
    content : list of dict
        ``[{'token': str, 'logprob': float, 'top_logprobs': [{'token', 'logprob'}, ...]}, ...]``
        as returned by OpenAI-compatible servers.
    candidates : list of `~radioassist.backends._vlm_scoring.Candidate`
    multilabel : bool, optional
        Treat ``','`` as part of an answer (label separator) rather than its end.

    Returns
    -------
    ndarray, shape (n_candidates,)
        Log-scores (``-inf`` for candidates absent from the alternatives); see
        the module documentation for the approximation.
    """
    label_chars = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    if multilabel:
        label_chars.add(",")
    content = list(content or ())
    return np.array([_candidate_score(content, 0, 0, _norm(c.text), label_chars, 0.0) for c in candidates],
                    dtype=float)


# ------------------------------------------------------------------------------------- HTTP client
class _RequestError(Exception):
    """A request that failed for good (after retries, or not retryable)."""

    def __init__(self, message, *, status=None, body=""):
        super().__init__(message)
        self.status = status
        self.body = body


def _retry_after(value, *, now=None):
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_message(text):
    """The ``error.message`` of an OpenAI-style JSON error body, else the body itself (one line)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else (error if isinstance(error, str) else None)
    if not message and isinstance(payload, dict) and isinstance(payload.get("detail"), str):
        message = payload["detail"]  # FastAPI-style servers
    return " ".join(str(message).split()) if message else text


def _public_url(url):
    """``url`` without any user:password part."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


@register_backend("openai")
class OpenAIBackend(Backend):
    """Vision-language models behind an OpenAI-compatible chat-completions API.

    Parameters
    ----------
    model : str
        The model name the server knows (``'gpt-4.1'``, or the name a vLLM
        server was started with); required.
    device, dtype : optional
        Ignored (the model runs on the server); accepted for a uniform interface.
    batch_size : int, optional
        Images handed to the thread pool at a time (64); the number of
        requests in flight is ``concurrency``.
    base_url : str, optional
        API root, ``'https://api.openai.com/v1'`` by default.
    api_key_env : str, optional
        Name of the environment variable that holds the API key (``'OPENAI_API_KEY'``).
    mode : {'auto', 'score', 'generate'}, optional
        See the module documentation.
    prompt_version, with_definitions, system_prompt, examples : optional
        Prompt options, as for the ``llava`` backend.
    max_tokens : int, optional
        Longest answer in tokens (32).
    top_logprobs : int, optional
        Alternatives per token asked for scoring (20, the OpenAI maximum).
    max_reasks : int, optional
        Re-asks of an unparsable answer (3).
    max_subsets : int, optional
        Multi-label tasks: most label subsets scored.
    concurrency : int, optional
        Requests in flight (8).
    timeout : float, optional
        Seconds to wait for a response (60).
    max_retries : int, optional
        Retries of a request after a 429/5xx answer or a network error (5).
    backoff : float, optional
        First retry delay in seconds (1), doubled at each retry.
    max_backoff : float, optional
        Longest delay between retries (60 s), Retry-After included.
    temperature : float, optional
        Sampling temperature (0: greedy).
    seed : int, optional
        Sent as ``seed`` when given.
    image_detail : str, optional
        OpenAI ``detail`` of the images (``'low'``, ``'high'``, ``'auto'``); not sent when None.
    extra_body : dict, optional
        Extra JSON fields merged into every request (server-specific parameters).

    Attributes
    ----------
    last_errors : list of (int, str)
        Row index and error text of every failed request of the last :meth:`predict`.
    """

    description = ("any OpenAI-compatible chat-completions endpoint (GPT-4.1, a vLLM server hosting "
                   "radio-llava...); log-probability scoring or generation")
    option_defaults = {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY", "mode": "auto",
                       **vs.PROMPT_OPTION_DEFAULTS, "max_tokens": 32, "top_logprobs": 20, "max_reasks": 3,
                       "max_subsets": 64, "concurrency": 8, "timeout": 60.0, "max_retries": 5, "backoff": 1.0,
                       "max_backoff": 60.0, "temperature": 0.0, "seed": None, "image_detail": None,
                       "extra_body": None}

    def __init__(self, *, model=None, device="cpu", dtype=None, batch_size=64, **options):
        super().__init__(model=model, device=device, dtype=dtype, batch_size=batch_size, **options)
        opts = self.options
        vs.check_prompt_options(opts, modes=("auto", "score", "generate"))
        if not model:
            msg = ("the openai backend needs model=: the model name on the server, e.g. 'gpt-4.1', or the name "
                   "under which a vLLM server serves radio-llava")
            raise InputError(msg)
        for key in ("max_tokens", "top_logprobs", "concurrency"):
            value = opts[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                msg = f"{key} must be a positive integer, got {value!r}"
                raise InputError(msg)
        if isinstance(opts["max_retries"], bool) or not isinstance(opts["max_retries"], (int, np.integer)) \
                or opts["max_retries"] < 0:
            msg = f"max_retries must be an integer >= 0, got {opts['max_retries']!r}"
            raise InputError(msg)
        for key in ("timeout", "backoff", "max_backoff"):
            try:
                value = float(opts[key])
            except (TypeError, ValueError):
                value = float("nan")
            if not value >= 0 or (key == "timeout" and value == 0):
                msg = f"{key} must be a {'positive' if key == 'timeout' else 'non-negative'} number, got {opts[key]!r}"
                raise InputError(msg)
        base = str(opts["base_url"]).rstrip("/")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            msg = f"base_url must be an http(s) URL such as https://api.openai.com/v1, got {opts['base_url']!r}"
            raise InputError(msg)
        if opts["extra_body"] is not None and not isinstance(opts["extra_body"], dict):
            msg = f"extra_body must be a dict of extra JSON fields, got {type(opts['extra_body']).__name__}"
            raise InputError(msg)
        self._url = base + "/chat/completions"
        host = urllib.parse.urlsplit(base).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if host in _LOCAL_HOSTS else []
        self._opener = urllib.request.build_opener(*handlers)
        self._logprobs_ok = True
        self._state_lock = threading.Lock()
        self._example_urls = None
        self.last_errors = []

    # -------------------------------------------------------------------------------------- requests
    def _headers(self):
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"radioassist/{__version__}"}
        key = os.environ.get(str(self.options["api_key_env"]))
        if key:
            headers["Authorization"] = "Bearer " + key.strip()
        return headers

    def _redact(self, text):
        """Remove the API key from text that came back from a server (some echo the request headers)."""
        key = (os.environ.get(str(self.options["api_key_env"])) or "").strip()
        text = str(text)
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    def _post(self, body):
        """POST a chat-completions request with retries; returns the decoded JSON or raises `_RequestError`."""
        opts = self.options
        data = json.dumps(body).encode("utf-8")
        retries = int(opts["max_retries"])
        last = None
        for attempt in range(retries + 1):
            wait = None
            try:
                request = urllib.request.Request(self._url, data=data, headers=self._headers(), method="POST")
                with self._opener.open(request, timeout=float(opts["timeout"])) as response:
                    payload = response.read()
                try:
                    return json.loads(payload.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise _RequestError(f"the server answered with invalid JSON ({exc})") from None
            except urllib.error.HTTPError as exc:
                status = exc.code
                try:
                    text = exc.read().decode("utf-8", "replace")
                except Exception:
                    text = ""
                text = self._redact(" ".join(self._redact(text).split())[:300])
                last = f"HTTP {status}: {_error_message(text) or exc.reason}"
                if status != 429 and status < 500:
                    raise _RequestError(last, status=status, body=text) from None
                wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                    TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = self._redact(f"{type(exc).__name__}: {reason}")
            if attempt == retries:
                break
            delay = float(opts["backoff"]) * (2 ** attempt)
            if wait is not None:
                delay = wait
            delay = min(float(opts["max_backoff"]), delay)
            delay *= 1.0 + 0.1 * random.random()
            log.debug("request to %s failed (%s); retry %d/%d in %.2f s", _public_url(self._url), last,
                      attempt + 1, retries, delay)
            time.sleep(delay)
        raise _RequestError(f"gave up after {retries + 1} attempts: {last}")

    # -------------------------------------------------------------------------------------- messages
    def _messages(self, task, image_url, history=()):
        examples = self.options["examples"]
        if examples and self._example_urls is None:
            self._example_urls = [png_data_url(image) for image, _ in examples]
        urls = list(self._example_urls or []) + [image_url]
        detail = self.options["image_detail"]

        def part(index):
            spec = {"url": urls[index]}
            if detail:
                spec["detail"] = str(detail)
            return {"type": "image_url", "image_url": spec}

        messages = vs.build_conversation(task, examples=examples, history=history, image_part=part,
                                         prompt_version=self.options["prompt_version"],
                                         with_definitions=self.options["with_definitions"],
                                         system_prompt=self.options["system_prompt"])
        out = []
        for message in messages:
            if message["role"] in ("system", "assistant") or all(p["type"] == "text" for p in message["content"]):
                text = "".join(p["text"] for p in message["content"] if p["type"] == "text")
                out.append({"role": message["role"], "content": text})
            else:
                out.append(message)
        return out

    def _body(self, messages, *, logprobs):
        opts = self.options
        body = {"model": str(self.model), "messages": messages, "max_tokens": int(opts["max_tokens"]),
                "temperature": float(opts["temperature"]), "n": 1}
        if opts["seed"] is not None:
            body["seed"] = int(opts["seed"])
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = int(opts["top_logprobs"])
        if opts["extra_body"]:
            body.update(opts["extra_body"])
        return body

    @staticmethod
    def _answer(response):
        try:
            choice = response["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise _RequestError(f"unexpected response (no choices[0].message): {str(response)[:200]}") from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
        return ("" if content is None else str(content)).strip(), tokens or None

    def _ask(self, messages, *, logprobs):
        if logprobs:
            with self._state_lock:
                logprobs = self._logprobs_ok
        try:
            return self._answer(self._post(self._body(messages, logprobs=logprobs)))
        except _RequestError as exc:
            if logprobs and exc.status == 400 and "logprob" in exc.body.lower() and self.options["mode"] == "auto":
                with self._state_lock:
                    self._logprobs_ok = False
                log.info("the server at %s rejects log-probabilities; parsing answers instead",
                         _public_url(self._url))
                return self._answer(self._post(self._body(messages, logprobs=False)))
            raise

    # -------------------------------------------------------------------------------------- one row
    def _classify(self, image, task, candidates):
        """One image: (label, probabilities, raw answer, error or None)."""
        mode = self.options["mode"]
        nan = np.full(task.n_classes, np.nan)
        attempts = []
        try:
            url = png_data_url(image)
            messages = self._messages(task, url)
            text, tokens = self._ask(messages, logprobs=mode in ("auto", "score"))
            attempts.append(text)
            if mode in ("auto", "score"):
                if tokens:
                    scores = topk_candidate_scores(tokens, candidates, multilabel=task.multilabel)
                    if np.any(np.isfinite(scores)):
                        labels, probs = vs.candidate_predictions(task, candidates, scores[None])
                        return labels[0], probs[0], text, None
                elif mode == "score":
                    raise _RequestError("the server returned no log-probabilities (needed by mode='score'; "
                                        "use mode='auto' or 'generate')")
            parsed = parse_answer(task, text)
            for _ in range(int(self.options["max_reasks"])):
                if parsed is not None and (task.multilabel or len(parsed) == 1):
                    break
                text, _ = self._ask(self._messages(task, url, history=attempts), logprobs=False)
                attempts.append(text)
                parsed = parse_answer(task, text)
            labels, probs = vs.parsed_predictions(task, [parsed])
            return labels[0], probs[0], vs.join_attempts(attempts), None
        except _RequestError as exc:
            error = self._redact(str(exc))
            raw = _ERROR_PREFIX + error
            if attempts:
                raw = vs.join_attempts(attempts) + " | " + raw
            return None, nan, raw, error

    # -------------------------------------------------------------------------------------- public
    def predict(self, images, task):
        """Classify rendered cutouts (one request per image, ``concurrency`` at a time)."""
        task = get_task(task)
        images = as_image_list(images)
        n = len(images)
        self.last_errors = []
        if n == 0:
            return Predictions.empty(task, generative=True)
        candidates = vs.answer_candidates(task, max_subsets=int(self.options["max_subsets"]))
        labels = [None] * n
        probabilities = np.full((n, task.n_classes), np.nan)
        raw = [""] * n
        errors = []
        workers = min(int(self.options["concurrency"]), n)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                   thread_name_prefix="radioassist-openai") as pool:
            for start in range(0, n, self.batch_size):
                rows = range(start, min(n, start + self.batch_size))
                futures = {pool.submit(self._classify, images[i], task, candidates): i for i in rows}
                for future in concurrent.futures.as_completed(futures):
                    i = futures[future]
                    label, probs, answer, error = future.result()
                    labels[i], probabilities[i], raw[i] = label, probs, answer
                    if error is not None:
                        errors.append((i, error))
        errors.sort()
        self.last_errors = errors
        if errors:
            log.warning("%d of %d requests to %s failed (rows get no label; see the raw answers): first error: %s",
                        len(errors), n, _public_url(self._url), errors[0][1])
        n_unparsed = sum(label is None for label in labels)
        row_errors = [None] * n
        for i, error in errors:
            row_errors[i] = error
        return Predictions(task, labels, probabilities, raw_answers=raw, n_unparsed=n_unparsed,
                           errors=row_errors if errors else None)

    def input_spec(self, task):
        """Images are sent as rendered with the ``'radio-llava'`` preset."""
        return {"render_preset": "radio-llava"}

    def describe(self, task=None):
        """Provenance: endpoint, model name, mode and prompt settings (never the API key).

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str, optional
            Ignored: the same model answers every task.
        """
        opts = self.options
        info = {
            "backend": self.name,
            "model": str(self.model),
            "base_url": _public_url(str(opts["base_url"]).rstrip("/")),
            "api_key_env": str(opts["api_key_env"]),
            "mode": opts["mode"],
            "logprobs_supported": self._logprobs_ok,
            "prompt_version": opts["prompt_version"],
            "with_definitions": bool(opts["with_definitions"]),
            "system_prompt": vs.system_text(opts["system_prompt"]),
            "n_examples": len(opts["examples"]),
            "examples_sha256": vs.examples_digest(opts["examples"]),
            "max_tokens": int(opts["max_tokens"]),
            "top_logprobs": int(opts["top_logprobs"]),
            "max_reasks": int(opts["max_reasks"]),
            "temperature": float(opts["temperature"]),
            "seed": opts["seed"],
            "image_detail": opts["image_detail"],
            "concurrency": int(opts["concurrency"]),
            "timeout": float(opts["timeout"]),
            "max_retries": int(opts["max_retries"]),
        }
        return info
