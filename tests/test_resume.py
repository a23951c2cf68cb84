"""Partial results and resume: a run killed part-way (SIGKILL) resumes to exactly the uninterrupted output."""
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from radioassist.cli import main
from radioassist.exceptions import InputError, RadioassistWarning
from radioassist.output import read_provenance
from radioassist.pipeline import classify
from radioassist.resume import PartialResults, catalog_fingerprint, model_fingerprint, partial_path
from radioassist.simulate import simulate_sky

# A deterministic test backend (answers from the mean brightness of each image).  The same source is
# exec'd here and in the subprocess that gets killed.  Environment variables (not backend options, which
# are run parameters) slow it down, log how many images it classified, or make it fail after some batches.
BACKEND_SOURCE = '''
import os
import time

import numpy as np

from radioassist.backends import Backend, Predictions, register_backend


@register_backend("test-slow", overwrite=True)
class SlowTestBackend(Backend):
    calls = 0
    prepared = 0

    def prepare(self, images, task):
        type(self).prepared += 1
        fail_after = os.environ.get("RADIOASSIST_TEST_FAIL_PREPARE_AFTER")
        if fail_after and type(self).prepared > int(fail_after):
            raise RuntimeError("simulated failure while preparing a batch")
        return super().prepare(images, task)

    def predict(self, images, task):
        type(self).calls += 1
        fail_after = os.environ.get("RADIOASSIST_TEST_FAIL_AFTER")
        if fail_after and type(self).calls > int(fail_after):
            raise RuntimeError("simulated crash of the classifier")
        images = np.asarray(images, dtype=np.float64)
        n = len(images)
        time.sleep(float(os.environ.get("RADIOASSIST_TEST_DELAY", "0")))
        log = os.environ.get("RADIOASSIST_TEST_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(f"{n}\\n")
        p = images.reshape(n, -1).mean(axis=1) / 255.0 if n else np.zeros(0)
        probs = np.column_stack([p, 1 - p]) if n else np.zeros((0, 2))
        return Predictions(task, [task.labels[int(q < 0.5)] for q in p], probs)
'''
exec(compile(BACKEND_SOURCE, "<test-slow backend>", "exec"))

N_SOURCES = 60
COMMON = ["-b", "test-slow", "--size", "32", "--batch-size", "8"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    sky = simulate_sky(shape=(320, 320), n_sources=N_SOURCES, seed=5, output=folder / "sky.fits")
    sky.write_catalog(folder / "sky.ecsv")
    return {"mosaic": str(folder / "sky.fits"), "catalog": str(folder / "sky.ecsv"), "sky": sky}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("RADIOASSIST_TEST_FAIL_AFTER", "RADIOASSIST_TEST_FAIL_PREPARE_AFTER", "RADIOASSIST_TEST_DELAY",
                 "RADIOASSIST_TEST_LOG"):
        monkeypatch.delenv(name, raising=False)
    SlowTestBackend.calls = 0
    SlowTestBackend.prepared = 0


def _n_classified(table, rows):
    flags = table["B6_flag"]
    flags = np.asarray(flags.filled("") if hasattr(flags, "filled") else flags, dtype=str)
    return int(np.sum(flags[rows] == ""))


def _logged(path):
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _assert_same_table(a, b):
    assert a.colnames == b.colnames
    for col in a.colnames:
        x, y = np.asarray(a[col]), np.asarray(b[col])
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=col)
        else:
            assert x.tolist() == y.tolist(), col


def _run_cli(args):
    result = CliRunner().invoke(main, args)
    return result


