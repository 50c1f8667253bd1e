"""How much does choosing cost_weight cost?  PMLB letter, frozen stages.

A user who does not know lambda either grid-searches ``cost_weight`` or lets budget
mode compute the whole path from one set of stage outputs.  This script times, on the
same data and the same frozen ladder (the network-selection ladder of
``bench_letter.py``: MLP 64 -> MLP 256x256 -> calibrated RBF SVC, trained on half of
letter and frozen; the policies learn on 4,000 other rows):

- one ``NetworkSelectionClassifier.fit`` (the unit: ratio 1);
- ``GridSearchCV`` over 20 ``cost_weight`` values, 5 folds,
  ``scoring=budget_scoring()`` and ``refit=cheapest_within(0.01)`` (the cheapest
  candidate within one point of the last model), **without** and **with** ``memory``
  (a fresh cache directory each run);
- ``NetworkSelectionClassifierCV`` with the same 20 values (budget mode, target
  <= 1 point of accuracy loss), with only the learned family and with all three;
- the floor of any 20 x 5 grid: the 100 policy fits alone (each on 4/5 of the rows,
  from stage outputs already in hand), which no cache removes.

Costs are fixed per-row seconds measured once beforehand, so that no fit times the
stages.  Each timing is the median of ``--repeats`` runs (GridSearchCV without memory:
one run; it is slow).  The issue's goal: the 20-candidate grid search takes at most 2x
a single fit.

Run from the repository root::

    python benchmarks/bench_grid.py             # about 5 minutes on 2 cores
    python benchmarks/bench_grid.py --quick     # smaller ladder and data, < 1 minute
"""

import argparse
import platform
import shutil
import tempfile
import time

import numpy as np
import sklearn
from bench_letter import DEFAULT_DATA, load_letter, make_ladder, make_splits, median_time
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from skadaptive import NetworkSelectionClassifier, NetworkSelectionClassifierCV
from skadaptive._timing import per_row_seconds
from skadaptive.metrics import budget_scoring, cheapest_within
from skadaptive.stages import ModelLadder

GRID = np.r_[0.0, np.geomspace(1e-4, 1.0, 19)]  # 20 candidates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    X, y = load_letter(args.data)
    X_stage, y_stage, X_pol, y_pol, _, _ = make_splits(X, y, args.seed)
    n_pol = 1000 if args.quick else 4000
    X_pol, y_pol = X_pol[:n_pol], y_pol[:n_pol]
    if args.quick:
        X_stage, y_stage = X_stage[:3000], y_stage[:3000]
    ladder = make_ladder(args.quick, args.seed)
    t0 = time.perf_counter()
    frozen = [(name, FrozenEstimator(est.fit(X_stage, y_stage))) for name, est in ladder]
    print(f"trained the ladder on {len(y_stage)} rows in {time.perf_counter() - t0:.0f}s")
    classes = np.unique(y_pol)
    costs = per_row_seconds(ModelLadder([m for _, m in frozen], classes), X_pol[:512])
    print(f"per-row costs (us): {np.round(costs * 1e6, 2).tolist()}; policy rows {n_pol}")

    def single():
        NetworkSelectionClassifier(frozen, costs=costs, cost_weight=0.01, random_state=0).fit(
            X_pol, y_pol
        )

    def grid(memory):
        search = GridSearchCV(
            NetworkSelectionClassifier(frozen, costs=costs, random_state=0, memory=memory),
            {"cost_weight": GRID},
            cv=5,
            scoring=budget_scoring(),  # one routing pass per candidate and fold
            refit=cheapest_within(0.01),
        )
        search.fit(X_pol, y_pol)

    def grid_with_memory():
        location = tempfile.mkdtemp(prefix="skadaptive-bench-")
        try:
            grid(location)
        finally:
            shutil.rmtree(location)

    def policy_fits_alone():
        fitted = NetworkSelectionClassifier(frozen, costs=costs, random_state=0).fit(X_pol, y_pol)
        rows = np.arange(len(y_pol)) % 5 != 0  # 4/5 of the rows, as in a 5-fold split
        outputs, y_rows = fitted.oof_outputs_[rows], y_pol[rows]
        t0 = time.perf_counter()
        for weight in GRID:
            for _ in range(5):
                fitted._policy_template(weight).fit(outputs, y_rows)
        return time.perf_counter() - t0

    def budget(families):
        NetworkSelectionClassifierCV(
            frozen,
            costs=costs,
            max_accuracy_loss=0.01,
            cost_weights=GRID,
            families=families,
            random_state=0,
        ).fit(X_pol, y_pol)

    rows = []
    with threadpool_limits(limits=1):
        t_single = median_time(single, args.repeats)
        rows.append(("NetworkSelectionClassifier.fit (one cost_weight)", t_single))
        rows.append(("GridSearchCV, 20 x 5 folds, no memory", median_time(lambda: grid(None), 1)))
        t_memory = median_time(grid_with_memory, args.repeats)
        rows.append(("GridSearchCV, 20 x 5 folds, memory", t_memory))
        t_learned = median_time(lambda: budget(["learned"]), 1)
        rows.append(("NetworkSelectionClassifierCV, learned only", t_learned))
        rows.append(
            (
                "NetworkSelectionClassifierCV, all three families",
                median_time(lambda: budget(["learned", "thresholds", "hybrid"]), 1),
            )
        )
        rows.append(("100 policy fits alone (the floor of a 20 x 5 grid)", policy_fits_alone()))
    print("\n| what | seconds | ratio to one fit |\n|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {t / t_single:.2f}x |")
    print(
        f"\nMachine: {platform.platform()}, Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}, 1 BLAS/OpenMP thread; mode {'quick' if args.quick else 'full'}; "
        f"total {time.perf_counter() - start:.0f}s"
    )


if __name__ == "__main__":
    main()
