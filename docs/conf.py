"""Sphinx configuration for the radioassist documentation."""
import datetime
import os
import sys

import radioassist

project = "radioassist"
author = "radioassist developers"
copyright = f"{datetime.date.today().year}, {author}"
version = radioassist.__version__
release = radioassist.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "sphinx_click",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
autodoc_typehints = "none"
nitpicky = False
templates_path = []
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
master_doc = "index"
html_theme = "alabaster"
html_static_path = []
html_title = f"radioassist {version}"
intersphinx_mapping = {}  # offline builds: no inventories fetched
suppress_warnings = ["config.cache"]


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


def setup(app):
    app.connect("builder-inited", _write_backend_reference)
    app.connect("builder-inited", _write_task_reference)
    app.connect("builder-inited", _write_model_cards)
