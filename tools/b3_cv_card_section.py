"""Card section of the B3 sample-left-out validation, from the log of
``python tools/train_shipped_models.py B3 --cv --no-final --epochs 25 --seeds 0 1 2``.

Usage: ``python tools/b3_cv_card_section.py [LOG.jsonl]`` (default: the script's workdir log).
"""
import sys
import json, numpy as np
from radioassist.metrics import bootstrap_interval
runs = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/radioassist_shipped/B3_log.jsonl") if l.startswith("{") and '"kind"' in l]
latest = {(r["test"], r["seed"]): r for r in runs if r.get("kind") == "cross-sample"}
by = {}
for r in latest.values():
    by.setdefault(r["test"], []).append(r)
def prop_ci(rate, n, label, other):
    k = int(round(rate * n))
    truth = [label] * n
    pred = [label] * k + [other] * (n - k)
    return bootstrap_interval(truth, pred, labels="B3", metric="accuracy", n_resamples=2000)
lines = []
lines.append("## Sample left out of training: FR-DEEP + RGD -> MiraBest (several seeds)\n")
lines.append("Validation runs of the same recipe (25 epochs) trained on FR-DEEP, RGD (train and valid splits) and the "
             "synthetic compact negatives only: no MiraBest galaxy, no RGD test image, no FR-DEEP/RGD source within "
             "60 arcsec of a MiraBest galaxy, nothing from LoTSS. Command: "
             "`python tools/train_shipped_models.py B3 --cv --no-final --epochs 25 --seeds 0 1 2 --threads 2`. "
             "Per seed, with a 95% bootstrap interval (2,000 resamples of the images); no temperature applied.\n")
lines.append("| test sample (never trained on) | images | seed | score | 95% bootstrap | ECE |")
lines.append("|---|---:|---:|---|---|---:|")
summary = {}
for test, name, metric in (("mirabest", "MiraBest (all 616, every one an extended radio galaxy)", "YES rate"),
                           ("rgd-test", "RGD test split (Compact = NO, FRI/FRII/Bent = YES)", "macro F1"),
                           ("lotss-compact", "LoTSS DR1 unresolved sources (S_Code S, Maj <= 9 arcsec), "
                            "two mosaics (144 MHz)", "NO rate")):
    vals = []
    for r in sorted(by.get(test, []), key=lambda r: r["seed"]):
        if metric == "YES rate":
            v = r["recall"]["YES"]; ci = prop_ci(v, r["n"], "YES", "NO")
        elif metric == "NO rate":
            v = r["recall"]["NO"]; ci = prop_ci(v, r["n"], "NO", "YES")
        else:
            v = r["macro_f1"]; ci = r["macro_f1_ci"]
        vals.append(v)
        lines.append(f"| {name} | {r['n']} | {r['seed']} | {metric} {v:.3f} | [{ci[0]:.3f}, {ci[1]:.3f}] | {r['ece']:.3f} |")
    if vals:
        summary[test] = (metric, float(np.mean(vals)), float(np.min(vals)), float(np.max(vals)), len(vals))
lines.append("")
for test, (metric, m, lo, hi, k) in summary.items():
    lines.append(f"- {test}: {metric} {m:.3f} (mean of {k} seeds; min {lo:.3f}, max {hi:.3f})")
lines.append("")
lines.append("These models never saw MiraBest; the shipped model, trained on all of it except one sky region, "
             "is scored on that region above.\n")
print("\n".join(lines))
