"""Cost-aware scorers: what ``predict`` costs, against the reference and the paper's objective.

Public in :mod:`skadaptive.metrics`.  Each accepts the estimator itself or a Pipeline
that ends with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validation import Estimator
from ._validation import final_step as _final_step

__all__ = [
    "average_cost",
    "make_objective_scorer",
    "neg_average_cost_scorer",
    "neg_relative_cost_scorer",
    "reference_accuracy_scorer",
    "reference_cost",
    "speedup",
    "speedup_scorer",
]


def reference_cost(estimator: Estimator) -> float:
    """Per-row cost of the non-adaptive reference, in the estimator's units.

    The most expensive model alone for network selection; the full model (every
    exit) for early exit.  The estimator owns its reference: this asks it.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.

    Returns
    -------
    cost : float
        The reference's cost per row, in the units of ``costs_``: the last model's
        cost for network selection, the sum of every exit's cost for early exit.

    See Also
    --------
    average_cost : Mean per-row cost of the adaptive classifier's ``predict``.
    speedup : How many times cheaper than this reference ``predict`` is.
    neg_relative_cost_scorer : The adaptive classifier's cost as a fraction of this one.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import reference_cost
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> reference_cost(clf)   # the k-nearest neighbours alone
    10.0

    For early exit the reference is the full model: every exit's cost, summed.

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadaptive import EarlyExitClassifier
    >>> forest = EarlyExitClassifier(
    ...     RandomForestClassifier(n_estimators=20, random_state=0), exits=[5, 10, 20],
    ...     cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> forest.costs_.tolist(), reference_cost(forest)
    ([5.0, 5.0, 10.0], 20.0)
    """
    estimator, _ = _final_step(estimator, None)
    return estimator._reference_cost()


def average_cost(estimator: Estimator, X: ArrayLike, y: Any = None) -> float:
    """Mean per-row cost of ``estimator.predict(X)``, in the units of ``costs_``.

    Each row pays for the stages that its route evaluates (see the estimator's
    ``predict_cost``); this is the mean over the rows of ``X``.  With a Pipeline, ``X``
    goes through the steps before the adaptive classifier first.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The rows to predict (the Pipeline's input, for a Pipeline).
    y : array-like of shape (n_samples,), default=None
        Ignored; accepted so that the function takes a scorer's arguments.

    Returns
    -------
    cost : float
        The mean over the rows of ``estimator.predict_cost(X)``.

    See Also
    --------
    reference_cost : Per-row cost of the non-adaptive reference.
    speedup : ``reference_cost / average_cost``.
    neg_average_cost_scorer : Minus this value, as a scorer.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import average_cost
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(average_cost(clf, X[800:1200]), 3)
    3.725

    291 of these 400 rows are answered by the tree (cost 1) and 109 go on to the
    k-nearest neighbours (cost 1 + 10): (291 + 11 * 109) / 400 = 3.725.

    >>> import numpy as np
    >>> np.bincount(clf.apply(X[800:1200])).tolist()
    [291, 109]
    """
    estimator, X = _final_step(estimator, X)
    return float(np.mean(estimator.predict_cost(X)))


def speedup(estimator: Estimator, X: ArrayLike, y: Any = None) -> float:
    """``reference_cost / average_cost``: how many times cheaper than the reference.

    2 means that ``predict`` costs half as much per row as the non-adaptive reference
    (the last model alone for network selection, the full model for early exit);
    below 1, the routes cost more than the reference (in network selection, rows that
    run every model cost more than the last model alone).

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The rows to predict (the Pipeline's input, for a Pipeline).
    y : array-like of shape (n_samples,), default=None
        Ignored; accepted so that the function takes a scorer's arguments.

    Returns
    -------
    speedup : float
        ``reference_cost(estimator) / average_cost(estimator, X)``.

    See Also
    --------
    reference_cost : Per-row cost of the non-adaptive reference.
    average_cost : Mean per-row cost of ``predict``.
    speedup_scorer : The same value, as a scorer.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import speedup
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(speedup(clf, X[800:1200]), 2)   # 10 / 3.725
    2.68
    """
    cost = average_cost(estimator, X)
    return reference_cost(estimator) / cost if cost > 0 else float("inf")  # free routes


def neg_average_cost_scorer(estimator: Estimator, X: ArrayLike, y: Any = None) -> float:
    """Scorer: minus :func:`average_cost`, in the units of ``costs_`` (greater is better).

    Scikit-learn's searches maximise every score, so the cost is negated, as in
    ``"neg_mean_squared_error"``.  Pass it next to ``"accuracy"`` in
    ``GridSearchCV(scoring={...})`` or ``cross_validate(scoring={...})``.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The held-out rows.
    y : array-like of shape (n_samples,), default=None
        Ignored: the cost does not depend on the labels.

    Returns
    -------
    score : float
        ``-average_cost(estimator, X)``.

    See Also
    --------
    average_cost : The mean per-row cost itself.
    neg_relative_cost_scorer : Minus the cost as a fraction of the reference's.
    speedup_scorer : The reference's cost over the mean cost.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import neg_average_cost_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(neg_average_cost_scorer(clf, X[800:1200], y[800:1200]), 3)
    -3.725
    """
    return -average_cost(estimator, X)


def speedup_scorer(estimator: Estimator, X: ArrayLike, y: Any = None) -> float:
    """Scorer: :func:`speedup` (greater is better).

    How many times cheaper than the non-adaptive reference the estimator predicts
    the held-out rows, for ``GridSearchCV(scoring={...})`` or
    ``cross_validate(scoring={...})`` next to ``"accuracy"``.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The held-out rows.
    y : array-like of shape (n_samples,), default=None
        Ignored: the cost does not depend on the labels.

    Returns
    -------
    score : float
        ``speedup(estimator, X)``.

    See Also
    --------
    speedup : The same value, as a plain function.
    neg_average_cost_scorer : Minus the mean cost, in the units of ``costs_``.
    neg_relative_cost_scorer : Minus the cost as a fraction of the reference's.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import speedup_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(speedup_scorer(clf, X[800:1200], y[800:1200]), 2)
    2.68
    """
    return speedup(estimator, X)


def make_objective_scorer(cost_weight: float) -> Callable[[Estimator, ArrayLike, ArrayLike], float]:
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
        The estimator may be a Pipeline that ends with an adaptive classifier.

    See Also
    --------
    budget_scoring : Scores for a target (accuracy loss or cost budget) instead.
    neg_average_cost_scorer : Minus the mean cost alone.

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
    >>> search.best_params_
    {'cost_weight': 0.01}
    >>> round(float(search.best_score_), 3)   # -(error rate + 0.1 * normalised cost)
    -0.194
    """
    weight = float(cost_weight)
    if not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f"cost_weight must be a finite number >= 0, got {cost_weight!r}.")

    def objective_scorer(estimator, X, y):
        estimator, X = _final_step(estimator, X)
        res = estimator.route(X)
        error = np.mean(estimator.classes_[res.proba.argmax(axis=1)] != np.asarray(y))
        cost = np.mean(res.cost) / float(estimator.costs_.sum())
        return -float(error + weight * cost)

    return objective_scorer


def neg_relative_cost_scorer(estimator: Estimator, X: ArrayLike, y: Any = None) -> float:
    """Scorer: minus the mean cost as a fraction of :func:`reference_cost` (greater is better).

    ``-0.5`` means half the cost of the most expensive model (network selection) or of
    the full model (early exit): the units of ``max_cost`` in :func:`most_accurate_under`.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The held-out rows.
    y : array-like of shape (n_samples,), default=None
        Ignored: the cost does not depend on the labels.

    Returns
    -------
    score : float
        ``-average_cost(estimator, X) / reference_cost(estimator)``.

    See Also
    --------
    reference_cost : The cost that this one is a fraction of.
    budget_scoring : This score with the accuracies, from one routing pass.
    most_accurate_under : A ``refit`` rule with a budget in these units.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import neg_relative_cost_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(neg_relative_cost_scorer(clf, X[800:1200], y[800:1200]), 4)   # -3.725 / 10
    -0.3725
    """
    return -1.0 / speedup(estimator, X)


def reference_accuracy_scorer(estimator: Estimator, X: ArrayLike, y: ArrayLike) -> float:
    """Scorer: accuracy of the non-adaptive reference on ``X``, for :func:`cheapest_within`.

    The most expensive model alone (network selection) or the full model (early exit),
    run on every row: the accuracy that ``max_accuracy_loss`` is measured from.

    Parameters
    ----------
    estimator : estimator
        A fitted adaptive classifier, or a Pipeline that ends with one.
    X : array-like of shape (n_samples, n_features)
        The held-out rows.
    y : array-like of shape (n_samples,)
        The true labels of ``X``.

    Returns
    -------
    score : float
        The fraction of the rows of ``X`` that the reference classifies right.

    See Also
    --------
    reference_cost : Per-row cost of the same reference.
    budget_scoring : This score with the estimator's accuracy and relative cost.
    cheapest_within : A ``refit`` rule that bounds the loss against this accuracy.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import reference_accuracy_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> round(reference_accuracy_scorer(clf, X[800:1200], y[800:1200]), 3)   # knn alone
    0.96
    >>> round(clf.score(X[800:1200], y[800:1200]), 3)   # the adaptive classifier
    0.865
    """
    estimator, X = _final_step(estimator, X)
    X = estimator._validate_X(X, reset=False)
    proba = estimator._reference_proba(X)
    return float(np.mean(estimator.classes_[proba.argmax(axis=1)] == np.asarray(y)))
