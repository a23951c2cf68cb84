"""End-to-end classification: the real LoTSS mosaic through the CLI, and simulated skies with known truth."""
import threading
import time

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from radioassist import InputError
from radioassist.backends.vision import VisionBackend
from radioassist.exceptions import DomainWarning, RadioassistWarning
from radioassist.cli import main
from radioassist.output import read_provenance
from radioassist.pipeline import classify
from radioassist.simulate import simulate_sky


def _text(column):
    """Column as str with masked entries (empty strings read back from ECSV/FITS) as ''."""
    if hasattr(column, "filled"):
        column = column.filled("")
    return np.asarray(column, dtype=str)


def _float(column):
    if hasattr(column, "filled"):
        column = column.filled(np.nan)
    return np.asarray(column, dtype=float)


@pytest.fixture(scope="module")
def fr_sky():
    """A FIRST-like simulated sky with FR-I / FR-II / compact truth."""
    return simulate_sky(shape=(1536, 1536), n_sources=120, seed=7,
                        mix={"point": 0.3, "FR-I": 0.3, "FR-II": 0.3, "diffuse": 0.1})


@pytest.mark.parametrize("ext", [".vot", ".fits", ".ecsv"])
def test_cli_on_real_lotss_mosaic(shared_data, tmp_path, ext):
    folder = shared_data / "lotss_dr1_hetdex"
    catalog = folder / "catalog_shimwell_reduced.srl.fits"
    out = tmp_path / f"labelled{ext}"
    with pytest.warns(DomainWarning, match="143.7 MHz is outside the model's"):  # FIRST model, LoTSS mosaic
        result = CliRunner().invoke(main, ["classify", str(folder / "P205+55-mosaic.fits"), "--catalog",
                                           str(catalog), "--task", "B6", "-o", str(out), "--regions",
                                           str(tmp_path / "l.reg"), "--gallery", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    n_in = len(Table.read(catalog))
    assert len(table) == n_in  # every input row, in order
    original = Table.read(catalog)
    assert list(table["Source_Name"][:5]) == list(original["Source_Name"][:5])
    for col in ("B6_label", "B6_prob_FR-I", "B6_prob_FR-II", "B6_flag"):
        assert col in table.colnames
    flags = _text(table["B6_flag"])
    inside = flags == ""
    # the catalogue covers two mosaics and more: most rows are off this 400x400 image; of the 27 on it, those
    # whose 270" field of view is at least 90 % on the image are classified (the count is checked in
    # test_coverage.py against an independent computation) unless the B3 gate says they are not extended radio
    # galaxies (most of them are unresolved at 6": test_gate.py)
    assert 1 <= inside.sum() <= 27
    assert set(flags[~inside]) <= {"outside", "partial", "not_applicable"}
    assert (flags == "outside").sum() == 12093 - 27 and (flags == "not_applicable").sum() >= 10
    assert "not classified: outside 12,066, partial" in result.output
    assert "B6_gate_prob" in table.colnames
    p1, p2 = _float(table["B6_prob_FR-I"]), _float(table["B6_prob_FR-II"])
    np.testing.assert_allclose(p1[inside] + p2[inside], 1, atol=1e-5)
    assert np.all(np.isnan(p1[~inside]))
    assert set(_text(table["B6_label"])[inside]) <= {"FR-I", "FR-II"}
    prov = read_provenance(out)
    for key in ("radioassist_version", "backend", "task", "render_preset", "cutout_size", "pixel_scale_arcsec",
                "model", "model_sha256"):
        assert key in prov, key
    assert prov["task"] == "B6"
    assert prov["domain_warnings"] and prov["model_domain"]["pixel_scale_arcsec"] == 1.8
    assert (tmp_path / "l.reg").exists() and (tmp_path / "g.png").stat().st_size > 1000


def test_cli_bad_input_is_one_line(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "nope.fits"
    bad.write_text("not fits")
    result = runner.invoke(main, ["classify", str(bad), "--catalog", str(bad), "-o", str(tmp_path / "o.ecsv")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "not a FITS file" in result.output
    result = runner.invoke(main, ["classify", str(bad), "--task", "B9"])
    assert result.exit_code != 0 and "unknown task" in result.output


def test_default_models_beat_chance_on_simulated_sky(fr_sky):
    cat = fr_sky.catalog
    fr = cat[np.asarray(cat["B6_true"], dtype=str) != ""]
    table = classify(fr_sky.image, fr, task="B6", gate=False)  # the model alone (the gate: test_gate.py)
    # sources whose field of view runs off the simulated image are flagged partial, not guessed: score the rest
    ok = np.asarray(table["B6_flag"], dtype=str) == ""
    assert ok.mean() > 0.9 and set(np.asarray(table["B6_flag"], dtype=str)[~ok]) <= {"partial"}
    truth = np.asarray(table["B6_true"], dtype=str)[ok]
    pred = np.asarray(table["B6_label"], dtype=str)[ok]
    from sklearn.metrics import f1_score
    f1 = f1_score(truth, pred, average="macro")
    assert f1 > 0.7, f1

    table = classify(fr_sky.image, cat, task="B3")
    ok = np.asarray(table["B3_flag"], dtype=str) == ""
    assert ok.mean() > 0.9
    truth = np.asarray(table["B3_true"], dtype=str)
    pred = np.asarray(table["B3_label"], dtype=str)
    keep = np.isin(np.asarray(cat["kind"], dtype=str), ["point", "FR-I", "FR-II"]) & ok  # diffuse: no FIRST analogue
    f1 = f1_score(truth[keep], pred[keep], average="macro")
    assert f1 > 0.7, f1


def test_rows_keep_order_and_flags(fr_sky):
    cat = fr_sky.catalog[:20].copy()
    cat["ra"][3] = np.nan  # a broken row is flagged, not dropped
    cat["dec"][5] = 89.9   # far outside the image
    with pytest.warns(RadioassistWarning, match="no valid position"):
        table = classify(fr_sky.image, cat, task="B6", batch_size=7)
    assert list(table["name"]) == list(cat["name"])
    assert table["B6_flag"][3] == "bad_position"
    assert table["B6_flag"][5] == "outside"
    full = classify(fr_sky.image, fr_sky.catalog[:20], task="B6", batch_size=64)
    # the other rows are flagged exactly as in a run without the broken rows, in other batches
    others = np.setdiff1d(np.arange(20), [3, 5])
    flags, full_flags = np.asarray(table["B6_flag"], dtype=str), np.asarray(full["B6_flag"], dtype=str)
    np.testing.assert_array_equal(flags[others], full_flags[others])
    assert set(flags[others]) <= {"", "partial", "not_applicable"}
    assert np.sum(np.isin(flags[others], ["", "not_applicable"])) >= 15
    ok = flags == ""
    np.testing.assert_allclose(np.asarray(table["B6_prob_FR-I"])[ok], np.asarray(full["B6_prob_FR-I"])[ok],
                               atol=1e-5)
    with pytest.raises(InputError, match="batch_size"):
        classify(fr_sky.image, cat, batch_size=0)


def test_results_do_not_depend_on_catalogue_order_or_batches(fr_sky):
    """Batches are cut in the image's row order with one reused buffer: each row keeps its own answer."""
    cat = fr_sky.catalog[:60]
    reference = classify(fr_sky.image, cat, task="B6", batch_size=60)
    shuffle = np.random.default_rng(3).permutation(len(cat))
    shuffled = classify(fr_sky.image, cat[shuffle], task="B6", batch_size=8)
    assert list(shuffled["name"]) == list(cat["name"][shuffle])  # rows come back in the catalogue's order
    for column in ("B6_label", "B6_flag"):
        np.testing.assert_array_equal(_text(shuffled[column]), _text(reference[column])[shuffle])
    for label in ("FR-I", "FR-II"):
        np.testing.assert_allclose(_float(shuffled[f"B6_prob_{label}"]),
                                   _float(reference[f"B6_prob_{label}"])[shuffle], atol=1e-6, equal_nan=True)
    assert np.sum(np.isin(_text(reference["B6_flag"]), ["", "not_applicable"])) >= 40
    np.testing.assert_array_equal(_float(shuffled["B6_gate_prob"]), _float(reference["B6_gate_prob"])[shuffle])
    # partitions of one batch each, streamed through the model one after the other: the same answers
    streamed = classify(fr_sky.image, cat[shuffle], task="B6", batch_size=8, chunk_size=8)
    asked = int(np.sum(_text(shuffled["B6_flag"]) != "not_applicable"))  # the rows the gate lets through
    assert streamed.meta["radioassist"]["partitions"] == -(-asked // 8)
    for column in ("B6_label", "B6_flag"):
        np.testing.assert_array_equal(_text(streamed[column]), _text(shuffled[column]))
    np.testing.assert_array_equal(_float(streamed["B6_prob_FR-II"]), _float(shuffled["B6_prob_FR-II"]))


class _ThreadRecorder(VisionBackend):
    """The vision backend (shipped model), noting the thread each batch is classified in."""

    threads = []

    def predict(self, images, task):
        type(self).threads.append(threading.current_thread().name)
        return super().predict(images, task)


def test_batches_are_classified_while_the_next_is_cut_across_partitions(fr_sky):
    """One-batch partitions (many small mosaics, or a checkpointed run) still overlap cutting and the model."""
    cat = fr_sky.catalog[:40]
    backend = _ThreadRecorder()
    _ThreadRecorder.threads = []
    table = classify(fr_sky.image, cat, backend=backend, task="B6", batch_size=8, chunk_size=8, gate=False)
    assert table.meta["radioassist"]["partitions"] == 5
    assert len(_ThreadRecorder.threads) == 5
    assert all(name.startswith("radioassist-predict") for name in _ThreadRecorder.threads)
    _ThreadRecorder.threads = []
    # one batch: nothing to overlap
    classify(fr_sky.image, cat[:8], backend=backend, task="B6", batch_size=8, gate=False)
    assert _ThreadRecorder.threads == [threading.current_thread().name]


class _SideBySide(VisionBackend):
    """The vision backend asked to run two predictions at once: notes what each call saw."""

    calls, running, most = [], 0, 0
    lock = threading.Lock()

    def predict_workers(self):
        return 2

    def predict(self, images, task):
        from radioassist._threads import torch_threads

        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
            cls.calls.append((threading.current_thread().name, torch_threads()))
        try:
            time.sleep(0.05)  # a slow model: the next batch is cut and sent to the other thread meanwhile
            return super().predict(images, task)
        finally:
            with cls.lock:
                cls.running -= 1


def test_backends_that_run_predictions_side_by_side_get_one_thread_each(fr_sky):
    """The vision backend on the CPU runs one prediction per core, each on one thread, answers in order."""
    from radioassist._threads import torch_threads

    assert VisionBackend().predict_workers() == max(1, torch_threads())
    assert VisionBackend(device="cuda").predict_workers() == 1  # (no GPU needed: nothing is loaded)
    cat = fr_sky.catalog[:40]
    _SideBySide.calls, _SideBySide.most = [], 0
    table = classify(fr_sky.image, cat, backend=_SideBySide(), task="B6", batch_size=8, gate=False)
    assert len(_SideBySide.calls) == 5 and _SideBySide.most == 2
    assert all(name.startswith("radioassist-predict") and threads == 1 for name, threads in _SideBySide.calls)
    reference = classify(fr_sky.image, cat, task="B6", batch_size=40, gate=False)  # one batch, in this thread
    for column in ("B6_label", "B6_flag"):
        np.testing.assert_array_equal(_text(table[column]), _text(reference[column]))
    np.testing.assert_allclose(_float(table["B6_prob_FR-II"]), _float(reference["B6_prob_FR-II"]), atol=1e-5,
                               equal_nan=True)


class _SizeRecorder(VisionBackend):
    """The vision backend (shipped model), noting the rows of each batch it classifies."""

    sizes = []

    def predict(self, images, task):
        type(self).sizes.append(len(images))
        return super().predict(images, task)


def test_the_model_starts_on_a_small_first_batch(fr_sky, monkeypatch):
    """The stream's first batch is cut while no model runs: a few rows, then more, then full batches."""
    from radioassist import _partition

    monkeypatch.setattr(_partition, "RAMP_UP", (8, 16))
    cat = fr_sky.catalog[:100]
    _SizeRecorder.sizes = []
    table = classify(fr_sky.image, cat, backend=_SizeRecorder(), task="B6", batch_size=40, gate=False)
    flagged = int(np.sum(_text(table["B6_flag"]) != ""))  # (cut, not classified)
    assert len(_SizeRecorder.sizes) == 5 and sum(_SizeRecorder.sizes) == 100 - flagged  # 8, 16, 16, 40, 20 rows
    assert _SizeRecorder.sizes[0] <= 8 and _SizeRecorder.sizes[1] <= 16 and _SizeRecorder.sizes[3] > 16
    reference = classify(fr_sky.image, cat, task="B6", batch_size=100, gate=False)  # one batch, in this thread
    for column in ("B6_label", "B6_flag"):
        np.testing.assert_array_equal(_text(table[column]), _text(reference[column]))
    np.testing.assert_allclose(_float(table["B6_prob_FR-II"]), _float(reference["B6_prob_FR-II"]), atol=1e-5,
                               equal_nan=True)
    run = _partition.PartitionRun  # a first batch smaller than the ramp is left as it is
    part = run.__new__(run)
    part.bounds, part.unfinished = [(0, 20), (20, 40)], 2
    part.ramp_up((8, 16))
    assert part.bounds == [(0, 8), (8, 20), (20, 40)] and part.unfinished == 3


def test_vision_backend_runs_side_by_side_on_few_cores_only(monkeypatch):
    """One call per thread on a CPU of a few cores; one call with all the threads on a big machine."""
    from radioassist.backends import vision

    for threads, workers in ((1, 1), (2, 2), (4, 4), (8, 1), (64, 1)):
        monkeypatch.setattr(vision, "_threads", lambda threads=threads: threads)
        assert VisionBackend().predict_workers() == workers, threads


def test_no_catalogue_detects_sources(fr_sky):
    table = classify(fr_sky.image, None, task="B3")
    assert len(table) > 30
    assert "B3_label" in table.colnames
    assert table.meta["radioassist"]["catalog"].startswith("source finding (radioassist.structure)")


def test_demo_command(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "--size", "768", "--n-sources", "30"])
    assert result.exit_code == 0, result.output
    assert "Accuracy against the simulation's truth" in result.output
    for name in ("mosaic.fits", "truth.ecsv", "classified.ecsv", "classified.reg", "gallery.png"):
        assert (out / name).stat().st_size > 0, name
    assert "Gate (B3" in result.output
    # the README's first command can be run again: the demo replaces its own outputs
    first = (out / "classified.ecsv").read_bytes()
    again = CliRunner().invoke(main, ["demo", "-o", str(out), "--size", "768", "--n-sources", "30"])
    assert again.exit_code == 0, again.output
    strip = lambda b: b"\n".join(x for x in b.splitlines() if b"created" not in x)  # noqa: E731 - run date differs
    assert strip((out / "classified.ecsv").read_bytes()) == strip(first)
    # a folder the demo did not make is not written over without --overwrite
    other = tmp_path / "mine"
    other.mkdir()
    (other / "mosaic.fits").write_bytes(b"precious")
    refused = CliRunner().invoke(main, ["demo", "-o", str(other), "--size", "768", "--n-sources", "30"])
    assert refused.exit_code != 0 and "--overwrite" in refused.output
    assert (other / "mosaic.fits").read_bytes() == b"precious"
