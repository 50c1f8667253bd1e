"""Input checks shared by the estimators and the policies."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import column_or_1d, has_fit_parameter

# -- the inputs' type hints (PEP 561) ------------------------------------------------------
# scikit-learn, SciPy and joblib ship no type hints: their estimators, Bunch, sparse
# matrices and Memory are Any to a type checker.  These say what the docstrings say.

Estimator: TypeAlias = Any  # a scikit-learn estimator, or a multi-exit protocol model
Float64Array: TypeAlias = NDArray[np.float64]  # probabilities, costs, times


class _Splitter(Protocol):
    """A cross-validation generator (scikit-learn's ``KFold``, ``ShuffleSplit``, ...)."""

    def split(self, X: Any, y: Any = ..., groups: Any = ...) -> Iterable[Any]: ...

    def get_n_splits(self, X: Any = ..., y: Any = ..., groups: Any = ...) -> int: ...


class _Cache(Protocol):
    """A ``joblib.Memory``, or anything with its ``cache``."""

    def cache(self, *args: Any, **kwargs: Any) -> Any: ...


CV: TypeAlias = int | _Splitter | Iterable[Any] | None  # folds, a splitter or the splits
Costs: TypeAlias = ArrayLike | Literal["time"] | None
Features: TypeAlias = (  # a kind, or callable(stage_probas, X_rows) -> 2-D array
    Literal["summary", "proba", "proba+X"] | Callable[[list[Float64Array], Any], ArrayLike]
)
Loss: TypeAlias = Literal["zero_one", "top_k"] | Callable[[Any, Float64Array], ArrayLike]
Family: TypeAlias = Literal["learned", "thresholds", "hybrid"]  # of budget mode's routers
RandomState: TypeAlias = int | np.random.RandomState | None
Memory: TypeAlias = str | _Cache | None  # a cache directory or a joblib.Memory


def final_step(estimator, X):
    """The adaptive classifier at the end of a Pipeline, and ``X`` transformed for it."""
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1 and X is not None:
            X = estimator[:-1].transform(X)
        return final_step(estimator[-1], X)
    return estimator, X


def check_costs(costs: ArrayLike, n_stages: int, name: str = "costs") -> NDArray[np.float64]:
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


def check_sample_weight_1d(sample_weight, n_samples):
    """``sample_weight`` as non-negative floats, one per row, not all zero; or None."""
    if sample_weight is None:
        return None
    sample_weight = column_or_1d(sample_weight).astype(float)
    if sample_weight.shape[0] != n_samples or np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative, one value per row.")
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight must contain at least one positive weight.")
    return sample_weight


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


def is_frame(X):
    """Whether ``X`` is a data frame (pandas or alike): it reaches the stages as it is."""
    return hasattr(X, "columns") and hasattr(X, "iloc")


def is_plain_float_array(estimator, X):
    """Whether predict-time ``X`` needs none of ``validate_data``'s conversions.

    A 2-D float ndarray with the fitted number of columns and finite values
    (NaN allowed where the stages take it) would come back from
    ``validate_data`` unchanged; checking that directly costs ~20 us instead of
    ~200 us, which matters when a small batch is routed through fast stages.
    Anything else (lists, other dtypes, sparse matrices, a model fitted on named
    columns, bad values) takes the full path and its error messages.
    """
    if not (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype.kind == "f"
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", -1)
        and not hasattr(estimator, "feature_names_in_")
        and hasattr(estimator, "_input_flags_")
    ):
        return False
    if not estimator._input_flags_["allow_nan"]:
        # No temporary the size of X: a NaN or infinity makes the sum non-finite
        # (an overflowing sum only sends X down the full path).
        return bool(np.isfinite(X.sum()))
    rows = max(1, (1 << 20) // X.shape[1])  # blocks of about 1 MiB of bools
    return not any(np.isinf(X[start : start + rows]).any() for start in range(0, len(X), rows))
