"""Measure source structure (radioassist.structure) on the real FIRST images of ../shared/data.

Two measurements, both reported by sky region (RA bands) with bootstrap intervals:

* **one row per galaxy**: the fraction of MiraBest and FR-DEEP FIRST cutouts (each centred on one radio
  galaxy) that a catalogue-free run returns as exactly one row (``rows``), and the fraction where the central
  galaxy is one row (``central``: one source holds every island within ``0.5 x size + 10 arcsec`` of the
  centre, MiraBest's size column, 60 arcsec for FR-DEEP which has none);
* **task B2 against Radio Galaxy Zoo DR1**: the RGZ sources whose components all lie inside one of these
  images (the image where they lie nearest the centre), classified with ``radioassist.classify(image,
  catalogue, task='B2')`` at the RGZ source position; accuracy, macro-F1, component-count and peak-count
  accuracy.

Usage::

    nice python tools/measure_structure.py --data ../shared/data [--baseline] [--out results.json]
    nice python tools/measure_structure.py --data ../shared/data --grid   # parameter choice on RA bands

``--grid`` scores a few settings of the peak and association parameters on the even RA bands (tuning) and
reports the chosen one on the odd bands (held out), so that the figures in the card are not tuned on the
sources they describe.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from radioassist.image import load_image
from radioassist.metrics import bootstrap_interval, classification_report
from radioassist.structure import b2_label, find_structure

B2_LABELS = ["1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"]
#: RA bands of the sky-region validation (degrees; FIRST covers the north galactic cap and an equatorial strip)
N_BANDS = 6


def first_images(data):
    """``[(path, sample, ra, dec, size_arcsec)]`` of every MiraBest and FR-DEEP FIRST cutout."""
    data = Path(data)
    out = []
    mb = Table.read(data / "mirabest_first" / "manifest.csv")
    for row in mb:
        out.append((data / "mirabest_first" / "FITS" / row["file"], "mirabest", float(row["ra_deg"]),
                    float(row["dec_deg"]), float(row["size_arcsec"])))
    fd = Table.read(data / "frdeep_v2" / "frdeep_v2_manifest.csv")
    for row in fd:
        out.append((data / "frdeep_v2" / row["file_first"], "frdeep", float(row["ra_deg"]), float(row["dec_deg"]),
                    np.nan))
    return [o for o in out if Path(o[0]).exists()]


def ra_band(ra):
    """Sky region of a position: one of N_BANDS bands of RA."""
    return (np.asarray(ra, dtype=float) // (360.0 / N_BANDS)).astype(int) % N_BANDS


def rgz_in_images(data, images):
    """RGZ sources whose components all lie inside one of ``images`` (>= 5 px from the edge)."""
    rgz = Table.read(Path(data) / "rgz_dr1" / "rgz_dr1_full_catalogue.csv")
    comp_ra = [np.array(str(v).split(";"), dtype=float) for v in rgz["cpnts_ras"]]
    comp_dec = [np.array(str(v).split(";"), dtype=float) for v in rgz["cpnts_decs"]]
    centre = SkyCoord([np.mean(r) for r in comp_ra], [np.mean(d) for d in comp_dec], unit="deg")
    img_c = SkyCoord([i[2] for i in images], [i[3] for i in images], unit="deg")
    idx, sep, _ = centre.search_around_sky(img_c, 150 * u.arcsec) if False else (None, None, None)
    i_img, i_src, sep2d, _ = centre.search_around_sky(img_c, 150 * u.arcsec)
    best = {}
    for a, b, s in zip(i_img, i_src, sep2d.arcsec):
        if b not in best or s < best[b][1]:
            best[b] = (a, s)
    rows = []
    wcs_cache = {}
    for b, (a, _) in sorted(best.items()):
        path = images[a][0]
        if path not in wcs_cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = load_image(path)
            wcs_cache[path] = (img.wcs, img.shape)
        wcs, (ny, nx) = wcs_cache[path]
        x, y = wcs.world_to_pixel(SkyCoord(comp_ra[b], comp_dec[b], unit="deg"))
        if np.all((x >= 5) & (x <= nx - 6) & (y >= 5) & (y <= ny - 6)):
            name = str(rgz["first_id"][b])
            rows.append({"image": str(path), "rgz_id": int(rgz["catalog_id"][b]), "first_id": name,
                         "ra": float(centre[b].ra.deg), "dec": float(centre[b].dec.deg),
                         "first_ra": _first_name_position(name)[0], "first_dec": _first_name_position(name)[1],
                         "ang_extent": float(rgz["ang_extent"][b]),
                         "num_cpnts": int(rgz["num_cpnts"][b]), "num_peaks": int(rgz["num_peaks"][b]),
                         "label": f"{int(rgz['num_cpnts'][b])}C-{int(rgz['num_peaks'][b])}P",
                         "cl": float(rgz["cl"][b])})
    return Table(rows=rows) if rows else Table()


def _first_name_position(name):
    """(ra, dec) in degrees of a FIRST name FIRSTJhhmmss.s+ddmmss."""
    s = name.replace("FIRSTJ", "")
    sign = -1 if "-" in s else 1
    ra_s, dec_s = s.replace("-", "+").split("+")
    ra = (int(ra_s[:2]) + int(ra_s[2:4]) / 60 + float(ra_s[4:]) / 3600) * 15
    dec = sign * (int(dec_s[:2]) + int(dec_s[2:4]) / 60 + float(dec_s[4:]) / 3600)
    return ra, dec


def structures(images, params):
    out = {}
    for path, *_ in images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[str(path)] = find_structure(path, **params)
    return out


def baseline_rows(path):
    """Rows of the catalogue-free run before radio sources (radioassist <= ec5f09c, ``find_sources``):
    photutils segmentation at 3 sigma + deblending (contrast 0.005), a row per segment peaking >= 5 sigma."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground
    from photutils.segmentation import deblend_sources, detect_sources
    from scipy import ndimage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = load_image(path)
        data = np.asarray(image.data, dtype=np.float32)
        box = int(np.clip(15 * 3.0, 32, max(8, min(data.shape) // 4)))
        bkg = Background2D(data, box, sigma_clip=SigmaClip(sigma=3.0), bkg_estimator=MedianBackground(),
                           bkg_rms_estimator=MADStdBackgroundRMS(), filter_size=(3, 3))
        residual = data - bkg.background
        rms = np.where(bkg.background_rms > 0, bkg.background_rms, np.nanmax(bkg.background_rms))
        segm = detect_sources(residual, 3.0 * rms, 5)
        if segm is None:
            return 0
        segm = deblend_sources(residual, segm, 5, contrast=0.005, progress_bar=False)
        peak = np.asarray(ndimage.maximum(residual / rms, segm.data, segm.labels))
    return int(np.sum(peak >= 5.0))


def one_row(images, found):
    """Per image: ``(rows == 1, central galaxy one row)``."""
    rows, central = [], []
    for path, sample, ra, dec, size in images:
        s = found[str(path)]
        rows.append(len(s.sources) == 1)
        radius = (0.5 * size + 10.0) if np.isfinite(size) else 60.0
        isl = s.islands
        if len(isl) == 0:
            central.append(False)
            continue
        img = load_image(path)
        sky = SkyCoord(isl["ra"], isl["dec"])
        d = sky.separation(SkyCoord(ra, dec, unit="deg")).arcsec
        # the island's nearest edge: its centroid distance less half its extent
        near = d - 0.5 * np.asarray(isl["size"], dtype=float) <= radius
        central.append(bool(near.any()) and len(set(np.asarray(isl["source_id"])[near])) == 1)
        img.close()
    return np.array(rows), np.array(central)


def b2_predictions(rgz, *, position="centre", detect_options=None, backend_options=None):
    """Predicted (C, P) of each RGZ source: ``radioassist.classify(image, catalogue, task='B2')``.

    The catalogue of an image holds its RGZ sources at the mean of their components' positions
    (``position='centre'``) or at the position in their FIRST name, the named component (``'first'``).
    """
    import radioassist as ra

    pred_c = np.zeros(len(rgz), dtype=int)
    pred_p = np.zeros(len(rgz), dtype=int)
    for path in sorted(set(rgz["image"])):
        rows = np.flatnonzero(np.asarray(rgz["image"]) == path)
        ra_col, dec_col = ("ra", "dec") if position == "centre" else ("first_ra", "first_dec")
        cat = Table({"ra": np.asarray(rgz[ra_col])[rows], "dec": np.asarray(rgz[dec_col])[rows]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ra.classify(path, cat, task="B2", detect_options=detect_options, backend_options=backend_options)
        pred_c[rows] = out["B2_n_components"]
        pred_p[rows] = out["B2_n_peaks"]
    return pred_c, pred_p


def association_check(data, rgz, params):
    """Catalogue-free association against RGZ's volunteers, on the images holding RGZ sources.

    ``merged``: pairs of distinct RGZ sources in one image (no component within 5 arcsec of the other's) that
    fall in one radio source found (over-association); ``split``: RGZ sources of several components, each on
    a different island, whose islands are not all in one radio source (under-association).
    """
    full = Table.read(Path(data) / "rgz_dr1" / "rgz_dr1_full_catalogue.csv")
    row_of = {int(c): k for k, c in enumerate(full["catalog_id"])}
    merged, pairs, split, multi = 0, 0, 0, 0
    for path in sorted(set(rgz["image"])):
        ids = [int(i) for i in np.asarray(rgz["rgz_id"])[np.asarray(rgz["image"]) == path]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = find_structure(path, **params)
        comps, found = {}, {}
        for i in ids:
            b = row_of[i]
            sky = SkyCoord(np.array(str(full["cpnts_ras"][b]).split(";"), dtype=float),
                           np.array(str(full["cpnts_decs"][b]).split(";"), dtype=float), unit="deg")
            comps[i] = sky
            x, y = s.island_map.shape[1], s.island_map.shape[0]
            px, py = _pixels(path, sky)
            lab = [int(s.island_map[int(round(b_)), int(round(a_))]) for a_, b_ in zip(px, py)
                   if 0 <= round(a_) < x and 0 <= round(b_) < y]
            on = [v for v in lab if v > 0]
            found[i] = {int(s.islands["source_id"][v - 1]) for v in on}
            if len(sky) > 1 and len(on) == len(sky) and len(set(on)) > 1:
                multi += 1
                split += len(found[i]) > 1
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                if comps[ids[a]][:, None].separation(comps[ids[b]][None, :]).arcsec.min() < 5:
                    continue  # the same radio source catalogued twice (overlapping RGZ subjects)
                if found[ids[a]] and found[ids[b]]:
                    pairs += 1
                    merged += bool(found[ids[a]] & found[ids[b]])
    return {"merged": merged, "pairs": pairs, "split": split, "multi_component": multi}


_WCS = {}


def _pixels(path, sky):
    if path not in _WCS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _WCS[path] = load_image(path).wcs
    x, y = _WCS[path].world_to_pixel(sky)
    return np.atleast_1d(x), np.atleast_1d(y)


def b2_scores(truth_c, truth_p, pred_c, pred_p, *, seed=0):
    truth = [f"{c}C-{p}P" for c, p in zip(truth_c, truth_p)]
    found = pred_c > 0
    pred = [str(b2_label(c, p)) if ok else None for c, p, ok in zip(pred_c, pred_p, found)]
    rep = classification_report(truth, pred, labels=B2_LABELS)
    ci = bootstrap_interval(truth, pred, labels=B2_LABELS, metric=["accuracy", "macro_f1"], seed=seed)
    cc = np.minimum(np.maximum(pred_c, 0), 3) == truth_c
    pp = np.minimum(np.maximum(pred_p, np.minimum(pred_c, 3)), 3) == truth_p
    return {"n": len(truth), "accuracy": rep.accuracy, "accuracy_ci": ci["accuracy"], "macro_f1": rep.macro_f1,
            "macro_f1_ci": ci["macro_f1"], "components_accuracy": float(cc.mean()),
            "components_accuracy_ci": _mean_ci(cc, seed), "peaks_accuracy": float(pp.mean()),
            "peaks_accuracy_ci": _mean_ci(pp, seed), "not_found": int((~found).sum()),
            "confusion": rep.confusion_matrix.tolist()}


def _mean_ci(values, seed, n=1000):
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def fraction(mask, seed=0):
    return {"fraction": float(np.mean(mask)), "ci": _mean_ci(mask, seed), "n": int(len(mask))}


def summary(result):
    """A few lines of the figures (the JSON has them all)."""
    lines = []
    for name, r in result["one_row"].items():
        if name == "by_band":
            continue
        if "rows_before" in r:
            lines.append(f"one row {name:9s} before (segments): {r['rows_before']['fraction']:.3f} "
                         f"[{r['rows_before']['ci'][0]:.3f}, {r['rows_before']['ci'][1]:.3f}]")
        lines.append(f"one row {name:10s} n={r['rows']['n']:4d} rows==1 {r['rows']['fraction']:.3f} "
                     f"[{r['rows']['ci'][0]:.3f}, {r['rows']['ci'][1]:.3f}]  central {r['central']['fraction']:.3f} "
                     f"[{r['central']['ci'][0]:.3f}, {r['central']['ci'][1]:.3f}]")
    if "association" in result:
        a = result["association"]
        lines.append(f"association against RGZ: distinct RGZ sources merged {a['merged']}/{a['pairs']} pairs, "
                     f"multi-component RGZ sources split {a['split']}/{a['multi_component']}")
    for position, res in result["b2"].items():
        for part in ("all", "even_bands", "odd_bands"):
            r = res[part]
            lines.append(f"B2 at {position:6s} {part:10s} n={r['n']:3d} acc {r['accuracy']:.3f} "
                         f"[{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}] macroF1 {r['macro_f1']:.3f} "
                         f"[{r['macro_f1_ci'][0]:.3f}, {r['macro_f1_ci'][1]:.3f}] C-acc "
                         f"{r['components_accuracy']:.3f} P-acc {r['peaks_accuracy']:.3f} not found {r['not_found']}")
        lines.append(f"   confusion (rows truth {B2_LABELS}): {res['all']['confusion']}")
    return "\n".join(lines)


#: Settings compared by ``--grid`` (each a change from the defaults; the defaults are the first row).
GRID_ONE_ROW = [{}, {"core_radius": 0.5}, {"core_radius": 0.75}, {"satellite_range": None},
                {"satellite_range": 200.0}, {"satellite_range": 50.0},
                {"satellite_range": None, "dynamic_range": 100.0}, {"align_angle": 45.0}, {"align_angle": 60.0}]
GRID_B2 = [({}, {}), ({"island_connectivity": 8}, {}), ({"peak_connectivity": 8}, {}), ({"dynamic_range": 500.0}, {}),
           ({"dynamic_range": 500.0, "satellite_range": 100.0}, {}),
           ({"island_connectivity": 8, "peak_connectivity": 8}, {}), ({"align_angle": 30.0}, {}),
           ({"align_angle": 60.0}, {}), ({"align_angle": 90.0}, {}), ({}, {"gap_fraction": 0.0}),
           ({}, {"gap_fraction": 0.25}), ({"contour_ratio": 1.5}, {}),
           ({"contour_ratio": 2.0}, {}),
           ({"thresh_isl": 4.5, "thresh_pix": 4.5}, {}), ({"thresh_isl": 6.0, "thresh_pix": 6.0}, {})]


def grid(data, images, rgz):
    """Score each setting of GRID_ONE_ROW (central galaxy one row) and GRID_B2 (macro F1) on the even RA bands
    (tuning) and print the odd bands (held out) beside them; the best on the even bands is reported."""
    sample = np.array([i[1] for i in images])
    bands = ra_band([i[2] for i in images])
    even = bands % 2 == 0
    out = {"one_row": [], "b2": []}
    for params in GRID_ONE_ROW:
        rows, central = one_row(images, structures(images, params))
        r = {"params": params, "central_even": float(central[even].mean()), "central_odd": float(central[~even].mean()),
             "rows_even": float(rows[even].mean()), "rows_odd": float(rows[~even].mean()),
             "central_mirabest": float(central[sample == "mirabest"].mean()),
             "central_frdeep": float(central[sample == "frdeep"].mean()),
             "association": association_check(data, rgz, params)}
        out["one_row"].append(r)
        print(f"one row {json.dumps(params):40s} central even {r['central_even']:.3f} odd {r['central_odd']:.3f} "
              f"(MiraBest {r['central_mirabest']:.3f}, FR-DEEP {r['central_frdeep']:.3f}) rows==1 even "
              f"{r['rows_even']:.3f} odd {r['rows_odd']:.3f}; RGZ pairs merged {r['association']['merged']}/"
              f"{r['association']['pairs']}, RGZ sources split {r['association']['split']}/"
              f"{r['association']['multi_component']}", flush=True)
    tc, tp = np.asarray(rgz["num_cpnts"]), np.asarray(rgz["num_peaks"])
    rb = ra_band(rgz["ra"]) % 2 == 0
    for params, backend in GRID_B2:
        pc, pp = b2_predictions(rgz, detect_options=params or None, backend_options=backend or None)
        ev, od = b2_scores(tc[rb], tp[rb], pc[rb], pp[rb]), b2_scores(tc[~rb], tp[~rb], pc[~rb], pp[~rb])
        out["b2"].append({"params": params, "backend_options": backend, "macro_f1_even": ev["macro_f1"],
                          "macro_f1_odd": od["macro_f1"], "accuracy_even": ev["accuracy"],
                          "accuracy_odd": od["accuracy"]})
        print(f"B2 {json.dumps({**params, **backend}):45s} macro F1 even {ev['macro_f1']:.3f} odd {od['macro_f1']:.3f} "
              f"accuracy even {ev['accuracy']:.3f} odd {od['accuracy']:.3f}", flush=True)
    best_one = max(out["one_row"], key=lambda r: r["central_even"])
    best_b2 = max(out["b2"], key=lambda r: r["macro_f1_even"])
    print(f"best on the even bands: one row {best_one['params']} (odd {best_one['central_odd']:.3f}); "
          f"B2 {best_b2['params']} {best_b2['backend_options']} (odd {best_b2['macro_f1_odd']:.3f})")
    return out


CARD_DIR = Path(__file__).resolve().parents[1] / "radioassist" / "models" / "first-rgz-b2-structure"


def _ci(r, key):
    lo, hi = r[f"{key}_ci"]
    return f"{r[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def write_card(result, folder=CARD_DIR, model_check=None):
    """The card of the B2 method (README.md, the shipped models' form) and method.json (``radioassist models``)."""
    from radioassist._structure_classify import B2_STRUCTURE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    b2 = result["b2"]["centre"]
    first = result["b2"]["first"]
    one = result["one_row"]
    rows = []
    for part, name in (("all", "all RGZ sources in the images"), ("even_bands", "even RA bands"),
                       ("odd_bands", "odd RA bands")):
        r = b2[part]
        rows.append(f"| {name} | {r['n']} | {_ci(r, 'accuracy')} | {_ci(r, 'macro_f1')} | "
                    f"{_ci(r, 'components_accuracy')} | {_ci(r, 'peaks_accuracy')} | {r['not_found']} |")
    confusion = "\n".join(f"| {lab} | " + " | ".join(str(v) for v in row) + " |"
                          for lab, row in zip(B2_LABELS, b2["all"]["confusion"]))
    n_classes = len(B2_LABELS) + (1 if len(b2["all"]["confusion"][0]) > len(B2_LABELS) else 0)
    header_extra = " unparsed/none |" if n_classes > len(B2_LABELS) else ""
    band_f1 = ", ".join(
        f"band {b} ({int(b) * 360 // N_BANDS}-{(int(b) + 1) * 360 // N_BANDS} deg): {v:.2f}" if not isinstance(v, dict)
        else (f"band {b} ({int(b) * 360 // N_BANDS}-{(int(b) + 1) * 360 // N_BANDS} deg, n={v['n']}): "
              f"{v['macro_f1']:.2f}")
        for b, v in sorted(b2["by_band"].items(), key=lambda kv: int(kv[0])))
    check = ""
    if model_check:
        mc = model_check
        boost = mc["boosting"][0]
        check = f"""

### Rule or trained model

`python tools/b2_model_check.py --data ../shared/data` trains two models on the same {mc['n']} RGZ sources with
the structure as input (counts at RGZ's levels, at PyBDSF's 3 / 5 sigma with deblended peaks and at 4 sigma;
flux, extent, peak SNR, islands around) and scores them leaving one RA band out at a time, so that every
source is predicted by a model that never saw its sky region: multinomial logistic regression macro F1
{mc['logistic']['macro_f1']:.3f} [{mc['logistic']['macro_f1_ci'][0]:.3f}, {mc['logistic']['macro_f1_ci'][1]:.3f}]
(accuracy {mc['logistic']['accuracy']:.3f}), gradient-boosted trees {boost['macro_f1']:.3f}
[{boost['macro_f1_ci'][0]:.3f}, {boost['macro_f1_ci'][1]:.3f}] (accuracy {boost['accuracy']:.3f}; the same for
{len(mc['boosting'])} seeds), against the rule's {mc['rule']['macro_f1']:.3f} on the same sources (its counts at the
position alone, without the gap rule of step 5). With so few labelled
sources per sky region a model does not generalise better, so the rule is shipped (no weights, no
probabilities to calibrate)."""
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in B2_STRUCTURE.items())
    one_row_text = ""
    if "odd_bands" in one and "association" in result:
        a = result["association"]
        c = one["all"]["central"]
        mb, fd = one["mirabest"]["central"]["fraction"], one["frdeep"]["central"]["fraction"]
        one_row_text = f"""

The same association gives the catalogue-free rows of every task (PyBDSF's 3 / 5 sigma islands, a double's
lobes in any orientation): the central galaxy of the {c['n']} MiraBest and FR-DEEP cutouts is one radio source
in {c['fraction']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] of them (MiraBest {mb:.3f}, FR-DEEP {fd:.3f}; odd RA
bands {one['odd_bands']['central']['fraction']:.3f}), and
a cutout is exactly one row in {one['all']['rows']['fraction']:.3f}. Against the volunteers, on the images holding
RGZ sources: {a['merged']} of {a['pairs']} pairs of distinct RGZ sources in one cutout are grouped into one radio
source, {a['split']} of {a['multi_component']} RGZ sources of several islands are split."""
    text = f"""---
tags: [radio-astronomy, radioassist, B2]
---

# radioassist B2 method: FIRST source morphology (components and peaks) from the source structure

Task **B2** (labels: 1C-1P, 1C-2P, 1C-3P, 2C-2P, 2C-3P, 3C-3P; single-label) answered without a model:
the number of radio components of a source and of the peaks in them are counted in the image
(`radioassist.structure.find_structure`) and mapped to the label, capped at 3 as in the Radio Galaxy Zoo
DR1 catalogue. It is the default for B2 (`radioassist classify IMAGE [--catalog CAT] --task B2`, or
`radioassist.classify(image, catalog, task="B2")`, backend name `structure`); it needs no weights, no GPU
and no network. There is no trained part, so its probabilities are 0 or 1 (the label given has
probability 1): read the figures below as its calibration.

**Headline: macro F1 {_ci(b2['all'], 'macro_f1')}, accuracy {_ci(b2['all'], 'accuracy')} on the
{b2['all']['n']} RGZ DR1 sources inside the FIRST images of ../shared/data (odd RA bands, never used to choose
a parameter: macro F1 {_ci(b2['odd_bands'], 'macro_f1')}).**

## Method

1. Noise: photutils' `Background2D` recipe (sigma-clipped median, MAD-std RMS, mesh of about 15 beams;
   computed by `radioassist._noise`, equal to photutils bit for bit, without importing it).
2. Components: islands of pixels above 3 sqrt(3) = 5.2 times the local RMS (photutils `detect_sources`),
   the lowest contour of Radio Galaxy Zoo, split where they touch only at a pixel corner (4-connected, as
   the contour lines RGZ traced with marching squares split them).
3. Peaks: the leaves of each island's contour tree, levels 5.2 sigma x sqrt(3)^k (RGZ's contours; a
   peak is an innermost contour), the regions of each level 4-connected for the same reason.
4. Association: islands near a much brighter one (below 1/100 of its peak, within 30 beams) dropped as its
   sidelobes; the rest grouped into radio sources (`radioassist.structure`: Aegean's normalised distance,
   the LoTSS double-source brightness rule scaled to 1.4 GHz with lobes compact, round or elongated within
   45 degrees of the line joining them, a core inside the circle a double spans, and two islands of
   similar flux on both sides of a core, whatever their orientation).
5. Each catalogue position takes the radio source of the island under it (else the nearest island within 3
   beams, else the multi-island source whose extent covers it); a position more than a beam from every
   island and near the midpoint of two islands of similar flux in two sources (within half of half their
   separation, `gap_fraction`) takes both: the catalogue puts the source between its lobes. The label is
   `{{min(C,3)}}C-{{min(max(P,C),3)}}P`. A position with no island is flagged `no_island`.

Parameters of B2 (`radioassist._structure_classify.B2_STRUCTURE`, recorded in `meta['radioassist']['structure']`
of every output): {params}; the rest as `find_structure`'s defaults. Catalogue-free rows
(`find_sources`, tasks other than B2) use PyBDSF's 3 / 5 sigma islands instead.

## Data

Labels: Radio Galaxy Zoo DR1 consensus catalogue as released with ClaRAN (Wu et al. 2019, MNRAS 482, 1211;
Banfield et al. 2015, MNRAS 453, 2326; MIT licence): 11,836 FIRST sources with consensus level >= 0.6.
Images: the FIRST cutouts of MiraBest and FR-DEEP in ../shared/data (150 x 150 pixels, 1.8"/px; VLA FIRST,
Becker, White & Helfand 1995, for scholarly, educational and private non-commercial use). An RGZ source is
used when all its components lie inside one cutout (the one where it lies nearest the centre), 5 pixels from
the edge: {b2['all']['n']} sources. Nothing is trained. The island threshold (3, 4, 4.5, 5, 5.2 = RGZ, 5.6, 6,
7 sigma), the peak finder (photutils deblending, the contour tree with contour ratio 1.3, 1.5, 1.6, sqrt(3) =
RGZ, 1.85, 2; in a trial not kept, local maxima standing out of their saddle by a ratio of 1 to 2, which
did no better), the connectivity of islands and
contour levels (8 or 4), the alignment of a double's lobes (30, 45, 60, 90 degrees), the core and pair rules
and the gap rule (`tools/measure_structure.py --grid`) were compared on the RGZ sources of the even RA bands
and chosen there (the odd bands' figures were printed alongside, never used to choose); RGZ's own levels were
best on the even bands and are kept for that reason and because they are RGZ's definition. Differences
between settings are mostly within the intervals below: with about 100 sources per half of the sky, and 7
2C-2P sources in all, the macro F1 of one half moves by 0.02-0.05 when two or three sources change label.

## Evaluation

`python tools/measure_structure.py --data ../shared/data --baseline --card --model-check b2_model_check.json`:
every RGZ source in the images,
catalogue position at the mean of its components' positions (a catalogue giving the position of the FIRST
component the source is named after instead: macro F1 {first['all']['macro_f1']:.3f}, accuracy
{first['all']['accuracy']:.3f}). Sky regions are RA bands of 60 degrees; 95 % bootstrap intervals
(1000 resamples, `radioassist.metrics.bootstrap_interval`).

| sources | n | accuracy | macro F1 | components correct | peaks correct | no island |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Macro F1 by RA band: {band_f1}.{one_row_text}{check}

Confusion matrix (rows: RGZ label; columns: 1C-1P ... 3C-3P{', no island' if header_extra else ''}):

| RGZ | 1C-1P | 1C-2P | 1C-3P | 2C-2P | 2C-3P | 3C-3P |{header_extra}
|---|---|---|---|---|---|---|{'---|' if header_extra else ''}
{confusion}

## How RGZ counted, and where the automatic count differs

Volunteers saw FIRST contours (lowest 3 sqrt(3) sigma of the field, each next sqrt(3) higher) over the infrared
image and clicked the contours that belong to one source: the number of components is the number of outermost
contours they grouped, the number of peaks the innermost contours inside them (rgz-analysis merges peaks
<= 1 pixel apart; ClaRAN capped both at 3 and kept consensus >= 0.6). The automatic count differs where:

- **grouping**: volunteers used the host galaxy in the infrared to decide which islands belong together;
  here only the radio image is used, so unrelated neighbours of similar flux can be grouped as a double
  (RGZ 1C-1P sources that come out as 2C or 3C; volunteers also split some pairs that look like doubles
  into two sources) and doubles whose lobes no rule links split (a 2C/3C source then comes out as 1C or
  2C); a catalogue position between two lobes joins them (step 5);
- **noise**: RGZ's RMS came from the whole FIRST field, here from a mesh of the cutout; components near the
  lowest contour appear or vanish with it (sources with no island at their position are flagged);
- **peaks**: RGZ traced its contours on images regridded to 1.375"/px, here the tree is made on the
  1.8"/px FIRST pixels, so two close peaks RGZ separated can be one here (1C-3P -> 1C-2P, the commonest
  peak error) and, the other way, the tree counts every leaf where the volunteers' consensus sometimes
  merged close peaks (1C-1P -> 1C-2P); the count of a source depends on where its peaks fall between
  levels sqrt(3) apart, so a small change of the RMS can change it;
- **caps**: RGZ's labels stop at 3 components and 3 peaks, so every larger count is folded into 3.

## Failure modes

- Sources larger than the image or cut by its edge: components outside are missed.
- Crowded fields: chance alignments of unrelated compact sources may be grouped as doubles. On a simulated
  mosaic at 555 sources per square degree (FIRST pixels and beam, `radioassist.simulate`, 2000 x 2000 pixels)
  the largest group holds 9 simulated sources and 45 % of the detected ones share their radio source with
  another (`tests/test_structure.py::test_a_crowded_field_does_not_chain_into_one_source`); at FIRST's
  real density (about 90 per square degree) chance pairs are rarer. Use `--components` for one row per island.
- Images without a beam in the header (FIRST cutouts from SkyView): 3 pixels are assumed with a
  `StructureWarning` (right for FIRST at 1.8"/px); pass `detect_options={{"beam": 5.4 * u.arcsec}}` otherwise.
- Other surveys: the thresholds are in units of the local RMS and the association in beams, but the labels
  were checked only on FIRST.
"""
    (folder / "README.md").write_text(text)
    method = {"task": "B2", "labels": B2_LABELS, "method": "source structure (rule, no weights)",
              "backend": "structure", "surveys": ["FIRST"], "frequency_mhz": 1400,
              "headline": [{"metric": "macro F1", "value": b2["all"]["macro_f1"], "interval": b2["all"]["macro_f1_ci"],
                            "data": f"{b2['all']['n']} RGZ DR1 sources in FIRST images"},
                           {"metric": "accuracy", "value": b2["all"]["accuracy"], "interval": b2["all"]["accuracy_ci"],
                            "data": f"{b2['all']['n']} RGZ DR1 sources in FIRST images"}],
              "one_row": {k: v for k, v in one.items() if k != "by_band"}}
    (folder / "method.json").write_text(json.dumps(method, indent=1, default=float) + "\n")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N images only (a quick look)")
    parser.add_argument("--card", action="store_true", help="write the B2 card (radioassist/models/"
                        "first-rgz-b2-structure/README.md and method.json) from the figures")
    parser.add_argument("--model-check", default=None, help="JSON written by tools/b2_model_check.py --out, "
                        "summarised in the card")
    parser.add_argument("--from-json", default=None, help="write the card from a JSON of an earlier run")
    parser.add_argument("--baseline", action="store_true",
                        help="also count the rows of the finder before radio sources (one row per segment)")
    parser.add_argument("--grid", action="store_true", help="compare the settings of GRID_ONE_ROW and GRID_B2 on the "
                        "even RA bands (odd bands printed beside them, never used to choose)")
    parser.add_argument("--params", default="{}", help="JSON of find_structure parameters (catalogue-free rows)")
    parser.add_argument("--b2-params", default="{}", help="JSON of find_structure parameters for B2 (default: "
                        "radioassist._structure_classify.B2_STRUCTURE)")
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        print(summary(result))
        if args.card:
            print(write_card(result, model_check=_model_check(args.model_check)))
        return 0
    params = json.loads(args.params)
    b2_params = json.loads(args.b2_params)
    images = first_images(args.data)[: args.limit]
    rgz = rgz_in_images(args.data, images)
    print(f"{len(images)} images, {len(rgz)} RGZ sources inside them", flush=True)
    if args.grid:
        result = grid(args.data, images, rgz)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1, default=float))
        return 0
    found = structures(images, params)
    rows, central = one_row(images, found)
    sample = np.array([i[1] for i in images])
    bands = ra_band([i[2] for i in images])
    result = {"params": params, "b2_params": b2_params, "one_row": {}, "b2": {}}
    for name, sel in (("all", np.ones(len(images), bool)), ("mirabest", sample == "mirabest"),
                      ("frdeep", sample == "frdeep")):
        result["one_row"][name] = {"rows": fraction(rows[sel]), "central": fraction(central[sel])}
    if args.baseline:
        before = np.array([baseline_rows(i[0]) == 1 for i in images])
        for name, sel in (("all", np.ones(len(images), bool)), ("mirabest", sample == "mirabest"),
                          ("frdeep", sample == "frdeep")):
            result["one_row"][name]["rows_before"] = fraction(before[sel])
    result["one_row"]["by_band"] = {int(b): fraction(rows[bands == b])["fraction"] for b in np.unique(bands)}
    for half, sel in (("even_bands", bands % 2 == 0), ("odd_bands", bands % 2 == 1)):
        result["one_row"][half] = {"rows": fraction(rows[sel]), "central": fraction(central[sel])}
    if len(rgz):
        result["association"] = association_check(args.data, rgz, params)
    if len(rgz):
        tc, tp = np.asarray(rgz["num_cpnts"]), np.asarray(rgz["num_peaks"])
        rb = ra_band(rgz["ra"])
        for position in ("centre", "first"):
            pc, pp = b2_predictions(rgz, position=position, detect_options=b2_params or None)
            res = {"all": b2_scores(tc, tp, pc, pp)}
            for half, sel in (("even_bands", rb % 2 == 0), ("odd_bands", rb % 2 == 1)):
                res[half] = b2_scores(tc[sel], tp[sel], pc[sel], pp[sel])
            res["by_band"] = {int(b): {"n": int(np.sum(rb == b)), "macro_f1": b2_scores(
                tc[rb == b], tp[rb == b], pc[rb == b], pp[rb == b])["macro_f1"]} for b in np.unique(rb)}
            result["b2"][position] = res
    text = json.dumps(result, indent=1, default=float)
    if args.out:
        Path(args.out).write_text(text)
    print(summary(result))
    if args.card:
        print(write_card(result, model_check=_model_check(args.model_check)))
    return 0


def _model_check(path):
    return json.loads(Path(path).read_text()) if path else None


if __name__ == "__main__":
    sys.exit(main())
