"""Cost-aware metrics and scorers for the adaptive classifiers.

Accuracy alone cannot choose ``cost_weight``: it usually favours running the most
expensive model on every row.  These scorers put the cost in (each accepts the estimator
itself or a Pipeline that ends with it):

- :func:`average_cost` and :func:`speedup` report what ``predict`` costs;
- :func:`make_objective_scorer` scores ``-(error + lambda * normalised cost)``
  at a lambda *you* fix, so that a grid search over ``cost_weight`` compares
  every candidate on the same objective;
- :data:`neg_average_cost_scorer` and :data:`speedup_scorer` plug into
  ``GridSearchCV(scoring={...})`` next to ``"accuracy"``;
- :func:`budget_scoring` with :func:`cheapest_within` or :func:`most_accurate_under`
  as ``refit`` picks, from a grid, the cheapest candidate within an accuracy loss of
  the most expensive model, or the most accurate one under a cost budget.
"""

import numpy as np
from sklearn.pipeline import Pipeline

from ._choice import best_under
from ._fitting import all_frozen, frozen_outputs
from ._rows import safe_rows

__all__ = [
    "average_cost",
    "budget_scoring",
    "cheapest_within",
    "most_accurate_under",
    "neg_relative_cost_scorer",
    "reference_accuracy_scorer",
    "make_objective_scorer",
    "neg_average_cost_scorer",
    "reference_cost",
    "speedup",
    "speedup_scorer",
]


def _final_step(estimator, X):
    """The adaptive classifier at the end of a Pipeline, and X transformed for it."""
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1 and X is not None:
            X = estimator[:-1].transform(X)
        return _final_step(estimator[-1], X)
    return estimator, X


def reference_cost(estimator):
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
        The reference's cost per row, in the units of ``costs_``.
    """
    estimator, _ = _final_step(estimator, None)
    return estimator._reference_cost()


def average_cost(estimator, X, y=None):
    """Mean per-row cost of ``estimator.predict(X)``, in the units of ``costs_``."""
    estimator, X = _final_step(estimator, X)
    return float(np.mean(estimator.predict_cost(X)))


def speedup(estimator, X, y=None):
    """``reference_cost / average_cost``: how many times cheaper than the reference."""
    return reference_cost(estimator) / average_cost(estimator, X)


def neg_average_cost_scorer(estimator, X, y=None):
    """Scorer: minus :func:`average_cost`, in the units of ``costs_`` (greater is better)."""
    return -average_cost(estimator, X)


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


def neg_relative_cost_scorer(estimator, X, y=None):
    """Scorer: minus the mean cost as a fraction of :func:`reference_cost` (greater is better).

    ``-0.5`` means half the cost of the most expensive model (network selection) or of
    the full model (early exit): the units of ``max_cost`` in :func:`most_accurate_under`.
    """
    return -1.0 / speedup(estimator, X)


def reference_accuracy_scorer(estimator, X, y):
    """Scorer: accuracy of the non-adaptive reference on ``X``, for :func:`cheapest_within`.

    The most expensive model alone (network selection) or the full model (early exit),
    run on every row: the accuracy that ``max_accuracy_loss`` is measured from.
    """
    estimator, X = _final_step(estimator, X)
    X = estimator._validate_X(X, reset=False)
    proba = estimator._reference_proba(X)
    return float(np.mean(estimator.classes_[proba.argmax(axis=1)] == np.asarray(y)))


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


def budget_scoring():
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
        ``scoring(estimator, X, y) -> dict``.
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


def cheapest_within(max_accuracy_loss):
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

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.metrics import budget_scoring, cheapest_within
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))],
    ...     costs=[1, 20], cv=3, random_state=0)
    >>> search = GridSearchCV(
    ...     clf, {"cost_weight": [0.0, 0.01, 0.1, 1.0]}, cv=3,
    ...     scoring=budget_scoring(), refit=cheapest_within(0.01)).fit(X, y)
    >>> res = search.cv_results_
    >>> i = search.best_index_
    >>> bool(res["mean_test_accuracy"][i] >= res["mean_test_reference_accuracy"][i] - 0.01)
    True
    """
    max_accuracy_loss = float(max_accuracy_loss)
    if not max_accuracy_loss >= 0:
        raise ValueError(f"max_accuracy_loss must be >= 0, got {max_accuracy_loss}.")

    def refit(cv_results):
        # Losses against the reference's: the bound is max_accuracy_loss.
        loss = _column(cv_results, "reference_accuracy") - _column(cv_results, "accuracy")
        return best_under(loss, max_accuracy_loss, -_column(cv_results, "neg_relative_cost"))[0]

    return refit


def most_accurate_under(max_cost):
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
    """
    max_cost = float(max_cost)
    if not max_cost > 0:
        raise ValueError(f"max_cost must be > 0, got {max_cost}.")

    def refit(cv_results):
        cost = -_column(cv_results, "neg_relative_cost")
        return best_under(cost, max_cost, -_column(cv_results, "accuracy"))[0]

    return refit
