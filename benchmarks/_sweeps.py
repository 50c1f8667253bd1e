"""Sweeps and selection shared by the benchmark scripts.

Every sweep fits on the validation split and reports both splits, so that an
operating point can be selected on validation and reported on test.
"""

import numpy as np
from sklearn.model_selection import StratifiedKFold

from skadaptive import RoutingPolicy
from skadaptive.baselines import ThresholdPolicy

LEARNED = "learned"


def log(msg=""):
    print(msg, flush=True)


def fmt(v, spec, suffix=""):
    return "-" if v is None else format(v, spec) + suffix


def accuracy(proba, y):
    return float(np.mean(proba.argmax(axis=1) == y))


def routed(res, y):
    """(accuracy, mean cost) of a route result."""
    return accuracy(res.proba, y), float(np.mean(res.cost))


def _record(param, val, test):
    (val_acc, val_cost), (test_acc, test_cost) = val, test
    return dict(
        param=float(param),
        val_acc=val_acc,
        val_cost=val_cost,
        test_acc=test_acc,
        test_cost=test_cost,
    )


def sweep_learned(
    out_val,
    y_val,
    out_test,
    y_test,
    costs,
    topology,
    lambdas,
    n_splits,
    seed,
    classes,
    **policy_params,
):
    """Learned policy over lambda: CV estimate on the validation split, refit, test."""
    folds = list(
        StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(
            out_val[:, 0], y_val
        )
    )
    records = []
    for lam in lambdas:
        params = dict(
            costs=costs, cost_weight=float(lam), topology=topology, classes=classes, **policy_params
        )
        val_proba = np.zeros_like(out_val[:, 0])
        val_cost = np.zeros(len(y_val))
        for fit_rows, held in folds:
            pol = RoutingPolicy(**params).fit(out_val[fit_rows], y_val[fit_rows])
            res = pol.route(out_val[held])
            val_proba[held], val_cost[held] = res.proba, res.cost
        test = routed(RoutingPolicy(**params).fit(out_val, y_val).route(out_test), y_test)
        records.append(_record(lam, (accuracy(val_proba, y_val), float(val_cost.mean())), test))
    return records


def sweep_cv(out_val, y_val, out_test, y_test, params, fit_router, n_splits, seed):
    """Any router over its parameter grid, estimated on validation as ``sweep_learned`` does.

    ``fit_router(param, outputs, y)`` returns a fitted router (anything with ``route``).
    Validation figures are out of fold (``n_splits`` stratified folds of the validation
    split); the test figures come from a refit on the whole validation split.
    """
    folds = list(
        StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(
            out_val[:, 0], y_val
        )
    )
    records = []
    for param in params:
        val_proba = np.zeros_like(out_val[:, 0])
        val_cost = np.zeros(len(y_val))
        for fit_rows, held in folds:
            res = fit_router(param, out_val[fit_rows], y_val[fit_rows]).route(out_val[held])
            val_proba[held], val_cost[held] = res.proba, res.cost
        test = routed(fit_router(param, out_val, y_val).route(out_test), y_test)
        records.append(_record(param, (accuracy(val_proba, y_val), float(val_cost.mean())), test))
    return records


def sweep_threshold(out_val, y_val, out_test, y_test, costs, grid, classes, criterion="max_proba"):
    """Threshold baseline over its grid: it learns nothing, so validation selects it directly."""
    records = []
    for t in grid:
        pol = ThresholdPolicy(threshold=float(t), criterion=criterion, costs=costs, classes=classes)
        pol.fit(out_val, y_val)
        val, test = routed(pol.route(out_val), y_val), routed(pol.route(out_test), y_test)
        records.append(_record(t, val, test))
    return records


def select(records, split, ref_acc, tol):
    """The cheapest record whose accuracy loss on ``split`` is at most ``tol``."""
    ok = [r for r in records if r[f"{split}_acc"] >= ref_acc - tol - 1e-12]
    if not ok:
        return None
    return min(ok, key=lambda r: (r[f"{split}_cost"], -r[f"{split}_acc"]))


def picks(families, ref, tolerances):
    """The validation-selected cost weights of the learned family, one per loss target."""
    records = next(v for k, v in families.items() if k.startswith(LEARNED))
    out = {}
    for tol in tolerances:
        rec = select(records, "val", ref["val_acc"], tol)
        rec = rec or max(records, key=lambda r: r["val_acc"])
        out.setdefault(rec["param"], []).append(tol)
    return out


def print_curves(families, ref_cost):
    for name, records in families.items():
        log(f"  {name}: param -> validation acc / speed-up | test acc / speed-up")
        for r in records:
            log(
                f"    {r['param']:10.4g}  {r['val_acc']:.4f} / {ref_cost / r['val_cost']:7.2f}x"
                f"  | {r['test_acc']:.4f} / {ref_cost / r['test_cost']:7.2f}x"
            )
