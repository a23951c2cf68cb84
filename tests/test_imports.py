"""What a plain ``radioassist classify`` imports: no torch or transformers once the model's ONNX export is
cached, and heavy optional packages only on the path that needs them (not photutils, matplotlib or scikit-image:
sources are found with photutils' recipes in ``radioassist._noise``, without its one-second import)."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

#: Runs the command line in a fresh interpreter and prints the top-level packages it imported.
SCRIPT = """
import json, sys
from radioassist.cli import main
try:
    main({args!r}, standalone_mode=False)
finally:
    print("MODULES=" + json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""

#: Never imported by a plain classify with the vision backend and a cached export.
NEVER = ("torch", "transformers", "onnx", "peft", "dask", "distributed", "selenium", "sklearn", "tokenizers",
         "torchvision", "huggingface_hub", "jinja2")
#: Not imported by a plain classify either, with a catalogue or without one (photutils' own import is about a
#: second: it loads scipy.signal, scipy.stats and its segmentation catalogue).
NOT_PLAIN = ("photutils", "matplotlib", "skimage", "regions", "PIL", "dask")


def _modules(args, env):
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(args=[str(a) for a in args])], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("MODULES=")][-1]
    return set(json.loads(line.split("=", 1)[1]))


@pytest.fixture(scope="module")
def cutout(shared_data):
    files = sorted((shared_data / "mirabest_first" / "FITS").glob("*.fits"))
    if not files:
        pytest.skip("no MiraBest FIRST cutouts in ../shared/data/mirabest_first/FITS")
    return files[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    import os

    return {**os.environ, "RADIOASSIST_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def test_a_plain_classify_imports_no_torch_once_the_export_is_cached(cutout, env, tmp_path):
    first = _modules(["classify", cutout, "--task", "B3", "-o", tmp_path / "first.ecsv"], env)
    assert "torch" in first  # no export on disk yet: torch exports the model (once)
    without = _modules(["classify", cutout, "--task", "B3", "-o", tmp_path / "found.ecsv"], env)
    heavy = without & set(NEVER + NOT_PLAIN)
    assert not heavy, f"classify without a catalogue imported {sorted(heavy)}"
    assert {"onnxruntime", "astropy", "numpy", "scipy"} <= without
    catalogue = tmp_path / "found.ecsv"  # the sources found, as a catalogue
    with_catalogue = _modules(["classify", cutout, "--catalog", catalogue, "--task", "B3", "-o",
                               tmp_path / "listed.ecsv"], env)
    heavy = with_catalogue & set(NEVER + NOT_PLAIN)
    assert not heavy, f"classify with a catalogue imported {sorted(heavy)}"
    assert "onnxruntime" in with_catalogue
    from astropy.table import Table

    found, listed = Table.read(tmp_path / "found.ecsv"), Table.read(tmp_path / "listed.ecsv")
    first_table = Table.read(tmp_path / "first.ecsv")
    for col in ("B3_label", "B3_prob_YES", "B3_prob_NO"):  # the same numbers whichever way the model ran
        assert list(found[col]) == list(first_table[col]) == list(listed[col])


def test_import_radioassist_is_light():
    """``import radioassist`` imports its public names on first use (PEP 562); they are the same objects."""
    code = ("import sys, radioassist as ra; heavy = [m for m in ('astropy.table', 'scipy', 'torch', 'click', "
            "'radioassist.pipeline') if m in sys.modules]; print('HEAVY=' + ','.join(heavy)); "
            "import radioassist.render, radioassist.pipeline; "
            "assert ra.render is sys.modules['radioassist.render'].render; "
            "assert ra.classify is sys.modules['radioassist.pipeline'].classify; "
            "assert set(ra.__all__) <= set(dir(ra))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY=\n" in done.stdout, done.stdout
