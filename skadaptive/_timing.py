"""Time-aware costs: what a stage costs on the wall clock at the batch size served.

A stage called on ``n`` rows takes about ``a + b * n`` seconds: ``a`` per call
(input checks, Python dispatch, a GPU kernel launch, one tree walk set-up) and
``b`` per row.  :func:`measure_stage_times` measures both parts of every stage.

When ``predict`` is called on batches of ``B`` rows and a fraction ``p_k`` of the
rows reaches stage ``k``, the stage runs on about ``B * p_k`` rows, in one call
unless no row reaches it (probability ``(1 - p_k) ** B`` for independent rows).
The expected time per row of the batch is therefore

    sum_k  a_k * (1 - (1 - p_k) ** B) / B  +  b_k * p_k.

Written as ``sum_k p_k * c_k``, it charges every row that reaches stage ``k``

    c_k = b_k + a_k * (1 - (1 - p_k) ** B) / (B * p_k)          (:func:`amortised_costs`)

its per-row time plus its share of the calls: ``a_k / B + b_k`` when every row
reaches the stage, ``a_k + b_k`` when a row reaches it alone.  These are the
additive per-row costs that the paper's reduction needs; they depend on the
policies through ``p_k``, so the estimators learn the policies at a fixed point
(:data:`MAX_TIME_ROUNDS` rounds at most: fit, measure the fractions, recompute the
costs, refit; a step that reverses the previous one is halved).  Budget mode
compares its candidates by the expected time of their own routes
(:func:`expected_time`).  The reference runs every row through its stages, so its time per
row is ``sum_k a_k / B + b_k`` over them (:func:`reference_time`); an early-exit model that
computes its last exit in one pass serves the reference that way, and costs its measured
``a / B + b`` instead (:func:`measure_last_exit_times`).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import ArrayLike
from sklearn import config_context

from ._compat import num_samples
from ._rows import safe_rows, take_rows
from ._validation import Estimator, final_step, is_frame

MAX_TIME_ROUNDS = 5
"""Policy fits at most, to reach the fixed point of the amortised costs."""

REACH_TOLERANCE = 0.01
"""The fixed point is reached when no stage's reach fraction moves by more than this."""

SINGLE_ROWS = 16
"""The one-row calls timed per round, on distinct rows."""


def _stage_context(X):
    """The settings the stages predict under in ``predict`` (see ``_base._stage_config``)."""
    if is_frame(X):
        return config_context()
    return config_context(assume_finite=True, skip_parameter_validation=True)


def _pass_times(model, X):
    """Seconds each stage takes on every row of ``X``, in one pass (``init_exits`` in stage 0)."""
    rows = np.arange(num_samples(X))
    times = np.zeros(model.n_exits_)
    t0 = time.perf_counter()
    state = model.init_exits(X)
    for k in range(model.n_exits_):
        model.predict_exit_proba(state, k, rows)
        t1 = time.perf_counter()
        times[k] = t1 - t0
        t0 = t1
    return times


def _call_times(model, X, n_rows):
    """Median seconds of one call of each stage on ``n_rows`` rows of ``X``."""
    if hasattr(model, "measure_exit_costs"):  # the model times its own device
        return np.asarray(model.measure_exit_costs(safe_rows(X, np.arange(n_rows))), float) * n_rows
    if n_rows == 1:  # one row at a time, on distinct rows
        n = min(SINGLE_ROWS, num_samples(X))
        runs = [_pass_times(model, safe_rows(X, [i % n])) for i in range(2 * n + 1)]
        return np.median(runs[1:], axis=0)
    X_n = safe_rows(X, np.arange(n_rows))
    runs = [_pass_times(model, X_n) for _ in range(6)]
    return np.median(runs[1:], axis=0)


def per_row_seconds(model, X, repeats=7):
    """Median seconds per row of each stage, on calls on every row of ``X``.

    The per-row costs of skadaptive 0.1 (what the benchmarks pass as given costs): one
    untimed pass, then ``repeats`` timed ones, under ``predict``'s settings.
    """
    with _stage_context(X):
        runs = [_pass_times(model, X) for _ in range(repeats + 1)]
    return np.maximum(np.median(runs[1:], axis=0) / num_samples(X), 1e-12)


