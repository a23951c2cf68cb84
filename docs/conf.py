"""Sphinx configuration for the radioassist documentation.

The look and the extensions are those of the astropy-affiliated packages: ``sphinx_astropy.conf.v2``
(pydata-sphinx-theme, numpydoc, automodapi, copybutton, doctestplus), without the Astropy-project navbar
and the remote counter script of ``v3``.  The build is offline: no intersphinx inventory is fetched and
no page loads anything from the network.

The gallery (``../examples/plot_*.py``, sphinx-gallery) runs on the real survey data of
``../../shared/data`` when that folder is present; without it (a fresh clone outside the project's
workspace) the examples are shown with their code only and the build still passes.  ``-D plot_gallery=0``
skips running them (the test of the built site does this).
"""
import datetime
import os
import sys
from pathlib import Path

try:
    from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
except ImportError:
    print("ERROR: the documentation requires the sphinx-astropy package: pip install 'radioassist[docs]'")
    sys.exit(1)

import radioassist

DOCS = Path(__file__).resolve().parent
DATA = Path(os.environ.get("RADIOASSIST_DATA", DOCS.parent.parent / "shared" / "data")).resolve()
os.environ["RADIOASSIST_DATA"] = str(DATA)  # the gallery examples run from their own folder

project = "radioassist"
author = "radioassist developers"
copyright = f"{datetime.date.today().year}, {author}"
version = radioassist.__version__
release = radioassist.__version__

extensions += [  # noqa: F405 (from sphinx_astropy.conf.v2)
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
autodoc_typehints = "none"
nitpicky = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "generated/gallery/*.ipynb", "generated/gallery/*.py",
                    "generated/gallery/*.zip"]
master_doc = "index"

# Offline: no inventory is fetched (sphinx-astropy's v2 lists python, numpy, scipy, matplotlib, astropy).
intersphinx_mapping.clear()  # noqa: F405
suppress_warnings = ["config.cache"]

# -- HTML: pydata-sphinx-theme as sphinx-astropy sets it up ----------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"radioassist {version}"
html_static_path = ["_static"]
html_css_files = ["radioassist.css"]
html_favicon = "_static/radioassist-icon.svg"
html_theme_options = {
    "logo": {
        "image_light": "_static/radioassist-logo.svg",
        "image_dark": "_static/radioassist-logo-dark.svg",
        "alt_text": "radioassist",
    },
    "icon_links": [],
    "navbar_start": ["navbar-logo", "ra-version"],
    "navbar_align": "left",
    "header_links_before_dropdown": 4,
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "navigation_depth": 2,
    "show_nav_level": 1,
    "collapse_navigation": True,
    "show_toc_level": 2,
    "use_edit_page_button": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # A version switcher needs a JSON file served beside the site (a remote one is fetched while building);
    # the version is shown next to the logo instead.
    "navbar_persistent": ["search-button"],
}
html_context = {"default_mode": "auto"}
html_sidebars = {"index": [], "quickstart": [], "install": []}
html_show_sourcelink = False

# -- Figures ---------------------------------------------------------------------------------------------
# matplotlib's plot directive (from v2) the way photutils sets it: transparent background, PNG only.
plot_rcparams = {"savefig.facecolor": "none", "savefig.bbox": "tight", "axes.titlesize": "medium",
                 "figure.figsize": (6, 4)}
plot_apply_rcparams = True
plot_html_show_source_link = False
plot_formats = ["png"]
plot_include_source = True
plot_pre_code = ""


# -- Gallery ---------------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": str(DOCS / "generated" / "gallery"),
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"/_",
    "write_computation_times": False,  # its page loads jQuery/DataTables from CDNs
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "min_reported_time": 10**6,
    "capture_repr": (),
}
# Examples read ../shared/data; without it they are shown, not run (``-D plot_gallery=0`` also skips them).
plot_gallery = "True" if (DATA / "frdeep_v2").is_dir() else "False"


