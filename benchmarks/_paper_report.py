"""Outputs of ``benchmarks/paper_experiments.py``: tables, curves, plots, environment."""

import contextlib
import datetime
import json
import os
import platform
import sys

import numpy as np
import pandas as pd
from _paper import log

TARGET_LABEL = {0.0: "0 pp", 0.01: "<= 1 pp"}
THREADS = (
    "inference, costs and timing: one thread (threadpoolctl limit 1 for BLAS/OpenMP, "
    "torch.set_num_threads(1), XGBoost/LightGBM n_jobs=1, CatBoost thread_count=1); "
    "training: {n} thread(s)"
)


def case_info(case, seed):
    return dict(
        seed=seed,
        kind=case.kind,
        ref_name=case.ref_name,
        ref_test_acc=case.ref["test_acc"],
        costs=[float(c) for c in case.costs],
        cost_unit=case.cost_unit,
        stage_names=list(case.stage_names),
        rows=(len(case.y_val), len(case.y_test)),
        t_ref=case.t_ref,
        t_ref_proba=case.t_ref_proba,
        notes=list(case.notes),
    )


def fmt(v, spec=".2f", suffix=""):
    return "-" if v is None or not np.isfinite(v) else format(v, spec) + suffix


def mean_sd(values, spec=".2f", suffix=""):
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "-"
    if len(v) == 1:
        return fmt(v[0], spec, suffix)
    return f"{fmt(v.mean(), spec, suffix)} ± {format(v.std(ddof=1), spec.lstrip('+'))}"


def log_split(name, picks, case):
    log(f"    reference {case.ref_name}: test acc {case.ref['test_acc']:.4f}")
    for p in picks:
        meas = "" if p["measured"] is None else f", measured {p['measured']:.2f}x"
        log(
            f"    {p['method']:20s} {p['topology']:5s} {TARGET_LABEL[p['target']]:>7s}: "
            f"chosen {p['chosen']:>10s}, test loss {p['loss_pp']:+.2f} pp, cost model "
            f"{p['speedup']:.2f}x{meas}"
        )


# ----------------------------------------------------------------------------- tables
def aggregate(rows):
    df = pd.DataFrame(rows)
    out = []
    keys = ["experiment", "method", "topology", "target"]
    for key, g in df.groupby(keys, sort=False):
        measured = [m for m in g["measured"] if m is not None and np.isfinite(m)]
        out.append(
            dict(
                zip(keys, key),
                n_splits=len(g),
                test_loss_pp_mean=g["loss_pp"].mean(),
                test_loss_pp_sd=g["loss_pp"].std(ddof=1),
                cost_model_speedup_mean=g["speedup"].mean(),
                cost_model_speedup_sd=g["speedup"].std(ddof=1),
                measured_speedup_mean=np.mean(measured) if measured else np.nan,
                measured_speedup_sd=np.std(measured, ddof=1) if len(measured) > 1 else np.nan,
                n_measured=len(measured),
                n_served_reference=int(g["served_ref"].sum()),
                chosen=";".join(str(c) for c in g["chosen"]),
                timed=";".join(sorted(set(g["timed"]))),
            )
        )
    return pd.DataFrame(out)


def fixed_rows(curves):
    """Single stages and oracles, test figures, per experiment: for the tables."""
    df = pd.DataFrame(curves)
    df = df[df["method"].isin(["single", "oracle"])].copy()
    ref = pd.DataFrame(curves)
    ref = ref[ref["method"] == "reference"].set_index(["experiment", "seed"])["test_acc"]
    df["loss_pp"] = [
        100 * (ref[(e, s)] - a) for e, s, a in zip(df["experiment"], df["seed"], df["test_acc"])
    ]
    df["speedup"] = df["ref_cost"] / df["test_cost"]
    df["what"] = np.where(
        df["method"] == "single",
        "alone: " + df["label"].astype(str),
        "oracle (" + df["topology"] + ")",
    )
    out = []
    for (exp, what), g in df.groupby(["experiment", "what"], sort=False):
        out.append(
            dict(
                experiment=exp,
                method=what,
                topology="-" if what.startswith("alone") else g["topology"].iloc[0],
                target="-",
                n_splits=len(g),
                test_loss_pp_mean=g["loss_pp"].mean(),
                test_loss_pp_sd=g["loss_pp"].std(ddof=1),
                cost_model_speedup_mean=g["speedup"].mean(),
                cost_model_speedup_sd=g["speedup"].std(ddof=1),
            )
        )
    return pd.DataFrame(out)


def cell(row, name, spec=".2f", suffix=""):
    m, s = row.get(f"{name}_mean"), row.get(f"{name}_sd")
    if m is None or not np.isfinite(m):
        return "-"
    if s is None or not np.isfinite(s):
        return fmt(m, spec, suffix)
    return f"{fmt(m, spec, suffix)} ± {format(s, spec.lstrip('+'))}"


