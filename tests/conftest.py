"""Shared fixtures: where the real survey data lives, and small synthetic images."""
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest


def _shared_data_dir():
    env = os.environ.get("RADIOASSIST_SHARED_DATA")
    if env:
        return Path(env)
    source = os.environ.get("RADIOASSIST_SOURCE_DIR")  # set by tox: tests run from a temporary folder
    root = Path(source) if source else Path(__file__).resolve().parents[1]
    return (root.parent / "shared" / "data").resolve()


SHARED_DATA = _shared_data_dir()

# exported ONNX models of the vision backend go to a folder of this test session, never to ~/.radioassist
os.environ.setdefault("RADIOASSIST_CACHE_DIR", tempfile.mkdtemp(prefix="radioassist-test-cache-"))


@pytest.fixture(scope="session")
def shared_data():
    """Path to ``../shared/data`` (the real survey files); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real survey data not found at {SHARED_DATA} (set RADIOASSIST_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread: tiny models are fastest so, and leave the other core free.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_collection_modifyitems(config, items):
    """Skip ``remote_data`` tests unless ``--remote-data`` is given."""
    if config.getoption("--remote-data", default=False):
        return
    skip = pytest.mark.skip(reason="needs network access: run with --remote-data")
    for item in items:
        if "remote_data" in item.keywords:
            item.add_marker(skip)


def pytest_addoption(parser):
    parser.addoption("--remote-data", action="store_true", default=False,
                     help="run tests that need network access")


def pytest_sessionfinish(session, exitstatus):
    """A run that selects no test (e.g. ``-m slow`` on a machine without data) is not a failure."""
    if exitstatus == 5:
        session.exitstatus = 0
