"""
====================================================
Choosing ``cost_weight``: grid search or a target
====================================================

``cost_weight`` (the paper's lambda) sets the price of cost in units of errors. Few users
know the right price; they know a requirement instead: "no more than one point of accuracy
below the best model", or "at most a tenth of its cost". This example shows two ways to turn
such a requirement into an adaptive classifier:

1. a :class:`~sklearn.model_selection.GridSearchCV` over ``cost_weight`` with the package's
   cost-aware scorers (:mod:`skadaptive.metrics`);
2. *budget mode*, :class:`~skadaptive.NetworkSelectionClassifierCV`, which takes the target
   itself and chooses among learned policies over a path of ``cost_weight`` values and
   tuned confidence thresholds.
"""

# %%
# Three models trained once, then frozen
# --------------------------------------
# The digits are split in three: one part trains the models, one part (never seen by the
# models) trains and selects the routing policies, and one part is the final test set.
# The trained models are wrapped in :class:`~sklearn.frozen.FrozenEstimator`, so that every
# fit below only learns policies from the models' outputs: a grid search then never
# retrains the models. The costs are the approximate multiply-adds per row of each model
# (a cost model, not a stopwatch).

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from skadaptive import NetworkSelectionClassifier, NetworkSelectionClassifierCV
from skadaptive.exceptions import GuaranteeWarning
from skadaptive.metrics import budget_scoring, cheapest_within

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_models, X_rest, y_models, y_rest = train_test_split(
    X, y, test_size=0.66, stratify=y, random_state=0
)
X_policy, X_test, y_policy, y_test = train_test_split(
    X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
)

models = [
    ("logistic", LogisticRegression(C=0.1, max_iter=2000)),
    ("mlp", MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, random_state=0)),
    ("svm", CalibratedClassifierCV(SVC(), ensemble=False)),
]
frozen = [(name, FrozenEstimator(model.fit(X_models, y_models))) for name, model in models]
costs = [64 * 10, 64 * 64 + 64 * 10, 64 * 600]

svm = frozen[-1][1]
reference_accuracy = svm.score(X_test, y_test)
print(f"rows: {len(X_models)} train the models, {len(X_policy)} the policies, {len(X_test)} test")
for name, model in frozen:
    print(f"{name:>8} alone: test accuracy {model.score(X_test, y_test):.4f}")

# %%
# A grid search with a target
# ---------------------------
# Accuracy alone cannot choose ``cost_weight``: it prefers the candidates that send the most
# rows to the SVM. :func:`~skadaptive.metrics.budget_scoring` scores, on each held-out fold,
# a candidate's accuracy, the reference's accuracy on the same rows (the SVM alone) and the
# candidate's cost as a fraction of the reference's. The ``refit`` rule
# :func:`~skadaptive.metrics.cheapest_within` then picks the cheapest candidate whose mean
# accuracy is within one point of the reference's.

grid = np.geomspace(1e-3, 0.3, 10)
search = GridSearchCV(
    NetworkSelectionClassifier(frozen, costs=costs),
    {"cost_weight": grid},
    cv=5,
    scoring=budget_scoring(),
    refit=cheapest_within(0.01),
).fit(X_policy, y_policy)

results = search.cv_results_
accuracy = results["mean_test_accuracy"]
relative_cost = -results["mean_test_neg_relative_cost"]
best = search.best_index_
print(
    f"chosen cost_weight={search.best_params_['cost_weight']:.4g}: held-out accuracy "
    f"{accuracy[best]:.4f} (SVM alone on the same rows: "
    f"{results['mean_test_reference_accuracy'][best]:.4f}), relative cost {relative_cost[best]:.3f}"
)

# %%
# ``search.score`` does not work with a callable ``refit`` and several scorers (a
# scikit-learn rule), so the chosen estimator is evaluated on the test rows directly:

chosen = search.best_estimator_
grid_test = (chosen.score(X_test, y_test), chosen.predict_cost(X_test).mean() / costs[-1])
print(f"on the test rows: accuracy {grid_test[0]:.4f}, relative cost {grid_test[1]:.3f}")

