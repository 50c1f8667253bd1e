"""Smoke test of an installed skadaptive (a wheel or an sdist), run from outside the source tree.

``make package-test`` builds the wheel and the sdist, installs each in a clean virtual
environment with nothing but the package's own dependencies, and runs this script there: the
package imports without its optional extras, both estimators fit and predict, and a fitted
estimator pickles.  Not a pytest module: it runs against the installed package alone.
"""

import pickle
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import skadaptive
from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier

source_tree = Path(__file__).resolve().parents[1]
installed = Path(skadaptive.__file__).resolve()
assert installed.parent != source_tree / "skadaptive", f"imported the source tree: {installed}"
assert "site-packages" in installed.parts, f"not an installed package: {installed}"
assert metadata.version("skadaptive") == skadaptive.__version__
for extra in ("torch", "xgboost", "lightgbm", "catboost", "matplotlib", "skops"):
    assert extra not in sys.modules, f"import skadaptive imported {extra}"
license_files = [f for f in metadata.files("skadaptive") if f.name == "LICENSE"]
assert license_files, "the LICENSE is not in the distribution"
assert (installed.parent / "py.typed").is_file(), "py.typed is not in the distribution (PEP 561)"

X, y = load_digits(return_X_y=True)
ladder = NetworkSelectionClassifier(
    [("lr", LogisticRegression(max_iter=1000)), ("hgb", HistGradientBoostingClassifier())],
    costs=[1, 10],
    cost_weight=0.05,
    cv=3,
    random_state=0,
).fit(X[:1200], y[:1200])
assert ladder.score(X[1200:], y[1200:]) > 0.85
cost = ladder.predict_cost(X[1200:])
assert set(np.unique(cost)) <= {1.0, 10.0, 11.0}, np.unique(cost)  # the routes' own costs
early = EarlyExitClassifier(
    HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0),
    exits=[5, 20],
    cost_weight=0.05,
    cv=3,
    random_state=0,
).fit(X[:1200], y[:1200])
again = pickle.loads(pickle.dumps(early))
assert np.array_equal(again.predict(X[1200:]), early.predict(X[1200:]))
print(f"skadaptive {skadaptive.__version__} from {installed.parent}: smoke test passed")
