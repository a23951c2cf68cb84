"""Survey scale: tile assignment, several mosaics, and dask.distributed runs identical to serial ones."""
import collections
import threading

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from click.testing import CliRunner

from radioassist.backends import Backend, Predictions, get_backend, register_backend
from radioassist.cutouts import extract_cutouts
from radioassist.exceptions import ImageError, InputError, RadioassistWarning
from radioassist.pipeline import FLAG_NO_TILE
from radioassist.pipeline import classify as _classify
from radioassist.simulate import simulate_sky
from radioassist.tiles import NO_TILE, assign_tiles, tile_footprint


def classify(*args, **kwargs):
    """``radioassist.classify`` without the B6 gate: these tests are about tiles and workers, with a tiny B6
    model; the gate (the shipped B3 model asked first) has its own tests in test_gate.py."""
    kwargs.setdefault("gate", False)
    return _classify(*args, **kwargs)


def classify_survey(tiles, catalog, **kwargs):
    return classify(list(tiles), catalog, **kwargs)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
distributed = pytest.importorskip("distributed")

SIZE = 40  # cutout side (pixels) used throughout: small, so the tests stay fast
TILE_COLUMNS = [(0, 330), (230, 580), (480, 800)]  # three overlapping tiles of one 520 x 800 sky


def save_tiny_model(folder, labels=("FR-I", "FR-II"), task="B6", seed=0):
    """A tiny random ResNet image classifier saved with save_pretrained (safetensors)."""
    torch.manual_seed(seed)
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    config.radioassist = {"task": task, "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3,
                          "resample": "bilinear", "render_preset": "radio-llava"}
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_b6"))


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """One simulated sky, its catalogue, and three overlapping FITS tiles cut from it (one with a blank corner)."""
    folder = tmp_path_factory.mktemp("survey")
    sky = simulate_sky(shape=(520, 800), n_sources=70, seed=11)
    data = np.asarray(sky.image.data)
    paths = []
    for i, (x0, x1) in enumerate(TILE_COLUMNS):
        sub = data[:, x0:x1].copy()
        if i == 1:
            sub[:160, :140] = np.nan  # blank corner: sources there belong to tile 0
        path = folder / f"tile{i}.fits"
        fits.writeto(path, sub, sky.image.wcs[:, x0:x1].to_header())
        paths.append(str(path))
    catalog = sky.catalog.copy()
    # two sources outside every tile, one broken row
    catalog.add_row(catalog[0])
    catalog["ra"][-1], catalog["dec"][-1] = catalog["ra"][0] + 2.0, catalog["dec"][0]
    catalog.add_row(catalog[0])
    catalog["dec"][-1] = catalog["dec"][0] - 1.0
    catalog["ra"][5] = np.nan
    return {"sky": sky, "paths": paths, "catalog": catalog, "folder": folder}


