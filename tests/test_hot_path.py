"""The predict hot path: X validated once at the entry, the stages not re-validating it.

Speed is measured in benchmarks/, never asserted here; these tests check that the lean
path gives the same routes and answers, and where it applies.
"""

import contextlib

import numpy as np
import pytest
import sklearn
from _helpers import assert_same_routes, spy, tree_ladder
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier
from skadaptive._base import BaseAdaptiveClassifier


class ConfigSpyNB(GaussianNB):
    """GaussianNB that records scikit-learn's assume_finite at each predict_proba."""

    seen = []

    def predict_proba(self, X):
        ConfigSpyNB.seen.append(sklearn.get_config()["assume_finite"])
        return super().predict_proba(X)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return tree_ladder().fit(X, y)


def test_the_lean_path_gives_the_same_routes_and_answers(fitted, digits, monkeypatch):
    _, _, X_test, _ = digits
    lean = fitted.route(X_test)
    monkeypatch.setattr(
        BaseAdaptiveClassifier, "_stage_config", lambda self, X: contextlib.nullcontext()
    )
    plain = fitted.route(X_test)
    for key in ("proba", "stage", "path", "cost"):
        assert_array_equal(lean[key], plain[key])


def test_stages_skip_their_finiteness_check_only_on_input_validated_here(digits):
    pd = pytest.importorskip("pandas")
    X, y, X_test, _ = digits
    clf = NetworkSelectionClassifier(
        [("spy", ConfigSpyNB()), ("nb", GaussianNB())], costs=[1, 2], cv=3, random_state=0
    ).fit(X, y)
    ConfigSpyNB.seen.clear()
    clf.predict(X_test[:5])
    assert ConfigSpyNB.seen == [True]  # checked once at the entry
    assert sklearn.get_config()["assume_finite"] is False  # and restored after
    frame_clf = clone(clf).fit(pd.DataFrame(X), y)
    ConfigSpyNB.seen.clear()
    frame_clf.predict(pd.DataFrame(X_test[:5]))
    assert ConfigSpyNB.seen == [False]  # a data frame is not checked here: stages check it
    bad = X_test[:5].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)


def test_an_unfitted_estimator_still_raises_not_fitted(digits):
    _, _, X_test, _ = digits
    with pytest.raises(NotFittedError):
        tree_ladder().predict(X_test)
    with pytest.raises(NotFittedError):
        list(tree_ladder().staged_predict_proba(X_test))


def test_predict_routes_chunks_in_n_jobs_threads_with_the_same_answers(digits, monkeypatch):
    import threading

    from skadaptive import _chunks

    X, y, X_test, _ = digits
    serial = tree_ladder().fit(X, y)
    expected = serial.route(X_test)
    threaded = clone(serial).set_params(n_jobs=2).fit(X, y)
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 64)
    threads = []
    original = GaussianNB.predict_proba

    def spy(self, X_rows):
        threads.append(threading.get_ident())
        return original(self, X_rows)

    monkeypatch.setattr(GaussianNB, "predict_proba", spy)
    res = threaded.route(X_test)  # 797 rows: chunks of 398 and 399, one per thread
    assert len(threads) == 2 and threading.get_ident() not in threads
    for key in ("proba", "stage", "path", "cost"):
        assert_array_equal(res[key], expected[key])
    assert_array_equal(threaded.predict(X_test), serial.predict(X_test))


