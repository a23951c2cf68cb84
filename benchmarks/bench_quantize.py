"""Benchmark: would int8 quantisation of the shipped vision model be worth its changed answers?

ONNX Runtime's static quantisation (QDQ, int8 weights per channel, uint8 activations, min-max
calibration; AVX-512 VNNI kernels on this CPU) of the one-channel ONNX graph the ``vision`` backend runs,
against the float32 graph, on the real FIRST cutouts of ``../shared/data`` (FR-DEEP v2 and MiraBest,
rendered and prepared exactly as ``classify`` does: grey ``radio-llava`` rendering, then the backend's
``prepare``).  Calibration sets: simulated sources (``radioassist.simulate_sky``, what a shipped default
could use without any survey data) and, for comparison, the FR-DEEP cutouts themselves.

Prints the forward pass in ms per 512 images on one thread (median of ``--reps``), and for each
calibration the agreement of the int8 labels with float32, the largest and median probability change and
the macro F1 against the catalogue labels (float32 and int8).  The vision backend does not quantise: this
script is the record of why (issue #11).  Needs ``onnx`` and ``onnxruntime`` (``pip install
radioassist[onnx]``).

Usage::

    python benchmarks/bench_quantize.py [--reps 7] [--data ../shared/data]
"""
import argparse
import csv
import glob
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench_predict import DATA


def _parse():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7, help="timing repeats (default 7)")
    parser.add_argument("--data", default=str(DATA), help="the shared data folder (default ../shared/data)")
    return parser.parse_args()


def _stack(paths):
    from astropy.io import fits

    arrays = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TAB characters in FIRST COMMENT cards
        for path in paths:
            a = np.nan_to_num(np.squeeze(fits.getdata(path)).astype(np.float32))
            top, left = (a.shape[0] - 150) // 2, (a.shape[1] - 150) // 2
            arrays.append(a[top:top + 150, left:left + 150])
    return np.stack(arrays)


def main():
    args = _parse()
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from scipy.special import softmax

    import radioassist as ra
    from radioassist.backends import _onnx
    from radioassist.cutouts import extract_cutouts
    from radioassist.metrics import classification_report

    backend = ra.get_backend("vision")
    task = ra.get_task("B6")

    def pixels(stack):
        prepared = backend.prepare(ra.render(stack, preset="radio-llava", channels=1), task)
        _, groups = prepared.payload
        return np.concatenate([values for _, values, _ in groups])

    data = Path(args.data)
    mirabest = list(csv.DictReader(open(data / "mirabest_first" / "manifest.csv")))
    frdeep = list(csv.DictReader(open(data / "frdeep_v2" / "frdeep_v2_manifest.csv")))
    sets = {
        "MiraBest": (pixels(_stack([data / "mirabest_first" / "FITS" / r["file"] for r in mirabest])),
                     np.array([r["fr_class"] == "FR-II" for r in mirabest])),
        "FR-DEEP": (pixels(_stack([data / "frdeep_v2" / r["file_first"] for r in frdeep])),
                    np.array([r["fr_label_catalogue"] == "II" for r in frdeep])),
    }
    sky = ra.simulate_sky(shape=(3000, 3000), n_sources=600, seed=1)
    simulated = pixels(np.nan_to_num(extract_cutouts(sky.image, sky.catalog, size=150).data))
    print(f"real cutouts: MiraBest {len(sets['MiraBest'][0])}, FR-DEEP {len(sets['FR-DEEP'][0])}; "
          f"simulated calibration cutouts {len(simulated)}")

    # a prediction exports the model (and its one-channel graph) to the disk cache, if not there yet
    backend.predict(ra.render(np.eye(150, dtype=np.float32)[None], channels=1), task)
    grey = sorted(glob.glob(str(_onnx.cache_dir() / "*.grey.onnx")), key=lambda p: Path(p).stat().st_mtime)
    if not grey:
        raise SystemExit("no one-channel ONNX graph in the cache: is onnxruntime installed?")
    source = grey[-1]

    def session(path):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def probabilities(sess, x):
        return softmax(sess.run(None, {"pixel_values": x})[0], axis=1)

    def score(truth, probs):  # macro F1 from radioassist.metrics; class index 1: FR-II
        return classification_report(truth.astype(int), probs.argmax(axis=1), labels=task).macro_f1

    def forward_ms(sess, x):
        sess.run(None, {"pixel_values": x})
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            sess.run(None, {"pixel_values": x})
            times.append(time.perf_counter() - t0)
        return 1e3 * float(np.median(times))

    reference = session(source)
    batch = np.concatenate([sets["FR-DEEP"][0], sets["MiraBest"][0]])[:512]
    print(f"float32 forward pass: {forward_ms(reference, batch):.1f} ms per {len(batch)} images (1 thread)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, calibration in (("simulated", simulated), ("FR-DEEP", sets["FR-DEEP"][0])):
            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.chunks = iter([{"pixel_values": calibration[i:i + 128]}
                                        for i in range(0, len(calibration), 128)])

                def get_next(self):
                    return next(self.chunks, None)

            out = str(Path(tmp) / f"int8-{name}.onnx")
            quantize_static(source, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            quantised = session(out)
            print(f"int8, calibrated on {name} cutouts: forward pass {forward_ms(quantised, batch):.1f} ms "
                  f"per {len(batch)} images (1 thread)")
            for data_name, (x, truth) in sets.items():
                p32, p8 = probabilities(reference, x), probabilities(quantised, x)
                agree = float(np.mean(p32.argmax(1) == p8.argmax(1)))
                change = np.abs(p32 - p8)[:, 1]
                print(f"  {data_name:8s}: labels agree with float32 on {100 * agree:.1f}%, probability change "
                      f"max {change.max():.3f} median {np.median(change):.4f}; macro F1 against the catalogue "
                      f"float32 {score(truth, p32):.3f}, int8 {score(truth, p8):.3f}")


if __name__ == "__main__":
    main()
