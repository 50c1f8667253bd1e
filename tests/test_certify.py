"""Budget mode's guarantee mode (``confidence=``): what it certifies, on a problem whose truth
is known, and how the estimators use it."""

import warnings

import numpy as np
import pytest
from _helpers import budget_ladder, split_digits
from numpy.testing import assert_allclose

from skadaptive import RoutingPolicy
from skadaptive._candidates import Target, cost_fractions, evaluate_path
from skadaptive._certify import calibration_split, certify, order_to_test
from skadaptive._losses import stage_losses
from skadaptive.exceptions import GuaranteeWarning
from skadaptive.routers import ReferencePolicy

DELTA = 0.1
REFERENCE_ERROR = 0.05


def synthetic(rng, n):
    """Two stages, two classes.  Stage 0's largest probability ``s`` is uniform on
    [0.5, 1] and right with probability ``s``; stage 1 (the reference) is right with
    probability 0.95.  Exiting the rows with ``s >= t`` raises the error by exactly
    ``a**2 - 0.1 a`` with ``a = 1 - t`` (for t in [0.5, 1])."""
    s = rng.uniform(0.5, 1.0, n)
    first_right = rng.random(n) < s
    ref_right = rng.random(n) >= REFERENCE_ERROR
    y = rng.integers(0, 2, n)
    first = np.where(first_right, y, 1 - y)
    ref = np.where(ref_right, y, 1 - y)
    outputs = np.empty((n, 2, 2))
    outputs[np.arange(n), 0, first] = s
    outputs[np.arange(n), 0, 1 - first] = 1 - s
    outputs[np.arange(n), 1, ref] = 0.9
    outputs[np.arange(n), 1, 1 - ref] = 0.1
    return outputs, y


def true_increase(threshold):
    a = np.clip(1.0 - threshold, 0.0, 0.5)
    return a**2 - 0.1 * a


def guarantee_setup(target):
    costs = np.array([1.0, 10.0])
    return {
        "template": RoutingPolicy(costs=costs, classes=np.array([0, 1])),
        "target": target,
        "families": ("thresholds",),
        "cost_weights": np.array([0.0]),
        "fractions": cost_fractions(costs, 11.0),
        "reference_cost": 11.0,  # the chain through both stages
        "reference_router": ReferencePolicy(costs, np.array([0, 1]), 0).fit(),
        "timing": None,
    }


def choose_with_guarantee(rng, n, target):
    outputs, y = synthetic(rng, n)
    setup = guarantee_setup(Target("loss", target))
    losses = stage_losses(outputs, y, np.array([0, 1]))
    select, calibrate = calibration_split(y, 0.3, int(rng.integers(1 << 30)))
    folds = np.array_split(rng.permutation(select), 4)
    splits = [(np.setdiff1d(select, f), np.sort(f)) for f in folds]
    path = evaluate_path(setup, outputs, losses, None, splits, progress=lambda it: it)
    index, router, record = certify(setup, path, outputs, losses, None, select, calibrate, DELTA)
    return path, index, router, record


def test_the_certified_router_meets_the_target_with_the_confidence_asked():
    """Over many draws of the rows, the chosen router's true loss increase exceeds the
    target in at most delta of them (plus three standard errors of the draw count), and
    most draws certify a router that saves work."""
    rng = np.random.default_rng(0)
    target, n_draws = 0.01, 120
    truth, exits = [], []
    for _ in range(n_draws):
        _, index, router, record = choose_with_guarantee(rng, 3000, target)
        if index is None or isinstance(router, ReferencePolicy):
            truth.append(0.0)
            exits.append(0.0)
            continue
        (t,) = router.thresholds_
        truth.append(true_increase(t))
        exits.append(1 - t)
    truth = np.array(truth)
    slack = 3 * np.sqrt(DELTA * (1 - DELTA) / n_draws)
    assert np.mean(truth > target + 1e-12) <= DELTA + slack
    # Usually a useful router: the median one answers 10% of the rows at stage 0 or more
    # (the best within the target, 32%, needs more than 900 calibration rows to certify).
    exits = np.array(exits)
    assert np.median(exits) > 0.05 and np.mean(exits == 0) < 0.3


