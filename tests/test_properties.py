"""Property-based tests (hypothesis) of the reduction, the fitted policies and routing.

Every random array comes from ``np.random.default_rng(seed)`` with a hypothesis-drawn
seed, so values are continuous and distinct; hypothesis draws the shapes, the
parameters and the switches between "exact" tables (0/1 losses, integer costs and
dyadic cost weights, where ties are exact and every sum is exact in floating point)
and continuous ones.

The reference for the reduction is a brute force written here from the definitions:
walk each row's route stage by stage under the decisions that ``fit_decision``
returned, sum the costs of the stages the route computes, and compare "stop" with
"go" (or "next" with "jump") at every node.
"""

import numpy as np
import pytest
from _helpers import all_digits, random_outputs
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import softmax
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier, RoutingPolicy
from skadaptive._features import summary_block
from skadaptive._reduction import learn_policies

SEEDS = st.integers(0, 2**32 - 1)
# Lambda: exactly 0 (loss alone), or log-uniform, where the routes differ most.
LAMBDAS = st.one_of(st.just(0.0), st.floats(-3.0, 0.5).map(lambda e: 10.0**e))
DYADIC_LAMBDAS = [0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 3.0]


# -- brute force ---------------------------------------------------------------------------


def expected_nodes(n_stages, jump):
    """The (node, kind) decisions of the topology, from the paper's graph."""
    nodes = {(k, "exit") for k in range(n_stages - 1)}
    if jump:
        nodes |= {(k, "jump") for k in range(n_stages - 2)}
    return nodes


def walk(row, node, action, decisions, n_stages):
    """Stages computed by ``row`` and the stage that answers it.

    The row has computed stages ``0..node`` and takes ``action`` there ("stop",
    "next" or "jump"); later nodes follow ``decisions[(k, kind)][row]``.
    """
    last = n_stages - 1
    visited = list(range(node + 1))
    k = node
    while True:
        if action == "stop":
            return visited, k
        if action == "jump":
            return visited + [last], last
        k += 1
        visited.append(k)
        if k == last:
            return visited, k
        action = policy_action(row, k, decisions)


def policy_action(row, node, decisions):
    """What the decisions do with ``row`` at non-final ``node``."""
    if decisions[(node, "exit")][row] == 0:
        return "stop"
    jump = decisions.get((node, "jump"))
    return "jump" if jump is not None and jump[row] == 1 else "next"


def route_cost(losses, costs, cost_weight, row, route):
    visited, answer = route
    return losses[row, answer] + cost_weight * sum(costs[s] for s in visited)


def brute_force_problems(losses, costs, cost_weight, decisions, sample_weight):
    """Labels and weights of every decision, and the realised cost, from the walks."""
    n_samples, n_stages = losses.shape
    sw = np.ones(n_samples) if sample_weight is None else sample_weight
    problems = {}
    for node, kind in decisions:
        default = np.empty(n_samples)
        alternative = np.empty(n_samples)
        for i in range(n_samples):
            if kind == "exit":
                jump = decisions.get((node, "jump"))
                go = "jump" if jump is not None and jump[i] == 1 else "next"
                pair = ("stop", go)
            else:
                pair = ("next", "jump")
            default[i], alternative[i] = (
                route_cost(losses, costs, cost_weight, i, walk(i, node, a, decisions, n_stages))
                for a in pair
            )
        diff = default - alternative
        problems[(node, kind)] = (alternative < default).astype(int), np.abs(diff) * sw, diff
    realised = np.array(
        [
            route_cost(
                losses,
                costs,
                cost_weight,
                i,
                walk(i, 0, policy_action(i, 0, decisions), decisions, n_stages),
            )
            for i in range(n_samples)
        ]
    )
    return problems, realised


def all_route_costs(losses, costs, cost_weight, jump):
    """Cost of every route of the topology, per row: shape (n_samples, n_routes)."""
    n_stages = losses.shape[1]
    routes = [(list(range(k + 1)), k) for k in range(n_stages)]
    if jump:
        routes += [(list(range(k + 1)) + [n_stages - 1], n_stages - 1) for k in range(n_stages - 2)]
    return np.column_stack(
        [losses[:, answer] + cost_weight * costs[visited].sum() for visited, answer in routes]
    )


