"""Early exit for XGBoost, LightGBM, CatBoost and HistGradientBoosting models (issue 13).

What it measures.  On PMLB tables (``--tables``; by default ``sleep``, the largest
multiclass table after ``kddcup``, and ``adult``, the largest binary one), for a
500-iteration model of each library (its default settings otherwise; trained once with
the default threads, then frozen):

- exits after about 2, 5, 10, 20, 50 and 100% of the iterations (10, 25, 50, 100, 250,
  500), the last one the model itself (the reference);
- ``EarlyExitClassifierCV`` (budget mode, ``costs="time"``) at ``max_accuracy_loss`` 0
  and 0.005 (0.5 pp), fitted on a policy split the model was not trained on, once per
  batch size served (``serving_batch_size`` 1, 100 and all test rows), costs timed
  under one thread; the same with ``families=("learned",)`` (the paper's policies
  only) and ``families=("thresholds",)`` (tuned per-exit max-probability thresholds:
  the threshold baseline), served on all test rows;
- on the test split: the accuracy loss against the reference (pp), the speed-up in
  trees (trees of the model over the mean trees a row evaluates), the cost model's
  promise (``reference_cost`` over the mean ``predict_cost``, in seconds), and the
  measured speed-up: the library's own ``predict_proba`` over the adaptive
  ``predict_proba``, on all test rows in one call, and on consecutive test rows in
  batches of 100 and of 1, median of interleaved repeats (order alternating, garbage
  collector off), with one thread (``threadpool_limits(1)`` and each model's own thread
  setting at 1) and with the default threads;
- the learned policies against the thresholds at equal test loss: the cost-model curves
  (trees) of the learned policies along a lambda path and of tuned thresholds along a
  grid of budgets, both fitted on the policy rows and read on the test rows; for each
  test-loss level, the largest speed-up each curve reaches within it.

Split (stratified, seed 0): test 30%; of the other 70%, five sevenths (50% of all rows)
train the model, two sevenths (20%, at most 10,000 rows, a stratified sample beyond) fit the
policies.  ``--max-rows`` subsamples a table first.

Run from the repository root, on a quiet machine (it measures)::

    python benchmarks/bench_boosting.py > benchmarks/results/bench_boosting.txt
    python benchmarks/bench_boosting.py --quick       # small and fast, to try it

The full run takes about 30 minutes on a 2-core VM.
"""

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from _timing import paired_times, run_all
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from threadpoolctl import threadpool_limits

import skadaptive
from skadaptive import EarlyExitClassifierCV, RoutingPolicy
from skadaptive._stages import stage_outputs
from skadaptive._thresholds import max_proba_scores, tune_thresholds
from skadaptive.metrics import reference_cost
from skadaptive.routers import ThresholdPolicy
from skadaptive.stages import TreeEnsembleExits

REPO = Path(__file__).resolve().parents[1]
PMLB = (REPO / ".." / "shared" / "data" / "pmlb").resolve()
LIBRARIES = ("xgboost", "lightgbm", "catboost", "hgb")
EXIT_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
TARGETS = (0.0, 0.005)
LOSS_LEVELS = (0.0, 0.005, 0.01)  # test-loss levels of the curve comparison
GOAL = 3.0  # measured speed-up on all test rows at <= 0.5 pp, every library


def log(msg=""):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- models
def make_model(library, n_trees):
    if library == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=n_trees, random_state=0)
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=n_trees, random_state=0, verbose=-1)
    if library == "catboost":
        from catboost import CatBoostClassifier

        return CatBoostClassifier(
            iterations=n_trees, random_seed=0, verbose=0, allow_writing_files=False
        )
    return HistGradientBoostingClassifier(max_iter=n_trees, early_stopping=False, random_state=0)


def set_threads(library, model, one):
    """The model's own prediction threads: 1, or its library's default."""
    if library in ("xgboost", "lightgbm"):
        model.set_params(n_jobs=1 if one else None)
    elif library == "catboost":
        # A fitted CatBoost model refuses set_params; its exits read this parameter at
        # each prediction (as the library's predict takes thread_count per call).
        model._init_params["thread_count"] = 1 if one else -1


