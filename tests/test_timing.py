"""The time-aware cost model: stages measured per call and per row, amortised at a batch size.

The arithmetic (amortised costs, batch times, the reference's time) is checked exactly
and against a simulation; the measurement against stages that busy-wait a known time
(with generous bounds: a loaded machine only adds time, and medians absorb most of it);
the fixed point with the measurement replaced by fixed times, so that fits are exact.
"""

import time

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skadaptive._fitting
import skadaptive._time_aware
from skadaptive import EarlyExitClassifier, EarlyExitClassifierCV, NetworkSelectionClassifier
from skadaptive._timing import (
    amortised_costs,
    batch_time,
    expected_time,
    measure_last_exit_times,
    measure_stage_times,
    reference_time,
)
from skadaptive.metrics import predicted_wall_clock, reference_cost

# -- the arithmetic -------------------------------------------------------------------------

TIMES = np.array([[1e-3, 1e-5], [2e-3, 4e-5], [5e-3, 1e-4]])  # seconds per call, per row


def test_amortised_costs_limits():
    per_call, per_row = TIMES.T
    assert_allclose(amortised_costs(TIMES, [1, 1, 1], 100), per_row + per_call / 100)
    # a stage no row reaches: the first row to do so pays the whole call
    assert_allclose(amortised_costs(TIMES, [1, 0, 0], 100)[1:], (per_row + per_call)[1:])
    # one row per call: every row pays every call, whatever the fractions
    assert_allclose(amortised_costs(TIMES, [1, 0.3, 1e-9], 1), per_row + per_call)
    # tiny fractions do not lose precision (1 - (1 - p) ** B computed with expm1/log1p)
    assert_allclose(amortised_costs(TIMES, [1, 1e-12, 1e-12], 100)[1:], (per_row + per_call)[1:])


def test_amortised_costs_give_the_expected_batch_time():
    """sum_k p_k c_k is the mean time per row of batches of independent rows (simulated)."""
    rng = np.random.default_rng(0)
    reach, B = np.array([1.0, 0.3, 0.02]), 50
    costs = amortised_costs(TIMES, reach, B)
    paths = rng.random((20_000, B, 3)) < reach  # each row reaches each stage independently
    simulated = np.mean([batch_time(TIMES, path) for path in paths]) / B
    assert_allclose(reach @ costs, simulated, rtol=0.01)
    assert expected_time(TIMES, B, reach) == pytest.approx(reach @ costs)


def test_batch_time_counts_calls_and_rows():
    path = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=bool)
    per_call, per_row = TIMES.T
    one_call = per_call @ [1, 1, 1] + per_row @ [5, 2, 1]
    assert batch_time(TIMES, path) == pytest.approx(one_call)
    # batches of 2: rows {0, 1}, {2, 3}, {4}: calls of stage 0: 3, stage 1: 2, stage 2: 1
    assert batch_time(TIMES, path, 2) == pytest.approx(per_call @ [3, 2, 1] + per_row @ [5, 2, 1])
    assert batch_time(TIMES, path[:0]) == 0.0


def test_reference_time():
    per_call, per_row = TIMES.T
    assert reference_time(TIMES, 0, 10) == pytest.approx(np.sum(per_call / 10 + per_row))
    assert reference_time(TIMES, 2, 1) == pytest.approx(per_call[2] + per_row[2])


