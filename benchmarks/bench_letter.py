"""Benchmark skadaptive on PMLB ``letter`` (20000 rows x 16 features, 26 classes).

Two experiments, each against the most expensive model run alone:

1. Network selection over a ladder of three models of rising cost and accuracy
   (an MLP with one hidden layer of 64 units, an MLP with two hidden layers of 256
   units, an RBF SVC with calibrated probabilities; all on standardised features),
   fitted on the stage-train split and frozen.  The per-row ``predict_proba`` time
   of each model, measured on the policy split, is the cost vector used everywhere,
   so that the cost model and the wall clock speak of the same thing.  Reference:
   the SVC alone (cost ``costs[-1]``).  Each stage is one vectorised call whose time
   is close to proportional to its rows (about 0.8 ms per call on top, mostly input
   validation, 6-7 ms for the calibrated SVC's 26 per-class calibrators).  Forest
   stages (ExtraTrees with 10 and 100 trees) were dropped from the ladder: a forest's
   ``predict_proba`` pays a large per-call cost (joblib dispatch and a Python call
   per tree: 5-15 ms for a 1-row call of 100 trees; per-row 180-290, 44-52 and
   18-19 us at batches of 50, 500 and 4000 rows), so on the few hundred rows routed
   to it a forest costs about 3x its per-row cost measured on 4000 rows, which a
   per-row cost model cannot express (measured wall-clock speed-up 0.44-0.73 of the
   cost-model one).  The run re-measures a 100-tree forest and prints the note.
   The per-call costs that remain (the SVC's 6-7 ms, about 1 ms per MLP call, and
   routing at about 1 us/row) still weigh on operating points that send only a few
   dozen rows to the SVC.
2. Early exit inside one ``HistGradientBoostingClassifier`` (exits after some
   boosting iterations; the cost of an exit is the iterations it adds).
   Reference: the full model (cost ``sum(costs)``).

For each experiment it compares the learned policy (``RoutingPolicy`` swept over
``cost_weight``), confidence-threshold baselines (maximum probability and entropy)
and the oracle, then times the validation-selected estimator's ``predict`` against
the reference model's ``predict`` on the test split, and replays each stage on
exactly the rows routed to it to show where the time goes.

Splits (stratified, fixed seed): stage-train 50% (fits the models), policy 20%
(fits the policies and selects ``cost_weight`` or the threshold: the validation
split), test 30% (reported).  ``cost_weight`` is selected by 5-fold
cross-validation of the policies on the policy split, then the policies are
refitted on the whole policy split.  Table rows selected on "test (optimistic)"
pick the operating point on the test split itself: optimistic by construction.

Every BLAS/OpenMP pool is limited to one thread by default (``--threads``): the
cost model charges every row the same, which threads splitting small routed
batches do not honour, and single-threaded timings are steadier on a shared box.

Run from the repository root::

    python benchmarks/bench_letter.py            # full run, 2.5-4.5 minutes on 2 cores
    python benchmarks/bench_letter.py --quick    # subsample: smoke test, < 1 minute
    python benchmarks/bench_letter.py --verbose  # also print every sweep point
    python benchmarks/bench_letter.py --tile 5   # also time on the test split x5 (slower)
"""

import argparse
import gc
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from _sweeps import (
    LEARNED,
    accuracy,
    fmt,
    log,
    picks,
    print_curves,
    routed,
    select,
    sweep_learned,
    sweep_threshold,
)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier, RoutingPolicy
from skadaptive.baselines import oracle_route

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "pmlb" / "letter" / "letter.tsv.gz").resolve()
TOLERANCES = (0.01, 0.0)  # accuracy-loss targets, as fractions


# ----------------------------------------------------------------------------- helpers
def load_letter(path):
    df = pd.read_csv(path, sep="\t")
    X = df.drop(columns="target").to_numpy(dtype=np.float64)
    y = LabelEncoder().fit_transform(df["target"].to_numpy())
    return X, y