# %%
# The grid's trade-off, as the search saw it on its held-out folds: one point per
# ``cost_weight``, the larger ones to the left (cheaper). The dashed line is the SVM's
# accuracy, the dotted one the lowest accuracy the target allows; the red cross is the
# cheapest point above it.

fig, ax = plt.subplots(figsize=(6.5, 4.2))
dots = ax.scatter(relative_cost, accuracy, c=np.log10(grid), cmap="viridis", zorder=3)
fig.colorbar(dots, ax=ax, label="log10(cost_weight)")
ax.plot(relative_cost[best], accuracy[best], "rX", ms=12, zorder=4, label="cheapest within 1 point")
reference = results["mean_test_reference_accuracy"].mean()
ax.axhline(reference, ls="--", c="gray", label="SVM alone")
ax.axhline(reference - 0.01, ls=":", c="gray", label="SVM alone - 1 point")
ax.set(
    xlabel="average cost per row (fraction of the SVM's)",
    ylabel="accuracy",
    title="GridSearchCV over cost_weight (held-out folds)",
)
ax.legend(loc="lower right")

# %%
# Budget mode: give the target, not the lambda
# --------------------------------------------
# :class:`~skadaptive.NetworkSelectionClassifierCV` computes the models' outputs once and
# compares, on ``selection_cv`` held-out folds, three families of routers: the learned
# policies along a path of ``cost_weight`` values, per-model confidence thresholds tuned
# jointly for a range of cost budgets, and thresholds on the learned policies' scores
# ("hybrid"), plus the reference itself. For an accuracy target it keeps the cheapest
# candidate whose held-out loss increase *plus one standard error* meets the target: the
# margin guards against picking the luckiest of many noisy estimates.

budget = NetworkSelectionClassifierCV(
    frozen, costs=costs, max_accuracy_loss=0.01, random_state=0
).fit(X_policy, y_policy)
estimate = budget.estimate_
print(
    f"budget mode chose the {budget.best_family_!r} family; it promises a loss increase of "
    f"{estimate['loss_increase']:+.4f} (90% interval {estimate['loss_increase_interval'][0]:+.4f}"
    f" to {estimate['loss_increase_interval'][1]:+.4f}) at a relative cost of "
    f"{estimate['relative_cost']:.3f}"
)
budget_test = (budget.score(X_test, y_test), budget.predict_cost(X_test).mean() / costs[-1])
print(f"on the test rows: accuracy {budget_test[0]:.4f}, relative cost {budget_test[1]:.3f}")

# %%
# The estimate comes from the held-out folds of the policy rows; the test rows check it.
# With a few hundred rows the intervals are wide: budget mode states its uncertainty
# rather than hiding it.
#
# One fit, many targets
# ---------------------
# No candidate depends on the target, so :meth:`~skadaptive.NetworkSelectionClassifierCV.retarget`
# chooses for another target from the same evaluated path, without refitting the
# candidates. A cost target (``max_relative_cost``) works the same way: the most accurate
# candidate within the budget.

targets = [0.0, 0.005, 0.01, 0.02, 0.04]
print(f"{'target':>22} {'family':>10} {'test accuracy':>14} {'relative cost':>14}")
points = []
for target in targets:
    fitted = budget.retarget(max_accuracy_loss=target)
    test_cost = fitted.predict_cost(X_test).mean() / costs[-1]
    points.append((test_cost, fitted.score(X_test, y_test)))
    print(
        f"{f'loss <= {target:g}':>22} {fitted.best_family_:>10} {points[-1][1]:14.4f} "
        f"{test_cost:14.3f}"
    )
cheap = budget.retarget(max_relative_cost=0.05)
cheap_test = (cheap.predict_cost(X_test).mean() / costs[-1], cheap.score(X_test, y_test))
print(
    f"{'relative cost <= 0.05':>22} {cheap.best_family_:>10} {cheap_test[1]:14.4f} "
    f"{cheap_test[0]:14.3f}"
)

