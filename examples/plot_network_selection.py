"""
====================================================
Network selection: a ladder of models of rising cost
====================================================

Most handwritten digits are easy: a linear model gets them right. Only a few need an
expensive model. :class:`~skadaptive.NetworkSelectionClassifier` learns, for each row, whether
the cheap model's answer is good enough, whether to run the next model, or whether to jump
straight to the most expensive one, and pays only for the models it runs.

This example builds a ladder of three scikit-learn models on the digits data, fits the
adaptive classifier with two values of ``cost_weight``, and compares its accuracy and its
average cost with the most expensive model used alone.
"""

# %%
# The data and the ladder
# -----------------------
# We keep 40% of the digits aside as a test set. The three models, cheapest first, are a
# logistic regression, a small neural network and an RBF support vector machine (wrapped in
# :class:`~sklearn.calibration.CalibratedClassifierCV`, which gives it class probabilities).
#
# The ``costs`` are one number per model, in any unit. Here they are the approximate number
# of multiply-adds per row: 64 pixels times 10 classes for the logistic regression,
# 64 x 64 + 64 x 10 for the network with one hidden layer of 64 units, and 64 per support
# vector for the SVM (which has about 600 of them on this data; the count is printed below).
# This is a *cost model*, not a stopwatch: the wall clock is measured at the end.

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from skadaptive import NetworkSelectionClassifier
from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)

ladder = [
    ("logistic", LogisticRegression(C=0.1, max_iter=2000)),
    ("mlp", MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, random_state=0)),
    ("svm", CalibratedClassifierCV(SVC(), ensemble=False)),
]
costs = [64 * 10, 64 * 64 + 64 * 10, 64 * 600]

# %%
# Fitting the adaptive classifier
# -------------------------------
# ``fit`` cross-fits every model (``cv=3``): the routing policies must learn from the
# models' answers on rows those models were not trained on, otherwise they would trust the
# cheap models too much. The models are then refitted on all the training rows.
#
# ``cost_weight`` is the price of cost in units of errors: with costs normalised so that
# running every model costs 1, ``cost_weight=0.01`` says that running everything on a row
# is worth it only if it removes more than 0.01 expected errors. We fit two values.

fitted = {}
for cost_weight in [0.01, 0.1]:
    clf = NetworkSelectionClassifier(
        ladder, costs=costs, cost_weight=cost_weight, cv=3, random_state=0
    )
    fitted[cost_weight] = clf.fit(X_train, y_train)

svm = fitted[0.01].named_estimators_["svm"]
n_support = svm.calibrated_classifiers_[0].estimator.n_support_.sum()
print(f"support vectors of the SVM: {n_support}")

# %%
# Accuracy and average cost on the test rows
# ------------------------------------------
# The reference is the most expensive model alone: what one would serve without adaptive
# inference. ``predict_cost`` gives each test row the cost of the models its route ran;
# ``apply`` says which model answered it.

reference_accuracy = svm.score(X_test, y_test)
reference_cost = costs[-1]
print(f"{'':>26} {'accuracy':>9} {'avg cost':>9} {'cheaper by':>10}   rows answered by")
for name, est in fitted[0.01].named_estimators_.items():
    print(f"{name + ' alone':>26} {est.score(X_test, y_test):9.4f}")
for cost_weight, clf in fitted.items():
    cost = clf.predict_cost(X_test).mean()
    answered = np.bincount(clf.apply(X_test), minlength=3)
    print(
        f"{f'adaptive, cost_weight={cost_weight:g}':>26} {clf.score(X_test, y_test):9.4f} "
        f"{cost:9.0f} {reference_cost / cost:9.1f}x   "
        + ", ".join(f"{name} {n}" for name, n in zip(clf.named_estimators_, answered))
    )
print(f"reference (svm alone) costs {reference_cost} a row, accuracy {reference_accuracy:.4f}")

# %%
# The printed table shows the trade: the smaller ``cost_weight`` sends more rows on to the
# network and the SVM and stays closer to the SVM's accuracy; the larger one answers more
# rows with the logistic regression and saves more. "Cheaper by" is the ratio of the SVM's
# cost to the average cost per row, in the cost model's units.
#
# The whole trade-off curve
# -------------------------
# :class:`~skadaptive.plotting.CostAccuracyDisplay` sweeps ``cost_weight`` over a grid and
# draws the accuracy against the average cost (as a fraction of the SVM's cost). Passing
# ``y_train`` makes the sweep learn on the same out-of-fold outputs as the fitted
# estimator, and evaluate every point on the test rows. It also draws:
#
# - a confidence-threshold baseline (answer as soon as a model's largest probability passes
#   a threshold), the usual heuristic;
# - the *oracle*, which knows the labels and answers each row with the cheapest model that
#   gets it right: no policy over these models can beat its accuracy;
# - each model used alone, and the fitted estimator's own point.

disp = CostAccuracyDisplay.from_estimator(
    fitted[0.01], X_test, y_test, y_train=y_train, name="learned"
)
disp.ax_.set_xscale("log")
disp.ax_.set_title("Digits: logistic -> MLP -> SVM")
print(f"oracle: accuracy {disp.oracle_.accuracy:.4f} at cost {disp.oracle_.cost:.0f}")

# %%
# How do the learned policies compare with the thresholds at equal cost? The fitted
# estimator's point (the black cross) against the most accurate threshold that costs no
# more:

point, thresholds = disp.operating_point_, disp.threshold_
cheaper = thresholds.cost <= point.cost
print(
    f"learned (cost_weight=0.01): accuracy {point.accuracy:.4f} at cost {point.cost:.0f}; "
    f"best threshold at no more cost: {thresholds.accuracy[cheaper].max():.4f}"
)

# %%
# With a few hundred test rows, one row is worth more than a tenth of a point of accuracy,
# so small gaps between the two curves are noise; the project's benchmarks compare them on
# larger data. The oracle shows how much room any policy has left: no policy can be more
# accurate, and it is typically much cheaper, because it knows which rows the logistic
# regression gets right.
#
# Where the rows are answered
# ---------------------------
# :class:`~skadaptive.plotting.ExitShareDisplay` shows the share of test rows answered by
# each model, for both fitted values of ``cost_weight``.

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, (cost_weight, clf) in zip(axes, fitted.items()):
    ExitShareDisplay.from_estimator(clf, X_test, ax=ax, name=f"cost_weight={cost_weight:g}")
fig.tight_layout()

# %%
# Wall clock
# ----------
# The cost model above counts multiply-adds. A real ``predict`` also pays per call (Python,
# input checks, the policies), so we time the adaptive ``predict`` on all the test rows in
# one call against the SVM's own ``predict`` on the same rows (median of 5 runs). The
# measured ratio depends on the machine and on the batch size (on single rows the fixed
# cost of each call weighs far more), and need not match the cost model's ratio.


def median_time(func, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(X_test)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


svm_time = median_time(svm.predict)
for cost_weight, clf in fitted.items():
    adaptive_time = median_time(clf.predict)
    print(
        f"cost_weight={cost_weight:g}: predict {1e3 * adaptive_time:.1f} ms against the SVM's "
        f"{1e3 * svm_time:.1f} ms on {len(X_test)} rows: measured speed-up "
        f"{svm_time / adaptive_time:.1f}x"
    )

# %%
# With ``costs="time"`` instead of fixed numbers, ``fit`` measures each model's time per
# call and per row at the batch size you serve (``serving_batch_size``), so that the
# policies trade accuracy against seconds rather than multiply-adds; the fit then varies
# from run to run, which is why this example uses fixed costs.
