"""Budget mode against tuned per-stage thresholds and scikit-fallback, on letter and MNIST.

For each ladder and each requested ``max_accuracy_loss`` (1, 0.5 and 0 percentage
points against the most expensive model / the full model), every method chooses its
operating point on the validation split only, and is reported on a separate test split:

- ``budget``: ``NetworkSelectionClassifierCV`` / ``EarlyExitClassifierCV`` with all three
  families (learned lambda path, per-stage max-probability thresholds, hybrid), chosen
  on 5 held-out folds of the validation rows;
- ``budget: learned`` / ``thresholds`` / ``hybrid``: the same with one family only;
- ``scikit-fallback``: ``skfb.ensemble.ThresholdCascadeClassifierCV`` (0.2) on the same
  frozen models and costs, with ``min_score`` = the reference's validation accuracy
  minus the target and ``strategy="max_cost"`` (its own 5-fold grid search over 10
  shared candidate thresholds per stage).  Early exit has no
  scikit-fallback counterpart (its cascades are of separate models).

Ladders (all stages trained on a "stage" split and frozen; costs = measured seconds per
row, measured once before any method runs):

- letter NS: MLP 64 -> MLP 256x256 -> calibrated RBF SVC (as ``bench_letter.py``);
- letter EE: ``HistGradientBoostingClassifier`` (200 iterations), exits after 10, 25, 50,
  100 and 200 trees (as ``bench_letter.py``);
- MNIST NS: three CNNs of rising width (as ``bench_mnist_torch.py``), CPU;
- MNIST EE: the 4-exit CNN of ``bench_mnist_torch.py`` (``MultiExitNetwork``), CPU.

Columns: test loss = reference test accuracy minus test accuracy, in points (the
target is met when it is <= the target); miss = max(0, test loss - target); speed-up =
reference cost / mean test cost (cost model, measured seconds).

Run from the repository root::

    python benchmarks/bench_budget.py            # about 7 minutes on 2 cores
    python benchmarks/bench_budget.py --quick    # subsample, a few minutes
"""

import argparse
import platform
import time
import warnings

import numpy as np
import sklearn
from bench_letter import DEFAULT_DATA, load_letter, make_ladder, make_splits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from threadpoolctl import threadpool_limits

from skadaptive import EarlyExitClassifierCV, NetworkSelectionClassifierCV
from skadaptive._stages import exit_model, stage_outputs
from skadaptive._timing import per_row_seconds
from skadaptive.stages import ModelLadder

TARGETS = (0.01, 0.005, 0.0)
FAMILY_SETS = {
    "budget": ["learned", "thresholds", "hybrid"],
    "budget: learned": ["learned"],
    "budget: thresholds": ["thresholds"],
    "budget: hybrid": ["hybrid"],
}


def accuracy(stage_outputs, y):
    return float(np.mean(stage_outputs.argmax(axis=1) == y))


def evaluate(clf, out_test, y_test, ref_cost):
    res = clf.policy_.route(out_test)
    acc = float(np.mean(clf.classes_[res.proba.argmax(axis=1)] == y_test))
    return acc, ref_cost / float(res.cost.mean())


