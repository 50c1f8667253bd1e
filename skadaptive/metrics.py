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


def average_cost(estimator, X, y=None):
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


def speedup(estimator, X, y=None):
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
    return reference_cost(estimator) / average_cost(estimator, X)


def neg_average_cost_scorer(estimator, X, y=None):
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


def speedup_scorer(estimator, X, y=None):
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


def reference_accuracy_scorer(estimator, X, y):
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
