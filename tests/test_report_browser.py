"""The HTML report opened in a real headless Chromium (selenium + the distribution's chromedriver).

Needs ``chromium`` and ``chromium-driver`` (Debian; ``.ci/run`` installs them
when missing) and selenium (the ``test`` extra); the ``browser`` fixture is in
``conftest.py``.  Set ``RADIOASSIST_CHROMIUM`` / ``RADIOASSIST_CHROMEDRIVER``
to use other binaries.  Without a browser the tests are skipped with the reason.
"""
import re

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

import radioassist as ra
from radioassist.cli import main
from radioassist.report import write_report

def _open(driver, path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop messages of an earlier page
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return window.raReady === true"))
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors


def _column(driver, title):
    """Text of the cells of column ``title`` on the current page."""
    heads = [th.text.strip() for th in driver.find_elements("css selector", "#src-head th")]
    k = heads.index(title) + 1
    return [td.text for td in driver.find_elements("css selector", f"#src-body tr td:nth-child({k})")]


def _click_header(driver, title):
    for th in driver.find_elements("css selector", "#src-head th"):
        if th.text.strip() == title:
            th.click()
            return
    raise AssertionError(f"no column {title}")


def _select(driver, element_id, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _assert_not_blank(path):
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert img.shape[0] >= 500 and img.shape[1] >= 1000
    assert img.std() > 20  # not one flat colour
    assert len(np.unique(img.reshape(-1, 3)[::7], axis=0)) > 50  # text, thumbnails and colours drawn


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    mosaic = folder / "sim.fits"
    sky = ra.simulate_sky(shape=(384, 384), n_sources=40, seed=11, output=mosaic)
    table = ra.classify(str(mosaic), sky.catalog, task="B6")
    table.meta = {k: v for k, v in table.meta.items() if k.startswith("radioassist")}
    path = write_report(table, str(mosaic), folder / "sim.html", truth_column="B6_true")
    return path, table


def test_sort_filter_search_in_chromium(browser, sim_report, tmp_path):
    path, table = sim_report
    _open(browser, path)
    n = len(table)
    n_ok = int(np.sum(np.asarray(table["B6_flag"], dtype=str) == ""))
    # the page opens on the classified rows; the others (partial, not_applicable...) are one filter away
    assert 0 < n_ok < n and browser.find_element("id", "count").text == f"{n_ok} of {n} sources"
    assert len(browser.find_elements("css selector", "#src-body tr")) == n_ok
    _select(browser, "f-flag", "")
    assert len(browser.find_elements("css selector", "#src-body tr")) == n  # one row per source
    assert browser.find_element("id", "count").text == f"{n} of {n} sources"
    # default order: disagreements with the truth first, then the least confident
    truth, pred = np.asarray(table["B6_true"], dtype=str), np.asarray(table["B6_label"], dtype=str)
    n_dis = int(np.sum((truth != "") & (pred != "") & (truth != pred)))  # rows set aside are not disagreements
    shown = browser.find_elements("css selector", "#src-body tr")
    assert sum("disagree" in (tr.get_attribute("class") or "") for tr in shown[:n_dis]) == n_dis
    # clicking a header re-sorts; clicking it again reverses
    _click_header(browser, "confidence")
    cells = _column(browser, "confidence")
    conf = [float(x) for x in cells if x]  # rows set aside (e.g. partial) have no confidence
    assert conf == sorted(conf) and conf[0] < conf[-1]
    blanks = [i for i, x in enumerate(cells) if not x]
    assert blanks in (list(range(len(blanks))), list(range(len(cells) - len(blanks), len(cells))))
    _click_header(browser, "confidence")
    assert [float(x) for x in _column(browser, "confidence") if x] == sorted(conf, reverse=True)
    _click_header(browser, "name")
    names = _column(browser, "name")
    assert names == sorted(table["name"])
    # the label filter hides the rows of the other label
    _select(browser, "f-label", "FR-I")
    labels = _column(browser, "label")
    assert set(labels) == {"FR-I"} and len(labels) == int(np.sum(pred == "FR-I")) < n
    assert browser.find_element("id", "count").text == f"{len(labels)} of {n} sources"
    _select(browser, "f-label", "")
    # searching by name
    box = browser.find_element("id", "f-name")
    box.send_keys("SIM-0001")
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements("css selector", "#src-body tr")) < n)
    assert all(x.startswith("SIM-0001") for x in _column(browser, "name"))
    # thumbnails are drawn from the embedded sprite sheets
    assert browser.execute_script(
        "var e = document.querySelector('#src-body .th'); return getComputedStyle(e).backgroundImage"
    ).startswith('url("data:image/jpeg;base64,')
    shot = tmp_path / "sim.png"
    assert browser.save_screenshot(str(shot))
    _assert_not_blank(shot)


