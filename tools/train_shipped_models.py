"""Train, cross-validate and calibrate the classifiers shipped in ``radioassist/models``.

Reproduces the shipped B6 (FR-I / FR-II) and B3 (extended radio galaxy?) models from the labelled FIRST
data in ``../shared/data`` (MiraBest and FR-DEEP v2 FITS cutouts, the Radio Galaxy Dataset PNGs):

    python tools/train_shipped_models.py B6 --cv      # region and cross-sample validation, then the final model
    python tools/train_shipped_models.py B3 --cv

Validation never uses a random image split: MiraBest is cut into sky regions (right-ascension
bands); for each region a model is trained on everything else (FR-DEEP and RGD sources within 60
arcsec of a MiraBest source of that region removed) and scored on it.  Cross-sample runs train on
one sample and test on another (FR-DEEP + RGD -> MiraBest, MiraBest -> FR-DEEP).  For B3 the LoTSS
DR1 unresolved sources (S_Code S, Maj <= 9 arcsec) inside the two mosaics of ``lotss_dr1_hetdex`` are a check that no
model ever trains on (nothing is cut from those mosaics).  The temperature is fitted on the pooled
out-of-region logits; the final model is trained on all the data with the same recipe and epochs.
"""

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shipped_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAMES = {"B6": "first-frdeep-b6", "B3": "first-rgd-b3"}
SAMPLE_NAMES = {
    "mirabest": "MiraBest (Miraghaei & Best 2017; Porter & Scaife 2023)",
    "frdeep": "FR-DEEP v2 (Tang, Scaife & Leahy 2019)",
    "rgd": "Radio Galaxy Dataset (Griese et al. 2023)",
    "synthetic": "compact negatives made from real FIRST noise",
}
RECIPE = dict(architecture="resnet-mid", image_size=64, batch_size=64, learning_rate=2e-3, weight_decay=0.05)


# ------------------------------------------------------------------------------------------- data
def _sep_arcsec(ra1, dec1, ra2, dec2):
    """Matrix of angular separations (arcsec) between two position lists."""
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    c = np.sin(d1[:, None]) * np.sin(d2[None]) + np.cos(d1[:, None]) * np.cos(d2[None]) * np.cos(
        r1[:, None] - r2[None]
    )
    return np.degrees(np.arccos(np.clip(c, -1, 1))) * 3600


def _correlated_noise(rng, shape, fwhm_pix):
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.normal(size=shape), fwhm_pix / 2.3548)
    return noise / noise.std()


def _gaussian(shape, x0, y0, fwhm_major, fwhm_minor, pa):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    sa, sb = fwhm_major / 2.3548, fwhm_minor / 2.3548
    c, s = np.cos(pa), np.sin(pa)
    u = (xx - x0) * c + (yy - y0) * s
    v = -(xx - x0) * s + (yy - y0) * c
    return np.exp(-0.5 * ((u / sa) ** 2 + (v / sb) ** 2))


def _partial_coverage(rng, image, min_distance=20, max_distance=70):
    """Blank (0, as a NaN renders) everything beyond a random straight edge: a cutout at a mosaic edge."""
    n = image.shape[0]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    angle = rng.uniform(0, 2 * np.pi)
    distance = rng.uniform(min_distance, max_distance)
    out = image.copy()
    out[xx * np.cos(angle) + yy * np.sin(angle) > distance] = 0.0
    if rng.random() < 0.3:  # a corner: two edges
        angle2 = angle + np.pi / 2 * rng.choice([-1, 1])
        out[xx * np.cos(angle2) + yy * np.sin(angle2) > rng.uniform(min_distance, max_distance)] = 0.0
    return out