@st.composite
def loss_tables(draw, max_samples=40):
    """(losses, costs, cost_weight, sample_weight, exact) with exact or continuous values."""
    n_samples = draw(st.integers(1, max_samples))
    n_stages = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(SEEDS))
    exact = draw(st.booleans())
    use_sw = draw(st.booleans())
    if exact:
        losses = rng.integers(0, 2, (n_samples, n_stages)).astype(float)
        costs = rng.integers(1, 5, n_stages).astype(float)
        cost_weight = draw(st.sampled_from(DYADIC_LAMBDAS))
        sample_weight = rng.integers(0, 3, n_samples).astype(float) if use_sw else None
    else:
        if draw(st.booleans()):
            losses = rng.integers(0, 2, (n_samples, n_stages)).astype(float)
        else:
            losses = rng.random((n_samples, n_stages))
        costs = rng.uniform(0.05, 3.0, n_stages)
        cost_weight = draw(st.one_of(LAMBDAS, st.floats(0.0, 5.0)))
        sample_weight = rng.uniform(0.0, 2.0, n_samples) if use_sw else None
    return losses, costs, cost_weight, sample_weight, exact


# -- 1. the reduction against the brute force, under arbitrary decisions -------------------


@settings(max_examples=300, deadline=None)
@given(table=loss_tables(), jump=st.booleans(), seed=SEEDS)
def test_reduction_problems_match_brute_force_under_random_decisions(table, jump, seed):
    losses, costs, cost_weight, sample_weight, exact = table
    n_samples, n_stages = losses.shape
    rng = np.random.default_rng(seed)
    seen, decisions, order = {}, {}, []

    def fit_decision(node, kind, labels, weights):
        assert labels.shape == weights.shape == (n_samples,)
        assert set(np.unique(labels)) <= {0, 1}
        assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
        order.append((node, kind))
        seen[(node, kind)] = (labels.copy(), weights.copy())
        mode = rng.integers(0, 5)
        if mode == 0:
            out = rng.integers(0, 2, n_samples)
        elif mode == 1:
            out = np.zeros(n_samples, dtype=int)
        elif mode == 2:
            out = np.ones(n_samples, dtype=int)
        elif mode == 3:
            out = labels.copy()
        else:
            out = 1 - labels
        decisions[(node, kind)] = out
        return out

    realised, problems = learn_policies(
        losses, costs, cost_weight, fit_decision, jump=jump, sample_weight=sample_weight
    )
    # Every decision of the topology, each once, bottom-up, the jump before the exit.
    assert set(seen) == expected_nodes(n_stages, jump) == set(problems)
    assert len(order) == len(seen)
    assert order == sorted(order, key=lambda nk: (-nk[0], nk[1] == "exit"))
    for key, (labels, weights) in problems.items():
        assert_array_equal(labels, seen[key][0])
        assert_array_equal(weights, seen[key][1])

    expected, expected_realised = brute_force_problems(
        losses, costs, cost_weight, decisions, sample_weight
    )
    for key, (labels, weights) in seen.items():
        bf_labels, bf_weights, diff = expected[key]
        if exact:
            # 0/1 losses, integer costs, dyadic lambda: ties are exact ties.
            assert_array_equal(labels, bf_labels, err_msg=str(key))
            assert_array_equal(weights, bf_weights, err_msg=str(key))
        else:
            clear = np.abs(diff) > 1e-9
            assert_array_equal(labels[clear], bf_labels[clear], err_msg=str(key))
            assert_allclose(weights, bf_weights, rtol=1e-12, atol=1e-12, err_msg=str(key))
        if cost_weight == 0:
            # Only the losses count: a tie of losses is an exit of weight 0.
            assert not labels[diff == 0].any()
    if exact:
        assert_array_equal(realised, expected_realised)
    else:
        assert_allclose(realised, expected_realised, rtol=1e-12, atol=1e-12)


# -- 2. perfect decisions reach the per-row optimum over all routes ------------------------


@settings(max_examples=300, deadline=None)
@given(table=loss_tables())
def test_perfect_decisions_reach_the_optimum_over_all_routes(table):
    losses, costs, cost_weight, sample_weight, _ = table
    realised = {}
    for jump in (False, True):
        realised[jump], _ = learn_policies(
            losses,
            costs,
            cost_weight,
            lambda node, kind, labels, weights: labels,
            jump=jump,
            sample_weight=sample_weight,
        )
        optimum = all_route_costs(losses, costs, cost_weight, jump).min(axis=1)
        assert_allclose(realised[jump], optimum, rtol=1e-12, atol=1e-12)
    # The jump edges only add routes.
    assert np.all(realised[True] <= realised[False] + 1e-12)
    if losses.shape[1] == 2:
        assert_array_equal(realised[True], realised[False])


