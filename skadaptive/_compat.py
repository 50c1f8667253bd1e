"""Every use of private scikit-learn API, in one place.

The tree-ensemble exits need the fitted trees and the steps of ``predict_proba``
that scikit-learn keeps private; the estimators use scikit-learn's parameter
validation, ``_fit_context`` and a few validation helpers that are not public.
pyproject bounds the scikit-learn versions these were checked against, and
``tests/test_stages.py`` checks that the last exit of each ensemble reproduces the
model's own ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy.special import expit
from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.ensemble._forest import ForestClassifier
from sklearn.ensemble._gradient_boosting import predict_stages
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.utils import _safe_indexing
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.extmath import softmax
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.parallel import _get_threadpool_controller
from sklearn.utils.validation import _check_sample_weight, _num_samples

__all__ = [
    "ForestClassifier",
    "HasMethods",
    "Interval",
    "LinearClassifierMixin",
    "StrOptions",
    "_BaseComposition",
    "check_sample_weight",
    "checked_by_caller",
    "fast_predict_proba",
    "fit_context",
    "forest_check_X",
    "gb_add_stages",
    "gb_check_X",
    "gb_init_raw",
    "hgb_add_iterations",
    "hgb_baseline",
    "hgb_check_X",
    "logistic_proba",
    "num_samples",
    "raw_to_proba",
    "safe_indexing",
    "validate_parameter_constraints",
]

num_samples = _num_samples
safe_indexing = _safe_indexing

_Method = TypeVar("_Method", bound=Callable[..., Any])


def one_blas_thread():
    """A context in which BLAS runs one thread (as scikit-learn's KMeans does internally).

    Policy fits are many and small: BLAS threads cost more in start-up and in fighting
    over the cores than they gain; parallelism comes from ``n_jobs`` instead.
    """
    return _get_threadpool_controller().limit(limits=1, user_api="blas")


def fit_context(method: _Method) -> _Method:
    """``_fit_context``: validate the parameters, then fit with nested validation on.

    Nested validation stays on because the stages and policy estimators are the
    user's own estimators.
    """
    return _fit_context(prefer_skip_nested_validation=False)(method)


def check_sample_weight(sample_weight, X):
    """Non-negative float weights, one per row of ``X``."""
    return _check_sample_weight(sample_weight, X, ensure_non_negative=True)


def checked_by_caller(model, X):
    """Whether ``X`` is a float array that the adaptive estimator already checked.

    The estimators predict under ``assume_finite`` once their entry has checked X
    (``_base._stage_config``).  A dense float array of the model's width, for a
    model fitted without feature names, then needs no second check: only the
    dtype conversion the trees need (0.2 ms a call saved on one row).  Anything
    else, and every direct call, gets the model's own check.
    """
    return (
        get_config()["assume_finite"]
        and isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype.kind == "f"
        and X.shape[1] == getattr(model, "n_features_in_", -1)
        and not hasattr(model, "feature_names_in_")
    )


def fast_predict_proba(model, X):
    """``model.predict_proba(X)`` without the model's own check of rows checked already.

    For a ``LogisticRegression`` (the same operations as scikit-learn's: ``X @
    coef_.T + intercept_``, then ``expit`` or ``softmax``) and an ``MLPClassifier``
    (its forward pass with ``check_input=False``), on rows that
    :func:`checked_by_caller` accepts: the same bits, without 40-90 us of input
    checks a call.  None for anything else: call ``predict_proba``.
    """
    cls = type(model)
    if cls not in (LogisticRegression, MLPClassifier) or not checked_by_caller(model, X):
        return None
    if cls is MLPClassifier:
        y_pred = model._forward_pass_fast(X, check_input=False)
        if model.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return np.vstack([1 - y_pred, y_pred]).T if y_pred.ndim == 1 else y_pred
    if model.coef_.ndim != 2:
        return None
    return logistic_proba(model, X)


def logistic_proba(model, X):
    """A fitted ``LogisticRegression``'s ``predict_proba`` on a float array, unchecked.

    scikit-learn's own operations, in its order (``X @ coef_.T + intercept_``, then
    ``expit`` of the raveled scores, or ``softmax``), so the same bits.
    """
    scores = X @ model.coef_.T + model.intercept_
    if len(model.classes_) <= 2:
        prob = expit(scores.reshape(-1))
        return np.stack([1 - prob, prob], axis=1)
    return softmax(scores, copy=False)


# --- forests (RandomForestClassifier, ExtraTreesClassifier) ---------------------
def forest_check_X(forest, X):
    if checked_by_caller(forest, X):
        return np.ascontiguousarray(X, dtype=np.float32)
    return forest._validate_X_predict(X)


# --- GradientBoostingClassifier ---------------------------------------------------
def gb_check_X(gb, X):
    if checked_by_caller(gb, X):
        return np.ascontiguousarray(X, dtype=np.float32)
    return gb.estimators_[0, 0]._validate_X_predict(X, check_input=True)


def gb_init_raw(gb, X):
    """Raw predictions of the init estimator; ``X`` already checked."""
    return gb._raw_predict_init(X)


def gb_add_stages(gb, start, stop, X, raw):
    """Add boosting iterations ``start:stop`` to ``raw`` in place."""
    predict_stages(gb.estimators_[start:stop], X, gb.learning_rate, raw)


# --- HistGradientBoostingClassifier ----------------------------------------------
def hgb_check_X(hgb, X):
    if checked_by_caller(hgb, X) and hgb._preprocessor is None:
        return np.asarray(X, dtype=np.float64)
    return hgb._preprocess_X(X, reset=False)


def hgb_baseline(hgb, n_rows):
    raw = np.zeros((n_rows, hgb.n_trees_per_iteration_), dtype=hgb._baseline_prediction.dtype)
    raw += hgb._baseline_prediction
    return raw


def hgb_add_iterations(hgb, start, stop, X, raw):
    """Add boosting iterations ``start:stop`` to ``raw`` in place."""
    hgb._predict_iterations(
        X, hgb._predictors[start:stop], raw, False, _openmp_effective_n_threads()
    )


def hgb_n_iterations(hgb):
    """The number of fitted boosting iterations."""
    return len(hgb._predictors)


def raw_to_proba(model, raw):
    """Class probabilities from boosting raw scores, as ``predict_proba`` does."""
    return model._loss.predict_proba(raw)