def make_splits(X, y, seed):
    """Stage-train 50%, policy (validation) 20%, test 30%, stratified."""
    X_stage, X_rest, y_stage, y_rest = train_test_split(
        X, y, train_size=0.5, stratify=y, random_state=seed
    )
    X_pol, X_test, y_pol, y_test = train_test_split(
        X_rest, y_rest, train_size=0.4, stratify=y_rest, random_state=seed
    )
    return X_stage, y_stage, X_pol, y_pol, X_test, y_test


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def paired_times(fn_a, fn_b, repeats):
    """Median times of two functions, interleaved so that machine noise hits both."""
    fn_a(), fn_b()  # warm-up
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, ta), (fn_b, tb)):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb))


class CV:
    def __init__(self, n_splits, seed):
        self.n_splits, self.seed = n_splits, seed


# ----------------------------------------------------------------------------- sweeps
def threshold_grids(n_classes):
    max_proba = np.r_[np.linspace(0.1, 0.9, 17), 1 - np.geomspace(0.05, 1e-4, 12), 1.01]
    entropy = np.r_[-1.0, np.geomspace(1e-4, 0.1, 13), np.linspace(0.2, np.log(n_classes), 24)]
    return {"max_proba": np.unique(max_proba), "entropy": np.unique(entropy)}


def sweep_all(out_pol, y_pol, out_test, y_test, costs, topology, cfg, classes):
    families = {
        f"{LEARNED} (RoutingPolicy, {topology})": sweep_learned(
            out_pol,
            y_pol,
            out_test,
            y_test,
            costs,
            topology,
            cfg["lambdas"],
            cfg["cv"].n_splits,
            cfg["cv"].seed,
            classes,
        )
    }
    for crit, grid in threshold_grids(len(classes)).items():
        families[f"threshold {crit}"] = sweep_threshold(
            out_pol, y_pol, out_test, y_test, costs, grid, classes, criterion=crit
        )
    return families


def summarise(part, families, ref, rows):
    """Table rows: per family and loss target, validation- then test-selected."""
    for family, records in families.items():
        for tol in TOLERANCES:
            for split, label in (("val", "validation"), ("test", "test (optimistic)")):
                rec = select(records, split, ref[f"{split}_acc"], tol)
                if rec is None:
                    rows.append((part, family, tol, label, None, None, None, None))
                    continue
                rows.append(
                    (
                        part,
                        family,
                        tol,
                        label,
                        rec["param"],
                        rec["test_acc"],
                        100 * (ref["test_acc"] - rec["test_acc"]),
                        ref["cost"] / rec["test_cost"],
                    )
                )


def add_row(rows, part, family, acc, cost, ref, selection="-"):
    rows.append(
        (
            part,
            family,
            None,
            selection,
            None,
            acc,
            100 * (ref["test_acc"] - acc),
            ref["cost"] / cost,
        )
    )


def batch_curve(name, predict, X, sizes, repeats, seed):
    """Per-row time of ``predict`` on random batches of several sizes (one row: per call)."""
    rng = np.random.default_rng(seed)
    cells = []
    for size in sizes:
        X_b = X[np.sort(rng.permutation(len(X))[:size])]
        t = median_time(lambda X_b=X_b: predict(X_b), repeats)
        cells.append(f"{t / len(X_b) * 1e6:9.2f}")
    return f"    {name:>10s} " + " ".join(cells)


def log_batch_curves(models, X, repeats, seed):
    sizes = [s for s in (1, 100, 500, 2000) if s < len(X)] + [len(X)]
    log("  per-row time (us) against batch size, random policy-split rows:")
    log(f"    {'batch':>10s} " + " ".join(f"{s:9d}" for s in sizes))
    for name, predict in models:
        log(batch_curve(name, predict, X, sizes, repeats, seed))