# -- stages that take a known time ----------------------------------------------------------


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class SlowExits(ClassifierMixin, BaseEstimator):
    """A multi-exit model: logistic regressions on more and more pixels, each exit taking
    ``per_call[k] + per_row[k] * n`` seconds on ``n`` rows."""

    def __init__(self, per_call=(2e-4, 5e-4, 3e-3), per_row=(1e-6, 2e-6, 1e-5)):
        self.per_call = per_call
        self.per_row = per_row

    def fit(self, X, y):
        self.columns_ = [slice(0, 8), slice(0, 24), slice(0, 64)]
        X = np.asarray(X) / 16
        self.models_ = [LogisticRegression(max_iter=1000).fit(X[:, c], y) for c in self.columns_]
        self.classes_ = self.models_[0].classes_
        self.n_exits_ = 3
        return self

    def init_exits(self, X):
        return {"X": np.asarray(X)}

    def predict_exit_proba(self, state, k, rows):
        rows = np.asarray(rows)
        busy(self.per_call[k] + self.per_row[k] * len(rows))
        return self.models_[k].predict_proba(state["X"][rows][:, self.columns_[k]] / 16)

    def predict_proba(self, X):
        return self.models_[-1].predict_proba(np.asarray(X) / 16)


def test_measure_stage_times_finds_the_per_call_and_per_row_parts(digits):
    X, y, _, _ = digits
    model = SlowExits(per_call=(2e-3, 4e-3, 6e-3), per_row=(2e-5, 4e-5, 6e-5)).fit(X, y)
    times = measure_stage_times(model, X[:200])
    assert times.shape == (3, 2)
    ratio = times / np.column_stack([model.per_call, model.per_row])
    assert np.all((ratio > 0.7) & (ratio < 1.6)), times  # the busy wait dominates


def fixed_times(monkeypatch, times):
    """Replace the measurement by ``times``, so that the fits are exact."""
    monkeypatch.setattr(skadaptive._fitting, "measure_stage_times", lambda model, X: times.copy())


def test_serving_batch_of_one_charges_every_call(digits, monkeypatch):
    X, y, _, _ = digits
    fixed_times(monkeypatch, TIMES)
    clf = EarlyExitClassifier(SlowExits((0, 0, 0), (0, 0, 0)), costs="time", cv=3)
    clf.set_params(serving_batch_size=1, random_state=0).fit(X, y)
    assert_allclose(clf.stage_times_, TIMES)
    assert_allclose(clf.costs_, TIMES.sum(axis=1))
    assert_allclose(clf.policy_.costs_, clf.costs_)  # the policies learned with them
    assert reference_cost(clf) == pytest.approx(TIMES.sum())


def test_policies_learn_at_the_fixed_point(digits, monkeypatch):
    """Costs are amortised over the rows the fitted policies send to each stage."""
    X, y, _, _ = digits
    # the same time per row everywhere, and a heavy call at the end
    times = np.array([[1e-5, 1e-4], [1e-5, 1e-4], [5e-3, 1e-4]])
    fixed_times(monkeypatch, times)
    reach, costs = {}, {}
    for batch in (1, 100, 10_000):
        clf = EarlyExitClassifier(SlowExits((0, 0, 0), (0, 0, 0)), costs="time", cv=3)
        clf.set_params(serving_batch_size=batch, cost_weight=0.2, random_state=0).fit(X, y)
        path = clf.policy_.decision_path(clf.oof_outputs_)
        reach[batch], costs[batch] = path.mean(axis=0), clf.costs_
        assert reference_cost(clf) == pytest.approx(reference_time(times, 0, batch))
        # costs_ are amortised over the rows the fitted policies send to each stage, and
        # the policies learned with costs of fractions within the tolerance of those
        assert_allclose(costs[batch], amortised_costs(times, reach[batch], batch))
        near = [
            amortised_costs(times, np.clip(reach[batch] + d, 0, 1), batch) for d in (-0.011, 0.011)
        ]
        learned = clf.policy_.costs_
        assert np.all(learned >= np.minimum(*near) - 1e-12)
        assert np.all(learned <= np.maximum(*near) + 1e-12)
    # the rarer the calls are shared, the dearer the heavy last stage, the fewer rows reach it
    assert costs[1][2] > costs[100][2] > costs[10_000][2]
    assert reach[1][2] <= reach[100][2] <= reach[10_000][2]
    assert reach[1][2] < reach[10_000][2]