def test_lotss_classify_report_in_chromium(browser, shared_data, tmp_path):
    """The issue's acceptance run: classify the LoTSS mosaic with its catalogue and --report."""
    lotss = shared_data / "lotss_dr1_hetdex"
    out, report = tmp_path / "lotss.ecsv", tmp_path / "lotss.html"
    res = CliRunner().invoke(main, ["classify", str(lotss / "P205+55-mosaic.fits"), "-c",
                                    str(lotss / "catalog_shimwell_reduced.srl.fits"), "-o", str(out),
                                    "--report", str(report)])
    assert res.exit_code == 0, res.output
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)  # nothing to fetch: opens offline
    table = Table.read(out)
    flags = np.asarray(table["B6_flag"].filled("") if hasattr(table["B6_flag"], "filled") else table["B6_flag"],
                       dtype=str)
    n, n_ok = len(table), int(np.sum(flags == ""))
    _open(browser, report)
    assert browser.execute_script("return window.raRowCount") == n
    # it opens on the classified rows: the 12,066 rows off the mosaic are one filter away
    assert browser.find_element("id", "count").text == f"{n_ok} of {n} sources"
    _select(browser, "f-flag", "")
    assert browser.find_element("id", "count").text == f"{n} of {n} sources"
    assert len(browser.find_elements("css selector", "#src-body tr")) == 100  # first page
    # the most uncertain classified source comes first
    probs = np.vstack([np.asarray(table["B6_prob_FR-I"], float), np.asarray(table["B6_prob_FR-II"], float)]).T
    top = probs[flags == ""].max(axis=1)
    assert float(_column(browser, "confidence")[0]) == pytest.approx(top.min(), abs=6e-4)
    # the flag filter keeps the classified rows only, each with a thumbnail
    _select(browser, "f-flag", "=ok")
    rows = browser.find_elements("css selector", "#src-body tr")
    assert len(rows) == min(n_ok, 100) and browser.find_element("id", "count").text == f"{n_ok} of {n} sources"
    assert len(browser.find_elements("css selector", "#src-body .th:not(.none)")) == len(rows)
    label = str(np.asarray(table["B6_label"], dtype=str)[flags == ""][0])
    _select(browser, "f-label", label)
    assert set(_column(browser, "label")) == {label}
    shot = tmp_path / "lotss.png"
    assert browser.save_screenshot(str(shot))
    _assert_not_blank(shot)


# ------------------------------------------------------------------------------------------------
# every image family of ../shared/data through every output, with and without a catalogue
# ------------------------------------------------------------------------------------------------

def _centre_catalogue(folder, manifest, file_column, name, tmp_path):
    """A one-row catalogue of a FIRST cutout's own target (the sample's manifest position)."""
    table = Table.read(folder / manifest)
    row = table[[str(f).endswith(name) for f in table[file_column]]][0]
    path = tmp_path / f"{name}.csv"
    Table({"name": [name], "ra": [row["ra_deg"]], "dec": [row["dec_deg"]]}).write(path, format="ascii.csv")
    return path


