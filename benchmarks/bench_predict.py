"""Benchmark: the vision backend's per-image ``predict`` cost (preprocessing + forward pass) on the CPU.

On real FIRST cutouts (FR-DEEP v2 + MiraBest from ``../shared/data``, rendered with the pipeline's
``radio-llava`` preset as uint8 RGB 150 x 150, the input ``classify`` hands the backend) and the shipped
model of ``--task`` (B6: a small ResNet, 64 px input), measures in the same run, on 1 and 2 torch threads
(``--threads``), with ``predict`` calls of ``--batch`` images (run in the backend's batches of 64):

1. preprocessing: the implementation before issue #11 (kept below as ``plain_model_input``: torch medians
   of the whole batch) against `radioassist.preprocess.model_input` (histogram of the 256 grey levels,
   cache-sized chunks; the same tensor bit for bit, checked here);
2. the forward pass: eager torch on channels-last tensors (the plain path) against ONNX Runtime
   (``engine='onnxruntime'``), bfloat16 autocast and, with ``--compile``, ``torch.compile``;
3. ``predict`` end to end: the plain path (old preprocessing + eager torch) against
   ``VisionBackend(engine='torch')`` and ``VisionBackend(engine='onnxruntime')``;

and prints ms per image and the speed-up over the plain path, the one-off cost of the ONNX export, and the
agreement with float32 torch (labels, largest probability difference) on every FR-DEEP, MiraBest and RGD
(PNG) image (~2,700).  Timings are the median (and best) of ``--reps`` interleaved rounds: the machine's
load changes absolute figures, ratios measured in one run are what to quote.

Usage::

    python benchmarks/bench_predict.py [--task B6] [--batch 256] [--reps 15] [--threads 1 2] [--compile]
"""
import argparse
import contextlib
import glob
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _parse():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="B6", help="task with a shipped model (default B6)")
    parser.add_argument("--batch", type=int, default=256, help="images per predict call (default 256)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (default 1 2)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--data", default=str(DATA), help="the shared data folder (default ../shared/data)")
    return parser.parse_args()


