"""Micro-benchmark: ``radioassist.render`` (radio-llava preset) against the per-image upstream transform.

In one run, on a stack of ``--n`` float32 cutouts of ``--cutout`` pixels (noise, a few NaN edges):

* the per-image loop of the radio-llava reference code (non-finite -> 0, min-max to 0..255, uint8, three
  channels), one image at a time: the baseline;
* ``render(stack)`` followed by ``blank_mask(stack)`` (two passes over the data);
* ``render(stack, out=buffer, return_blank=True)``: one pass, into a reused output buffer;
* ``render(stack, return_blank=True, channels=1)``: the grey image alone (what ``classify`` renders for
  a backend's ``prepare``).

Every variant is timed ``--repeats`` times (interleaved), the best is kept; the outputs are checked to be
identical.  Usage: python benchmarks/bench_render.py [--n 1024] [--cutout 150] [--repeats 7]
"""
import argparse
import time

import numpy as np


def upstream(image):
    """The radio-llava reference transform of one image (as in tests/test_render.py)."""
    data = np.array(image, dtype=image.dtype, copy=True)
    data[~np.isfinite(data)] = 0
    lo, hi = data.min(), data.max()
    if hi == lo:
        return np.zeros(data.shape + (3,), dtype=np.uint8), True
    grey = ((data - lo) / (hi - lo) * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2), False


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--cutout", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from radioassist.render import blank_mask, render

    rng = np.random.default_rng(0)
    stack = rng.normal(size=(args.n, args.cutout, args.cutout)).astype(np.float32)
    stack[::7, :5] = np.nan
    stack[1] = np.nan
    buffer = np.empty(stack.shape + (3,), dtype=np.uint8)

    def loop():
        return [upstream(img) for img in stack]

    variants = {
        "per-image upstream loop": loop,
        "render() + blank_mask()": lambda: (render(stack), blank_mask(stack)),
        "render(out=, return_blank=True)": lambda: render(stack, out=buffer, return_blank=True),
        "render(return_blank=True, channels=1)": lambda: render(stack, return_blank=True, channels=1),
    }
    best = dict.fromkeys(variants, np.inf)
    for _ in range(args.repeats):
        for name, func in variants.items():
            t0 = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = loop()
    rgb, blank = render(stack, out=buffer, return_blank=True)
    assert np.array_equal(rgb, np.stack([r for r, _ in ref])) and np.array_equal(blank, [b for _, b in ref])
    grey, grey_blank = render(stack, return_blank=True, channels=1)
    assert np.array_equal(grey, rgb[..., 0]) and np.array_equal(grey_blank, blank)
    base = best["per-image upstream loop"]
    print(f"{args.n} cutouts of {args.cutout}x{args.cutout} float32, radio-llava preset (outputs identical):")
    for name, seconds in best.items():
        print(f"  {name:38s} {1e3 * seconds / args.n:7.3f} ms/image  {args.n / seconds:9.0f} images/s  "
              f"x{base / seconds:5.2f} vs loop")


if __name__ == "__main__":
    main()
