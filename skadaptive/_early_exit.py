"""Early exit: one model with several exits.

:class:`EarlyExitClassifier` (one ``cost_weight``) and its budget sibling
:class:`EarlyExitClassifierCV` (a target) share ``_EarlyExitBase``, which says what
the stages are: the exits of one model, each continuing from the one before, so
that the reference is the full model (every exit).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from numpy.typing import ArrayLike

from ._base import COMMON_CONSTRAINTS, BaseAdaptiveClassifier, FixedCostWeightMixin
from ._budget import FAMILIES, BudgetMixin
from ._compat import HasMethods
from ._docs import docstring
from ._stages import (
    DEFAULT_EXITS,
    check_exit_estimator,
    implements_exit_protocol,
    single_model_exits,
    unfrozen,
)
from ._validation import CV, Costs, Estimator, Family, Features, Loss, Memory, RandomState

_COMMON_AFTER = ["policy_estimator", "features", "loss", "top_k", "cv", "n_jobs"]
_COMMON_AFTER += ["random_state", "verbose", "memory"]
_ATTRIBUTES = ["estimator_", "exits_", "stage_model_", "classes_", "costs_", "normalized_costs_"]
_ATTRIBUTES_AFTER = ["stage_times_", "routing_times_", "oof_outputs_", "n_stages_"]
_ATTRIBUTES_AFTER += ["n_features_in_", "feature_names_in_"]
_CONSTRAINTS = {"estimator": [HasMethods(["fit"])], "exits": ["array-like", None]}


class _EarlyExitBase(BaseAdaptiveClassifier):
    """The stages of early exit: the exits of ``estimator``."""

    def _stage_templates(self):
        check_exit_estimator(self.estimator, self.exits)
        return [self.estimator]

    def _n_stages_hint(self):
        if implements_exit_protocol(unfrozen(self.estimator)):
            return None
        return len(DEFAULT_EXITS if self.exits is None else self.exits)

    def _stage_factory(self):
        return functools.partial(single_model_exits, exits=self.exits)

    def _stage_names(self):
        return [f"exit {k}" for k in range(self.n_stages_)]

    def _store_fitted_stages(self, fitted):
        self.estimator_ = fitted[0]
        self.exits_ = getattr(self.stage_model_, "counts", None)


class EarlyExitClassifier(FixedCostWeightMixin, _EarlyExitBase):
    _parameter_constraints = {
        **_CONSTRAINTS,
        **FixedCostWeightMixin._router_constraints,
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Estimator,
        *,
        exits: ArrayLike | None = None,
        costs: Costs = None,
        serving_batch_size: int = 100,
        cost_weight: float = 0.1,
        policy_estimator: Estimator | None = None,
        features: Features = "summary",
        loss: Loss = "zero_one",
        top_k: int = 5,
        cv: CV = 5,
        n_jobs: int | None = None,
        random_state: RandomState = None,
        verbose: int = 0,
        memory: Memory = None,
    ) -> None:
        self.estimator = estimator
        self.exits = exits
        self.costs = costs
        self.serving_batch_size = serving_batch_size
        self.cost_weight = cost_weight
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory


EarlyExitClassifier.__doc__ = docstring(
    """Stop computing one model as soon as an exit's answer is good enough.

    A model with several exits (the first trees of a boosted ensemble or a
    forest, the intermediate heads of a network) is evaluated exit by exit.  After
    each exit a learned policy decides whether to answer or pay for the next
    stage; a later stage continues from the earlier computation (partial sums,
    activations) and only for the rows still active.  The policies minimise
    ``E[loss + cost_weight * cost]`` with the bottom-up reduction of Bolukbasi et
    al., "Adaptive Neural Networks for Efficient Inference" (ICML 2017), learned on
    out-of-fold exit outputs.

    Parameters
    ----------
{parameters}

    Attributes
    ----------
{attributes}

    See Also
    --------
    EarlyExitClassifierCV : The same exits, routed to meet a target.
    NetworkSelectionClassifier : A ladder of separate models.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skadaptive import EarlyExitClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EarlyExitClassifier(
    ...     HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=0),
    ...     exits=[5, 10, 20, 40], cost_weight=0.05, cv=3, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> clf.costs_.tolist()      # trees: 10 classes, a tree per class per iteration
    [50.0, 50.0, 100.0, 200.0]
    >>> round(clf.score(X[1200:], y[1200:]), 3)
    0.891
    >>> round(float(clf.predict_cost(X[1200:]).mean()), 1)   # the full model costs 400 trees
    98.8
    """,
    ["estimator", "exits", "costs_exits", "serving_batch_size", "cost_weight", *_COMMON_AFTER],
    [*_ATTRIBUTES, "policy_learned", *_ATTRIBUTES_AFTER],
)


class EarlyExitClassifierCV(BudgetMixin, _EarlyExitBase):
    _parameter_constraints = {
        **_CONSTRAINTS,
        **BudgetMixin._router_constraints,
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Estimator,
        *,
        max_accuracy_loss: float | None = None,
        max_cost: float | None = None,
        max_relative_cost: float | None = None,
        families: Sequence[Family] = FAMILIES,
        cost_weights: ArrayLike | None = None,
        selection_cv: CV = 5,
        confidence: float | None = None,
        calibration_size: float = 0.5,
        exits: ArrayLike | None = None,
        costs: Costs = None,
        serving_batch_size: int = 100,
        policy_estimator: Estimator | None = None,
        features: Features = "summary",
        loss: Loss = "zero_one",
        top_k: int = 5,
        cv: CV = 5,
        n_jobs: int | None = None,
        random_state: RandomState = None,
        verbose: int = 0,
        memory: Memory = None,
    ) -> None:
        self.estimator = estimator
        self.max_accuracy_loss = max_accuracy_loss
        self.max_cost = max_cost
        self.max_relative_cost = max_relative_cost
        self.families = families
        self.cost_weights = cost_weights
        self.selection_cv = selection_cv
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.exits = exits
        self.costs = costs
        self.serving_batch_size = serving_batch_size
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory


EarlyExitClassifierCV.__doc__ = docstring(
    """An early-exit classifier that meets a cost or accuracy target.

    Instead of ``cost_weight``, give a target.  The exits' out-of-fold outputs are
    computed once (as in :class:`EarlyExitClassifier`); on held-out folds of them,
    the learned policies over a whole path of ``cost_weight`` values, per-exit
    confidence thresholds tuned jointly, thresholds on the learned policies' scores
    and the reference (the full model) are compared, and the one that meets the
    target most cheaply (or, for a cost target, most accurately) is refitted on
    every row.  {budget_choice}

    Parameters
    ----------
{parameters}

    Attributes
    ----------
{attributes}

    See Also
    --------
    EarlyExitClassifier : The same exits at one ``cost_weight``.

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
    >>> relative_cost = clf.cv_results_["mean_test_relative_cost"][clf.best_index_]
    >>> clf.best_family_, round(float(relative_cost), 3)   # within max_relative_cost
    ('thresholds', 0.298)
    >>> round(float(clf.predict_cost(X[1200:]).mean()) / 400, 2)   # a fraction of the full model
    0.32
    """,
    [
        "estimator",
        "max_accuracy_loss",
        "max_cost",
        "max_relative_cost",
        "families",
        "cost_weights",
        "selection_cv",
        "confidence",
        "calibration_size",
        "exits",
        "costs_exits",
        "serving_batch_size",
        *_COMMON_AFTER,
    ],
    [
        "cv_results_",
        "best_index_",
        "best_family_",
        "cost_weight_",
        "cost_fraction_",
        "estimate_",
        "policy_budget",
        *_ATTRIBUTES,
        *_ATTRIBUTES_AFTER,
    ],
)

for _cls in (EarlyExitClassifier, EarlyExitClassifierCV):
    _cls.__module__ = "skadaptive"  # where saved files find them
