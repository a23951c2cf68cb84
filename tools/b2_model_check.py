"""Does a model trained on RGZ labels, with the source structure as input, generalise better than the rule?

For every RGZ DR1 source inside the FIRST images of ../shared/data (``tools/measure_structure.py``), the
structure of its radio source is measured at three settings (RGZ's contour levels: the rule's counts; PyBDSF's
3 / 5 sigma islands with deblended peaks; 4 sigma islands) plus flux, extent, peak SNR and the islands around.
A multinomial logistic regression and a gradient-boosted tree ensemble (scikit-learn) are trained on these
features with the RGZ label and scored leaving one RA band out at a time (sky-region validation: every source
is predicted by a model that never saw its band), with several seeds for the ensemble; the rule is scored on
the same sources. Bootstrap intervals as everywhere (``radioassist.metrics.bootstrap_interval``).

Usage::

    nice python tools/b2_model_check.py --data ../shared/data [--out b2_model_check.json]
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure_structure as ms  # noqa: E402

from radioassist._structure_classify import B2_STRUCTURE  # noqa: E402
from radioassist.image import load_image  # noqa: E402
from radioassist.metrics import bootstrap_interval, classification_report  # noqa: E402
from radioassist.structure import b2_label, find_structure  # noqa: E402

SETTINGS = {
    "rgz": dict(B2_STRUCTURE),
    "pybdsf": {"thresh_isl": 3.0, "thresh_pix": 5.0, "peak_method": "deblend"},
    "four": {"thresh_isl": 4.0, "thresh_pix": 5.0, "peak_method": "contours"},
}


def features(rgz):
    """Feature matrix (one row per RGZ source) and the names of its columns."""
    rows = [[] for _ in range(len(rgz))]
    names = []
    for key, params in SETTINGS.items():
        names += [f"{key}_c", f"{key}_p", f"{key}_logflux", f"{key}_extent_beams", f"{key}_logsnr",
                  f"{key}_n_near"]
        cache = {}
        for k in np.argsort(np.asarray(rgz["image"]), kind="stable"):  # each image once
            row = rgz[k]
            path = row["image"]
            if path not in cache:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cache = {path: (find_structure(path, **params), load_image(path))}
            s, img = cache[path]
            x, y = img.wcs.world_to_pixel(SkyCoord(row["ra"], row["dec"], unit="deg"))
            j = s.source_at([[float(x), float(y)]], radius=3 * s.parameters["beam_fwhm_pix"][0])[0]
            if j < 0:
                rows[k] += [0, 0, -5.0, 0.0, 0.0, 0]
                continue
            src = s.sources[j]
            d = np.hypot(np.asarray(s.islands["x"]) - src["x"], np.asarray(s.islands["y"]) - src["y"])
            rows[k] += [int(src["n_components"]), int(src["n_peaks"]), float(np.log10(max(src["flux"], 1e-5))),
                        float(src["extent"]) / 5.4, float(np.log10(max(src["snr"], 1.0))),
                        int(np.sum(d * 1.8 < 90)) - int(src["n_components"])]
    return np.asarray(rows, dtype=float), names


def leave_band_out(make, X, y, bands):
    pred = np.empty(len(y), dtype=object)
    for b in np.unique(bands):
        test = bands == b
        model = make()
        model.fit(X[~test], y[~test])
        pred[test] = model.predict(X[test])
    return pred


def score(truth, pred):
    rep = classification_report(list(truth), list(pred), labels=ms.B2_LABELS)
    ci = bootstrap_interval(list(truth), list(pred), labels=ms.B2_LABELS, metric=["accuracy", "macro_f1"])
    return {"accuracy": rep.accuracy, "accuracy_ci": ci["accuracy"], "macro_f1": rep.macro_f1,
            "macro_f1_ci": ci["macro_f1"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images = ms.first_images(args.data)
    rgz = ms.rgz_in_images(args.data, images)
    X, names = features(rgz)
    y = np.asarray(rgz["label"], dtype=object)
    bands = ms.ra_band(rgz["ra"])
    rule = np.array([str(b2_label(c, p)) if c > 0 else None for c, p in zip(X[:, 0], X[:, 1])], dtype=object)
    result = {"n": len(y), "bands": {int(b): int(np.sum(bands == b)) for b in np.unique(bands)},
              "rule": score(y, rule)}
    logistic = leave_band_out(lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)),
                              X, y, bands)
    result["logistic"] = score(y, logistic)
    result["boosting"] = []
    for seed in range(args.seeds):
        pred = leave_band_out(lambda: HistGradientBoostingClassifier(max_depth=3, max_iter=100, learning_rate=0.05,
                                                                     random_state=seed), X, y, bands)
        result["boosting"].append(score(y, pred))
    text = json.dumps(result, indent=1, default=float)
    if args.out:
        Path(args.out).write_text(text)
    for key in ("rule", "logistic"):
        r = result[key]
        print(f"{key:9s} acc {r['accuracy']:.3f} {r['accuracy_ci']}  macro-F1 {r['macro_f1']:.3f} {r['macro_f1_ci']}")
    for seed, r in enumerate(result["boosting"]):
        print(f"boost s{seed}  acc {r['accuracy']:.3f} {r['accuracy_ci']}  macro-F1 {r['macro_f1']:.3f} "
              f"{r['macro_f1_ci']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