@contextlib.contextmanager
def threads(models, one):
    """One OpenMP/BLAS thread and every model at one thread, or the defaults."""
    for library, model in models:
        set_threads(library, model, one)
    with threadpool_limits(limits=1) if one else contextlib.nullcontext():
        yield
    for library, model in models:
        set_threads(library, model, False)


def reference_predict(library, model):
    """The library's own ``predict_proba``, with the model's thread setting."""
    if library == "catboost":
        return lambda X: model.predict_proba(X, thread_count=model.get_param("thread_count"))
    return model.predict_proba


# ----------------------------------------------------------------------------- data
def load_table(name, max_rows):
    path = PMLB / name / f"{name}.tsv.gz"
    if not path.is_file():
        sys.exit(f"error: {path} not found (../shared/data/pmlb, see its README)")
    df = pd.read_csv(path, sep="\t")
    X = df.drop(columns="target").to_numpy(dtype=np.float64)
    y = LabelEncoder().fit_transform(df["target"])
    if max_rows and len(y) > max_rows:
        keep, _ = train_test_split(
            np.arange(len(y)), train_size=max_rows, stratify=y, random_state=0
        )
        X, y = X[keep], LabelEncoder().fit_transform(y[keep])
    return X, y


def split(X, y, policy_rows):
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    X_train, X_pol, y_train, y_pol = train_test_split(
        X_rest, y_rest, test_size=2 / 7, stratify=y_rest, random_state=0
    )
    if len(y_pol) > policy_rows:  # budget mode's cost grows with the rows; cap them
        X_pol, _, y_pol, _ = train_test_split(
            X_pol, y_pol, train_size=policy_rows, stratify=y_pol, random_state=0
        )
    return X_train, y_train, X_pol, y_pol, X_test, y_test


# ----------------------------------------------------------------------------- fits
def budget_fit(model, exits, X_pol, y_pol, target, serving, cfg, families=None):
    params = dict(
        exits=exits,
        max_accuracy_loss=target,
        costs="time",
        serving_batch_size=serving,
        selection_cv=cfg.selection_cv,
        random_state=0,
    )
    if families is not None:
        params["families"] = families
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EarlyExitClassifierCV(FrozenEstimator(model), **params).fit(X_pol, y_pol)


def error(proba, y):
    return float(np.mean(proba.argmax(axis=1) != y))


def curves(model, exits, X_pol, y_pol, X_test, y_test, ref_error, cfg):
    """Cost-model (trees) test curves of learned policies and tuned thresholds."""
    view = TreeEnsembleExits(model, exits)
    classes = np.arange(len(view.classes_))
    out_pol = stage_outputs(view, X_pol, view.classes_)
    out_test = stage_outputs(view, X_test, view.classes_)
    costs = view.exit_costs_
    total = costs.sum()
    points = {"learned": [], "thresholds": []}
    for lam in cfg.lambdas:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            policy = RoutingPolicy(costs=costs, cost_weight=float(lam), classes=classes)
            res = policy.fit(out_pol, y_pol).route(out_test)
        points["learned"].append((error(res.proba, y_test) - ref_error, total / res.cost.mean()))
    scores = max_proba_scores(out_pol)
    losses = (out_pol.argmax(axis=2) != y_pol[:, None]).astype(float)
    for fraction in cfg.budgets:
        tuned = tune_thresholds(scores, losses, costs, max_cost=fraction * total)
        router = ThresholdPolicy(threshold=tuned.thresholds, costs=costs, classes=classes)
        res = router.fit(out_pol, y_pol).route(out_test)
        points["thresholds"].append((error(res.proba, y_test) - ref_error, total / res.cost.mean()))
    return points


def best_within(points, level):
    ok = [speed for loss, speed in points if loss <= level + 1e-12]
    return max(ok) if ok else None


# ----------------------------------------------------------------------------- one case
def test_figures(est, reference_error, X_test, y_test, trees):
    """Test loss (pp), speed-up in trees, cost-model promise and exit shares on all rows."""
    res = est.route(X_test)
    return dict(
        loss=100 * (error(res.proba, y_test) - reference_error),
        trees=trees.sum() / float((res.path @ trees).mean()),
        promise=reference_cost(est) / float(res.cost.mean()),
        family=est.best_family_,
        shares=np.bincount(res.stage, minlength=len(trees)) / len(y_test),
    )