@pytest.fixture(scope="module")
def cluster():
    """A small in-process dask cluster (two single-threaded workers)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def _wcs(ra, *, n=100, scale=10.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, 0.0]
    w.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    w.wcs.cdelt = [-scale / 3600, scale / 3600]
    return w


# ------------------------------------------------------------------------------------------------ tiles
def test_footprint_distances_and_blank_areas():
    data = np.ones((300, 400), dtype=np.float32)
    data[:, 300:] = np.nan
    fp = tile_footprint((data, _wcs(10, n=300)), max_cells=40)
    assert fp.factor == 10 and fp.coverage.shape == (30, 40)
    assert not fp.coverage[:, 30:].any() and fp.coverage[:, :30].all()
    d = fp.distance(np.array([[0.0, 150.0], [150.0, 150.0], [280.0, 150.0], [350.0, 150.0], [-3.0, 5.0],
                              [np.nan, 1.0]]))
    assert d[0] == pytest.approx(0.5)            # exact distance to the left edge
    assert d[1] == pytest.approx(145, abs=10)     # the blank area (x >= 300), known to a cell
    assert 0 < d[2] <= 25
    assert d[3] == 0                              # in the blank area
    assert d[4] < 0 and d[5] == -np.inf           # outside, invalid


def test_assignment_prefers_the_tile_where_the_source_is_deepest():
    left = np.ones((100, 100))
    right = np.ones((100, 100))
    right[:, 60:] = np.nan  # the right tile (RA decreases with x) is blank where it overlaps the left one
    tiles = [tile_footprint((left, _wcs(10.0))), tile_footprint((right, _wcs(10.2)))]
    # 10 arcsec pixels: the tiles (1000" wide) overlap by 280"
    coords = SkyCoord([9.9, 10.05, 10.1, 10.12, 10.28, 11.0, np.nan], [0, 0, 0, 0.1, 0, 0, 0], unit="deg")
    where, dist = assign_tiles(coords, tiles)
    assert where.tolist() == [0, 0, 0, 0, 1, NO_TILE, NO_TILE]
    assert np.all(dist[:5] > 0) and np.all(dist[5:] == -np.inf)
    # without the blank area, the source at 10.12 is deeper in the right tile
    where, _ = assign_tiles(coords, [tiles[0], tile_footprint((np.ones((100, 100)), _wcs(10.2)))])
    assert where[3] == 1
    # valid= excludes rows; the order of the tiles only breaks exact ties
    where, _ = assign_tiles(coords, tiles, valid=[False, True, True, True, True, True, True])
    assert where[0] == NO_TILE


def test_all_nan_mosaic_is_found_by_sampling_a_huge_image():
    # a 40000 x 40000 blank mosaic (a zero-stride view: 6.4 GB if it were scanned or copied)
    data = np.broadcast_to(np.float32(np.nan), (40000, 40000))
    with pytest.raises(ImageError, match="holds no data: all .* sampled"):
        tile_footprint((data, _wcs(10, n=40000, scale=1.0)))
    # the sample is at most 2 x 2 pixels per cell of a 512-cell grid
    data = np.broadcast_to(np.float32(1.0), (40000, 40000))
    fp = tile_footprint((data, _wcs(10, n=40000, scale=1.0)))
    assert fp.n_samples <= 4 * 512 * 512 and fp.coverage.all() and fp.blank_distance is None


def test_real_lotss_mosaics_each_row_in_one_tile(shared_data):
    folder = shared_data / "lotss_dr1_hetdex"
    names = ["P205+55-mosaic.fits", "P218+55-mosaic.fits", "P205+55-cutout600.fits"]
    tiles = [tile_footprint(folder / name) for name in names]
    from radioassist.catalog import read_catalog
    catalog = read_catalog(folder / "catalog_shimwell_reduced.srl.fits")
    where, dist = assign_tiles(catalog["skycoord"], tiles, valid=catalog["position_ok"])
    inside = Table.read(folder / "catalog_sources_in_images.csv")
    expected = collections.defaultdict(set)
    for row in inside:
        expected[str(row["Source_Name"])].add(names.index(str(row["image"])))
    got = {str(name): int(t) for name, t in zip(catalog["Source_Name"], where) if t >= 0}
    assert set(got) == set(expected)  # every source inside an image gets a tile, no other does
    for name, t in got.items():
        assert t in expected[name]
    assert len(got) == len(inside)  # the two P205+55 images do not overlap: one tile per listed source


# ------------------------------------------------------------------------------------------------ several mosaics
def test_survey_rows_in_order_each_in_one_tile(survey, tiny_model):
    cat = survey["catalog"]
    with pytest.warns(RadioassistWarning, match="no valid position"):  # the broken row
        table = classify_survey(survey["paths"], cat, model=tiny_model, size=SIZE, batch_size=16)
    assert list(table["name"]) == list(cat["name"])
    flags = np.asarray(table["B6_flag"], dtype=str)
    tiles = np.asarray(table["B6_tile"], dtype=str)
    assert flags[5] == "bad_position" and tiles[5] == ""
    assert list(flags[-2:]) == [FLAG_NO_TILE, FLAG_NO_TILE] and list(tiles[-2:]) == ["", ""]
    ok = flags == ""
    # the same coverage rule as for one mosaic: a row is classified only when at least 90 % of its cutout in
    # its tile holds data; the others (at the survey's outer edge or in the blank corner) are flagged partial
    # (or blank: the position itself in the blank corner of the only tile that holds it)
    partial, blank = flags == "partial", flags == "blank"
    assert set(flags[~ok & ~partial & ~blank]) == {"bad_position", FLAG_NO_TILE}
    assert ok.sum() + partial.sum() + blank.sum() == len(cat) - 3
    assert 0 < partial.sum() < 15 and blank.sum() < 5
    for name, path in zip(("tile0.fits", "tile1.fits", "tile2.fits"), survey["paths"]):
        mine = tiles == name
        stack = extract_cutouts(path, SkyCoord(cat["ra"][mine], cat["dec"][mine], unit="deg"), size=SIZE)
        coverage = 1 - stack.nan_fraction
        data = fits.getdata(path)
        ix, iy = np.floor(stack.xy + 0.5).astype(int).T
        no_data = ~np.isfinite(data[iy, ix])
        np.testing.assert_array_equal(blank[mine], no_data)
        np.testing.assert_array_equal(partial[mine], (coverage < 0.9) & ~no_data)
    assert set(tiles[ok]) == {"tile0.fits", "tile1.fits", "tile2.fits"}
    np.testing.assert_allclose(np.asarray(table["B6_prob_FR-I"])[ok] + np.asarray(table["B6_prob_FR-II"])[ok], 1,
                               atol=1e-5)
    # sources in the blank corner of tile 1 that tile 0 also covers were classified in tile 0
    w1 = WCS(fits.getheader(survey["paths"][1]))
    x, y = w1.world_to_pixel(SkyCoord(cat["ra"], cat["dec"], unit="deg"))
    in_corner = ok & (x > 0) & (x < 140) & (y < 150)
    covered_by_0 = x < TILE_COLUMNS[0][1] - TILE_COLUMNS[1][0] - 1
    assert (in_corner & covered_by_0).any() and set(tiles[in_corner & covered_by_0]) == {"tile0.fits"}
    assert set(tiles[in_corner & ~covered_by_0]) <= {"tile1.fits"}  # only tile 1 holds them, blank or not
    meta = table.meta["radioassist"]
    assert meta["image"] == ["tile0.fits", "tile1.fits", "tile2.fits"] and meta["n_tiles"] == 3


def test_survey_equals_the_whole_sky_away_from_tile_edges(survey, tiny_model):
    """A cutout that lies wholly inside its tile is the cutout of the whole sky: same answer, bit for bit."""
    cat = survey["catalog"][:-2]
    cat.remove_row(5)
    full = classify(survey["sky"].image, cat, model=tiny_model, size=SIZE, batch_size=16)
    tiled = classify(list(survey["paths"]), cat, model=tiny_model, size=SIZE, batch_size=16)
    names = np.asarray(tiled["B6_tile"], dtype=str)
    x, y = survey["sky"].image.wcs.world_to_pixel(SkyCoord(cat["ra"], cat["dec"], unit="deg"))
    interior = np.zeros(len(cat), dtype=bool)
    for i, (x0, x1) in enumerate(TILE_COLUMNS):
        mine = names == f"tile{i}.fits"
        interior |= mine & (x - SIZE / 2 > x0) & (x + SIZE / 2 < x1 - 1) & (y > SIZE / 2) & (y < 520 - SIZE / 2 - 1)
        if i == 1:
            interior &= ~(mine & (x - SIZE / 2 < x0 + 140) & (y - SIZE / 2 < 160))
    assert interior.sum() > 30
    for col in ("B6_label", "B6_prob_FR-I", "B6_prob_FR-II"):
        np.testing.assert_array_equal(np.asarray(tiled[col])[interior], np.asarray(full[col])[interior])


def test_survey_input_errors(survey, tiny_model):
    # (several mosaics without a catalogue: sources found in each, tests/test_coldstart.py)
    with pytest.raises(InputError, match="empty"):
        classify([], survey["catalog"], model=tiny_model)
    far = survey["catalog"][:3].copy()
    far["dec"] = -60.0
    with pytest.raises(InputError, match="none of the 3 catalogue sources lies in any of the 3 mosaics"):
        classify(survey["paths"], far, model=tiny_model)


# ------------------------------------------------------------------------------------------------ dask
def _columns(table, prefix="B6_"):
    return {c: np.asarray(table[c]) for c in table.colnames if c.startswith(prefix)}


def test_dask_run_identical_to_serial(survey, tiny_model, cluster):
    cat = survey["catalog"]
    kwargs = dict(model=tiny_model, size=SIZE, batch_size=8, chunk_size=8)
    with pytest.warns(RadioassistWarning, match="no valid position"):
        serial = classify(survey["paths"], cat, **kwargs)
    with pytest.warns(RadioassistWarning, match="no valid position"):
        parallel = classify(survey["paths"], cat, scheduler=cluster, **kwargs)
    a, b = _columns(serial), _columns(parallel)
    assert list(a) == list(b)
    for col in a:
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)  # bit for bit, NaN where NaN
    meta = parallel.meta["radioassist"]
    assert meta["partitions"] > 6 and meta["parallel"].startswith("dask")
    assert meta["model_sha256"] == serial.meta["radioassist"]["model_sha256"]


def test_dask_single_mosaic_in_chunks_identical_to_serial(survey, tiny_model, cluster):
    image = survey["paths"][0]
    cat = survey["catalog"][:40]
    serial = classify(image, cat, model=tiny_model, size=SIZE, batch_size=8)
    parallel = classify(image, cat, model=tiny_model, size=SIZE, batch_size=8, chunk_size=8, scheduler=cluster)
    for col, values in _columns(serial).items():
        np.testing.assert_array_equal(values, np.asarray(parallel[col]), err_msg=col)
    assert "B6_tile" not in parallel.colnames  # one mosaic: same columns as ever


def test_in_memory_mosaic_on_dask(survey, tiny_model, cluster):
    sky = survey["sky"]
    cat = survey["catalog"][:20]
    serial = classify(sky.image, cat, model=tiny_model, size=SIZE, batch_size=8)
    parallel = classify(sky.image, cat, model=tiny_model, size=SIZE, batch_size=8, chunk_size=8, scheduler=cluster)
    np.testing.assert_array_equal(np.asarray(serial["B6_prob_FR-I"]), np.asarray(parallel["B6_prob_FR-I"]))


_BUILT = []
_BUILT_LOCK = threading.Lock()


@register_backend("test-counting-parallel", overwrite=True)
class CountingBackend(Backend):
    """Answers from the mean brightness; records which dask worker built it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from radioassist.parallel import _worker_id
        with _BUILT_LOCK:
            _BUILT.append(_worker_id())

    def predict(self, images, task):
        images = np.asarray(images, dtype=np.float32)
        p = images.reshape(len(images), -1).mean(axis=1) / 255.0 if len(images) else np.zeros(0)
        probs = np.column_stack([p, 1 - p]) if len(p) else np.zeros((0, 2))
        return Predictions(task, [task.labels[int(q < 0.5)] for q in p], probs)


