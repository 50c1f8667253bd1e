"""Budget mode: the router that meets a target, chosen on held-out folds.

Users rarely know ``cost_weight``; they know a budget ("half the cost of the big
model") or an accuracy floor ("within one point of the big model").  The budget
estimators (``...ClassifierCV``) compute the stages' out-of-fold outputs once, as
their fixed-``cost_weight`` siblings do, and :class:`BudgetMixin` chooses the
router on held-out folds of those rows.  Three families of routers are evaluated,
for a whole path of knobs:

- ``"learned"``: the paper's policies (:class:`~skadaptive.RoutingPolicy`), one per
  ``cost_weight`` of :data:`DEFAULT_COST_WEIGHTS` (the one lambda sweep of the
  package: budget mode, and the learned path of the displays);
- ``"thresholds"``: one confidence threshold per exit on the largest probability,
  tuned jointly on the training folds to meet the target scaled by a factor (the
  *target scale*, so that the held-out folds can correct the training folds'
  optimism);
- ``"hybrid"``: the same per-exit thresholds, on the learned policies' probability
  of "exit" instead of the largest probability;

and the reference itself (``"reference"``: the estimator's non-adaptive model,
along its own route).  The candidate with the lowest held-out cost whose held-out
loss meets the target (or, for a cost target, the lowest held-out loss within the
budget) wins, by the one selection rule :func:`skadaptive._choice.best_under`, and
is refitted on every row.  Only the routers' public surface is used.
"""

import logging
import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed

from ._choice import best_under
from ._compat import Interval
from ._fitting import progress_bar
from ._losses import stage_losses
from ._plain_routers import HybridPolicy, ThresholdPolicy
from ._routing import route_outputs
from ._rows import optional_rows
from ._thresholds import max_proba_scores, threshold_frontier, threshold_route, tune_thresholds
from ._timing import expected_time, reach_fractions

logger = logging.getLogger("skadaptive")

FAMILIES = ("learned", "thresholds", "hybrid")
DEFAULT_COST_WEIGHTS = np.r_[0.0, np.geomspace(1e-4, 1.0, 13)]
LOSS_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # multiples of max_accuracy_loss
COST_SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)  # multiples of the cost budget
TARGETS = ("max_accuracy_loss", "max_cost", "max_relative_cost")
LARGE_LOSS = 0.1  # a loss allowance above ten points is valid but probably a mistake

BUDGET_CONSTRAINTS = {
    "max_accuracy_loss": [Interval(numbers.Real, 0, None, closed="left"), None],
    "max_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "max_relative_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "families": [list, tuple],
    "cost_weights": ["array-like", None],
    "selection_cv": [Interval(numbers.Integral, 2, None, closed="left"), "cv_object"],
}


def check_cost_weights(cost_weights):
    """The lambda path: ``cost_weights`` (or the default) as distinct sorted floats >= 0."""
    if cost_weights is None:
        return DEFAULT_COST_WEIGHTS
    weights = np.asarray(cost_weights, dtype=float)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)):
        raise ValueError(
            f"cost_weights must be a non-empty 1-D array of finite numbers; got {cost_weights!r}."
        )
    if np.any(weights < 0):
        raise ValueError(f"cost_weights must be >= 0; got {weights.tolist()}.")
    return weights


