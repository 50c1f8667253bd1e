"""The import graph of skadaptive points one way: down the layers of docs/architecture.md.

Each module may import only modules of a lower layer (and, within the foundations,
nothing of the package at all).  So the reduction and the routing engine know nothing
of estimators, torch or I/O, and budget mode reaches the routers through their
public surface only.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skadaptive"

# Lowest first; a module imports only from layers before its own.
LAYERS = [
    # foundations: no import from the package, except _rows -> _compat
    [
        "_reduction",
        "_compat",
        "_choice",
        "_features",
        "_losses",
        "_validation",
        "_saving",
        "_docs",
        "_guarantee",
        "_boosting",
        "exceptions",
    ],
    ["_rows"],
    ["_routing"],  # the engine
    ["_routers", "_stages", "_thresholds", "_timing"],
    ["_policy", "_plain_routers", "_chunks"],
    ["_fitting", "_candidates"],
    ["_certify"],
    ["_budget", "_scorers", "_time_aware", "_fit_warnings"],
    ["_base", "_refit"],
    ["_network_selection", "_early_exit"],
    ["__init__", "routers", "stages", "baselines", "metrics", "persistence", "torch"],
    ["_display_points"],
    ["_display"],
    ["_exit_share_display"],
    ["plotting"],
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def package_imports(path):
    """The top-level skadaptive modules that ``path`` imports (``torch`` for skadaptive.torch)."""
    in_torch = path.parent.name == "torch"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = (node.module or "").split(".")
            if in_torch and node.level == 1:
                continue  # skadaptive.torch's own modules
            if node.module is None:
                targets.update(alias.name for alias in node.names)
            else:
                targets.add(parts[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skadaptive."):
                    targets.add(alias.name.split(".")[1])
    return targets


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = "torch" if path.parent.name == "torch" else path.stem
        yield name, path


@pytest.mark.parametrize("name, path", list(modules()), ids=lambda v: str(v))
def test_imports_point_down_the_layers(name, path):
    assert name in RANK, f"{path} is not in the module map (tests/test_layers.py, docs)"
    for target in package_imports(path):
        if target == "__version__":
            continue  # persistence records the package version
        assert target in RANK, f"{name} imports {target}, which is not in the module map"
        assert RANK[target] < RANK[name] or (name == "torch" and target == "torch"), (
            f"{name} (layer {RANK[name]}) imports {target} (layer {RANK[target]}): "
            "imports must point down the layers"
        )


def test_the_reduction_and_the_engine_import_nothing_above_them():
    assert package_imports(PACKAGE / "_reduction.py") == set()
    assert package_imports(PACKAGE / "_routing.py") == {"_rows"}
    assert package_imports(PACKAGE / "_rows.py") == {"_compat"}