# ------------------------------------------------------------------------------------------------ SIGKILL
def test_killed_cli_run_resumes_without_losing_or_repeating_rows(files, tmp_path, monkeypatch):
    script = tmp_path / "radioassist_with_test_backend.py"
    script.write_text(BACKEND_SOURCE + "\nimport sys\nfrom radioassist.cli import main\nsys.exit(main())\n")
    out = tmp_path / "labels.fits"
    partial = partial_path(out)
    args = ["classify", files["mosaic"], "--catalog", files["catalog"], *COMMON, "--chunk-size", "8", "-o", str(out)]
    log_killed = tmp_path / "killed.log"
    env = dict(os.environ, RADIOASSIST_TEST_DELAY="0.3", RADIOASSIST_TEST_LOG=str(log_killed))
    proc = subprocess.Popen([sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    try:
        while len(list(partial.glob("part-*.npz"))) < 3:
            assert proc.poll() is None, "the run finished before it could be killed: " + proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up handler runs
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    saved_rows = []
    for part in partial.glob("part-*.npz"):
        with np.load(part) as npz:
            saved_rows.extend(npz["rows"].tolist())
    assert len(saved_rows) == len(set(saved_rows)) >= 24

    # resume (in this process: same backend, no delay) and compare with a run never interrupted
    log_resumed = tmp_path / "resumed.log"
    monkeypatch.setenv("RADIOASSIST_TEST_LOG", str(log_resumed))
    result = _run_cli(args + ["--resume"])
    assert result.exit_code == 0, result.output
    assert not partial.exists()  # removed once the output is written
    monkeypatch.delenv("RADIOASSIST_TEST_LOG")
    reference = tmp_path / "reference.fits"
    result = _run_cli(["classify", files["mosaic"], "--catalog", files["catalog"], *COMMON, "-o", str(reference)])
    assert result.exit_code == 0, result.output
    resumed, ref = Table.read(out), Table.read(reference)
    # only the rows not saved were redone (rows flagged partial near the edge are never sent to the model)
    todo = np.setdiff1d(np.arange(N_SOURCES), saved_rows)
    assert sum(_logged(log_resumed)) == _n_classified(ref, todo) > 0
    assert sum(_logged(log_killed)) >= _n_classified(ref, saved_rows)
    assert len(resumed) == N_SOURCES
    _assert_same_table(resumed, ref)
    assert read_provenance(out)["rows_resumed"] == len(saved_rows)


# ------------------------------------------------------------------------------------------------ API
def test_crashed_run_resumes_to_the_reference(files, tmp_path, monkeypatch):
    folder = tmp_path / "run.partial"
    # no gate: the rows of each partition are then the catalogue's (a gated resume: test_gate.py)
    kwargs = dict(backend="test-slow", size=32, batch_size=8, gate=False)
    reference = classify(files["mosaic"], files["catalog"], **kwargs)
    SlowTestBackend.calls = 0
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "5")
    with pytest.raises(RuntimeError, match="simulated crash"):
        classify(files["mosaic"], files["catalog"], checkpoint=folder, **kwargs)
    parts = sorted(p.name for p in folder.glob("part-*.npz"))
    assert parts == ["part-t00000-c000000.npz"]  # 4 batches of 8 per partition by default: the 1st finished
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "1")
    SlowTestBackend.calls = 0
    with pytest.raises(RuntimeError):
        classify(files["mosaic"], files["catalog"], checkpoint=folder, resume=True, **kwargs)
    assert len(list(folder.glob("part-*.npz"))) == 1  # the 2nd partition failed at its 2nd batch
    monkeypatch.delenv("RADIOASSIST_TEST_FAIL_AFTER")
    log = tmp_path / "n.log"
    monkeypatch.setenv("RADIOASSIST_TEST_LOG", str(log))
    table = classify(files["mosaic"], files["catalog"], checkpoint=folder, resume=True, **kwargs)
    n_redone = _n_classified(reference, np.arange(32, N_SOURCES))  # rows flagged partial are never predicted
    assert sum(_logged(log)) == n_redone > 0
    _assert_same_table(Table(table, copy=False)[[c for c in table.colnames if c != "skycoord"]],
                       reference[[c for c in reference.colnames if c != "skycoord"]])
    assert table.meta["radioassist"]["rows_resumed"] == 32
    assert folder.exists()  # the API leaves removing it to the caller, once the output is saved
    # killed after the last partition but before the output was written: nothing left to classify
    again = classify(files["mosaic"], files["catalog"], checkpoint=folder, resume=True, **kwargs)
    assert sum(_logged(log)) == n_redone
    assert again.meta["radioassist"]["rows_resumed"] == N_SOURCES
    np.testing.assert_array_equal(np.asarray(again["B6_prob_FR-II"]), np.asarray(reference["B6_prob_FR-II"]))
    assert again.meta["radioassist"]["model"] == table.meta["radioassist"]["model"]
    PartialResults(folder).remove()
    assert not folder.exists()


