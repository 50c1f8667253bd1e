"""Network selection: a ladder of separate models of rising cost.

:class:`NetworkSelectionClassifier` (one ``cost_weight``) and its budget sibling
:class:`NetworkSelectionClassifierCV` (a target) share ``_NetworkSelectionBase``,
which says what the stages are: independent models, so that the reference is the
last model alone and a jump pays only for the models it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from numpy.typing import ArrayLike
from sklearn.utils import Bunch

from ._base import COMMON_CONSTRAINTS, BaseAdaptiveClassifier, FixedCostWeightMixin
from ._budget import FAMILIES, BudgetMixin
from ._compat import StrOptions, _BaseComposition
from ._docs import docstring
from ._stages import ModelLadder, unfrozen
from ._validation import CV, Costs, Estimator, Family, Features, Loss, Memory, RandomState

_Selection = TypeVar("_Selection", bound="_NetworkSelectionBase")

_COMMON_AFTER = ["policy_estimator", "features", "loss", "top_k", "cv", "n_jobs"]
_COMMON_AFTER += ["random_state", "verbose", "memory"]
_ATTRIBUTES = ["estimators_", "named_estimators_", "stage_model_", "classes_", "costs_"]
_ATTRIBUTES_AFTER = ["stage_times_", "routing_times_", "oof_outputs_", "n_stages_"]
_ATTRIBUTES_AFTER += ["n_features_in_", "feature_names_in_"]


class _NetworkSelectionBase(BaseAdaptiveClassifier, _BaseComposition):
    """The stages of network selection: ``estimators``, independent models."""

    _independent_stages = True

    @property
    def _topology(self):
        return self.topology

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters, with each model's as ``<name>__<param>`` when ``deep``.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of the models in ``estimators``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self: _Selection, **params: Any) -> _Selection:
        """Set the parameters, including ``<name>__<param>`` of a model.

        Parameters
        ----------
        **params : dict
            Estimator parameters, and ``<name>__<param>`` of the models.

        Returns
        -------
        self : object
            The estimator.
        """
        self._set_params("estimators", **params)
        return self

    def _stage_templates(self):
        if not isinstance(self.estimators, list) or len(self.estimators) < 2:
            raise ValueError("estimators must be a list of at least 2 (name, estimator) pairs.")
        try:
            names, models = zip(*self.estimators)
        except (TypeError, ValueError) as exc:
            raise ValueError("estimators must be a list of (name, estimator) pairs.") from exc
        self._validate_names(names)
        for name, model in self.estimators:
            if not hasattr(unfrozen(model), "predict_proba"):
                inner = unfrozen(model)
                params = inner.get_params(deep=False) if hasattr(inner, "get_params") else {}
                hint = (
                    f"pass {type(inner).__name__}(probability=True)"
                    if "probability" in params
                    else "wrap it in sklearn.calibration.CalibratedClassifierCV"
                )
                raise TypeError(
                    f"Estimator {name!r} has no predict_proba: {model!r}. The policies read "
                    f"each model's class probabilities: {hint}."
                )
        return list(models)

    def _n_stages_hint(self):
        return len(self.estimators)

    def _stage_factory(self):
        return ModelLadder

    def _stage_names(self):
        return [name for name, _ in self.estimators]

    def _template_names(self):
        return self._stage_names()

    def _stage_label(self, k):
        return f"stage {k} ({self._stage_names()[k]!r})"

    def _store_fitted_stages(self, fitted):
        self.estimators_ = list(fitted)
        self.named_estimators_ = Bunch(
            **{name: est for (name, _), est in zip(self.estimators, self.estimators_)}
        )


class NetworkSelectionClassifier(FixedCostWeightMixin, _NetworkSelectionBase):
    _parameter_constraints = {
        "estimators": [list],
        "topology": [StrOptions({"jump", "chain"})],
        **FixedCostWeightMixin._router_constraints,
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimators: list[tuple[str, Estimator]],
        *,
        costs: Costs = None,
        serving_batch_size: int = 100,
        cost_weight: float = 0.1,
        topology: Literal["jump", "chain"] = "jump",
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
        self.estimators = estimators
        self.costs = costs
        self.serving_batch_size = serving_batch_size
        self.cost_weight = cost_weight
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


NetworkSelectionClassifier.__doc__ = docstring(
    """Answer with a cheap model when it suffices, a more expensive one when not.

    Models are ordered from cheapest to most expensive.  After each model a
    learned policy decides: answer now, run the next model, or (``topology="jump"``)
    jump straight to the most expensive model, paying only for the models it runs.
    The policies minimise ``E[loss + cost_weight * cost]`` with the bottom-up
    reduction of Bolukbasi et al., "Adaptive Neural Networks for Efficient
    Inference" (ICML 2017), learned on out-of-fold model outputs.

    Parameters
    ----------
{parameters}

    Attributes
    ----------
{attributes}

    See Also
    --------
    NetworkSelectionClassifierCV : The same models, routed to meet a target.
    EarlyExitClassifier : Exits inside one model.
    RoutingPolicy : The same policies from precomputed outputs.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skadaptive import NetworkSelectionClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("lr", LogisticRegression(max_iter=2000)),
    ...      ("rf", RandomForestClassifier(n_estimators=100, random_state=0))],
    ...     costs=[1, 20], cost_weight=0.05, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> round(clf.score(X[1200:], y[1200:]), 3)
    0.925
    >>> round(float(clf.predict_cost(X[1200:]).mean()), 2)   # the forest alone costs 20
    2.44
    """,
    ["estimators", "costs_ladder", "serving_batch_size", "cost_weight", "topology", *_COMMON_AFTER],
    [*_ATTRIBUTES, "normalized_costs_", "policy_learned", *_ATTRIBUTES_AFTER],
)


class NetworkSelectionClassifierCV(BudgetMixin, _NetworkSelectionBase):
    _parameter_constraints = {
        "estimators": [list],
        "topology": [StrOptions({"jump", "chain"})],
        **BudgetMixin._router_constraints,
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimators: list[tuple[str, Estimator]],
        *,
        max_accuracy_loss: float | None = None,
        max_cost: float | None = None,
        max_relative_cost: float | None = None,
        families: Sequence[Family] = FAMILIES,
        cost_weights: ArrayLike | None = None,
        selection_cv: CV = 5,
        confidence: float | None = None,
        calibration_size: float = 0.5,
        costs: Costs = None,
        serving_batch_size: int = 100,
        topology: Literal["jump", "chain"] = "jump",
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
        self.estimators = estimators
        self.max_accuracy_loss = max_accuracy_loss
        self.max_cost = max_cost
        self.max_relative_cost = max_relative_cost
        self.families = families
        self.cost_weights = cost_weights
        self.selection_cv = selection_cv
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.costs = costs
        self.serving_batch_size = serving_batch_size
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


NetworkSelectionClassifierCV.__doc__ = docstring(
    """A network-selection classifier that meets a cost or accuracy target.

    Instead of ``cost_weight``, give a target.  The models' out-of-fold outputs are
    computed once (as in :class:`NetworkSelectionClassifier`); on held-out folds of
    them, the learned policies over a whole path of ``cost_weight`` values, per-model
    confidence thresholds tuned jointly, thresholds on the learned policies' scores
    and the reference (the last model alone) are compared, and the one that meets
    the target most cheaply (or, for a cost target, most accurately) is refitted on
    every row.  {budget_choice}

    Parameters
    ----------
{parameters}

    Attributes
    ----------
{attributes}

    See Also
    --------
    NetworkSelectionClassifier : The same models at one ``cost_weight``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skadaptive import NetworkSelectionClassifierCV
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifierCV(
    ...     [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=500))],
    ...     costs=[1, 20], max_accuracy_loss=0.02, cost_weights=[0, 0.01, 0.1],
    ...     cv=3, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> clf.best_family_
    'hybrid'
    >>> est = clf.estimate_   # on held-out folds: 1.5 points less accurate, half the cost
    >>> round(est["loss_increase"], 3), round(est["relative_cost"], 3)
    (0.015, 0.515)
    >>> [round(v, 3) for v in est["loss_increase_interval"]]   # 90% interval
    [0.007, 0.023]
    """,
    [
        "estimators",
        "max_accuracy_loss",
        "max_cost",
        "max_relative_cost",
        "families",
        "cost_weights",
        "selection_cv",
        "confidence",
        "calibration_size",
        "costs_ladder",
        "serving_batch_size",
        "topology",
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
        "normalized_costs_",
        *_ATTRIBUTES_AFTER,
    ],
)

for _cls in (NetworkSelectionClassifier, NetworkSelectionClassifierCV):
    _cls.__module__ = "skadaptive"  # where saved files find them