FAMILIES = [
    # (id, image under ../shared/data, catalogue: None / 'survey' / (manifest, file column))
    ("first-frdeep-fk5", "frdeep_v2/FIRST/1408+0050_II.fits", ("frdeep_v2_manifest.csv", "file_first")),
    ("first-frdeep-fk5-no-catalogue", "frdeep_v2/FIRST/1408+0050_II.fits", None),
    ("first-mirabest-fk5", "mirabest_first/FITS/100_120.256+013.831_0.1087_0103.53.fits",
     ("manifest.csv", "file")),
    ("first-mirabest-fk5-no-catalogue", "mirabest_first/FITS/100_120.256+013.831_0.1087_0103.53.fits", None),
    ("lotss-survey-catalogue", "lotss_dr1_hetdex/P205+55-mosaic.fits", "survey"),
    ("lotss-float64-survey-catalogue", "lotss_dr1_hetdex/P205+55-cutout600.fits", "survey"),
    ("lotss-no-catalogue", "lotss_dr1_hetdex/P218+55-mosaic.fits", None),
    ("ami-4d-freq", "pyse_ami_lofar/GRB120422A-120429.fits", None),
    ("ami-4d-stokes", "pyse_ami_lofar/SWIFT_554620-130504.fits", None),
    ("lofar-crpix-far-outside", "pyse_ami_lofar/GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits", None),
    ("first-33px-crpix-outside", "astroquery_first_magpis/first_J105007+304037.fits", None),
    ("magpis-galactic", "astroquery_first_magpis/magpis_G10.5+0.0.fits", None),
    ("atca-ncp-stray-axes", "scorpio_atca/ScorpioS17Field.fits", None),
]


@pytest.mark.parametrize(("image", "catalogue"), [f[1:] for f in FAMILIES], ids=[f[0] for f in FAMILIES])
def test_every_image_family_through_every_output(browser, shared_data, tmp_path, image, catalogue):
    """classify --report --regions --gallery, then report: exits 0, frames handled where positions enter.

    FIRST headers are FK5 (equinox J2000), MAGPIS Galactic, the ATCA field NCP with stray axes, the AMI
    images 4-D; catalogues are ICRS.  The report's sky map, thumbnails and table open without a console error.
    """
    import warnings

    path = shared_data / image
    args = ["classify", str(path), "-o", str(tmp_path / "out.ecsv"), "--report", str(tmp_path / "run.html"),
            "--regions", str(tmp_path / "run.reg"), "--gallery", str(tmp_path / "run.png")]
    if catalogue == "survey":
        args += ["-c", str(shared_data / "lotss_dr1_hetdex" / "catalog_shimwell_reduced.srl.fits")]
    elif catalogue is not None:
        manifest, column = catalogue
        args += ["-c", str(_centre_catalogue(path.parents[1], manifest,
                                             column, path.name, tmp_path))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # domain warnings: LoTSS, AMI, ATCA are not FIRST
        res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "<Table>" not in res.output
    table = Table.read(tmp_path / "out.ecsv")
    flags = np.asarray(table["B6_flag"].filled("") if hasattr(table["B6_flag"], "filled") else table["B6_flag"],
                       dtype=str)
    n_ok = int(np.sum(flags == ""))
    # outputs sized to what was looked at: one region per labelled source, the gallery only when one was
    assert (tmp_path / "run.reg").read_text().count("circle(") == n_ok
    assert (tmp_path / "run.png").exists() == (n_ok > 0)
    # each output announced once
    for name in ("out.ecsv", "run.reg", "run.html"):
        assert res.output.count(name) == 1, (name, res.output)
    # the report of this run, and the one 'radioassist report' makes afterwards, open cleanly
    again = CliRunner().invoke(main, ["report", str(tmp_path / "out.ecsv"), "--image", str(path), "-o",
                                      str(tmp_path / "again.html")])
    assert again.exit_code == 0, again.output
    for report in ("run.html", "again.html"):
        _open(browser, tmp_path / report)
        assert browser.execute_script("return window.raRowCount") == len(table)
        assert browser.find_elements("css selector", "svg.skymap polygon")  # the image footprint is drawn
        if n_ok:
            assert browser.find_element("id", "count").text == f"{n_ok} of {len(table)} sources"
