"""The HTML report: its content (provenance, one row per source, order, thumbnails) and its errors.

The page's behaviour in a real browser is tested in ``test_report_browser.py``.
"""
import base64
import io
import json
import re

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner
from PIL import Image

import radioassist as ra
from radioassist.cli import main
from radioassist.cutouts import extract_cutouts
from radioassist.render import render
from radioassist.report import write_report


def _json(page, element_id):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m, f"no {element_id} in the page"
    return json.loads(m.group(1))


def _read(path):
    page = path.read_text(encoding="utf-8")
    meta = _json(page, "ra-meta")
    rows = [dict(zip(meta["columns"], r)) for r in _json(page, "ra-rows")]
    return page, meta, rows, _json(page, "ra-sheets")


def _slot_image(sheet_uri, slot, thumb, side=10):
    data = base64.b64decode(sheet_uri.split(",", 1)[1])
    sheet = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)
    y, x = divmod(slot, side)
    return sheet[y * thumb:(y + 1) * thumb, x * thumb:(x + 1) * thumb]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small simulated mosaic classified by the shipped B6 model (a real run, 30 sources)."""
    folder = tmp_path_factory.mktemp("report")
    mosaic = folder / "sim.fits"
    sky = ra.simulate_sky(shape=(384, 384), n_sources=30, seed=7, output=mosaic)
    # min_coverage=0: every simulated source, edge ones included, is classified (coverage has its own tests)
    # gate=False: every row labelled (the report of a gated run: test_gate.py)
    table = ra.classify(str(mosaic), sky.catalog, task="B6", min_coverage=0.0, gate=False)
    # keep the run's provenance only (the simulation parameters make FITS HIERARCH warnings)
    table.meta = {k: v for k, v in table.meta.items() if k.startswith("radioassist")}
    return folder, mosaic, table


def test_rows_header_and_order(run, tmp_path):
    folder, mosaic, table = run
    out = write_report(table, str(mosaic), tmp_path / "run.html")
    page, meta, rows, sheets = _read(out)
    prov = table.meta["radioassist"]
    # one row per source, names from the catalogue
    assert len(rows) == len(table) == 30
    assert sorted(r["name"] for r in rows) == sorted(table["name"])
    # the header shows the run's provenance and counts
    for text in ("sim.fits", "B6", "FR-I, FR-II", prov["model_sha256"][:16],
                 prov["render_preset"], f"{prov['cutout_size']} px", prov["radioassist_version"]):
        assert text in page, text
    n_fr2 = int(np.sum(table["B6_label"] == "FR-II"))
    assert f"FR-II: {n_fr2}</span>" in page
    # the default order (rank 1 first) is the least confident first
    by_rank = sorted(rows, key=lambda r: r["rank"])
    conf = [r["confidence"] for r in by_rank]
    assert conf == sorted(conf)
    top = np.max([table["B6_prob_FR-I"], table["B6_prob_FR-II"]], axis=0)
    assert by_rank[0]["confidence"] == pytest.approx(top.min(), abs=1e-4)
    # each row carries its probabilities, position in degrees and sexagesimal
    row = next(r for r in rows if r["name"] == table["name"][0])
    assert row["probs"] == pytest.approx([table["B6_prob_FR-I"][0], table["B6_prob_FR-II"][0]], abs=1e-4)
    assert row["ra"] == pytest.approx(table["ra"][0], abs=1e-6)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d", row["ra_hms"]) and row["dec_dms"][0] in "+-"
    # nothing is loaded from the network
    assert not re.search(r"https?://", page)
    # a gallery strip for each predicted label, a histogram per class, a sky map
    assert set(meta["gallery"]) == set(table["B6_label"])
    assert page.count('class="hist"') == 2 and 'class="skymap"' in page


def test_thumbnails_show_what_the_model_saw(run, tmp_path):
    folder, mosaic, table = run
    out = write_report(table, str(mosaic), tmp_path / "run.html", thumbnail_size=48)
    _, meta, rows, sheets = _read(out)
    assert meta["thumb"] == 48
    assert all(r["sheet"] >= 0 for r in rows)  # every source lies inside this mosaic
    prov = table.meta["radioassist"]
    for i in (0, 11):
        row = next(r for r in rows if r["name"] == table["name"][i])
        stack = extract_cutouts(str(mosaic), table["skycoord"][i:i + 1], size=int(prov["cutout_size"]))
        expected = Image.fromarray(render(stack.data, preset=prov["render_preset"])[0]).convert("L")
        expected = np.asarray(expected.resize((48, 48), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=float)
        got = _slot_image(sheets[row["sheet"]], row["slot"], 48)
        assert np.mean(np.abs(got - expected)) < 4  # a JPEG-compressed copy of the same pixels
        assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.8
        other = next(r for r in rows if r["name"] == table["name"][i + 1])
        other = _slot_image(sheets[other["sheet"]], other["slot"], 48)
        assert np.corrcoef(other.ravel(), expected.ravel())[0, 1] < 0.4  # another source's thumbnail differs


def test_truth_column_confusion_and_disagreements_first(run, tmp_path):
    folder, mosaic, t = run
    table = t.copy()
    pred = np.asarray(table["B6_label"], dtype=str)
    truth = np.asarray(table["B6_true"], dtype="U10").copy()
    # whatever the model gets right, make three classified rows disagree with their (edited) truth
    flip = np.flatnonzero((truth != "") & (pred != ""))[:3]
    truth[flip] = np.where(pred[flip] == "FR-I", "FR-II", "FR-I")
    table["B6_true"] = truth
    out = write_report(table, str(mosaic), tmp_path / "run.html", truth_column="B6_true")
    page, meta, rows, _ = _read(out)
    disagree = (truth != "") & (truth != pred)
    n_dis = int(disagree.sum())
    assert n_dis >= 3
    by_rank = sorted(rows, key=lambda r: r["rank"])
    assert {r["name"] for r in by_rank[:n_dis]} == set(np.asarray(table["name"])[disagree])
    assert 'id="confusion"' in page
    agree = int(np.sum((truth != "") & (truth == pred)))
    assert f"{agree} of {int(np.sum(truth != ''))} classified sources" in page
    # the confusion matrix cell truth=FR-I, predicted=FR-II holds that count
    n12 = int(np.sum((truth == "FR-I") & (pred == "FR-II")))
    m = re.search(r"<tr><th>FR-I</th><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td></tr>", page)
    assert m and int(m.group(2)) == n12


def test_flagged_rows_last_and_counted(run, tmp_path):
    folder, mosaic, table = run
    t = table.copy()
    t["B6_flag"] = t["B6_flag"].astype("U40")
    t["B6_flag"][[3, 4]] = "partial"
    t["B6_flag"][5] = "error: backend timed out"
    for col in ("B6_prob_FR-I", "B6_prob_FR-II"):
        t[col][[3, 4, 5]] = np.nan
    t["B6_label"][[3, 4, 5]] = ""
    out = write_report(t, str(mosaic), tmp_path / "run.html")
    page, meta, rows, _ = _read(out)
    by_rank = sorted(rows, key=lambda r: r["rank"])
    assert {r["name"] for r in by_rank[-3:]} == set(t["name"][[3, 4, 5]])
    assert "partial: 2</span>" in page and "error: backend timed out: 1</span>" in page
    assert "ok (classified): 27</span>" in page
    # a partial cutout still gets a thumbnail; the counts of labels leave the flagged rows out
    assert all(r["sheet"] >= 0 for r in by_rank[-3:])


@pytest.mark.filterwarnings("ignore:Keyword name:astropy.io.fits.verify.VerifyWarning")  # FITS HIERARCH cards
def test_from_files_reads_the_provenance(run, tmp_path):
    folder, mosaic, table = run
    for ext in ("ecsv", "fits"):
        path = tmp_path / f"labels.{ext}"
        from radioassist.output import write_table
        write_table(table, path)
        out = write_report(path, str(mosaic), tmp_path / f"{ext}.html", thumbnails="folder")
        page, meta, rows, sheets = _read(out)
        assert meta["task"] == "B6" and meta["labels"] == ["FR-I", "FR-II"]
        assert len(rows) == 30
        assert table.meta["radioassist"]["model_sha256"][:16] in page
        assert sheets and all(s.startswith(f"{ext}_files/sheet_") for s in sheets)
        assert (tmp_path / sheets[0]).is_file()


def test_without_image_or_thumbnails(run, tmp_path):
    folder, mosaic, table = run
    out = write_report(table, None, tmp_path / "noimg.html")
    page, meta, rows, sheets = _read(out)
    assert sheets == [] and all(r["sheet"] == -1 for r in rows)
    assert "<polygon" not in page  # no footprint without a mosaic
    out = write_report(table, str(mosaic), tmp_path / "nothumb.html", thumbnails="none")
    page, meta, rows, sheets = _read(out)
    assert sheets == [] and "<polygon" in page


@pytest.mark.parametrize("kwargs, match", [
    ({"truth_column": "nope"}, "truth column 'nope' is not in the table"),
    ({"thumbnails": "inline"}, "thumbnails must be one of embed, folder, none"),
    ({"thumbnail_size": 4}, "thumbnail_size must be"),
    ({"task": "B3"}, "no column 'B3_label'"),
])
def test_errors(run, tmp_path, kwargs, match):
    folder, mosaic, table = run
    with pytest.raises(ra.InputError, match=match):
        write_report(table, str(mosaic), tmp_path / "x.html", **kwargs)


def test_existing_output_and_plain_table(run, tmp_path):
    folder, mosaic, table = run
    out = tmp_path / "run.html"
    out.write_text("keep")
    with pytest.raises(ra.InputError, match="already exists"):
        write_report(table, str(mosaic), out)
    assert out.read_text() == "keep"
    with pytest.raises(ra.InputError, match="no radioassist provenance and no <task>_label"):
        write_report(Table({"ra": [1.0], "dec": [2.0]}), None, tmp_path / "y.html")


def test_cli_report_and_classify_report(run, tmp_path, shared_data):
    folder, mosaic, table = run
    from radioassist.output import write_table
    labels = tmp_path / "labels.ecsv"
    write_table(table, labels)
    runner = CliRunner()
    res = runner.invoke(main, ["report", str(labels), "--image", str(mosaic), "-o", str(tmp_path / "r.html"),
                               "--truth-column", "B6_true"])
    assert res.exit_code == 0, res.output
    page, meta, rows, sheets = _read(tmp_path / "r.html")
    assert len(rows) == 30 and meta["truth"] == "B6_true" and len(sheets) == 1
    res = runner.invoke(main, ["report", str(labels), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 1 and "already exists" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["report", str(tmp_path / "missing.ecsv")])
    assert res.exit_code != 0 and "missing.ecsv" in res.output

    # the real LoTSS run: classify with --report writes the report beside the table
    lotss = shared_data / "lotss_dr1_hetdex"
    out = tmp_path / "lotss.ecsv"
    res = runner.invoke(main, ["classify", str(lotss / "P205+55-mosaic.fits"), "-c",
                               str(lotss / "catalog_shimwell_reduced.srl.fits"), "-o", str(out),
                               "--report", str(tmp_path / "lotss.html")])
    assert res.exit_code == 0, res.output
    labelled = Table.read(out)
    page, meta, rows, sheets = _read(tmp_path / "lotss.html")
    assert len(rows) == len(labelled) == 12093
    n_ok = int(np.sum(labelled["B6_flag"].filled("") == "")) if hasattr(labelled["B6_flag"], "filled") \
        else int(np.sum(labelled["B6_flag"] == ""))
    assert sum(r["sheet"] >= 0 for r in rows) >= n_ok > 0  # every classified source has its thumbnail
    first = min(rows, key=lambda r: r["rank"])
    ok = [r for r in rows if r["flag"] == ""]
    assert first["confidence"] == min(r["confidence"] for r in ok)
    assert not re.search(r"https?://", page)
    res = runner.invoke(main, ["classify", str(lotss / "P205+55-mosaic.fits"), "--truth-column", "S_Code",
                               "-o", str(tmp_path / "x.ecsv")])
    assert res.exit_code == 2 and "--report" in res.output


def test_survey_of_two_tiles(tmp_path):
    """A survey run: rows are matched to their tile, thumbnails come from it, both footprints are drawn."""
    from astropy.coordinates import SkyCoord
    from astropy.table import vstack

    skies, paths = [], []
    for k, ra_deg in enumerate((150.0, 150.12)):
        paths.append(tmp_path / f"tile{k}.fits")
        sky = ra.simulate_sky(shape=(256, 256), n_sources=8, seed=k + 1,
                              center=SkyCoord(ra_deg, 30.0, unit="deg"), output=paths[-1])
        sky.catalog.meta.clear()
        skies.append(sky)
    table = ra.classify([str(p) for p in paths], vstack([s.catalog for s in skies]), task="B6")
    assert set(table["B6_tile"]) == {"tile0.fits", "tile1.fits"}
    out = write_report(table, [str(p) for p in paths], tmp_path / "survey.html")
    page, meta, rows, sheets = _read(out)
    assert meta["has_tile"] and page.count("<polygon") == 2
    assert [r["tile"] for r in rows] == list(table["B6_tile"])
    assert all(r["sheet"] >= 0 for r in rows)
    # a thumbnail comes from the row's own tile: the same pixels as a cutout of that tile
    prov = table.meta["radioassist"]
    i = int(np.flatnonzero(table["B6_tile"] == "tile1.fits")[0])
    stack = extract_cutouts(str(paths[1]), table["skycoord"][i:i + 1], size=int(prov["cutout_size"]))
    expected = Image.fromarray(render(stack.data, preset=prov["render_preset"])[0]).convert("L")
    expected = np.asarray(expected.resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=float)
    got = _slot_image(sheets[rows[i]["sheet"]], rows[i]["slot"], 64)
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.8
    with pytest.raises(ra.InputError, match="several images were given but the table has no 'B6_tile'"):
        write_report(ra.classify(str(paths[0]), skies[0].catalog), [str(p) for p in paths], tmp_path / "x.html")


def test_from_csv_without_provenance(run, tmp_path, caplog):
    """A CSV keeps no provenance and no units: the report still has every row, and says what it assumed."""
    folder, mosaic, table = run
    path = tmp_path / "labels.csv"
    plain = table.copy()
    plain.remove_column("skycoord")
    plain.meta = {}
    plain.write(path, format="ascii.csv")
    with caplog.at_level("WARNING", logger="radioassist"):
        out = write_report(path, str(mosaic), tmp_path / "csv.html")
    assert "records no radioassist provenance" in caplog.text
    page, meta, rows, sheets = _read(out)
    assert meta["task"] == "B6" and meta["labels"] == ["FR-I", "FR-II"]
    assert len(rows) == 30 and all(r["sheet"] >= 0 for r in rows)
    assert sorted(r["name"] for r in rows) == sorted(table["name"])