def measure_stage_times(model, X):
    """Each stage's seconds per call and per row, from one-row calls and calls on all of ``X``.

    Stage ``k`` runs on the state that stages ``0..k-1`` left, as in ``predict``,
    and under ``predict``'s settings (no repeated input checks).  The stages are
    timed with the threads the caller runs with: time them as you serve them.

    Parameters
    ----------
    model : multi-exit model
        Fitted (``init_exits``, ``predict_exit_proba``, ``n_exits_``).
    X : array-like of shape (n_samples, n_features)
        The timing rows (at least one).

    Returns
    -------
    stage_times : ndarray of shape (n_stages, 2)
        Column 0: seconds per call; column 1: seconds per row (at least 1e-12).
        A call on ``n`` rows is predicted to take ``times[:, 0] + n * times[:, 1]``.
    """
    n_rows = num_samples(X)
    with _stage_context(X):
        one = _call_times(model, X, 1)
        if n_rows == 1:
            return np.column_stack([np.zeros_like(one), np.maximum(one, 1e-12)])
        many = _call_times(model, X, n_rows)
    per_row = np.maximum((many - one) / (n_rows - 1), 1e-12)
    per_call = np.maximum(one - per_row, 0.0)
    return np.column_stack([per_call, per_row])


def measure_last_exit_times(model, X):
    """Seconds per call and per row of ``model.predict_last_exit_proba``: the reference as served.

    An early-exit model that computes its last exit in one pass (the protocol's
    optional ``predict_last_exit_proba``) serves the reference without the per-call
    work of every exit; its time, not the sum of the exits', is what the reference
    costs.  None for a model without that method.

    Returns
    -------
    times : ndarray of shape (2,) or None
        Seconds per call and per row (at least 1e-12), as one row of
        :func:`measure_stage_times`.
    """
    whole = getattr(model, "predict_last_exit_proba", None)
    if whole is None:
        return None
    return measure_stage_times(_OnePass(whole), X)[0]


class _OnePass:
    """A model's one-pass last exit as a one-stage multi-exit model, to time it as a stage."""

    n_exits_ = 1

    def __init__(self, whole):
        self.whole = whole

    def init_exits(self, X):
        return X

    def predict_exit_proba(self, state, k, rows):
        return self.whole(take_rows(state, rows))


def amortised_costs(stage_times, reach, batch_size):
    """Per-row cost of reaching each stage, its calls shared by the rows that reach it.

    Parameters
    ----------
    stage_times : ndarray of shape (n_stages, 2)
        Seconds per call and per row (:func:`measure_stage_times`).
    reach : array-like of shape (n_stages,)
        The fraction of rows that reach each stage.
    batch_size : int
        The rows of a ``predict`` call.

    Returns
    -------
    costs : ndarray of shape (n_stages,)
        ``b_k + a_k * (1 - (1 - p_k) ** B) / (B * p_k)`` (``a_k + b_k`` where no row
        reaches the stage: the first one to do so pays the call alone).
    """
    per_call, per_row = np.asarray(stage_times, float).T
    p = np.clip(np.asarray(reach, float), 0.0, 1.0)
    B = float(batch_size)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = -np.expm1(B * np.log1p(-p)) / (B * p)  # (1 - (1 - p)**B) / (B p), accurately
    share = np.where(p > 0, np.where(p < 1, share, 1.0 / B), 1.0)
    return per_row + per_call * share


def expected_time(stage_times, batch_size, reach):
    """Expected seconds per row of routes that reach each stage with fractions ``reach``.

    ``sum_k a_k * (1 - (1 - p_k) ** B) / B + b_k * p_k``: equal to ``reach @
    amortised_costs(stage_times, reach, batch_size)``.
    """
    return float(np.dot(reach, amortised_costs(stage_times, reach, batch_size)))


def reference_time(stage_times, entry, batch_size, last_exit_times=None):
    """Seconds per row of the reference (stages ``entry..`` on every row), at ``batch_size``.

    With ``last_exit_times`` (:func:`measure_last_exit_times`), the reference runs as one
    pass of the whole model instead, and costs that pass.
    """
    if last_exit_times is not None:
        per_call, per_row = np.asarray(last_exit_times, float)
        return float(per_call / batch_size + per_row)
    per_call, per_row = np.asarray(stage_times, float)[entry:].T
    return float(np.sum(per_call / batch_size + per_row))


