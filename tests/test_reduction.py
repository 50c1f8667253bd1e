"""The reduction against labels and weights worked out by hand.

The cost table used throughout: 3 stages with costs [1, 1, 2] (route costs 1, 2,
4) and cost_weight 0.25, so lambda * route cost = 0.25, 0.5, 1.  Four rows with
0/1 losses per stage:

    row   losses (s0, s1, s2)
    r0    (0, 0, 0)   right everywhere
    r1    (1, 0, 0)   fixed by stage 1
    r2    (1, 1, 0)   fixed only by stage 2
    r3    (0, 1, 1)   right only at stage 0
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skadaptive._reduction import binary_problem, learn_policies, route_prefix_costs

LOSSES = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=float)
COSTS = np.array([1.0, 1.0, 2.0])
LAM = 0.25


def recorder(decide):
    """A fit_decision callback that records each problem and decides with ``decide``."""
    seen = {}

    def fit_decision(node, kind, labels, weights):
        seen[(node, kind)] = (labels.copy(), weights.copy())
        return decide(node, kind, labels, weights)

    return fit_decision, seen


def assert_problem(seen, key, labels, weights):
    """The binary problem recorded for decision ``key`` has these labels and weights."""
    assert_array_equal(seen[key][0], labels, err_msg=str(key))
    assert_allclose(seen[key][1], weights, err_msg=str(key))


def perfect(node, kind, labels, weights):
    return labels


def test_route_prefix_costs():
    assert_allclose(route_prefix_costs([1, 1, 2]), [1, 2, 4])


def test_binary_problem_labels_weights_and_ties():
    labels, weights = binary_problem([1.0, 2.0, 1.5], [2.0, 1.0, 1.5])
    assert_array_equal(labels, [0, 1, 0])  # the tie keeps the default (exit)
    assert_allclose(weights, [1.0, 1.0, 0.0])


def test_chain_by_hand_with_a_perfect_policy():
    fit_decision, seen = recorder(perfect)
    realised, problems = learn_policies(LOSSES, COSTS, LAM, fit_decision)
    assert set(seen) == {(1, "exit"), (0, "exit")}
    # Stage 1: stop = l1 + 0.5, go = l2 + 1.
    assert_problem(seen, (1, "exit"), [0, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])
    # Realised after stage 1 = [0.5, 0.5, 1, 1.5]; stage 0: stop = l0 + 0.25.
    assert_problem(seen, (0, "exit"), [0, 1, 1, 0], [0.25, 0.75, 0.25, 1.25])
    assert_allclose(realised, [0.25, 0.5, 1.0, 0.25])
    assert problems.keys() == seen.keys()


def test_continue_cost_uses_the_policy_decisions_not_the_oracle():
    # The stage-1 policy continues on every row, right or wrong.
    def always_continue_at_1(node, kind, labels, weights):
        return np.ones_like(labels) if node == 1 else labels

    fit_decision, seen = recorder(always_continue_at_1)
    learn_policies(LOSSES, COSTS, LAM, fit_decision)
    # go = l2 + 1 = [1, 1, 1, 2], not min(stop_1, go_1) = [0.5, 0.5, 1, 1.5].
    assert_problem(seen, (0, "exit"), [0, 1, 1, 0], [0.75, 0.25, 0.25, 1.75])


def test_ties_carry_no_weight():
    # With cost_weight 0 only the losses count: rows whose losses agree are ties.
    fit_decision, seen = recorder(perfect)
    learn_policies(LOSSES, COSTS, 0.0, fit_decision)
    assert_problem(seen, (1, "exit"), [0, 0, 1, 0], [0, 0, 1, 0])
    # Realised after stage 1 = [0, 0, 0, 1] (r3 exits at stage 1, wrong); stop = l0.
    assert_problem(seen, (0, "exit"), [0, 1, 1, 0], [0, 1, 1, 1])


def test_jump_edge_by_hand():
    fit_decision, seen = recorder(perfect)
    realised, _ = learn_policies(LOSSES, COSTS, LAM, fit_decision, jump=True)
    # No jump at the last decision (the next stage is the last one).
    assert set(seen) == {(1, "exit"), (0, "jump"), (0, "exit")}
    # Jump from stage 0 runs stages 0 and 2: l2 + 0.25 * (1 + 2).
    # next = realised after stage 1 = [0.5, 0.5, 1, 1.5]; jump = [0.75, 0.75, 0.75, 1.75].
    assert_problem(seen, (0, "jump"), [0, 0, 1, 0], [0.25, 0.25, 0.25, 0.25])
    # continue = [0.5, 0.5, 0.75, 1.5] under the jump policy; stop = [0.25, 1.25, 1.25, 0.25].
    assert_problem(seen, (0, "exit"), [0, 1, 1, 0], [0.25, 0.75, 0.5, 1.25])
    assert_allclose(realised, [0.25, 0.5, 0.75, 0.25])


@pytest.mark.parametrize(
    "jumps, exit_weights, expected_realised",
    [
        # Never jump: continue = next = realised after stage 1 = [0.5, 0.5, 1, 1.5].
        ([0, 0, 0, 0], [0.25, 0.75, 0.25, 1.25], [0.25, 0.5, 1.0, 0.25]),
        # Always jump: continue = l2 + 0.25 * (1 + 2) = [0.75, 0.75, 0.75, 1.75].
        ([1, 1, 1, 1], [0.5, 0.5, 0.5, 1.5], [0.25, 0.75, 0.75, 0.25]),
        # Jump for r2 and r3 only, row by row: continue = [0.5, 0.5, 0.75, 1.75].
        ([0, 0, 1, 1], [0.25, 0.75, 0.5, 1.5], [0.25, 0.5, 0.75, 0.25]),
    ],
)
def test_jump_is_learned_before_the_exit_and_feeds_it(jumps, exit_weights, expected_realised):
    order = []

    def decide(node, kind, labels, weights):
        order.append((node, kind))
        return np.array(jumps) if kind == "jump" else labels  # the given jumps, perfect exits

    fit_decision, seen = recorder(decide)
    realised, _ = learn_policies(LOSSES, COSTS, LAM, fit_decision, jump=True)
    assert order == [(1, "exit"), (0, "jump"), (0, "exit")]
    # The jump problem does not depend on what the jump policy then decides:
    # next = [0.5, 0.5, 1, 1.5], jump = [0.75, 0.75, 0.75, 1.75].
    assert_problem(seen, (0, "jump"), [0, 0, 1, 0], [0.25, 0.25, 0.25, 0.25])
    # The exit at stage 0 compares stop = l0 + 0.25 = [0.25, 1.25, 1.25, 0.25] with the
    # cost of continuing as the jump policy decided (not the cheaper of next and jump).
    # Weights |stop - continue|; the labels (continue < stop) agree across the three here.
    assert_problem(seen, (0, "exit"), [0, 1, 1, 0], exit_weights)
    assert_allclose(realised, expected_realised)  # min(stop, continue): perfect exits


def test_sample_weight_multiplies_the_weights():
    fit_decision, seen = recorder(perfect)
    sw = np.array([2.0, 0.0, 1.0, 3.0])
    learn_policies(LOSSES, COSTS, LAM, fit_decision, sample_weight=sw)
    _, weights = seen[(0, "exit")]
    assert_allclose(weights, np.array([0.25, 0.75, 0.25, 1.25]) * sw)


def test_two_stages_have_one_decision():
    fit_decision, seen = recorder(perfect)
    realised, _ = learn_policies(LOSSES[:, :2], [1.0, 3.0], 0.1, fit_decision, jump=True)
    assert set(seen) == {(0, "exit")}
    # stop = l0 + 0.1, go = l1 + 0.4.
    assert_problem(seen, (0, "exit"), [0, 1, 0, 0], [0.3, 0.7, 0.3, 1.3])
    assert_allclose(realised, [0.1, 0.4, 1.1, 0.1])


@pytest.mark.parametrize("jump", [False, True])
def test_huge_cost_weight_labels_every_row_exit(jump):
    fit_decision, seen = recorder(perfect)
    learn_policies(LOSSES, COSTS, 1e6, fit_decision, jump=jump)
    for (node, kind), (labels, _) in seen.items():
        if kind == "exit":
            assert not labels.any(), (node, kind)
