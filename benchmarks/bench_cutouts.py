#!/usr/bin/env python
"""Benchmark: radioassist.cutouts.extract_cutouts against a plain astropy Cutout2D loop.

Writes a simulated 4-D (1, 1, N, N) float32 mosaic to a temporary folder (with
radioassist.simulate.simulate_sky when it is importable, otherwise plain numpy
noise streamed into the file), then, in the same run:

* extract_cutouts for --n random sources (--cutout px square): rate, with a new
  output array each time and with a preallocated one (out=);
* the plain astropy loop (Cutout2D per source on the memory-mapped mosaic, as in
  shared/bench/cutout2d_loop.py) on a subset (--baseline-n): rate, and the ratio;
* the time to copy the same number of output bytes (np.copyto), into a new and
  into an already used buffer, and our time / copy time;
* peak memory (RSS high-water mark) of extract_cutouts in a child process per
  mosaic size (--memory-sizes), to show it does not grow with the mosaic;
* the rate of resampled cutouts (resample_to=) on a subset (--resample-n).

Machines are noisy: every timing is repeated (--repeats) with the competitors
interleaved, and the median and best are shown.

Examples::

    python benchmarks/bench_cutouts.py                       # full size: 12000 px, 20000 sources
    python benchmarks/bench_cutouts.py --size 4000 --n 2000  # a quick run
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np


def make_mosaic(path, size, n_sources, how):
    """Write a (1, 1, size, size) float32 mosaic; returns a description of how it was made."""
    if how in ("auto", "simulate"):
        try:
            from radioassist.simulate import simulate_sky
            t0 = time.perf_counter()
            simulate_sky(shape=(size, size), n_sources=n_sources, four_d=True, seed=0, output=path,
                         overwrite=True)
            return f"radioassist.simulate.simulate_sky ({n_sources} sources, {time.perf_counter() - t0:.1f} s)"
        except Exception as exc:  # noqa: BLE001 - fall back to noise, and say so
            if how == "simulate":
                raise
            reason = f"simulate_sky unavailable ({type(exc).__name__}: {exc})"
    else:
        reason = "requested"
    from astropy.io import fits
    t0 = time.perf_counter()
    header = fits.Header()
    header.update(SIMPLE=True, BITPIX=-32, NAXIS=4, NAXIS1=size, NAXIS2=size, NAXIS3=1, NAXIS4=1)
    header.update(CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=150.0, CRVAL2=-30.0, CRPIX1=size / 2,
                  CRPIX2=size / 2, CDELT1=-2 / 3600, CDELT2=2 / 3600, CUNIT1="deg", CUNIT2="deg",
                  CTYPE3="FREQ", CRVAL3=943.5e6, CDELT3=288e6, CRPIX3=1, CUNIT3="Hz", CTYPE4="STOKES",
                  CRVAL4=1, CDELT4=1, CRPIX4=1, BUNIT="Jy/beam", BMAJ=15 / 3600, BMIN=15 / 3600, BPA=0.0)
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        fh.write(header.tostring().encode("ascii"))
        for start in range(0, size, 1000):
            rows = min(1000, size - start)
            fh.write((rng.standard_normal((rows, size), dtype=np.float32) * 1e-4).astype(">f4").tobytes())
        fh.write(b"\0" * ((-size * size * 4) % 2880))
    return f"numpy noise ({reason}; {time.perf_counter() - t0:.1f} s)"


def random_positions(path, n, seed=1, margin=200):
    """n random sky positions inside the mosaic (away from the edges by `margin` px, as the anchor)."""
    from astropy.io import fits
    from astropy.wcs import WCS
    header = fits.getheader(path)
    wcs = WCS(header).celestial
    size = header["NAXIS1"]
    rng = np.random.default_rng(seed)
    margin = min(margin, size // 4)
    xy = rng.uniform(margin, size - margin, (n, 2))
    return wcs, wcs.pixel_to_world(xy[:, 0], xy[:, 1])


def cutout2d_loop(path, wcs, sky, side):
    """The anchor: what a user writes with astropy alone."""
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    t0 = time.perf_counter()
    with fits.open(path, memmap=True) as hdul:
        data = hdul[0].data[0, 0]
        out = [np.asarray(Cutout2D(data, c, (side, side), wcs=wcs, mode="partial", fill_value=np.nan).data,
                          dtype=np.float32) for c in sky]
    dt = time.perf_counter() - t0
    return dt, out


def _proc_status():
    """VmRSS and VmHWM (peak RSS of this process image) in bytes, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0]) * 1024
    return values


