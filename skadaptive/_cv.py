"""Budget mode: EarlyExitClassifierCV and NetworkSelectionClassifierCV.

Users rarely know ``cost_weight``; they know a budget ("half the cost of the big
model") or an accuracy floor ("within one point of the big model").  These
estimators take that target, compute the stages' out-of-fold outputs once, and
choose on held-out folds of them the routing policy that meets it most cheaply
(see :mod:`skadaptive._budget`).
"""

import logging
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from . import _budget
from ._early_exit import EarlyExitClassifier
from ._fitting import progress_bar
from ._network_selection import NetworkSelectionClassifier
from ._policy import encode_labels, stage_losses
from .metrics import reference_cost

logger = logging.getLogger("skadaptive")

BUDGET_CONSTRAINTS = {
    "max_accuracy_loss": [Interval(numbers.Real, 0, None, closed="left"), None],
    "max_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "max_relative_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "families": [list, tuple],
    "cost_weights": ["array-like", None],
    "selection_cv": [Interval(numbers.Integral, 2, None, closed="left"), "cv_object"],
}

_BUDGET_DOC = """
    max_accuracy_loss : float, default=None
        Target: accuracy at most this much below the reference's (0.01 = one
        percentage point), as mean loss on held-out folds (error rate for the
        zero-one loss).  The reference is the most expensive model alone (network
        selection) or the full model (early exit).
    max_cost : float, default=None
        Target: mean cost per row at most this, in the units of ``costs_``.
    max_relative_cost : float, default=None
        Target: mean cost per row at most this fraction of the reference's.
        Exactly one of the three targets must be given.
    families : sequence of {"learned", "thresholds", "hybrid"}, default=all three
        Routers to choose from: the paper's learned policies over ``cost_weights``;
        one max-probability threshold per exit, tuned jointly; per-exit thresholds
        on the learned policies' probability of "exit".
    cost_weights : array-like, default=None
        The lambda path of the learned and hybrid families; ``None`` means 0 and 13
        values from 1e-4 to 1, log-spaced.
    selection_cv : int or cross-validation generator, default=5
        Folds of the out-of-fold outputs on which candidates are compared (an int
        means a shuffled ``StratifiedKFold`` seeded by ``random_state``); they run in
        parallel with ``n_jobs``.
"""

_BUDGET_ATTRS = """
    cv_results_ : dict of ndarray
        One entry per candidate: ``family`` (also ``"reference"``: every row answered
        by the last stage, the safe fallback), ``cost_weight`` (NaN for thresholds),
        ``level`` (the factor of the target the thresholds were tuned for on the
        training folds; NaN for learned), ``mean_test_loss``, ``std_test_loss``,
        ``mean_test_accuracy`` (zero-one loss only), ``mean_test_cost``,
        ``std_test_cost``, ``mean_test_relative_cost``; and ``reference_loss``.
    best_index_ : int
        The chosen candidate.
    best_family_ : str
    cost_weight_ : float or None
        The chosen lambda (learned and hybrid).
    level_ : float or None
        The chosen threshold level (thresholds and hybrid).
    policy_ : router
        The chosen candidate refitted on every out-of-fold row: a
        :class:`~skadaptive.RoutingPolicy`, a per-exit
        :class:`~skadaptive.baselines.ThresholdPolicy` or a hybrid.
"""


