"""A folder of cutouts is one call: ``radioassist classify a.fits b.fits ... --task B3`` with no catalogue
finds the sources of each image and classifies them in it (rows carry their image)."""
import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

from radioassist.cli import main


@pytest.fixture(scope="module")
def cutouts(shared_data):
    files = sorted((shared_data / "mirabest_first" / "FITS").glob("*.fits"))[:4]
    files += sorted((shared_data / "frdeep_v2" / "FIRST").glob("*.fits"))[:2]
    if len(files) < 6:
        pytest.skip("needs the FIRST cutouts of ../shared/data/mirabest_first and frdeep_v2")
    return files


def _run(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_several_cutouts_without_a_catalogue_are_one_call(cutouts, tmp_path):
    out = tmp_path / "all.ecsv"
    _run(["classify", *cutouts, "--task", "B3", "-o", out])
    table = Table.read(out)
    images = np.asarray(table["B3_tile"], dtype=str)
    assert set(images) == {f.name for f in cutouts}  # every image's sources, each row naming its image
    assert list(dict.fromkeys(images)) == [f.name for f in cutouts]  # in the order of the images
    assert table.meta["radioassist"]["catalog"].startswith("source finding (radioassist.structure) on each of 6 images")
    for f in cutouts[::2]:  # each image alone gives its rows of the one call, bit for bit
        single = tmp_path / f"{f.stem}.ecsv"
        _run(["classify", f, "--task", "B3", "-o", single])
        alone, mine = Table.read(single), table[images == f.name]
        assert len(alone) == len(mine) > 0
        for col in ("ra", "dec", "B3_label", "B3_prob_YES", "B3_prob_NO", "B3_flag"):
            np.testing.assert_array_equal(np.asarray(mine[col]), np.asarray(alone[col]))


def test_a_missing_image_among_several_is_named(cutouts, tmp_path):
    result = CliRunner().invoke(main, ["classify", str(cutouts[0]), str(tmp_path / "nope.fits"), "--task", "B3",
                                       "-o", str(tmp_path / "o.ecsv")])
    assert result.exit_code != 0 and "nope.fits" in result.output and "Traceback" not in result.output
