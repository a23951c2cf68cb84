"""The ``openai`` backend against a small OpenAI-compatible server on 127.0.0.1 (no network)."""
import base64
import io
import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from radioassist.backends import Predictions, get_backend
from radioassist.backends._vlm_scoring import answer_candidates, candidate_predictions
from radioassist.backends.openai_compat import (OpenAIBackend, _retry_after, png_bytes, png_data_url,
                                                topk_candidate_scores)
from radioassist.backends.testing import BaseTestBackend, make_test_images
from radioassist.exceptions import InputError
from radioassist.prompts import SYSTEM_PROMPT, build_prompt, reask_prompt
from radioassist.tasks import get_task

KEY = "sk-test-do-not-leak-0123456789"
KEY_ENV = "RADIOASSIST_TEST_OPENAI_KEY"


# ------------------------------------------------------------------------------------- a tiny server
def completion(content, tokens=None):
    """A chat-completion response; ``tokens``: [(token, p, [(alternative, p), ...]), ...] for logprobs."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if tokens is not None:
        choice["logprobs"] = {"content": [
            {"token": tok, "logprob": math.log(p),
             "top_logprobs": [{"token": alt, "logprob": math.log(q)} for alt, q in alts]}
            for tok, p, alts in tokens]}
    return {"id": "cmpl-test", "object": "chat.completion", "model": "radio-test", "choices": [choice]}


def decode_image(body, index=-1):
    """The uint8 image of the ``index``-th image part of a request."""
    from PIL import Image

    urls = [part["image_url"]["url"] for m in body["messages"] if isinstance(m["content"], list)
            for part in m["content"] if part["type"] == "image_url"]
    url = urls[index]
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


class FakeServer:
    """An OpenAI-compatible /v1/chat/completions endpoint answering with ``responder(n, body)``.

    ``responder`` returns a dict (200 JSON), or ``(status, payload, headers, delay)``.  Requests
    (headers and JSON body) are recorded.  The server shuts itself down after ``lifetime`` seconds.
    """

    def __init__(self, responder, *, lifetime=60.0):
        self.responder = responder
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                with server.lock:
                    n = len(server.requests)
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self.path != "/v1/chat/completions":
                    result = (404, {"error": {"message": "not found"}}, {}, 0)
                else:
                    result = server.responder(n, body)
                if isinstance(result, dict):
                    result = (200, result, {}, 0)
                status, payload, headers, delay = result
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.watchdog = threading.Timer(lifetime, self.stop)
        self.watchdog.daemon = True

    def __enter__(self):
        self.thread.start()
        self.watchdog.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc):
        self.watchdog.cancel()
        self.stop()
        self.thread.join(timeout=5)

    @property
    def bodies(self):
        return [r["body"] for r in self.requests]


def fr_responder(n, body):
    """Deterministic answers with log-probabilities: FR-I for bright images, FR-II otherwise."""
    image = decode_image(body)
    p = float(np.clip(image.mean() / 255 * 3, 0.05, 0.95))
    if p >= 0.5:
        return completion("FR-I", [("FR", 0.99, [("FR", 0.99)]), ("-", 0.99, []), ("I", p, [("II", 1 - p)])])
    return completion("FR-II", [("FR", 0.99, []), ("-", 0.99, []), ("II", 1 - p, [("I", p)])])


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return KEY


def make_backend(server, **options):
    defaults = dict(model="radio-test", base_url=server.url, api_key_env=KEY_ENV, backoff=0.01, max_backoff=0.5,
                    timeout=5.0, max_retries=2, concurrency=4)
    defaults.update(options)
    return OpenAIBackend(**defaults)


# ------------------------------------------------------------------------------------- contract
class TestOpenAIContract(BaseTestBackend):
    generative = True

    @pytest.fixture
    def backend_factory(self, api_key):
        with FakeServer(fr_responder) as server:
            yield lambda **options: make_backend(server, **options)

    @pytest.fixture
    def task(self):
        return get_task("B6")


# ------------------------------------------------------------------------------------- requests
def test_request_schema_logprobs_and_key(api_key, caplog):
    images = make_test_images(3, 40)
    with FakeServer(fr_responder) as server:
        backend = make_backend(server)
        with caplog.at_level(logging.DEBUG, logger="radioassist"):
            out = backend.predict(images, "B6")
    assert len(server.requests) == 3
    for request, image in zip(server.requests, images):
        body = request["body"]
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["Authorization"] == f"Bearer {KEY}"
        assert body["model"] == "radio-test"
        assert body["max_tokens"] == 32 and body["temperature"] == 0
        assert body["logprobs"] is True and body["top_logprobs"] == 20
        system, user = body["messages"]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert user["role"] == "user"
        assert user["content"][0]["type"] == "image_url" and user["content"][1] == {
            "type": "text", "text": build_prompt("B6")}
    decoded = sorted(decode_image(b).tobytes() for b in server.bodies)
    assert decoded == sorted(image.tobytes() for image in images)  # PNG round trip, RGB
    # scores from the top log-probabilities
    for image, probs, label in zip(images, out.probabilities, out.labels):
        p = float(np.clip(image.mean() / 255 * 3, 0.05, 0.95))
        np.testing.assert_allclose(probs, [p, 1 - p], atol=1e-9)
        assert label == ("FR-I" if p > 0.5 else "FR-II")
    assert out.raw_answers == [("FR-I" if lab == "FR-I" else "FR-II") for lab in out.labels]
    assert out.n_unparsed == 0
    # the key appears nowhere
    info = backend.describe()
    assert KEY not in json.dumps(info) and info["api_key_env"] == KEY_ENV
    assert KEY not in json.dumps({k: v.tolist() for k, v in out.to_columns().items()})
    assert KEY not in caplog.text and KEY not in repr(backend)


def test_no_key_no_header(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with FakeServer(fr_responder) as server:
        make_backend(server).predict(make_test_images(1, 32), "B6")
    assert "Authorization" not in server.requests[0]["headers"]


def test_generation_path_and_reasks(api_key):
    reask = reask_prompt("B6")

    def responder(n, body):
        last = body["messages"][-1]
        if last["role"] == "user" and last["content"] == reask:
            return completion("FR-II")  # no logprobs
        if decode_image(body).shape[1] == 33:
            return completion("Hard to say.")
        return completion("The answer is FR-I.")

    images = [make_test_images(1, 40)[0], make_test_images(1, 33)[0][:, :33]]
    with FakeServer(responder) as server:
        out = make_backend(server, mode="generate", concurrency=1).predict(images, "B6")
    assert out.labels == ["FR-I", "FR-II"]
    np.testing.assert_array_equal(out.probabilities, [[1, 0], [0, 1]])
    assert out.raw_answers == ["The answer is FR-I.", "Hard to say. | re-ask 1: FR-II"]
    assert all("logprobs" not in body for body in server.bodies)
    reasked = [b for b in server.bodies if b["messages"][-1]["content"] == reask][0]
    roles = [m["role"] for m in reasked["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert reasked["messages"][2]["content"] == "Hard to say."
    assert reasked["messages"][1]["content"][1]["text"] == build_prompt("B6")  # question and image kept


def test_unparsed_after_reasks_and_auto_without_logprobs(api_key):
    with FakeServer(lambda n, body: completion("I do not know")) as server:
        out = make_backend(server, max_reasks=2).predict(make_test_images(2, 32), "B6")
    assert out.labels == [None, None] and out.n_unparsed == 2
    assert np.all(np.isnan(out.probabilities))
    assert out.raw_answers[0] == "I do not know | re-ask 1: I do not know | re-ask 2: I do not know"
    assert len(server.requests) == 6
    assert sum("logprobs" in b for b in server.bodies) == 2  # only first asks request logprobs


def test_retry_after_429(api_key):
    def responder(n, body):
        if n == 0:
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": "0.3"}, 0
        return fr_responder(n, body)

    with FakeServer(responder) as server:
        backend = make_backend(server, backoff=0.001, concurrency=1)
        start = time.perf_counter()
        out = backend.predict(make_test_images(1, 32), "B6")
        elapsed = time.perf_counter() - start
    assert len(server.requests) == 2 and out.labels[0] is not None
    assert elapsed >= 0.3  # Retry-After obeyed rather than the 1 ms backoff
    assert backend.last_errors == []


def test_server_errors_give_up_per_row(api_key, caplog):
    def responder(n, body):
        if decode_image(body).shape[1] == 33:
            return 500, {"error": {"message": "internal error"}}, {}, 0
        return fr_responder(n, body)

    images = [make_test_images(1, 32)[0], make_test_images(1, 33)[0][:, :33], make_test_images(1, 32)[0]]
    with FakeServer(responder) as server:
        backend = make_backend(server, max_retries=2)
        with caplog.at_level(logging.WARNING, logger="radioassist"):
            out = backend.predict(images, "B6")
    failing = [b for b in server.bodies if decode_image(b).shape[1] == 33]
    assert len(failing) == 3  # 1 + max_retries, then gave up
    assert out.labels[0] is not None and out.labels[2] is not None and out.labels[1] is None
    assert np.all(np.isnan(out.probabilities[1])) and out.n_unparsed == 1
    assert out.raw_answers[1].startswith("ERROR: gave up after 3 attempts: HTTP 500")
    assert backend.last_errors == [(1, out.raw_answers[1][len("ERROR: "):])]
    assert "1 of 3 requests" in caplog.text


def test_client_errors_are_not_retried(api_key):
    with FakeServer(lambda n, body: (401, {"error": {"message": "bad key"}}, {}, 0)) as server:
        out = make_backend(server).predict(make_test_images(2, 32), "B6")
    assert len(server.requests) == 2
    assert all(a.startswith("ERROR: HTTP 401") and "bad key" in a for a in out.raw_answers)
    assert KEY not in " ".join(out.raw_answers)


def test_timeout_then_success(api_key):
    def responder(n, body):
        return (200, fr_responder(n, body), {}, 1.0 if n == 0 else 0)

    with FakeServer(responder) as server:
        backend = make_backend(server, timeout=0.3, concurrency=1)
        out = backend.predict(make_test_images(1, 32), "B6")
    assert len(server.requests) == 2
    assert out.labels[0] is not None and backend.last_errors == []


def test_timeouts_until_giving_up(api_key):
    with FakeServer(lambda n, body: (200, completion("FR-I"), {}, 0.6)) as server:
        out = make_backend(server, timeout=0.2, max_retries=1).predict(make_test_images(1, 32), "B6")
    assert out.labels == [None] and "gave up after 2 attempts" in out.raw_answers[0]
    assert "timed out" in out.raw_answers[0].lower()


def test_server_rejecting_logprobs(api_key):
    def responder(n, body):
        if "logprobs" in body:
            return 400, {"error": {"message": "logprobs is not supported by this model"}}, {}, 0
        return completion("FR-II")

    with FakeServer(responder) as server:
        backend = make_backend(server, concurrency=1)
        out = backend.predict(make_test_images(3, 32), "B6")
    assert out.labels == ["FR-II"] * 3
    assert sum("logprobs" in b for b in server.bodies) == 1  # asked once, then never again
    assert backend.describe()["logprobs_supported"] is False


def test_score_mode_requires_logprobs(api_key):
    with FakeServer(lambda n, body: completion("FR-II")) as server:
        out = make_backend(server, mode="score").predict(make_test_images(1, 32), "B6")
    assert out.labels == [None] and "no log-probabilities" in out.raw_answers[0]


def test_multilabel_logprobs(api_key):
    tokens = [("EXTENDED", 0.8, [("NONE", 0.1), ("DIFFUSE", 0.1)]), (",", 0.6, [("<|im_end|>", 0.4)]),
              (" DIFFUSE", 0.9, [(" DIFFUSE-LARGE", 0.1)])]
    with FakeServer(lambda n, body: completion("EXTENDED, DIFFUSE", tokens)) as server:
        out = make_backend(server).predict(make_test_images(1, 32), "B1")
    assert out.labels == [("EXTENDED", "DIFFUSE")]
    assert out.probabilities[0, 0] > 0.5 and out.probabilities[0, 1] > 0.5


def test_few_shot_messages(api_key):
    examples = [(make_test_images(1, 24, seed=5)[0], "FR-II")]
    with FakeServer(fr_responder) as server:
        backend = make_backend(server, examples=examples, system_prompt=False, prompt_version="v1")
        backend.predict(make_test_images(1, 32), "B6")
    messages = server.bodies[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "FR-II"
    assert messages[0]["content"][1]["text"] == build_prompt("B6", version="v1")
    np.testing.assert_array_equal(decode_image(server.bodies[0], 0), examples[0][0])
    assert backend.describe()["n_examples"] == 1


def test_describe_and_options(api_key):
    backend = OpenAIBackend(model="gpt-4.1", base_url="https://user:secret@example.org/v1/")
    info = backend.describe()
    assert info["base_url"] == "https://example.org/v1" and "secret" not in json.dumps(info)
    assert info["model"] == "gpt-4.1" and info["mode"] == "auto" and info["prompt_version"] == "v2"
    assert backend.input_spec("B6") == {"render_preset": "radio-llava"}
    assert isinstance(get_backend("openai", model="gpt-4.1"), OpenAIBackend)
    empty = backend.predict([], "B6")
    assert isinstance(empty, Predictions) and len(empty) == 0
    for options, match in [({"model": None}, "needs model="), ({"base_url": "ftp://x"}, "base_url"),
                           ({"concurrency": 0}, "concurrency"), ({"timeout": 0}, "timeout"),
                           ({"mode": "fast"}, "mode"), ({"max_retries": -1}, "max_retries")]:
        kwargs = {"model": "m", **options}
        with pytest.raises(InputError, match=match):
            OpenAIBackend(**kwargs)


# ------------------------------------------------------------------------------------- helpers
def _entry(token, p, alternatives=()):
    return {"token": token, "logprob": math.log(p),
            "top_logprobs": [{"token": a, "logprob": math.log(q)} for a, q in alternatives]}


@pytest.mark.parametrize("content, expected", [
    # the answer spells FR-II; FR-I departs at the last token
    ([_entry("FR", 0.99), _entry("-", 0.98), _entry("II", 0.7, [("I", 0.3)])], [0.3, 0.7]),
    # the answer is FR-I and stops; FR-II is reached through the alternative "II"
    ([_entry("FR", 0.99), _entry("-", 0.98), _entry("I", 0.6, [("II", 0.4)])], [0.6, 0.4]),
    # FR-I then another I: FR-I needs an end token at the last position
    ([_entry("FR", 0.99), _entry("-", 0.98), _entry("I", 0.9),
      _entry("I", 0.8, [("<|im_end|>", 0.15), (".", 0.05)])], [0.2, 0.8]),
    # FR-II followed by a full stop and leading whitespace
    ([_entry(" ", 0.9), _entry("FR", 0.99), _entry("-", 0.98), _entry("II.", 0.5, [("I", 0.5)])], [0.5, 0.5]),
])
def test_topk_candidate_scores(content, expected):
    task = get_task("B6")
    candidates = answer_candidates(task)
    scores = topk_candidate_scores(content, candidates)
    _, probs = candidate_predictions(task, candidates, scores[None])
    np.testing.assert_allclose(probs[0], expected, atol=1e-9)


def test_topk_scores_yes_no_and_absent():
    task = get_task("B3")
    candidates = answer_candidates(task)
    scores = topk_candidate_scores([_entry(" Yes", 0.7, [(" No", 0.25)]), _entry(".", 0.9)], candidates)
    _, probs = candidate_predictions(task, candidates, scores[None])
    np.testing.assert_allclose(probs[0], [0.7 / 0.95, 0.25 / 0.95])
    assert np.all(np.isneginf(topk_candidate_scores([_entry("Maybe", 0.9)], candidates)))


def test_png_round_trip():
    from PIL import Image

    rng = np.random.default_rng(1)
    for image in (rng.integers(0, 256, (7, 9, 3), dtype=np.uint8), rng.integers(0, 256, (5, 3), dtype=np.uint8)):
        decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image))))
        np.testing.assert_array_equal(decoded, image)
    assert png_data_url(np.zeros((2, 2, 3), np.uint8)).startswith("data:image/png;base64,iVBOR")
    with pytest.raises(InputError, match="uint8"):
        png_bytes(np.zeros((2, 2, 3)))


def test_retry_after_parsing():
    assert _retry_after("2") == 2.0 and _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 5) == pytest.approx(5.0)