def test_certification_is_a_prefix_of_the_fixed_order():
    rng = np.random.default_rng(1)
    path, index, _, record = choose_with_guarantee(rng, 3000, 0.01)
    order = order_to_test(path, "loss", 0.01, 11.0)
    tested = order[~np.isnan(record["p_value"][order])]
    assert_allclose(tested, order[: len(tested)])  # tested in order, stopped at a failure
    certified = np.flatnonzero(record["certified"])
    assert set(certified) == set(order[: len(certified)])
    assert np.all(record["p_value"][certified] <= DELTA)
    assert index in certified
    # most likely to pass first: the held-out margin to the target, in standard errors
    z = (0.01 - path["increase"][order]) / path["increase_se"][order]
    assert np.all(np.diff(z) <= 1e-12)
    assert np.all(path["mean_cost"][order] < 11.0)  # never a candidate as dear as the reference


@pytest.fixture(scope="module")
def digits():
    return split_digits(1200)


def test_guarantee_mode_serves_the_router_it_tested(digits):
    X, y, X_test, y_test = digits
    clf = budget_ladder(max_accuracy_loss=0.03, confidence=0.9, calibration_size=0.5).fit(X, y)
    res, best = clf.cv_results_, clf.best_index_
    assert res["certified"][best] and res["p_value"][best] <= 0.1
    estimate = clf.estimate_
    assert estimate["rows"] == "calibration" and estimate["certified"]
    # the served router is the one tested: on the calibration rows it gives the estimate
    _, calibrate = calibration_split(y, 0.5, 0)
    assert estimate["n_rows"] == len(calibrate)
    outputs = clf.oof_outputs_[calibrate]
    stage = clf.policy_.apply(outputs)
    losses = stage_losses(outputs, y[calibrate], clf.classes_)
    increase = losses[np.arange(len(calibrate)), stage] - losses[:, -1]
    assert estimate["loss_increase"] == pytest.approx(increase.mean())
    low, high = estimate["loss_increase_interval"]
    assert low < estimate["loss_increase"] < high
    assert clf.predict_cost(X_test).mean() < 10.0  # cheaper than the reference alone
    assert clf.score(X_test, y_test) > 0.8


def test_guarantee_mode_falls_back_with_a_warning(digits):
    X, y, X_test, _ = digits
    # 40 calibration rows cannot certify a zero loss increase
    clf = budget_ladder(max_accuracy_loss=0.0, confidence=0.95, calibration_size=40)
    with pytest.warns(GuaranteeWarning, match="the reference itself is served") as record:
        clf.fit(X, y)
    ours = [r for r in record if r.category is GuaranteeWarning]
    assert ours[0].filename == __file__  # the warning points at the caller's line
    assert clf.best_family_ == "reference" and not clf.estimate_["certified"]
    assert_allclose(clf.predict_cost(X_test), 10.0)
    # a cost budget below what can be certified: stage 0 alone, at its fixed cost
    clf = budget_ladder(max_cost=1.0, confidence=0.9)
    with pytest.warns(GuaranteeWarning, match="answered by stage 0 alone"):
        clf.fit(X, y)
    assert clf.best_index_ is None and clf.best_family_ == "first_stage"
    assert_allclose(clf.predict_cost(X_test), 1.0)


def test_guarantee_mode_keeps_a_cost_budget(digits):
    X, y, X_test, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", GuaranteeWarning)
        clf = budget_ladder(max_relative_cost=0.6, confidence=0.9).fit(X, y)
    assert clf.estimate_["certified"] and clf.estimate_["relative_cost"] <= 0.6
    assert clf.predict_cost(X_test).mean() <= 6.0 * 1.1


def test_guarantee_mode_errors(digits):
    X, y, _, _ = digits
    clf = budget_ladder(max_accuracy_loss=0.01, confidence=0.9)
    with pytest.raises(ValueError, match="confidence does not take sample_weight"):
        clf.fit(X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="a loss between 0 and 1"):
        budget_ladder(max_accuracy_loss=0.01, confidence=0.9, loss=lambda y, p: 2.0 + 0 * y).fit(
            X, y
        )
    with pytest.raises(ValueError, match="confidence"):
        budget_ladder(max_accuracy_loss=0.01, confidence=1.5).fit(X, y)
