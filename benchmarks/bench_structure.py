"""Benchmark: catalogue-free classify of a simulated mosaic against photutils' own source finding.

Simulates a mosaic (default 6000 x 6000 pixels, 1.8"/px, 5.4" beam, ``radioassist.simulate``) in a
temporary folder, then in the same run measures

1. radioassist: ``radioassist.classify(mosaic, task=...)`` with no catalogue: the source structure
   (background and RMS, islands, peaks, association into radio sources: ``radioassist.structure``) and the
   classification of every radio source found; its structure step alone (``find_sources``) is timed too;
2. photutils as its user writes it: ``Background2D`` -> ``detect_sources`` -> ``deblend_sources`` ->
   ``SourceCatalog`` (positions, fluxes, sizes), one row per deblended segment, no classification;

and prints the rates in sources per second (each its own rows: radioassist's radio sources, photutils'
segments) and their ratio, radioassist / photutils, and the ratio of their times on the same mosaic (photutils
deblending splits radio sources into several segments, so its rows outnumber radio sources).  The machine's
load changes the figures: quote ratios measured in one run.

Usage::

    python benchmarks/bench_structure.py [--size 6000] [--n 5000] [--task B3] [--repeats 1]
"""
import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _parse():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=6000, help="mosaic side in pixels (default 6000)")
    parser.add_argument("--n", type=int, default=5000, help="simulated sources (default 5000)")
    parser.add_argument("--task", default="B3", help="task of the classify run (default B3)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each (default 1; the best is kept)")
    return parser.parse_args()


def photutils_run(path):
    """photutils' segmentation + deblending + SourceCatalog, as a user writes it: the number of rows."""
    from astropy.io import fits
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    data = np.squeeze(fits.getdata(path)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bkg = Background2D(data, 45, sigma_clip=SigmaClip(sigma=3.0), bkg_estimator=MedianBackground(),
                           bkg_rms_estimator=MADStdBackgroundRMS(), filter_size=(3, 3))
        residual = data - bkg.background
        segm = detect_sources(residual, 3.0 * bkg.background_rms, 5)
        segm = deblend_sources(residual, segm, 5, n_levels=32, contrast=0.001, progress_bar=False)
        cat = SourceCatalog(residual, segm, background=bkg.background)
        table = cat.to_table(columns=["label", "x_centroid", "y_centroid", "segment_flux", "max_value",
                                      "semimajor_axis", "area"])
    return len(table)


def _best(func, repeats):
    best, out = np.inf, None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    args = _parse()
    import radioassist as ra
    from radioassist.detect import find_sources
    from radioassist.simulate import simulate_sky

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mosaic.fits"
        t0 = time.perf_counter()
        simulate_sky(shape=(args.size, args.size), n_sources=args.n, seed=1, output=path)
        print(f"simulated {args.size} x {args.size} with {args.n} sources in {time.perf_counter() - t0:.1f} s")
        t_pu, n_pu = _best(lambda: photutils_run(path), args.repeats)
        t_st, found = _best(lambda: find_sources(path), args.repeats)
        t_cl, table = _best(lambda: ra.classify(str(path), task=args.task), args.repeats)
        n_comp = int(np.sum(found["n_components"]))
        print(f"photutils segmentation + deblending + SourceCatalog: {n_pu} segments in {t_pu:.1f} s "
              f"= {n_pu / t_pu:.0f} sources/s")
        print(f"radioassist structure (find_sources): {len(found)} radio sources ({n_comp} islands) in "
              f"{t_st:.1f} s = {len(found) / t_st:.0f} sources/s")
        print(f"radioassist catalogue-free classify --task {args.task}: {len(table)} radio sources in {t_cl:.1f} s "
              f"= {len(table) / t_cl:.0f} sources/s")
        print(f"ratio classify / photutils (sources/s): {(len(table) / t_cl) / (n_pu / t_pu):.2f}")
        print(f"ratio structure / photutils (sources/s): {(len(found) / t_st) / (n_pu / t_pu):.2f}")
        # photutils splits radio sources into many segments: on the same mosaic, compare the times too
        print(f"same mosaic, time photutils / time radioassist: classify {t_pu / t_cl:.2f}, structure "
              f"{t_pu / t_st:.2f}")


if __name__ == "__main__":
    main()
