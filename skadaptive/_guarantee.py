"""Finite-sample guarantees for budget mode: Learn then Test with exact binomial bounds.

Budget mode picks, among many candidate routers, the cheapest whose held-out loss meets
the target; the pick is optimistic on new rows (the cheapest candidate that passes is
the one whose estimate was luckiest).  Learn then Test (Angelopoulos, Bates, Candès,
Jordan and Lei, 2021, "Learn then Test: Calibrating Predictive Algorithms to Achieve
Risk Control") turns the choice into multiple testing on calibration rows that no
candidate was fitted on: for each candidate ``j``, the null hypothesis

    H_j:  E[loss_j(row) - loss_reference(row)] > target

gets a valid p-value, and *fixed-sequence testing* tests them in an order fixed before
the calibration rows are seen (most conservative first), at level ``delta`` each,
stopping at the first that is not rejected.  Every candidate rejected so far then meets
the target, all of them at once, with probability at least ``1 - delta`` over the
calibration rows (the family-wise error rate is at most ``delta``), for new rows drawn
from the calibration rows' distribution.

Budget mode's p-values come from betting (Waudby-Smith and Ramdas, 2024, "Estimating
means of bounded random variables by betting", JRSS B): :func:`betting_pvalue` bets
against the null, row by row, with a stake that adapts to the variance seen so far;
under the null the gambler's wealth is a nonnegative supermartingale, so by Markov's
inequality it exceeds ``1 / delta`` with probability at most ``delta``.  Between a
cheap router and its reference most rows' loss increase is 0, the variance is small,
and betting certifies far smaller margins than Hoeffding's inequality (tested).

The first p-values here came from exact one-sided binomial (Clopper-Pearson) bounds.  With a
0/1 loss, a row's loss increase is +1 where the candidate is wrong and the reference
right, -1 where it is the other way round, 0 elsewhere; the two kinds of rows are
Bernoulli with means ``w`` and ``b``, and

    w - b <= Upper_{delta/2}(w) - Lower_{delta/2}(b)

with probability at least ``1 - delta`` (a union bound).  Both bounds are tight when the
kinds are rare, as they are between a cheap router and its reference, but the union
bound costs power: with 3,000 calibration rows, 1% of rows worse and 1% better, a target
of one point is certified only for increases up to about 0.2 points (tested).  A betting
confidence sequence on the increase itself (Waudby-Smith and Ramdas, 2023) is tighter, and
is what budget mode uses.  Pure numpy and scipy.
"""

import functools

import numpy as np
from scipy.optimize import brentq
from scipy.stats import beta

MIN_DELTA = 1e-12
N_ORDERS = 16  # row orders averaged by betting_pvalue
MAX_BET = 0.75  # the largest stake, as a fraction of the most that keeps wealth >= 0


def binomial_upper(k, n, delta):
    """Clopper-Pearson upper bound: ``P(p > bound) <= delta`` for ``k ~ Binomial(n, p)``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(1 - delta, k + 1, np.maximum(n - k, 1e-300))
    return np.where(k >= n, 1.0, bound)


def binomial_lower(k, n, delta):
    """Clopper-Pearson lower bound: ``P(p < bound) <= delta`` for ``k ~ Binomial(n, p)``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(delta, np.maximum(k, 1e-300), n - k + 1)
    return np.where(k <= 0, 0.0, bound)


def loss_increase_upper(worse, better, n, delta):
    """Upper confidence bound, at level ``1 - delta``, on the mean 0/1 loss increase.

    Parameters
    ----------
    worse, better : int or array-like of int
        The calibration rows where the candidate is wrong and the reference right, and
        the rows where it is the other way round.
    n : int
        The calibration rows.
    delta : float
        The error probability.

    Returns
    -------
    bound : float or ndarray
        ``P(E[loss - reference loss] > bound) <= delta``.
    """
    return binomial_upper(worse, n, delta / 2) - binomial_lower(better, n, delta / 2)


def loss_increase_pvalue(loss, reference_loss, target):
    """A valid p-value for ``H: E[loss - reference loss] > target``, from 0/1 losses.

    The smallest ``delta`` at which :func:`loss_increase_upper` is at most ``target``:
    ``P(p <= delta) <= delta`` under ``H``.

    Parameters
    ----------
    loss, reference_loss : array-like of shape (n_rows,)
        0/1 losses of the candidate and of the reference on the calibration rows.
    target : float
        The allowed increase (0.01 = one point).

    Returns
    -------
    p_value : float
    """
    loss, reference_loss = np.asarray(loss), np.asarray(reference_loss)
    n = len(loss)
    if n == 0:
        return 1.0
    worse = int(np.sum((loss > 0) & (reference_loss == 0)))
    better = int(np.sum((loss == 0) & (reference_loss > 0)))

    def gap(delta):
        return float(loss_increase_upper(worse, better, n, delta)) - target

    if gap(1.0) > 0:
        return 1.0
    if gap(MIN_DELTA) <= 0:
        return MIN_DELTA
    return float(brentq(gap, MIN_DELTA, 1.0, xtol=1e-14, rtol=1e-10))