@pytest.mark.parametrize(
    "model, check",
    [
        (HistGradientBoostingClassifier(max_iter=10, random_state=0), "_preprocess_X"),
        (RandomForestClassifier(n_estimators=5, random_state=0), "_validate_X_predict"),
        (GradientBoostingClassifier(n_estimators=5, random_state=0), None),
    ],
    ids=["hgb", "forest", "gb"],
)
def test_tree_exits_skip_the_models_own_check_of_rows_checked_here(digits, model, check):
    """Under predict, a float array checked at the entry is not checked again by the model;
    the answers are the model's own, and direct calls keep the model's check."""
    X, y, X_test, _ = digits
    clf = EarlyExitClassifier(model, exits=[0.4, 1.0], cost_weight=0.05, cv=3, random_state=0)
    clf.fit(X, y)
    fitted = clf.estimator_
    calls = []
    if check is not None:
        original = getattr(fitted, check)
        fitted.__dict__[check] = lambda *a, **k: calls.append(1) or original(*a, **k)
    res = clf.route(X_test)
    assert calls == []  # the entry's check was the only one
    last = res.stage == 1
    assert last.any()
    assert_allclose(res.proba[last], fitted.predict_proba(X_test[last]), rtol=1e-12)
    # a direct call (no assume_finite from the estimator) checks as the model does
    exits = clf.stage_model_
    calls.clear()
    if check is not None:
        exits.init_exits(X_test[:3])
        assert calls == [1]
    with pytest.raises(ValueError, match="features"):
        exits.init_exits(X_test[:3, :10])


def test_exit_probabilities_of_logistic_policies_skip_the_check_with_the_same_bits(monkeypatch):
    """A binary LogisticRegression's probability of "exit" is computed as scikit-learn does,
    without its input check: the same bits, so hybrid routes are unchanged."""
    from _helpers import make_outputs
    from sklearn.linear_model import LogisticRegression

    import skadaptive._routers as routers
    from skadaptive import RoutingPolicy
    from skadaptive.routers import HybridPolicy

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    lr = LogisticRegression().fit(X, (X[:, 0] + rng.normal(size=400) > 0).astype(int))
    for rows in (X * 3, X[::3], X[:1]):
        assert_array_equal(
            routers.exit_probability(lr, len(rows), lambda rows=rows: rows),
            lr.predict_proba(rows)[:, 0],
        )
    outputs, y = make_outputs(n=600, n_stages=3)
    policy = RoutingPolicy(costs=[1, 2, 4], cost_weight=0.05).fit(outputs, y)
    hybrid = HybridPolicy(policy, [0.6, 0.7]).fit()
    fast = hybrid.route(outputs)
    monkeypatch.setattr(routers, "_binary_logistic_exit", lambda policy, X: None)
    slow = hybrid.route(outputs)
    assert_array_equal(fast.stage, slow.stage)
    assert_array_equal(fast.proba, slow.proba)
    assert len(set(fast.stage)) == 3


@pytest.mark.parametrize("n_classes", [2, 10])
@pytest.mark.parametrize(
    "model",
    [LogisticRegression(max_iter=300), MLPClassifier((16,), max_iter=50, random_state=0)],
    ids=["logistic", "mlp"],
)
def test_ladder_stages_skip_their_check_with_the_same_bits(digits, model, n_classes, monkeypatch):
    """Logistic regression and MLP stages predict rows checked at the entry without checking
    them again: the same probabilities, bit for bit, and the same routes."""
    import warnings

    import skadaptive._compat as compat

    X, y, X_test, _ = digits
    X, X_test = X / 16, X_test / 16
    y = y if n_classes == 10 else y % 2  # odd or even: hard for naive Bayes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short MLP fit does not converge
        fitted = clone(model).fit(X, y)
    with sklearn.config_context(assume_finite=True):
        for rows in (X_test, X_test[:1], X_test[::3], X_test.astype(np.float32)):
            assert_array_equal(compat.fast_predict_proba(fitted, rows), fitted.predict_proba(rows))
    assert compat.fast_predict_proba(fitted, X_test) is None  # a direct call checks as usual
    clf = NetworkSelectionClassifier(
        [("nb", GaussianNB()), ("m", clone(model))], costs=[1, 10], cost_weight=0.0, cv=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.set_params(random_state=0).fit(X, y)
    calls = spy(monkeypatch, type(fitted), "predict_proba")
    fast = clf.route(X_test)
    assert fast.path[:, 1].any() and calls == []  # the model ran, on the fast path
    monkeypatch.setattr(compat, "fast_predict_proba", lambda model, X: None)
    slow = clf.route(X_test)
    assert calls  # the model's own predict_proba ran
    assert_same_routes(fast, slow)