def expected_time_per_row(times, reach, batch):
    """sum_k a_k (1 - (1 - p_k)^B) / B + b_k p_k: the mean time per row of a batch."""
    per_call, per_row = times.T
    return float(np.sum(per_call * (1 - (1 - reach) ** batch) / batch + per_row * reach))


@pytest.mark.parametrize("target", [{"max_relative_cost": 0.5}, {"max_accuracy_loss": 0.0}])
def test_the_mean_cost_of_the_chosen_router_is_its_expected_time(digits, monkeypatch, target):
    """Whatever budget mode chooses (the reference included), the mean predict_cost on the
    training rows is the expected time per row of its routes: the cost model's speed-up of
    the reference is 1."""
    X, y, _, _ = digits
    fixed_times(monkeypatch, TIMES)
    clf = EarlyExitClassifierCV(SlowExits((0, 0, 0), (0, 0, 0)), costs="time", cv=3, **target)
    clf.set_params(random_state=0).fit(X, y)
    res = clf.policy_.route(clf.oof_outputs_)
    reach = res.path.mean(axis=0)
    mean_cost = float(np.mean(res.path @ clf.costs_))
    assert mean_cost == pytest.approx(expected_time_per_row(TIMES, reach, 100))
    assert reference_cost(clf) == pytest.approx(expected_time_per_row(TIMES, np.ones(3), 100))


def test_budget_mode_measures_against_the_reference_time(digits, monkeypatch):
    X, y, _, _ = digits
    fixed_times(monkeypatch, TIMES)
    clf = EarlyExitClassifierCV(
        SlowExits((0, 0, 0), (0, 0, 0)), max_relative_cost=0.5, costs="time", cv=3
    ).fit(X, y)
    reference = reference_time(TIMES, 0, 100)
    assert reference_cost(clf) == pytest.approx(reference)
    chosen = clf.cv_results_["mean_test_cost"][clf.best_index_]
    assert chosen <= 0.5 * reference + 1e-12


# -- the predicted wall clock ---------------------------------------------------------------


def test_predicted_wall_clock_matches_a_stopwatch(digits):
    X, y, X_test, _ = digits
    slow = SlowExits(per_call=(1e-3, 2e-3, 4e-3), per_row=(1e-5, 2e-5, 4e-5))
    clf = EarlyExitClassifier(slow, costs="time", serving_batch_size=50, cost_weight=0.05, cv=3)
    clf.set_params(random_state=0).fit(X, y)
    assert clf.routing_times_.shape == (2,) and np.all(clf.routing_times_ >= 0)
    rows = X_test[:300]
    predicted = predicted_wall_clock(clf, rows, batch_size=50)
    t0 = time.perf_counter()
    for start in range(0, 300, 50):
        clf.predict(rows[start : start + 50])
    measured = time.perf_counter() - t0
    assert 0.7 < measured / predicted < 1.5
    # the stages' part alone is a lower bound that the busy waits dominate
    stages_only = batch_time(clf.stage_times_, clf.decision_path(rows), 50)
    assert stages_only <= predicted
    # one call on every row, and a Pipeline that ends with the estimator
    pipe = make_pipeline(FunctionTransformer(), clf)
    assert predicted_wall_clock(pipe, rows) == pytest.approx(predicted_wall_clock(clf, rows))


def test_predicted_wall_clock_needs_measured_costs(digits):
    X, y, X_test, _ = digits
    clf = NetworkSelectionClassifier(
        [("a", LogisticRegression(max_iter=200)), ("b", LogisticRegression(max_iter=200))],
        costs=[1, 2],
        cv=3,
    ).fit(X, y)
    assert clf.stage_times_ is None
    with pytest.raises(ValueError, match="needs the stages' measured times: fit with costs='time'"):
        predicted_wall_clock(clf, X_test)