# -- 3. an exact policy estimator: the training objective beats both fixed routes ----------


@st.composite
def routing_problems(draw, max_samples=60):
    rng = np.random.default_rng(draw(SEEDS))
    n_samples = draw(st.integers(2, max_samples))
    n_stages = draw(st.integers(2, 4))
    n_classes = draw(st.integers(2, 4))
    outputs = random_outputs(rng, n_samples, n_stages, n_classes)
    y = rng.integers(0, n_classes, n_samples)
    costs = rng.uniform(0.1, 5.0, n_stages)
    cost_weight = draw(LAMBDAS)
    sample_weight = rng.uniform(0.0, 2.0, n_samples) if draw(st.booleans()) else None
    if sample_weight is not None and draw(st.booleans()):
        sample_weight[rng.random(n_samples) < 0.3] = 0.0
        sample_weight[0] = 1.0  # never all zero
    return outputs, y, costs, cost_weight, sample_weight, rng


def zero_one_losses(outputs, y):
    return (outputs.argmax(axis=2) != y[:, None]).astype(float)


@settings(max_examples=80, deadline=None)
@given(problem=routing_problems(), topology=st.sampled_from(["chain", "jump"]))
def test_exact_policy_objective_beats_fixed_routes(problem, topology):
    outputs, y, costs, cost_weight, sample_weight, _ = problem
    n_samples, n_stages, n_classes = outputs.shape
    policy = RoutingPolicy(
        costs=costs,
        cost_weight=cost_weight,
        topology=topology,
        policy_estimator=DecisionTreeClassifier(random_state=0),
        features="proba",
        classes=np.arange(n_classes),
    ).fit(outputs, y, sample_weight=sample_weight)

    losses = zero_one_losses(outputs, y)
    res = policy.route(outputs)
    rows = np.arange(n_samples)
    # train_objective_ = mean of loss + lambda * cost, with costs normalised to a full route of 1.
    per_row = losses[rows, res.stage] + cost_weight * res.cost / costs.sum()
    objective = np.average(per_row, weights=sample_weight)
    assert objective == pytest.approx(policy.train_objective_, rel=1e-9, abs=1e-12)

    def fixed(stage, cost):
        per_row = losses[:, stage] + cost_weight * cost / costs.sum()
        return np.average(per_row, weights=sample_weight)

    first_only = fixed(0, costs[0])
    everything = fixed(-1, costs.sum())
    assert policy.train_objective_ <= first_only + 1e-9
    assert policy.train_objective_ <= everything + 1e-9
    # A policy that fits its labels exactly is the bottom-up DP: the per-row optimum.
    normalized = costs / costs.sum()
    optimum = all_route_costs(losses, normalized, cost_weight, topology == "jump").min(axis=1)
    assert policy.train_objective_ == pytest.approx(
        np.average(optimum, weights=sample_weight), rel=1e-9, abs=1e-9
    )


# -- 4. routing consistency ------------------------------------------------------------------


def check_path_shape(path, stage, n_stages, topology):
    """The path of a route: stages 0..j, then the last one when the row jumped."""
    rows = np.arange(len(stage))
    cols = np.arange(n_stages)
    assert path.dtype == bool and path.shape == (len(stage), n_stages)
    assert path[:, 0].all()
    assert path[rows, stage].all()
    # The answering stage is the last one computed.
    assert not (path & (cols[None, :] > stage[:, None])).any()
    # Apart from the last stage, the computed stages are a prefix.
    inner = path[:, :-1]
    j = inner.sum(axis=1) - 1
    assert_array_equal(inner, cols[None, :-1] <= j[:, None])
    answered_early = stage < n_stages - 1
    assert_array_equal(stage[answered_early], j[answered_early])
    jumped = path[:, -1] & ~path[:, -2]
    if topology == "chain" or n_stages == 2:
        assert not jumped.any()
        assert_array_equal(path, cols[None, :] <= stage[:, None])
        assert_array_equal(stage, n_stages - 1 - np.argmax(path[:, ::-1], axis=1))
    else:
        assert (j[jumped] <= n_stages - 3).all()


