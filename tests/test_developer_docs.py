"""The developer page's module map matches the package: every module listed once, none that does not exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "radioassist"
PAGE = ROOT / "docs" / "development.rst"


def _modules():
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))


def _listed():
    section = PAGE.read_text().split("Module map", 1)[1].split("Where a change goes", 1)[0]
    return re.findall(r"^- ``([\w/]+\.py)``:", section, flags=re.M)


def test_module_map_lists_every_module_once():
    listed = _listed()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    missing = sorted(set(_modules()) - set(listed))
    stale = sorted(set(listed) - set(_modules()))
    assert not missing, f"modules missing from docs/development.rst: {missing}"
    assert not stale, f"docs/development.rst lists modules that do not exist: {stale}"
