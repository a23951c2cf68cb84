"""The ``openai`` backend against a real OpenAI-compatible server nobody here wrote: ``transformers serve``.

A tiny random LLaVA-OneVision checkpoint is written on the spot and served by
``transformers serve`` (the ``transformers[serving]`` extra) on the loopback
address, offline.  Its answers are gibberish and it returns no
log-probabilities, so every row the pipeline sends must come back flagged
``unparsed``, be counted in the summary line, and make ``--strict`` exit
non-zero after the output is written.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("fastapi", reason="transformers serve needs the serving extra: pip install 'transformers[serving]'")
pytest.importorskip("uvicorn", reason="transformers serve needs the serving extra: pip install 'transformers[serving]'")
pytest.importorskip("transformers.cli.serve", reason="this transformers has no 'transformers serve' command")

from radioassist.backends.tiny import make_tiny_llava_onevision  # noqa: E402
from radioassist.cli import main  # noqa: E402

START_TIMEOUT = 180  # seconds for the server to load the tiny model and listen


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    folder = make_tiny_llava_onevision(tmp_path_factory.mktemp("tiny-llava-served"), seed=0)
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
               NO_PROXY="127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    code = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; main()"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(folder), "--host", "127.0.0.1",
                                 "--port", str(port), "--device", "cpu"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}/v1"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with opener.open(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"transformers serve did not listen within {START_TIMEOUT} s:\n"
                                f"{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"url": url, "model": str(folder)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_unparsable_answers_of_a_real_server_are_flagged_counted_and_strict(served_model, shared_data, tmp_path,
                                                                           monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    folder = shared_data / "lotss_dr1_hetdex"
    out = tmp_path / "labels.ecsv"
    args = ["classify", str(folder / "P205+55-mosaic.fits"), "--catalog",
            str(folder / "catalog_shimwell_reduced.srl.fits"), "--task", "B6", "-o", str(out), "-b", "openai",
            "-m", served_model["model"], "--option", f"base_url={served_model['url']}", "--option", "max_tokens=6",
            "--option", "max_reasks=1", "--option", "timeout=120", "--strict", "--no-gate"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    table = Table.read(out)  # written before the non-zero exit
    flags = np.asarray(table["B6_flag"].filled("") if hasattr(table["B6_flag"], "filled") else table["B6_flag"],
                       dtype=str)
    sent = ~np.isin(flags, ["outside", "partial", "blank"])
    n_sent = int(sent.sum())
    assert n_sent > 0 and set(flags[sent]) == {"unparsed"}  # every row that reached the model
    answers = np.asarray(table["B6_answer"], dtype=str)[sent]
    assert all(a.strip() for a in answers)  # the server answered: its text is kept
    assert f"unparsed {n_sent}, errors 0" in result.output
    assert f"--strict: {n_sent} answers could not be parsed and 0 requests failed" in result.output
    assert "Labels: none" in result.output