def learned_path(template, cost_weights, outputs, losses, X=None, sample_weight=None):
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

    Yields
    ------
    cost_weight, policy : float, RoutingPolicy
        Each lambda and the router fitted at it.
    """
    for weight in cost_weights:
        policy = clone(template).set_params(cost_weight=float(weight))
        yield float(weight), policy.fit_losses(outputs, losses, X=X, sample_weight=sample_weight)


class Target:
    """A loss target (``loss <= reference loss + value``) or a cost budget (``cost <= value``).

    Costs are mean per-row costs in the estimator's units; losses are mean per-row
    losses (error rates for the zero-one loss).
    """

    def __init__(self, kind, value):
        self.kind = kind
        self.value = float(value)

    def scales(self):
        """The factors of the target that the thresholds are tuned for."""
        return LOSS_SCALES if self.kind == "loss" else COST_SCALES

    def tune_kwargs(self, scale, reference_loss):
        """``tune_thresholds`` keywords for the target scaled by ``scale``."""
        if self.kind == "loss":
            return {"max_loss": reference_loss + scale * self.value}
        return {"max_cost": scale * self.value}

    def choose(self, loss, cost, reference_loss):
        """Index of the winning candidate, given their held-out mean loss and cost."""
        if self.kind == "loss":
            return best_under(loss, reference_loss + self.value, cost)[0]
        return best_under(cost, self.value, loss)[0]


def _frontier_picks(scores, losses, costs, target, reference_loss, sample_weight=None):
    """Thresholds for every scale of ``target``, from one exact frontier on these rows."""
    front = threshold_frontier(scores, losses, costs, sample_weight=sample_weight)
    picks = []
    for scale in target.scales():
        kwargs = target.tune_kwargs(scale, reference_loss)
        if "max_loss" in kwargs:  # the cheapest point that meets it (loss falls as cost rises)
            ok = np.flatnonzero(front.loss <= kwargs["max_loss"] + 1e-12)
            i = ok[0] if len(ok) else len(front.loss) - 1
        else:  # the most accurate point within the budget
            ok = np.flatnonzero(front.cost <= kwargs["max_cost"] + 1e-12)
            i = ok[-1] if len(ok) else 0
        picks.append((scale, front.thresholds[i]))
    return picks


def _evaluate_split(setup, outputs, losses, X, train, test, sample_weight):
    """Held-out ``(loss, cost)`` of every candidate on one split, and the reference's loss."""
    template, target, families = setup["template"], setup["target"], setup["families"]
    costs = template.costs
    route_cost = np.cumsum(costs)  # answering at stage k through the chain
    nan = None  # in the keys (NaN != NaN); NaN in the returned arrays
    results = {}  # (family, cost_weight, target_scale) -> (loss, cost)
    w_train, w_test = optional_rows(sample_weight, train), optional_rows(sample_weight, test)

    timing = setup.get("timing")  # (stage_times, batch size) with measured costs, else None

    def record(key, stage, cost=None, path=None):
        loss = np.average(losses[test, stage], weights=w_test)
        if timing is not None:  # the expected time per row of these routes, amortised as served
            if path is None:
                path = stage[:, None] >= np.arange(len(costs))
            mean_cost = expected_time(*timing, reach_fractions(path, w_test))
        else:
            cost = route_cost[stage] if cost is None else cost
            mean_cost = np.average(cost, weights=w_test)
        results[key] = (loss, mean_cost)

    ref_train = np.average(losses[train, -1], weights=w_train)
    X_train, X_test = optional_rows(X, train), optional_rows(X, test)
    if "thresholds" in families:
        max_proba = max_proba_scores(outputs[train]), max_proba_scores(outputs[test])
        picks = _frontier_picks(max_proba[0], losses[train], costs, target, ref_train, w_train)
        for scale, t in picks:
            record(("thresholds", nan, scale), threshold_route(max_proba[1], t))
    if "learned" in families or "hybrid" in families:
        path = learned_path(
            template, setup["cost_weights"], outputs[train], losses[train], X_train, w_train
        )
        for weight, policy in path:
            if "learned" in families:
                res = policy.route(outputs[test], X_test)
                record(("learned", weight, nan), res.stage, res.cost, res.path)
            if "hybrid" in families:
                s_train = policy.exit_probabilities(outputs[train], X_train)
                s_test = policy.exit_probabilities(outputs[test], X_test)
                picks = _frontier_picks(s_train, losses[train], costs, target, ref_train, w_train)
                for scale, t in picks:
                    record(("hybrid", weight, scale), threshold_route(s_test, t))
    # The safe candidate: every row answered by the reference.
    reference = np.average(losses[test, -1], weights=w_test)
    results[("reference", nan, nan)] = (reference, setup["reference_cost"])
    return results, reference


