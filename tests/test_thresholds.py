"""Per-stage thresholds: routing, the exact frontier against brute force, tuning to a target."""

import itertools

import numpy as np
import pytest
from _helpers import random_outputs
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from skadaptive._thresholds import (
    max_proba_scores,
    neg_entropy_scores,
    threshold_frontier,
    threshold_route,
    tune_thresholds,
)
from skadaptive.baselines import ThresholdPolicy

ATOL = 1e-9


def make_problem(n=500, n_stages=3, seed=0):
    """Scores that tell a little about the losses; later stages lose less and cost more."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n)
    p_wrong = np.clip(hard[:, None] * np.linspace(1.0, 0.2, n_stages), 0, 1)
    losses = (rng.random((n, n_stages)) < p_wrong).astype(float)
    scores = 1 - hard[:, None] + rng.normal(scale=0.3, size=(n, n_stages - 1))
    costs = rng.uniform(0.5, 2.0, n_stages)
    return scores, losses, costs


def route_means(scores, losses, costs, thresholds, sample_weight=None):
    """Mean cost and loss of one threshold vector, straight from threshold_route."""
    stage = threshold_route(scores, thresholds)
    cost = np.cumsum(costs)[stage]
    loss = np.asarray(losses)[np.arange(len(stage)), stage]
    return np.average(cost, weights=sample_weight), np.average(loss, weights=sample_weight)


def brute_force(scores, losses, costs, grid, sample_weight=None):
    """(thresholds, cost, loss) of every vector of the product grid."""
    vectors = np.array(list(itertools.product(*grid)))
    means = np.array(
        [route_means(scores, losses, costs, t, sample_weight) for t in vectors]
    ).reshape(-1, 2)
    return vectors, means[:, 0], means[:, 1]


def assert_exact_frontier(front, scores, losses, costs, sample_weight=None):
    """Every vector of the grid is weakly dominated by a returned point, and every
    returned point is exactly what routing with its thresholds gives."""
    _, cost, loss = brute_force(scores, losses, costs, front.grid, sample_weight)
    for c, lo in zip(cost, loss):
        assert np.any((front.cost <= c + ATOL) & (front.loss <= lo + ATOL)), (c, lo)
    for t, c, lo in zip(front.thresholds, front.cost, front.loss):
        assert_allclose(route_means(scores, losses, costs, t, sample_weight), [c, lo], atol=ATOL)
    assert np.all(np.diff(front.cost) >= 0)
    assert np.all(np.diff(front.loss) < 0)


# --- routing and scores -------------------------------------------------------


def test_threshold_route_by_hand():
    scores = np.array([[0.9, 0.2], [0.5, 0.7], [0.1, 0.1], [0.8, 0.6]])
    assert_array_equal(threshold_route(scores, [0.8, 0.6]), [0, 1, 2, 0])  # >= exits
    assert_array_equal(threshold_route(scores, [np.inf, 0.6]), [2, 1, 2, 1])
    assert_array_equal(threshold_route(scores, [np.inf, np.inf]), [2, 2, 2, 2])
    assert_array_equal(threshold_route(scores, [np.inf, -np.inf]), [1, 1, 1, 1])
    assert_array_equal(threshold_route(scores, [-np.inf, np.inf]), [0, 0, 0, 0])
    assert_array_equal(threshold_route([[0.3], [0.7]], [0.5]), [1, 0])  # two stages


def test_threshold_route_errors():
    with pytest.raises(ValueError, match=r"thresholds must have shape \(n_stages - 1,\)"):
        threshold_route([[0.1, 0.2]], [0.5])
    with pytest.raises(ValueError, match="thresholds contains NaN"):
        threshold_route([[0.1, 0.2]], [0.5, np.nan])
    with pytest.raises(ValueError, match="scores contains NaN or infinity"):
        threshold_route([[0.1, np.nan]], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"scores must have shape \(n_samples, n_stages - 1\)"):
        threshold_route([0.1, 0.2], [0.5, 0.5])


def test_scores_from_outputs():
    outputs = np.array([[[0.7, 0.3], [0.5, 0.5], [0.1, 0.9]], [[1.0, 0.0], [0.2, 0.8], [1, 0]]])
    assert_allclose(max_proba_scores(outputs), [[0.7, 0.5], [1.0, 0.8]])
    entropy = -(0.7 * np.log(0.7) + 0.3 * np.log(0.3))
    assert_allclose(neg_entropy_scores(outputs)[:, 0], [-entropy, 0.0], atol=1e-10)
    assert_allclose(neg_entropy_scores(outputs)[0, 1], -np.log(2))
    with pytest.raises(ValueError, match="at least 2 stages"):
        max_proba_scores(outputs[:, :1])
    with pytest.raises(ValueError, match=r"outputs must have shape \(n_samples, n_stages"):
        neg_entropy_scores(outputs[0])
    with pytest.raises(ValueError, match="outputs contains NaN"):
        max_proba_scores(np.full((1, 2, 2), np.nan))


# --- the frontier -------------------------------------------------------------


def test_frontier_by_hand():
    # Costs 1 and 3: answering at stage 0 costs 1, at stage 1 costs 4.
    front = threshold_frontier([[0.9], [0.6], [0.8]], [[0, 0], [1, 0], [1, 0]], [1, 3])
    assert_array_equal(front.thresholds[:, 0], [-np.inf, 0.8, 0.9])
    assert_allclose(front.cost, [1, 2, 3])
    assert_allclose(front.loss, [2 / 3, 1 / 3, 0])
    assert_array_equal(front.grid[0], [-np.inf, 0.6, 0.8, 0.9, np.inf])


@pytest.mark.parametrize("n_stages", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_frontier_is_exact_against_brute_force(n_stages, seed):
    scores, losses, costs = make_problem(n=300, n_stages=n_stages, seed=seed)
    front = threshold_frontier(scores, losses, costs, grid_size=6)
    assert [len(g) for g in front.grid] == [8] * (n_stages - 1)  # 6 quantiles and +-inf
    assert_exact_frontier(front, scores, losses, costs)
    assert front.cost[0] == pytest.approx(costs[0])  # everything exits at stage 0
    assert np.all(front.thresholds[0] == -np.inf)  # the lowest thresholds win ties


def arrays(data, shape, values):
    """An array of the given shape drawn from a few values (so that ties are common)."""
    n = int(np.prod(shape))
    return np.array(data.draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))).reshape(
        shape
    )


@settings(max_examples=60, deadline=None)
@given(
    n_stages=st.integers(2, 4),
    rows=st.integers(1, 12),
    grid_size=st.sampled_from([1, 2, 3, None]),
    data=st.data(),
)
def test_frontier_is_exact_on_random_problems(n_stages, rows, grid_size, data):
    """Tied scores, 0/1 and real losses, zero costs and zero weights."""
    scores = arrays(data, (rows, n_stages - 1), [0.0, 0.25, 0.5, 0.75, 1.0])
    losses = arrays(data, (rows, n_stages), [0.0, 1.0, 0.5, 2.0])
    costs = arrays(data, (n_stages,), [0.0, 1.0, 2.5])
    weight = arrays(data, (rows,), [0.0, 1.0, 3.0])
    if costs.sum() == 0:
        costs[-1] = 1.0
    if weight.sum() == 0:
        weight[0] = 1.0
    front = threshold_frontier(
        scores, losses, costs, sample_weight=weight, grid_size=grid_size, max_candidates=200
    )
    assert_exact_frontier(front, scores, losses, costs, weight)


def test_thinned_grid_stays_exact_and_within_budget():
    scores, losses, costs = make_problem(n=400, n_stages=4, seed=3)
    front = threshold_frontier(scores, losses, costs, grid_size=20, max_candidates=300)
    sizes = [len(g) for g in front.grid]
    assert np.prod(sizes) <= 300 and sizes == [6, 6, 6]  # 7 ** 3 > 300
    for g in front.grid:
        assert g[0] == -np.inf and g[-1] == np.inf
    assert_exact_frontier(front, scores, losses, costs)


def test_grid_values_are_scores_and_grid_none_takes_them_all():
    scores, losses, costs = make_problem(n=50, n_stages=3, seed=4)
    front = threshold_frontier(scores, losses, costs, grid_size=5)
    for k, g in enumerate(front.grid):
        assert np.isin(g[1:-1], scores[:, k]).all() and len(g) == 7
    full = threshold_frontier(scores, losses, costs, grid_size=None)
    for k, g in enumerate(full.grid):
        assert_array_equal(g[1:-1], np.unique(scores[:, k]))
    # A finer grid can only help: the coarse frontier is dominated by the fine one.
    for c, lo in zip(front.cost, front.loss):
        assert np.any((full.cost <= c + ATOL) & (full.loss <= lo + ATOL))


def test_integer_weights_equal_repeated_rows():
    scores, losses, costs = make_problem(n=60, n_stages=3, seed=5)
    weight = np.random.default_rng(0).integers(0, 4, 60)
    weighted = threshold_frontier(scores, losses, costs, sample_weight=weight, grid_size=None)
    rep = np.repeat(np.arange(60), weight)
    repeated = threshold_frontier(scores[rep], losses[rep], costs, grid_size=None)
    assert_allclose(weighted.cost, repeated.cost)
    assert_allclose(weighted.loss, repeated.loss)
    assert_array_equal(weighted.thresholds, repeated.thresholds)


def test_frontier_is_deterministic_and_monotone():
    scores, losses, costs = make_problem(n=3000, n_stages=5, seed=6)
    a = threshold_frontier(scores, losses, costs)
    b = threshold_frontier(scores, losses, costs)
    assert_array_equal(a.thresholds, b.thresholds)
    assert_array_equal(a.cost, b.cost)
    # Cost never decreases while the loss decreases along the frontier.
    assert np.all(np.diff(a.cost) >= 0) and np.all(np.diff(a.loss) < 0)
    assert a.cost[0] == pytest.approx(costs[0])
    assert a.cost[-1] <= costs.sum() + ATOL


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"losses": np.ones((3, 2, 1))}, r"losses must have shape \(n_samples, n_stages\)"),
        ({"losses": np.ones((3, 1))}, ">= 2 stages"),
        ({"losses": [[0, np.nan]] * 3}, "losses contains NaN"),
        ({"scores": np.ones((3, 2))}, r"scores must have shape .* = \(3, 1\); got shape \(3, 2\)"),
        ({"scores": [[0.1], [np.inf], [0.3]]}, "scores contains NaN or infinity"),
        ({"costs": [1, 2, 3]}, r"costs must have shape \(n_stages,\) = \(2,\)"),
        ({"costs": [1, -1]}, "costs must be >= 0"),
        ({"costs": [0, 0]}, "not all 0"),
        ({"costs": [1, np.nan]}, "costs contains NaN"),
        ({"sample_weight": [1, 1]}, r"sample_weight must have shape \(n_samples,\) = \(3,\)"),
        ({"sample_weight": [1, -1, 1]}, "sample_weight must be >= 0"),
        ({"sample_weight": [0, 0, 0]}, "sample_weight must be >= 0 and not all 0"),
        ({"grid_size": 0}, "grid_size must be an integer >= 1 or None"),
        ({"grid_size": 2.5}, "grid_size must be an integer"),
        ({"grid_size": np.inf}, "grid_size must be an integer"),
        ({"max_candidates": np.inf}, "max_candidates must be an integer"),
        ({"max_candidates": 1}, r"max_candidates must be an integer >= 2 \*\* \(n_stages - 1\)"),
    ],
)
def test_frontier_errors(kwargs, match):
    args = {"scores": [[0.1], [0.2], [0.3]], "losses": [[1, 0], [0, 0], [1, 1]], "costs": [1, 2]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        threshold_frontier(args.pop("scores"), args.pop("losses"), args.pop("costs"), **args)


# --- tuning to a target -------------------------------------------------------


@pytest.mark.parametrize("n_stages", [2, 3, 5])
def test_tune_meets_targets_on_the_tuning_rows(n_stages):
    scores, losses, costs = make_problem(n=2000, n_stages=n_stages, seed=7)
    front = threshold_frontier(scores, losses, costs)
    for max_cost in np.linspace(front.cost[0], front.cost[-1], 7):
        res = tune_thresholds(scores, losses, costs, max_cost=max_cost)
        cost, loss = route_means(scores, losses, costs, res.thresholds)
        assert res.met and cost <= max_cost + ATOL
        assert (cost, loss) == pytest.approx((res.cost, res.loss))
        # At least as good as the best frontier point within the budget.
        assert loss <= front.loss[front.cost <= max_cost + ATOL].min() + ATOL
    for max_loss in np.linspace(front.loss[-1], front.loss[0], 7):
        res = tune_thresholds(scores, losses, costs, max_loss=max_loss)
        cost, loss = route_means(scores, losses, costs, res.thresholds)
        assert res.met and loss <= max_loss + ATOL
        assert (cost, loss) == pytest.approx((res.cost, res.loss))
        assert cost <= front.cost[front.loss <= max_loss + ATOL].min() + ATOL


def test_tune_picks_the_frontier_point_without_refinement():
    scores, losses, costs = make_problem(n=1000, n_stages=3, seed=8)
    front = threshold_frontier(scores, losses, costs)
    i = len(front.cost) // 2
    res = tune_thresholds(scores, losses, costs, max_cost=front.cost[i], refine=0)
    assert_array_equal(res.thresholds, front.thresholds[i])
    # Between two frontier costs: the cheaper point (the budget does not reach the next).
    mid = (front.cost[i] + front.cost[i + 1]) / 2
    res_mid = tune_thresholds(scores, losses, costs, max_cost=mid)
    assert_array_equal(res_mid.thresholds, res.thresholds)
    res = tune_thresholds(scores, losses, costs, max_loss=front.loss[i])
    assert_array_equal(res.thresholds, front.thresholds[i])
    assert res.cost == front.cost[i] and res.loss == front.loss[i]


def test_tune_when_the_target_cannot_be_met():
    scores, losses, costs = make_problem(n=1000, n_stages=4, seed=9)
    front = threshold_frontier(scores, losses, costs)
    res = tune_thresholds(scores, losses, costs, max_loss=front.loss[-1] - 0.01)
    assert not res.met and res.loss == front.loss[-1]  # the most accurate point
    last_only = route_means(scores, losses, costs, np.full(3, np.inf))[1]
    assert res.loss <= last_only + ATOL
    res = tune_thresholds(scores, losses, costs, max_cost=costs[0] / 2)
    assert not res.met and res.cost == pytest.approx(costs[0])  # the cheapest point
    assert res.thresholds[0] == -np.inf
    assert tune_thresholds(scores, losses, costs, max_cost=costs[0]).met


def test_refinement_on_thinned_grids_only_improves():
    scores, losses, costs = make_problem(n=3000, n_stages=5, seed=10)
    kw = {"grid_size": 30, "max_candidates": 4**4}  # 4 candidates per stage, then zoom in
    for target in [{"max_cost": costs[:3].sum()}, {"max_loss": 0.2}]:
        coarse = tune_thresholds(scores, losses, costs, refine=0, **kw, **target)
        fine = tune_thresholds(scores, losses, costs, refine=3, **kw, **target)
        assert coarse.met and fine.met
        assert route_means(scores, losses, costs, fine.thresholds) == pytest.approx(
            (fine.cost, fine.loss)
        )
        if "max_cost" in target:
            assert fine.cost <= target["max_cost"] + ATOL and fine.loss <= coarse.loss + ATOL
        else:
            assert fine.loss <= target["max_loss"] + ATOL and fine.cost <= coarse.cost + ATOL
        # Every threshold comes from the full 30-quantile grid (or is +-inf).
        full = threshold_frontier(scores, losses, costs, grid_size=30)
        for k, t in enumerate(fine.thresholds):
            assert t in full.grid[k]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one of max_cost and max_loss"),
        ({"max_cost": 1.0, "max_loss": 0.1}, "exactly one of max_cost and max_loss"),
        ({"max_cost": np.nan}, "max_cost must be a finite number"),
        ({"max_loss": "low"}, "max_loss must be a finite number; got 'low'"),
        ({"max_loss": 0.1, "refine": -1}, "refine must be an integer >= 0"),
        ({"max_loss": 0.1, "costs": [1, 2, 3]}, r"costs must have shape \(n_stages,\)"),
    ],
)
def test_tune_errors(kwargs, match):
    args = {"costs": [1, 2], **kwargs}
    with pytest.raises(ValueError, match=match):
        tune_thresholds([[0.1], [0.2]], [[1, 0], [0, 0]], **args)


def test_large_problem_runs():
    """Performance smoke test: 100k rows and 5 stages (about 0.2 s on a laptop core)."""
    scores, losses, costs = make_problem(n=100_000, n_stages=5, seed=11)
    front = threshold_frontier(scores, losses, costs)
    assert front.thresholds.shape == (len(front.cost), 4) and len(front.cost) > 100
    res = tune_thresholds(scores, losses, costs, max_loss=np.median(front.loss))
    assert res.met


# --- ThresholdPolicy with one threshold per exit ------------------------------


def softmax_outputs(n=400, n_stages=4, n_classes=3, seed=0):
    """Random outputs (the softmax of random logits) and random labels."""
    rng = np.random.default_rng(seed)
    return random_outputs(rng, n, n_stages, n_classes), rng.integers(0, n_classes, n)


def test_per_exit_policy_routes_as_threshold_route():
    outputs, y = softmax_outputs()
    costs = [1.0, 2.0, 3.0, 4.0]
    for thresholds in ([0.5, 0.7, 0.9], [np.inf, 0.6, -np.inf], [0.95, np.inf, 0.4]):
        policy = ThresholdPolicy(thresholds, costs=costs).fit(outputs, y)
        res = policy.route(outputs)
        expected = threshold_route(max_proba_scores(outputs), thresholds)
        assert_array_equal(res.stage, expected)
        assert_allclose(res.cost, np.cumsum(costs)[expected])
        assert_allclose(res.proba, outputs[np.arange(len(y)), expected])
        assert_array_equal(policy.thresholds_, thresholds)
    entropy = ThresholdPolicy([0.3, 0.6, 0.9], criterion="entropy").fit(outputs, y)
    expected = threshold_route(neg_entropy_scores(outputs), [-0.3, -0.6, -0.9])
    assert_array_equal(entropy.apply(outputs), expected)


def test_equal_per_exit_thresholds_equal_the_scalar_policy():
    outputs, y = softmax_outputs(seed=1)
    for criterion, t in [("max_proba", 0.8), ("entropy", 0.5)]:
        scalar = ThresholdPolicy(t, criterion=criterion, costs=[1, 1, 2, 4]).fit(outputs, y)
        per_exit = ThresholdPolicy(np.full(3, t), criterion=criterion, costs=[1, 1, 2, 4])
        a, b = scalar.route(outputs), per_exit.fit(outputs, y).route(outputs)
        for key in ("stage", "path", "cost", "proba"):
            assert_array_equal(a[key], b[key])
        assert_array_equal(scalar.thresholds_, [t] * 3)


def test_per_exit_policy_with_a_tuned_vector_and_with_logits():
    outputs, y = softmax_outputs(seed=2)
    losses = (outputs.argmax(axis=2) != y[:, None]).astype(float)
    costs = np.array([1.0, 1.0, 2.0, 4.0])
    res = tune_thresholds(max_proba_scores(outputs), losses, costs, max_cost=3.0)
    policy = ThresholdPolicy(res.thresholds, costs=costs).fit(outputs, y)
    assert policy.predict_cost(outputs).mean() == pytest.approx(res.cost)
    assert 1 - policy.score(outputs, y) == pytest.approx(res.loss)
    # Tuned thresholds are scores of some rows: compare logits away from them.
    logits = ThresholdPolicy([0.5, 0.7, 0.9], outputs="logits").fit(np.log(outputs), y)
    expected = threshold_route(max_proba_scores(outputs), [0.5, 0.7, 0.9])
    assert_array_equal(logits.apply(np.log(outputs)), expected)


@pytest.mark.parametrize(
    "threshold, match",
    [
        ([0.5, 0.5], r"one value per exit: expected shape \(3,\) for 4 stages, got shape \(2,\)"),
        ([[0.5, 0.5, 0.5]], r"expected shape \(3,\) for 4 stages, got shape \(1, 3\)"),
        ([0.5, np.nan, 0.5], "threshold contains NaN"),
    ],
)
def test_per_exit_policy_errors(threshold, match):
    outputs, y = softmax_outputs(n=20)
    with pytest.raises(ValueError, match=match):
        ThresholdPolicy(threshold).fit(outputs, y)


def test_one_selection_rule_everywhere():
    """Budget mode, the threshold search and the refit rules pick alike (skadaptive._choice)."""
    from skadaptive._candidates import Target
    from skadaptive._choice import best_under
    from skadaptive._thresholds import _pick
    from skadaptive.metrics import cheapest_within, most_accurate_under

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = rng.integers(1, 12)
        # Coarse values, so that ties and exact bounds are common.
        loss = rng.integers(0, 6, n) / 20
        cost = rng.integers(1, 6, n) / 5
        for max_loss in [0.0, 0.05, 0.1]:
            i, met = best_under(loss, max_loss, cost)
            assert met == bool((loss <= max_loss).any())
            if met:
                assert loss[i] <= max_loss and cost[i] == cost[loss <= max_loss].min()
            else:
                assert loss[i] == loss.min()
            assert _pick(cost, loss, None, max_loss)[0] == i
            assert Target("loss", max_loss).choose(loss, cost) == i
            results = {
                "mean_test_accuracy": 0.9 - loss,
                "mean_test_reference_accuracy": np.full(n, 0.9),
                "mean_test_neg_relative_cost": -cost,
            }
            assert cheapest_within(max_loss)(results) == i
        for max_cost in [0.2, 0.5, 1.0]:
            i, met = best_under(cost, max_cost, loss)
            if met:
                assert loss[i] == loss[cost <= max_cost].min()
            assert _pick(cost, loss, max_cost, None)[0] == i
            assert Target("cost", max_cost).choose(loss, cost) == i
            results = {"mean_test_accuracy": 1 - loss, "mean_test_neg_relative_cost": -cost}
            assert most_accurate_under(max_cost)(results) == i