def run_case(table, library, data, cfg):
    X_train, y_train, X_pol, y_pol, X_test, y_test = data
    t0 = time.perf_counter()
    model = make_model(library, cfg.n_trees).fit(X_train, y_train)
    fit_s = time.perf_counter() - t0
    exits = [max(1, round(f * cfg.n_trees)) for f in EXIT_FRACTIONS]
    exits[-1] = cfg.n_trees
    ref_error = error(model.predict_proba(X_test), y_test)
    trees = TreeEnsembleExits(model, exits).exit_costs_
    log(f"\n### {table}, {library}: {type(model).__name__}, {cfg.n_trees} iterations\n")
    log(
        f"- trained on {len(y_train)} rows in {fit_s:.1f}s (default threads); test accuracy "
        f"{1 - ref_error:.4f} on {len(y_test)} rows; exits after {exits} iterations "
        f"({trees.sum():.0f} trees); policies fitted on {len(y_pol)} rows"
    )
    n_test = len(y_test)
    sizes = (1, 100, n_test)
    t0 = time.perf_counter()
    fits = {}  # (family, target, serving batch size) -> fitted EarlyExitClassifierCV
    with threads([(library, model)], True):  # costs timed under one thread
        for target in TARGETS:
            for b in sizes:
                fits[("budget", target, b)] = budget_fit(model, exits, X_pol, y_pol, target, b, cfg)
            fits[("thresholds", target, n_test)] = budget_fit(
                model, exits, X_pol, y_pol, target, n_test, cfg, families=("thresholds",)
            )
    log(f"- {len(fits)} budget-mode fits (costs='time') in {time.perf_counter() - t0:.1f}s")
    figures = {k: test_figures(est, ref_error, X_test, y_test, trees) for k, est in fits.items()}
    reference = reference_predict(library, model)
    measured = {}  # (family, target, batch, threads) -> (adaptive s, reference s) per call
    for label, one in (("1 thread", True), ("default threads", False)):
        with threads([(library, model)], one):
            for b in sizes:
                if b == n_test:
                    batches, repeats = [X_test], cfg.repeats_all
                else:
                    batches, repeats = (
                        [X_test[i * b : (i + 1) * b] for i in range(cfg.calls[b])],
                        cfg.repeats,
                    )
                keys = [k for k in fits if k[2] == b]
                fns = [run_all(reference, batches)]
                fns += [run_all(fits[k].predict_proba, batches) for k in keys]
                t_ref, *t_est = paired_times(fns, repeats)
                for k, t in zip(keys, t_est):
                    measured[(*k, label)] = (t / len(batches), t_ref / len(batches))

    def speed(key):
        t, t_ref = measured[key]
        return t_ref / t

    log(
        "\nAll test rows in one call (test loss in pp against the reference; measured speed-up "
        "over the library's own predict_proba, the cost model's promise in brackets):\n"
    )
    log(
        "| policy | target | chosen | test loss (pp) | trees | 1 thread | default threads | "
        "rows answered per exit |"
    )
    log("|---|---:|---|---:|---:|---:|---:|---|")
    case = dict(table=table, library=library, rows={}, curves={})
    for family in ("budget", "thresholds"):
        for target in TARGETS:
            f = figures[(family, target, n_test)]
            one = speed((family, target, n_test, "1 thread"))
            dft = speed((family, target, n_test, "default threads"))
            shares = " ".join(f"{s:.2f}" for s in f["shares"])
            log(
                f"| {family} | {100 * target:.1f} pp | {f['family']} | {f['loss']:+.2f} | "
                f"{f['trees']:.1f}x | {one:.2f}x ({f['promise']:.2f}x) | {dft:.2f}x | {shares} |"
            )
            case["rows"][(family, target)] = dict(loss=f["loss"], one=one, default=dft)
    log(
        "\nBudget mode by batch size, each fitted for the batch size it serves (consecutive "
        "test rows; test loss on all test rows; time per call in us, the library's own "
        "predict_proba in brackets):\n"
    )
    log("| target | batch | test loss (pp) | 1 thread | us per call | default threads | us |")
    log("|---:|---:|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        for b in sizes:
            f = figures[("budget", target, b)]
            cells = []
            for label in ("1 thread", "default threads"):
                t, t_ref = measured[("budget", target, b, label)]
                promise = f" ({f['promise']:.2f}x)" if label == "1 thread" else ""
                cells.append(f"{t_ref / t:.2f}x{promise} | {1e6 * t:.0f} ({1e6 * t_ref:.0f})")
            log(f"| {100 * target:.1f} pp | {b} | {f['loss']:+.2f} | {' | '.join(cells)} |")
    points = curves(model, exits, X_pol, y_pol, X_test, y_test, ref_error, cfg)
    log(
        "\nCost-model curves on the test rows (trees): the largest speed-up within each "
        "test-loss level:\n"
    )
    log("| test loss at most | learned policies | tuned thresholds |")
    log("|---:|---:|---:|")
    for level in LOSS_LEVELS:
        learned = best_within(points["learned"], level)
        thresholds = best_within(points["thresholds"], level)
        log(f"| {100 * level:.1f} pp | {fmt(learned)} | {fmt(thresholds)} |")
        case["curves"][level] = (learned, thresholds)
    return case


def fmt(v):
    return "-" if v is None else f"{v:.1f}x"


# ----------------------------------------------------------------------------- report
def machine():
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    versions = [f"numpy {np.__version__}", f"scikit-learn {sklearn.__version__}"]
    for name in ("xgboost", "lightgbm", "catboost"):
        with contextlib.suppress(ImportError):
            versions.append(f"{name} {__import__(name).__version__}")
    log("## Machine\n")
    log(f"- {platform.platform()}; CPU {cpu!r}; os.cpu_count()={os.cpu_count()}")
    log(
        f"- Python {platform.python_version()}, {', '.join(versions)}, "
        f"skadaptive {skadaptive.__version__}"
    )


def goals(cases):
    log("\n## Goals\n")
    for c in cases:
        r = c["rows"][("budget", 0.005)]
        ok = min(r["one"], r["default"]) >= GOAL and r["loss"] <= 0.5
        log(
            f"- {c['table']}, {c['library']}: budget mode at <= 0.5 pp: test loss "
            f"{r['loss']:+.2f} pp, measured {r['one']:.2f}x (1 thread), {r['default']:.2f}x "
            f"(default threads) on all test rows: {'met' if ok else 'MISSED'} "
            f"(goal >= {GOAL:.0f}x)"
        )
    for c in cases:
        for level, (learned, thresholds) in c["curves"].items():
            if learned is None or thresholds is None:
                continue
            verdict = "at least as fast" if learned >= thresholds - 1e-9 else "SLOWER"
            log(
                f"- {c['table']}, {c['library']}, test loss <= {100 * level:.1f} pp: learned "
                f"{learned:.1f}x, thresholds {thresholds:.1f}x (cost model): learned {verdict}"
            )


class Config:
    def __init__(self, quick):
        self.n_trees = 100 if quick else 500
        self.max_rows = 12_000 if quick else None
        self.selection_cv = 3
        self.policy_rows = 2_000 if quick else 10_000
        self.repeats = 3 if quick else 7
        self.repeats_all = 3 if quick else 5
        self.calls = {1: 50 if quick else 300, 100: 5 if quick else 30}
        # up to lambda 100, where every row answers at the first exit
        self.lambdas = np.r_[0.0, np.geomspace(1e-4, 100.0, 7 if quick else 19)]
        self.budgets = np.geomspace(0.02, 1.0, 8 if quick else 20)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Boosting libraries' early exits.")
    parser.add_argument("--quick", action="store_true", help="small models and samples")
    parser.add_argument("--tables", default="sleep,adult", help="PMLB tables, comma-separated")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--max-rows", type=int, default=None, help="subsample each table")
    args = parser.parse_args(argv)
    cfg = Config(args.quick)
    if args.max_rows:
        cfg.max_rows = args.max_rows
    log("# Early exit for the boosting libraries (benchmarks/bench_boosting.py)\n")
    log(f"Command: python benchmarks/bench_boosting.py {' '.join(argv or sys.argv[1:])}\n")
    machine()
    t_start = time.perf_counter()
    cases = []
    for table in args.tables.split(","):
        X, y = load_table(table, cfg.max_rows)
        log(f"\n## {table}: {len(y)} rows x {X.shape[1]} features, {len(np.unique(y))} classes")
        data = split(X, y, cfg.policy_rows)
        for library in args.libraries.split(","):
            cases.append(run_case(table, library, data, cfg))
    goals(cases)
    log(f"\nTotal {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()
