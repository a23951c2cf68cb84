"""The offline B2 route as a user meets it on the command line: listed by ``radioassist backends``, and a clear
error when asked for a task it does not answer."""
from click.testing import CliRunner

from radioassist.cli import main


def test_backends_lists_the_structure_route():
    result = CliRunner().invoke(main, ["backends"])
    assert result.exit_code == 0, result.output
    line = [ln for ln in result.output.splitlines() if ln.startswith("structure ")]
    assert line and "B2" in line[0] and "default" in line[0]


def test_structure_backend_for_another_task_is_a_clear_error(shared_data, tmp_path):
    image = shared_data / "frdeep_v2" / "FIRST" / "1408+0050_II.fits"
    out = tmp_path / "x.ecsv"
    result = CliRunner().invoke(main, ["classify", str(image), "--task", "B3", "--backend", "structure",
                                       "-o", str(out)])
    assert result.exit_code == 1
    assert "answers task B2 only" in result.output and "vision" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_b2_over_several_images_equals_each_image_alone(shared_data):
    """``classify([a, b, c], task='B2')``: each image's own radio sources, the same labels as one image at a
    time; a catalogue spanning the images gets each row labelled in the image it lies on."""
    import warnings

    import numpy as np
    from astropy import units as u
    from astropy.table import Table

    import radioassist as ra

    files = sorted((shared_data / "mirabest_first" / "FITS").glob("*.fits"))[:4]
    options = {"beam": 5.4 * u.arcsec}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        together = ra.classify(files, None, task="B2", detect_options=options)
        alone = [ra.classify(f, None, task="B2", detect_options=options) for f in files]
        tiles = np.asarray(together["B2_tile"], dtype=str)
        assert list(dict.fromkeys(tiles)) == [f.name for f in files]
        for f, one in zip(files, alone):
            mine = together[tiles == f.name]
            assert len(mine) == len(one) > 0
            for col in ("ra", "dec", "B2_label", "B2_n_components", "B2_n_peaks", "B2_component_ra"):
                np.testing.assert_array_equal(np.asarray(mine[col]), np.asarray(one[col]))
        catalogue = Table({"ra": together["ra"][::-1], "dec": together["dec"][::-1]})  # other order
        listed = ra.classify(files, catalogue, task="B2", detect_options=options)
    assert list(listed["B2_label"]) == list(together["B2_label"][::-1])
    assert list(listed["B2_tile"]) == list(together["B2_tile"][::-1])
    assert list(listed["B2_component_ra"]) == list(together["B2_component_ra"][::-1])  # no string cut short
    assert listed.meta["radioassist"]["n_unclassified"] == 0
    assert listed.meta["radioassist"]["image"] == [f.name for f in files]


def test_the_rgz_catalogue_itself_is_a_b2_catalogue(shared_data):
    """Radio Galaxy Zoo DR1 as distributed: one row per source, positions as ';'-separated lists of its
    components (``cpnts_ras``), an extent column with no unit.  Every row gets its first component's
    position, and B2 runs on it without asking for a size unit (the structure gives the extent)."""
    import warnings

    import numpy as np

    import radioassist as ra

    path = shared_data / "rgz_dr1" / "rgz_dr1_full_catalogue.csv"
    table = ra.read_catalog(path, size=False)
    assert np.all(table["position_ok"])
    multi = np.flatnonzero([";" in str(v) for v in table["cpnts_ras"]])
    assert len(multi) > 1000
    first = float(str(table["cpnts_ras"][multi[0]]).split(";")[0])
    assert abs(table["skycoord"][multi[0]].ra.deg - first) < 1e-9
    image = shared_data / "mirabest_first" / "FITS" / "100_141.648+029.573_0.2890_0113.31.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ra.classify(image, path, task="B2")
    ok = np.asarray(out["B2_flag"]) == ""
    assert 1 <= ok.sum() <= 5 and len(out) == len(table)  # the RGZ sources on this cutout, every row kept
    assert set(out["B2_label"][ok]) <= set(ra.get_task("B2").labels)
