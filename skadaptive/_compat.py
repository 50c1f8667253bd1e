"""Every use of private scikit-learn API, in one place.

The tree-ensemble exits need the fitted trees and the steps of ``predict_proba``
that scikit-learn keeps private.  pyproject bounds the scikit-learn versions these
were checked against, and ``tests/test_stages.py`` checks that the last exit of
each ensemble reproduces the model's own ``predict_proba``.
"""

from sklearn.ensemble._gradient_boosting import predict_stages
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils import _safe_indexing
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.metaestimators import _BaseComposition

__all__ = [
    "_BaseComposition",
    "LinearClassifierMixin",
    "safe_rows",
    "forest_check_X",
    "gb_check_X",
    "gb_init_raw",
    "gb_add_stages",
    "hgb_check_X",
    "hgb_baseline",
    "hgb_add_iterations",
    "raw_to_proba",
]


def safe_rows(X, rows):
    """Rows of an array, sparse matrix, DataFrame or list."""
    return _safe_indexing(X, rows, axis=0)


# --- forests (RandomForestClassifier, ExtraTreesClassifier) ---------------------
def forest_check_X(forest, X):
    return forest._validate_X_predict(X)


# --- GradientBoostingClassifier ---------------------------------------------------
def gb_check_X(gb, X):
    return gb.estimators_[0, 0]._validate_X_predict(X, check_input=True)


def gb_init_raw(gb, X):
    """Raw predictions of the init estimator; ``X`` already checked."""
    return gb._raw_predict_init(X)


def gb_add_stages(gb, start, stop, X, raw):
    """Add boosting iterations ``start:stop`` to ``raw`` in place."""
    predict_stages(gb.estimators_[start:stop], X, gb.learning_rate, raw)


# --- HistGradientBoostingClassifier ----------------------------------------------
def hgb_check_X(hgb, X):
    return hgb._preprocess_X(X, reset=False)


def hgb_baseline(hgb, n_rows):
    import numpy as np

    raw = np.zeros((n_rows, hgb.n_trees_per_iteration_), dtype=hgb._baseline_prediction.dtype)
    raw += hgb._baseline_prediction
    return raw


def hgb_add_iterations(hgb, start, stop, X, raw):
    """Add boosting iterations ``start:stop`` to ``raw`` in place."""
    hgb._predict_iterations(
        X, hgb._predictors[start:stop], raw, False, _openmp_effective_n_threads()
    )


def raw_to_proba(model, raw):
    """Class probabilities from boosting raw scores, as ``predict_proba`` does."""
    return model._loss.predict_proba(raw)