def batch_time(stage_times, path, batch_size=None):
    """Seconds the stages take on ``path``'s rows, called ``batch_size`` rows at a time.

    Parameters
    ----------
    stage_times : ndarray of shape (n_stages, 2)
        Seconds per call and per row.
    path : ndarray of shape (n_samples, n_stages), dtype=bool
        The stages each row's route computes.
    batch_size : int, default=None
        The rows of each call (the last call takes the rest); None: one call.

    Returns
    -------
    seconds : float
        ``sum`` over the calls and stages of ``a_k`` (when a row of the call reaches
        stage ``k``) ``+ b_k *`` the rows that reach it.
    """
    per_call, per_row = np.asarray(stage_times, float).T
    n = len(path)
    size = max(n, 1) if batch_size is None else int(batch_size)
    starts = np.arange(0, n, size)
    if n == 0:
        return 0.0
    counts = np.add.reduceat(path.astype(np.intp), starts, axis=0)
    return float(np.sum((counts > 0) @ per_call + counts @ per_row))


def reach_fractions(path, sample_weight=None):
    """The (weighted) fraction of rows whose route computes each stage."""
    return np.average(path, axis=0, weights=sample_weight)


def measure_routing_times(call, n_rows, stage_times=None, path_of=None, prepare=None):
    """Seconds per call and per row of ``call(rows)``: ``predict``'s work outside the stages.

    ``call(rows)`` does what ``predict`` does on those rows of the timing set, with
    the stages' outputs looked up instead of computed (the entry check, the
    policies, the bookkeeping), timed on one row at a time and on every row.  When
    the stages cannot be left out (a model that routes on its own device),
    ``call`` is ``predict`` itself and the stages' time on the routes
    (``path_of(rows)``, priced with ``stage_times``) is taken off.

    Returns
    -------
    routing_times : ndarray of shape (2,)
        Seconds per call and per row (>= 0).
    """

    def timed(rows, repeats):
        args = rows if prepare is None else prepare(rows)
        runs = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            call(args)
            runs.append(time.perf_counter() - t0)
        seconds = float(np.median(runs[1:]))
        if path_of is not None:
            seconds -= batch_time(stage_times, path_of(args))
        return seconds

    n = min(SINGLE_ROWS, n_rows)
    one = float(np.median([timed(np.array([i]), 2) for i in range(n)]))
    if n_rows == 1:
        return np.array([max(one, 0.0), 0.0])
    per_row = max((timed(np.arange(n_rows), 5) - one) / (n_rows - 1), 0.0)
    return np.array([max(one - per_row, 0.0), per_row])


def predicted_wall_clock(
    estimator: Estimator, X: ArrayLike, batch_size: int | None = None
) -> float:
    """Predicted seconds of ``estimator.predict`` on ``X``, called ``batch_size`` rows at a time.

    Checks the time-aware cost model against a stopwatch: the rows are routed
    (once, as :meth:`decision_path` does), and the prediction adds, for every call,
    each stage's time per call (when a row of the call reaches it) and per row
    (times the rows that do), plus ``predict``'s own time outside the stages
    (entry check, policies, bookkeeping), all measured during ``fit`` with
    ``costs="time"``, under the threads ``fit`` ran with.  It predicts one
    thread's serial calls: chunks routed in ``n_jobs`` threads are not modelled.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier whose costs were measured (``costs="time"``,
        or ``costs=None`` on stages without ``exit_costs_``), or a Pipeline that
        ends with one.
    X : array-like of shape (n_samples, n_features)
        The rows.
    batch_size : int, default=None
        The rows of each ``predict`` call (the last call takes the rest); None:
        one call on every row.

    Returns
    -------
    seconds : float
        The predicted wall clock of all the calls together.

    See Also
    --------
    skadaptive.metrics.speedup : The cost model's speed-up over the reference.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skadaptive import EarlyExitClassifier
    >>> from skadaptive.metrics import predicted_wall_clock
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EarlyExitClassifier(HistGradientBoostingClassifier(max_iter=20),
    ...                           costs="time", serving_batch_size=100,
    ...                           cv=3, random_state=0).fit(X, y)
    >>> seconds = predicted_wall_clock(clf, X[:500], batch_size=100)
    >>> 0 < seconds < 1
    True
    """
    estimator, X = final_step(estimator, X)
    if getattr(estimator, "stage_times_", None) is None:
        raise ValueError(
            "predicted_wall_clock needs the stages' measured times: fit with costs='time' "
            f"(this {type(estimator).__name__} was fitted with costs given in other units)."
        )
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}.")
    path = estimator.decision_path(X)
    n = len(path)
    n_calls = 0 if n == 0 else -(-n // (n if batch_size is None else int(batch_size)))
    per_call, per_row = getattr(estimator, "routing_times_", np.zeros(2))
    stages = batch_time(estimator.stage_times_, path, batch_size)
    return float(stages + n_calls * per_call + n * per_row)
