"""Budget mode's candidates: the routers it compares, and their held-out loss and cost.

Three families of routers, for a whole path of knobs:

- ``"learned"``: the paper's policies (:class:`~skadaptive.RoutingPolicy`), one per
  ``cost_weight`` of :data:`BUDGET_COST_WEIGHTS` (every other lambda of the displays'
  :data:`DEFAULT_COST_WEIGHTS`: the hybrids' cost budgets resolve the targets finely,
  and each lambda costs a policy fit per fold);
- ``"thresholds"``: one confidence threshold per exit on the largest probability,
  tuned jointly on the training folds to be as accurate as possible within a cost
  budget, for a grid of budgets (the *cost fractions* of :func:`cost_fractions`:
  fractions of the reference's cost, from the cheapest route to the reference's);
- ``"hybrid"``: the same per-exit thresholds, on the learned policies' probability
  of "exit" instead of the largest probability;

and the reference itself (``"reference"``).  No candidate depends on the target: a
zero loss target has as many candidates as any other, and every target is chosen
from the same evaluated path (:meth:`BudgetMixin.retarget`).  Only the routers'
public surface is used.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed

from ._choice import best_under
from ._plain_routers import HybridPolicy, ThresholdPolicy
from ._rows import optional_rows
from ._thresholds import max_proba_scores, threshold_frontier, threshold_route
from ._timing import expected_time, reach_fractions
from ._validation import Family

FAMILIES: tuple[Family, ...] = ("learned", "thresholds", "hybrid")
DEFAULT_COST_WEIGHTS = np.r_[0.0, np.geomspace(1e-4, 1.0, 13)]  # the displays' lambda path
BUDGET_COST_WEIGHTS = np.r_[0.0, np.geomspace(1e-4, 1.0, 7)]  # budget mode's: every other one
N_COST_FRACTIONS = 24  # cost budgets of the thresholds and hybrid families


def check_cost_weights(cost_weights, default=DEFAULT_COST_WEIGHTS):
    """The lambda path: ``cost_weights`` (or ``default``) as floats >= 0."""
    if cost_weights is None:
        return default
    weights = np.asarray(cost_weights, dtype=float)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)):
        raise ValueError(
            f"cost_weights must be a non-empty 1-D array of finite numbers; got {cost_weights!r}."
        )
    if np.any(weights < 0):
        raise ValueError(f"cost_weights must be >= 0; got {weights.tolist()}.")
    return weights


def learned_path(
    template, cost_weights, outputs, losses, X=None, sample_weight=None, warm_start=False
):
    """The learned routers along the lambda path, fitted on the same rows.

    Parameters
    ----------
    template : RoutingPolicy
        Unfitted, with ``classes`` and ``costs`` set.
    cost_weights : array-like of shape (n_weights,)
        The lambdas.
    outputs : ndarray of shape (n_samples, n_stages, n_classes)
        Out-of-fold stage outputs.
    losses : ndarray of shape (n_samples, n_stages)
        The loss of answering each row at each stage.
    X : array-like, default=None
        The raw rows, when the policies use them.
    sample_weight : ndarray of shape (n_samples,), default=None
        Row weights.
    warm_start : bool, default=False
        Start each lambda's estimators from the previous lambda's solutions where they
        can (``warm_start``): fewer iterations, the same optimum up to the solver's
        tolerance (so a route or two may differ from a fit at that lambda alone).

    Yields
    ------
    cost_weight, policy : float, RoutingPolicy
        Each lambda and the router fitted at it.
    """
    previous = None
    for weight in cost_weights:
        policy = clone(template).set_params(cost_weight=float(weight))
        policy._warm_start_from = previous if warm_start else None
        try:
            policy.fit_losses(outputs, losses, X=X, sample_weight=sample_weight)
        finally:
            del policy._warm_start_from  # no chain of policies kept, or saved
        previous = policy
        yield float(weight), policy


def cost_fractions(costs, reference_cost, n=N_COST_FRACTIONS):
    """The cost budgets of the threshold candidates, as fractions of the reference's cost.

    Geometric from the cheapest route (every row answered by stage 0) to the reference's
    cost, so that the candidates are as dense in speed-up at 2x as at 20x.
    """
    low = min(float(costs[0]) / float(reference_cost), 1.0)
    return np.unique(np.r_[np.geomspace(low, 1.0, n), 1.0])


class Target:
    """A loss target (``loss <= reference loss + value``) or a cost budget (``cost <= value``).

    Costs are mean per-row costs in the estimator's units; losses are mean per-row
    losses (error rates for the zero-one loss).
    """

    def __init__(self, kind, value):
        self.kind = kind
        self.value = float(value)

    def choose(self, increase, cost):
        """Index of the winning candidate, given their loss increase over the reference
        (with any margin added) and their mean cost."""
        if self.kind == "loss":
            return best_under(increase, self.value, cost)[0]
        return best_under(cost, self.value, increase)[0]


def _frontier_picks(front, budgets):
    """The most accurate thresholds of a frontier within each budget."""
    picks = []
    for budget in budgets:
        ok = np.flatnonzero(front.cost <= budget + 1e-12)
        picks.append(front.thresholds[ok[-1] if len(ok) else 0])
    return picks


def _evaluate_split(setup, outputs, losses, X, train, test, sample_weight):
    """Every candidate's held-out mean loss, mean cost and paired loss-increase sums on one
    split, and the reference's mean loss."""
    template, families = setup["template"], setup["families"]
    fractions = setup["fractions"]
    budgets = fractions * setup["reference_cost"]
    costs = template.costs
    route_cost = np.cumsum(costs)  # answering at stage k through the chain
    nan = None  # in the keys (NaN != NaN); NaN in the returned arrays
    results = {}  # (family, cost_weight, cost_fraction) -> (loss, cost, sum d, sum d^2, sum w)
    w_train, w_test = optional_rows(sample_weight, train), optional_rows(sample_weight, test)

    timing = setup.get("timing")  # (stage_times, batch size) with measured costs, else None

    weights = np.ones(len(test)) if w_test is None else w_test
    reference_rows = losses[test, -1]

    def record(key, stage, cost=None, path=None):
        row_loss = losses[test, stage]
        loss = np.average(row_loss, weights=w_test)
        increase = row_loss - reference_rows  # paired with the reference, row by row
        if timing is not None:  # the expected time per row of these routes, amortised as served
            if path is None:
                path = stage[:, None] >= np.arange(len(costs))
            mean_cost = expected_time(*timing, reach_fractions(path, w_test))
        else:
            cost = route_cost[stage] if cost is None else cost
            mean_cost = np.average(cost, weights=w_test)
        sums = [weights @ increase, weights @ increase**2, weights.sum()]
        results[key] = (loss, mean_cost, *sums)

    X_train, X_test = optional_rows(X, train), optional_rows(X, test)
    if "thresholds" in families:
        max_proba = max_proba_scores(outputs[train]), max_proba_scores(outputs[test])
        front = threshold_frontier(max_proba[0], losses[train], costs, sample_weight=w_train)
        picks = _frontier_picks(front, budgets)
        for fraction, t in zip(fractions, picks):
            record(("thresholds", nan, fraction), threshold_route(max_proba[1], t))
    if "learned" in families or "hybrid" in families:
        path = learned_path(
            template,
            setup["cost_weights"],
            outputs[train],
            losses[train],
            X_train,
            w_train,
            warm_start=True,
        )
        for weight, policy in path:
            if "learned" in families:
                res = policy.route(outputs[test], X_test)
                record(("learned", weight, nan), res.stage, res.cost, res.path)
            if "hybrid" in families:
                s_train = policy.exit_probabilities(outputs[train], X_train)
                s_test = policy.exit_probabilities(outputs[test], X_test)
                front = threshold_frontier(s_train, losses[train], costs, sample_weight=w_train)
                picks = _frontier_picks(front, budgets)
                for fraction, t in zip(fractions, picks):
                    record(("hybrid", weight, fraction), threshold_route(s_test, t))
    # The safe candidate: every row answered by the reference.
    reference = np.average(reference_rows, weights=w_test)
    sums = [0.0, 0.0, weights.sum()]
    results[("reference", nan, nan)] = (reference, setup["reference_cost"], *sums)
    return results, reference


