"""Cost-aware metrics and scorers for the adaptive classifiers.

Accuracy alone cannot choose ``cost_weight``: it usually favours running the most
expensive model on every row.  These scorers put the cost in (each accepts the estimator
itself or a Pipeline that ends with it):

- :func:`average_cost` and :func:`speedup` report what ``predict`` costs;
- :func:`make_objective_scorer` scores ``-(error + lambda * normalised cost)``
  at a lambda *you* fix, so that a grid search over ``cost_weight`` compares
  every candidate on the same objective;
- :data:`neg_average_cost_scorer` and :data:`speedup_scorer` plug into
  ``GridSearchCV(scoring={...})`` next to ``"accuracy"``.
"""

import numpy as np
from sklearn.pipeline import Pipeline

from ._network_selection import NetworkSelectionClassifier

__all__ = [
    "average_cost",
    "make_objective_scorer",
    "neg_average_cost_scorer",
    "reference_cost",
    "speedup",
    "speedup_scorer",
]


def _final_step(estimator, X):
    """The adaptive classifier at the end of a Pipeline, and X transformed for it."""
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        return _final_step(estimator[-1], X)
    return estimator, X


def reference_cost(estimator):
    """Per-row cost of the non-adaptive reference, in the estimator's units.

    The most expensive model alone for :class:`NetworkSelectionClassifier`; the
    full model (every exit) for :class:`EarlyExitClassifier`.
    """
    estimator, _ = _final_step(estimator, None)
    if isinstance(estimator, NetworkSelectionClassifier):
        return float(estimator.costs_[-1])
    return float(estimator.costs_.sum())


def average_cost(estimator, X, y=None):
    """Mean per-row cost of ``estimator.predict(X)``, in the units of ``costs_``."""
    estimator, X = _final_step(estimator, X)
    return float(np.mean(estimator.predict_cost(X)))


def speedup(estimator, X, y=None):
    """``reference_cost / average_cost``: how many times cheaper than the reference."""
    return reference_cost(estimator) / average_cost(estimator, X)


def neg_average_cost_scorer(estimator, X, y=None):
    """Scorer: minus the mean cost as a fraction of the full route (greater is better)."""
    estimator, X = _final_step(estimator, X)
    return -float(np.mean(estimator.predict_cost(X))) / float(estimator.costs_.sum())


def speedup_scorer(estimator, X, y=None):
    """Scorer: :func:`speedup` (greater is better)."""
    return speedup(estimator, X)


def make_objective_scorer(cost_weight):
    """Scorer of the paper's objective at a fixed ``cost_weight``.

    Returns ``-(error rate + cost_weight * mean normalised cost)``, where the
    normalised cost of the full route is 1, as in the estimators.

    Parameters
    ----------
    cost_weight : float
        The lambda that defines the objective; independent of the candidates'
        ``cost_weight`` values.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, for ``GridSearchCV(scoring=...)``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import make_objective_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(random_state=0))],
    ...     costs=[1, 5], cv=3, random_state=0)
    >>> search = GridSearchCV(clf, {"cost_weight": [0.01, 0.1, 1.0]}, cv=3,
    ...                       scoring=make_objective_scorer(0.1)).fit(X, y)
    >>> search.best_params_["cost_weight"] in (0.01, 0.1, 1.0)
    True
    """

    def objective_scorer(estimator, X, y):
        estimator, X = _final_step(estimator, X)
        res = estimator.route(X)
        error = np.mean(estimator.classes_[res.proba.argmax(axis=1)] != np.asarray(y))
        cost = np.mean(res.cost) / float(estimator.costs_.sum())
        return -float(error + cost_weight * cost)

    return objective_scorer