class _BudgetMixin:
    """Replaces the fixed ``cost_weight`` with a target met on held-out folds."""

    def _check_policy_params(self):
        """The one target given, as ``(name, value)``; raises unless exactly one is."""
        given = {
            name: getattr(self, name)
            for name in ("max_accuracy_loss", "max_cost", "max_relative_cost")
            if getattr(self, name) is not None
        }
        if len(given) != 1:
            raise ValueError(
                "Pass exactly one of max_accuracy_loss, max_cost and max_relative_cost; got "
                f"{sorted(given) or 'none'}."
            )
        ((name, value),) = given.items()
        return name, value

    def _target(self):
        name, value = self._check_policy_params()
        if name == "max_accuracy_loss":
            return _budget.Target("loss", value)
        if name == "max_relative_cost":
            value = value * reference_cost(self)
        return _budget.Target("cost", value)

    def _fit_policy(self, outputs, y, X, sample_weight):
        unknown = set(self.families) - set(_budget.FAMILIES)
        if unknown or not self.families:
            raise ValueError(
                f"families must be a non-empty subset of {list(_budget.FAMILIES)}; got "
                f"{list(self.families)}."
            )
        target = self._target()
        weights = (
            _budget.DEFAULT_COST_WEIGHTS
            if self.cost_weights is None
            else np.asarray(self.cost_weights, dtype=float)
        )
        if weights.ndim != 1 or len(weights) == 0 or not np.all(weights >= 0):
            raise ValueError(f"cost_weights must be non-negative numbers; got {weights}.")
        template = self._policy_template(0.0)
        y_encoded = encode_labels(y, self.classes_)
        losses = stage_losses(outputs, y_encoded, self.loss, self.top_k, y=y, classes=self.classes_)
        splits = list(self._check_cv(y, self.selection_cv).split(outputs[:, 0], y))
        progress = progress_bar(self.verbose, len(splits), "budget mode: held-out folds")
        path = _budget.evaluate_path(
            template,
            outputs,
            losses,
            X,
            splits,
            target,
            self.families,
            weights,
            progress,
            sample_weight=sample_weight,
            n_jobs=self.n_jobs,
        )
        best = target.choose(path["mean_loss"], path["mean_cost"], path["reference_loss"])
        results = {
            "family": path["family"],
            "cost_weight": path["cost_weight"],
            "level": path["level"],
            "mean_test_loss": path["mean_loss"],
            "std_test_loss": path["std_loss"],
            "mean_test_cost": path["mean_cost"],
            "std_test_cost": path["std_cost"],
            "mean_test_relative_cost": path["mean_cost"] / reference_cost(self),
            "reference_loss": path["reference_loss"],
        }
        if self.loss == "zero_one":
            results["mean_test_accuracy"] = 1.0 - path["mean_loss"]
        self.cv_results_ = results
        self.best_index_ = int(best)
        self.best_family_ = str(path["family"][best])
        weight, level = path["cost_weight"][best], path["level"][best]
        self.cost_weight_ = None if np.isnan(weight) else float(weight)
        self.level_ = None if np.isnan(level) else float(level)
        if self.verbose:
            logger.info(
                "Budget mode chose %s (cost_weight=%s, level=%s): held-out loss %.4f "
                "(reference %.4f), cost %.4g.",
                self.best_family_,
                self.cost_weight_,
                self.level_,
                path["mean_loss"][best],
                path["reference_loss"],
                path["mean_cost"][best],
            )
        return _budget.fit_candidate(
            template, outputs, losses, X, self.best_family_, weight, level, target, sample_weight
        )


def _signature_params(base, extra):
    return {k: v for k, v in base._parameter_constraints.items() if k != "cost_weight"} | extra