def evaluate_path(setup, outputs, losses, X, splits, progress, sample_weight=None, n_jobs=None):
    """Held-out loss and cost of every candidate, averaged over ``splits``.

    The splits run in parallel with ``n_jobs`` (joblib).  Returns a dict of arrays,
    one entry per candidate: ``family``, ``cost_weight`` (NaN for thresholds),
    ``cost_fraction`` (NaN for learned), ``mean_loss``, ``std_loss``, ``mean_cost``,
    ``std_cost`` (mean and spread over the splits), ``increase`` and ``increase_se``
    (the loss increase over the reference pooled over every held-out row, and its
    standard error, from the rows' paired differences); and ``reference_loss``, the
    held-out mean loss of the last stage on every row.
    """
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    jobs = (
        delayed(_evaluate_split)(setup, outputs, losses, X, tr, te, sample_weight)
        for tr, te in splits
    )
    per_split = list(progress(parallel(jobs)))
    keys = list(per_split[0][0])
    values = np.array([[res[k] for res, _ in per_split] for k in keys])  # (cand, split, 5)
    sum_d, sum_d2, sum_w = values[:, :, 2:].sum(axis=1).T
    increase = sum_d / sum_w
    variance = np.maximum(sum_d2 / sum_w - increase**2, 0.0)
    n_effective = sum_w  # weights count as repeated rows, as scikit-learn's sample_weight
    return {
        "family": np.array([k[0] for k in keys], dtype=object),
        "cost_weight": np.array([np.nan if k[1] is None else k[1] for k in keys], dtype=float),
        "cost_fraction": np.array([np.nan if k[2] is None else k[2] for k in keys], dtype=float),
        "mean_loss": values[:, :, 0].mean(axis=1),
        "std_loss": values[:, :, 0].std(axis=1),
        "mean_cost": values[:, :, 1].mean(axis=1),
        "std_cost": values[:, :, 1].std(axis=1),
        "increase": increase,
        "increase_se": np.sqrt(variance / np.maximum(n_effective - 1, 1)),
        "reference_loss": float(np.mean([ref for _, ref in per_split])),
    }