def make_compact_negatives(all_data, n, seed, *, beam_pix=3.0):
    """Compact sources in real FIRST fields: a MiraBest cutout with its central galaxy replaced by
    correlated noise at the image's rms, a beam-sized (1-1.8 x beam) elliptical Gaussian injected at the
    centre (peak 5-2000 sigma), the real unrelated neighbours kept; 25 percent at a mosaic edge."""
    rng = np.random.default_rng(seed)
    mb = np.flatnonzero(all_data["sample"] == "mirabest")
    sizes = np.array([float(Path(p).stem.split("_")[-1]) for p in all_data["path"][mb]])
    radius = sizes / 2 / 1.8 + 10
    usable = mb[radius < 55]
    radius = radius[radius < 55]
    out = np.empty((n, 150, 150), dtype=np.float32)
    yy, xx = np.mgrid[:150, :150] - 74.5
    rr = np.hypot(xx, yy)
    for i in range(n):
        j = rng.integers(len(usable))
        field = all_data["fits"][usable[j]].astype(float)
        field = np.rot90(field, rng.integers(4))
        if rng.random() < 0.5:
            field = field[:, ::-1]
        med = np.median(field)
        sigma = 1.4826 * np.median(np.abs(field - med))
        if not sigma > 0:
            sigma = 1e-4
        inside = rr < radius[j]
        noise = med + sigma * _correlated_noise(rng, field.shape, beam_pix * rng.uniform(1.0, 1.3))
        field = np.where(inside, noise, field)
        major = beam_pix * rng.uniform(1.0, 1.8)
        minor = beam_pix * rng.uniform(1.0, major / beam_pix)
        peak = sigma * 10 ** rng.uniform(np.log10(5), np.log10(2000))
        off = rng.uniform(-1.5, 1.5, 2)
        field = field + peak * _gaussian(field.shape, 74.5 + off[0], 74.5 + off[1], major, minor, rng.uniform(0, np.pi))
        if rng.random() < 0.3:  # a compact neighbour close by (a double-looking pair is still not a radio galaxy)
            r, a = rng.uniform(12, 60), rng.uniform(0, 2 * np.pi)
            field = field + peak * rng.uniform(0.05, 1.0) * _gaussian(
                field.shape, 74.5 + r * np.cos(a), 74.5 + r * np.sin(a), beam_pix * 1.1, beam_pix, 0
            )
        if rng.random() < 0.35:  # at a mosaic edge, the edge as close as 5 pixels to the source
            field = _partial_coverage(rng, field, 5, 70)
        out[i] = field
    return out


