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