def test_predicted_wall_clock_rejects_bad_batch_sizes(digits, monkeypatch):
    X, y, X_test, _ = digits
    fixed_times(monkeypatch, TIMES)
    clf = EarlyExitClassifier(SlowExits((0, 0, 0), (0, 0, 0)), costs="time", cv=3).fit(X, y)
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ValueError, match="batch_size must be a positive integer or None"):
            predicted_wall_clock(clf, X_test, batch_size=bad)


def test_serving_batch_size_is_validated(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="serving_batch_size"):
        EarlyExitClassifier(SlowExits(), costs="time", serving_batch_size=0).fit(X, y)


def test_a_fixed_point_not_reached_is_logged_and_costs_follow_the_routes(
    digits, monkeypatch, caplog
):
    X, y, _, _ = digits
    fixed_times(monkeypatch, TIMES)
    monkeypatch.setattr(skadaptive._time_aware, "MAX_TIME_ROUNDS", 1)
    clf = EarlyExitClassifier(SlowExits((0, 0, 0), (0, 0, 0)), costs="time", cv=3)
    with caplog.at_level("INFO", logger="skadaptive"):
        clf.set_params(cost_weight=0.2, random_state=0).fit(X, y)
    assert "Time-aware costs did not settle in 1 fits" in caplog.text
    reach = clf.policy_.decision_path(clf.oof_outputs_).mean(axis=0)
    assert reach[2] < 0.99  # the one fit, learned as if every row ran every stage, exits some
    assert_allclose(clf.costs_, amortised_costs(TIMES, reach, 100))


# -- the reference in one pass ---------------------------------------------------------------


class SlowExitsInOnePass(SlowExits):
    """SlowExits whose last exit also runs in one pass, ``whole`` seconds per call and row."""

    def __init__(self, per_call=(2e-4, 5e-4, 3e-3), per_row=(1e-6, 2e-6, 1e-5), whole=(0, 0)):
        super().__init__(per_call, per_row)
        self.whole = whole

    def predict_last_exit_proba(self, X):
        busy(self.whole[0] + self.whole[1] * len(X))
        return self.predict_proba(X)


def test_reference_time_of_one_pass():
    assert reference_time(TIMES, 0, 10, [1e-3, 2e-5]) == pytest.approx(1e-3 / 10 + 2e-5)


def test_measure_last_exit_times_finds_the_per_call_and_per_row_parts(digits):
    X, y, _, _ = digits
    model = SlowExitsInOnePass(whole=(4e-3, 4e-5)).fit(X, y)
    times = measure_last_exit_times(model, X[:200])
    ratio = times / np.array(model.whole)
    assert np.all((ratio > 0.7) & (ratio < 1.6)), times  # the busy wait dominates
    assert measure_last_exit_times(SlowExits().fit(X, y), X[:200]) is None


def test_the_reference_costs_its_one_pass(digits, monkeypatch):
    X, y, X_test, _ = digits
    fixed_times(monkeypatch, TIMES)
    whole = np.array([TIMES[:, 0].max(), TIMES[:, 1].sum()])  # one call instead of three
    monkeypatch.setattr(skadaptive._fitting, "measure_last_exit_times", lambda m, X: whole)
    clf = EarlyExitClassifierCV(
        SlowExitsInOnePass((0, 0, 0), (0, 0, 0)), max_accuracy_loss=0.0, costs="time", cv=3
    ).fit(X, y)
    expected = reference_time(TIMES, 0, 100, whole)
    assert expected < reference_time(TIMES, 0, 100)
    assert reference_cost(clf) == pytest.approx(expected)
    results = clf.cv_results_
    index = int(np.flatnonzero(results["family"] == "reference")[0])
    assert results["mean_test_cost"][index] == pytest.approx(expected)
    # Served: one pass, costed as such, the whole model's answers.
    res = clf._route_rows(X_test, clf._reference_router())
    assert_allclose(res.cost, expected)
    assert_allclose(res.proba, clf.estimator_.predict_proba(X_test))
