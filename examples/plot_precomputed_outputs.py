"""
==========================================================
Learning a routing policy from saved stage outputs
==========================================================

You may already have your models, and their predicted probabilities saved on a validation
set and a test set. :class:`~skadaptive.RoutingPolicy` learns the paper's routing policies
from those arrays alone, without running any model again: the policies only ever look at
the stages' outputs. This is how Bolukbasi et al. ran their own experiments, on the saved
outputs of ImageNet networks.

This example builds such arrays on the digits data, learns a policy from them, and
compares it with the baselines of :mod:`skadaptive.baselines`: confidence thresholds, and
the oracle that knows the labels.
"""

# %%
# The saved outputs
# -----------------
# Stage outputs are one array of shape ``(n_samples, n_stages, n_classes)``: the class
# probabilities of every stage for every row. The policies must learn from outputs on rows
# the models were not trained on, otherwise the cheap models look more reliable than they
# are. Here the learning rows get out-of-fold probabilities
# (:func:`~sklearn.model_selection.cross_val_predict`), and the test rows the probabilities
# of the models trained on all the learning rows.
#
# The three stages are the ladder of the network-selection example: a logistic regression,
# a small neural network and an RBF SVM, with costs in approximate multiply-adds per row.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from skadaptive import RoutingPolicy
from skadaptive.baselines import ThresholdPolicy, oracle_route
from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_learn, X_test, y_learn, y_test = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
models = {
    "logistic": LogisticRegression(C=0.1, max_iter=2000),
    "mlp": MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, random_state=0),
    "svm": CalibratedClassifierCV(SVC(), ensemble=False),
}
outputs = np.stack(
    [cross_val_predict(m, X_learn, y_learn, cv=3, method="predict_proba") for m in models.values()],
    axis=1,
)
test_outputs = np.stack(
    [m.fit(X_learn, y_learn).predict_proba(X_test) for m in models.values()], axis=1
)
names = list(models)
costs = np.array([64 * 10, 64 * 64 + 64 * 10, 64 * 600])
del models, X_learn, X_test  # from here on, only the arrays and the labels are used
print("learning outputs:", outputs.shape, " test outputs:", test_outputs.shape)

# %%
# Each stage alone on the test rows, for reference:

stage_accuracy = (test_outputs.argmax(axis=2) == y_test[:, None]).mean(axis=0)
for name, accuracy, cost in zip(names, stage_accuracy, costs):
    print(f"{name:>8} alone: accuracy {accuracy:.4f}, cost {cost}")
reference_accuracy, reference_cost = stage_accuracy[-1], costs[-1]

# %%
# Learning the policy
# -------------------
# :class:`~skadaptive.RoutingPolicy` takes the same ``costs``, ``cost_weight`` and
# ``topology`` as the estimators. ``topology="jump"`` lets a row skip the network and go
# straight from the logistic regression to the SVM (the paper's network-selection graph).
# ``route`` returns, for every test row, the answering stage's probabilities, which stage
# answered, which stages ran and what the route cost. (If your arrays hold logits, pass
# ``outputs="logits"``.)

policy = RoutingPolicy(costs=costs, cost_weight=0.01, topology="jump").fit(outputs, y_learn)
learned = policy.route(test_outputs)
learned_accuracy = np.mean(learned.proba.argmax(axis=1) == y_test)
print(
    f"learned policy: accuracy {learned_accuracy:.4f}, average cost {learned.cost.mean():.0f} "
    f"({reference_cost / learned.cost.mean():.1f}x below the SVM's {reference_cost})"
)
print("rows answered per stage:", np.bincount(learned.stage, minlength=3).tolist())
jumped = learned.path[:, 0] & ~learned.path[:, 1] & learned.path[:, 2]
print(f"rows that skipped the network and jumped to the SVM: {jumped.sum()}")

# %%
# The baselines
# -------------
# :class:`~skadaptive.baselines.ThresholdPolicy` answers at the first stage whose largest
# probability reaches a threshold. It learns nothing, so its threshold must be chosen: for a
# fair comparison we choose it on the *learning* rows (never on the test rows), as the
# lowest threshold whose average cost there is at least the learned policy's cost there.
# Both routers then spend about the same budget on the learning rows, and we compare them
# on the test rows.
#
# :func:`~skadaptive.baselines.oracle_route` knows the labels: each row answers at the
# cheapest stage that gets it right. No policy over these stages can be more accurate.

