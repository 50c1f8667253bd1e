"""Tree ensembles as multi-exit models, and the multi-exit protocol."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from skadaptive import EarlyExitClassifier
from skadaptive._stages import TreeEnsembleExits, resolve_exits, stage_outputs

ENSEMBLES = {
    "hgb": lambda: HistGradientBoostingClassifier(
        max_iter=12, early_stopping=False, random_state=0
    ),
    "gb": lambda: GradientBoostingClassifier(n_estimators=12, max_depth=2, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=12, random_state=0),
    "et": lambda: ExtraTreesClassifier(n_estimators=12, random_state=0),
}


def data(n_classes, n=300, seed=0):
    return make_classification(
        n_samples=n, n_features=8, n_informative=5, n_classes=n_classes, random_state=seed
    )


def staged_reference(model, X, counts):
    """Probabilities after each count of trees, from the model's public API."""
    if hasattr(model, "staged_predict_proba"):
        staged = list(model.staged_predict_proba(X))
        return [staged[c - 1] for c in counts]
    trees = model.estimators_
    return [
        np.mean([t.predict_proba(X.astype(np.float32)) for t in trees[:c]], axis=0) for c in counts
    ]


@pytest.mark.parametrize("name", sorted(ENSEMBLES))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_exits_reproduce_the_model(name, n_classes):
    X, y = data(n_classes)
    model = ENSEMBLES[name]().fit(X, y)
    exits = TreeEnsembleExits(model, [3, 6, 12])
    outputs = stage_outputs(exits, X, model.classes_)
    assert outputs.shape == (len(X), 3, n_classes)
    assert_allclose(outputs[:, -1], model.predict_proba(X), rtol=1e-6, atol=1e-9)
    for k, ref in enumerate(staged_reference(model, X, [3, 6, 12])):
        assert_allclose(outputs[:, k], ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ENSEMBLES))
def test_a_later_exit_continues_for_a_subset_of_rows(name):
    X, y = data(3)
    model = ENSEMBLES[name]().fit(X, y)
    exits = TreeEnsembleExits(model, [4, 8, 12])
    full = stage_outputs(exits, X, model.classes_)
    state = exits.init_exits(X)
    exits.predict_exit_proba(state, 0, np.arange(len(X)))
    rows = np.arange(0, len(X), 3)
    p1 = exits.predict_exit_proba(state, 1, rows)
    sub = rows[::2]
    p2 = exits.predict_exit_proba(state, 2, sub)
    assert_allclose(p1, full[rows, 1], rtol=1e-6, atol=1e-9)
    assert_allclose(p2, full[sub, 2], rtol=1e-6, atol=1e-9)


def test_hgb_with_missing_values_matches_predict_proba():
    X, y = data(3)
    X = X.copy()
    X[::7, 2] = np.nan
    model = ENSEMBLES["hgb"]().fit(X, y)
    outputs = stage_outputs(TreeEnsembleExits(model, [6, 12]), X, model.classes_)
    assert_allclose(outputs[:, -1], model.predict_proba(X), rtol=1e-6, atol=1e-9)


def test_resolve_exits():
    assert resolve_exits([2, 5, 10], 10) == [2, 5, 10]
    assert resolve_exits([0.25, 0.5, 1.0], 100) == [25, 50, 100]
    assert resolve_exits(None, 80) == [10, 20, 40, 80]
    with pytest.raises(ValueError, match="increase strictly"):
        resolve_exits([5, 5, 10], 10)
    with pytest.raises(ValueError, match="increase strictly"):
        resolve_exits([5, 20], 10)
    with pytest.raises(ValueError, match="At least 2 exits"):
        resolve_exits([10], 10)
    with pytest.raises(ValueError, match="fractions"):
        resolve_exits([0.5, 1.5], 10)
    with pytest.raises(ValueError, match="increase strictly"):
        resolve_exits([0.1, 0.2, 1.0], 4)  # too few trees for these fractions


def test_exits_short_of_the_model_are_refused():
    """The last exit is the reference: exits that stop before the model's last tree would
    make a smaller model the reference, silently."""
    with pytest.raises(ValueError, match=r"stop after 10 of the model's 20 .* End exits with 20"):
        resolve_exits([5, 10], 20)
    with pytest.raises(ValueError, match="stop after 5 of the model's 10"):
        resolve_exits([0.2, 0.5], 10)
    X, y = data(2, n=300)
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    with pytest.raises(ValueError, match="stop after 10 of the model's 20"):
        EarlyExitClassifier(hgb, exits=[5, 10], cv=3).fit(X, y)


