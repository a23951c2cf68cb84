"""The built documentation opened in a real headless Chromium (selenium + the distribution's chromedriver).

The test builds the Sphinx site itself (``sphinx-build -W``, gallery examples not run: ``-D plot_gallery=0``)
into a temporary folder, serves it on 127.0.0.1 and opens the index, the quickstart and every tutorial listed
in ``docs/tutorials.rst``'s toctree (so a new tutorial is covered, and must show a figure), then the gallery,
CLI, API, task and output references.  On each page:
no console errors, no request leaves the local server, the sphinx-astropy/pydata theme is in use, no code
block is wider than its column (``scrollWidth <= clientWidth`` of each ``pre``, at a desktop and at a laptop
window width), every image loads, and every tutorial shows at least one figure.  Dark mode keeps figures on
a light background.

Needs Sphinx and the ``docs`` extra (sphinx-astropy, pydata-sphinx-theme, sphinx-gallery...), which the
``test`` tox environment installs, and Debian's ``chromium`` and ``chromium-driver``; without them the
tests are skipped with the reason.
"""
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SOURCE = Path(os.environ.get("RADIOASSIST_SOURCE_DIR", Path(__file__).resolve().parents[1]))
DOCS = SOURCE / "docs"
WIDTHS = (1400, 1000)  # desktop, and a laptop window where pydata hides the right-hand table of contents


def tutorial_pages():
    """The pages of docs/tutorials.rst's toctree, e.g. ``tutorials/lotss``."""
    text = (DOCS / "tutorials.rst").read_text()
    block = text.split(".. toctree::", 1)[1]
    pages = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            break  # end of the directive
        entry = line.strip()
        if entry and not entry.startswith(":"):
            pages.append(re.sub(r"^.*<(.+)>$", r"\1", entry))
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation built with warnings as errors, served on 127.0.0.1; yields its base URL."""
    for module in ("sphinx", "sphinx_astropy", "pydata_sphinx_theme", "sphinx_gallery", "sphinx_click",
                   "sphinx_copybutton"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install 'radioassist[docs]')")
    if not (DOCS / "conf.py").is_file():
        pytest.skip(f"no documentation sources at {DOCS} (set RADIOASSIST_SOURCE_DIR to the source tree)")
    out = tmp_path_factory.mktemp("docs-html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-D", "plot_gallery=0", "-d", str(out / ".doctrees"), str(DOCS), str(out)],
                          capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "agg"})
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", out
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _load(driver, url):
    """Open ``url``, wait for it and its images, and return the console errors."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete)"))
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


CHECK_PAGE = """
const pres = Array.from(document.querySelectorAll('article pre, .bd-article pre'));
const article = document.querySelector('.bd-article') || document.body;
return {
  theme_css: Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => l.href)
               .filter(h => h.includes('pydata-sphinx-theme')).length,
  header: !!document.querySelector('.bd-header .navbar-brand'),
  logo: Array.from(document.querySelectorAll('.navbar-brand img')).map(i => i.naturalWidth),
  data_theme: document.documentElement.getAttribute('data-theme'),
  too_wide: pres.filter(p => p.scrollWidth > p.clientWidth)
                .map(p => [p.scrollWidth, p.clientWidth, p.textContent.slice(0, 80)]),
  n_pre: pres.length,
  page_scrolls: document.documentElement.scrollWidth > document.documentElement.clientWidth,
  broken: Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src),
  figures: Array.from(article.querySelectorAll('img'))
                .filter(i => i.naturalWidth > 0 && !i.closest('.navbar-brand'))
                .map(i => [i.src, i.naturalWidth, i.getBoundingClientRect().width]),
  remote: performance.getEntriesByType('resource').map(r => r.name)
                .filter(n => !n.startsWith(location.origin) && !n.startsWith('data:')),
};
"""


# Opened too, for console errors, code width and remote requests; no figure required.
REFERENCE_PAGES = ["generated/gallery/index", "cli", "api", "tasks", "output"]


def _pages():
    return ["index", "quickstart"] + tutorial_pages() + REFERENCE_PAGES


def test_committed_figures_are_small():
    """Figures in the repository stay small: the site and the clone stay light (well under 200 kB each)."""
    figures = [p for p in (DOCS / "_static").iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".svg")]
    assert figures
    big = {p.name: p.stat().st_size for p in figures if p.stat().st_size > 180_000}
    assert not big, big


def test_tutorials_are_listed():
    pages = tutorial_pages()
    assert "tutorials/lotss" in pages and "tutorials/first_fr" in pages
    for page in pages:
        assert (DOCS / f"{page}.rst").is_file(), page


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_in_chromium(site, browser, width):
    base, out = site
    browser.set_window_size(width, 1000)
    problems = []
    for page in _pages():
        errors = _load(browser, f"{base}/{page}.html")
        info = browser.execute_script(CHECK_PAGE)
        where = f"{page}.html at {width} px"
        if errors:
            problems.append(f"{where}: console errors {errors}")
        if not info["theme_css"] or not info["header"]:
            problems.append(f"{where}: not the pydata-sphinx-theme (sphinx-astropy) layout")
        if not info["logo"] or min(info["logo"]) <= 0:
            problems.append(f"{where}: the logo does not load")
        if info["too_wide"]:
            problems.append(f"{where}: code blocks wider than their column {info['too_wide']}")
        if info["page_scrolls"]:
            problems.append(f"{where}: the page scrolls sideways")
        if info["broken"]:
            problems.append(f"{where}: images that do not load {info['broken']}")
        if info["remote"]:
            problems.append(f"{where}: requests that leave the local server {info['remote']}")
        if page not in REFERENCE_PAGES and not info["figures"]:
            problems.append(f"{where}: no figure (every tutorial shows what its commands produce)")
    assert not problems, "\n".join(problems)


def test_dark_mode_keeps_figures_readable(site, browser):
    base, out = site
    browser.set_window_size(WIDTHS[0], 1000)
    _load(browser, f"{base}/tutorials/lotss.html")
    browser.execute_script("localStorage.setItem('theme', 'dark'); localStorage.setItem('mode', 'dark');")
    try:
        errors = _load(browser, f"{base}/tutorials/lotss.html")
        assert errors == []
        assert browser.execute_script("return document.documentElement.getAttribute('data-theme')") == "dark"
        backgrounds = browser.execute_script(
            "return Array.from(document.querySelectorAll('.bd-article img'))"
            ".map(i => getComputedStyle(i).backgroundColor)")
        assert backgrounds and all(b == "rgb(255, 255, 255)" for b in backgrounds), backgrounds
    finally:
        browser.execute_script("localStorage.removeItem('theme'); localStorage.removeItem('mode');")


def test_reference_pages_exist(site):
    base, out = site
    for page in ("cli.html", "api.html", "generated/gallery/index.html", "tutorials.html"):
        assert (out / page).is_file(), page
    gallery = (out / "generated" / "gallery" / "index.html").read_text()
    examples = sorted(p.stem for p in (SOURCE / "examples").glob("plot_*.py"))
    assert examples and all(f"{name}.html" in gallery for name in examples), examples
    # the CLI reference is generated from the click commands
    assert "radioassist classify" in (out / "cli.html").read_text()