def test_backend_and_model_loaded_once_per_worker(survey, tiny_model, cluster, monkeypatch):
    from radioassist.parallel import clear_backend_cache
    clear_backend_cache()
    _BUILT.clear()
    cat = survey["catalog"]
    with pytest.warns(RadioassistWarning, match="no valid position"):
        table = classify(survey["paths"], cat, backend="test-counting-parallel", size=SIZE, batch_size=4,
                         chunk_size=4, scheduler=cluster)
    assert table.meta["radioassist"]["partitions"] >= 15
    built_on_workers = [w for w in _BUILT if w is not None]
    counts = collections.Counter(built_on_workers)
    assert counts and set(counts.values()) == {1}  # once per worker, whatever the number of partitions
    assert len(counts) <= 2

    # the real vision backend: its checkpoint is read once per worker
    import radioassist.backends.vision as vision
    loads = []
    original = vision._load_checkpoint

    def counting(*args, **kwargs):
        from radioassist.parallel import _worker_id
        loads.append(_worker_id())
        return original(*args, **kwargs)

    monkeypatch.setattr(vision, "_load_checkpoint", counting)
    clear_backend_cache()
    with pytest.warns(RadioassistWarning, match="no valid position"):
        classify(survey["paths"], cat, model=tiny_model, size=SIZE, batch_size=4, chunk_size=4, scheduler=cluster)
    counts = collections.Counter(loads)
    assert counts and set(counts.values()) == {1} and None not in counts
    clear_backend_cache()

    # preload_backend: every worker ready before the run, nothing loaded again during it
    from radioassist.parallel import preload_backend
    loads.clear()
    ready = preload_backend(cluster, get_backend("vision", model=tiny_model).to_spec(), task="B6")
    assert sorted(ready) == sorted(w.id for w in cluster.cluster.workers.values()) and len(loads) == 2
    with pytest.warns(RadioassistWarning, match="no valid position"):
        classify(survey["paths"], cat, model=tiny_model, size=SIZE, batch_size=4, chunk_size=4, scheduler=cluster)
    assert len(loads) == 2
    clear_backend_cache()


