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
