"""The numbers behind :class:`~skadaptive.plotting.CostAccuracyDisplay` (no matplotlib).

Every point of the plot, evaluated on given stage outputs: the learned path (budget
mode's lambda sweep, :func:`skadaptive._candidates.learned_path`, held out or
cross-fitted), maximum-probability thresholds, the oracle and each stage alone.
"""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch

from ._candidates import learned_path
from ._losses import stage_losses
from ._plain_routers import ThresholdPolicy
from ._policy import RoutingPolicy
from ._rows import optional_rows
from .baselines import oracle_route

N_THRESHOLDS = 20


def accuracy(proba, y, classes):
    return float(np.mean(classes[np.argmax(proba, axis=1)] == y))


def default_thresholds(outputs):
    """Quantiles of the non-final stages' largest probabilities, and one above them all."""
    top = outputs[:, :-1].max(axis=2)
    grid = np.quantile(top, np.linspace(0, 1, N_THRESHOLDS))
    return np.unique(np.r_[grid, np.nextafter(top.max(), np.inf)])


def learned_path_points(template, cost_weights, fit, evaluate, cv):
    """Mean cost and accuracy on ``evaluate`` of one policy per cost weight.

    ``fit`` and ``evaluate`` are ``(outputs, y, X)``.  With ``cv`` (then ``fit`` is None) the
    policies are cross-fitted on ``evaluate``: each row is routed by a policy that did not
    learn from it.  The policies come from :func:`skadaptive._candidates.learned_path`, the
    lambda sweep of budget mode.
    """
    outputs, y, X = evaluate
    classes = np.asarray(template.classes)
    folds = [(None, slice(None))]
    if cv is not None:
        folds = list(check_cv(cv, y, classifier=True).split(outputs, y))
    cost = np.zeros((len(cost_weights), len(y)))
    right = np.zeros((len(cost_weights), len(y)), dtype=bool)
    for train, test in folds:
        if cv is None:
            fit_outputs, fit_y, fit_X = fit
        else:
            fit_outputs, fit_y, fit_X = outputs[train], y[train], optional_rows(X, train)
        losses = stage_losses(fit_outputs, fit_y, classes, template.loss, template.top_k)
        X_test = X if isinstance(test, slice) else optional_rows(X, test)
        path = learned_path(template, cost_weights, fit_outputs, losses, fit_X)
        for i, (_, policy) in enumerate(path):
            res = policy.route(outputs[test], X=X_test)
            cost[i, test] = res.cost
            right[i, test] = classes[res.proba.argmax(axis=1)] == y[test]
    return Bunch(cost_weight=cost_weights, cost=cost.mean(axis=1), accuracy=right.mean(axis=1))


def sweep(template, *, fit, evaluate, cv, cost_weights, thresholds, reference, names):
    """Every point of the plot, evaluated on ``evaluate = (outputs, y, X)``."""
    outputs, y, _ = evaluate
    costs, classes = template.costs, np.asarray(template.classes)
    thresholds = default_thresholds(outputs) if thresholds is None else thresholds
    routes = [
        ThresholdPolicy(t, costs=costs, classes=classes).fit(outputs).route(outputs)
        for t in thresholds
    ]
    threshold = Bunch(
        threshold=thresholds,
        cost=np.array([res.cost.mean() for res in routes]),
        accuracy=np.array([accuracy(res.proba, y, classes) for res in routes]),
    )
    res = oracle_route(outputs, y, costs, topology=template.topology, classes=classes)
    stages = Bunch(
        name=names,
        cost=np.cumsum(costs) if reference == "full" else np.array(costs, dtype=float),
        accuracy=np.array([accuracy(outputs[:, k], y, classes) for k in range(len(costs))]),
    )
    return dict(
        learned=learned_path_points(template, cost_weights, fit, evaluate, cv),
        threshold=threshold,
        oracle=Bunch(cost=float(res.cost.mean()), accuracy=accuracy(res.proba, y, classes)),
        stages=stages,
        reference_cost=float(np.sum(costs) if reference == "full" else costs[-1]),
    )


def check_training_labels(final, template, y_train, cost_weight):
    """Warn when refitting the estimator's policy on ``y_train`` does not reproduce it.

    Only a learned policy (``RoutingPolicy``) can be checked this way.
    """
    if not isinstance(final.policy_, RoutingPolicy) or cost_weight is None:
        return
    refit = clone(template).set_params(cost_weight=cost_weight).fit(final.oof_outputs_, y_train)
    if not np.isclose(refit.train_objective_, final.policy_.train_objective_):
        warnings.warn(
            "Refitting the estimator's policy on y_train does not reproduce its training "
            "objective: are these the labels the estimator was fitted on, in order? (A fit "
            "with sample_weight, or a randomised policy_estimator, also differs.)",
            UserWarning,
            stacklevel=3,
        )