def edge_copies(all_data, index, seed):
    """Copies of some extended galaxies at a mosaic edge (so that a blank margin does not mean NO): the edge
    5 pixels beyond the galaxy's catalogued extent (MiraBest) or 45-75 pixels from the centre (FR-DEEP)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in index:
        low = 45.0
        if all_data["sample"][i] == "mirabest":
            low = float(np.clip(float(Path(str(all_data["path"][i])).stem.split("_")[-1]) / 2 / 1.8 + 5, 8, 70))
        out.append(_partial_coverage(rng, all_data["fits"][i], low, 75))
    return np.stack(out).astype(np.float32)


def render(arrays):
    from radioassist.preprocess import render_cutouts

    return render_cutouts(arrays, preset="radio-llava")


def build(task, all_data, *, seed=0, n_negatives=1000):
    """Rendered images, targets, soft-label confidences, sample names, RA, Dec of the training pool."""
    sample, label, conf = all_data["sample"], all_data["label"], all_data["confident"].astype(float)
    images = render(all_data["fits"])
    if task == "B6":
        keep = np.isin(label, ["FR-I", "FR-II", "FRI", "FRII", "Bent"])
        targets = np.where(np.isin(label, ["FR-I", "FRI", "Bent"]), 0, 1)
        confidence = np.where(conf > 0, 1.0, 0.75)
        return dict(
            images=images[keep], targets=targets[keep], confidence=confidence[keep], sample=sample[keep],
            ra=all_data["ra"][keep], dec=all_data["dec"][keep], confident=conf[keep] > 0,
        )
    # B3: YES = every radio galaxy (RGD FRI/FRII/Bent: one in three, to keep training short),
    # NO = RGD Compact + compact sources made from real FIRST fields
    targets = np.where(label == "Compact", 1, 0)
    confidence = np.ones(len(label))
    rgd_positive = np.flatnonzero((sample == "rgd") & (label != "Compact"))
    drop = np.zeros(len(label), bool)
    drop[rgd_positive[np.random.default_rng(seed).permutation(len(rgd_positive))[: 2 * len(rgd_positive) // 3]]] = True
    negatives = make_compact_negatives(all_data, n_negatives, seed)
    ext = np.flatnonzero(np.isin(sample, ["mirabest", "frdeep"]))
    edges_idx = np.random.default_rng(seed).choice(ext, 300, replace=False)
    edge_images = edge_copies(all_data, edges_idx, seed)
    n_extra = len(negatives) + len(edge_images)
    keep = ~drop
    return dict(
        images=np.concatenate([images[keep], render(negatives), render(edge_images)]),
        targets=np.concatenate([targets[keep], np.ones(len(negatives), int), np.zeros(len(edge_images), int)]),
        confidence=np.concatenate([confidence[keep], np.ones(n_extra)]),
        sample=np.concatenate([sample[keep], ["synthetic"] * len(negatives), sample[edges_idx]]),
        ra=np.concatenate([all_data["ra"][keep], np.full(len(negatives), np.nan), all_data["ra"][edges_idx]]),
        dec=np.concatenate([all_data["dec"][keep], np.full(len(negatives), np.nan), all_data["dec"][edges_idx]]),
        confident=np.concatenate([conf[keep] > 0, np.ones(n_extra, bool)]),
        split=np.concatenate([np.where(sample == "rgd", all_data["extra"], "")[keep], [""] * n_extra]),
        is_edge_copy=np.concatenate([np.zeros(int(keep.sum()), bool), np.zeros(len(negatives), bool),
                                     np.ones(len(edge_images), bool)]),
    )


def region_folds(pool, k=3):
    """Fold number (0..k-1) of each MiraBest galaxy: right-ascension bands holding equal numbers; -1 otherwise."""
    folds = np.full(len(pool["sample"]), -1)
    mb = np.flatnonzero(pool["sample"] == "mirabest")
    ra = pool["ra"][mb]
    edges = np.quantile(ra, np.linspace(0, 1, k + 1))
    folds[mb] = np.clip(np.searchsorted(edges, ra, side="right") - 1, 0, k - 1)
    return folds, edges


def labelled(task, pool, index, splits):
    from radioassist.training import LabelledImages
    from radioassist.tasks import get_task

    return LabelledImages(
        pool["images"][index], pool["targets"][index], np.asarray(splits, dtype="<U5"),
        [f"{s}:{i}" for s, i in zip(pool["sample"][index], index)], get_task(task),
        source="see the model card", pixel_scale_arcsec=1.8, beam_arcsec=5.4, cutout_size_pix=150,
        confidence=pool["confidence"][index],
    )


# ------------------------------------------------------------------------------------------- runs
def train(task, pool, train_idx, out, *, seed, epochs, test_idx=(), temperature=None, **kwargs):
    from radioassist.training import train_vision_classifier

    index = np.concatenate([train_idx, np.asarray(test_idx, int)])
    splits = ["train"] * len(train_idx) + ["test"] * len(test_idx)
    return train_vision_classifier(
        labelled(task, pool, index, splits), task=task, output_dir=out, epochs=epochs, seed=seed,
        val_fraction=0, early_stopping=False, robust_validation=False, temperature=temperature,
        progress=False, overwrite=True, **RECIPE, **kwargs,
    )


def _trained(task, pool, tr, out, *, seed, epochs):
    """Train a validation model unless an earlier run of this script left it (same run name and epochs)."""
    done = Path(out) / "config.json"
    if done.is_file() and json.loads(done.read_text())["radioassist"].get("recipe_epochs") == epochs:
        return
    train(task, pool, tr, out, seed=seed, epochs=epochs)
    from radioassist.training.vision import _update_config

    _update_config(Path(out), {"recipe_epochs": epochs})


def _logits(model, images, task):
    from radioassist.backends.vision import VisionBackend

    backend = VisionBackend(model=model, batch_size=256)
    rgb = np.repeat(images[..., None], 3, -1)
    probs = backend.predict(rgb, task).probabilities
    return np.log(np.clip(probs, 1e-30, None)) * backend.load(task).temperature


def lotss_check_images(data_dir, *, pixel_scale=1.8, size=150):
    """Cutouts of the LoTSS unresolved check sources (S_Code S, Maj <= 9 arcsec), resampled to 1.8"/px, rendered."""
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from scipy.ndimage import zoom

    table = _shipped_data.lotss_check_sources(data_dir)
    out = []
    for row in table:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.squeeze(fits.getdata(Path(data_dir) / "lotss_dr1_hetdex" / row["image"])).astype(float)
        native = int(round(size * pixel_scale / 1.5))
        cut = Cutout2D(data, (row["x_pix0"], row["y_pix0"]), native, mode="partial", fill_value=np.nan).data
        mask = np.isfinite(cut).astype(float)
        factor = size / native
        resampled = zoom(np.nan_to_num(cut), factor, order=1)[:size, :size]
        covered = zoom(mask, factor, order=1)[:size, :size]
        resampled[covered < 0.5] = np.nan
        out.append(resampled)
    return render(np.stack(out)), table


