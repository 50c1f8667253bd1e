"""Budget mode: the policy family and knob that meet a target, chosen on held-out folds.

The estimators' out-of-fold stage outputs are computed once.  On them, three families
of routers are evaluated on held-out folds of those rows, for a whole path of knobs:

- ``"learned"``: the paper's policies (:class:`~skadaptive.RoutingPolicy`), one per
  ``cost_weight`` of a grid;
- ``"thresholds"``: one confidence threshold per exit on the largest probability,
  tuned jointly on the training folds to meet the target at a *level* (the target
  scaled by a factor, so that the held-out folds can correct the training folds'
  optimism);
- ``"hybrid"``: the same per-exit thresholds, on the learned policies' probability
  of "exit" instead of the largest probability.

The candidate with the lowest held-out cost whose held-out loss meets the target
(or, for a cost target, the lowest held-out loss within the budget) wins, and is
refitted on every row.
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import Bunch
from sklearn.utils.parallel import Parallel, delayed

from ._choice import best_under
from ._compat import safe_rows
from ._policy import _ConstantPolicy, _RouterMixin
from ._routing import EXIT, JUMP, NEXT
from ._thresholds import max_proba_scores, threshold_frontier, threshold_route, tune_thresholds

FAMILIES = ("learned", "thresholds", "hybrid")
DEFAULT_COST_WEIGHTS = np.r_[0.0, np.geomspace(1e-4, 1.0, 13)]
LOSS_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # multiples of max_accuracy_loss
COST_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)  # multiples of the cost budget


class Target:
    """A loss target (``loss <= reference loss + value``) or a cost budget (``cost <= value``).

    Costs are mean per-row costs in the estimator's units; losses are mean per-row
    losses (error rates for the zero-one loss).
    """

    def __init__(self, kind, value):
        self.kind = kind
        self.value = float(value)

    def levels(self):
        return LOSS_LEVELS if self.kind == "loss" else COST_LEVELS

    def tune_kwargs(self, level, reference_loss):
        """``tune_thresholds`` keywords for the target scaled by ``level``."""
        if self.kind == "loss":
            return {"max_loss": reference_loss + level * self.value}
        return {"max_cost": level * self.value}

    def choose(self, loss, cost, reference_loss):
        """Index of the winning candidate, given their held-out mean loss and cost."""
        if self.kind == "loss":
            return best_under(loss, reference_loss + self.value, cost)[0]
        return best_under(cost, self.value, loss)[0]


class ReferencePolicy(_RouterMixin, BaseEstimator):
    """Every row answered by the last stage, by the cheapest route to it.

    The safe candidate of budget mode: it loses nothing against the reference.  With
    the jump topology (network selection) rows jump from the first model straight to
    the last; in a chain they run every stage.

    Parameters
    ----------
    costs : array-like of shape (n_stages,)
    topology : {"chain", "jump"}
    classes : array-like of shape (n_classes,)
    """

    def __init__(self, costs, topology, classes):
        self.costs = costs
        self.topology = topology
        self.classes = classes

    def fit(self, stage_outputs=None, y=None):
        self.costs_ = np.asarray(self.costs, dtype=float)
        self.normalized_costs_ = self.costs_ / self.costs_.sum()
        self.n_stages_ = len(self.costs_)
        self.classes_ = np.asarray(self.classes)
        self.jumps_ = _reference_jumps(self.topology, self.n_stages_)
        return self

    def _decide(self, node, blocks, X_rows):
        return np.full(len(blocks[-1]), JUMP if self.jumps_ else NEXT)


def _reference_jumps(topology, n_stages):
    """Whether the reference route jumps from the first stage to the last."""
    return topology == "jump" and n_stages > 2


def _reference_route_cost(costs, topology):
    return costs[0] + costs[-1] if _reference_jumps(topology, len(costs)) else costs.sum()


def _exit_probability(exit_policy, n_rows, features):
    """An exit policy's probability of "exit" (class 0) for ``n_rows`` rows.

    ``features()`` builds the policy's input; constant policies need none.
    """
    if isinstance(exit_policy, _ConstantPolicy):
        return np.full(n_rows, 1.0 if exit_policy.value == 0 else 0.0)
    proba = exit_policy.predict_proba(features())
    return proba[:, list(exit_policy.classes_).index(0)]


def _frontier_picks(scores, losses, costs, target, reference_loss, sample_weight=None):
    """Thresholds for every level of ``target``, from one exact frontier on these rows."""
    front = threshold_frontier(scores, losses, costs, sample_weight=sample_weight)
    picks = []
    for level in target.levels():
        kwargs = target.tune_kwargs(level, reference_loss)
        if "max_loss" in kwargs:  # the cheapest point that meets it (loss falls as cost rises)
            ok = np.flatnonzero(front.loss <= kwargs["max_loss"] + 1e-12)
            i = ok[0] if len(ok) else len(front.loss) - 1
        else:  # the most accurate point within the budget
            ok = np.flatnonzero(front.cost <= kwargs["max_cost"] + 1e-12)
            i = ok[-1] if len(ok) else 0
        picks.append((level, front.thresholds[i]))
    return picks


def exit_scores(policy, outputs, X=None):
    """Each exit policy's probability of "exit" for every row, shape (n, n_stages - 1).

    ``policy`` is a fitted :class:`~skadaptive.RoutingPolicy`; the features at exit
    ``k`` come from stages ``0..k`` of ``outputs``, as when routing.
    """
    n_samples, n_stages, _ = outputs.shape
    builder = policy._builder
    blocks = [policy._stage_block(outputs[:, k]) for k in range(n_stages)]
    probas = list(outputs.swapaxes(0, 1))
    scores = np.zeros((n_samples, n_stages - 1))
    for k in range(n_stages - 1):
        scores[:, k] = _exit_probability(
            policy.policies_[(k, "exit")],
            n_samples,
            lambda k=k: builder.build(blocks[: k + 1], probas[: k + 1], X),
        )
    return scores


class HybridPolicy(_RouterMixin, BaseEstimator):
    """Per-exit thresholds on a fitted RoutingPolicy's probability of "exit".

    A row answers at the first exit ``k`` where the exit policy's probability of
    "exit" is ``>= thresholds[k]``; the last stage answers the rest.  No jumps.
    ``fit`` learns nothing: it reads the fitted ``policy``.

    Parameters
    ----------
    policy : RoutingPolicy
        Fitted.
    thresholds : array-like of shape (n_stages - 1,)
    """

    def __init__(self, policy, thresholds):
        self.policy = policy
        self.thresholds = thresholds

    def fit(self, stage_outputs=None, y=None):
        self.thresholds_ = np.asarray(self.thresholds, dtype=float)
        self.classes_ = self.policy.classes_
        self.costs_ = self.policy.costs_
        self.normalized_costs_ = self.policy.normalized_costs_
        self.n_stages_ = self.policy.n_stages_
        if self.thresholds_.shape != (self.n_stages_ - 1,):
            raise ValueError(
                f"thresholds needs one value per exit ({self.n_stages_ - 1}); got "
                f"{self.thresholds_.shape}."
            )
        return self

    @property
    def features(self):
        return self.policy.features

    def _stage_block(self, proba):
        return self.policy._stage_block(proba)

    def _decide(self, node, blocks, X_rows):
        probas = blocks if callable(self.features) else None
        p_exit = _exit_probability(
            self.policy.policies_[(node, "exit")],
            len(blocks[-1]),
            lambda: self.policy._builder.build(blocks, probas, X_rows),
        )
        return np.where(p_exit >= self.thresholds_[node], EXIT, NEXT)

    def _linear_exit_rule(self):
        """The rule of the underlying policies, intercepts moved by each threshold.

        P(exit) = 1 - sigmoid(score) >= t  <=>  score <= logit(1 - t), so "continue"
        is ``score - logit(1 - t) > 0``: still linear.
        """
        if self.policy.topology != "chain":
            return None
        rule = self.policy._linear_exit_rule()
        if rule is None:
            return None
        rule = Bunch(features=rule.features, weights=rule.weights, intercept=rule.intercept.copy())
        for k, t in enumerate(self.thresholds_):
            exit_policy = self.policy.policies_[(k, "exit")]
            if isinstance(exit_policy, _ConstantPolicy):
                p_exit = 1.0 if exit_policy.value == 0 else 0.0
                rule.intercept[k] = -1.0 if p_exit >= t else 1.0
            elif t <= 0:
                rule.intercept[k] = -np.inf  # always exit
            elif t >= 1:
                rule.intercept[k] = np.inf  # never exit
            else:
                rule.intercept[k] -= np.log1p(-t) - np.log(t)
        return rule


def _fit_learned(template, cost_weight, outputs, losses, X, sample_weight=None):
    policy = clone(template).set_params(cost_weight=float(cost_weight))
    policy.classes_ = np.asarray(template.classes)
    return policy._fit_from_losses(outputs, losses, X=X, sample_weight=sample_weight)


def _rows(a, idx):
    return None if a is None else a[idx]


def _evaluate_split(
    template, outputs, losses, X, train, test, target, families, cost_weights, sample_weight
):
    """Held-out ``(loss, cost)`` of every candidate on one split, and the reference's loss."""
    costs = template.costs
    route_cost = np.cumsum(costs)  # answering at stage k through the chain
    nan = None  # in the keys (NaN != NaN); NaN in the returned arrays
    results = {}  # (family, cost_weight, level) -> (loss, cost)
    w_train, w_test = _rows(sample_weight, train), _rows(sample_weight, test)

    def record(key, stage, cost=None):
        cost = route_cost[stage] if cost is None else cost
        loss = np.average(losses[test, stage], weights=w_test)
        results[key] = (loss, np.average(cost, weights=w_test))

    ref_train = np.average(losses[train, -1], weights=w_train)
    X_train, X_test = (None, None) if X is None else (safe_rows(X, train), safe_rows(X, test))
    if "thresholds" in families:
        max_proba = max_proba_scores(outputs[train]), max_proba_scores(outputs[test])
        picks = _frontier_picks(max_proba[0], losses[train], costs, target, ref_train, w_train)
        for level, t in picks:
            record(("thresholds", nan, level), threshold_route(max_proba[1], t))
    if "learned" in families or "hybrid" in families:
        for weight in cost_weights:
            policy = _fit_learned(template, weight, outputs[train], losses[train], X_train, w_train)
            if "learned" in families:
                res = policy._route_outputs(outputs[test], X_test)
                record(("learned", float(weight), nan), res.stage, res.cost)
            if "hybrid" in families:
                s_train = exit_scores(policy, outputs[train], X_train)
                s_test = exit_scores(policy, outputs[test], X_test)
                picks = _frontier_picks(s_train, losses[train], costs, target, ref_train, w_train)
                for level, t in picks:
                    record(("hybrid", float(weight), level), threshold_route(s_test, t))
    # The safe candidate: every row answered by the last stage (the reference's loss).
    reference = np.average(losses[test, -1], weights=w_test)
    results[("reference", nan, nan)] = (
        reference,
        _reference_route_cost(np.asarray(costs, float), template.topology),
    )
    return results, reference