class NetworkSelectionClassifierCV(_BudgetMixin, NetworkSelectionClassifier):
    __doc__ = f"""A NetworkSelectionClassifier that meets a cost or accuracy target.

    Instead of ``cost_weight``, give a target.  The models' out-of-fold outputs are
    computed once (as in :class:`NetworkSelectionClassifier`); on held-out folds of
    them, the learned policies over a whole path of ``cost_weight`` values, per-model
    confidence thresholds tuned jointly, and thresholds on the learned policies'
    scores are compared, and the one that meets the target most cheaply (or, for a
    cost target, most accurately) is refitted on every row.

    Parameters
    ----------
    estimators : list of (str, estimator)
        As in :class:`NetworkSelectionClassifier`.
{_BUDGET_DOC}
    costs, topology, policy_estimator, features, loss, top_k, cv, n_jobs,
    random_state, verbose, memory
        As in :class:`NetworkSelectionClassifier`.  With ``verbose`` a tqdm progress
        bar follows the selection folds.

    Attributes
    ----------
{_BUDGET_ATTRS}
    estimators_, classes_, costs_, normalized_costs_, oof_outputs_, n_stages_
        As in :class:`NetworkSelectionClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skadaptive import NetworkSelectionClassifierCV
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifierCV(
    ...     [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=500))],
    ...     costs=[1, 20], max_accuracy_loss=0.01, cost_weights=[0, 0.01, 0.1],
    ...     cv=3, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> clf.best_family_ in ("learned", "thresholds", "hybrid")
    True
    >>> i = clf.best_index_
    >>> bool(clf.cv_results_["mean_test_loss"][i] <= clf.cv_results_["reference_loss"] + 0.011)
    True
    """

    _parameter_constraints = _signature_params(NetworkSelectionClassifier, BUDGET_CONSTRAINTS)

    def __init__(
        self,
        estimators,
        *,
        max_accuracy_loss=None,
        max_cost=None,
        max_relative_cost=None,
        families=_budget.FAMILIES,
        cost_weights=None,
        selection_cv=5,
        costs=None,
        topology="jump",
        policy_estimator=None,
        features="summary",
        loss="zero_one",
        top_k=5,
        cv=5,
        n_jobs=None,
        random_state=None,
        verbose=0,
        memory=None,
    ):
        self.estimators = estimators
        self.costs = costs
        self.topology = topology
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory
        self.max_accuracy_loss = max_accuracy_loss
        self.max_cost = max_cost
        self.max_relative_cost = max_relative_cost
        self.families = families
        self.cost_weights = cost_weights
        self.selection_cv = selection_cv


class EarlyExitClassifierCV(_BudgetMixin, EarlyExitClassifier):
    __doc__ = f"""An EarlyExitClassifier that meets a cost or accuracy target.

    See :class:`NetworkSelectionClassifierCV`: the same selection, over the exits of
    one model.

    Parameters
    ----------
    estimator : estimator
        As in :class:`EarlyExitClassifier`.
{_BUDGET_DOC}
    exits, costs, policy_estimator, features, loss, top_k, cv, n_jobs, random_state,
    verbose, memory
        As in :class:`EarlyExitClassifier`.

    Attributes
    ----------
{_BUDGET_ATTRS}
    estimator_, exits_, classes_, costs_, normalized_costs_, oof_outputs_, n_stages_
        As in :class:`EarlyExitClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skadaptive import EarlyExitClassifierCV
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EarlyExitClassifierCV(
    ...     HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=0),
    ...     exits=[5, 10, 20, 40], max_relative_cost=0.5, cost_weights=[0, 0.01, 0.1],
    ...     cv=3, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> bool(clf.cv_results_["mean_test_relative_cost"][clf.best_index_] <= 0.5)
    True
    >>> bool(clf.predict_cost(X[1200:]).mean() < 40)
    True
    """

    _parameter_constraints = _signature_params(EarlyExitClassifier, BUDGET_CONSTRAINTS)

    def __init__(
        self,
        estimator,
        *,
        max_accuracy_loss=None,
        max_cost=None,
        max_relative_cost=None,
        families=_budget.FAMILIES,
        cost_weights=None,
        selection_cv=5,
        exits=None,
        costs=None,
        policy_estimator=None,
        features="summary",
        loss="zero_one",
        top_k=5,
        cv=5,
        n_jobs=None,
        random_state=None,
        verbose=0,
        memory=None,
    ):
        self.estimator = estimator
        self.exits = exits
        self.costs = costs
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory
        self.max_accuracy_loss = max_accuracy_loss
        self.max_cost = max_cost
        self.max_relative_cost = max_relative_cost
        self.families = families
        self.cost_weights = cost_weights
        self.selection_cv = selection_cv
