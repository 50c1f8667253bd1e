"""Budget mode: the router that meets a target, chosen on held-out folds.

Users rarely know ``cost_weight``; they know a budget ("half the cost of the big
model") or an accuracy floor ("within one point of the big model").  The budget
estimators (``...ClassifierCV``) compute the stages' out-of-fold outputs once, as
their fixed-``cost_weight`` siblings do, and :class:`BudgetMixin` chooses the
router on held-out folds of those rows, among the candidates of
:mod:`skadaptive._candidates` (learned policies along a lambda path, per-exit
thresholds, hybrids, and the reference itself).

Without ``confidence``, the cheapest candidate whose held-out loss increase over the
reference, plus one standard error, meets the target (or, for a cost target, the
most accurate within the budget) wins, by the one selection rule
:func:`skadaptive._choice.best_under`, and is refitted on every row.  With
``confidence``, the choice is certified on calibration rows
(:mod:`skadaptive._certify`) and the router tested is served as it is.
"""

from __future__ import annotations

import copy
import logging
import numbers
import warnings
from typing import Any, Literal, TypeVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._candidates import (
    BUDGET_COST_WEIGHTS,
    FAMILIES,
    Target,
    check_cost_weights,
    cost_fractions,
    evaluate_path,
    fit_candidate,
    reference_index,
)
from ._certify import calibration_split, certify, normal_interval
from ._compat import Interval
from ._features import FeatureBuilder
from ._fitting import progress_bar
from ._losses import stage_losses
from ._routing import route_outputs
from .exceptions import GuaranteeWarning

# The estimators this is mixed into, whose attributes retarget reads: to a type
# checker the base is Any (the estimators' own base, BaseEstimator, is not typed).
_MixedInto: Any = object

logger = logging.getLogger("skadaptive")

TARGETS = ("max_accuracy_loss", "max_cost", "max_relative_cost")
LARGE_LOSS = 0.1  # a loss allowance above ten points is valid but probably a mistake
SE_MARGIN = 1.0  # without confidence: choose on held-out loss increase + this many std errors
DEFAULT_LEVEL = 0.9  # of the intervals reported without confidence

_Budget = TypeVar("_Budget", bound="BudgetMixin")

BUDGET_CONSTRAINTS = {
    "max_accuracy_loss": [Interval(numbers.Real, 0, None, closed="left"), None],
    "max_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "max_relative_cost": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "families": [list, tuple],
    "cost_weights": ["array-like", None],
    "selection_cv": [Interval(numbers.Integral, 2, None, closed="left"), "cv_object"],
    "confidence": [Interval(numbers.Real, 0, 1, closed="neither"), None],
    "calibration_size": [
        Interval(numbers.Real, 0, 1, closed="neither"),
        Interval(numbers.Integral, 1, None, closed="left"),
    ],
}


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


def _check_guarantee_inputs(losses, sample_weight):
    """Guarantee mode needs losses in [0, 1] and unweighted rows."""
    if sample_weight is not None:
        raise ValueError(
            "confidence does not take sample_weight: the guarantee is for new rows drawn like "
            "the calibration rows, unweighted. Fit without sample_weight, or without confidence."
        )
    if losses.min() < 0 or losses.max() > 1:
        raise ValueError(
            "confidence needs a loss between 0 and 1 for every row (zero_one, top_k, or a "
            f"callable that keeps to [0, 1]); the losses span [{losses.min():g}, "
            f"{losses.max():g}]."
        )


def _estimate(increase, relative_cost, level, **where):
    """``estimate_``: the chosen point's ``(mean, standard error)`` of the loss increase and
    of the relative cost, as means with normal intervals at ``level``, and where from."""
    return {
        "loss_increase": float(increase[0]),
        "loss_increase_interval": normal_interval(*increase, level),
        "relative_cost": float(relative_cost[0]),
        "relative_cost_interval": normal_interval(*relative_cost, level),
        "level": level,
        **where,
    }


