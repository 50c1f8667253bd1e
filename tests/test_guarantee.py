"""The statistics of the guarantee mode, on synthetic problems where the truth is known.

Coverage is checked over thousands of simulated calibration sets at once (vectorised), so
the tests stay fast; the allowed excess over ``delta`` is three binomial standard errors
of the simulation count.
"""

import numpy as np
import pytest
from scipy.stats import binom

from skadaptive._guarantee import (
    betting_pvalue,
    binomial_lower,
    binomial_upper,
    fixed_sequence,
    loss_increase_pvalue,
    loss_increase_upper,
)

DELTA = 0.1
N_SIM = 4000
SLACK = 3 * np.sqrt(DELTA * (1 - DELTA) / N_SIM)


def test_clopper_pearson_bounds_have_closed_forms_at_the_ends():
    n = 100
    assert binomial_upper(0, n, 0.05) == pytest.approx(1 - 0.05 ** (1 / n))
    assert binomial_lower(n, n, 0.05) == pytest.approx(0.05 ** (1 / n))
    assert binomial_upper(n, n, 0.05) == 1.0 and binomial_lower(0, n, 0.05) == 0.0
    # the bounds are exact: at the upper bound, seeing k or fewer has probability delta
    k = 7
    assert binom.cdf(k, n, binomial_upper(k, n, 0.05)) == pytest.approx(0.05)


def draw_kinds(rng, n, worse, better, size):
    """Counts of rows where the candidate is worse / better than the reference."""
    counts = rng.multinomial(n, [worse, better, 1 - worse - better], size=size)
    return counts[:, 0], counts[:, 1]


@pytest.mark.parametrize("worse, better, n", [(0.03, 0.015, 500), (0.01, 0.0, 2000)])
def test_the_loss_increase_bound_covers_the_truth(worse, better, n):
    rng = np.random.default_rng(0)
    w, b = draw_kinds(rng, n, worse, better, N_SIM)
    upper = loss_increase_upper(w, b, n, DELTA)
    assert np.mean(upper < worse - better) <= DELTA + SLACK
    assert np.median(upper - (worse - better)) < 0.03  # and it is not vacuous


def test_the_p_value_is_the_level_at_which_the_bound_meets_the_target():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(200, 2000))
        wrong_ref = rng.random(n) < 0.1
        wrong = np.where(rng.random(n) < 0.9, wrong_ref, rng.random(n) < 0.2)
        target = float(rng.uniform(0.0, 0.03))
        p = loss_increase_pvalue(wrong.astype(int), wrong_ref.astype(int), target)
        worse, better = np.sum(wrong & ~wrong_ref), np.sum(~wrong & wrong_ref)
        for level in (0.01, 0.05, 0.1, 0.3):
            certified = loss_increase_upper(worse, better, n, level) <= target
            if abs(p - level) > 1e-6:
                assert certified == (p <= level)


def test_p_values_are_valid_at_the_boundary_of_the_null():
    """True increase exactly at the target: P(p <= delta) <= delta."""
    rng = np.random.default_rng(2)
    target, n = 0.01, 1000
    w, b = draw_kinds(rng, n, 0.025, 0.015, N_SIM)
    rejected = loss_increase_upper(w, b, n, DELTA) <= target  # <=> p <= DELTA
    assert np.mean(rejected) <= DELTA + SLACK


def test_learn_then_test_controls_the_family_wise_error():
    """Candidates from most conservative to cheapest, true increases 0 to 1.8 points, target
    1 point: the probability that fixed-sequence testing certifies any candidate above the
    target is at most delta, and it certifies the good ones most of the time."""
    rng = np.random.default_rng(3)
    target, n = 0.01, 3000
    truth = np.linspace(0.0, 0.018, 10)
    rejected = np.empty((N_SIM, len(truth)), dtype=bool)
    for j, increase in enumerate(truth):
        w, b = draw_kinds(rng, n, 0.01 + increase, 0.01, N_SIM)
        rejected[:, j] = loss_increase_upper(w, b, n, DELTA) <= target
    n_passed = np.array([fixed_sequence(~row * 1.0, 0.5) for row in rejected])
    bad = np.array([np.any(truth[:k] > target) for k in n_passed])
    assert np.mean(bad) <= DELTA + SLACK
    assert np.mean(n_passed >= 2) > 0.5  # the candidates well within the target pass


