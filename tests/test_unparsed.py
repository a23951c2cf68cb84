"""Unparsed answers and failed requests are never silent: flags, counts in meta and in the summary, --strict."""
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))  # the OpenAI-compatible test server of test_backend_openai.py
from test_backend_openai import FakeServer, completion  # noqa: E402

from radioassist.backends import Predictions
from radioassist.cli import main
from radioassist.exceptions import BackendError
from radioassist.pipeline import FLAGS, classify, flag_counts
from radioassist.simulate import simulate_sky

KEY_ENV = "RADIOASSIST_TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unparsed")
    sky = simulate_sky(shape=(384, 384), n_sources=12, seed=3, output=folder / "sky.fits")
    sky.write_catalog(folder / "sky.ecsv")
    return {"mosaic": str(folder / "sky.fits"), "catalog": str(folder / "sky.ecsv"), "sky": sky}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)


def _options(server, **extra):
    options = dict(base_url=server.url, api_key_env=KEY_ENV, mode="generate", max_reasks=0, concurrency=1,
                   max_retries=0, backoff=0.01, timeout=10)
    options.update(extra)
    return options


def _flags(table, task="B6"):
    col = table[f"{task}_flag"]
    return np.asarray(col.filled("") if hasattr(col, "filled") else col, dtype=str)


# ------------------------------------------------------------------------------------------- Predictions
def test_predictions_keep_per_row_errors_and_unparsed():
    p = Predictions("B6", ["FR-I", None, None], np.array([[0.9, 0.1], [np.nan, np.nan], [np.nan, np.nan]]),
                    errors=[None, None, "HTTP 500: internal\nsecond line"])
    assert p.unparsed.tolist() == [False, True, False]
    assert p.failed.tolist() == [False, False, True]
    assert p.errors[2] == "HTTP 500: internal"  # one line
    assert p.n_unparsed == 2  # every row without a label
    joined = Predictions.concatenate([p, Predictions("B6", ["FR-II"], [[0.2, 0.8]])])
    assert joined.errors == [None, None, "HTTP 500: internal", None]
    assert joined.failed.tolist() == [False, False, True, False]
    with pytest.raises(BackendError, match="both a label and an error"):
        Predictions("B6", ["FR-I"], [[1.0, 0.0]], errors=["timed out"])
    with pytest.raises(BackendError, match="errors has 2 entries"):
        Predictions("B6", ["FR-I"], [[1.0, 0.0]], errors=[None, None])


def test_flag_counts_and_meanings():
    assert set(FLAGS) == {"bad_position", "no_tile", "outside", "blank", "partial", "not_applicable", "unparsed",
                          "error"}
    assert flag_counts(["", "error: HTTP 401", "error: timed out", "unparsed", "outside"]) == \
        {"outside": 1, "unparsed": 1, "error": 2}
    assert flag_counts(["", ""]) == {}


# ------------------------------------------------------------------------------------------- pipeline
def test_every_unparsable_answer_is_flagged_and_counted(sky):
    with FakeServer(lambda n, body: completion("I am not sure what this is.")) as server:
        table = classify(sky["mosaic"], sky["catalog"], task="B6", backend="openai", model="radio-test",
                         gate=False,
                         backend_options=_options(server))
    flags = _flags(table)
    sent = flags == "unparsed"
    coverage = np.isin(flags, ["outside", "partial", "blank"])
    assert sent.sum() == len(server.requests) > 0  # every row that was sent came back unparsed
    assert np.all(sent | coverage)
    assert np.all(np.asarray(table["B6_label"], dtype=str)[sent] == "")
    assert np.all(np.isnan(np.asarray(table["B6_prob_FR-I"])[sent]))
    assert all(a == "I am not sure what this is." for a in np.asarray(table["B6_answer"], dtype=str)[sent])
    meta = table.meta["radioassist"]
    assert meta["n_unparsed"] == sent.sum() and meta["n_errors"] == 0
    assert meta["n_unclassified"] == len(table)
    assert meta["n_flagged"]["unparsed"] == sent.sum()


def test_answers_parse_errors_and_failures_are_told_apart(sky):
    def responder(n, body):  # one request per row (concurrency 1, no re-asks, no retries), in the order sent
        if n % 3 == 0:
            return completion("FR-II")
        if n % 3 == 1:
            return completion("a galaxy, probably")
        return 401, {"error": {"message": "invalid key"}}, {}, 0

    with FakeServer(responder) as server:
        table = classify(sky["mosaic"], sky["catalog"], task="B6", backend="openai", model="radio-test",
                         gate=False,
                         backend_options=_options(server), min_coverage=0.0)
    flags = _flags(table)
    sent = ~np.isin(flags, ["outside", "partial", "blank"])
    assert sent.sum() == len(server.requests) >= 6
    # rows are sent in the image's row order, not the catalogue's: compare what came back as sets of outcomes
    expected = np.array(["", "unparsed", "error: HTTP 401: invalid key"] * 12)[:sent.sum()]
    assert sorted(flags[sent]) == sorted(expected)
    labels = np.asarray(table["B6_label"], dtype=str)[sent]
    assert np.all(labels[flags[sent] == ""] == "FR-II") and np.all(labels[flags[sent] != ""] == "")
    answers = np.asarray(table["B6_answer"], dtype=str)[sent]
    assert np.all(answers[flags[sent] == "unparsed"] == "a galaxy, probably")
    meta = table.meta["radioassist"]
    assert meta["n_unparsed"] == int(np.sum(expected == "unparsed"))
    assert meta["n_errors"] == int(np.sum(expected != "")) - meta["n_unparsed"]


def test_cli_summary_and_strict_after_writing(sky, tmp_path):
    runner = CliRunner()
    with FakeServer(lambda n, body: (500, {"error": {"message": "overloaded"}}, {}, 0)) as server:
        out = tmp_path / "failed.ecsv"
        args = ["classify", sky["mosaic"], "--catalog", sky["catalog"], "-b", "openai", "-m", "radio-test",
                "--no-gate", "-o",
                str(out)]
        for key, value in _options(server).items():
            args += ["--option", f"{key}={value}"]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output  # flagged and counted, not a failure without --strict
        n_sent = len(server.requests)
        assert f"errors {n_sent}" in result.output and "unparsed 0" in result.output
        strict = runner.invoke(main, args + ["--overwrite", "--strict"])
    assert strict.exit_code == 1
    assert f"--strict: 0 answers could not be parsed and {n_sent} requests failed" in strict.output
    assert "Traceback" not in strict.output
    table = Table.read(out)  # written before the non-zero exit
    flags = _flags(table)
    failed = np.char.startswith(flags, "error: ")
    assert failed.sum() == n_sent > 0
    assert set(flags[failed]) == {"error: gave up after 1 attempts: HTTP 500: overloaded"}
    assert np.all(np.isin(flags[~failed], ["outside", "partial", "blank"]))


def test_strict_passes_when_everything_parsed(sky, tmp_path):
    out = tmp_path / "ok.ecsv"
    with FakeServer(lambda n, body: completion("FR-I")) as server:
        args = ["classify", sky["mosaic"], "--catalog", sky["catalog"], "-b", "openai", "-m", "radio-test",
                "--no-gate", "-o",
                str(out), "--strict"]
        for key, value in _options(server).items():
            args += ["--option", f"{key}={value}"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Labels: FR-I " in result.output and "unparsed 0, errors 0" in result.output