def fixed_sequence(p_values, delta):
    """How many of the hypotheses, tested in order at level ``delta``, are rejected.

    Fixed-sequence testing: reject ``p_values[0]``, ``p_values[1]``, ... while each is at
    most ``delta``, and stop at the first that is not.  The family-wise error rate of
    the rejections is at most ``delta`` whatever the dependence between the p-values,
    provided the order was fixed before the calibration rows were seen.

    Returns
    -------
    n_rejected : int
        The rejected hypotheses are the first ``n_rejected``.
    """
    passed = np.asarray(p_values, float) <= delta
    return int(len(passed) if passed.all() else np.argmin(passed))


@functools.lru_cache(maxsize=4)
def _orders(n, random_state):
    """``N_ORDERS`` random orders of ``n`` rows (the same for every candidate tested)."""
    rng = np.random.default_rng(random_state)
    orders = np.stack([rng.permutation(n) for _ in range(N_ORDERS)])
    orders.flags.writeable = False
    return orders


def betting_pvalue(values, bound, lo, hi, delta, random_state=0):
    """A test of ``H: E[value] > bound`` at level ``delta``, by betting.

    For values in ``[lo, hi]`` rescaled to ``y`` in ``[0, 1]`` and the bound to ``m``,
    the wealth ``K = prod_i (1 + s_i (m - y_i))`` with stakes ``s_i >= 0`` chosen from
    the rows before ``i`` has expectation at most 1 under ``H`` (every factor has
    conditional mean at most 1), so ``P(K >= 1 / delta) <= delta`` (Markov).  The
    stakes are Waudby-Smith and Ramdas' predictable plug-in,
    ``s_i = min(MAX_BET / (1 - m), sqrt(2 log(1 / delta) / (n v_{i-1})))`` with ``v``
    the running variance estimate.  The rows are exchangeable, so the wealth is averaged
    over ``N_ORDERS`` random orders (an average of e-values is an e-value), which makes
    the answer depend little on one order.

    Parameters
    ----------
    values : array-like of shape (n_rows,)
        One value per calibration row (a loss increase, a cost).
    bound : float
        The null is that the mean exceeds it.
    lo, hi : float
        Every value lies in ``[lo, hi]`` (checked).
    delta : float
        The level of the test: the stakes are tuned for it.
    random_state : int, default=0
        Seeds the row orders.

    Returns
    -------
    p_value : float
        ``1 / wealth``, clipped to ``[MIN_DELTA, 1]``: ``P(p_value <= delta) <= delta``
        under ``H``.  Valid as a test at ``delta`` (the stakes depend on it).
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if hi <= lo:
        raise ValueError(f"betting_pvalue needs lo < hi; got [{lo}, {hi}].")
    if n and (values.min() < lo - 1e-12 or values.max() > hi + 1e-12):
        raise ValueError(
            f"The values must lie in [{lo}, {hi}]; got [{values.min()}, {values.max()}]."
        )
    m = (bound - lo) / (hi - lo)
    if m >= 1:
        return MIN_DELTA  # every value meets the bound
    if n == 0 or m < 0:
        return 1.0
    y = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    y = y[_orders(n, random_state)]  # (N_ORDERS, n)
    i = np.arange(1, n + 1)
    mean = (0.5 + np.cumsum(y, axis=1)) / (i + 1)  # mean after row i, with a prior half
    var = (0.25 + np.cumsum((y - mean) ** 2, axis=1)) / (i + 1)
    var_before = np.concatenate([np.full((N_ORDERS, 1), 0.25), var[:, :-1]], axis=1)
    stake = np.minimum(MAX_BET / (1 - m), np.sqrt(2 * np.log(1 / delta) / (n * var_before)))
    log_wealth = np.sum(np.log1p(stake * (m - y)), axis=1)
    top = log_wealth.max()
    wealth_log = top + np.log(np.mean(np.exp(log_wealth - top)))
    return float(np.clip(np.exp(-wealth_log), MIN_DELTA, 1.0))
