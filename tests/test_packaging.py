"""The package as users install it: version, CLI entry point, shipped models inside the installed tree."""
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import radioassist
from radioassist.cli import main


def test_tests_run_against_the_installed_package():
    source = os.environ.get("RADIOASSIST_SOURCE_DIR")
    if not source:
        pytest.skip("only meaningful under tox, which installs the wheel")
    installed = Path(radioassist.__file__).resolve()
    assert not installed.is_relative_to(Path(source).resolve() / "radioassist"), installed


def test_version_and_help():
    runner = CliRunner()
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert radioassist.__version__ in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("classify", "cutout", "simulate", "demo"):
        assert command in result.output
