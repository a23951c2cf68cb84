"""Writing labelled catalogues with provenance, and DS9 region files."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from radioassist import InputError
from radioassist.output import read_provenance, write_regions, write_table
from radioassist.tasks import get_task


def _labelled():
    t = Table()
    t["name"] = ["a", "b", "c"]
    t["skycoord"] = SkyCoord([150.0, 150.01, 150.02], [30.0, 30.01, 30.02], unit="deg")
    t["ra"] = [150.0, 150.01, 150.02] * u.deg
    t["dec"] = [30.0, 30.01, 30.02] * u.deg
    t["source_size"] = [10.0, np.nan, 30.0] * u.arcsec
    t["B6_label"] = ["FR-I", "FR-II", ""]
    t["B6_prob_FR-I"] = np.array([0.9, 0.2, np.nan], dtype=np.float32)
    t["B6_prob_FR-II"] = np.array([0.1, 0.8, np.nan], dtype=np.float32)
    t["B6_flag"] = ["", "", "outside"]
    t.meta["radioassist"] = {"radioassist_version": "0.1", "task": "B6", "backend": "vision",
                             "labels": ["FR-I", "FR-II"], "pixel_scale_arcsec": 1.8, "n_sources": 3}
    return t


@pytest.mark.parametrize("ext", [".ecsv", ".fits", ".vot"])
def test_round_trip_keeps_rows_columns_and_provenance(tmp_path, ext):
    table = _labelled()
    path = write_table(table, tmp_path / f"out{ext}")
    back = Table.read(path)
    assert len(back) == 3
    assert list(back["name"]) == ["a", "b", "c"]
    assert list(back["B6_label"].astype(str))[:2] == ["FR-I", "FR-II"]
    np.testing.assert_allclose(back["B6_prob_FR-I"][:2], [0.9, 0.2], rtol=1e-6)
    assert "skycoord" not in back.colnames
    prov = read_provenance(path)
    assert prov["task"] == "B6"
    assert prov["backend"] == "vision"
    assert prov["labels"] == ["FR-I", "FR-II"]
    assert not (tmp_path / f"out{ext}.part").exists()


def test_refuses_to_overwrite_and_bad_paths(tmp_path):
    table = _labelled()
    write_table(table, tmp_path / "out.ecsv")
    with pytest.raises(InputError, match="already exists.*overwrite"):
        write_table(table, tmp_path / "out.ecsv")
    write_table(table, tmp_path / "out.ecsv", overwrite=True)
    with pytest.raises(InputError, match="does not exist"):
        write_table(table, tmp_path / "nowhere" / "out.ecsv")
    with pytest.raises(InputError, match="output format"):
        write_table(table, tmp_path / "out.xlsx")


def test_regions_coloured_by_label(tmp_path):
    """Labelled rows only by default, each label in its fixed colour (the same as in galleries and reports)."""
    from regions import Regions

    from radioassist.colours import hex_colour, label_colours
    table = _labelled()
    table["B6_flag"][1] = "partial"  # on the image, not classified
    table["B6_label"][1] = ""
    path = write_regions(table, tmp_path / "out.reg", task=get_task("B6"))
    regs = Regions.read(path, format="ds9")
    assert len(regs) == 1 and regs[0].meta["text"] == "FR-I"
    assert regs[0].visual.get("edgecolor", regs[0].visual.get("color")) == hex_colour(label_colours("B6")["FR-I"])
    assert regs[0].radius.to_value(u.arcsec) == pytest.approx(5)
    # unclassified=True adds the rows on the image that were not labelled, never those off it
    path = write_regions(table, tmp_path / "all.reg", task=get_task("B6"), unclassified=True)
    regs = Regions.read(path, format="ds9")
    assert len(regs) == 2 and "partial" in regs[1].meta["text"]
    assert regs[1].radius.to_value(u.arcsec) == pytest.approx(10)  # no size: 10 arcsec
    # the same colour whatever the other labels of the run
    only_fr2 = _labelled()
    only_fr2["B6_label"][0] = "FR-II"
    regs = Regions.read(write_regions(only_fr2, tmp_path / "fr2.reg", task=get_task("B6")), format="ds9")
    assert {r.visual.get("edgecolor", r.visual.get("color")) for r in regs} == {
        hex_colour(label_colours("B6")["FR-II"])}