"""Make the documentation's figures from the real survey data in ``../shared/data``.

Every figure under ``docs/_static/`` that shows a result is made here, by running the commands the pages
show (the same arguments) on the real data, then drawing or screenshotting what they wrote.  Nothing is
typed in by hand: rerun the script after a change of model, renderer or report and commit the PNGs.

Usage (from the repository root)::

    python docs/make_figures.py                 # every figure
    python docs/make_figures.py lotss_skymap    # one figure (or several names)
    python docs/make_figures.py --list          # the names, with the pages that show them

Each figure is one function; a figure whose data (or browser, for the report screenshots) is missing is
skipped with a message, the others are still made.  ``RADIOASSIST_DATA`` points at another copy of the
data folder.  Images are written as small PNGs (palette-quantised when that keeps them well under 200 kB).
"""
import argparse
import contextlib
import functools
import io
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
STATIC = DOCS / "_static"
DATA = Path(os.environ.get("RADIOASSIST_DATA", ROOT.parent / "shared" / "data"))
WORK = None  # a temporary folder for the commands' outputs, made by main()
MAX_BYTES = 150_000

LABEL_COLOURS = {"FR-I": "#e8a33d", "FR-II": "#4aa3df", "YES": "#d6336c", "NO": "#1c7ed6"}

FIGURES = {}


class Skip(Exception):
    """A figure cannot be made here (data or tool missing): say why and go on."""


def figure(*outputs, page):
    """Register a figure function, the files it writes and the page(s) showing them."""
    def wrap(func):
        FIGURES[func.__name__] = (func, outputs, page)
        return func
    return wrap


def need(*paths):
    for p in paths:
        if not Path(p).exists():
            raise Skip(f"{p} is missing (set RADIOASSIST_DATA to the shared data folder)")


def cli(*args, cwd=None):
    """Run ``radioassist ARGS`` in-process (the same code as the console script), in ``cwd``."""
    from radioassist.cli import main

    args = [str(a) for a in args]
    print("  $ radioassist " + " ".join(args))
    old = os.getcwd()
    os.chdir(cwd or WORK)
    try:
        main.main(args, prog_name="radioassist", standalone_mode=False)
    finally:
        os.chdir(old)


def save_png(source, name):
    """Write a matplotlib figure or an image file to ``_static/name``, as small as it can stay readable."""
    from PIL import Image

    buf = io.BytesIO()
    if hasattr(source, "savefig"):
        import matplotlib.pyplot as plt

        source.savefig(buf, format="png", dpi=source.get_dpi(), bbox_inches="tight", facecolor="white")
        plt.close(source)
        buf.seek(0)
        image = Image.open(buf)
    else:
        image = Image.open(source)
    image.load()
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image).convert("RGB")
    image = image.convert("RGB")
    out = STATIC / name
    data = _encode(image)
    while len(data) > MAX_BYTES:
        for colours in (256, 128):
            data = _encode(image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
            if len(data) <= MAX_BYTES:
                break
        else:  # noise-dominated images do not compress: make them smaller
            image = image.resize((int(image.width * 0.9), int(image.height * 0.9)), Image.LANCZOS)
    out.write_bytes(data)
    print(f"  wrote {out.relative_to(ROOT)} ({image.width}x{image.height}, {len(data) / 1e3:.0f} kB)")


def _encode(image):
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _text(column):
    """A string column as plain str, masked entries (empty labels and flags read back) as ''."""
    if hasattr(column, "filled"):
        column = column.filled("")
    return np.asarray(column).astype(str)


def _stretch(data, lo=1, hi=99.7):
    from astropy.visualization import AsinhStretch, ImageNormalize

    finite = data[np.isfinite(data)]
    vmin, vmax = np.percentile(finite, [lo, hi])
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(0.1))


# --------------------------------------------------------------------------------------------------------
# LoTSS: the tutorial's classify run (docs/tutorials/lotss.rst, report.rst, index)
# --------------------------------------------------------------------------------------------------------
LOTSS = DATA / "lotss_dr1_hetdex"
LOTSS_MOSAIC = LOTSS / "P205+55-mosaic.fits"
LOTSS_CATALOG = LOTSS / "catalog_shimwell_reduced.srl.fits"


