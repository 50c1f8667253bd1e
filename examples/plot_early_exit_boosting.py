"""
=====================================
Early exit inside a boosted ensemble
=====================================

A gradient-boosting model with 100 iterations evaluates 100 rounds of trees on every row,
although the first few rounds already classify most rows correctly.
:class:`~skadaptive.EarlyExitClassifier` turns the model into one with several *exits*:
after 10, 25, 50 and 100 iterations a learned policy decides whether to answer with the trees
evaluated so far, or to add the next range of trees to the row's partial sums. Rows that go on
never recompute the trees they already ran.

The example uses scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier`,
then does the same with XGBoost and LightGBM when they are installed.
"""

# %%
# Fitting the early-exit model
# ----------------------------
# ``exits`` are numbers of boosting iterations. With ``costs=None`` the cost of an exit is
# the number of trees it adds: one tree per class per iteration for a multiclass model, so
# 10 trees per iteration on the ten digits. ``fit`` cross-fits the boosting model
# (``cv=3``) so that the policies learn from predictions on rows the trees were not fitted
# on, then refits it on all the training rows. Early stopping is turned off so that every
# fold grows the same number of iterations.

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from skadaptive import EarlyExitClassifier
from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay

# The digits are small: on them one OpenMP thread grows and evaluates these trees faster
# than several, and keeps the timings below stable on a busy machine. (threadpoolctl comes
# with scikit-learn; the limit is lifted at the end of the example.)
limiter = threadpool_limits(limits=1, user_api="openmp")

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)

exits = [10, 25, 50, 100]
hgb = HistGradientBoostingClassifier(
    max_iter=100, max_leaf_nodes=15, early_stopping=False, random_state=0
)
clf = EarlyExitClassifier(hgb, exits=exits, cost_weight=0.01, cv=3, random_state=0)
clf.fit(X_train, y_train)
print("trees each exit adds:", clf.costs_.tolist())

# %%
# Each exit alone, and the adaptive model
# ---------------------------------------
# ``staged_predict_proba`` runs every exit on every row, as the non-adaptive model would;
# the last exit is the full model (``clf.estimator_``). The adaptive ``predict`` stops each
# row at the exit its policy chooses, and ``predict_cost`` counts the trees it evaluated.

staged = list(clf.staged_predict_proba(X_test))
for k, proba in enumerate(staged):
    accuracy = np.mean(clf.classes_[proba.argmax(axis=1)] == y_test)
    print(f"exit {k} ({exits[k]:>3} iterations) alone: accuracy {accuracy:.4f}")
assert np.allclose(staged[-1], clf.estimator_.predict_proba(X_test))  # the full model

full_accuracy = clf.estimator_.score(X_test, y_test)
full_cost = clf.costs_.sum()
cost = clf.predict_cost(X_test).mean()
print(f"full model: accuracy {full_accuracy:.4f}, {full_cost:.0f} trees a row")
print(
    f"early exit: accuracy {clf.score(X_test, y_test):.4f}, {cost:.0f} trees a row on "
    f"average ({full_cost / cost:.1f}x fewer trees)"
)

# %%
# The printed figures show the trade made at ``cost_weight=0.01``: the accuracy lost (if
# any) against the full model, and the average number of trees evaluated per row.
#
# The trade-off curve and where rows exit
# ---------------------------------------
# :class:`~skadaptive.plotting.CostAccuracyDisplay` sweeps ``cost_weight`` (learning each
# point on the same out-of-fold outputs as the fitted model, evaluating it on the test rows)
# and compares it with confidence thresholds, the oracle and each exit alone (at the
# cumulative cost of reaching it). :class:`~skadaptive.plotting.ExitShareDisplay` shows where
# the fitted model answers the test rows.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[3, 2])
disp = CostAccuracyDisplay.from_estimator(
    clf, X_test, y_test, y_train=y_train, name="learned", ax=left
)
left.set_title("HistGradientBoosting, exits after 10, 25, 50, 100 iterations")
disp_shares = ExitShareDisplay.from_estimator(clf, X_test, ax=right, name="where rows exit")
fig.tight_layout()
print("share of test rows answered at each exit:", disp_shares.shares_.round(3).tolist())

