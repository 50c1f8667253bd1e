"""RoutingPolicy, the threshold baseline and the oracle on precomputed outputs."""

import numpy as np
import pytest
from _helpers import make_outputs
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression, Perceptron
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skadaptive import RoutingPolicy
from skadaptive._losses import stage_losses
from skadaptive.baselines import ThresholdPolicy, oracle_route
from skadaptive.routers import ConstantPolicy


def test_stage_losses_zero_one_top_k_and_callable():
    outputs = np.array([[[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]])  # one row, two stages
    y = np.array([1])
    assert_array_equal(stage_losses(outputs, y, np.arange(3), "zero_one"), [[1, 1]])
    assert_array_equal(stage_losses(outputs, y, np.arange(3), "top_k", top_k=2), [[0, 0]])
    assert_array_equal(
        stage_losses(outputs, np.array([2]), np.arange(3), "top_k", top_k=2), [[1, 0]]
    )

    def neg_log(y_true, proba):
        return -np.log(proba[np.arange(len(y_true)), y_true])

    assert_allclose(stage_losses(outputs, y, np.arange(3), neg_log), [[-np.log(0.3), -np.log(0.3)]])


def test_top_k_ties_are_broken_like_argsort():
    outputs = np.array([[[0.4, 0.2, 0.2, 0.2], [0.4, 0.2, 0.2, 0.2]]])
    # Classes 1, 2, 3 tie; the first of them is in the top 2, the later ones are not.
    assert_array_equal(
        stage_losses(outputs, np.array([1]), np.arange(4), "top_k", top_k=2), [[0, 0]]
    )
    assert_array_equal(
        stage_losses(outputs, np.array([3]), np.arange(4), "top_k", top_k=2), [[1, 1]]
    )


def test_constant_policies_when_no_row_carries_information():
    # Every stage is identical: every row is indifferent, so no weight anywhere.
    outputs, y = make_outputs()
    same = np.repeat(outputs[:, :1], 3, axis=1)
    policy = RoutingPolicy(costs=[1, 1, 1], cost_weight=0).fit(same, y)
    assert all(isinstance(p, ConstantPolicy) for p in policy.policies_.values())
    assert all(p.value == 0 for p in policy.policies_.values())
    assert_array_equal(policy.apply(same), 0)


def test_constant_policy_when_every_label_agrees():
    outputs, y = make_outputs()
    policy = RoutingPolicy(costs=[1, 1, 1], cost_weight=1e6).fit(outputs, y)
    assert isinstance(policy.policies_[(0, "exit")], ConstantPolicy)
    assert policy.policies_[(0, "exit")].value == 0
    assert_array_equal(policy.apply(outputs), 0)
    assert_allclose(policy.predict_cost(outputs), 1.0)


def test_zero_cost_weight_with_an_exact_policy_matches_the_oracle():
    outputs, y = make_outputs()
    for topology in ["chain", "jump"]:
        policy = RoutingPolicy(
            costs=[1, 2, 4],
            cost_weight=0,
            topology=topology,
            policy_estimator=DecisionTreeClassifier(random_state=0),
            features="proba",
        ).fit(outputs, y)
        oracle = oracle_route(outputs, y, [1, 2, 4], topology=topology)
        all_wrong = (outputs.argmax(axis=2) != y[:, None]).all(axis=1)
        train_error = 1 - policy.score(outputs, y)
        assert train_error == pytest.approx(all_wrong.mean())
        assert train_error == pytest.approx(np.mean(oracle.proba.argmax(1) != y))
        assert policy.train_objective_ == pytest.approx(all_wrong.mean())


def test_cost_weight_trades_accuracy_for_cost():
    outputs, y = make_outputs(n=2000)
    costs, accs = [], []
    for lam in [0.0, 0.05, 0.2, 1.0, 100.0]:
        policy = RoutingPolicy(costs=[1, 2, 4], cost_weight=lam).fit(outputs, y)
        costs.append(policy.predict_cost(outputs).mean())
        accs.append(policy.score(outputs, y))
    assert costs[-1] == pytest.approx(1.0)
    assert np.all(np.diff(costs) <= 1e-9), costs
    assert accs[0] > accs[-1] + 0.2


def test_route_outputs_are_consistent():
    outputs, y = make_outputs()
    policy = RoutingPolicy(costs=[1, 2, 4], cost_weight=0.1, topology="jump").fit(outputs, y)
    res = policy.route(outputs)
    rows = np.arange(len(y))
    assert_allclose(res.proba, outputs[rows, res.stage])
    assert res.path[rows, res.stage].all()
    assert res.path[:, 0].all()
    assert_allclose(res.cost, res.path @ np.array([1.0, 2.0, 4.0]))
    # A row that answers at stage k ran nothing after k.
    later = np.arange(3)[None, :] > res.stage[:, None]
    assert not (res.path & later).any()
    assert_array_equal(policy.predict(outputs), policy.classes_[res.proba.argmax(1)])


def test_list_input_logits_and_string_classes():
    outputs, y = make_outputs()
    labels = np.array(["a", "b", "c", "d"])[y]
    logits = np.log(outputs)
    a = RoutingPolicy(costs=[1, 2, 4]).fit(outputs, labels)
    b = RoutingPolicy(costs=[1, 2, 4], outputs="logits").fit(list(logits.swapaxes(0, 1)), labels)
    assert_array_equal(a.apply(outputs), b.apply(logits))
    assert set(a.predict(outputs)) <= set("abcd")


def test_policy_features_with_X_and_a_pipeline_policy():
    outputs, y = make_outputs()
    X = np.random.default_rng(1).normal(size=(len(y), 5))
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    policy = RoutingPolicy(costs=[1, 2, 4], features="proba+X", policy_estimator=pipe)
    policy.fit(outputs, y, X=X)
    assert policy.apply(outputs, X=X).shape == (len(y),)
    with pytest.raises(ValueError, match="needs X; pass X= to fit"):
        RoutingPolicy(features="proba+X").fit(outputs, y)
    with pytest.raises(ValueError, match="needs X; pass X= to route"):
        policy.apply(outputs)


def test_callable_features():
    outputs, y = make_outputs()
    calls = []

    def last_max(stage_probas, X_rows):
        calls.append(len(stage_probas))
        return stage_probas[-1].max(axis=1, keepdims=True)

    policy = RoutingPolicy(costs=[1, 2, 4], features=last_max).fit(outputs, y)
    assert set(calls) == {1, 2}
    assert_array_equal(policy.apply(outputs), policy.apply(outputs, X=outputs[:, 0]))


def test_policy_estimator_without_sample_weight_is_rejected():
    outputs, y = make_outputs()
    with pytest.raises(ValueError, match="does not accept sample_weight"):
        RoutingPolicy(policy_estimator=KNeighborsClassifier()).fit(outputs, y)
    # Perceptron takes sample_weight: fine.
    RoutingPolicy(policy_estimator=Perceptron()).fit(outputs, y)


@pytest.mark.parametrize(
    "costs, match",
    [
        ([1, 2], "one entry per stage"),
        ([1, -2, 3], "non-negative"),
        ([1, np.nan, 3], "finite"),
        ([0, 0, 0], "not all be zero"),
    ],
)
def test_bad_costs(costs, match):
    outputs, y = make_outputs()
    with pytest.raises(ValueError, match=match):
        RoutingPolicy(costs=costs).fit(outputs, y)


def test_bad_outputs_and_labels():
    outputs, y = make_outputs()
    with pytest.raises(ValueError, match="shape"):
        RoutingPolicy().fit(outputs[:, 0], y)
    with pytest.raises(ValueError, match="NaN"):
        bad = outputs.copy()
        bad[0, 0, 0] = np.nan
        RoutingPolicy().fit(bad, y)
    with pytest.raises(ValueError, match="columns"):
        RoutingPolicy().fit(outputs[:, :, :3], y)
    policy = RoutingPolicy().fit(outputs, y)
    with pytest.raises(ValueError, match="was fitted with 3"):
        policy.route(outputs[:, :2])


def test_fit_does_not_modify_inputs():
    outputs, y = make_outputs()
    before, y_before = outputs.copy(), y.copy()
    costs = np.array([1.0, 2.0, 4.0])
    RoutingPolicy(costs=costs, outputs="logits").fit(outputs, y)
    assert_array_equal(outputs, before)
    assert_array_equal(y, y_before)
    assert_array_equal(costs, [1, 2, 4])


def test_threshold_policy_by_hand():
    outputs = np.array(
        [
            [[0.95, 0.05], [0.6, 0.4], [0.1, 0.9]],
            [[0.55, 0.45], [0.9, 0.1], [0.2, 0.8]],
            [[0.55, 0.45], [0.6, 0.4], [0.2, 0.8]],
        ]
    )
    t = ThresholdPolicy(threshold=0.9, costs=[1, 2, 3]).fit(outputs, [0, 1, 1])
    res = t.route(outputs)
    assert_array_equal(res.stage, [0, 1, 2])
    assert_allclose(res.cost, [1, 3, 6])
    assert_array_equal(t.predict(outputs), [0, 0, 1])
    ent = ThresholdPolicy(threshold=0.2, criterion="entropy").fit(outputs)
    assert_array_equal(ent.apply(outputs), [0, 2, 2])  # H(0.95)=0.199, H(0.9)=0.325


def test_oracle_by_hand():
    outputs = np.array(
        [
            [[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]],  # right at stage 0
            [[0.9, 0.1], [0.2, 0.8], [0.2, 0.8]],  # first right at stage 1
            [[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]],  # only the last is right
            [[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]],  # all wrong: cheapest route
        ]
    )
    y = np.array([0, 1, 1, 1])
    chain = oracle_route(outputs, y, [1, 1, 2])
    assert_array_equal(chain.stage, [0, 1, 2, 0])
    assert_allclose(chain.cost, [1, 2, 4, 1])
    jump = oracle_route(outputs, y, [1, 1, 2], topology="jump")
    assert_array_equal(jump.stage, [0, 1, 2, 0])
    assert_allclose(jump.cost, [1, 2, 3, 1])
    assert_array_equal(jump.path[2], [True, False, True])


def test_linear_fast_path_decides_like_predict():
    from sklearn.linear_model import RidgeClassifier, SGDClassifier

    from skadaptive._policy import policy_predict

    outputs, y = make_outputs(n=1000)
    for est in [LogisticRegression(), SGDClassifier(random_state=0), RidgeClassifier()]:
        policy = RoutingPolicy(costs=[1, 2, 4], cost_weight=0.1, policy_estimator=est)
        policy.fit(outputs, y)
        for fitted in policy.policies_.values():
            if isinstance(fitted, ConstantPolicy):
                continue
            F = np.random.default_rng(0).random((50, fitted.n_features_in_))
            assert_array_equal(policy_predict(fitted, F), fitted.predict(F))


def test_logits_or_scores_passed_as_probabilities_are_refused_with_a_hint():
    outputs, y = make_outputs()
    logits = np.log(outputs) + 3.0  # what a network's last layer gives
    with pytest.raises(ValueError, match="not probabilities.*pass outputs='logits'"):
        RoutingPolicy().fit(logits, y)
    with pytest.raises(ValueError, match="not probabilities"):
        RoutingPolicy().fit(outputs * 2, y)  # per-class scores that do not sum to 1
    policy = RoutingPolicy(outputs="logits").fit(logits, y)  # the hint works
    assert_array_equal(policy.predict(logits), RoutingPolicy().fit(outputs, y).predict(outputs))
    fitted = RoutingPolicy().fit(outputs, y)
    with pytest.raises(ValueError, match="not probabilities"):
        fitted.route(logits)
    # a few stray rows (float32 rounding in a stage's softmax) are let through
    stray = outputs.copy()
    stray[0, 0] *= 1.5
    RoutingPolicy().fit(stray, y)