def evaluate_path(setup, outputs, losses, X, splits, progress, sample_weight=None, n_jobs=None):
    """Held-out loss and cost of every candidate, averaged over ``splits``.

    The splits run in parallel with ``n_jobs`` (joblib).  Returns a dict of arrays,
    one entry per candidate: ``family``, ``cost_weight`` (NaN for thresholds),
    ``target_scale`` (NaN for learned), ``mean_loss``, ``std_loss``, ``mean_cost``,
    ``std_cost``; and ``reference_loss``, the held-out mean loss of the last stage
    on every row.
    """
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    jobs = (
        delayed(_evaluate_split)(setup, outputs, losses, X, tr, te, sample_weight)
        for tr, te in splits
    )
    per_split = list(progress(parallel(jobs)))
    keys = list(per_split[0][0])
    values = np.array([[res[k] for res, _ in per_split] for k in keys])  # (cand, split, 2)
    return {
        "family": np.array([k[0] for k in keys], dtype=object),
        "cost_weight": np.array([np.nan if k[1] is None else k[1] for k in keys], dtype=float),
        "target_scale": np.array([np.nan if k[2] is None else k[2] for k in keys], dtype=float),
        "mean_loss": values[:, :, 0].mean(axis=1),
        "std_loss": values[:, :, 0].std(axis=1),
        "mean_cost": values[:, :, 1].mean(axis=1),
        "std_cost": values[:, :, 1].std(axis=1),
        "reference_loss": float(np.mean([ref for _, ref in per_split])),
    }


def fit_candidate(setup, outputs, losses, X, family, cost_weight, scale, sample_weight=None):
    """The router of one candidate, fitted on every row."""
    template, target = setup["template"], setup["target"]
    costs = template.costs
    if family == "reference":
        return setup["reference_router"]
    reference_loss = np.average(losses[:, -1], weights=sample_weight)
    sw = {"sample_weight": sample_weight}
    if family == "thresholds":
        kwargs = target.tune_kwargs(scale, reference_loss)
        t = tune_thresholds(max_proba_scores(outputs), losses, costs, **kwargs, **sw).thresholds
        return ThresholdPolicy(t, costs=costs, classes=template.classes).fit(outputs)
    (_, policy), *_ = learned_path(template, [cost_weight], outputs, losses, X, sample_weight)
    if family == "learned":
        return policy
    kwargs = target.tune_kwargs(scale, reference_loss)
    scores = policy.exit_probabilities(outputs, X)
    t = tune_thresholds(scores, losses, costs, **kwargs, **sw).thresholds
    return HybridPolicy(policy, t).fit()


def _check_target_scale(name, value):
    """Refuse a target that reads as a percentage; warn about a large but valid one."""
    if name == "max_accuracy_loss" and value >= 1:
        raise ValueError(
            f"max_accuracy_loss={value!r} allows {100 * value:g} points of accuracy loss: it is "
            f"a fraction (0.01 = one point). For {value:g} %, pass max_accuracy_loss="
            f"{value / 100:g}."
        )
    if name == "max_accuracy_loss" and value > LARGE_LOSS:
        warnings.warn(
            f"max_accuracy_loss={value!r} allows {100 * value:g} points of accuracy loss (it is "
            f"a fraction: 0.01 = one point); for {value:g} %, pass {value / 100:g}.",
            UserWarning,
            stacklevel=6,
        )
    if name == "max_relative_cost" and value >= 1:
        warnings.warn(
            f"max_relative_cost={value!r} is at least the reference's own cost: the reference "
            "alone meets it, and budget mode picks the most accurate candidate. A budget is a "
            "fraction of the reference's cost (0.5 = half).",
            UserWarning,
            stacklevel=6,
        )


