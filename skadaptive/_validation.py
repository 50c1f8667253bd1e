"""Input checks shared by the estimators and the policies."""

import numbers

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter


def check_costs(costs, n_stages, name="costs"):
    """Validate per-stage costs; returns a float array of shape (n_stages,)."""
    try:
        arr = np.array(costs, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers, got {costs!r}.") from exc
    if arr.ndim != 1 or arr.shape[0] != n_stages:
        raise ValueError(
            f"{name} must have one entry per stage: expected {n_stages}, got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}.")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, got {arr.tolist()}.")
    if arr.sum() <= 0:
        raise ValueError(f"{name} must not all be zero, got {arr.tolist()}.")
    return arr


def check_cost_weight(cost_weight):
    """Validate lambda: a finite, non-negative real."""
    if (
        not isinstance(cost_weight, numbers.Real)
        or isinstance(cost_weight, bool)
        or not np.isfinite(cost_weight)
        or cost_weight < 0
    ):
        raise ValueError(f"cost_weight must be a finite number >= 0, got {cost_weight!r}.")
    return float(cost_weight)


def _weight_param(estimator):
    """The fit keyword that carries sample weights, or None if there is none."""
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if last in (None, "passthrough"):
            return None
        return f"{name}__sample_weight" if _weight_param(last) else None
    return "sample_weight" if has_fit_parameter(estimator, "sample_weight") else None


def sample_weight_param(estimator, name="policy_estimator"):
    """The fit keyword for sample weights; a clear error if the estimator has none."""
    param = _weight_param(estimator)
    if param is None:
        raise ValueError(
            f"{name} {estimator!r} does not accept sample_weight in fit; the paper's "
            "reduction needs a weighted binary classifier (for example LogisticRegression)."
        )
    return param
