"""``radioassist --help`` and the listing commands start without importing torch or transformers."""
import subprocess
import sys

import pytest

SCRIPT = """
import sys
from click.testing import CliRunner
import radioassist.cli as cli
result = CliRunner().invoke(cli.main, {args!r})
assert result.exit_code == 0, result.output
heavy = sorted(name for name in ("torch", "transformers", "peft", "matplotlib") if name in sys.modules)
print("HEAVY=" + ",".join(heavy))
print("OUTPUT=" + " ".join(result.output.split())[:200])
"""


@pytest.mark.parametrize("args", [["--help"], ["tasks"], ["backends"], ["classify", "--help"]])
def test_cli_does_not_import_torch(args):
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(args=args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert lines["HEAVY"] == "", f"`radioassist {' '.join(args)}` imported {lines['HEAVY']}"
    assert lines["OUTPUT"]  # the command printed its help or listing
