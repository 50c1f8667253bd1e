"""Budget targets in ``GridSearchCV``: one scoring pass, and refit rules that read it.

:func:`budget_scoring` scores accuracy, the reference's accuracy and the relative cost
from one routing pass; :func:`cheapest_within` and :func:`most_accurate_under` pick a
candidate from them with the one selection rule of the package.  Public in
:mod:`skadaptive.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._choice import best_under
from ._fitting import all_frozen, frozen_outputs
from ._rows import safe_rows
from ._scorers import reference_cost
from ._validation import Estimator
from ._validation import final_step as _final_step

__all__ = ["budget_scoring", "cheapest_within", "most_accurate_under"]


def _route_for_scores(estimator, X):
    """One routing pass over validated ``X``, and the reference's probabilities.

    With ``memory`` and frozen stages, every stage's outputs on ``X`` come from the
    cache (computed once per held-out fold for all the candidates of a search) and
    the policy routes on them, as it does in ``fit``.  Otherwise the rows are routed
    through the stages, and the reference runs on the rows that the route did not
    already answer with it.
    """
    templates = estimator._stage_templates()
    if estimator.memory is not None and all_frozen(templates):
        outputs = frozen_outputs(
            estimator.memory, templates, estimator.stage_model_, X, estimator.classes_
        )
        policy = estimator.policy_
        return policy.route(outputs, X if policy.uses_X else None), outputs[:, -1]
    res = estimator.route(X)
    reference = res.proba.copy()
    need = np.flatnonzero(res.stage != estimator.n_stages_ - 1)
    if len(need):
        reference[need] = estimator._reference_proba(safe_rows(X, need))
    return res, reference


def _budget_scores(estimator, X, y):
    """Accuracy, reference accuracy and relative cost from one routing pass."""
    estimator, X = _final_step(estimator, X)
    X = estimator._validate_X(X, reset=False)
    res, reference = _route_for_scores(estimator, X)
    y = np.asarray(y)
    classes = estimator.classes_
    return {
        "accuracy": float(np.mean(classes[res.proba.argmax(axis=1)] == y)),
        "reference_accuracy": float(np.mean(classes[reference.argmax(axis=1)] == y)),
        "neg_relative_cost": -float(np.mean(res.cost)) / reference_cost(estimator),
    }


def budget_scoring() -> Callable[[Estimator, ArrayLike, ArrayLike], dict[str, float]]:
    """The ``scoring`` that :func:`cheapest_within` and :func:`most_accurate_under` read.

    One callable that returns three metrics, as ``GridSearchCV(scoring=...)`` accepts:
    ``accuracy``, ``reference_accuracy`` (see :func:`reference_accuracy_scorer`) and
    ``neg_relative_cost`` (see :func:`neg_relative_cost_scorer`; negative, as every
    greater-is-better cost in scikit-learn: ``cv_results_`` has
    ``mean_test_neg_relative_cost``), all from one routing pass
    over the held-out rows, plus the reference on the rows the route did not already
    answer with it.  When the estimator has ``memory`` and frozen stages, the stages'
    outputs on each held-out fold are cached and shared by every candidate: a grid
    over ``cost_weight`` then runs the stages once per fold for its scores too.

    Returns
    -------
    scoring : callable
        ``scoring(estimator, X, y) -> dict`` of the three metrics; the estimator may be
        a Pipeline that ends with an adaptive classifier.

    See Also
    --------
    cheapest_within : The ``refit`` rule for an accuracy-loss bound.
    most_accurate_under : The ``refit`` rule for a cost budget.
    make_objective_scorer : One score at a fixed ``cost_weight`` instead.
    skadaptive.NetworkSelectionClassifierCV : Budget mode, which picks the router itself.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import budget_scoring
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> scoring = budget_scoring()
    >>> scores = scoring(clf, X[800:1200], y[800:1200])
    >>> {name: round(value, 4) for name, value in scores.items()}
    {'accuracy': 0.865, 'reference_accuracy': 0.96, 'neg_relative_cost': -0.3725}

    In a search, ``GridSearchCV(clf, {"cost_weight": [...]}, scoring=budget_scoring(),
    refit=cheapest_within(0.01))`` keeps these as the ``cv_results_`` columns
    ``mean_test_accuracy``, ``mean_test_reference_accuracy`` and
    ``mean_test_neg_relative_cost``, which the ``refit`` rules read.
    """
    return _budget_scores


def _column(cv_results, name):
    key = f"mean_test_{name}"
    if key not in cv_results:
        raise KeyError(
            f"cv_results_ has no {key!r}: pass scoring=budget_scoring() (or a dict with a "
            f"{name!r} scorer) to the search."
        )
    return np.asarray(cv_results[key], dtype=float)


def cheapest_within(max_accuracy_loss: float) -> Callable[[Mapping[str, Any]], int]:
    """A ``refit`` rule: the cheapest candidate within an accuracy loss of the reference.

    Candidates whose mean held-out accuracy is at least the reference's mean held-out
    accuracy (the most expensive model, or the full model) minus
    ``max_accuracy_loss`` qualify; the one with the lowest mean relative cost wins
    (ties: the more accurate).  If none qualifies, the most accurate candidate wins
    (ties: the cheaper).
    Use with ``scoring=budget_scoring()``.

    Parameters
    ----------
    max_accuracy_loss : float
        Allowed loss, as a fraction (0.01 = one percentage point).

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> int``, for ``GridSearchCV(refit=...)``.

    See Also
    --------
    budget_scoring : The ``scoring`` whose columns this rule reads.
    most_accurate_under : The rule for a cost budget instead.
    reference_accuracy_scorer : The reference's accuracy on held-out rows.

    Examples
    --------
    The rule reads the ``cv_results_`` of a search run with ``scoring=budget_scoring()``;
    here, three candidates' means, written by hand:

    >>> from skadaptive.metrics import cheapest_within
    >>> cv_results = {
    ...     "mean_test_accuracy": [0.96, 0.955, 0.92],
    ...     "mean_test_reference_accuracy": [0.96, 0.96, 0.96],
    ...     "mean_test_neg_relative_cost": [-1.1, -0.6, -0.3],
    ... }
    >>> cheapest_within(0.01)(cv_results)   # within one point: the cheaper of 0 and 1
    1
    >>> cheapest_within(0.05)(cv_results)
    2
    >>> cheapest_within(0.0)(cv_results)    # only candidate 0 loses nothing
    0

    ``GridSearchCV(clf, {"cost_weight": [...]}, scoring=budget_scoring(),
    refit=cheapest_within(0.01))`` refits the candidate that the rule picks, as
    ``best_index_``.
    """
    max_accuracy_loss = float(max_accuracy_loss)
    if not max_accuracy_loss >= 0:
        raise ValueError(f"max_accuracy_loss must be >= 0, got {max_accuracy_loss}.")

    def refit(cv_results):
        # Losses against the reference's: the bound is max_accuracy_loss.
        loss = _column(cv_results, "reference_accuracy") - _column(cv_results, "accuracy")
        return best_under(loss, max_accuracy_loss, -_column(cv_results, "neg_relative_cost"))[0]

    return refit


def most_accurate_under(max_cost: float) -> Callable[[Mapping[str, Any]], int]:
    """A ``refit`` rule: the most accurate candidate whose cost is within a budget.

    Candidates whose mean held-out cost, as a fraction of the reference's (the most
    expensive model, or the full model), is at most ``max_cost`` qualify; the most
    accurate wins (ties: the cheaper).  If none qualifies, the cheapest wins.  Use
    with ``scoring=budget_scoring()``.

    Parameters
    ----------
    max_cost : float
        Budget as a fraction of the reference cost (0.5 = half the cost).

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> int``, for ``GridSearchCV(refit=...)``.

    See Also
    --------
    budget_scoring : The ``scoring`` whose columns this rule reads.
    cheapest_within : The rule for an accuracy-loss bound instead.
    neg_relative_cost_scorer : The cost as a fraction of the reference's, negated.

    Examples
    --------
    The rule reads the ``cv_results_`` of a search run with ``scoring=budget_scoring()``;
    here, three candidates' means, written by hand:

    >>> from skadaptive.metrics import most_accurate_under
    >>> cv_results = {
    ...     "mean_test_accuracy": [0.96, 0.955, 0.92],
    ...     "mean_test_neg_relative_cost": [-1.1, -0.6, -0.3],
    ... }
    >>> most_accurate_under(0.5)(cv_results)   # only candidate 2 costs at most half
    2
    >>> most_accurate_under(0.8)(cv_results)   # 1 and 2 qualify: the more accurate
    1
    >>> most_accurate_under(0.2)(cv_results)   # none qualifies: the cheapest
    2
    """
    max_cost = float(max_cost)
    if not max_cost > 0:
        raise ValueError(f"max_cost must be > 0, got {max_cost}.")

    def refit(cv_results):
        cost = -_column(cv_results, "neg_relative_cost")
        return best_under(cost, max_cost, -_column(cv_results, "accuracy"))[0]

    return refit
