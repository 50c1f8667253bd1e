"""Every benchmark script imports: the private names they use still exist (CI runs no
benchmark, and a renamed helper once broke two of them unnoticed)."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in BENCHMARKS.glob("*.py")) if BENCHMARKS.is_dir() else []
)
def test_the_benchmark_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # a package of the bench extra (mlxtend), not ours
        if exc.name is None or exc.name.split(".")[0] in ("skadaptive", name):
            raise
        pytest.skip(f"{name} needs {exc.name} (the bench extra)")
    assert module.__name__ == name
    sys.modules.pop(name, None)