def child_memory(path, n, side):
    """Run in a child process: peak RSS of one extract_cutouts call on `path`.

    ru_maxrss survives exec() on Linux (the child would report its parent's peak), so the peak is
    read from /proc/self/status (VmHWM), reset just before the call through /proc/self/clear_refs.
    """
    from radioassist.cutouts import extract_cutouts
    _, sky = random_positions(path, n)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS counter to the current RSS
        reset = True
    except OSError:
        reset = False
    before = _proc_status()["VmRSS"]
    t0 = time.perf_counter()
    stack = extract_cutouts(path, sky, size=side)
    dt = time.perf_counter() - t0
    peak = _proc_status()["VmHWM"]
    print(json.dumps({"before": before, "peak": peak, "output": stack.data.nbytes, "seconds": dt,
                      "mosaic_bytes": os.path.getsize(path), "reset": reset}))


def stats(times):
    return float(np.median(times)), float(np.min(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=12000, help="mosaic side in pixels (default 12000)")
    parser.add_argument("--n", type=int, default=20000, help="number of cutouts (default 20000)")
    parser.add_argument("--cutout", type=int, default=128, help="cutout side in pixels (default 128)")
    parser.add_argument("--baseline-n", type=int, default=2000,
                        help="cutouts for the Cutout2D loop (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (default 5)")
    parser.add_argument("--idle", type=float, default=4.0,
                        help="seconds of idling before the 'cold memory' timings (default 4)")
    parser.add_argument("--cold-repeats", type=int, default=3,
                        help="repeats of the 'cold memory' timings (default 3; 0 to skip)")
    parser.add_argument("--memory-sizes", default="4000,12000",
                        help="mosaic sides for the peak-memory children, comma separated (default 4000,12000; "
                             "'' to skip)")
    parser.add_argument("--memory-n", type=int, default=None, help="cutouts in each memory child (default --n)")
    parser.add_argument("--resample-n", type=int, default=500,
                        help="cutouts for the resample_to timing (default 500; 0 to skip)")
    parser.add_argument("--mosaic", choices=["auto", "simulate", "noise"], default="auto",
                        help="how to make the mosaic (default auto: simulate_sky if it works, else noise)")
    parser.add_argument("--tmpdir", default=None, help="folder for the temporary mosaics (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary mosaics")
    parser.add_argument("--child-memory", nargs=3, metavar=("PATH", "N", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_memory:
        child_memory(args.child_memory[0], int(args.child_memory[1]), int(args.child_memory[2]))
        return 0

    warnings.simplefilter("ignore")
    from radioassist.cutouts import extract_cutouts
    side, n = args.cutout, args.n
    tmp = tempfile.mkdtemp(prefix="bench_cutouts_", dir=args.tmpdir)
    results = {}
    try:
        path = os.path.join(tmp, f"mosaic_{args.size}.fits")
        print(f"Writing a (1, 1, {args.size}, {args.size}) float32 mosaic to {path} ...", flush=True)
        made_with = make_mosaic(path, args.size, n, args.mosaic)
        print(f"  made with {made_with}; {os.path.getsize(path) / 2 ** 20:.0f} MiB", flush=True)
        wcs, sky = random_positions(path, n)
        out_bytes = n * side * side * 4
        baseline_n = min(args.baseline_n, n)

        # warm up: page cache, imports, first-touch of memory
        extract_cutouts(path, sky[: min(n, 500)], size=side)
        cutout2d_loop(path, wcs, sky[:50], side)
        src = np.ones((n, side, side), np.float32)  # a used buffer of the output's size, for the copies

        def recycle():
            """Allocate, touch and free an output-sized buffer: the next allocation reuses warm memory."""
            tmp = np.empty_like(src)
            tmp.fill(0)
            del tmp

        # At most two output-sized buffers besides `src` are alive at any time.  A new array is timed
        # twice: right after an equal buffer was freed (memory recycled: the usual case in a loop) and
        # after --idle seconds (this VM hands memory freed for ~2 s back to the host: touching it again
        # is slow).  np.copyto into a new buffer is timed under exactly the same conditions.
        t_ours, t_ours_out, t_base, t_copy_new, t_copy_old = [], [], [], [], []
        t_ours_cold, t_copy_cold = [], []
        for rep in range(args.repeats):
            recycle()
            t0 = time.perf_counter()
            stack = extract_cutouts(path, sky, size=side)  # a new output array
            t_ours.append(time.perf_counter() - t0)
            used = stack.data
            del stack
            t0 = time.perf_counter()
            extract_cutouts(path, sky, size=side, out=used)  # a used (preallocated) output array
            t_ours_out.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            np.copyto(used, src)
            t_copy_old.append(time.perf_counter() - t0)
            del used
            recycle()
            t0 = time.perf_counter()
            dst = np.empty_like(src)
            np.copyto(dst, src)
            t_copy_new.append(time.perf_counter() - t0)
            del dst
            line = (f"  repeat {rep + 1}/{args.repeats}: extract {t_ours[-1]:.3f} s (out= {t_ours_out[-1]:.3f} s), "
                    f"copy {t_copy_new[-1]:.3f} s (into used buffer {t_copy_old[-1]:.3f} s)")
            if rep < args.cold_repeats:
                time.sleep(args.idle)
                t0 = time.perf_counter()
                stack = extract_cutouts(path, sky, size=side)
                t_ours_cold.append(time.perf_counter() - t0)
                del stack
                time.sleep(args.idle)
                t0 = time.perf_counter()
                dst = np.empty_like(src)
                np.copyto(dst, src)
                t_copy_cold.append(time.perf_counter() - t0)
                del dst
                line += f"; after {args.idle:g} s idle: extract {t_ours_cold[-1]:.3f} s, copy {t_copy_cold[-1]:.3f} s"
            if rep < 2:  # the slow baseline: twice is enough
                dt, cut = cutout2d_loop(path, wcs, sky[:baseline_n], side)
                t_base.append(dt)
                del cut
                line += f"; Cutout2D x{baseline_n} {t_base[-1]:.2f} s"
            print(line, flush=True)
        del src
        ratio_new = float(np.median(np.array(t_ours) / np.array(t_copy_new)))
        ratio_used = float(np.median(np.array(t_ours_out) / np.array(t_copy_old)))
        ratio_cold = float(np.median(np.array(t_ours_cold) / np.array(t_copy_cold))) if t_ours_cold else None

        # correctness spot check against Cutout2D
        check = extract_cutouts(path, sky[:200], size=side)
        _, ref = cutout2d_loop(path, wcs, sky[:200], side)
        identical = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(check.data, ref))
        del check, ref

        t_resample = None
        if args.resample_n:
            import astropy.units as u
            k = min(args.resample_n, n)
            t0 = time.perf_counter()
            extract_cutouts(path, sky[:k], size=side, resample_to=1.0 * u.arcsec)
            t_resample = (time.perf_counter() - t0, k)

        rate_base = baseline_n / np.median(t_base)
        med, best = stats(t_ours)
        med_out, best_out = stats(t_ours_out)
        copy_new, copy_new_best = stats(t_copy_new)
        copy_old, copy_old_best = stats(t_copy_old)
        results.update(rate_ours=n / med, rate_ours_out=n / med_out, rate_base=rate_base)

        memory = []
        sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]
        memory_n = args.memory_n or n
        for msize in sizes:
            mpath = path if msize == args.size else os.path.join(tmp, f"mosaic_{msize}.fits")
            if not os.path.exists(mpath):
                print(f"Writing a {msize} x {msize} mosaic for the memory check ...", flush=True)
                make_mosaic(mpath, msize, min(memory_n, 2000), args.mosaic)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-memory", mpath,
                                   str(memory_n), str(side)], capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f"memory child failed:\n{proc.stderr}")
            memory.append((msize, json.loads(proc.stdout.strip().splitlines()[-1])))

        mib, gib = 2 ** 20, 2 ** 30

        def row(label, text):
            print(f"{label:<40s}: {text}")

        print()
        print("=" * 100)
        print(f"extract_cutouts benchmark: {args.size} x {args.size} 4-D float32 mosaic "
              f"({os.path.getsize(path) / mib:.0f} MiB, memory-mapped), {n} cutouts of {side} x {side}")
        print(f"mosaic made with: {made_with}")
        print(f"output: {out_bytes / mib:.0f} MiB float32; timings: median (best) of {args.repeats} repeats; "
              f"CPU count {os.cpu_count()}")
        print("-" * 100)
        row(f"astropy Cutout2D loop ({baseline_n} cutouts)", f"{rate_base:8.0f} cutouts/s")
        print("extract_cutouts:")
        cases = [("out= preallocated (the work itself)", t_ours_out),
                 ("new output array, recycled memory", t_ours),
                 ("new output array, cold memory", t_ours_cold)]
        for label, times in cases:
            if times:
                m, b = stats(times)
                row(f"  {label}", f"{n / m:8.0f} cutouts/s   {m:.3f} s ({b:.3f} s)   "
                                  f"{n / m / rate_base:5.1f} x Cutout2D")
        print(f"np.copyto of the {out_bytes / mib:.0f} MiB output, and extract time / copy time "
              "(median over paired repeats):")
        cases = [("into a used buffer", t_copy_old, ratio_used, "extract(out=)"),
                 ("into a new buffer, recycled memory", t_copy_new, ratio_new, "extract(new)"),
                 ("into a new buffer, cold memory", t_copy_cold, ratio_cold, "extract(new, cold)")]
        for label, times, ratio, what in cases:
            if times:
                m, b = stats(times)
                row(f"  {label}", f"{m:8.3f} s ({b:.3f} s)  {out_bytes / m / gib:5.2f} GiB/s   "
                                  f"{what} / copy = {ratio:.2f}")
        print("  ('cold memory': after idling, this VM makes the first touch of freed memory slow, for the")
        print("   extraction and the copy alike; 'used buffer' measures the work itself)")
        row("identical to Cutout2D (200 cutouts)", str(identical))
        if t_resample:
            row(f"resample_to=1arcsec ({t_resample[1]} cutouts)",
                f"{t_resample[1] / t_resample[0]:8.0f} cutouts/s (reproject_interp per cutout)")
        if memory:
            print("-" * 100)
            print(f"peak memory (RSS high-water mark) of one extract_cutouts call on a path, {memory_n} cutouts, "
                  "in a child process:")
            for msize, m in memory:
                extra = (m["peak"] - m["before"] - m["output"]) / mib
                print(f"  mosaic {msize:6d}^2 ({m['mosaic_bytes'] / mib:5.0f} MiB): peak {m['peak'] / mib:6.0f} MiB"
                      f" = before the call {m['before'] / mib:4.0f} + output {m['output'] / mib:5.0f}"
                      f" + other {extra:4.0f} MiB   ({m['seconds']:.2f} s)")
            if not all(m["reset"] for _, m in memory):
                print("  (could not reset the peak-RSS counter: peaks include the start-up of the child)")
            if len(memory) > 1:
                (s0, m0), (s1, m1) = memory[0], memory[-1]
                print(f"  growth from {s0}^2 to {s1}^2: {(m1['peak'] - m0['peak']) / mib:+.0f} MiB of peak RSS "
                      f"for {(m1['mosaic_bytes'] - m0['mosaic_bytes']) / mib:+.0f} MiB more mosaic")
        print(f"benchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
              "(holds the timing buffers)")
        print("=" * 100)
    finally:
        if args.keep:
            print(f"mosaics kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