def overview(summary):
    """The headline table: learned policies and budget mode, per experiment and topology."""
    lines = [
        "| experiment | method | topology | 0 pp: test loss (pp) | 0 pp: cost model | 0 pp: "
        "measured | <= 1 pp: test loss (pp) | <= 1 pp: cost model | <= 1 pp: measured |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    sub = summary[summary["method"].isin(["learned", "budget mode"])]
    for (exp, method, topo), g in sub.groupby(["experiment", "method", "topology"], sort=False):
        cells = []
        for tol in (0.0, 0.01):
            r = g[g["target"] == tol].iloc[0].to_dict()
            cells += [
                cell(r, "test_loss_pp", "+.2f"),
                cell(r, "cost_model_speedup", ".2f", "x"),
                cell(r, "measured_speedup", ".2f", "x"),
            ]
        lines.append(f"| {exp} | {method} | {topo} | " + " | ".join(cells) + " |")
    return lines


def detail(exp, summary, fixed, infos):
    info = infos[0]
    unit = info["cost_unit"]
    costs = np.mean([i["costs"] for i in infos], axis=0)
    scale, unit_label = (1e6, "us/row") if unit.startswith("seconds") else (1, "trees")
    accs = [i["ref_test_acc"] for i in infos]
    t_ref = [1e3 * i["t_ref"] for i in infos]
    t_proba = [None if i["t_ref_proba"] is None else 1e3 * i["t_ref_proba"] for i in infos]
    what = "the last model alone" if info["kind"] == "ns" else "the full model"
    lines = [
        f"\n### {exp}\n",
        f"- reference: `{info['ref_name']}` ({what}); "
        f"test accuracy {mean_sd(accs, '.4f')} over {len(infos)} splits; validation / test rows "
        f"{info['rows'][0]} / {info['rows'][1]}",
        f"- costs: {unit}; mean over splits: "
        + ", ".join(f"{n} {c * scale:.4g} {unit_label}" for n, c in zip(info["stage_names"], costs))
        + (" (incremental: what each exit adds)" if info["kind"] == "ee" else ""),
        f"- reference's own `predict` on all test rows, one call: {mean_sd(t_ref, '.1f')} ms"
        + (
            f"; its `predict_proba`: {mean_sd(t_proba, '.1f')} ms (the measured speed-ups are "
            "against `predict`)"
            if None not in t_proba
            else ""
        ),
        f"- {'; '.join(info['notes'])} (split seed {info['seed']})",
        "",
        "| method | topology | target | test loss (pp) | cost-model speed-up | measured speed-up "
        "| served the reference | chosen per split |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for _, r in summary[summary["experiment"] == exp].iterrows():
        r = r.to_dict()
        n_meas = (
            f" ({r['n_measured']}/{r['n_splits']})" if 0 < r["n_measured"] < r["n_splits"] else ""
        )
        lines.append(
            f"| {r['method']} | {r['topology']} | {TARGET_LABEL[r['target']]} "
            f"| {cell(r, 'test_loss_pp', '+.2f')} | {cell(r, 'cost_model_speedup', '.2f', 'x')} "
            f"| {cell(r, 'measured_speedup', '.2f', 'x')}{n_meas} "
            f"| {r['n_served_reference']}/{r['n_splits']} | {r['chosen']} |"
        )
    for _, r in fixed[fixed["experiment"] == exp].iterrows():
        r = r.to_dict()
        lines.append(
            f"| {r['method']} | {r['topology']} | - | {cell(r, 'test_loss_pp', '+.2f')} "
            f"| {cell(r, 'cost_model_speedup', '.2f', 'x')} | - | - | - |"
        )
    return lines


# ----------------------------------------------------------------------------- plots
STYLE = {
    ("learned", "chain"): dict(color="C0", ls="-", marker="."),
    ("learned", "jump"): dict(color="C1", ls="--", marker="."),
    ("threshold max_proba", "chain"): dict(color="C2", ls=":", marker=""),
    ("threshold entropy", "chain"): dict(color="C3", ls=":", marker=""),
    ("tuned thresholds", "chain"): dict(color="C4", ls="-.", marker=""),
}
POINTS = {
    ("budget mode", "chain"): dict(color="C0", marker="*", s=160, edgecolor="k"),
    ("budget mode", "jump"): dict(color="C1", marker="*", s=160, edgecolor="k"),
    ("oracle", "chain"): dict(color="C0", marker="X", s=90, edgecolor="k"),
    ("oracle", "jump"): dict(color="C1", marker="P", s=90, edgecolor="k"),
    ("single", "-"): dict(color="0.4", marker="o", s=50),
    ("reference", "-"): dict(color="k", marker="s", s=60),
}


def plot(exp, curves, seed, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(curves)
    df = df[(df["experiment"] == exp) & (df["seed"] == seed)]
    df = df.assign(x=df["test_cost"] / df["ref_cost"], err=1 - df["test_acc"])
    fig, ax = plt.subplots(figsize=(10, 5))
    for (method, topo), g in df.groupby(["method", "topology"], sort=False):
        label = f"{method} ({topo})" if topo != "-" else method
        if (method, topo) in STYLE:
            g = g.sort_values("x")
            ax.plot(g["x"], g["err"], label=label, lw=1.5, ms=5, **STYLE[(method, topo)])
        elif (method, topo) in POINTS:
            if method == "budget mode":
                label += ": targets " + ", ".join(f"{100 * t:g}" for t in g["param"]) + " pp"
            if method == "single":
                label = "single stages"
            ax.scatter(g["x"], g["err"], label=label, zorder=5, **POINTS[(method, topo)])
            if method in ("single", "reference"):
                for _, r in g.iterrows():
                    ax.annotate(
                        str(r["label"]),
                        (r["x"], r["err"]),
                        fontsize=8,
                        xytext=(4, 4),
                        textcoords="offset points",
                    )
    ax.set_xscale("log")
    ax.set_xlabel("average cost relative to the reference (test, cost model)")
    ax.set_ylabel("test error (1 - accuracy)")
    ax.set_title(f"{exp}, split seed {seed}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- environment
def environment(cfg, argv, elapsed):
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    versions = {}
    for name in (
        "numpy",
        "scipy",
        "sklearn",
        "pandas",
        "torch",
        "xgboost",
        "lightgbm",
        "catboost",
        "matplotlib",
        "skadaptive",
    ):
        with contextlib.suppress(ImportError):
            versions["scikit-learn" if name == "sklearn" else name] = __import__(name).__version__
    return dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=" ".join(["python", "benchmarks/paper_experiments.py", *(argv or [])]),
        cpu=cpu,
        cores=os.cpu_count(),
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
        os=platform.platform(),
        python=platform.python_version(),
        versions=versions,
        threads=THREADS.format(n=cfg.train_threads),
        mode="quick" if cfg.quick else "full",
        seeds=cfg.seeds,
        wall_time_s=round(elapsed, 1),
        executable=sys.executable,
    )


def write_all(out, curves, rows, infos, cfg, argv, elapsed):
    env = environment(cfg, argv, elapsed)
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    cols = [
        "experiment",
        "seed",
        "method",
        "topology",
        "param",
        "label",
        "val_acc",
        "test_acc",
        "val_cost",
        "test_cost",
        "ref_cost",
        "family",
    ]
    cdf = pd.DataFrame(curves)
    cdf = cdf[[c for c in cols if c in cdf.columns]]
    cdf.insert(
        cdf.columns.get_loc("test_cost") + 1, "test_rel_cost", cdf["test_cost"] / cdf["ref_cost"]
    )
    cdf.insert(cdf.columns.get_loc("test_cost"), "val_rel_cost", cdf["val_cost"] / cdf["ref_cost"])
    cdf.to_csv(out / "curves.csv", index=False)
    summary = aggregate(rows)
    fixed = fixed_rows(curves)
    table = pd.concat([summary, fixed], ignore_index=True)
    for col in ("n_measured", "n_served_reference"):
        table[col] = table[col].astype("Int64")
    table.to_csv(out / "summary.csv", index=False)
    seed = cfg.seeds[0]
    for exp in infos:
        plot(exp, curves, seed, out / f"curves_{exp}.png")
    lines = [
        "# Paper-style experiments (benchmarks/paper_experiments.py)",
        "",
        f"- date: {env['date']}",
        f"- command: `{env['command']}` ({env['mode']} run; split seeds {env['seeds']})",
        f"- machine: {env['cpu']}, {env['cores']} cores; load average at the end "
        f"{env['load_average_at_end']}",
        f"- OS: {env['os']}; Python {env['python']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        f"- threads: {env['threads']}",
        f"- wall time of the run: {elapsed:.0f} s",
        "",
        "Every operating point is chosen on the validation split (rows no stage model was "
        "trained on) and reported on the test split; mean ± standard deviation over the split "
        "seeds.  Test loss: the reference's test accuracy minus the method's, in percentage "
        "points (negative: more accurate than the reference).  Cost-model speed-up: the "
        "reference's cost over the method's mean cost per test row, with the costs each "
        "experiment states (measured seconds per row, or trees).  Measured speed-up: the "
        "reference model's own `predict` over the fitted estimator's `predict`, all test rows in "
        "one call, one thread, median of interleaved repeats; only the learned policies "
        "(`NetworkSelectionClassifier` / `EarlyExitClassifier` with the chosen `cost_weight` on "
        "the frozen stages) and budget mode (the `...ClassifierCV` estimator) are timed (where "
        "the learned policies serve the reference, their measured speed-up is 1 by definition; "
        "budget mode serving its reference candidate is timed).  Learned: "
        "`cost_weight` chosen on out-of-fold validation estimates; thresholds: on validation "
        "directly; tuned thresholds: budget chosen on out-of-fold validation estimates; budget "
        "mode: its own choice (`max_accuracy_loss`, held-out folds plus one standard error).  "
        "Where no point meets the target on validation, the reference is served "
        "('served the reference').",
        "",
        "## Overview: the paper's policies (learned) and budget mode",
        "",
        *overview(summary),
        "",
        "## Per experiment: every method, single stages and the oracle",
    ]
    for exp, inf in infos.items():
        lines += detail(exp, summary, fixed, inf)
        lines.append(f"\n![{exp}](curves_{exp}.png)")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
