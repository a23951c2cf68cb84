"""Shared fixtures: where the real survey data lives, and small synthetic images."""
import os
import shutil
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


# ------------------------------------------------------------------------------------------------
# a real browser (the report's and the documentation's browser tests)
# ------------------------------------------------------------------------------------------------

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000")


def chromium_binaries():
    """``(chromium, chromedriver)`` paths: ``RADIOASSIST_CHROMIUM``/``RADIOASSIST_CHROMEDRIVER`` or the PATH's."""
    browser = os.environ.get("RADIOASSIST_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = os.environ.get("RADIOASSIST_CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by selenium, with the browser console log enabled; skips without one."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_binaries()
    if not binary or not driver_path or not os.path.exists(binary) or not os.path.exists(driver_path):
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run does it when it can)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="radioassist-chromium-")
    for flag in CHROME_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
