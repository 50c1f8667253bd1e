"""The public API's type hints (PEP 561): complete, shipped, and seen by mypy.

Every public callable of the public modules is annotated; ``py.typed`` is in the package;
and mypy, run on a user's script as a user would run it, accepts the API's right uses and
reports wrong ones (so it reads the package's hints, not ``Any``).
"""

import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _helpers import PUBLIC_MODULES, missing_dependency

import skadaptive

ROOT = Path(__file__).resolve().parents[1]


def _public_callables():
    """``(name, function, is_method)`` of every public function, and of every public
    method, property and ``__init__`` of the public classes, wherever in skadaptive
    (a private base class included) it is defined."""
    seen = set()
    for module_name in PUBLIC_MODULES:
        if missing_dependency(module_name):
            continue
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj not in seen:
                seen.add(obj)
                yield f"{module_name}.{name}", obj, False
            if not inspect.isclass(obj):
                continue
            for klass in obj.__mro__:
                if not klass.__module__.startswith("skadaptive"):
                    continue  # scikit-learn's, torch's and builtins' own methods
                for attr, value in vars(klass).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    static = isinstance(value, staticmethod)
                    if isinstance(value, (classmethod, staticmethod)):
                        value = value.__func__
                    elif isinstance(value, property):
                        value = value.fget
                    if not inspect.isfunction(value) or value in seen:
                        continue  # data, and scikit-learn's generated set_*_request
                    seen.add(value)
                    yield f"{klass.__qualname__}.{attr}", value, not static


PUBLIC_CALLABLES = list(_public_callables())