def test_cli_several_mosaics_on_a_scheduler(survey, tiny_model, cluster, tmp_path):
    cat_path = tmp_path / "survey.ecsv"
    survey["catalog"].write(cat_path)
    runner = CliRunner()
    base = ["classify", *survey["paths"], "--catalog", str(cat_path), "-m", str(tiny_model), "--size", str(SIZE),
            "--batch-size", "8", "--chunk-size", "8"]
    serial_out = tmp_path / "serial.fits"
    result = runner.invoke(__import__("radioassist.cli", fromlist=["main"]).main, base + ["-o", str(serial_out)])
    assert result.exit_code == 0, result.output
    par_out = tmp_path / "parallel.fits"
    result = runner.invoke(__import__("radioassist.cli", fromlist=["main"]).main,
                           base + ["-o", str(par_out), "--scheduler", cluster.scheduler.address])
    assert result.exit_code == 0, result.output
    a, b = Table.read(serial_out), Table.read(par_out)
    assert len(a) == len(survey["catalog"])
    for col in ("B6_label", "B6_prob_FR-I", "B6_flag", "B6_tile"):
        np.testing.assert_array_equal(np.asarray(a[col]), np.asarray(b[col]))
    assert not (tmp_path / "parallel.fits.partial").exists()  # removed once the output is written
    # several mosaics need -o
    result = runner.invoke(__import__("radioassist.cli", fromlist=["main"]).main, base)
    assert result.exit_code == 2 and "-o/--output" in result.output