def time_estimator(clf, reference, X_test, y_test, out_test, cm_speedup, replay, repeats, tile):
    """Wall clock of ``clf.predict`` vs ``reference``, and where the time goes.

    ``replay`` times each stage on exactly the rows routed to it; the fitted policy
    routing the precomputed ``out_test`` times the routing engine and the policies
    alone (no model runs).
    """
    t_ref, t_clf = paired_times(lambda: reference(X_test), lambda: clf.predict(X_test), repeats)
    stages = replay()
    t_stages = sum(s["seconds"] for s in stages)
    t_policy = median_time(lambda: clf.policy_.route(out_test), repeats)
    tiled = None
    if tile > 1:  # the same rows, tile times over: per-call costs weigh tile times less
        X_big = np.tile(X_test, (tile, 1))
        t_ref_big, t_clf_big = paired_times(
            lambda: reference(X_big), lambda: clf.predict(X_big), max(3, repeats // 2)
        )
        tiled = dict(
            tile=tile, rows=len(X_big), t_ref=t_ref_big, t_clf=t_clf_big, wall=t_ref_big / t_clf_big
        )
    return dict(
        acc=float(np.mean(clf.predict(X_test) == y_test)),
        t_ref=t_ref,
        t_clf=t_clf,
        wall=t_ref / t_clf,
        model=cm_speedup,
        t_model=t_ref / cm_speedup,  # the time the cost model predicts for clf.predict
        t_stages=t_stages,
        t_policy=t_policy,
        t_residual=t_clf - t_stages - t_policy,
        t_fixed=sum(s["fixed"] for s in stages if s["rows"]),
        stages=stages,
        tiled=tiled,
    )


def log_timing(w, unit_label):
    log(
        f"  {w['estimator']}: predict {w['t_clf'] * 1e3:.1f} ms vs {w['reference']} "
        f"{w['t_ref'] * 1e3:.1f} ms -> measured {w['wall']:.2f}x, cost model {w['model']:.2f}x, "
        f"ratio {w['wall'] / w['model']:.2f}"
    )
    log(
        f"    {'stage':>8s} {'rows':>6s} {'us/row measured':>16s} {unit_label:>18s}"
        f" {'1-row call ms':>14s}"
    )
    for s in w["stages"]:
        per_row = s["seconds"] / s["rows"] * 1e6 if s["rows"] else float("nan")
        log(
            f"    {s['name']:>8s} {s['rows']:6d} {per_row:16.2f} {s['model_us']:18.2f}"
            f" {s['fixed'] * 1e3:14.2f}"
        )
    log(
        f"    time: cost model {w['t_model'] * 1e3:.1f} ms; stages replayed on their routed rows "
        f"{w['t_stages'] * 1e3:.1f} ms (of which 1-row call costs {w['t_fixed'] * 1e3:.1f} ms); "
        f"routing + policies on precomputed outputs {w['t_policy'] * 1e3:.1f} ms; "
        f"residual {w['t_residual'] * 1e3:.1f} ms"
    )
    if w["tiled"]:
        tl = w["tiled"]
        log(
            f"    test split tiled {tl['tile']}x: predict {tl['t_clf'] * 1e3:.1f} ms vs "
            f"{tl['t_ref'] * 1e3:.1f} ms -> measured {tl['wall']:.2f}x, "
            f"ratio {tl['wall'] / w['model']:.2f}"
        )


# ----------------------------------------------------------------------------- part 1
def make_ladder(quick, seed):
    """Single vectorised calls: time close to proportional to rows (see the docstring)."""
    width = 128 if quick else 256

    def mlp(hidden, max_iter):
        return make_pipeline(
            StandardScaler(), MLPClassifier(hidden, max_iter=max_iter, random_state=seed)
        )

    return [
        ("mlp64", mlp((64,), 500)),
        (f"mlp{width}x2", mlp((width, width), 300)),
        (
            "svc_rbf",
            CalibratedClassifierCV(
                make_pipeline(StandardScaler(), SVC(C=10, gamma=0.2)), ensemble=False
            ),
        ),
    ]


def forest_note(X_stage, y_stage, X_pol, reps, seed):
    """Why no forest stage: re-measure a 100-tree forest's per-call cost."""
    et = ExtraTreesClassifier(n_estimators=100, random_state=seed).fit(X_stage, y_stage)
    sizes = [s for s in (1, 50, 500) if s < len(X_pol)] + [len(X_pol)]
    rng = np.random.default_rng(seed)
    per_row = []
    for size in sizes:
        X_b = X_pol[np.sort(rng.permutation(len(X_pol))[:size])]
        per_row.append(median_time(lambda X_b=X_b: et.predict_proba(X_b), reps) / size)
    log(
        f"  note: no forest stage in the ladder.  ExtraTrees(100).predict_proba takes "
        f"{per_row[0] * 1e3:.1f} ms for 1 row and "
        + ", ".join(f"{t * 1e6:.1f}" for t in per_row[1:])
        + f" us/row at batches of {', '.join(map(str, sizes[1:]))} rows: a per-call cost "
        "(joblib dispatch, a Python call per tree) that a per-row cost model cannot "
        "express, so a forest run on the few hundred rows routed to it costs several "
        "times its cost model"
    )


def network_selection(data, args, cfg, rows, wall):
    X_stage, y_stage, X_pol, y_pol, X_test, y_test = data
    classes = np.unique(y_stage)
    part = "network selection"
    log("\n## Part 1: network selection")
    models = []
    for name, est in make_ladder(args.quick, args.seed):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as fit_warnings:
            warnings.simplefilter("always", ConvergenceWarning)
            models.append((name, est.fit(X_stage, y_stage)))
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in fit_warnings)
        log(
            f"  fitted {name} on {len(y_stage)} rows in {time.perf_counter() - t0:.1f}s"
            + ("" if converged else " (ConvergenceWarning: did not converge)")
        )
    reps = cfg["repeats"]
    costs = np.array(
        [median_time(lambda m=m: m.predict_proba(X_pol), reps) / len(y_pol) for _, m in models]
    )
    out_pol = np.stack([m.predict_proba(X_pol) for _, m in models], axis=1)
    out_test = np.stack([m.predict_proba(X_test) for _, m in models], axis=1)
    log("  model       cost us/row  policy-split acc  test acc")
    for k, (name, _) in enumerate(models):
        log(
            f"  {name:10s} {costs[k] * 1e6:12.2f}  {accuracy(out_pol[:, k], y_pol):16.4f}"
            f"  {accuracy(out_test[:, k], y_test):8.4f}"
        )
    if not np.all(np.diff(costs) > 0):
        log("  WARNING: the measured costs do not rise along the ladder")
    log_batch_curves([(n, m.predict_proba) for n, m in models], X_pol, reps, args.seed)
    forest_note(X_stage, y_stage, X_pol, reps, args.seed)
    ref = dict(
        val_acc=accuracy(out_pol[:, -1], y_pol),
        test_acc=accuracy(out_test[:, -1], y_test),
        cost=costs[-1],
    )

    t0 = time.perf_counter()
    families = sweep_all(out_pol, y_pol, out_test, y_test, costs, "jump", cfg, classes)
    log(f"  sweeps took {time.perf_counter() - t0:.1f}s")
    if args.verbose:
        print_curves(families, ref["cost"])
    summarise(part, families, ref, rows)
    orc = oracle_route(out_test, y_test, costs, topology="jump", classes=classes)
    add_row(rows, part, "oracle (jump)", *routed(orc, y_test), ref, "uses y_test")
    for k, (name, _) in enumerate(models[:-1]):
        add_row(rows, part, f"{name} alone", accuracy(out_test[:, k], y_test), costs[k], ref)

    # The validation-selected cost_weights, as NetworkSelectionClassifier.
    last_name, last = models[-1]
    for lam, tols in picks(families, ref, TOLERANCES).items():
        clf = NetworkSelectionClassifier(
            estimators=[(name, FrozenEstimator(m)) for name, m in models],
            costs=costs,
            cost_weight=lam,
            topology="jump",
        ).fit(X_pol, y_pol)
        res = clf.route(X_test)
        sweep_res = (
            RoutingPolicy(costs=costs, cost_weight=lam, topology="jump", classes=classes)
            .fit(out_pol, y_pol)
            .route(out_test)
        )
        agree = float(np.mean(res.stage == sweep_res.stage))

        def replay(path=res.path):
            stages = []
            for k, (name, m) in enumerate(models):
                X_k = X_test[path[:, k]]
                stages.append(
                    dict(
                        name=name,
                        rows=len(X_k),
                        seconds=median_time(lambda m=m, X_k=X_k: m.predict_proba(X_k), reps)
                        if len(X_k)
                        else 0.0,
                        fixed=median_time(lambda m=m: m.predict_proba(X_test[:1]), reps),
                        model_us=costs[k] * 1e6,
                    )
                )
            return stages

        cm_speedup = costs[-1] / res.cost.mean()
        w = time_estimator(
            clf, last.predict, X_test, y_test, out_test, cm_speedup, replay, reps, args.tile
        )
        w.update(
            part=part,
            target=" and ".join(f"<= {100 * t:g} pp" for t in tols),
            estimator=f"NetworkSelectionClassifier(cost_weight={lam:.4g})",
            reference=f"{last_name}.predict",
            ref_acc=ref["test_acc"],
            note=f"routing = the sweep's RoutingPolicy on {100 * agree:.1f}% of test rows",
        )
        log_timing(w, "cost model us/row")
        wall.append(w)