def scores(task, targets, logits, confident=None, temperature=1.0):
    from radioassist.metrics import classification_report, expected_calibration_error

    labels = ["FR-I", "FR-II"] if task == "B6" else ["YES", "NO"]
    z = logits / temperature
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    sel = np.ones(len(targets), bool) if confident is None else confident
    rep = classification_report(targets[sel], p[sel].argmax(1), labels=labels)
    from radioassist.metrics import bootstrap_interval

    ci = bootstrap_interval(targets[sel], p[sel].argmax(1), labels=labels, n_resamples=1000) \
        if len(np.unique(targets[sel])) > 1 else (float("nan"), float("nan"))
    out = dict(n=int(sel.sum()), macro_f1=rep.macro_f1, macro_f1_ci=list(ci), accuracy=rep.accuracy,
               recall={label: float(r) for label, r in zip(labels, rep.recall)},
               ece=expected_calibration_error(p[sel], targets[sel]),
               mean_conf=float(p[sel].max(1).mean()))
    if confident is not None and (~confident).any():
        out["mean_conf_uncertain"] = float(p[~confident].max(1).mean())
    return out


def cross_validate_b3(pool, *, seeds, epochs, workdir, data_dir, log, all_data):
    """B3: train on FR-DEEP + RGD train/valid + compact negatives, test on MiraBest (never seen),
    the RGD test split and the LoTSS DR1 compact sources (another survey, 144 MHz)."""
    check_images, _ = lotss_check_images(data_dir)
    mb = (pool["sample"] == "mirabest") & ~pool["is_edge_copy"]
    rgd_test = pool["split"] == "test"
    near_mb = np.zeros(len(mb), bool)
    ok = np.isfinite(pool["ra"])
    near_mb[ok] = _sep_arcsec(pool["ra"][ok], pool["dec"][ok], pool["ra"][mb], pool["dec"][mb]).min(1) < 60
    near_mb &= ~mb
    is_edge_mb = pool["is_edge_copy"] & (pool["sample"] == "mirabest")  # edge copies of MiraBest galaxies
    results = {"runs": [], "oof": {}, "check_logits": []}
    for seed in seeds:
        tr = np.flatnonzero(~mb & ~rgd_test & ~near_mb & ~is_edge_mb)
        out = Path(workdir) / f"B3_cv_seed{seed}"
        t0 = time.time()
        _trained("B3", pool, tr, out, seed=seed, epochs=epochs)
        for name, index in (("mirabest", np.flatnonzero(mb)), ("rgd-test", np.flatnonzero(rgd_test))):
            z = _logits(out, pool["images"][index], "B3")
            s = scores("B3", pool["targets"][index], z)
            s.update(kind="cross-sample", train="frdeep+rgd+synthetic", test=name, seed=seed, n_train=len(tr),
                     seconds=round(time.time() - t0))
            results["oof"].setdefault(str(seed), []).extend(z.tolist())
            if seed == seeds[0]:
                results.setdefault("calib_targets", []).extend(pool["targets"][index].tolist())
            results["runs"].append(s)
            log(s)
        zc = _logits(out, check_images, "B3")
        results["check_logits"].append(zc.tolist())
        s = scores("B3", np.ones(len(zc), int), zc)
        s.update(kind="cross-sample", train="frdeep+rgd+synthetic (FIRST)", test="lotss-compact", seed=seed,
                 n_train=len(tr))
        results["runs"].append(s)
        log(s)
    return results


