"""The documentation site covers what it says it covers (the build itself runs in CI:
``make docs``, warnings as errors)."""

import importlib
import re
from pathlib import Path

import pytest
from _helpers import PUBLIC_MODULES, missing_dependency

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _needs_docs():
    if not (DOCS / "api.rst").exists():
        pytest.skip("docs/ is not beside the tests (installed package)")


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_the_api_reference_lists_every_public_name(module_name):
    _needs_docs()
    if needed := missing_dependency(module_name):
        pytest.skip(f"{module_name} needs {needed}")
    module = importlib.import_module(module_name)
    api = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^   ([A-Za-z_][A-Za-z0-9_]*)$", api, flags=re.M))
    listed |= set(re.findall(r"^\.\. autodata:: ([A-Za-z_]+)", api, flags=re.M))
    missing = [
        name
        for name in module.__all__
        if name != "__version__"
        and name not in listed
        # re-exported names are documented once, where their page is
        and not (module_name == "skadaptive.routers" and name == "RoutingPolicy")
        and not (module_name == "skadaptive.baselines" and name == "ThresholdPolicy")
    ]
    assert not missing, f"{module_name}: not in docs/api.rst: {missing}"


def test_every_page_is_in_the_table_of_contents():
    _needs_docs()
    index = (DOCS / "index.md").read_text()
    toctree = re.search(r"```\{toctree\}\n(.*?)```", index, flags=re.S).group(1)
    entries = {line.strip() for line in toctree.splitlines() if line and ":" not in line}
    pages = {p.stem for p in DOCS.glob("*.md") if p.stem != "index"}
    pages |= {p.stem for p in DOCS.glob("*.rst") if p.stem != "sg_execution_times"}
    assert pages <= entries, f"pages missing from the toctree: {sorted(pages - entries)}"
    assert "auto_examples/index" in entries


def test_every_gallery_example_has_a_title_and_draws():
    examples = DOCS.parent / "examples"
    if not examples.is_dir():
        pytest.skip("examples/ is not beside the tests (installed package)")
    scripts = sorted(examples.glob("plot_*.py"))
    assert scripts, "the gallery has no examples"
    for script in scripts:
        text = script.read_text()
        assert re.match(r'"""\n(=+\n)?.+\n=+\n', text), f"{script.name}: no RST title first"
        assert "plt" in text or "Display" in text, f"{script.name}: draws nothing"