point, thresholds = disp.operating_point_, disp.threshold_
cheaper = thresholds.cost <= point.cost
print(
    f"fitted point: accuracy {point.accuracy:.4f} at {point.cost:.0f} trees a row; "
    f"best max-probability threshold at no more trees: {thresholds.accuracy[cheaper].max():.4f}"
)

# %%
# At a small ``cost_weight`` a row is sent on whenever the next exit has a fair chance of
# fixing its answer, since the extra trees are cheap in units of errors; a larger
# ``cost_weight`` stops more rows at the first exit. The curve shows every choice at once.
#
# The learned policies are not always above the confidence thresholds: the printed line
# compares the fitted point with the best threshold that evaluates no more trees on
# average. With a few hundred test rows, one row is worth more than a tenth of a point, so
# small gaps are noise. Rather than trusting either family blindly, budget mode
# (:class:`~skadaptive.EarlyExitClassifierCV`, see the example on choosing ``cost_weight``)
# compares both on held-out folds and keeps the cheapest router that meets a target.
#
# Wall clock
# ----------
# The figures above are the cost model's: trees counted, not seconds. Here is the measured
# time of ``predict`` on all the test rows in one call, against the full model's own
# ``predict`` on the same rows (median of 5 runs, one thread each). Each exit is one call
# of the tree predictor, with a fixed cost per call, so the measured ratio is usually below
# the ratio of trees, and varies with the machine and the batch size.


def median_time(func, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(X_test)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


full_time, adaptive_time = median_time(clf.estimator_.predict), median_time(clf.predict)
print(
    f"predict on {len(X_test)} rows: full model {1e3 * full_time:.1f} ms, early exit "
    f"{1e3 * adaptive_time:.1f} ms: measured speed-up {full_time / adaptive_time:.1f}x "
    f"(cost model: {full_cost / cost:.1f}x)"
)

# %%
# XGBoost and LightGBM
# --------------------
# The same estimator takes ``xgboost.XGBClassifier`` and ``lightgbm.LGBMClassifier``: each
# exit adds its range of boosting iterations to the raw margins of the exit before, through
# the library's own range prediction. The libraries are optional; an uninstalled one is
# skipped. Both run with one thread here (``n_jobs=1``), to keep the example quick and
# reproducible on a small machine.

libraries = {}
try:
    from xgboost import XGBClassifier

    libraries["XGBoost"] = XGBClassifier(
        n_estimators=100, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=0
    )
except ImportError:
    print("xgboost is not installed: skipped")
try:
    from lightgbm import LGBMClassifier

    libraries["LightGBM"] = LGBMClassifier(
        n_estimators=100, num_leaves=15, learning_rate=0.1, n_jobs=1, verbose=-1, random_state=0
    )
except ImportError:
    print("lightgbm is not installed: skipped")

if libraries:
    fig, axes = plt.subplots(1, len(libraries), figsize=(5.5 * len(libraries), 4.2), squeeze=False)
    for ax, (name, model) in zip(axes[0], libraries.items()):
        other = EarlyExitClassifier(model, exits=exits, cost_weight=0.01, cv=3, random_state=0)
        other.fit(X_train, y_train)
        other_cost = other.predict_cost(X_test).mean()
        print(
            f"{name}: full model accuracy {other.estimator_.score(X_test, y_test):.4f}; early "
            f"exit {other.score(X_test, y_test):.4f} with {other_cost:.0f} of "
            f"{other.costs_.sum():.0f} trees a row ({other.costs_.sum() / other_cost:.1f}x fewer)"
        )
        CostAccuracyDisplay.from_estimator(
            other, X_test, y_test, y_train=y_train, name="learned", ax=ax
        )
        ax.set_title(name)
    fig.tight_layout()

# %%
# The libraries' curves differ because their trees differ (depth, leaves, learning rate),
# but the shape is the same: most of the full model's accuracy is reached at a fraction of
# its trees. The oracle marks the ceiling of any policy over these exits: it knows the label
# and stops each row at the first exit that gets it right.

limiter.restore_original_limits()  # lift the thread limit set at the top