def cross_validate(task, pool, *, seeds, epochs, workdir, data_dir, log, cross_seeds=None, seed_per_fold=False):
    """Region folds on MiraBest and cross-sample runs; returns per-run scores and pooled out-of-fold logits."""
    folds, edges = region_folds(pool)
    labelled_ext = np.isin(pool["sample"], ["frdeep", "rgd"])
    results = {"region_edges_ra": edges.tolist(), "runs": []}
    oof = {seed: np.full((len(pool["targets"]), 2), np.nan) for seed in seeds}
    check_images, _ = (lotss_check_images(data_dir) if task == "B3" else (None, None))
    check_logits = []
    for seed in seeds:
        for k in range(folds.max() + 1):
            if seed_per_fold and seed != seeds[k % len(seeds)]:
                continue
            test = np.flatnonzero(folds == k)
            near = _sep_arcsec(pool["ra"], pool["dec"], pool["ra"][test], pool["dec"][test]).min(1) < 60
            near &= labelled_ext
            if task == "B3":
                near |= (pool["sample"] == "mirabest") & (folds == k)  # edge copies of test galaxies
                near[test] = False
            tr = np.flatnonzero((folds != k) & ~near & ~np.isin(np.arange(len(folds)), test))
            t0 = time.time()
            out = Path(workdir) / f"{task}_region{k}_seed{seed}"
            _trained(task, pool, tr, out, seed=seed, epochs=epochs)
            z = _logits(out, pool["images"][test], task)
            oof[seed][test] = z
            s = scores(task, pool["targets"][test], z, pool["confident"][test] if task == "B6" else None)
            s.update(kind="region", fold=k, seed=seed, n_train=len(tr), removed_near=int(near.sum()),
                     seconds=round(time.time() - t0))
            if task == "B3":
                zc = _logits(out, check_images, task)
                check_logits.append(zc)
                s["lotss_compact_no"] = float(np.mean(zc.argmax(1) == 1))
            results["runs"].append(s)
            log(s)
    for seed in seeds if cross_seeds is None else cross_seeds:
        # cross-sample
        pairs = [("frdeep+rgd", "mirabest"), ("mirabest", "frdeep")]
        if task == "B3":
            pairs = [("frdeep+rgd+synthetic", "mirabest"), ("mirabest+rgd+synthetic", "frdeep")]
        for src, dst in pairs:
            t0 = time.time()
            test = np.flatnonzero(pool["sample"] == dst)
            tr_mask = np.isin(pool["sample"], src.split("+"))
            tr_mask &= _sep_arcsec(pool["ra"], pool["dec"], pool["ra"][test], pool["dec"][test]).min(1) >= 60 \
                if task == "B6" else tr_mask
            tr = np.flatnonzero(tr_mask)
            out = Path(workdir) / f"{task}_{src}_to_{dst}_seed{seed}"
            _trained(task, pool, tr, out, seed=seed, epochs=epochs)
            z = _logits(out, pool["images"][test], task)
            conf = pool["confident"][test] if (task == "B6" and dst == "mirabest") else None
            s = scores(task, pool["targets"][test], z, conf)
            s.update(kind="cross-sample", train=src, test=dst, seed=seed, n_train=len(tr),
                     seconds=round(time.time() - t0))
            results["runs"].append(s)
            log(s)
    folds_mb = folds >= 0
    if seed_per_fold:  # one model per fold: merge the folds' held-out logits into one set
        merged = np.full((len(pool["targets"]), 2), np.nan)
        for v in oof.values():
            filled = np.isfinite(v[:, 0])
            merged[filled] = v[filled]
        oof = {"+".join(str(s) for s in seeds): merged}
    results["oof"] = {str(k): v[folds_mb].tolist() for k, v in oof.items()}
    results["calib_targets"] = pool["targets"][folds_mb].tolist()
    results["calib_confident"] = pool["confident"][folds_mb].tolist()
    if check_logits:
        results["check_logits"] = [c.tolist() for c in check_logits]
    return results