def check_route_methods(router, res, args, costs, classes):
    """apply, decision_path, predict, predict_proba, predict_cost agree with route."""
    assert_array_equal(router.apply(*args), res.stage)
    assert_array_equal(router.decision_path(*args), res.path)
    assert_allclose(router.predict_proba(*args), res.proba)
    assert_allclose(router.predict_cost(*args), res.cost)
    assert_array_equal(router.predict(*args), classes[res.proba.argmax(axis=1)])
    assert_allclose(res.cost, res.path.astype(float) @ costs, rtol=1e-12)
    assert np.all(res.proba >= 0)
    assert_allclose(res.proba.sum(axis=1), 1.0, rtol=1e-9)


def simulate_policies(policy, probas):
    """Each row's stage and path from ``policy.policies_[...].predict``.

    Every decision is predicted for every row from the full stage outputs (the
    features at node ``k`` only read stages ``0..k``), then each row walks its route.
    """
    n_samples, n_stages, _ = probas.shape
    if policy.features == "proba":
        blocks = [probas[:, s] for s in range(n_stages)]
    else:
        blocks = [summary_block(probas[:, s]) for s in range(n_stages)]
    decisions = {
        key: np.asarray(fitted.predict(np.hstack(blocks[: key[0] + 1])))
        for key, fitted in policy.policies_.items()
    }
    assert set(decisions) == expected_nodes(n_stages, policy.topology == "jump")
    stage = np.empty(n_samples, dtype=int)
    path = np.zeros((n_samples, n_stages), dtype=bool)
    for i in range(n_samples):
        visited, stage[i] = walk(i, 0, policy_action(i, 0, decisions), decisions, n_stages)
        path[i, visited] = True
    return stage, path


POLICY_ESTIMATORS = [
    None,
    DecisionTreeClassifier(max_depth=3, random_state=0),
    LogisticRegression(C=100.0, max_iter=1000),
]