# %%
# Every candidate budget mode evaluated, by family, on its held-out folds (left), and the
# routers chosen for each target, on the test rows (right). Each candidate is a point; the
# families overlap where they agree.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
path = budget.cv_results_
families = np.asarray(path["family"])
for family, marker in [("learned", "o"), ("thresholds", "s"), ("hybrid", "^"), ("reference", "D")]:
    mask = families == family
    left.plot(
        np.asarray(path["mean_test_relative_cost"])[mask],
        np.asarray(path["mean_test_accuracy"])[mask],
        marker,
        ls="none",
        alpha=0.7,
        label=family,
    )
chosen_index = budget.best_index_
left.plot(
    path["mean_test_relative_cost"][chosen_index],
    path["mean_test_accuracy"][chosen_index],
    "kX",
    ms=11,
    label="chosen, loss <= 0.01",
)
left.set(
    xscale="log",
    xlabel="average cost per row (fraction of the SVM's)",
    ylabel="accuracy",
    title="budget mode: the candidates (held-out folds)",
)
left.legend(loc="lower right")

test_cost, test_accuracy = np.transpose(points)
right.plot(test_cost, test_accuracy, "o-", label="chosen for a loss target")
for target, x, acc in zip(targets, test_cost, test_accuracy):
    right.annotate(f"<= {target:g}", (x, acc), textcoords="offset points", xytext=(-12, -14))
right.plot(*cheap_test, "s", label="chosen for relative cost <= 0.05")
right.plot(*grid_test[::-1], "kX", ms=11, label="grid search, within 1 point")
right.axhline(reference_accuracy, ls="--", c="gray", label="SVM alone")
right.set(
    xscale="log",
    xlabel="average cost per row (fraction of the SVM's)",
    title="what each choice gives on the test rows",
)
right.set_xticks([0.03, 0.1, 0.3, 1.0], ["0.03", "0.1", "0.3", "1"])
right.xaxis.set_minor_formatter(plt.NullFormatter())
right.legend(loc="lower right")
fig.tight_layout()

# %%
# Which to use? Budget mode is the intended way: it computes the models' outputs once,
# fits the whole path of candidates on them, and considers the threshold families that a
# grid over ``cost_weight`` does not. A grid search remains useful to tune other
# parameters at the same time; give the estimator a ``memory`` (a cache directory) when
# the models are not frozen, so that they run once per training fold instead of once per
# candidate.
#
# A guarantee instead of an estimate
# ----------------------------------
# Held-out folds estimate; they do not promise. With ``confidence=0.9`` budget mode
# *certifies* its choice: it keeps half of the policy rows aside, tests the candidates on
# them, and serves a router whose expected accuracy loss on new rows from the same
# distribution is within the target with probability at least 0.9. When no candidate can
# be certified it serves the reference and says so with a
# :class:`~skadaptive.exceptions.GuaranteeWarning`, which we catch and print here.

for target in [0.01, 0.02]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GuaranteeWarning)
        certified = NetworkSelectionClassifierCV(
            frozen, costs=costs, max_accuracy_loss=target, confidence=0.9, random_state=0
        ).fit(X_policy, y_policy)
    print(
        f"target {target:g}: certified={certified.estimate_['certified']}, serves the "
        f"{certified.best_family_!r} router; on the test rows accuracy "
        f"{certified.score(X_test, y_test):.4f}, relative cost "
        f"{certified.predict_cost(X_test).mean() / costs[-1]:.3f}"
    )
    for warning in caught:
        print("  GuaranteeWarning:", warning.message)

# %%
# The certificate needs evidence: with about 300 calibration rows, a tight target may not
# be certifiable for any router cheaper than the reference, while a looser one can be. The
# printed lines show which of the two targets was certified on this data. The price of
# the guarantee is speed, and it grows as the data shrinks; see the user guide for what
# exactly is guaranteed.
