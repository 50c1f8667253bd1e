"""Sphinx configuration of the skadaptive documentation site.

Build it with ``make docs`` (warnings are errors); open it with ``make docs-open``.
The pages are the Markdown files of this folder (MyST), the API reference is generated
from the docstrings (numpydoc), and the gallery runs the scripts of ``examples/``.
"""

import os

import skadaptive  # the installed package (make docs installs it, editable, in .venv)

# The gallery's figures are drawn without a display.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "skadaptive"
author = "The skadaptive developers"
copyright = "the skadaptive developers"
release = skadaptive.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_screenshots", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
templates_path = ["_templates"]

# Markdown: $...$ and $$...$$ math, anchors for the headings that pages link to.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 4

# API reference: one page per public name; the numpydoc sections document the types.
autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The examples of the docstrings are doctests run by pytest; the links below are resolved
# offline (no intersphinx inventory is fetched: the build needs no network).
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
    "abort_on_example_error": True,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skadaptive {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = False


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out what scikit-learn's base classes give every estimator.

    ``get_params``, ``set_params``, ``score`` (where not overridden) and the metadata
    request methods are scikit-learn's own, documented there; their docstrings link into
    scikit-learn's site, which this offline build cannot resolve.
    """
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    if (getattr(obj, "__module__", None) or "").startswith("sklearn."):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