def _write_task_reference(app):
    """Generate docs/generated/tasks.rst from the task registry, so the reference never drifts."""
    from pathlib import Path

    from radioassist.prompts import SYSTEM_PROMPT, build_prompt
    from radioassist.tasks import TASKS

    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 6 30 28 10 26", "",
             "   * - id", "     - task", "     - labels", "     - kind", "     - upstream name"]
    for task in TASKS.values():
        kind = "multi-label" if task.multilabel else f"{task.n_classes} classes"
        lines += [f"   * - ``{task.id}``", f"     - {task.name}", f"     - {', '.join(task.labels)}",
                  f"     - {kind}", f"     - {task.upstream_name or '(user task)'}"]
    lines += ["", f"System prompt of the zero-shot models: *{SYSTEM_PROMPT}*", ""]
    for task in TASKS.values():
        title = f"{task.id}: {task.name}"
        lines += [title, "^" * len(title), "", "Prompt (version ``v2``)::", ""]
        lines += ["    " + line for line in build_prompt(task, version="v2").splitlines()]
        lines += ["", "Prompt (version ``v1``)::", ""]
        lines += ["    " + line for line in build_prompt(task, version="v1").splitlines()]
        if task.class_definitions:
            lines += ["", "Class definitions (added with ``with_definitions=True``):", ""]
            for label, text in task.class_definitions.items():
                lines += [f"``{label}``", f"    {text}", ""]
        lines += [""]
    (out / "tasks.rst").write_text("\n".join(lines) + "\n")


def _write_model_cards(app):
    """Generate docs/generated/models.rst: one section per shipped model, with its model card."""
    from pathlib import Path

    from radioassist import models

    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    lines = []
    for task, name in models.DEFAULT_MODELS.items():
        card = models.MODELS_DIR / name / "README.md"
        title = f"{name} (default for task {task})"
        lines += [title, "-" * len(title), ""]
        if card.is_file():
            lines += [".. code-block:: markdown", ""]
            lines += ["    " + line if line.strip() else "" for line in card.read_text().splitlines()]
        else:
            lines += ["(model card missing from this installation)"]
        lines += [""]
    (out / "models.rst").write_text("\n".join(lines) + "\n")


def _write_backend_reference(app):
    """Generate docs/generated/backends.rst from the backend registry (names, descriptions, options)."""
    from pathlib import Path

    from radioassist.backends import available_backends, get_backend_class

    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    lines = []
    for name in available_backends():
        cls = get_backend_class(name)
        title = f"``{name}``: :class:`{cls.__module__}.{cls.__name__}`"
        lines += [title, "-" * len(title), "", cls.description or "", "",
                  "Common options: ``model``, ``device``, ``dtype``, ``batch_size``. Backend options "
                  "(``backend_options=`` in Python, ``--option KEY=VALUE`` on the command line), with defaults:", ""]
        if cls.option_defaults:
            lines += [".. list-table::", "   :header-rows: 1", "", "   * - option", "     - default"]
            for key, value in sorted(cls.option_defaults.items()):
                lines += [f"   * - ``{key}``", f"     - ``{value!r}``"]
        else:
            lines += ["(none)"]
        lines += [""]
    (out / "backends.rst").write_text("\n".join(lines) + "\n")


def _write_pending_figures(app):
    """Figures that ``docs/make_figures.py`` can only make once the library allows it.

    The FIRST report's screenshots (``make_figures.py first_report``) are included when their PNGs are
    committed; until then the page says how to make them.  No figure is ever referenced that is not there.
    """
    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    static = Path(app.srcdir) / "_static"
    pngs = ["first_report_table.png", "first_report_figures.png"]
    if all((static / name).is_file() for name in pngs):
        lines = []
        for name, alt in zip(pngs, ["The top of the FR-DEEP report: run, counts and the least confident sources.",
                                    "Gallery strips, sky map and probability histograms of the FR-DEEP run."]):
            lines += [f".. figure:: /_static/{name}", "   :width: 100%", f"   :alt: {alt}", "",
                      "   ``python docs/make_figures.py first_report``", ""]
    else:
        lines = [".. note::", "",
                 "   The screenshots of this report are made by ``python docs/make_figures.py first_report``",
                 "   (it runs the two commands above and opens the report in headless Chromium).", ""]
    (out / "first_report_figure.rst").write_text("\n".join(lines) + "\n")


def setup(app):
    app.connect("builder-inited", _write_pending_figures)
    app.connect("builder-inited", _write_backend_reference)
    app.connect("builder-inited", _write_task_reference)
    app.connect("builder-inited", _write_model_cards)
