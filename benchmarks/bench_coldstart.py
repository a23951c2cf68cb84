"""Benchmark: a cold ``radioassist classify`` of one FIRST cutout, and a folder of cutouts in one call.

Everything runs in fresh interpreters, as a user's shell loop does, in the same run (so the ratios see the
same machine load):

1. cold start: ``radioassist classify CUTOUT.fits --task B3 -o out.ecsv`` (no catalogue: the sources are
   found in the cutout), against a bare ``python -c "import astropy.io.fits, astropy.table, astropy.wcs"``;
   ``--repeats`` interleaved rounds, the ratio is the median of the rounds' ratios (goal: <= 3); each round
   also times the call with the same sources given as a catalogue (``--catalog``: no source finding);
2. a folder: ``--n`` cutouts (default 200) classified as one call
   (``radioassist classify a.fits b.fits ... --task B3 -o all.ecsv``) against a loop of ``--n`` calls, one
   cutout each; the ratio is loop / one call.  ``--loop-n`` times only that many calls of the loop and
   scales them to ``--n`` (the loop is long: ~1-2 s a call).

The model's ONNX export is made once (an untimed call) in a temporary cache folder
(``RADIOASSIST_CACHE_DIR``), as after the first use on a user's machine.  The cutouts are the FIRST cutouts
of ``../shared/data/mirabest_first/FITS`` (``--data`` to use another folder of FITS files).

Usage::

    python benchmarks/bench_coldstart.py [--n 200] [--loop-n N] [--repeats 5] [--data FOLDER]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from radioassist.cli import main; sys.argv[0] = 'radioassist'; main()"
BARE = "import astropy.io.fits, astropy.table, astropy.wcs"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mirabest_first" / "FITS"


def _parse():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="cutouts of the folder (default 200)")
    parser.add_argument("--loop-n", type=int, default=None,
                        help="calls of the loop actually timed, scaled to --n (default: all --n)")
    parser.add_argument("--repeats", type=int, default=5, help="cold-start pairs (default 5)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of FITS cutouts (default: MiraBest FIRST)")
    parser.add_argument("--task", default="B3", help="task (default B3)")
    return parser.parse_args()


def _seconds(args, env):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{done.stderr[-2000:]}")
    return elapsed


def main():
    args = _parse()
    files = sorted(args.data.glob("*.fits"))
    if len(files) < 2:
        sys.exit(f"no FITS cutouts in {args.data}: pass --data FOLDER")
    files = files[:args.n]
    with tempfile.TemporaryDirectory(prefix="bench_coldstart_") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "RADIOASSIST_CACHE_DIR": str(tmp / "cache")}

        def classify(images, out, *options):
            return _seconds([CLI, "-qq", "classify", *map(str, images), "--task", args.task, "-o", str(out),
                             "--overwrite", *options], env)

        warm = classify(files[:1], tmp / "warm.ecsv")  # exports the model to the cache (torch, once)
        print(f"first call ever (exports the model to ONNX, once per model and package version): {warm:.2f} s")

        triples = []
        for _ in range(args.repeats):
            cold = classify(files[:1], tmp / "one.ecsv")
            bare = _seconds([BARE], env)
            # the same sources given as a catalogue: no source finding (photutils) to import
            listed = classify(files[:1], tmp / "listed.ecsv", "--catalog", str(tmp / "warm.ecsv"))
            triples.append((cold, bare, listed))
        print(f"\n1. cold start on {files[0].name} ({args.repeats} rounds: classify, the bare import, classify "
              "with the sources given as a catalogue)")
        for cold, bare, listed in triples:
            print(f"   classify {cold:6.2f} s   bare astropy import {bare:5.2f} s   ratio x{cold / bare:.2f}   "
                  f"with a catalogue {listed:5.2f} s   ratio x{listed / bare:.2f}")
        ratio = statistics.median(cold / bare for cold, bare, _ in triples)
        print(f"   median ratio cold classify / bare astropy import: x{ratio:.2f} (goal <= 3: "
              f"{'met' if ratio <= 3 else 'NOT met'}); with a catalogue: "
              f"x{statistics.median(listed / bare for _, bare, listed in triples):.2f}")

        print(f"\n2. {len(files)} cutouts: one call against a loop of {len(files)} calls")
        one_call = classify(files, tmp / "all.ecsv")
        timed = files[:args.loop_n] if args.loop_n else files
        start = time.perf_counter()
        for i, f in enumerate(timed):
            classify([f], tmp / f"loop{i}.ecsv")
        loop = (time.perf_counter() - start) * len(files) / len(timed)
        scaled = f" ({len(timed)} calls timed, scaled)" if len(timed) < len(files) else ""
        print(f"   one call {one_call:.1f} s; loop {loop:.1f} s{scaled}; loop / one call: x{loop / one_call:.1f}")


if __name__ == "__main__":
    main()
