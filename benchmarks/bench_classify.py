"""Benchmark: the whole ``classify`` (read, cut, render, predict, write) with the shipped default model on CPU.

Simulates a mosaic with N sources (default 20,000) in a temporary folder, writes its catalogue as a
VOTable, then in the same run measures

* radioassist: ``radioassist.classify`` + ``write_table`` end to end, with the share of time in each stage;
* the baseline a user writes by hand (as ``../shared/bench/naive_classify_loop.py``): per source
  ``Cutout2D`` -> radio-llava transform -> the same model, one at a time, on a subset;

and prints both rates and their ratio. Goal: at least 1,000 sources/s on 2 cores.

Usage: python benchmarks/bench_classify.py [--n 20000] [--size 10000] [--task B6] [--baseline-n 300]
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="number of sources (default 20000)")
    parser.add_argument("--size", type=int, default=10000, help="mosaic side in pixels (default 10000)")
    parser.add_argument("--task", default="B6", help="task with a shipped model (default B6)")
    parser.add_argument("--baseline-n", type=int, default=300, help="sources for the naive loop (default 300)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=1024, help="pipeline batch size (default 1024)")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    import radioassist as ra
    from radioassist.output import write_table
    from radioassist.pipeline import classify
    from radioassist.simulate import simulate_sky

    tmp = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    mosaic = tmp / "mosaic.fits"
    catalog_path = tmp / "sources.vot"
    t0 = time.perf_counter()
    sky = simulate_sky(shape=(args.size, args.size), n_sources=args.n, seed=0, four_d=True, output=mosaic)
    sky.catalog["ra", "dec", "name"].write(catalog_path, format="votable")
    print(f"simulated {args.size}x{args.size} mosaic with {args.n} sources in {time.perf_counter() - t0:.1f}s "
          f"({mosaic.stat().st_size / 1e9:.2f} GB)")
    del sky

    # --- radioassist, end to end ---
    timings = {}
    t0 = time.perf_counter()
    table = classify(str(mosaic), str(catalog_path), task=args.task, batch_size=args.batch_size, timings=timings)
    t1 = time.perf_counter()
    write_table(table, tmp / "out.vot")
    t2 = time.perf_counter()
    total = t2 - t0
    stages = {k: timings[k] for k in ("read", "cut", "render", "predict")}
    stages["write"] = t2 - t1
    stages["other"] = max(total - sum(stages.values()), 0.0)
    rate = len(table) / total
    n_flagged = int(np.sum(np.asarray(table[f"{args.task}_flag"], dtype=str) != ""))
    print(f"radioassist classify: {len(table)} sources in {total:.2f}s = {rate:.0f} sources/s "
          f"({n_flagged} flagged), cutout size {table.meta['radioassist']['cutout_size']} px")
    for name, seconds in stages.items():
        print(f"  {name:8s} {seconds:7.2f}s  {100 * seconds / total:5.1f}%")

    # --- the naive per-source loop, same model, same mosaic ---
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    from radioassist.backends import get_backend
    backend = get_backend("vision")
    size = int(table.meta["radioassist"]["cutout_size"])
    image = ra.load_image(mosaic)
    coords = table["skycoord"][: args.baseline_n]
    task = ra.tasks.get_task(args.task)
    t0 = time.perf_counter()
    with fits.open(mosaic, memmap=True) as hdul:
        data = hdul[0].data[0, 0]
        for c in coords:
            a = np.nan_to_num(Cutout2D(data, c, (size, size), wcs=image.wcs, mode="partial",
                                       fill_value=np.nan).data.astype(np.float32))
            a = ((a - a.min()) / max(a.max() - a.min(), 1e-30) * 255).astype(np.uint8)
            backend.predict(np.repeat(a[None, :, :, None], 3, axis=3), task)
    naive = len(coords) / (time.perf_counter() - t0)
    print(f"naive per-source loop (Cutout2D -> transform -> same model, one at a time): {naive:.0f} sources/s "
          f"on {len(coords)} sources")
    print(f"ratio radioassist / naive loop: {rate / naive:.1f}x; goal >= 1000 sources/s: "
          f"{'MET' if rate >= 1000 else 'NOT MET'} ({rate:.0f}/s)")
    for path in tmp.iterdir():
        os.remove(path)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