# ----------------------------------------------------------------------------- part 2
def staged_outputs(hgb, X, exits):
    keep = set(exits)
    return np.stack(
        [p for i, p in enumerate(hgb.staged_predict_proba(X), start=1) if i in keep], axis=1
    )


def early_exit(data, args, cfg, rows, wall):
    X_stage, y_stage, X_pol, y_pol, X_test, y_test = data
    classes = np.unique(y_stage)
    exits = cfg["exits"]
    part = "early exit"
    log("\n## Part 2: early exit (HistGradientBoostingClassifier)")
    t0 = time.perf_counter()
    hgb = HistGradientBoostingClassifier(
        max_iter=exits[-1], early_stopping=False, random_state=args.seed
    ).fit(X_stage, y_stage)
    log(f"  fitted HGB ({exits[-1]} iterations) in {time.perf_counter() - t0:.1f}s")
    costs = np.diff([0, *exits]).astype(float)  # boosting iterations added by each exit
    out_pol = staged_outputs(hgb, X_pol, exits)
    out_test = staged_outputs(hgb, X_test, exits)
    log("  exit (iterations)  policy-split acc  test acc")
    for k, e in enumerate(exits):
        log(
            f"  {e:17d}  {accuracy(out_pol[:, k], y_pol):16.4f}"
            f"  {accuracy(out_test[:, k], y_test):8.4f}"
        )
    ref = dict(
        val_acc=accuracy(out_pol[:, -1], y_pol),
        test_acc=accuracy(out_test[:, -1], y_test),
        cost=costs.sum(),
    )

    t0 = time.perf_counter()
    families = sweep_all(out_pol, y_pol, out_test, y_test, costs, "chain", cfg, classes)
    log(f"  sweeps took {time.perf_counter() - t0:.1f}s")
    if args.verbose:
        print_curves(families, ref["cost"])
    summarise(part, families, ref, rows)
    orc = oracle_route(out_test, y_test, costs, topology="chain", classes=classes)
    add_row(rows, part, "oracle (chain)", *routed(orc, y_test), ref, "uses y_test")
    for k, e in enumerate(exits[:-1]):
        acc_k = accuracy(out_test[:, k], y_test)
        add_row(rows, part, f"first {e} iterations alone", acc_k, costs[: k + 1].sum(), ref)

    reps = cfg["repeats"]
    t_full = median_time(lambda: hgb.predict(X_test), reps)
    us_per_iteration = t_full / len(y_test) / costs.sum() * 1e6
    log(
        f"  full HGB predict: {t_full / len(y_test) * 1e6:.2f} us/row "
        f"= {us_per_iteration:.3f} us/row per iteration"
    )
    log_batch_curves([("hgb", hgb.predict_proba)], X_pol, reps, args.seed)
    for lam, tols in picks(families, ref, TOLERANCES).items():
        clf = EarlyExitClassifier(FrozenEstimator(hgb), exits=exits, cost_weight=lam)
        clf.fit(X_pol, y_pol)
        same_outputs = float(np.abs(clf.oof_outputs_ - out_pol).max())
        res = clf.route(X_test)
        sweep_res = (
            RoutingPolicy(costs=costs, cost_weight=lam, topology="chain", classes=classes)
            .fit(out_pol, y_pol)
            .route(out_test)
        )
        agree = float(np.mean(res.stage == sweep_res.stage))

        def replay(path=res.path, model=clf.stage_model_):
            # Stage k continues from stage k-1's partial sums, so replay them in order.
            seconds = np.zeros((reps, len(exits)))
            fixed = np.zeros((reps, len(exits)))
            for r in range(reps):
                for X_r, out, rows_of in (
                    (X_test, seconds, lambda k: np.flatnonzero(path[:, k])),
                    (X_test[:1], fixed, lambda k: np.array([0])),
                ):
                    state = model.init_exits(X_r)
                    for k in range(len(exits)):
                        rows_k = rows_of(k)
                        if len(rows_k) == 0:
                            break
                        gc.collect()
                        t0 = time.perf_counter()
                        model.predict_exit_proba(state, k, rows_k)
                        out[r, k] = time.perf_counter() - t0
            seconds, fixed = np.median(seconds, axis=0), np.median(fixed, axis=0)
            return [
                dict(
                    name=f"<= {e}",
                    rows=int(path[:, k].sum()),
                    seconds=seconds[k],
                    fixed=fixed[k],
                    model_us=costs[k] * us_per_iteration,
                )
                for k, e in enumerate(exits)
            ]

        cm_speedup = costs.sum() / res.cost.mean()
        w = time_estimator(
            clf, hgb.predict, X_test, y_test, out_test, cm_speedup, replay, reps, args.tile
        )
        w.update(
            part=part,
            target=" and ".join(f"<= {100 * t:g} pp" for t in tols),
            estimator=f"EarlyExitClassifier(cost_weight={lam:.4g})",
            reference="hgb.predict",
            ref_acc=ref["test_acc"],
            note=(
                f"routing = the sweep's RoutingPolicy on {100 * agree:.1f}% of test rows; "
                f"oof_outputs_ = staged_predict_proba to {same_outputs:.1e}"
            ),
        )
        log_timing(w, "cost model us/row")
        wall.append(w)