def test_fixed_sequence_stops_at_the_first_failure():
    assert fixed_sequence([0.01, 0.05, 0.2, 0.01], 0.1) == 2
    assert fixed_sequence([0.01, 0.02], 0.1) == 2
    assert fixed_sequence([0.5, 0.01], 0.1) == 0
    assert fixed_sequence([], 0.1) == 0


def test_a_zero_target_needs_evidence_that_the_candidate_is_better():
    """With identical answers a zero increase can never be certified (the candidate could
    still be worse on rows not seen); with enough rows where it is better, it can."""
    same = np.zeros(1000, dtype=int)
    same[:100] = 1
    assert loss_increase_pvalue(same, same, 0.0) == 1.0
    better = same.copy()
    better[:40] = 0  # right on 40 rows where the reference is wrong
    assert loss_increase_pvalue(better, same, 0.0) < DELTA


def test_betting_is_valid_at_the_boundary_of_the_null():
    """Loss increases of -1, 0, +1 with mean exactly at the target, and two-valued costs
    with mean exactly at the budget: P(p <= delta) <= delta."""
    rng = np.random.default_rng(4)
    n, n_sim, target = 500, 1500, 0.01
    slack = 3 * np.sqrt(DELTA * (1 - DELTA) / n_sim)
    u = rng.random((n_sim, n))
    increases = np.where(u < 0.04, 1, np.where(u < 0.07, -1, 0))  # mean 0.01
    rejected = [betting_pvalue(d, target, -1, 1, DELTA) <= DELTA for d in increases]
    assert np.mean(rejected) <= DELTA + slack
    budget = 3.0
    costs = np.where(rng.random((n_sim, n)) < (budget - 1) / 9, 10.0, 1.0)  # mean 3
    rejected = [betting_pvalue(c, budget, 0, 10, DELTA) <= DELTA for c in costs]
    assert np.mean(rejected) <= DELTA + slack


def test_betting_certifies_smaller_margins_than_the_union_bound():
    """3,000 calibration rows, 1% worse and 1% better than the reference plus a true increase
    of 0.2 points, target 1 point: betting certifies more often than the union bound, and
    almost always when the candidate is as good as the reference."""
    rng = np.random.default_rng(5)
    n, n_sim, target = 3000, 300, 0.01
    betting, union = [], []
    for _ in range(n_sim):
        u = rng.random(n)
        d = np.where(u < 0.012, 1, np.where(u < 0.022, -1, 0))
        betting.append(betting_pvalue(d, target, -1, 1, DELTA) <= DELTA)
        union.append(loss_increase_upper(np.sum(d == 1), np.sum(d == -1), n, DELTA) <= target)
    assert np.mean(betting) > np.mean(union) + 0.03
    same = np.where(rng.random(n) < 0.01, 1, 0) - np.where(rng.random(n) < 0.01, 1, 0)
    assert betting_pvalue(same, target, -1, 1, DELTA) <= DELTA


def test_betting_edge_cases_and_errors():
    assert betting_pvalue([0.5, 0.2], 1.0, 0, 1, DELTA) <= 1e-11  # the bound is the maximum
    assert betting_pvalue([0.5, 0.2], -0.1, 0, 1, DELTA) == 1.0  # below every possible value
    assert betting_pvalue([], 0.5, 0, 1, DELTA) == 1.0
    assert betting_pvalue(np.zeros(5), 0.0, -1, 1, DELTA) == 1.0  # no evidence of "better"
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        betting_pvalue([0.5, 2.0], 0.5, 0, 1, DELTA)
    with pytest.raises(ValueError, match="lo < hi"):
        betting_pvalue([0.5], 0.5, 1, 1, DELTA)