def test_scheduler_errors_are_clear(survey, tiny_model, monkeypatch):
    from radioassist import parallel
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    with pytest.raises(InputError, match="cannot connect to the dask scheduler at 'tcp://127.0.0.1:1'"):
        classify(survey["paths"][0], survey["catalog"][:5], model=tiny_model, size=SIZE,
                 scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="not both"):
        classify(survey["paths"][0], survey["catalog"][:5], model=tiny_model, scheduler="tcp://x:1", workers=2)
    with pytest.raises(InputError, match=r"workers \(--workers\) must be a positive integer"):
        classify(survey["paths"][0], survey["catalog"][:5], model=tiny_model, workers=0)


@pytest.mark.slow
def test_local_process_cluster(survey, tiny_model):
    """--workers N: a LocalCluster of worker processes (slow: each process imports torch)."""
    cat = survey["catalog"][:30]
    serial = classify(survey["paths"], cat, model=tiny_model, size=SIZE, batch_size=8, chunk_size=8)
    parallel = classify(survey["paths"], cat, model=tiny_model, size=SIZE, batch_size=8, chunk_size=8, workers=2)
    for col, values in _columns(serial).items():
        np.testing.assert_array_equal(values, np.asarray(parallel[col]), err_msg=col)


def test_backend_instance_rebuilt_on_the_workers(survey, tiny_model, cluster):
    from radioassist.backends import get_backend
    from radioassist.exceptions import BackendError
    backend = get_backend("vision", model=tiny_model, batch_size=16)
    spec = backend.to_spec()
    assert spec["backend"] == "vision" and spec["model"] == str(tiny_model) and spec["batch_size"] == 16
    assert spec["options"]["allow_pickle"] is False and spec["options"]["trust_remote_code"] is False
    cat = survey["catalog"][:20]
    serial = classify(survey["paths"][0], cat, backend=backend, size=SIZE, batch_size=8)
    parallel = classify(survey["paths"][0], cat, backend=backend, size=SIZE, batch_size=8, chunk_size=8,
                        scheduler=cluster)
    np.testing.assert_array_equal(np.asarray(serial["B6_prob_FR-I"]), np.asarray(parallel["B6_prob_FR-I"]))
    unregistered = CountingBackend()
    unregistered.name = "not-registered-anywhere"
    with pytest.raises(BackendError, match="not-registered-anywhere"):
        unregistered.to_spec()  # cannot be rebuilt: classify sends it as it is
    labelled = classify(survey["paths"][0], cat[:8], backend=unregistered, size=SIZE, batch_size=8,
                        scheduler=cluster)
    assert len(labelled) == 8
