"""Benchmark: survey scale on dask.distributed -- sources/s on 1 vs 2 workers, and memory per worker vs tiles.

Simulates a survey of overlapping mosaic tiles (FITS files in a temporary folder, each with its own
sources; the survey catalogue is their union, written as a VOTable) and measures

* sources/s of ``radioassist.classify(tiles, catalogue)`` in this process (serial), and on a local dask
  cluster of 1 and of 2 single-threaded worker processes (the cluster is started and the model loaded in
  the workers by a warm-up run before timing, as in a long survey run);
* the peak resident memory (ru_maxrss) of each worker for surveys of 4, 8 and 16 tiles (a fresh cluster
  each): it must stay flat as the number of tiles grows, since a worker holds one tile (memory-mapped)
  and one batch of cutouts at a time;
* that every configuration gives the same labels and probabilities.

The model is the shipped default for the task when it is installed, else a small random ResNet stand-in
(the pipeline and the scheduling are what is measured then).

Usage: python benchmarks/bench_scale.py [--tiles 8] [--tile-size 1024] [--per-tile 400] [--memory-tiles 4 8 16]
"""
import argparse
import os
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def make_survey(folder, n_tiles, *, tile_size, per_tile, overlap=96, seed=0):
    """``n_tiles`` overlapping tiles on a grid; returns (paths, catalogue path, number of sources)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import vstack

    from radioassist.simulate import simulate_sky

    scale = 1.8  # arcsec / pixel
    step = (tile_size - overlap) * scale / 3600  # deg
    ncol = int(np.ceil(np.sqrt(n_tiles)))
    dec0 = 30.0
    paths, catalogues = [], []
    for i in range(n_tiles):
        row, col = divmod(i, ncol)
        dec = dec0 + row * step
        centre = SkyCoord((150.0 + col * step / np.cos(np.radians(dec))) * u.deg, dec * u.deg)
        path = folder / f"tile{i:03d}.fits"
        sky = simulate_sky(shape=(tile_size, tile_size), n_sources=per_tile, seed=seed + i, center=centre,
                           pixel_scale=scale * u.arcsec, output=path, overwrite=True)
        cat = sky.catalog["name", "ra", "dec"].copy()
        cat["name"] = [f"T{i:03d}-{name}" for name in cat["name"]]
        catalogues.append(cat)
        sky.close()
        paths.append(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-tile simulation metadata that cannot be merged
        catalog = vstack(catalogues, metadata_conflicts="silent")
    catalog.meta.clear()
    cat_path = folder / "survey.vot"
    catalog.write(cat_path, format="votable", overwrite=True)
    return paths, str(cat_path), len(catalog)


def stand_in_model(folder):
    """A small random ResNet classifier for B6 (used when the shipped model is not installed)."""
    import torch
    import transformers
    torch.manual_seed(0)
    labels = ["FR-I", "FR-II"]
    config = transformers.ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                                       depths=[1, 1, 1, 1], layer_type="basic", num_labels=2,
                                       id2label=dict(enumerate(labels)), label2id={k: i for i, k in enumerate(labels)})
    config.radioassist = {"task": "B6", "image_size": 96, "mean": [0.5] * 3, "std": [0.5] * 3,
                          "resample": "bilinear", "render_preset": "radio-llava", "pixel_scale_arcsec": 1.8,
                          "cutout_size_pix": 96}
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    return str(folder)


def choose_model(folder, task):
    from radioassist.models import DEFAULT_MODELS, MODELS_DIR
    name = DEFAULT_MODELS.get(task)
    if name and (MODELS_DIR / name / "config.json").is_file():
        return None, f"shipped default model {name}"
    return stand_in_model(folder / "stand-in-model"), "stand-in random ResNet (96x96 input, 4 stages)"


def _peak_rss_mb():
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across fork/exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb():
    """Current resident memory of this process (VmRSS)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_on_cluster(n_workers, paths, catalog, kwargs, warmup):
    """(seconds, table, [(RSS after loading, peak RSS) MB per worker], worker CPU s) on a fresh local cluster."""
    from distributed import Client, LocalCluster

    from radioassist.pipeline import classify

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("radioassist.pipeline") and __import__("torch"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from radioassist.backends import get_backend
            from radioassist.parallel import preload_backend
            from radioassist.tasks import get_task
            # start-up is not what is measured: load the model on every worker, run once
            preload_backend(client, get_backend("vision", model=kwargs["model"], device="cpu").to_spec(),
                            task=get_task(kwargs["task"]))
            loaded = client.run(_rss_mb)
            classify(warmup[0], warmup[1], scheduler=client, **kwargs)
            cpu0 = sum(client.run(_cpu_seconds).values())
            t0 = time.perf_counter()
            table = classify(paths, catalog, scheduler=client, **kwargs)
            seconds = time.perf_counter() - t0
            cpu = sum(client.run(_cpu_seconds).values()) - cpu0
        peaks = client.run(_peak_rss_mb)
    return seconds, table, sorted((loaded[w], peaks[w]) for w in peaks), cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=8, help="tiles of the throughput survey (default 8)")
    parser.add_argument("--tile-size", type=int, default=1024, help="tile side in pixels (default 1024)")
    parser.add_argument("--per-tile", type=int, default=400, help="sources simulated per tile (default 400)")
    parser.add_argument("--memory-tiles", type=int, nargs="+", default=[4, 8, 16],
                        help="survey sizes for the memory test (default 4 8 16)")
    parser.add_argument("--batch-size", type=int, default=256, help="pipeline batch size (default 256)")
    parser.add_argument("--task", default="B6", help="task (default B6)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated survey (default: delete it)")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(2)
    from radioassist.pipeline import classify

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    model, model_note = choose_model(tmp, args.task)
    kwargs = dict(task=args.task, model=model, batch_size=args.batch_size)
    surveys = {}
    for n in sorted(set([args.tiles] + list(args.memory_tiles))):
        folder = tmp / f"survey{n}"
        folder.mkdir()
        t0 = time.perf_counter()
        surveys[n] = make_survey(folder, n, tile_size=args.tile_size, per_tile=args.per_tile)
        print(f"simulated {n} tiles of {args.tile_size}x{args.tile_size} px, {surveys[n][2]} sources "
              f"({time.perf_counter() - t0:.1f} s)")
    print(f"model: {model_note}; batch size {args.batch_size}; {torch.get_num_threads()} torch threads in this "
          "process, 1 per dask worker")
    paths, catalog, n_sources = surveys[args.tiles]
    load = os.getloadavg()
    warmup = (paths[:1], catalog)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classify(*warmup, **kwargs)
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        serial = classify(paths, catalog, **kwargs)
        t_serial = time.perf_counter() - t0
        cpu_serial = _cpu_seconds() - cpu0
    t1, one, _, cpu1 = run_on_cluster(1, paths, catalog, kwargs, warmup)
    t2, two, _, cpu2 = run_on_cluster(2, paths, catalog, kwargs, warmup)
    same = all(np.array_equal(np.asarray(serial[c]), np.asarray(t[c]), equal_nan=serial[c].dtype.kind == "f")
               for t in (one, two) for c in serial.colnames if c.startswith(args.task + "_"))

    memory = {}
    for n in args.memory_tiles:
        p, c, _ = surveys[n]
        _, _, peaks, _ = run_on_cluster(2, p, c, kwargs, (p[:1], c))
        memory[n] = peaks

    rate = {name: n_sources / t for name, t in (("serial", t_serial), ("1 worker", t1), ("2 workers", t2))}
    flags = np.asarray(serial[f"{args.task}_flag"], dtype=str)
    print()
    print(f"=== survey of {args.tiles} tiles, {n_sources} sources ({int(np.sum(flags == ''))} classified, "
          f"{int(np.sum(flags == 'no_tile'))} in no tile) ===")
    per_k = 1000.0 / n_sources
    print(f"serial, this process (2 torch threads): {t_serial:6.2f} s  {rate['serial']:7.0f} sources/s  "
          f"{cpu_serial * per_k:5.2f} CPU-s per 1000 sources")
    print(f"dask, 1 worker process               : {t1:6.2f} s  {rate['1 worker']:7.0f} sources/s  "
          f"{cpu1 * per_k:5.2f} worker CPU-s per 1000 sources")
    print(f"dask, 2 worker processes             : {t2:6.2f} s  {rate['2 workers']:7.0f} sources/s  "
          f"{cpu2 * per_k:5.2f} worker CPU-s per 1000 sources")
    print(f"speed-up 2 workers / 1 worker: x{rate['2 workers'] / rate['1 worker']:.2f}; "
          f"2 workers / serial: x{rate['2 workers'] / rate['serial']:.2f}")
    print(f"identical results (serial, 1 worker, 2 workers): {same}")
    print(f"cores: {os.cpu_count()}; load average before the timed runs: {load[0]:.2f} (other jobs compete for "
          "the cores when it exceeds 0)")
    print()
    print("=== resident memory per worker, 2 workers: after loading the model -> peak of the whole run (VmHWM) ===")
    for n in args.memory_tiles:
        print(f"{n:3d} tiles ({surveys[n][2]:6d} sources): "
              + ", ".join(f"{a:6.0f} -> {b:6.0f} MB" for a, b in memory[n]))
    lo, hi = min(args.memory_tiles), max(args.memory_tiles)
    ratio = max(b for _, b in memory[hi]) / max(b for _, b in memory[lo])
    print(f"max over workers, {hi} tiles / {lo} tiles: x{ratio:.3f} "
          f"({'flat' if ratio < 1.15 else 'GROWS with the number of tiles'})")
    print(f"this (client) process peak: {_peak_rss_mb():.0f} MB")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"files kept in {tmp}")


if __name__ == "__main__":
    main()
