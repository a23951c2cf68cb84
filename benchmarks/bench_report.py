#!/usr/bin/env python
"""Benchmark: size and browser load time of the HTML report at 20,000 sources.

In one run:

* simulates a mosaic with --n sources (radioassist.simulate_sky; cached in
  --workdir so that reruns skip it) and labels them: with --classify the
  shipped B6 model classifies them (radioassist.classify), otherwise labels
  and probabilities are drawn at random (the report does not care where they
  come from; this is much quicker on a small CPU);
* writes the report with embedded thumbnails (radioassist.write_report) and
  times it;
* writes the baseline a naive generator would produce: one static HTML
  <table> with every row and one <img> data URI per thumbnail (the same JPEG
  pixels, no paging, no sprite sheets);
* opens both, --repeats times each (interleaved), in headless Chromium driven
  by selenium, and reports the median time to DOMContentLoaded, to the load
  event and (for the report) to the first table render, plus the time of a
  re-sort and of a label filter on all rows; ratios report / baseline.

Examples::

    python benchmarks/bench_report.py                  # 20,000 sources, random labels
    python benchmarks/bench_report.py --classify       # labels from the shipped model
    python benchmarks/bench_report.py --n 2000         # a quick run
"""
import argparse
import base64
import html
import io
import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000")


def labelled_table(args, work):
    import radioassist as ra
    from radioassist.output import write_table

    mosaic = work / f"sim_{args.n}.fits"
    catalog = work / f"sim_{args.n}.ecsv"
    if not mosaic.exists() or not catalog.exists():
        t = time.perf_counter()
        side = int(max(1024, 29 * np.sqrt(args.n)))  # about 840 px^2 per source
        sky = ra.simulate_sky(shape=(side, side), n_sources=args.n, seed=1, output=mosaic, overwrite=True)
        sky.catalog.meta.clear()
        sky.catalog.write(catalog, overwrite=True)
        print(f"simulated a {side}x{side} mosaic with {args.n} sources in {time.perf_counter() - t:.1f} s")
    if args.classify:
        t = time.perf_counter()
        table = ra.classify(str(mosaic), str(catalog), task="B6")
        print(f"classified {len(table)} sources with the shipped model in {time.perf_counter() - t:.1f} s")
    else:
        # the provenance of a real run (the shipped model), with random labels
        small = ra.classify(str(mosaic), ra.read_catalog(str(catalog))[:8], task="B6")
        table = ra.read_catalog(str(catalog))
        rng = np.random.default_rng(0)
        p1 = rng.beta(0.6, 0.6, len(table)).astype(np.float32)
        table["B6_label"] = np.where(p1 >= 0.5, "FR-I", "FR-II")
        table["B6_prob_FR-I"] = p1
        table["B6_prob_FR-II"] = 1 - p1
        table["B6_flag"] = ""
        table.meta["radioassist"] = dict(small.meta["radioassist"], n_sources=len(table), n_unclassified=0,
                                         catalog=str(catalog))
    path = work / "labels.ecsv"
    write_table(table, path, overwrite=True)
    return table, mosaic, path


def naive_baseline(report, out):
    """The same rows as one static table, a thumbnail <img> per row (no paging, no sprites)."""
    from PIL import Image

    page = report.read_text(encoding="utf-8")

    def data(element_id):
        m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
        return json.loads(m.group(1))

    meta, rows, sheets = data("ra-meta"), data("ra-rows"), data("ra-sheets")
    cols, thumb, side = meta["columns"], meta["thumb"], meta["sheet_side"]
    decoded = [Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))) for s in sheets]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
             "<title>baseline</title></head><body><table><thead><tr><th>thumbnail</th>"
             + "".join(f"<th>{c}</th>" for c in cols[:13]) + "</tr></thead><tbody>"]
    for r in sorted(rows, key=lambda r: r[0]):
        cell = ""
        if r[13] >= 0:
            y, x = divmod(r[14], side)
            buf = io.BytesIO()
            decoded[r[13]].crop((x * thumb, y * thumb, (x + 1) * thumb, (y + 1) * thumb)).save(buf, "JPEG",
                                                                                                quality=80)
            cell = f"<img alt='' src='data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}'>"
        parts.append(f"<tr><td>{cell}</td>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r[:13])
                     + "</tr>")
    parts.append("</tbody></table><script>window.raReady = true;</script></body></html>")
    out.write_text("".join(parts), encoding="utf-8")
    return out


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next(p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="bench-report-chromium-")
    for flag in CHROME_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(600)
    return driver, profile