class BudgetMixin:
    """The router that meets a target (``max_accuracy_loss``, ``max_cost`` or
    ``max_relative_cost``), chosen on held-out folds of the out-of-fold outputs."""

    _router_constraints = BUDGET_CONSTRAINTS

    def __setstate__(self, state):
        # skadaptive 0.1 called the target scale a "level".
        if "level_" in state:
            state = dict(state)
            state["target_scale_"] = state.pop("level_")
            results = dict(state.get("cv_results_", {}))
            if "level" in results:
                results["target_scale"] = results.pop("level")
                state["cv_results_"] = results
        super().__setstate__(state)

    def _check_router_params(self):
        """The one target given, as ``(name, value)``; raises unless exactly one is.

        Checked before the stages are fitted.
        """
        given = self._given_targets()
        if len(given) != 1:
            raise ValueError(
                "Pass exactly one of max_accuracy_loss, max_cost and max_relative_cost; got "
                f"{sorted(given) or 'none'}."
            )
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(
                f"families must be a non-empty subset of {list(FAMILIES)}; got "
                f"{list(self.families)}."
            )
        check_cost_weights(self.cost_weights)
        ((name, value),) = given.items()
        _check_target_scale(name, value)
        return name, value

    def _given_targets(self):
        """The targets given (``fit`` checks at its start that there is exactly one)."""
        return {name: getattr(self, name) for name in TARGETS if getattr(self, name) is not None}

    def _target(self):
        """The target of the parameters ``fit`` checked at its start."""
        ((name, value),) = self._given_targets().items()
        if name == "max_accuracy_loss":
            return Target("loss", value)
        if name == "max_relative_cost":
            value = value * self._reference_cost()
        return Target("cost", value)

    def _fit_router(self, outputs, y, X, sample_weight):
        """Evaluate every candidate on held-out folds; refit the winner on every row."""
        setup = {
            "template": self._policy_template(0.0),
            "target": self._target(),
            "families": tuple(self.families),
            "cost_weights": check_cost_weights(self.cost_weights),
            "reference_cost": self._reference_cost(),
            "reference_router": self._reference_router(),
            "timing": self._timing(),
        }
        losses = stage_losses(outputs, y, self.classes_, self.loss, self.top_k)
        splits = list(self._check_cv(y, self.selection_cv).split(outputs[:, 0], y))
        progress = progress_bar(self.verbose, len(splits), "budget mode: held-out folds")
        path = evaluate_path(
            setup, outputs, losses, X, splits, progress, sample_weight, n_jobs=self.n_jobs
        )
        best = setup["target"].choose(path["mean_loss"], path["mean_cost"], path["reference_loss"])
        results = {
            "family": path["family"],
            "cost_weight": path["cost_weight"],
            "target_scale": path["target_scale"],
            "mean_test_loss": path["mean_loss"],
            "std_test_loss": path["std_loss"],
            "mean_test_cost": path["mean_cost"],
            "std_test_cost": path["std_cost"],
            "mean_test_relative_cost": path["mean_cost"] / self._reference_cost(),
            "reference_loss": path["reference_loss"],
        }
        if self.loss == "zero_one":
            results["mean_test_accuracy"] = 1.0 - path["mean_loss"]
        self.cv_results_ = results
        self.best_index_ = int(best)
        self.best_family_ = str(path["family"][best])
        weight, scale = path["cost_weight"][best], path["target_scale"][best]
        self.cost_weight_ = None if np.isnan(weight) else float(weight)
        self.target_scale_ = None if np.isnan(scale) else float(scale)
        if self.verbose:
            logger.info(
                "Budget mode chose %s (cost_weight=%s, target_scale=%s): held-out loss %.4f "
                "(reference %.4f), cost %.4g.",
                self.best_family_,
                self.cost_weight_,
                self.target_scale_,
                path["mean_loss"][best],
                path["reference_loss"],
                path["mean_cost"][best],
            )
        family = self.best_family_
        router = fit_candidate(setup, outputs, losses, X, family, weight, scale, sample_weight)
        if family != "reference" and setup["target"].kind == "loss":
            # Refitted on every row, a candidate can come out dearer than the reference,
            # which meets a loss target by definition: take the reference then.
            res = route_outputs(outputs, router, X, self.costs_)
            cost = np.average(res.cost, weights=sample_weight)
            if cost > setup["reference_cost"] * (1 + 1e-9):
                logger.info(
                    "Budget mode: the chosen %s router costs %.4g a row once refitted on every "
                    "row, more than the reference (%.4g): the reference is taken.",
                    family,
                    cost,
                    setup["reference_cost"],
                )
                self.best_index_ = int(np.flatnonzero(path["family"] == "reference")[0])
                self.best_family_, self.cost_weight_, self.target_scale_ = "reference", None, None
                return setup["reference_router"]
        return router

    def _operating_point(self):
        """The chosen router's family and knobs, for the displays."""
        return {
            "family": self.best_family_,
            "cost_weight": self.cost_weight_,
            "target_scale": self.target_scale_,
        }