@settings(max_examples=60, deadline=None)
@given(
    problem=routing_problems(max_samples=80),
    topology=st.sampled_from(["chain", "jump"]),
    features=st.sampled_from(["summary", "proba"]),
    estimator=st.sampled_from(POLICY_ESTIMATORS),
    logits=st.booleans(),
    n_test=st.integers(1, 50),
    subset_seed=SEEDS,
)
def test_policy_routing_is_consistent(
    problem, topology, features, estimator, logits, n_test, subset_seed
):
    outputs, y, costs, cost_weight, sample_weight, rng = problem
    n_samples, n_stages, n_classes = outputs.shape
    classes = np.array(["a", "b", "c", "d"])[:n_classes]
    test = random_outputs(rng, n_test, n_stages, n_classes)
    # Logits: the policy sees softmax(logits); log of probabilities are such logits.
    fit_in, test_in = (np.log(outputs), np.log(test)) if logits else (outputs, test)
    policy = RoutingPolicy(
        costs=costs,
        cost_weight=cost_weight,
        topology=topology,
        policy_estimator=None if estimator is None else clone(estimator),
        features=features,
        outputs="logits" if logits else "proba",
        classes=classes,
    ).fit(fit_in, classes[y], sample_weight=sample_weight)
    assert_allclose(policy.costs_, costs)

    res = policy.route(test_in)
    rows = np.arange(n_test)
    assert_allclose(res.proba, test[rows, res.stage], rtol=1e-9, atol=1e-12)
    check_route_methods(policy, res, (test_in,), costs, classes)
    check_path_shape(res.path, res.stage, n_stages, topology)
    # The engine takes the decisions of the fitted policies, row by row.
    stage, path = simulate_policies(policy, softmax(test_in, axis=2) if logits else test)
    assert_array_equal(res.stage, stage)
    assert_array_equal(res.path, path)
    # Rows are routed independently of the batch they come in.
    sub = np.random.default_rng(subset_seed).permutation(n_test)[: max(1, n_test // 2)]
    part = policy.route(test_in[sub])
    assert_array_equal(part.stage, res.stage[sub])
    assert_array_equal(part.path, res.path[sub])
    assert_allclose(part.proba, res.proba[sub])


# -- 4b. the same for the estimators, on frozen stages fitted once ---------------------------


@pytest.fixture(scope="module")
def digits_stages():
    X, y = all_digits()
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    X_stage, y_stage, X_rest, y_rest = X[:800], y[:800], X[800:], y[800:]
    # A weak cheap tree, then models of rising accuracy: the policies exit early, continue
    # and jump (checked in test_network_selection_routing_is_consistent).
    ladder = [
        DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_stage, y_stage),
        GaussianNB().fit(X_stage, y_stage),
        LogisticRegression(max_iter=300).fit(X_stage, y_stage),
        RandomForestClassifier(n_estimators=30, random_state=0).fit(X_stage, y_stage),
    ]
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    hgb.fit(X_stage, y_stage)
    return ladder, hgb, X_rest, y_rest


def draw_rows(rng, n_rows, size):
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def check_estimator_routing(clf, X_fit, y_fit, X_test, subset_rng):
    n_stages = clf.n_stages_
    topology = clf.policy_.topology
    res = clf.route(X_test)
    check_route_methods(clf, res, (X_test,), clf.costs_, clf.classes_)
    check_path_shape(res.path, res.stage, n_stages, topology)
    staged = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    rows = np.arange(len(X_test))
    assert_allclose(res.proba, staged[rows, res.stage], rtol=1e-9, atol=1e-12)
    # The decisions of the fitted policies, independently of the routing engine.
    stage, path = simulate_policies(clf.policy_, staged)
    assert_array_equal(res.stage, stage)
    assert_array_equal(res.path, path)
    # Live routing = the fitted policy routing every stage's outputs.
    offline = clf.policy_.route(staged)
    assert_array_equal(offline.stage, res.stage)
    assert_array_equal(offline.path, res.path)
    assert_allclose(offline.cost, res.cost)
    # Rows are routed independently of the batch they come in.
    sub = draw_rows(subset_rng, len(X_test), max(1, len(X_test) // 3))
    assert_array_equal(clf.apply(X_test[sub]), res.stage[sub])
    assert_array_equal(clf.decision_path(X_test[sub]), res.path[sub])
    # Frozen stages: the outputs the policy learned from are the stages' outputs, and
    # routing the training rows realises the training objective.
    assert_allclose(clf.oof_outputs_, np.stack(list(clf.staged_predict_proba(X_fit)), axis=1))
    train = clf.route(X_fit)
    losses = (clf.classes_[train.proba.argmax(axis=1)] != y_fit).astype(float)
    objective = np.mean(losses + clf.cost_weight * train.cost / clf.costs_.sum())
    assert objective == pytest.approx(clf.policy_.train_objective_, rel=1e-9, abs=1e-12)


# What both estimator-level tests draw: a seed, fit and test row counts, lambda.
ROUTING_DRAWS = dict(
    seed=SEEDS, n_fit=st.integers(60, 400), n_test=st.integers(1, 300), cost_weight=LAMBDAS
)


@settings(max_examples=30, deadline=None)
@given(
    **ROUTING_DRAWS,
    topology=st.sampled_from(["chain", "jump"]),
    features=st.sampled_from(["summary", "proba"]),
)
def test_network_selection_routing_is_consistent(
    digits_stages, seed, n_fit, n_test, cost_weight, topology, features
):
    ladder, _, X, y = digits_stages
    rng = np.random.default_rng(seed)
    costs = np.sort(rng.uniform(0.1, 10.0, len(ladder)))
    fit_rows = draw_rows(rng, len(y), n_fit)
    test_rows = draw_rows(rng, len(y), n_test)
    clf = NetworkSelectionClassifier(
        [(f"m{i}", FrozenEstimator(m)) for i, m in enumerate(ladder)],
        costs=costs,
        cost_weight=cost_weight,
        topology=topology,
        features=features,
    ).fit(X[fit_rows], y[fit_rows])
    assert_allclose(clf.costs_, costs)
    check_estimator_routing(clf, X[fit_rows], y[fit_rows], X[test_rows], rng)


@settings(max_examples=20, deadline=None)
@given(**ROUTING_DRAWS, exits=st.sampled_from([[2, 5, 10, 20], [1, 20], [4, 8, 12, 20]]))
def test_early_exit_routing_is_consistent(digits_stages, seed, n_fit, n_test, cost_weight, exits):
    _, hgb, X, y = digits_stages
    rng = np.random.default_rng(seed)
    fit_rows = draw_rows(rng, len(y), n_fit)
    test_rows = draw_rows(rng, len(y), n_test)
    clf = EarlyExitClassifier(FrozenEstimator(hgb), exits=exits, cost_weight=cost_weight)
    clf.fit(X[fit_rows], y[fit_rows])
    # Default costs of a tree ensemble: the trees each exit adds (one per class an iteration).
    assert_array_equal(clf.costs_, np.diff([0, *exits]) * len(clf.classes_))
    check_estimator_routing(clf, X[fit_rows], y[fit_rows], X[test_rows], rng)