def evaluate_path(
    template,
    outputs,
    losses,
    X,
    splits,
    target,
    families,
    cost_weights,
    progress,
    sample_weight=None,
    n_jobs=None,
):
    """Held-out loss and cost of every candidate, averaged over ``splits``.

    The splits run in parallel with ``n_jobs`` (joblib).  Returns a dict of arrays,
    one entry per candidate: ``family``, ``cost_weight`` (NaN for thresholds),
    ``level`` (NaN for learned), ``mean_loss``, ``std_loss``, ``mean_cost``,
    ``std_cost``; and ``reference_loss``, the held-out mean loss of the last stage on
    every row.
    """
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    jobs = (
        delayed(_evaluate_split)(
            template, outputs, losses, X, tr, te, target, families, cost_weights, sample_weight
        )
        for tr, te in splits
    )
    per_split = list(progress(parallel(jobs)))
    keys = list(per_split[0][0])
    values = np.array([[res[k] for res, _ in per_split] for k in keys])  # (cand, split, 2)
    return {
        "family": np.array([k[0] for k in keys], dtype=object),
        "cost_weight": np.array([np.nan if k[1] is None else k[1] for k in keys], dtype=float),
        "level": np.array([np.nan if k[2] is None else k[2] for k in keys], dtype=float),
        "mean_loss": values[:, :, 0].mean(axis=1),
        "std_loss": values[:, :, 0].std(axis=1),
        "mean_cost": values[:, :, 1].mean(axis=1),
        "std_cost": values[:, :, 1].std(axis=1),
        "reference_loss": float(np.mean([ref for _, ref in per_split])),
    }


def fit_candidate(
    template, outputs, losses, X, family, cost_weight, level, target, sample_weight=None
):
    """The router of one candidate, fitted on every row."""
    from .baselines import ThresholdPolicy

    costs = template.costs
    if family == "reference":
        return ReferencePolicy(costs, template.topology, template.classes).fit()
    reference_loss = np.average(losses[:, -1], weights=sample_weight)
    sw = {"sample_weight": sample_weight}
    if family == "thresholds":
        kwargs = target.tune_kwargs(level, reference_loss)
        t = tune_thresholds(max_proba_scores(outputs), losses, costs, **kwargs, **sw).thresholds
        return ThresholdPolicy(t, costs=costs, classes=template.classes).fit(outputs)
    policy = _fit_learned(template, cost_weight, outputs, losses, X, sample_weight)
    if family == "learned":
        return policy
    kwargs = target.tune_kwargs(level, reference_loss)
    scores = exit_scores(policy, outputs, X)
    t = tune_thresholds(scores, losses, costs, **kwargs, **sw).thresholds
    return HybridPolicy(policy, t).fit()
