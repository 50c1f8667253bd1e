"""Every display with every estimator: the two fixed-cost_weight ones and their budget siblings."""

import numpy as np
import pytest
from _helpers import stages
from numpy.testing import assert_allclose
from sklearn.ensemble import HistGradientBoostingClassifier

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)
from skadaptive._candidates import DEFAULT_COST_WEIGHTS

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay  # noqa: E402


def hgb():
    return HistGradientBoostingClassifier(max_iter=8, early_stopping=False, random_state=0)


def selection(cls, **kwargs):
    """A three-model ladder (``stages("tree")``), fixed cost_weight or budget sibling."""
    return cls(stages("tree"), costs=[1, 3, 10], cv=3, random_state=0, **kwargs)


def early_exit(cls, **kwargs):
    return cls(hgb(), exits=[2, 4, 8], cv=3, random_state=0, **kwargs)


BUILDERS = {
    "selection": lambda: selection(NetworkSelectionClassifier, cost_weight=0.02),
    "selection-cv": lambda: selection(
        NetworkSelectionClassifierCV, max_relative_cost=0.5, families=["learned"]
    ),
    "early-exit": lambda: early_exit(EarlyExitClassifier, cost_weight=0.02),
    "early-exit-cv": lambda: early_exit(
        EarlyExitClassifierCV, max_accuracy_loss=0.02, families=["thresholds"]
    ),
}


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return {name: build().fit(X, y) for name, build in BUILDERS.items()}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_cost_accuracy_display_from_every_estimator(fitted, digits, name):
    X, y, X_test, y_test = digits
    est = fitted[name]
    disp = CostAccuracyDisplay.from_estimator(est, X_test, y_test, cv=3)
    # The estimator's own point: what its predict does on these rows.
    assert disp.operating_point_.cost == pytest.approx(est.predict_cost(X_test).mean())
    assert disp.operating_point_.accuracy == pytest.approx(est.score(X_test, y_test))
    assert "estimator" in disp.lines_
    # The learned path sweeps the one lambda path of the package (budget mode's).
    assert_allclose(disp.learned_.cost_weight, DEFAULT_COST_WEIGHTS)
    # The reference is the estimator's own: the last model alone, or the full model.
    assert disp.reference_cost_ == pytest.approx(est._reference_cost())
    assert disp.stages_.name == est._stage_names()
    label = disp.lines_["estimator"].get_label()
    if name.endswith("-cv"):
        assert disp.operating_point_.family == est.best_family_
        assert est.best_family_ in label
    else:
        assert f"cost_weight={est.cost_weight:g}" in label


@pytest.mark.parametrize("name", ["selection", "selection-cv"])
def test_the_estimator_lies_on_the_path_learned_from_its_training_labels(fitted, digits, name):
    X, y, X_test, y_test = digits
    est = fitted[name]
    assert est.cost_weight_ if name.endswith("-cv") else est.cost_weight  # a learned router
    disp = CostAccuracyDisplay.from_estimator(est, X_test, y_test, y_train=y)
    weight = est.cost_weight_ if name.endswith("-cv") else est.cost_weight
    i = np.flatnonzero(np.isclose(disp.learned_.cost_weight, weight))[0]
    assert disp.learned_.cost[i] == pytest.approx(disp.operating_point_.cost)
    assert disp.learned_.accuracy[i] == pytest.approx(disp.operating_point_.accuracy)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_exit_share_display_from_every_estimator(fitted, digits, name):
    _, _, X_test, _ = digits
    est = fitted[name]
    disp = ExitShareDisplay.from_estimator(est, X_test)
    expected = np.bincount(est.apply(X_test), minlength=est.n_stages_) / len(X_test)
    assert_allclose(disp.shares_, expected)
    assert disp.stage_names_ == est._stage_names()
    assert disp.ax_.get_title() == type(est).__name__
