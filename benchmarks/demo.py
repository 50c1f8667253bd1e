"""Quick demo: both adaptive classifiers on real data, against the baselines.

Run with ``make demo`` (sets up .venv) or ``python benchmarks/demo.py``.

Data: scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes),
which installs with scikit-learn and needs no download.  60% of the rows train
(stages cross-fitted, policies learned on their out-of-fold outputs), 40% test.

For each estimator it prints, on the test rows: accuracy, average cost per row
and the speed-up (cost of the reference / average cost) of
- the reference: the most expensive model alone (network selection), or the
  full model (early exit);
- the learned policy (the paper's reduction, ``cost_weight`` fixed below);
- the confidence-threshold baseline at equal accuracy: the cheapest threshold
  that is at least as accurate as the learned policy on the test rows (chosen on
  the test rows themselves, which favours the baseline);
- the oracle (the cheapest stage that is right; needs the labels).
It also times ``predict`` against the reference model's ``predict`` (wall clock,
median of 5), which includes the routing and policy overhead.
"""

import platform
import time

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier
from skadaptive.baselines import ThresholdPolicy, oracle_route
from skadaptive.metrics import reference_cost


def median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def threshold_at_equal_accuracy(staged, y, costs, classes, target):
    """Cheapest threshold whose accuracy on ``staged`` is at least ``target``.

    Chosen on the test rows themselves: generous to the baseline.
    """
    # Candidate thresholds: quantiles of the stages' confidences, and one above all.
    thresholds = np.append(np.unique(np.quantile(staged.max(axis=2), np.linspace(0, 1, 401))), 1.01)
    best = None
    for t in thresholds:
        res = ThresholdPolicy(t, costs=costs, classes=classes).fit(staged).route(staged)
        acc = np.mean(classes[res.proba.argmax(1)] == y)
        if acc >= target and (best is None or res.cost.mean() < best[1]):
            best = (t, res.cost.mean())
    return thresholds[-1] if best is None else best[0]


def report(title, unit, clf, reference, X_test, y_test, topology):
    ref_cost = reference_cost(clf)
    staged = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    learned_acc = clf.score(X_test, y_test)
    t = threshold_at_equal_accuracy(staged, y_test, clf.costs_, clf.classes_, learned_acc)
    baseline = ThresholdPolicy(t, costs=clf.costs_, classes=clf.classes_).fit(staged)
    oracle = oracle_route(staged, y_test, clf.costs_, topology=topology, classes=clf.classes_)
    rows = [
        ("reference model alone", reference.score(X_test, y_test), ref_cost),
        (
            f"learned policy (cost_weight={clf.cost_weight})",
            learned_acc,
            clf.predict_cost(X_test).mean(),
        ),
        (
            f"threshold baseline (max proba >= {t:.4f})",
            baseline.score(staged, y_test),
            baseline.predict_cost(staged).mean(),
        ),
        (
            "oracle (needs labels)",
            np.mean(clf.classes_[oracle.proba.argmax(1)] == y_test),
            oracle.cost.mean(),
        ),
    ]
    print(f"\n== {title}")
    print(f"stage costs ({unit}): {np.array2string(clf.costs_, precision=3)}")
    print(f"{'':44s} {'accuracy':>9s} {'avg cost':>10s} {'speed-up':>9s}")
    for name, acc, cost in rows:
        print(f"{name:44s} {acc:9.4f} {cost / ref_cost:9.3f}x {ref_cost / cost:8.2f}x")
    share = np.bincount(clf.apply(X_test), minlength=clf.n_stages_) / len(X_test)
    print("rows answered at each stage:", np.array2string(share, precision=3))
    t_ref = median_time(lambda: reference.predict(X_test))
    t_ada = median_time(lambda: clf.predict(X_test))
    print(
        f"wall clock of predict on {len(X_test)} rows: reference {t_ref * 1e3:.1f} ms, "
        f"adaptive {t_ada * 1e3:.1f} ms, measured speed-up {t_ref / t_ada:.2f}x"
    )


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=0
    )
    print(
        f"digits: {len(X_train)} train / {len(X_test)} test rows; "
        f"{platform.machine()}, {platform.python_version()}, scikit-learn {sklearn.__version__}"
    )

    ladder = NetworkSelectionClassifier(
        [
            ("logistic", LogisticRegression(max_iter=3000)),
            ("mlp", MLPClassifier((128,), max_iter=500, random_state=0)),
            ("rbf_svm", CalibratedClassifierCV(SVC(), ensemble=False)),
        ],
        costs=None,  # measured: per-row predict_proba time of each model
        cost_weight=0.1,
        random_state=0,
    ).fit(X_train, y_train)
    report(
        "NetworkSelectionClassifier: logistic regression -> MLP -> RBF SVM",
        "seconds per row, measured during fit",
        ladder,
        ladder.estimators_[-1],
        X_test,
        y_test,
        "jump",
    )

    hgb = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
    exits = EarlyExitClassifier(hgb, exits=[10, 25, 50, 100], cost_weight=0.1, random_state=0).fit(
        X_train, y_train
    )
    report(
        "EarlyExitClassifier: HistGradientBoosting, exits after 10/25/50/100 iterations",
        "boosting iterations",
        exits,
        exits.estimator_,
        X_test,
        y_test,
        "chain",
    )


if __name__ == "__main__":
    main()