def reference_index(path):
    """The index of the ``"reference"`` candidate in an evaluated path."""
    return int(np.flatnonzero(path["family"] == "reference")[0])


def fit_candidate(
    setup, outputs, losses, X, family, cost_weight, fraction, sample_weight=None, cache=None
):
    """The router of one candidate, fitted on these rows.

    The thresholds are the frontier's most accurate point within the candidate's budget,
    as on the held-out folds.  ``cache`` (a dict), when given, keeps what other
    candidates fitted on the same rows share: each lambda's learned policy, and each
    score's frontier.
    """
    template = setup["template"]
    costs = template.costs
    if family == "reference":
        return setup["reference_router"]
    cache = {} if cache is None else cache

    def frontier(key, scores):  # scores: computed only when the frontier is not cached
        if key not in cache:
            cache[key] = threshold_frontier(scores(), losses, costs, sample_weight=sample_weight)
        return cache[key]

    budget = None if family == "learned" else [fraction * setup["reference_cost"]]
    if family == "thresholds":
        front = frontier(("thresholds", None), lambda: max_proba_scores(outputs))
        (t,) = _frontier_picks(front, budget)
        return ThresholdPolicy(t, costs=costs, classes=template.classes).fit(outputs)
    if ("learned", cost_weight) not in cache:
        (_, policy), *_ = learned_path(template, [cost_weight], outputs, losses, X, sample_weight)
        cache[("learned", cost_weight)] = policy
    policy = cache[("learned", cost_weight)]
    if family == "learned":
        return policy
    front = frontier(("hybrid", cost_weight), lambda: policy.exit_probabilities(outputs, X))
    (t,) = _frontier_picks(front, budget)
    return HybridPolicy(policy, t).fit()