def summarise(task, pool, results):
    """Mean and spread per configuration, pooled temperature, bootstrap intervals."""
    from radioassist.metrics import bootstrap_interval, fit_temperature

    runs = results["runs"]
    table = {}
    for r in runs:
        key = "MiraBest sky regions (3 RA bands)" if r["kind"] == "region" else f"{r['train']} -> {r['test']}"
        table.setdefault(key, []).append(r)
    oof = np.stack([np.asarray(v) for v in results["oof"].values()])  # (seeds, n, 2)
    targets = np.asarray(results["calib_targets"])
    confident = np.asarray(results.get("calib_confident", np.ones(len(targets), bool)), dtype=bool)
    train_sel = confident
    temperature = fit_temperature(oof[:, train_sel].reshape(-1, 2), np.tile(targets[train_sel], len(oof)))
    per_seed = [scores(task, targets, z, confident, temperature) for z in oof]
    raw = [scores(task, targets, z, confident, 1.0) for z in oof]
    labels = ["FR-I", "FR-II"] if task == "B6" else ["YES", "NO"]
    z0 = oof[0][train_sel]
    ci = bootstrap_interval(targets[train_sel], z0.argmax(1), labels=labels, metric="macro_f1", n_resamples=2000)
    summary = {"temperature": temperature, "configs": {}, "pooled_region": {
        "per_seed_calibrated": per_seed, "per_seed_raw": raw, "macro_f1_ci_seed0": ci}}
    for key, rs in table.items():
        f1 = np.array([r["macro_f1"] for r in rs])
        entry = {"n_runs": len(rs), "n_test": int(np.sum([r["n"] for r in rs]) / len({r["seed"] for r in rs})),
                 "macro_f1_mean": float(f1.mean()), "macro_f1_min": float(f1.min()), "macro_f1_max": float(f1.max()),
                 "accuracy_mean": float(np.mean([r["accuracy"] for r in rs])),
                 "ece_raw_mean": float(np.mean([r["ece"] for r in rs]))}
        for label in labels:
            entry[f"recall_{label}"] = float(np.mean([r["recall"][label] for r in rs]))
        if "lotss_compact_no" in rs[0]:
            entry["lotss_compact_no_mean"] = float(np.mean([r["lotss_compact_no"] for r in rs]))
        summary["configs"][key] = entry
    return summary