def skfb_point(models, costs, X_val, y_val, out_test, y_test, min_score, seed):
    try:
        from skfb.ensemble import ThresholdCascadeClassifierCV
    except ImportError:
        return None
    # skfb charges a row the cost of the model that answers it: cumulative costs make
    # that the chain's cost.  strategy="max_cost": the cheapest configuration that
    # meets min_score (its default, "balanced", maximises score per cost).
    cascade = ThresholdCascadeClassifierCV(
        [FrozenEstimator(m) for m in models],
        costs=np.cumsum(costs),
        cv=5,
        min_score=min_score,
        strategy="max_cost",
        return_earray=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns when no configuration meets min_score
        cascade.fit(X_val, y_val)
    thresholds = np.asarray(cascade.best_thresholds_, dtype=float)
    scores = out_test[:, :-1].max(axis=2)
    keep = np.hstack([scores >= thresholds, np.ones((len(scores), 1), bool)])
    stage = keep.argmax(axis=1)
    proba = out_test[np.arange(len(stage)), stage]
    acc = float(np.mean(proba.argmax(axis=1) == y_test))
    return acc, costs[-1] / float(np.cumsum(costs)[stage].mean())


def run_part(name, make_cv, out_val, out_test, y_val, y_test, ref_cost, extra, rows, args):
    ref_val, ref_test = accuracy(out_val[:, -1], y_val), accuracy(out_test[:, -1], y_test)
    print(f"\n## {name}: reference validation acc {ref_val:.4f}, test acc {ref_test:.4f}")
    for target in TARGETS:
        for label, families in FAMILY_SETS.items():
            t0 = time.perf_counter()
            clf = make_cv(families, target)
            acc, speed = evaluate(clf, out_test, y_test, ref_cost)
            loss = 100 * (ref_test - acc)
            chosen = clf.best_family_ + (
                "" if clf.cost_weight_ is None else f", lambda={clf.cost_weight_:.3g}"
            )
            rows.append((name, target, label, acc, loss, speed, chosen))
            print(
                f"  target {100 * target:g} pp  {label:20s} test loss {loss:+.2f} pp, "
                f"speed-up {speed:6.2f}x ({chosen}; {time.perf_counter() - t0:.1f}s)"
            )
        if extra is not None:
            point = extra(ref_val - target)
            if point is not None:
                acc, speed = point
                loss = 100 * (ref_test - acc)
                rows.append((name, target, "scikit-fallback", acc, loss, speed, "thresholds"))
                print(
                    f"  target {100 * target:g} pp  scikit-fallback      test loss {loss:+.2f}"
                    f" pp, speed-up {speed:6.2f}x"
                )


def letter_parts(args, rows):
    X, y = load_letter(args.data)
    X_stage, y_stage, X_val, y_val, X_test, y_test = make_splits(X, y, args.seed)
    if args.quick:
        X_stage, y_stage, X_val, y_val = X_stage[:4000], y_stage[:4000], X_val[:2000], y_val[:2000]
    classes = np.unique(y)
    t0 = time.perf_counter()
    models = [est.fit(X_stage, y_stage) for _, est in make_ladder(args.quick, args.seed)]
    print(f"letter: fitted the ladder in {time.perf_counter() - t0:.0f}s")
    ladder = ModelLadder(models, classes)
    costs = per_row_seconds(ladder, X_val[:512])
    out_val = stage_outputs(ladder, X_val, classes)
    out_test = stage_outputs(ladder, X_test, classes)
    frozen = [(f"m{k}", FrozenEstimator(m)) for k, m in enumerate(models)]

    def make_ns(families, target):
        return NetworkSelectionClassifierCV(
            frozen,
            costs=costs,
            max_accuracy_loss=target,
            families=families,
            random_state=args.seed,
        ).fit(X_val, y_val)

    def skfb(min_score):
        return skfb_point(models, costs, X_val, y_val, out_test, y_test, min_score, args.seed)

    run_part("letter NS", make_ns, out_val, out_test, y_val, y_test, costs[-1], skfb, rows, args)

    hgb = HistGradientBoostingClassifier(
        max_iter=100 if args.quick else 200, early_stopping=False, random_state=args.seed
    ).fit(X_stage, y_stage)
    exits = [5, 12, 25, 50, 100] if args.quick else [10, 25, 50, 100, 200]
    view = exit_model(hgb, exits)
    hgb_costs = np.diff(np.r_[0, exits]).astype(float)
    out_val = stage_outputs(view, X_val, classes)
    out_test = stage_outputs(view, X_test, classes)

    def make_ee(families, target):
        return EarlyExitClassifierCV(
            FrozenEstimator(hgb),
            exits=exits,
            costs=hgb_costs,
            max_accuracy_loss=target,
            families=families,
            random_state=args.seed,
        ).fit(X_val, y_val)

    run_part(
        "letter EE", make_ee, out_val, out_test, y_val, y_test, hgb_costs.sum(), None, rows, args
    )


def mnist_part(args, rows):
    import bench_mnist_torch as mn
    import torch

    from skadaptive.torch import TorchClassifier

    X, y, _ = mn.load_train()
    X_test, y_test = mn.load_test(mn.DEFAULT_TEST_DIR)
    X, X_test = mn.scale(X), mn.scale(X_test)
    from sklearn.model_selection import train_test_split

    X_tr, X_val, y_tr, y_val = train_test_split(
        X, y, train_size=3500, stratify=y, random_state=args.seed
    )
    models = []
    t0 = time.perf_counter()
    for c in (8, 16, 32):
        torch.manual_seed(args.seed)
        module = mn.cnn(c)
        epochs = 3 if args.quick else 15
        with mn.torch_threads(2):
            mn.train([module], lambda x, m=module: [m(x)], X_tr, y_tr, epochs, "cpu", args.seed)
        models.append(TorchClassifier(module, classes=np.arange(10)).fit())
    print(f"MNIST: trained 3 CNNs in {time.perf_counter() - t0:.0f}s")
    classes = np.arange(10)
    ladder = ModelLadder(models, classes)
    costs = per_row_seconds(ladder, X_val[:512])
    out_val = stage_outputs(ladder, X_val, classes)
    out_test = stage_outputs(ladder, X_test, classes)
    frozen = [(f"cnn{k}", FrozenEstimator(m)) for k, m in enumerate(models)]

    def make_ns(families, target):
        return NetworkSelectionClassifierCV(
            frozen, costs=costs, max_accuracy_loss=target, families=families, random_state=0
        ).fit(X_val, y_val)

    def skfb(min_score):
        return skfb_point(models, costs, X_val, y_val, out_test, y_test, min_score, args.seed)

    run_part("MNIST NS", make_ns, out_val, out_test, y_val, y_test, costs[-1], skfb, rows, args)

    # Early exit: the 4-exit CNN of bench_mnist_torch.py, trained jointly, frozen.
    from skadaptive.torch import MultiExitNetwork

    torch.manual_seed(args.seed)
    blocks, heads = mn.multi_exit_modules(16)
    t0 = time.perf_counter()
    with mn.torch_threads(2):
        mn.train(
            [*blocks, *heads],
            mn.multi_exit_forward(blocks, heads),
            X_tr,
            y_tr,
            3 if args.quick else 15,
            "cpu",
            args.seed,
        )
    print(f"MNIST: trained the 4-exit CNN in {time.perf_counter() - t0:.0f}s")
    net = MultiExitNetwork(blocks, heads, classes=classes).fit()
    ee_costs = net.measure_exit_costs(X_val[:512])
    out_val = stage_outputs(net, X_val, classes)
    out_test = stage_outputs(net, X_test, classes)

    def make_ee(families, target):
        return EarlyExitClassifierCV(
            FrozenEstimator(net),
            costs=ee_costs,
            max_accuracy_loss=target,
            families=families,
            random_state=0,
        ).fit(X_val, y_val)

    run_part(
        "MNIST EE", make_ee, out_val, out_test, y_val, y_test, ee_costs.sum(), None, rows, args
    )


def report(rows, start):
    print("\n## Results (test split; every choice made on the validation split)\n")
    print("| ladder | target (pp) | method | chosen | test loss (pp) | miss (pp) | speed-up |")
    print("|---|---:|---|---|---:|---:|---:|")
    for name, target, label, _, loss, speed, chosen in rows:
        miss = max(0.0, loss - 100 * target)
        print(
            f"| {name} | {100 * target:g} | {label} | {chosen} | {loss:+.2f} | {miss:.2f} "
            f"| {speed:.2f}x |"
        )
    print("\n## Summary per method (mean over ladders and targets)\n")
    print("| method | mean miss (pp) | worst miss (pp) | mean speed-up |")
    print("|---|---:|---:|---:|")
    for label in [*FAMILY_SETS, "scikit-fallback"]:
        sel = [r for r in rows if r[2] == label]
        if not sel:
            continue
        misses = [max(0.0, r[4] - 100 * r[1]) for r in sel]
        print(
            f"| {label} | {np.mean(misses):.2f} | {np.max(misses):.2f} "
            f"| {np.mean([r[5] for r in sel]):.2f}x |"
        )
    print(
        f"\nMachine: {platform.platform()}, Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}, 1 BLAS/OpenMP thread; total {time.perf_counter() - start:.0f}s"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-mnist", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    with threadpool_limits(limits=1):
        letter_parts(args, rows)
        if not args.skip_mnist:
            mnist_part(args, rows)
    report(rows, start)


if __name__ == "__main__":
    main()