def test_early_stopped_hgb_and_fraction_exits():
    X, y = data(2, n=600)
    hgb = HistGradientBoostingClassifier(max_iter=200, early_stopping=True, random_state=0)
    clf = EarlyExitClassifier(hgb, exits=[0.25, 0.5, 1.0], cv=3, random_state=0).fit(X, y)
    n_iter = clf.estimator_.n_iter_
    assert clf.exits_[-1] == n_iter
    with pytest.raises(ValueError, match="increase strictly"):
        EarlyExitClassifier(hgb, exits=[10, n_iter + 500], cv=3).fit(X, y)


def test_estimator_without_exits_is_rejected():
    X, y = data(2)
    with pytest.raises(TypeError, match="cannot find exits in LogisticRegression"):
        EarlyExitClassifier(LogisticRegression()).fit(X, y)


class TwoHeadModel(ClassifierMixin, BaseEstimator):
    """A toy multi-exit model: exit 0 sees 2 features, exit 1 all of them.

    It records the rows each stage computes, to show the protocol in action.
    """

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        self.head0_ = LogisticRegression(C=self.C).fit(X[:, :2], y)
        self.head1_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.head1_.classes_
        self.n_exits_ = 2
        self.exit_costs_ = np.array([1.0, 3.0])
        self.seen_ = {0: [], 1: []}
        return self

    def predict_proba(self, X):
        return self.head1_.predict_proba(X)

    def init_exits(self, X):
        return {"X": np.asarray(X), "done": np.zeros(len(X), dtype=int)}

    def predict_exit_proba(self, state, k, rows):
        assert (state["done"][rows] == k).all(), "a stage ran before the one before it"
        state["done"][rows] += 1
        self.seen_[k].append(np.asarray(rows).copy())
        X = state["X"][rows]
        return (self.head0_ if k == 0 else self.head1_).predict_proba(X[:, :2] if k == 0 else X)


def test_protocol_model_as_early_exit_estimator():
    X, y = data(2, n=400)
    clf = EarlyExitClassifier(TwoHeadModel(), cost_weight=0.2, cv=3, random_state=0).fit(X, y)
    assert clf.costs_.tolist() == [1.0, 3.0]
    check_is_fitted(clf.estimator_)
    model = clf.estimator_
    model.seen_ = {0: [], 1: []}
    stage = clf.apply(X)
    assert_allclose(np.concatenate(model.seen_[0]), np.arange(len(X)))
    reached = np.concatenate(model.seen_[1]) if model.seen_[1] else np.array([], int)
    assert set(reached) == set(np.flatnonzero(stage == 1))
    assert 0 < (stage == 0).mean() < 1
    with pytest.raises(ValueError, match="exits must be None"):
        EarlyExitClassifier(TwoHeadModel(), exits=[1, 2]).fit(X, y)


def test_frozen_protocol_model():
    X, y = data(2, n=400)
    model = TwoHeadModel().fit(X[:200], y[:200])
    clf = EarlyExitClassifier(FrozenEstimator(model), cost_weight=0.2).fit(X[200:], y[200:])
    assert clf.stage_model_ is model
    assert clf.score(X[200:], y[200:]) > 0.5


def test_the_last_exit_in_one_pass_is_every_exit_in_turn(digits):
    X, y, X_test, _ = digits
    for model in (
        HistGradientBoostingClassifier(max_iter=12, early_stopping=False, random_state=0),
        GradientBoostingClassifier(n_estimators=6, max_depth=2, random_state=0),
        RandomForestClassifier(n_estimators=8, random_state=0),
    ):
        exits = TreeEnsembleExits(model.fit(X, y), exits=[0.25, 0.5, 1.0])
        staged = stage_outputs(exits, X_test, model.classes_)
        assert_allclose(exits.predict_last_exit_proba(X_test), staged[:, -1], rtol=1e-12)
        assert_allclose(exits.predict_last_exit_proba(X_test), model.predict_proba(X_test))