# ----------------------------------------------------------------------------- report
def report(rows, wall, args, cfg, n_convergence, elapsed):
    log("\n## Results on the test split")
    log(
        "\nSpeed-up = cost-model speed-up over the reference model alone (network selection: the "
        "SVC, cost costs[-1]; early exit: the full HGB, cost sum(costs)).  Loss = reference "
        "accuracy minus test accuracy, in percentage points.  Selection: where the operating "
        "point (cost_weight or threshold) was chosen for the target; 'test (optimistic)' "
        "chose it on the test split.\n"
    )
    log(
        "| part | policy family | acc. loss target | selected on | param | test acc "
        "| loss (pp) | speed-up |"
    )
    log("|---|---|---|---|---|---|---|---|")
    for part, family, tol, selection, param, acc, loss, speedup in rows:
        target = "-" if tol is None else f"<= {100 * tol:g} pp"
        log(
            f"| {part} | {family} | {target} | {selection} | {fmt(param, '.4g')} "
            f"| {fmt(acc, '.4f')} | {fmt(loss, '+.2f')} | {fmt(speedup, '.2f', 'x')} |"
        )
    log(
        f"\n## Wall clock on the test split (median of {cfg['repeats']} interleaved runs), "
        "validation-selected cost_weight\n"
    )
    for w in wall:
        ratio = w["wall"] / w["model"]
        log(
            f"- {w['part']}, target {w['target']}: {w['estimator']}.predict "
            f"{w['t_clf'] * 1e3:.1f} ms vs {w['reference']} {w['t_ref'] * 1e3:.1f} ms: "
            f"measured speed-up {w['wall']:.2f}x, cost-model speed-up {w['model']:.2f}x, "
            f"ratio {ratio:.2f} ({'meets' if ratio >= 0.8 else 'misses'} the 0.8 target); "
            f"test accuracy {w['acc']:.4f} vs {w['ref_acc']:.4f}.  Time: cost model "
            f"{w['t_model'] * 1e3:.1f} ms, stages on their routed rows "
            f"{w['t_stages'] * 1e3:.1f} ms "
            f"(1-row call costs of the stages run: {w['t_fixed'] * 1e3:.1f} ms), routing + "
            f"policies {w['t_policy'] * 1e3:.1f} ms, residual {w['t_residual'] * 1e3:.1f} ms.  "
            f"{w['note']}."
        )
        if w["tiled"]:
            tl = w["tiled"]
            log(
                f"  - the same on the test split tiled {tl['tile']}x ({tl['rows']} rows"
                f" in one call): measured speed-up {tl['wall']:.2f}x, ratio "
                f"{tl['wall'] / w['model']:.2f}."
            )
    log("\n## Machine\n")
    log(
        f"- {platform.platform()}; processor {platform.processor() or platform.machine()!r}; "
        f"os.cpu_count()={os.cpu_count()}; BLAS/OpenMP threads={args.threads}"
    )
    log(
        f"- Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, pandas {pd.__version__}"
    )
    log(
        f"- mode {'quick' if args.quick else 'full'}, seed {args.seed}; "
        f"{n_convergence} ConvergenceWarning(s) from the policies' LogisticRegression; "
        f"total time {elapsed:.0f}s"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark skadaptive on PMLB letter (see the module docstring)."
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"letter.tsv.gz (default {DEFAULT_DATA})"
    )
    parser.add_argument("--quick", action="store_true", help="5000-row subsample: smoke test")
    parser.add_argument("--seed", type=int, default=0, help="splits and models (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    parser.add_argument("--verbose", action="store_true", help="print every sweep point")
    parser.add_argument(
        "--tile",
        type=int,
        default=1,
        help="also time predict on the test split repeated TILE times (per-call cost check)",
    )
    parser.add_argument("--skip-ns", action="store_true", help="skip network selection")
    parser.add_argument("--skip-ee", action="store_true", help="skip early exit")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        sys.exit(
            f"error: data file not found: {args.data}\n"
            "Pass --data PATH to PMLB's letter.tsv.gz (gzip TSV, last column 'target')."
        )
    start = time.perf_counter()
    X, y = load_letter(args.data)
    if args.quick:
        X, _, y, _ = train_test_split(X, y, train_size=5000, stratify=y, random_state=args.seed)
        cfg = dict(
            lambdas=np.r_[0.0, np.geomspace(1e-3, 10, 12)],
            cv=CV(3, args.seed),
            repeats=3,
            exits=[5, 10, 20, 40],
        )
    else:
        cfg = dict(
            lambdas=np.r_[0.0, np.geomspace(1e-3, 10, 29)],
            cv=CV(5, args.seed),
            repeats=7,
            exits=[10, 25, 50, 100, 200],
        )
    data = make_splits(X, y, args.seed)
    log(
        f"letter: {X.shape[0]} rows x {X.shape[1]} features, {len(np.unique(y))} classes; "
        f"stage-train {len(data[1])}, policy {len(data[3])}, test {len(data[5])} rows"
    )
    rows, wall = [], []
    with threadpool_limits(limits=args.threads), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if not args.skip_ns:
            network_selection(data, args, cfg, rows, wall)
        if not args.skip_ee:
            early_exit(data, args, cfg, rows, wall)
    n_convergence = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n_convergence += 1
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    report(rows, wall, args, cfg, n_convergence, time.perf_counter() - start)


if __name__ == "__main__":
    main()