def test_resume_refuses_other_parameters(files, tmp_path, monkeypatch):
    folder = tmp_path / "p"
    kwargs = dict(backend="test-slow", batch_size=8, checkpoint=folder)
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "5")
    with pytest.raises(RuntimeError):
        classify(files["mosaic"], files["catalog"], size=32, **kwargs)
    monkeypatch.delenv("RADIOASSIST_TEST_FAIL_AFTER")
    with pytest.raises(InputError, match=r"other run parameters \(size: 32 then, 40 now\)"):
        classify(files["mosaic"], files["catalog"], size=40, resume=True, **kwargs)
    with pytest.raises(InputError, match=r"other run parameters \(catalog.n_rows: 60 then, 59 now; catalog.pos"):
        classify(files["mosaic"], Table.read(files["catalog"])[:-1], size=32, resume=True, **kwargs)
    moved = Table.read(files["catalog"])
    moved["ra"][7] += 1e-6
    with pytest.raises(InputError, match=r"other run parameters \(catalog.positions_sha256: "):
        classify(files["mosaic"], moved, size=32, resume=True, **kwargs)
    with pytest.raises(InputError, match="other run parameters .*task: B6 then, B3 now"):
        classify(files["mosaic"], files["catalog"], size=32, task="B3", resume=True, **kwargs)
    with pytest.raises(InputError, match="other run parameters .*chunk_size"):
        classify(files["mosaic"], files["catalog"], size=32, chunk_size=64, resume=True, **kwargs)
    with pytest.raises(InputError, match=r"other run parameters \(min_coverage: the model's own then, 0.5 now\)"):
        classify(files["mosaic"], files["catalog"], size=32, min_coverage=0.5, resume=True, **kwargs)
    with pytest.raises(InputError, match="interrupted run exist .* pass --resume"):
        classify(files["mosaic"], files["catalog"], size=32, **kwargs)
    assert len(list(folder.glob("part-*.npz"))) == 1  # nothing was touched


def test_unreadable_part_is_recomputed_and_stray_temporary_files_ignored(files, tmp_path, monkeypatch):
    folder = tmp_path / "p"
    kwargs = dict(backend="test-slow", size=32, batch_size=8, chunk_size=8, checkpoint=folder)
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "4")
    with pytest.raises(RuntimeError):
        classify(files["mosaic"], files["catalog"], **kwargs)
    monkeypatch.delenv("RADIOASSIST_TEST_FAIL_AFTER")
    parts = sorted(folder.glob("part-*.npz"))
    assert len(parts) == 4
    parts[1].write_bytes(parts[1].read_bytes()[:50])  # damaged (cannot happen with atomic renames, but still)
    (folder / ".part-t00000-c000009.npz.tmp").write_bytes(b"half a file")
    with pytest.warns(RadioassistWarning, match="ignoring unreadable partial result"):
        table = classify(files["mosaic"], files["catalog"], resume=True, **kwargs)
    assert table.meta["radioassist"]["rows_resumed"] == 24
    reference = classify(files["mosaic"], files["catalog"], backend="test-slow", size=32, batch_size=8)
    np.testing.assert_array_equal(np.asarray(table["B6_prob_FR-I"]), np.asarray(reference["B6_prob_FR-I"]))
    assert not list(folder.glob(".*.tmp"))


def test_folder_killed_before_run_json_is_started_again(files, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / ".run.json.tmp").write_text("{")  # killed while writing run.json
    table = classify(files["mosaic"], files["catalog"], backend="test-slow", size=32, checkpoint=folder,
                     resume=True)
    assert len(table) == N_SOURCES and (folder / "run.json").is_file() and not (folder / ".run.json.tmp").exists()
    (folder / "run.json").unlink()  # parts but no run.json: not ours to guess
    with pytest.raises(InputError, match="not a radioassist partial-results folder"):
        classify(files["mosaic"], files["catalog"], backend="test-slow", size=32, checkpoint=folder, resume=True)


