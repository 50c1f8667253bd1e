"""The README's Python examples run, in order, as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    if not README.exists():
        pytest.skip("README.md is not beside the tests (installed package)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The last block routed saved outputs: its objects exist and agree with the estimator.
    assert namespace["policy"].n_stages_ == 4
    assert namespace["outputs_test"].shape[1:] == (4, 10)


def test_readme_links_work_on_a_package_index_page():
    """PyPI shows the README without the repository around it: a relative link is dead there.

    Files of the repository are named as paths (`docs/method.md`) instead."""
    if not README.exists():
        pytest.skip("README.md is not beside the tests (installed package)")
    targets = re.findall(r"\]\(([^)]+)\)", README.read_text())
    relative = [t for t in targets if not re.match(r"(https?://|mailto:)", t)]
    assert not relative, f"relative links in README.md: {relative}"


def test_readme_benchmark_figures_come_from_the_paper_experiments_output():
    """The README's benchmark table is copied, row for row, from the one command's output."""
    summary = README.parent / "benchmarks" / "results" / "paper" / "summary.md"
    if not README.exists() or not summary.exists():
        pytest.skip("README.md or the committed benchmark output is not beside the tests")
    text = README.read_text()
    section = text[text.index("## Benchmarks") : text.index("## Development")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    table_rows = rows[1:]  # the header aside
    assert table_rows, "no benchmark table in the README"
    produced = set(summary.read_text().splitlines())
    copied = [row for row in table_rows if row in produced]
    assert copied == table_rows, "README rows not in benchmarks/results/paper/summary.md"