budget = policy.predict_cost(outputs).mean()
grid = np.linspace(0.5, 1.0, 101)
learn_costs = np.array(
    [ThresholdPolicy(t, costs=costs).fit(outputs).predict_cost(outputs).mean() for t in grid]
)
threshold = grid[np.argmax(learn_costs >= budget)]
baseline = ThresholdPolicy(threshold, costs=costs).fit(outputs)
by_threshold = baseline.route(test_outputs)
threshold_accuracy = np.mean(by_threshold.proba.argmax(axis=1) == y_test)

oracle = oracle_route(test_outputs, y_test, costs, topology="jump")
oracle_accuracy = np.mean(oracle.proba.argmax(axis=1) == y_test)

print(f"{'router':>30} {'accuracy':>9} {'avg cost':>9}")
rows = [
    ("SVM alone", reference_accuracy, reference_cost),
    ("learned, cost_weight=0.01", learned_accuracy, learned.cost.mean()),
    (f"threshold {threshold:.3f}", threshold_accuracy, by_threshold.cost.mean()),
    ("oracle (knows the labels)", oracle_accuracy, oracle.cost.mean()),
]
for name, accuracy, cost in rows:
    print(f"{name:>30} {accuracy:9.4f} {cost:9.0f}")

# %%
# The printed table compares the routers at a budget matched on the learning rows (the
# test costs differ somewhat, and are printed too). With a few hundred test rows,
# one row is worth more than a tenth of a point of accuracy, so differences of one or two
# rows are noise. The oracle's line shows the room left: it pays, on each row, for the
# cheapest route to a correct answer, a floor that no policy without the labels can be
# expected to reach.
#
# The whole curve, from the arrays
# --------------------------------
# :meth:`~skadaptive.plotting.CostAccuracyDisplay.from_predictions` draws the same
# comparison for a sweep of ``cost_weight`` values and thresholds: the policies learn on the
# learning rows' outputs and every point is evaluated on the test rows' outputs.

fig, ax = plt.subplots(figsize=(7, 4.5))
disp = CostAccuracyDisplay.from_predictions(
    outputs,
    y_learn,
    eval_outputs=test_outputs,
    y_eval=y_test,
    costs=costs,
    topology="jump",
    stage_names=names,
    ax=ax,
)
ax.plot(learned.cost.mean() / reference_cost, learned_accuracy, "kX", ms=11)
ax.annotate(
    "cost_weight=0.01",
    (learned.cost.mean() / reference_cost, learned_accuracy),
    textcoords="offset points",
    xytext=(-30, 10),
)
ax.set_xscale("log")
ax.set_title("Routers learned from saved outputs (test rows)")

# %%
# Where each router answers
# -------------------------
# :meth:`~skadaptive.plotting.ExitShareDisplay.from_predictions` takes the answering stage
# of each row (``route(...).stage``). The learned policy and the threshold spend about the
# same average cost, but not on the same rows: the threshold has no jump edge, so every row
# it sends to the SVM also pays for the network.

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True)
for ax, (title, routed) in zip(
    axes, [("learned", learned), ("threshold", by_threshold), ("oracle", oracle)]
):
    ExitShareDisplay.from_predictions(routed.stage, stage_names=names, name=title, ax=ax)
fig.tight_layout()

# %%
# One threshold per stage
# -----------------------
# ``ThresholdPolicy`` also takes one threshold per exit: here a looser one after the
# logistic regression and a stricter one after the network. These two values are picked by
# hand for illustration; to compare fairly, choose them on the learning rows, as above.
# Budget mode (:class:`~skadaptive.NetworkSelectionClassifierCV`) tunes such thresholds
# jointly on held-out folds.

pair = ThresholdPolicy([0.9, 0.99], costs=costs).fit(outputs)
print(
    f"thresholds (0.9, 0.99): test accuracy {pair.score(test_outputs, y_test):.4f}, "
    f"average cost {pair.predict_cost(test_outputs).mean():.0f}"
)