# ------------------------------------------------------------------------------------------- the plain path
def plain_model_input(images, spec):
    """``radioassist.preprocess.model_input`` as it was before issue #11 (uint8 RGB images, CPU)."""
    import torch
    import torch.nn.functional as F

    raw = torch.from_numpy(np.ascontiguousarray(images))
    if raw.ndim == 3:  # grey
        x = raw.unsqueeze(1)
    elif torch.equal(raw[..., 0], raw[..., 1]) and torch.equal(raw[..., 0], raw[..., 2]):
        x = raw[..., 0].unsqueeze(1)
    else:
        x = raw.permute(0, 3, 1, 2)
    x = x.float() / 255.0
    full = 255.0 * float(spec["rescale"])
    if abs(full - 1.0) > 1e-9:
        x = x * full
    if spec.get("background_clip_sigma") is not None:
        n = x.shape[0]
        grey = x.mean(dim=1) if x.shape[1] > 1 else x[:, 0]
        flat = grey.flatten(1)
        sample = flat[:, :: max(1, flat.shape[1] // 4096)]
        median = sample.median(dim=1).values
        sigma = (sample - median[:, None]).abs().median(dim=1).values * 1.4826
        level = (median + float(spec["background_clip_sigma"]) * sigma).view(n, 1, 1, 1)
        x = (x - level).clamp_min_(0)
        peak = x.amax(dim=(1, 2, 3), keepdim=True)
        x = x.mul_(torch.where(peak > 0, full / peak.clamp_min(1e-12), torch.ones_like(peak)))
    size = spec["size"]
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode=spec["resample"], align_corners=False, antialias=True)
    if x.shape[1] != int(spec["num_channels"]):
        x = x.expand(-1, int(spec["num_channels"]), -1, -1)
    mean = torch.tensor(spec["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"]).view(1, -1, 1, 1)
    return (x - mean) / std


def plain_predict(loaded, images, batch_size=64):
    """The backend's predict loop before issue #11: old preprocessing, eager torch, channels-last."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = plain_model_input(images[start:start + batch_size], loaded.spec)
            x = x.contiguous(memory_format=torch.channels_last)
            logits = loaded.model(pixel_values=x).logits.float() / loaded.temperature
            out.append(torch.softmax(logits, dim=-1).numpy())
    return np.concatenate(out)


# ------------------------------------------------------------------------------------------------- data
def _first_cutouts(data):
    from astropy.io import fits

    from radioassist.render import render

    files = sorted(glob.glob(f"{data}/frdeep_v2/FIRST/*.fits"))
    files += sorted(glob.glob(f"{data}/mirabest_first/FITS/*.fits"))
    arrays = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TAB characters in FIRST COMMENT cards
        for name in files:
            a = np.squeeze(fits.getdata(name)).astype(np.float32)
            if a.shape == (150, 150):
                arrays.append(a)
    return render(np.stack(arrays), preset="radio-llava")


def _rgd_pngs(data):
    from PIL import Image

    files = sorted(glob.glob(f"{data}/first_rgd_png/galaxy_data/*/*/*.png"))
    return np.stack([np.asarray(Image.open(f).convert("L")) for f in files])


# ------------------------------------------------------------------------------------------------ timing
def _rounds(variants, reps):
    """Median seconds per call of each variant over ``reps`` interleaved rounds (after one warm-up call)."""
    for f in variants.values():
        f()
    times = {k: [] for k in variants}
    for _ in range(reps):
        for name, f in variants.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def _show(title, seconds, n, baseline):
    print(f"  {title}: ms/image, median (best) of the rounds, and the speed-up over the plain path")
    for name, (median, best) in seconds.items():
        print(f"    {name:44s} {1e3 * median / n:7.4f} ({1e3 * best / n:6.4f})  "
              f"x{seconds[baseline][0] / median:5.2f} (x{seconds[baseline][1] / best:4.2f})")


def _block_sizes(session, grey, reps):
    """The cost of one forward pass of a block of images (the fixed shape of every pass: `_onnx.BLOCK`)."""
    from radioassist.backends import _onnx

    print(f"  block size (images of every forward pass; the backend's is {_onnx.BLOCK}): one block "
          "(= one source's forward pass), and ms/image")
    for block in (1, 8, 16, 32, 64, 128):
        if block > len(grey):
            break
        x = np.ascontiguousarray(grey[:block])
        (median, best), = _rounds({block: lambda x=x: session.run(None, {"pixel_values": x})}, reps).values()
        print(f"    {block:4d} images: {1e3 * median:7.2f} ms a block ({1e3 * best:6.2f}), "
              f"{1e3 * median / block:6.3f} ms/image")


def main():
    args = _parse()
    import torch

    import radioassist
    from radioassist.backends import _onnx
    from radioassist.backends.vision import VisionBackend
    from radioassist.preprocess import model_input

    first = _first_cutouts(args.data)
    rgd = _rgd_pngs(args.data)
    reference = VisionBackend(engine="torch")
    loaded = reference.load(args.task)
    spec, model = loaded.spec, loaded.model
    print(f"radioassist {radioassist.__version__}, torch {torch.__version__}, model {loaded.source} "
          f"({type(model).__name__}, input {spec['size']}), {len(first)} FIRST cutouts 150x150 + "
          f"{len(rgd)} RGD "
          f"PNGs 300x300, {args.batch} images per predict call (backend batches of {reference.batch_size}), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    batch = first[: args.batch]
    n = len(batch)
    step = reference.batch_size

    # the same tensor as the plain path (bit for bit on x86-64)
    diff = 0.0
    for images in (first, rgd):
        for start in range(0, len(images), 256):
            part = images[start:start + 256]
            diff = max(diff, float((model_input(part, spec) - plain_model_input(part, spec)).abs().max()))
    assert diff <= 1e-6, f"preprocessing differs from the plain path by {diff}"
    print(f"preprocessing: max |difference| from the plain path on all images = {diff:g}")

    engines = {"torch": VisionBackend(engine="torch"), "onnxruntime": None}
    if _onnx.available():
        # a cache folder of its own, not the user's
        os.environ["RADIOASSIST_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_predict_")
        setup = {}
        for name in ("export", "from the disk cache"):
            engines["onnxruntime"] = VisionBackend(engine="onnxruntime")
            ort_loaded = engines["onnxruntime"].load(args.task)
            t0 = time.perf_counter()
            engines["onnxruntime"].predict(batch, args.task)  # export or read, session, check against torch
            t1 = time.perf_counter()
            engines["onnxruntime"].predict(batch, args.task)
            setup[name] = (t1 - t0) - (time.perf_counter() - t1)  # the first call less a warm one
        print(f"onnxruntime: set-up of the first call (graph, session, check against torch): "
              f"{setup['export']:.2f}s exporting, {setup['from the disk cache']:.2f}s with the export cached "
              "on disk (once per model and process)")
        shutil.rmtree(os.environ.pop("RADIOASSIST_CACHE_DIR"), ignore_errors=True)
    else:
        print("onnxruntime: not installed (pip install 'radioassist[onnx]'): skipped")

    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s):")
        # in the backend's batches (batch_size, 64 images), as predict runs them
        parts = [batch[i:i + step] for i in range(0, n, step)]
        pv_plain = [plain_model_input(p, spec).contiguous(memory_format=torch.channels_last) for p in parts]
        pre = _rounds({
            "plain preprocessing (before #11)": lambda: [plain_model_input(p, spec).contiguous(
                memory_format=torch.channels_last) for p in parts],
            "model_input (channels-last)": lambda: [model_input(p, spec, memory_format=torch.channels_last)
                                                    for p in parts],
        }, args.reps)
        _show("preprocessing", pre, n, "plain preprocessing (before #11)")

        def eager(ctx=contextlib.nullcontext):
            with torch.inference_mode(), ctx():
                return [model(pixel_values=pv).logits for pv in pv_plain]

        forward = {"eager torch, channels-last, fp32 (plain)": eager,
                   "eager torch, bf16 autocast": lambda: eager(lambda: torch.autocast("cpu", torch.bfloat16))}
        if engines["onnxruntime"] is not None:
            session = _onnx._session(ort_loaded._onnx_state.proto, threads)
            contiguous = [pv.contiguous().numpy() for pv in pv_plain]
            forward["onnxruntime fp32"] = lambda: [session.run(None, {"pixel_values": pv})
                                                   for pv in contiguous]
            grey_session = _onnx._session(ort_loaded._onnx_state.grey_proto, threads)
            grey = [np.ascontiguousarray(pv[:, :1]) for pv in contiguous]
            forward["onnxruntime fp32, one-channel, padded channels"] = (
                lambda: [grey_session.run(None, {"pixel_values": pv}) for pv in grey])
            matmul = _onnx._matmul_graph(ort_loaded._onnx_state)
            if matmul is not None:  # what predict runs on grey images (in blocks of _onnx.BLOCK)
                matmul_session = _onnx._session(matmul, threads)
                forward["onnxruntime fp32, one-channel, padded, small convolutions as matmul"] = (
                    lambda: [matmul_session.run(None, {"pixel_values": pv}) for pv in grey])
                _block_sizes(matmul_session, np.concatenate(grey), args.reps)
        if args.compile:
            t0 = time.perf_counter()
            compiled = torch.compile(model)
            with torch.inference_mode():
                compiled(pixel_values=pv_plain[0])
            print(f"  torch.compile: {time.perf_counter() - t0:.1f}s to compile")

            def run_compiled():
                with torch.inference_mode():
                    return [compiled(pixel_values=pv).logits for pv in pv_plain]

            forward["torch.compile fp32"] = run_compiled
        _show("forward pass", _rounds(forward, args.reps), n, "eager torch, channels-last, fp32 (plain)")

        whole = {"plain (before #11)": lambda: plain_predict(loaded, batch)}
        for name, backend in engines.items():
            if backend is not None:
                whole[f"VisionBackend(engine='{name}').predict"] = (
                    lambda backend=backend: backend.predict(batch, args.task))
        _show("predict (preprocessing + forward + softmax)", _rounds(whole, args.reps), n,
              "plain (before #11)")

    # agreement with float32 torch on every image
    torch.set_num_threads(max(args.threads))
    print(f"\nagreement with float32 torch on {len(first) + len(rgd)} real images "
          "(FR-DEEP + MiraBest + RGD):")
    base = np.concatenate([plain_predict(loaded, first), plain_predict(loaded, rgd)])

    def agreement(name, probs):
        diff = np.abs(probs - base).max(axis=1)
        print(f"  {name:34s} labels agree {100 * np.mean(probs.argmax(1) == base.argmax(1)):6.2f}%, "
              f"probability difference max {diff.max():.2g}, 99th percentile {np.quantile(diff, 0.99):.2g}")

    agreement("model_input + eager torch", np.concatenate(
        [engines["torch"].predict(first, args.task).probabilities,
         engines["torch"].predict(rgd, args.task).probabilities]))
    if engines["onnxruntime"] is not None:
        agreement("onnxruntime fp32", np.concatenate(
            [engines["onnxruntime"].predict(first, args.task).probabilities,
             engines["onnxruntime"].predict(rgd, args.task).probabilities]))

    def bf16(images):
        out = []
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
            for start in range(0, len(images), 256):
                x = model_input(images[start:start + 256], spec, memory_format=torch.channels_last)
                logits = model(pixel_values=x).logits.float() / loaded.temperature
                out.append(torch.softmax(logits, -1).numpy())
        return np.concatenate(out)

    agreement("eager torch, bf16 autocast", np.concatenate([bf16(first), bf16(rgd)]))


if __name__ == "__main__":
    main()
