"""Same source, same numbers: a source's label and probabilities do not depend on how the run is cut up.

Batch size, chunk size, tiling, the order and the other rows of the catalogue, and resuming an interrupted
run all leave every source's numbers unchanged, bit for bit (the rule is in ``radioassist.backends.vision``
and ``docs/backends.rst``).  These tests run the shipped B6 model on a simulated FIRST-like sky.
"""
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, vstack

from radioassist.pipeline import classify
from radioassist.simulate import simulate_sky

COLUMNS = ("B6_label", "B6_prob_FR-I", "B6_prob_FR-II", "B6_flag")


@pytest.fixture(scope="module", autouse=True)
def onnx_cache(tmp_path_factory):
    """A disk cache of exported models of this module's own (never the user's)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADIOASSIST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def sky():
    return simulate_sky(shape=(900, 1400), n_sources=260, seed=22)


@pytest.fixture(scope="module")
def reference(sky):
    table = classify(sky.image, sky.catalog, task="B6", batch_size=512)
    assert int(np.sum(np.asarray(table["B6_flag"], dtype=str) == "")) > 100  # most sources are classified
    return table


def _by_name(table):
    """Each source's label, flag and the bits of its probabilities (NaN for unclassified rows compares equal)."""
    names = np.asarray(table["name"], dtype=str)
    columns = [np.asarray(table[col]) for col in COLUMNS]
    return {name: tuple(col[i].tobytes() if col.dtype.kind == "f" else str(col[i]) for col in columns)
            for i, name in enumerate(names)}


def _assert_same_numbers(table, reference, *, names=None):
    got, expected = _by_name(table), _by_name(reference)
    names = [n for n in (got if names is None else names) if n in expected]
    assert len(names) > 40
    for name in names:
        assert got[name] == expected[name], f"source {name}: {got[name]} != {expected[name]}"


@pytest.mark.parametrize("batch_size", [1, 7])
def test_batch_size(sky, reference, batch_size):
    catalog = sky.catalog if batch_size > 1 else sky.catalog[:70]  # (one source per batch: fewer sources)
    _assert_same_numbers(classify(sky.image, catalog, task="B6", batch_size=batch_size), reference)


def test_chunk_size(sky, reference):
    _assert_same_numbers(classify(sky.image, sky.catalog, task="B6", batch_size=16, chunk_size=48), reference)


def test_shuffled_catalogue_with_extra_rows(sky, reference):
    extra = simulate_sky(shape=(900, 1400), n_sources=60, seed=23).catalog  # other sources on the same sky
    extra["name"] = [f"extra-{name}" for name in extra["name"]]
    catalog = vstack([sky.catalog, extra], metadata_conflicts="silent")
    catalog = catalog[np.random.default_rng(1).permutation(len(catalog))]
    table = classify(sky.image, catalog, task="B6", batch_size=64)
    _assert_same_numbers(table, reference, names=[str(n) for n in sky.catalog["name"]])


def test_tiles(sky, reference, tmp_path):
    """Two overlapping tiles: a source whose cutout lies wholly inside its tile gets the whole sky's numbers."""
    data = np.asarray(sky.image.data)
    paths = []
    for i, (x0, x1) in enumerate([(0, 800), (600, 1400)]):
        path = tmp_path / f"tile{i}.fits"
        fits.writeto(path, data[:, x0:x1].copy(), sky.image.wcs[:, x0:x1].to_header())
        paths.append(str(path))
    tiled = classify(paths, sky.catalog, task="B6", batch_size=32)
    flags = np.asarray(tiled["B6_flag"], dtype=str)
    partial = np.asarray(reference["B6_flag"], dtype=str) != ""
    inside = [str(name) for name, flag, whole in zip(tiled["name"], flags, partial) if flag == "" and not whole]
    _assert_same_numbers(tiled, reference, names=inside)


def test_resume(sky, reference, tmp_path):
    """An interrupted run (some partitions saved) resumed: the saved and the new rows are the reference's."""
    from radioassist.resume import PartialResults

    folder = tmp_path / "run.partial"
    kwargs = dict(task="B6", batch_size=16, chunk_size=32, checkpoint=folder)
    classify(sky.image, sky.catalog, **kwargs)
    parts = sorted(folder.glob("part-*.npz"))
    assert len(parts) > 4
    for part in parts[::2]:  # as if the run had stopped before these partitions were saved
        part.unlink()
    resumed = classify(sky.image, sky.catalog, resume=True, **kwargs)
    assert 0 < resumed.meta["radioassist"]["rows_resumed"] < len(sky.catalog)
    _assert_same_numbers(resumed, reference)
    PartialResults(folder).remove()


def test_chunks_keep_every_row_in_order(sky, reference):
    """Not only the labelled rows: every row (flags too) comes back in the input order."""
    table = classify(sky.image, Table(sky.catalog), task="B6", batch_size=7, chunk_size=21)
    for col in COLUMNS:
        np.testing.assert_array_equal(np.asarray(table[col]), np.asarray(reference[col]))
