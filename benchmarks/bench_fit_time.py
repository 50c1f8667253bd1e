"""What a budget fit costs: ``EarlyExitClassifierCV`` against a plain ``EarlyExitClassifier``.

On PMLB adult and sleep, a ``HistGradientBoostingClassifier`` (100 iterations, no early
stopping) with the default exits: the wall clock of

- the plain model's own ``fit``;
- ``EarlyExitClassifier(cost_weight=0.01).fit`` (cross-fitted exits, one policy fit);
- ``EarlyExitClassifierCV(max_accuracy_loss=0.01).fit`` (the same, then the candidates on
  5 held-out folds: 8 lambdas, 24 cost budgets), and with ``confidence=0.9``;

with the default threads and with one thread (threadpoolctl), and the ratio of the budget
fit to the plain ``EarlyExitClassifier`` fit (goal: at most 3x).  Costs are given (the trees
of each exit), so the fits are deterministic and nothing is timed inside them.

Run from the repository root::

    python benchmarks/bench_fit_time.py     # about 4 minutes on 2 cores
"""

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from skadaptive import EarlyExitClassifier, EarlyExitClassifierCV

PMLB = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pmlb").resolve()
EXITS = [12, 25, 50, 100]
COSTS = np.diff(np.r_[0, EXITS]).astype(float)


def load(name):
    df = pd.read_csv(PMLB / name / f"{name}.tsv.gz", sep="\t")
    return df.drop(columns="target").to_numpy(float), df["target"].to_numpy()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(name, X, y, threads):
    hgb = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
    common = dict(exits=EXITS, costs=COSTS, random_state=0)
    rows = {
        "HGB fit": timed(lambda: sklearn.clone(hgb).fit(X, y)),
        "EarlyExitClassifier": timed(
            lambda: EarlyExitClassifier(hgb, cost_weight=0.01, **common).fit(X, y)
        ),
        "EarlyExitClassifierCV": timed(
            lambda: EarlyExitClassifierCV(hgb, max_accuracy_loss=0.01, **common).fit(X, y)
        ),
        "EarlyExitClassifierCV, confidence=0.9": timed(
            lambda: EarlyExitClassifierCV(
                hgb, max_accuracy_loss=0.01, confidence=0.9, **common
            ).fit(X, y)
        ),
    }
    plain = rows["EarlyExitClassifier"]
    for label, seconds in rows.items():
        ratio = f"{seconds / plain:.2f}x" if label.startswith("EarlyExitClassifierCV") else ""
        print(f"| {name} ({len(y)} rows) | {threads} | {label} | {seconds:.1f} | {ratio} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["adult", "sleep"])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print("| data | threads | fit | seconds | budget / plain EarlyExitClassifier |")
    print("|---|---|---|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the end-of-fit advice is not what is measured
        for name in args.datasets:
            X, y = load(name)
            run(name, X, y, f"default ({os.cpu_count()})")
            with threadpool_limits(limits=1):
                run(name, X, y, "1")
    print(
        f"\nMachine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, scikit-learn {sklearn.__version__}; total "
        f"{time.perf_counter() - start:.0f}s"
    )


if __name__ == "__main__":
    main()