def train_b3(pool, *, args, log, command):
    """B3 shipped model: trained on everything except a held-out validation set that fits the temperature and
    gives the cross-sample figures: MiraBest galaxies of one sky region (RA band) and the FR-DEEP/RGD sources
    within 60 arcsec of them, the RGD valid and test splits, one in seven synthetic negatives; then the LoTSS
    compact sources (another survey; never trained on)."""
    import _shipped_cards
    from radioassist.metrics import bootstrap_interval
    from radioassist.training.vision import _rewrite_card

    folds, _ = region_folds(pool)
    band = folds == 0
    near = np.zeros(len(band), bool)
    ok = np.isfinite(pool["ra"])
    near[ok] = _sep_arcsec(pool["ra"][ok], pool["dec"][ok], pool["ra"][band], pool["dec"][band]).min(1) < 60
    synthetic = np.flatnonzero(pool["sample"] == "synthetic")
    held_synth = np.zeros(len(band), bool)
    held_synth[synthetic[::7]] = True
    rgd_held = np.isin(pool["split"], ["valid", "test"])
    valid = band | rgd_held | held_synth
    train_mask = ~valid & ~near
    index = np.concatenate([np.flatnonzero(train_mask), np.flatnonzero(valid)])
    splits = ["train"] * int(train_mask.sum()) + ["valid"] * int(valid.sum())
    out = Path(args.output or ROOT / "radioassist" / "models" / MODEL_NAMES["B3"])
    from radioassist.training import train_vision_classifier

    kwargs = _shipped_cards.card_kwargs("B3", pool, None)
    kwargs.pop("card_sections")
    train_vision_classifier(
        labelled("B3", pool, index, splits), task="B3", output_dir=out, epochs=args.epochs, seed=args.final_seed,
        early_stopping=False, robust_validation=False, temperature="fit", progress=False, overwrite=True,
        command=command, **RECIPE, **kwargs,
    )
    logged = json.loads((out / "training_log.json").read_text())
    temperature = logged["summary"]["calibration"]["temperature"]
    check, _ = lotss_check_images(args.data)
    rows = []
    for name, sel, truth in (
        ("MiraBest, sky region left out (RA band 1 of 3)", np.flatnonzero(band & ~pool["is_edge_copy"]), None),
        ("RGD valid + test splits", np.flatnonzero(rgd_held), None),
        ("compact negatives held out (synthetic)", np.flatnonzero(held_synth), None),
        ("LoTSS DR1 unresolved sources (S_Code S, Maj <= 9 arcsec) in the two mosaics (144 MHz; the check)",
         None, None),
    ):
        images = check if sel is None else pool["images"][sel]
        targets = np.ones(len(check), int) if sel is None else pool["targets"][sel]
        z = _logits(out, images, "B3")  # served logits (the fitted temperature undone)
        p = np.exp(z / temperature - (z / temperature).max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        pred = p.argmax(1)
        rate_yes = float(np.mean(pred[targets == 0] == 0)) if (targets == 0).any() else float("nan")
        rate_no = float(np.mean(pred[targets == 1] == 1)) if (targets == 1).any() else float("nan")
        from radioassist.metrics import classification_report

        rep = classification_report(targets, pred, labels="B3")
        ci = bootstrap_interval(targets, pred, labels="B3", metric="accuracy", n_resamples=2000)
        row = dict(data=name, n=int(len(targets)), accuracy=rep.accuracy, accuracy_ci=list(ci),
                   macro_f1=rep.macro_f1, yes_recall=rate_yes, no_recall=rate_no,
                   mean_confidence=float(p.max(1).mean()))
        rows.append(row)
        log(row)
    results = {"rows": rows, "temperature": temperature, "calibration": logged["summary"]["calibration"],
               "epochs": args.epochs}
    sections = _shipped_cards.b3_sections(results)
    headline = [
        {"metric": "YES rate", "value": rows[0]["yes_recall"], "interval": rows[0]["accuracy_ci"],
         "data": f"{rows[0]['n']} MiraBest galaxies of a sky region left out"},
        {"metric": "NO rate", "value": rows[3]["no_recall"], "interval": rows[3]["accuracy_ci"],
         "data": "25 LoTSS DR1 unresolved sources (S_Code S, Maj <= 9\") of the two LoTSS mosaics, never trained on"},
        {"metric": "macro F1", "value": rows[1]["macro_f1"], "data": f"{rows[1]['n']} RGD valid+test images"},
        {"metric": "ECE", "value": results["calibration"]["ece_after"],
         "data": f"the validation images (temperature {temperature:.2f})"},
    ]
    # trained on negatives and galaxies cut by mosaic edges: classify may label rows whose field of view is
    # half blank (the pipeline's default for models that record nothing is 0.9)
    _rewrite_card(out, card_sections=sections, meta_update={"headline": headline, "min_coverage": 0.5})
    (Path(args.workdir) / "B3_final.json").write_text(json.dumps(results, default=float))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["B6", "B3"])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--cv", action="store_true", help="run the region and cross-sample validation first")
    parser.add_argument("--cv-results", default=None, help="reuse the validation results of an earlier --cv run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cross-seeds", type=int, nargs="+", default=None,
                        help="seeds of the cross-sample runs (default: --seeds)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed-per-fold", action="store_true",
                        help="region validation: fold k trained once, with the k-th of --seeds (saves CPU time)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    parser.add_argument("--final-seed", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp/radioassist_shipped")
    parser.add_argument("--no-final", action="store_true")
    parser.add_argument("--architecture", default=RECIPE["architecture"],
                        help=f"network (default {RECIPE['architecture']}; see radioassist.training.ARCHITECTURES)")
    parser.add_argument("--image-size", type=int, default=RECIPE["image_size"],
                        help=f"side of the model input in pixels (default {RECIPE['image_size']})")
    args = parser.parse_args(argv)
    RECIPE["architecture"] = args.architecture
    RECIPE["image_size"] = args.image_size
    import torch

    torch.set_num_threads(args.threads)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    all_data = _shipped_data.load_all(args.data, cache=Path(args.workdir) / "all.npz")
    pool = build(args.task, all_data, seed=0)
    logfile = open(Path(args.workdir) / f"{args.task}_log.jsonl", "a")

    def log(record):
        print(json.dumps(record, default=float), flush=True)
        logfile.write(json.dumps(record, default=float) + "\n")
        logfile.flush()

    command = "python tools/train_shipped_models.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.task == "B3" and not args.cv:
        train_b3(pool, args=args, log=log, command=command)
        return
    results_path = Path(args.cv_results or Path(args.workdir) / f"{args.task}_cv.json")
    if args.cv:
        if args.task == "B3":
            results = cross_validate_b3(pool, seeds=args.seeds, epochs=args.epochs, workdir=args.workdir,
                                        data_dir=args.data, log=log, all_data=all_data)
        else:
            results = cross_validate(args.task, pool, seeds=args.seeds, epochs=args.epochs, workdir=args.workdir,
                                     data_dir=args.data, log=log, cross_seeds=args.cross_seeds,
                                     seed_per_fold=args.seed_per_fold)
        results["epochs"] = args.epochs
        results["summary"] = summarise(args.task, pool, results)
        results_path.write_text(json.dumps(results, default=float))
        log(results["summary"])
    if args.no_final:
        return
    results = json.loads(results_path.read_text())
    import _shipped_cards

    out = Path(args.output or ROOT / "radioassist" / "models" / MODEL_NAMES[args.task])
    train(args.task, pool, np.arange(len(pool["targets"])), out, seed=args.final_seed, epochs=results["epochs"],
          temperature=results["summary"]["temperature"], command=command,
          **_shipped_cards.card_kwargs(args.task, pool, results))
    from radioassist.training.vision import _update_config

    _update_config(out, {"headline": _shipped_cards.b6_headline(results)})
    log({"final": str(out)})


if __name__ == "__main__":
    main()