def test_the_walk_finds_the_api():
    names = {name for name, _, _ in PUBLIC_CALLABLES}
    expected = {
        "BaseAdaptiveClassifier.fit",  # inherited from a private base: annotated there
        "BaseAdaptiveClassifier.predict_cost",
        "BudgetMixin.retarget",
        "NetworkSelectionClassifier.__init__",
        "BaseRouter.route",
        "ThresholdPolicy.decide",
        "CostAccuracyDisplay.from_estimator",
        "skadaptive.persistence.load",
        "skadaptive.metrics.predicted_wall_clock",
    }
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize(
    "name, function, is_method", PUBLIC_CALLABLES, ids=[c[0] for c in PUBLIC_CALLABLES]
)
def test_public_callables_are_annotated(name, function, is_method):
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if is_method:
        parameters = parameters[1:]  # self or cls (annotated or not)
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without a type hint: {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, (
        f"{name}: no return type hint"
    )


def test_py_typed_ships():
    package = Path(skadaptive.__file__).parent
    assert (package / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("pyproject.toml is not beside the tests (installed package)")
    config = tomllib.loads(pyproject.read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["skadaptive"]


# A user's script: what mypy must accept.  assert_type fails where a hint is missing (an
# Any is not the class), so the script checks what the hints say, not only that they exist.
GOOD = """
import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from typing_extensions import assert_type

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier, RoutingPolicy
from skadaptive.baselines import oracle_route
from skadaptive.metrics import average_cost, budget_scoring, cheapest_within, speedup
from skadaptive.persistence import dump, load
from skadaptive.routers import HybridPolicy, ThresholdPolicy
from skadaptive.stages import ModelLadder

X = np.zeros((20, 4))
y = np.arange(20) % 2
clf = NetworkSelectionClassifier(
    [("tree", DecisionTreeClassifier(max_depth=3)), ("lr", LogisticRegression())],
    costs=[1, 10],
    cost_weight=0.1,
    topology="jump",
    cv=3,
    random_state=0,
).fit(X, y)
assert_type(clf, NetworkSelectionClassifier)
assert_type(clf.predict_proba(X), NDArray[np.float64])
assert_type(clf.predict_cost(X), NDArray[np.float64])
assert_type(clf.apply(X), NDArray[np.intp])
assert_type(clf.decision_path(X), NDArray[np.bool_])
labels = clf.predict(X)
outputs = np.stack(list(clf.staged_predict_proba(X)), axis=1)
assert_type(clf.set_params(cost_weight=0.2), NetworkSelectionClassifier)
assert_type(average_cost(clf, X), float)
assert_type(speedup(clf, X, y), float)
scores = budget_scoring()(clf, X, y)
assert_type(scores, dict[str, float])
assert_type(cheapest_within(0.01)({"mean_test_accuracy": [0.9]}), int)

policy = RoutingPolicy(costs=[1, 10], cost_weight=0.2, features="proba").fit(outputs, y)
assert_type(policy, RoutingPolicy)
assert_type(policy.score(outputs, y), float)
assert_type(policy.exit_probabilities(outputs), NDArray[np.float64])
thresholds = ThresholdPolicy([0.8], criterion="max_proba").fit(outputs, y)
assert_type(thresholds, ThresholdPolicy)
hybrid = HybridPolicy(policy, thresholds=[0.7]).fit()
assert_type(hybrid.predict_cost(outputs), NDArray[np.float64])
oracle = oracle_route(outputs, y, costs=[1, 10], topology="jump")

data = dump(clf)
assert_type(data, bytes)
assert_type(dump(clf, "model.skops"), None)
loaded = load(data, trusted=["sklearn.tree._tree.Tree"])
ladder = ModelLadder(clf.estimators_, classes=clf.classes_)
assert_type(ladder.predict_exit_proba(ladder.init_exits(X), 0, np.arange(20)), NDArray[np.float64])
early = EarlyExitClassifier(DecisionTreeClassifier(), exits=[1, 2], costs="time", memory=None)
assert_type(early.fit(X, y, sample_weight=np.ones(20)), EarlyExitClassifier)
"""

# Wrong uses, each on its own line, with the error code mypy must report there.
BAD = """
import numpy as np
from sklearn.linear_model import LogisticRegression

from skadaptive import NetworkSelectionClassifier
from skadaptive.persistence import load
from skadaptive.routers import ThresholdPolicy

X = np.zeros((20, 4))
y = np.arange(20) % 2
stages = [("a", LogisticRegression()), ("b", LogisticRegression())]
clf = NetworkSelectionClassifier(stages, top_k="5")  # E: arg-type
clf = NetworkSelectionClassifier(stages, topology="jumps")  # E: arg-type
fitted = NetworkSelectionClassifier(stages).fit(X, y)
label: str = fitted.predict_cost(X)  # E: assignment
fitted.predict_cost(X).upper()  # E: attr-defined
ThresholdPolicy(0.9, criterion="margin")  # E: arg-type
load(42)  # E: arg-type
"""


def test_mypy_sees_the_hints(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (the test extra installs it)")
    good, bad = tmp_path / "user_good.py", tmp_path / "user_bad.py"
    good.write_text(textwrap.dedent(GOOD))
    bad.write_text(textwrap.dedent(BAD))
    # From the repository root, where mypy finds the package being tested (an editable
    # install's import hook is invisible to mypy) and its configuration (pyproject.toml:
    # the untyped scikit-learn, SciPy, ... are Any).  A fresh cache: about 10 s.
    command = [sys.executable, "-m", "mypy", "--show-error-codes", "--no-pretty"]
    command += ["--cache-dir", str(tmp_path / ".mypy_cache"), str(good), str(bad)]
    out = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = out.stdout + out.stderr
    errors = re.findall(r"^(.*?):(\d+): error: .*\[([a-z-]+)\]$", report, flags=re.M)
    assert out.returncode in (0, 1), report  # 2: mypy itself failed
    elsewhere = [e for e in errors if Path(e[0]).name != bad.name]
    assert not elsewhere, f"mypy rejects right uses of the API:\n{report}"
    expected = {
        (str(number), code)
        for number, line in enumerate(bad.read_text().splitlines(), start=1)
        for code in re.findall(r"# E: ([a-z-]+)$", line)
    }
    found = {(line, code) for _, line, code in errors}
    assert found == expected, f"expected (line, code) {sorted(expected)}\n{report}"