def test_partition_classified_while_the_next_is_cut_is_kept_when_cutting_fails(files, tmp_path, monkeypatch):
    """Batches stream across partitions: the last batch of one is classified while the next one is cut.

    A failure while cutting (here: preparing) the first batch of partition 2 comes while the last batch of
    partition 1 is still in the model: partition 1 is finished and saved before the error is raised.
    """
    folder = tmp_path / "run.partial"
    kwargs = dict(backend="test-slow", size=32, batch_size=8)  # partitions of 4 batches
    reference = classify(files["mosaic"], files["catalog"], **kwargs)
    SlowTestBackend.calls = SlowTestBackend.prepared = 0
    monkeypatch.setenv("RADIOASSIST_TEST_DELAY", "0.05")  # the 4th batch is still in the model
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_PREPARE_AFTER", "4")
    with pytest.raises(RuntimeError, match="simulated failure while preparing"):
        classify(files["mosaic"], files["catalog"], checkpoint=folder, **kwargs)
    assert SlowTestBackend.calls == 4
    assert sorted(p.name for p in folder.glob("part-*.npz")) == ["part-t00000-c000000.npz"]
    monkeypatch.delenv("RADIOASSIST_TEST_FAIL_PREPARE_AFTER")
    monkeypatch.delenv("RADIOASSIST_TEST_DELAY")
    table = classify(files["mosaic"], files["catalog"], checkpoint=folder, resume=True, **kwargs)
    assert table.meta["radioassist"]["rows_resumed"] == 32
    np.testing.assert_array_equal(np.asarray(table["B6_prob_FR-II"]), np.asarray(reference["B6_prob_FR-II"]))
    PartialResults(folder).remove()


def test_failure_before_any_result_leaves_no_partial_folder(files, tmp_path, monkeypatch):
    folder = tmp_path / "p"
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "0")
    with pytest.raises(RuntimeError):
        classify(files["mosaic"], files["catalog"], backend="test-slow", size=32, checkpoint=folder)
    assert not folder.exists()


def test_fingerprints():
    from radioassist.catalog import read_catalog
    t = Table({"ra": [10.0, 11.0], "dec": [1.0, 2.0]})
    a = catalog_fingerprint(read_catalog(t))
    t["ra"][1] = 11.0000001
    b = catalog_fingerprint(read_catalog(t))
    assert a["n_rows"] == b["n_rows"] == 2 and a["positions_sha256"] != b["positions_sha256"]
    assert model_fingerprint("openai", "radio-llava", options={"base_url": "http://h:8000/v1"}) == {
        "backend": "openai", "model": "radio-llava", "options": {"base_url": "http://h:8000/v1"}}


def test_model_fingerprint_hashes_local_files(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights-1")
    first = model_fingerprint("vision", folder)
    (folder / "model.safetensors").write_bytes(b"weights-2")
    second = model_fingerprint("vision", folder)
    assert first["model"] == second["model"] == str(folder.resolve())
    assert first["model_files_sha256"] != second["model_files_sha256"]


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_partial_folder_rules(files, tmp_path, monkeypatch):
    out = tmp_path / "o.ecsv"
    partial = partial_path(out)
    args = ["classify", files["mosaic"], "--catalog", files["catalog"], *COMMON, "-o", str(out)]
    monkeypatch.setenv("RADIOASSIST_TEST_FAIL_AFTER", "5")
    result = _run_cli(args)
    assert result.exit_code == 1 and "simulated crash" in result.output and "Traceback" not in result.output
    assert partial.is_dir() and not out.exists()
    monkeypatch.delenv("RADIOASSIST_TEST_FAIL_AFTER")
    SlowTestBackend.calls = 0
    result = _run_cli(args)  # neither --resume nor --overwrite
    assert result.exit_code == 1 and "pass --resume to continue it, or --overwrite" in result.output
    assert not out.exists()
    result = _run_cli(args + ["--resume", "--size", "48"])
    assert result.exit_code == 1 and "other run parameters (size: 32 then, 48 now)" in result.output
    result = _run_cli(args + ["--overwrite"])  # discard and start again
    assert result.exit_code == 0, result.output
    assert out.exists() and not partial.exists()
    assert "rows_resumed" not in read_provenance(out)
    # an existing output is refused before any work: no partial folder appears
    result = _run_cli(args)
    assert result.exit_code == 1 and "already exists" in result.output and not partial.exists()
    result = _run_cli(args + ["--resume"])
    assert result.exit_code == 1 and "already exists" in result.output
    # --resume with nothing to resume just runs
    out2 = tmp_path / "o2.ecsv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _run_cli(args[:-1] + [str(out2), "--resume"])
    assert result.exit_code == 0, result.output