class BudgetMixin(_MixedInto):
    """The router that meets a target (``max_accuracy_loss``, ``max_cost`` or
    ``max_relative_cost``), chosen on held-out folds of the out-of-fold outputs, and
    with ``confidence``, certified on calibration rows (:mod:`skadaptive._certify`)."""

    _router_constraints = BUDGET_CONSTRAINTS

    def __setstate__(self, state):
        state = dict(state)
        # skadaptive 0.1 called the target scale a "level"; 0.2 replaced the target
        # scales by cost fractions (the old routers stay as they were fitted).
        if "level_" in state:
            state["target_scale_"] = state.pop("level_")
            results = dict(state.get("cv_results_", {}))
            if "level" in results:
                results["target_scale"] = results.pop("level")
                state["cv_results_"] = results
        if "best_family_" in state and "cost_fraction_" not in state:
            state["cost_fraction_"] = None
        for name, default in (("confidence", None), ("calibration_size", 0.5)):
            state.setdefault(name, default)
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

    def _fit_router(self, outputs, y, X, sample_weight, path=None):
        """Evaluate every candidate on held-out folds; fit the winner (or certify one).

        ``path``: the candidates already evaluated on these rows and costs (``retarget``).
        """
        reference_cost = self._reference_cost()
        setup = {
            "template": self._policy_template(0.0),
            "target": self._target(),
            "families": tuple(self.families),
            "cost_weights": check_cost_weights(self.cost_weights, BUDGET_COST_WEIGHTS),
            "fractions": cost_fractions(self.costs_, reference_cost),
            "reference_cost": reference_cost,
            "reference_router": self._reference_router(),
            "timing": self._timing(),
        }
        losses = stage_losses(outputs, y, self.classes_, self.loss, self.top_k)
        guaranteed = self.confidence is not None
        if guaranteed:
            _check_guarantee_inputs(losses, sample_weight)
            select, calibrate = calibration_split(y, self.calibration_size, self.random_state)
        else:
            select = np.arange(len(y))
        if path is None:
            cv = self._check_cv(y[select], self.selection_cv)
            splits = [
                (select[tr], select[te]) for tr, te in cv.split(outputs[select, 0], y[select])
            ]
            progress = progress_bar(self.verbose, len(splits), "budget mode: held-out folds")
            path = evaluate_path(
                setup, outputs, losses, X, splits, progress, sample_weight, n_jobs=self.n_jobs
            )
            path["n_splits"] = len(splits)
        self._path, self._budget_rows = path, (y, sample_weight)
        level = self.confidence if guaranteed else DEFAULT_LEVEL
        results = self._cv_results(path, level)
        self._guarantee_message = None
        if guaranteed:
            best, router, record = certify(
                setup, path, outputs, losses, X, select, calibrate, 1 - level
            )
            results["p_value"], results["certified"] = record["p_value"], record["certified"]
            self._guarantee_message = record["warning"]
            increase, cost = record["increase"], record["cost"] / reference_cost
            self.estimate_ = _estimate(
                (increase.mean(), increase.std(ddof=1) / np.sqrt(len(increase))),
                (cost.mean(), cost.std(ddof=1) / np.sqrt(len(cost))),
                level,
                rows="calibration",
                n_rows=len(calibrate),
                certified=record["met"],
            )
        else:
            margin = SE_MARGIN * path["increase_se"]
            best = setup["target"].choose(path["increase"] + margin, path["mean_cost"])
            best, router = self._refit_candidate(
                setup, path, best, outputs, losses, X, sample_weight
            )
            cost = results["mean_test_relative_cost"][best]
            cost_se = results["std_test_relative_cost"][best] / np.sqrt(path["n_splits"])
            self.estimate_ = _estimate(
                (path["increase"][best], path["increase_se"][best]),
                (cost, cost_se),
                level,
                rows="held-out folds",
                n_rows=len(select),
                certified=False,
            )
        self.cv_results_ = results
        self._set_choice(path, best)
        if self.verbose:
            logger.info(
                "Budget mode chose %s (cost_weight=%s, cost_fraction=%s): loss increase %.4f "
                "(%s), relative cost %.4g.",
                self.best_family_,
                self.cost_weight_,
                self.cost_fraction_,
                self.estimate_["loss_increase"],
                self.estimate_["rows"],
                self.estimate_["relative_cost"],
            )
        return router

    def retarget(
        self: _Budget,
        *,
        max_accuracy_loss: float | None = None,
        max_cost: float | None = None,
        max_relative_cost: float | None = None,
        confidence: float | Literal["unchanged"] | None = "unchanged",
    ) -> _Budget:
        """A copy of this fitted estimator, chosen for another target.

        Nothing is refitted that does not depend on the target: the stages and their
        out-of-fold outputs are reused, and so is the evaluated path of candidates
        (``cv_results_``) when the costs were given and ``confidence`` is unchanged or
        set where the fit had one.  Only the chosen candidate is fitted (or, with
        ``confidence``, the candidates tested).  With measured costs (``costs="time"``),
        the costs depend on the routes, so the candidates are evaluated again on the same
        stage outputs.  This estimator is left as it is.

        Parameters
        ----------
        max_accuracy_loss, max_cost, max_relative_cost : float, default=None
            The new target: exactly one.
        confidence : float or None, default="unchanged"
            Guarantee mode for the new target.  Setting it where the fit had none
            evaluates the candidates again on the selection rows.

        Returns
        -------
        estimator : object
            A fitted copy whose parameters name the new target; it shares the fitted
            stages with this one.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.naive_bayes import GaussianNB
        >>> from skadaptive import NetworkSelectionClassifierCV
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = NetworkSelectionClassifierCV(
        ...     [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=500))],
        ...     costs=[1, 10], max_accuracy_loss=0.01, cost_weights=[0, 0.01, 0.1],
        ...     random_state=0,
        ... ).fit(X, y)
        >>> looser = clf.retarget(max_accuracy_loss=0.05)
        >>> looser.max_accuracy_loss, clf.max_accuracy_loss
        (0.05, 0.01)
        >>> bool(looser.predict_cost(X).mean() <= clf.predict_cost(X).mean())
        True
        """
        check_is_fitted(self)
        targets = {
            "max_accuracy_loss": max_accuracy_loss,
            "max_cost": max_cost,
            "max_relative_cost": max_relative_cost,
        }
        if not hasattr(self, "_path"):
            raise ValueError(
                "This estimator was fitted by a skadaptive version without retarget (before "
                "0.2): fit it again to retarget it."
            )
        if FeatureBuilder(self.features).uses_X:
            raise ValueError(
                f"retarget cannot choose with features={self.features!r}: the policies read the "
                "training rows, which a fitted estimator does not keep. Fit again."
            )
        new = copy.copy(self)
        new.set_params(**targets)
        if confidence != "unchanged":
            new.set_params(confidence=confidence)
        new._validate_params()
        new._check_router_params()
        y, sample_weight = self._budget_rows
        same_rows = (new.confidence is None) == (self.confidence is None)
        if self.stage_times_ is None:
            path = self._path if same_rows else None  # no candidate is evaluated again
            new.policy_ = new._fit_router(self.oof_outputs_, y, None, sample_weight, path)
        else:
            new.policy_ = new._fit_time_aware(self.oof_outputs_, y, None, sample_weight)
        new._device_rule_ = new._device_rule(new.policy_)
        for message, category in new._router_messages():
            warnings.warn(message, category, stacklevel=2)
        return new

    def _cv_results(self, path, level):
        """``cv_results_`` from the evaluated path."""
        reference_cost = self._reference_cost()
        lower, upper = normal_interval(path["increase"], path["increase_se"], level)
        results = {
            "family": path["family"],
            "cost_weight": path["cost_weight"],
            "cost_fraction": path["cost_fraction"],
            "mean_test_loss": path["mean_loss"],
            "std_test_loss": path["std_loss"],
            "test_loss_increase": path["increase"],
            "test_loss_increase_lower": lower,
            "test_loss_increase_upper": upper,
            "mean_test_cost": path["mean_cost"],
            "std_test_cost": path["std_cost"],
            "mean_test_relative_cost": path["mean_cost"] / reference_cost,
            "std_test_relative_cost": path["std_cost"] / reference_cost,
            "reference_loss": path["reference_loss"],
        }
        if self.loss == "zero_one":
            results["mean_test_accuracy"] = 1.0 - path["mean_loss"]
        return results

    def _set_choice(self, path, best):
        """``best_index_`` and the chosen family and knobs (None: stage 0 alone)."""
        if best is None:  # guarantee mode's fallback for a cost target
            self.best_index_, self.best_family_ = None, "first_stage"
            self.cost_weight_ = self.cost_fraction_ = None
            return
        self.best_index_ = int(best)
        self.best_family_ = str(path["family"][best])
        weight, fraction = path["cost_weight"][best], path["cost_fraction"][best]
        self.cost_weight_ = None if np.isnan(weight) else float(weight)
        self.cost_fraction_ = None if np.isnan(fraction) else float(fraction)

    def _refit_candidate(self, setup, path, best, outputs, losses, X, sample_weight):
        """``(index, router)``: the chosen candidate refitted on every row, or the
        reference when that costs more."""
        family = str(path["family"][best])
        args = family, path["cost_weight"][best], path["cost_fraction"][best]
        router = fit_candidate(setup, outputs, losses, X, *args, sample_weight)
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
                return reference_index(path), setup["reference_router"]
        return int(best), router

    def _router_messages(self):
        """Guarantee mode's warning when it certified nothing."""
        message = getattr(self, "_guarantee_message", None)
        return [] if message is None else [(message, GuaranteeWarning)]

    def _operating_point(self):
        """The chosen router's family and knobs, for the displays."""
        return {
            "family": self.best_family_,
            "cost_weight": self.cost_weight_,
            "cost_fraction": self.cost_fraction_,
        }