def load(driver, path, *, interact):
    driver.get("about:blank")
    t = time.perf_counter()
    driver.get(path.resolve().as_uri())
    wall = time.perf_counter() - t
    timing = driver.execute_script(
        "var t = performance.timing, m = performance.getEntriesByName('ra-table-rendered');"
        "return {dcl: t.domContentLoadedEventEnd - t.navigationStart, load: t.loadEventEnd - t.navigationStart,"
        " table: m.length ? m[0].startTime : null};")
    timing["wall"] = wall * 1000
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    timing["errors"] = len(errors)
    if interact:
        heads = driver.find_elements("css selector", "#src-head th")
        next(h for h in heads if h.text.strip() == "name").click()
        timing["sort"] = driver.execute_script("return window.raLastRefreshMs")
        from selenium.webdriver.support.ui import Select
        Select(driver.find_element("id", "f-label")).select_by_value("FR-I")
        timing["filter"] = driver.execute_script("return window.raLastRefreshMs")
        timing["rows"] = driver.execute_script("return window.raRowCount")
    return timing


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="number of sources (default 20000)")
    parser.add_argument("--classify", action="store_true", help="label with the shipped model (slow on CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="browser loads of each page (default 3)")
    parser.add_argument("--workdir", default=None, help="folder for the simulated mosaic (kept between runs)")
    args = parser.parse_args()

    import radioassist as ra

    work = Path(args.workdir or Path(tempfile.gettempdir()) / "radioassist-bench-report")
    work.mkdir(parents=True, exist_ok=True)
    table, mosaic, labels = labelled_table(args, work)

    report = work / "report.html"
    t = time.perf_counter()
    ra.write_report(labels, str(mosaic), report, overwrite=True)
    t_write = time.perf_counter() - t
    baseline = naive_baseline(report, work / "baseline.html")
    size, base_size = report.stat().st_size, baseline.stat().st_size
    print(f"report of {len(table)} sources written in {t_write:.1f} s (cut, render and pack every thumbnail)")

    driver, profile = browser()
    try:
        ours, base = [], []
        for _ in range(args.repeats):
            ours.append(load(driver, report, interact=True))
            base.append(load(driver, baseline, interact=False))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

    def med(runs, key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(vals) if vals else float("nan")

    print(f"\n{'':28s} {'report':>12s} {'naive table':>12s} {'ratio':>8s}")
    print(f"{'file size (MB)':28s} {size / 1e6:12.1f} {base_size / 1e6:12.1f} {size / base_size:8.2f}")
    for key, name in (("dcl", "DOMContentLoaded (ms)"), ("load", "load event (ms)"), ("wall", "driver.get (ms)")):
        a, b = med(ours, key), med(base, key)
        print(f"{name:28s} {a:12.0f} {b:12.0f} {a / b:8.2f}")
    print(f"{'first table render (ms)':28s} {med(ours, 'table'):12.0f}")
    print(f"{'re-sort all rows (ms)':28s} {med(ours, 'sort'):12.0f}")
    print(f"{'label filter (ms)':28s} {med(ours, 'filter'):12.0f}")
    print(f"rows in the report: {ours[0]['rows']}; console errors: {max(r['errors'] for r in ours)}")
    print(f"(median of {args.repeats} loads; files in {work})")


if __name__ == "__main__":
    main()