@functools.cache
def lotss_run():
    """The command of the LoTSS and report tutorials, run once; returns its output folder."""
    need(LOTSS_MOSAIC, LOTSS_CATALOG)
    out = WORK / "lotss"
    out.mkdir(exist_ok=True)
    cli("classify", LOTSS_MOSAIC, "--catalog", LOTSS_CATALOG, "--task", "B6", "-o", "lotss_b6.ecsv",
        "--regions", "lotss_b6.reg", "--gallery", "lotss_b6.png", "--report", "lotss_b6.html", cwd=out)
    return out


@figure("lotss_skymap.png", page="index, tutorials/lotss")
def lotss_skymap():
    """The LoTSS mosaic with every catalogue source on it, coloured by what classify did with it."""
    import matplotlib.pyplot as plt
    from astropy.table import Table

    import radioassist as ra

    out = lotss_run()
    table = Table.read(out / "lotss_b6.ecsv")
    image = ra.load_image(LOTSS_MOSAIC)
    x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
    ny, nx = image.data.shape
    on = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    flag = _text(table["B6_flag"])
    label = _text(table["B6_label"])
    fig = plt.figure(figsize=(7.2, 6.0), dpi=100)
    ax = fig.add_subplot(projection=image.wcs)
    ax.imshow(image.data, origin="lower", cmap="gray_r", norm=_stretch(image.data, 50, 99.9))
    partial = on & (flag == "partial")
    ax.scatter(x[partial], y[partial], s=60, facecolors="none", edgecolors="#7a8793", lw=1.2,
               label=f"partial: model's field runs off the mosaic ({partial.sum()})")
    for other, marker, colour in (("not_applicable", "s", "#2b8a3e"),):
        sel = on & (flag == other)
        if sel.any():
            ax.scatter(x[sel], y[sel], s=70, marker=marker, facecolors="none", edgecolors=colour, lw=1.4,
                       label=f"{other}: not an extended radio galaxy (B3 gate) ({sel.sum()})")
    for lab in ("FR-I", "FR-II"):
        sel = on & (flag == "") & (label == lab)
        ax.scatter(x[sel], y[sel], s=160, facecolors="none", edgecolors=LABEL_COLOURS[lab], lw=2.2,
                   label=f"{lab} ({sel.sum()})")
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.coords[0].set_axislabel("RA")
    ax.coords[1].set_axislabel("Dec")
    n_out = int((flag == "outside").sum())
    ax.set_title(f"LoTSS DR1 P205+55 (144 MHz), task B6: {on.sum()} of {len(table):,} catalogue rows on the "
                 f"image\n({n_out:,} flagged outside)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
    save_png(fig, "lotss_skymap.png")


@figure("lotss_gallery.png", page="tutorials/lotss")
def lotss_gallery():
    """Every catalogue row on the LoTSS mosaic, as the run left it: B6 label or flag, and the gate's P(extended)."""
    from astropy.table import Table

    import radioassist as ra
    from radioassist.gallery import make_gallery

    out = lotss_run()
    table = Table.read(out / "lotss_b6.ecsv")
    flag = _text(table["B6_flag"])
    rows = np.flatnonzero(flag != "outside")
    rows = rows[np.argsort(-np.nan_to_num(np.asarray(table["B6_gate_prob"], float)[rows], nan=-1))]
    catalog = ra.read_catalog(table[rows])
    stack = ra.extract_cutouts(ra.load_image(LOTSS_MOSAIC), catalog, size=180)  # 270" at 1.5"/px
    label = _text(table["B6_label"])[rows]
    gate = np.asarray(table["B6_gate_prob"], float)[rows]
    captions = [label[k] if label[k] else flag[rows][k] for k in range(len(rows))]
    titles = [f"P(ext) {g:.2f}" if np.isfinite(g) else "not gated" for g in gate]
    make_gallery(ra.render(stack, preset="radio-llava"), labels=captions, titles=titles, ncols=9, tile=112,
                 path=WORK / "lotss_gallery.png")
    save_png(WORK / "lotss_gallery.png", "lotss_gallery.png")


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise Skip(f"selenium is missing ({exc})")
    binary = os.environ.get("RADIOASSIST_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = os.environ.get("RADIOASSIST_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        raise Skip("no headless Chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--disable-dev-shm-usage", "--window-size=1280,900", "--force-device-scale-factor=1",
                 f"--user-data-dir={WORK / 'chromium'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _element_png(driver, css, name, *, last=None, max_height=900):
    """Screenshot from the top of element ``css`` to the bottom of ``last`` (or of itself)."""
    from PIL import Image

    element = driver.find_element("css selector", css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)
    time.sleep(0.5)
    shot = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
    top = driver.execute_script("return arguments[0].getBoundingClientRect().top;", element)
    end = driver.find_element("css selector", last) if last else element
    bottom = driver.execute_script("return arguments[0].getBoundingClientRect().bottom;", end)
    box = (0, max(0, int(top)), shot.width, min(shot.height, int(min(bottom, top + max_height))))
    buf = io.BytesIO()
    shot.crop(box).save(buf, format="PNG")
    buf.seek(0)
    save_png(buf, name)


@figure("report_table.png", "report_figures.png", page="quickstart, tutorials/report")
def report_screenshots():
    """Screenshots of the HTML report of the LoTSS run, in headless Chromium."""
    out = lotss_run()
    driver = _browser()
    try:
        driver.set_window_size(1280, 1400)
        driver.get((out / "lotss_b6.html").as_uri())
        time.sleep(2)
        _element_png(driver, "body", "report_table.png", max_height=1100)
        driver.set_window_size(1280, 1800)
        _element_png(driver, "#gallery", "report_figures.png", last="#figures", max_height=1700)
    finally:
        driver.quit()


# --------------------------------------------------------------------------------------------------------
# FIRST: the FR-I/FR-II walk (docs/tutorials/first_fr.rst, evaluate.rst)
# --------------------------------------------------------------------------------------------------------
FRDEEP = DATA / "frdeep_v2"
FIRST_CUTOUT = FRDEEP / "FIRST" / "3C_325_II.fits"
RGD = DATA / "first_rgd_png"


@functools.cache
def first_eval():
    """The FIRST tutorial's evaluate command (FR-DEEP held-out test split, task B6)."""
    need(FRDEEP / "frdeep_v2_manifest.csv")
    cli("evaluate", FRDEEP, "--task", "B6", "--manifest", "frdeep_v2_manifest.csv", "--file-column", "file_first",
        "--label-from-filename", r"_(I|II)\.fits$", "--label-map", "I=FR-I,II=FR-II", "-o", "eval-b6")
    return WORK / "eval-b6"


@functools.cache
def rgd_eval():
    """The B3 evaluate command (Radio Galaxy Dataset held-out test split)."""
    need(RGD / "labels.csv")
    cli("evaluate", RGD / "labels.csv", "--task", "B3", "--label-map", "Compact=NO,FRI=YES,FRII=YES,Bent=YES",
        "-o", "eval-b3")
    return WORK / "eval-b3"


@functools.cache
def first_catalogue_run():
    """Catalogue-free classify of one FIRST cutout: find the sources, label them (tutorials/first_fr)."""
    need(FIRST_CUTOUT)
    out = WORK / "first"
    out.mkdir(exist_ok=True)
    cli("classify", FIRST_CUTOUT, "--task", "B6", "-o", "3C_325_b6.ecsv", cwd=out)
    return out


@figure("first_components.png", page="tutorials/first_fr")
def first_components():
    """Radio sources found on a FIRST cutout, and the label classify gave each."""
    import matplotlib.pyplot as plt
    from astropy.stats import mad_std
    from astropy.table import Table

    import radioassist as ra
    from radioassist.detect import find_sources

    out = first_catalogue_run()
    table = Table.read(out / "3C_325_b6.ecsv")
    image = ra.load_image(FIRST_CUTOUT)
    found = find_sources(image)
    data = image.data
    rms = mad_std(data, ignore_nan=True)
    fig = plt.figure(figsize=(6.4, 5.6), dpi=100)
    ax = fig.add_subplot(projection=image.wcs)
    ax.imshow(data, origin="lower", cmap="gray_r", norm=_stretch(data, 5, 99.9))
    ax.contour(data, levels=[3 * rms], colors="#2b8a3e", linewidths=0.9)
    ax.plot(found["x"], found["y"], "+", color="#c92a2a", ms=12, mew=2)
    x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
    flags, labels = _text(table["B6_flag"]), _text(table["B6_label"])
    for k, (xi, yi) in enumerate(zip(x, y)):
        if flags[k]:
            text = flags[k]
        else:
            text = f"{labels[k]} {max(table['B6_prob_FR-I'][k], table['B6_prob_FR-II'][k]):.2f}"
        ax.annotate(text, (xi, yi), xytext=(8, 8 if k % 2 else -14), textcoords="offset points", fontsize=8.5,
                    color="#c92a2a", weight="bold")
    ax.coords[0].set_axislabel("RA")
    ax.coords[1].set_axislabel("Dec")
    ax.set_title(f"FIRST 1.4 GHz, 3C 325: {len(found)} radio sources above 5 sigma (+), 3 sigma contour,\n"
                 "label of `radioassist classify --task B6` without a catalogue", fontsize=9)
    save_png(fig, "first_components.png")


@functools.cache
def first_survey_run():
    """The FIRST tutorial's catalogue run: the 658 FR-DEEP cutouts as tiles, the manifest as catalogue."""
    need(FRDEEP / "frdeep_v2_manifest.csv")
    out = WORK / "first-survey"
    out.mkdir(exist_ok=True)
    tiles = sorted((FRDEEP / "FIRST").glob("*.fits"))
    cli("classify", *tiles, "--catalog", FRDEEP / "frdeep_v2_manifest.csv", "-t", "B6", "-o", "frdeep_b6.ecsv",
        cwd=out)
    return out


@figure("first_catalogue.png", page="tutorials/first_fr")
def first_catalogue():
    """The labelled FR-DEEP catalogue: where the sources are, and P(FR-II) against the catalogue's class."""
    import matplotlib.pyplot as plt
    from astropy.table import Table

    table = Table.read(first_survey_run() / "frdeep_b6.ecsv")
    label = _text(table["B6_label"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, gridspec_kw={"width_ratios": [1.5, 1]})
    for lab in ("FR-I", "FR-II"):
        sel = label == lab
        ax1.scatter(table["ra_deg"][sel], table["dec_deg"][sel], s=9, color=LABEL_COLOURS[lab],
                    label=f"{lab} ({sel.sum()})")
    flag = _text(table["B6_flag"])
    sel = flag == "not_applicable"
    ax1.scatter(table["ra_deg"][sel], table["dec_deg"][sel], s=14, marker="x", color="#495057",
                label=f"not_applicable, B3 gate ({sel.sum()})")
    ax1.set(xlabel="RA (deg)", ylabel="Dec (deg)", title=f"frdeep_b6.ecsv: {len(table)} FIRST sources, B6 labels")
    ax1.invert_xaxis()
    ax1.legend(fontsize=8, loc="lower left")
    bins = np.linspace(0, 1, 21)
    truth = _text(table["fr_label_from_filename"])
    for cls, colour in (("I", LABEL_COLOURS["FR-I"]), ("II", LABEL_COLOURS["FR-II"])):
        prob = np.asarray(table["B6_prob_FR-II"], float)
        sel = (truth == cls) & np.isfinite(prob)
        ax2.hist(prob[sel], bins=bins, color=colour, alpha=0.7, label=f"catalogue FR-{cls}, labelled ({sel.sum()})")
    ax2.set(xlabel="B6_prob_FR-II", ylabel="sources", title="train and test splits together: not a score")
    ax2.legend(fontsize=8, loc="upper center")
    save_png(fig, "first_catalogue.png")


@figure("first_report_table.png", "first_report_figures.png", page="tutorials/first_fr")
def first_report():
    """The FIRST catalogue run's HTML report (``radioassist report``), in headless Chromium."""
    out = first_survey_run()
    tiles = sorted((FRDEEP / "FIRST").glob("*.fits"))
    args = ["report", "frdeep_b6.ecsv"]
    for tile in tiles:
        args += ["--image", tile]
    cli(*args, "-o", "frdeep_b6.html", cwd=out)
    driver = _browser()
    try:
        driver.set_window_size(1280, 1400)
        driver.get((out / "frdeep_b6.html").as_uri())
        time.sleep(2)
        _element_png(driver, "body", "first_report_table.png", max_height=1100)
        driver.set_window_size(1280, 1800)
        _element_png(driver, "#gallery", "first_report_figures.png", last="#figures", max_height=1700)
    finally:
        driver.quit()


def _fits_tiles(files, preset="radio-llava"):
    import radioassist as ra

    return np.concatenate([ra.render(ra.load_image(f).data, preset=preset) for f in files])


@figure("first_gallery_b6.png", page="tutorials/first_fr")
def first_gallery():
    """The most confident correct FR-I and FR-II of the FR-DEEP test split, as the model saw them."""
    from astropy.table import Table

    from radioassist.gallery import make_gallery

    pred = Table.read(first_eval() / "predictions_B6.ecsv")
    conf = np.maximum(pred["prob_FR-I"], pred["prob_FR-II"])
    rows = []
    for lab in ("FR-I", "FR-II"):
        sel = np.flatnonzero((pred["true"] == lab) & pred["correct"])
        rows += list(sel[np.argsort(-conf[sel])][:5])
    tiles = _fits_tiles([pred["file"][i] for i in rows])
    make_gallery(tiles, labels=[pred["predicted"][i] for i in rows], probabilities=conf[rows],
                 titles=[Path(pred["file"][i]).stem for i in rows], ncols=5, tile=150,
                 path=WORK / "first_gallery_b6.png")
    save_png(WORK / "first_gallery_b6.png", "first_gallery_b6.png")


@figure("first_failures_b6.png", page="tutorials/first_fr")
def first_failures():
    """Every wrong answer on the FR-DEEP test split, the most confident first (true label in the title)."""
    from astropy.table import Table

    from radioassist.gallery import make_gallery

    pred = Table.read(first_eval() / "predictions_B6.ecsv")
    conf = np.maximum(pred["prob_FR-I"], pred["prob_FR-II"])
    wrong = np.flatnonzero(~np.asarray(pred["correct"], bool))
    wrong = wrong[np.argsort(-conf[wrong])][:10]
    tiles = _fits_tiles([pred["file"][i] for i in wrong])
    make_gallery(tiles, labels=[pred["predicted"][i] for i in wrong], probabilities=conf[wrong],
                 titles=[f"true {pred['true'][i]}: {Path(pred['file'][i]).stem}" for i in wrong], ncols=5,
                 tile=150, path=WORK / "first_failures_b6.png")
    save_png(WORK / "first_failures_b6.png", "first_failures_b6.png")


@figure("first_reliability_b6.png", page="tutorials/first_fr, tutorials/evaluate")
def first_reliability():
    """The reliability diagram that evaluate wrote for the shipped B6 model."""
    save_png(first_eval() / "reliability_vision_B6.png", "first_reliability_b6.png")


@figure("evaluate_confusion_b6.png", page="tutorials/evaluate, tutorials/first_fr")
def evaluate_confusion():
    """The confusion matrix that evaluate wrote for the shipped B6 model."""
    save_png(first_eval() / "confusion_vision_B6.png", "evaluate_confusion_b6.png")


@figure("evaluate_macro_f1.png", page="tutorials/evaluate")
def evaluate_macro_f1():
    """Macro F1 of the two shipped models on their held-out test splits (B6: FR-DEEP, B3: RGD)."""
    import matplotlib.pyplot as plt
    from astropy.table import Table, vstack

    from radioassist.plotting import plot_metric_comparison

    summary = vstack([Table.read(first_eval() / "summary.ecsv"), Table.read(rgd_eval() / "summary.ecsv")],
                     metadata_conflicts="silent")
    fig, ax = plt.subplots(figsize=(5.6, 4.0), dpi=100)
    plot_metric_comparison(summary, ax=ax, title="shipped models, held-out test splits; 95% bootstrap interval")
    save_png(fig, "evaluate_macro_f1.png")


# --------------------------------------------------------------------------------------------------------
# Other pages
# --------------------------------------------------------------------------------------------------------
@figure("demo_gallery.png", page="README")
def demo_gallery():
    """``radioassist demo``: a simulated sky classified with the shipped FR-I/FR-II model."""
    cli("demo", "-o", WORK / "demo")
    pngs = sorted((WORK / "demo").glob("*.png"))
    if not pngs:
        raise Skip("radioassist demo wrote no PNG")
    save_png(pngs[0], "demo_gallery.png")


@figure("survey_tiles.png", page="tutorials/survey")
def survey_tiles():
    """Two LoTSS tiles and the survey catalogue: which tile classified which row."""
    import matplotlib.pyplot as plt
    from astropy.table import Table

    import radioassist as ra

    tiles = [LOTSS / "P205+55-mosaic.fits", LOTSS / "P218+55-mosaic.fits"]
    need(*tiles, LOTSS_CATALOG)
    out = WORK / "survey"
    out.mkdir(exist_ok=True)
    cli("classify", *tiles, "--catalog", LOTSS_CATALOG, "-t", "B3", "-o", "survey_b3.ecsv", cwd=out)
    table = Table.read(out / "survey_b3.ecsv")
    sky = ra.read_catalog(table)["skycoord"]
    fig = plt.figure(figsize=(9.6, 4.6), dpi=100)
    for k, tile in enumerate(tiles):
        image = ra.load_image(tile)
        ax = fig.add_subplot(1, 2, k + 1, projection=image.wcs)
        ax.imshow(image.data, origin="lower", cmap="gray_r", norm=_stretch(image.data, 50, 99.9))
        mine = np.array([Path(t).name == tile.name for t in _text(table["B3_tile"])])
        x, y = image.wcs.world_to_pixel(sky[mine])
        sub = table[mine]
        for lab in ("YES", "NO"):
            sel = (_text(sub["B3_flag"]) == "") & (_text(sub["B3_label"]) == lab)
            ax.scatter(x[sel], y[sel], s=140, facecolors="none", edgecolors=LABEL_COLOURS[lab], lw=2,
                       label=f"B3 {lab} ({sel.sum()})")
        flagged = _text(sub["B3_flag"]) != ""
        ax.scatter(x[flagged], y[flagged], s=40, marker="x", color="#e8590c", lw=1.2,
                   label=f"flagged ({flagged.sum()})")
        ny, nx = image.data.shape
        ax.set_xlim(-0.5, nx - 0.5)
        ax.set_ylim(-0.5, ny - 0.5)
        ax.coords[0].set_axislabel("RA")
        ax.coords[1].set_axislabel("Dec" if k == 0 else " ")
        ax.set_title(f"{tile.name}: {len(sub)} rows assigned", fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)
    n_none = int((_text(table["B3_flag"]) == "no_tile").sum())
    fig.suptitle(f"One catalogue ({len(table):,} rows), two tiles: {n_none:,} rows lie in no tile (no_tile)",
                 fontsize=10)
    save_png(fig, "survey_tiles.png")


@figure("python_gallery.png", page="tutorials/python")
def python_gallery():
    """The Python tutorial's simulated sky, classified (task B3) and drawn with make_gallery."""
    import radioassist as ra
    from radioassist.gallery import make_gallery

    sky = ra.simulate_sky(shape=(768, 768), n_sources=30, seed=2)
    catalog = ra.read_catalog(sky.catalog)
    table = ra.classify(sky.image, catalog, task="B3")
    ok = np.flatnonzero(_text(table["B3_flag"]) == "")[:16]
    stack = ra.extract_cutouts(sky.image, catalog[ok], size=150)
    probs = np.maximum(table["B3_prob_YES"][ok], table["B3_prob_NO"][ok])
    make_gallery(ra.render(stack, preset="radio-llava"), labels=list(table["B3_label"][ok]),
                 probabilities=np.asarray(probs), ncols=8, tile=110, path=WORK / "python_gallery.png")
    save_png(WORK / "python_gallery.png", "python_gallery.png")


@figure("vllm_inputs.png", page="tutorials/vllm")
def vllm_inputs():
    """The images the openai backend sends (radio-llava preset, PNG) for four FIRST sources, with the prompt."""
    import matplotlib.pyplot as plt

    import radioassist as ra
    from radioassist.prompts import build_prompt

    files = sorted((FRDEEP / "FIRST").glob("*_II.fits"))[:2] + sorted((FRDEEP / "FIRST").glob("*_I.fits"))[:2]
    if not files:
        raise Skip(f"{FRDEEP / 'FIRST'} has no FITS cutouts")
    tiles = _fits_tiles(files)
    prompt = build_prompt(ra.get_task("B6"), version="v2")
    fig, axes = plt.subplots(1, 4, figsize=(9.6, 3.6), dpi=100)
    for ax, tile, f in zip(axes, tiles, files):
        ax.imshow(tile)
        ax.set_title(f.stem, fontsize=8)
        ax.set_axis_off()
    import textwrap

    fig.text(0.5, -0.02, "\n".join(textwrap.wrap("Prompt sent with each image (B6, v2): " + " ".join(prompt.split()),
                                                 140)[:5]),
             ha="center", va="top", fontsize=7.5, family="monospace")
    save_png(fig, "vllm_inputs.png")


@functools.cache
def tiny_forgetting_run():
    """The forgetting tutorial's CPU plumbing run with a tiny random LLaVA-OneVision."""
    from radioassist.backends.tiny import make_tiny_llava_onevision

    out = WORK / "forgetting"
    out.mkdir(exist_ok=True)
    cli("simulate", "-o", "sky.fits", "--truth", "truth.ecsv", "--n-sources", "400", cwd=out)
    cli("make-dataset", "sky.fits", "--catalog", "truth.ecsv", "-t", "B3", "-o", "b3-data", "--size", "96", cwd=out)
    make_tiny_llava_onevision(out / "tiny")
    cli("finetune", "b3-data", "-m", "tiny", "-o", "tiny-lora", "--max-steps", "20", "--batch-size", "4",
        "--lr", "3e-3", cwd=out)
    cli("evaluate-general", "synthetic-general", "--limit", "60", "-m", "llava=tiny,name=base",
        "-m", "llava=tiny,adapter=tiny-lora,name=lora", "-o", "tiny-general", cwd=out)
    return out


@figure("forgetting_tiny.png", page="tutorials/forgetting")
def forgetting_tiny():
    """general_scores.png of the tiny model's run (random answers: plumbing only, not a result)."""
    save_png(tiny_forgetting_run() / "tiny-general" / "general_scores.png", "forgetting_tiny.png")


@figure("finetune_dataset.png", page="tutorials/finetune")
def finetune_dataset():
    """Images and answers that make-dataset wrote for fine-tuning (task B3, simulated sky)."""
    import json

    from PIL import Image

    from radioassist.gallery import make_gallery

    data = tiny_forgetting_run() / "b3-data"
    lists = sorted(data.glob("datalist_B3_*.json"))
    if not lists:
        raise Skip(f"no datalist in {data}")
    items = json.loads(lists[0].read_text())["data"][:16]
    tiles = np.stack([np.asarray(Image.open(data / it["filepaths"][0] if not Path(it["filepaths"][0]).is_absolute()
                                            else it["filepaths"][0]).convert("RGB").resize((96, 96)))
                      for it in items])
    labels = [it["label"] if isinstance(it["label"], str) else str(it["label"]) for it in items]
    make_gallery(tiles, labels=labels, ncols=8, tile=96, path=WORK / "finetune_dataset.png")
    save_png(WORK / "finetune_dataset.png", "finetune_dataset.png")


@figure("train_history.png", page="tutorials/train")
def train_history():
    """The train tutorial's command on FR-DEEP (a short run): validation macro F1 and loss per epoch."""
    import json

    import matplotlib.pyplot as plt

    need(FRDEEP / "frdeep_v2_manifest.csv")
    out = WORK / "train"
    out.mkdir(exist_ok=True)
    cli("train", FRDEEP, "--task", "B6", "--manifest", "frdeep_v2_manifest.csv", "--label-from-filename",
        r"_(I|II)\.fits$", "--label-map", "I=FR-I,II=FR-II", "--survey", "FIRST", "--frequency", "1400",
        "-o", "my-b6-model", cwd=out)
    log = json.loads((out / "my-b6-model" / "training_log.json").read_text())
    history = log["history"]
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=100)
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", color="#7a8793", label="training loss")
    if "val_loss" in history[0]:
        ax.plot(epochs, [h["val_loss"] for h in history], "s-", color="#4aa3df", label="validation loss")
    ax2 = ax.twinx()
    key = next(k for k in ("val_macro_f1", "macro_f1") if k in history[0])
    ax2.plot(epochs, [h[key] for h in history], "D-", color="#d6336c", label="validation macro F1")
    ax2.set_ylim(0, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2.set_ylabel("macro F1")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="center right")
    test = (log.get("test") or {}).get("macro_f1")
    ax.set_title(f"radioassist train on FR-DEEP (task B6): best epoch {log['summary'].get('best_epoch', '?')}"
                 + (f", held-out test macro F1 {test:.3f}" if test is not None else ""), fontsize=10)
    save_png(fig, "train_history.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="figure functions to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the figures and their pages")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, outputs, page) in FIGURES.items():
            print(f"{name:22s} {', '.join(outputs):48s} {page}")
        return 0
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    import matplotlib

    matplotlib.use("agg")
    global WORK
    WORK = Path(tempfile.mkdtemp(prefix="radioassist-figures-"))
    failed = []
    try:
        for name in args.names or list(FIGURES):
            print(f"{name}:")
            try:
                FIGURES[name][0]()
            except Skip as why:
                print(f"  skipped: {why}")
            except Exception:
                traceback.print_exc()
                failed.append(name)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
