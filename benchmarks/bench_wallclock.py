"""Wall clock of ``predict`` against the cost model, at the batch sizes served (issue 11).

What it measures.  For each case below, at batch sizes of 1, 100 and 10,000 rows (all
the test rows when there are fewer), with one BLAS/OpenMP thread
(``threadpool_limits(1)`` and ``torch.set_num_threads(1)``) and with the default
threads:

- the cost-model speed-up: ``skadaptive.metrics.reference_cost(est)`` over the mean
  ``predict_cost`` of the rows timed at that batch size;
- the measured speed-up: the time per call of the reference's *own* ``predict`` (the
  HGB's ``predict``, the last ladder model's ``predict``, the full network's
  ``predict``) over that of the adaptive ``predict``, on the same consecutive test rows
  fed as batches: median of interleaved repeats (each repeat runs every batch through
  the reference, then through the adaptive model, the order alternating between
  repeats, the garbage collector off), so that machine noise hits both; and the ratio
  measured / cost model;
- the latency per call in microseconds, and beside it the latency that
  ``skadaptive.metrics.predicted_wall_clock`` predicts, when it exists;
- a profile of one adaptive ``predict`` call: the stages' own work on the rows routed
  to them (the stage model's ``init_exits`` and ``predict_exit_proba``; for a torch
  network that routes on its device, its blocks and heads, ``_run_stage``), the
  policies (the router's ``stage_block`` and ``decide``; on the device, the rest of
  ``route_linear``), validation (``_check_fitted`` and ``_validate_X`` at the entry) and
  bookkeeping (everything else inside ``predict``).  The methods are wrapped on the
  fitted objects for the profile only (instance attributes; a hook called inside
  another is charged to its own category), nothing in skadaptive changes.  Routing
  overhead = ``predict`` minus the stages' own work, per call, per exit run (the stage
  calls of one ``predict`` call, on average) and in percent of ``predict``;
- per case and fit: the policy budget mode chose, the test accuracy loss against the
  reference, the costs, ``stage_times_`` when fitted with measured times, and the test
  rows answered per stage;
- one line per goal of issue 11, met or missed (where, by how much): measured / cost
  model >= 0.9 at batch 10,000 and >= 0.7 at batch 100; at batch 1 never slower than
  the reference where the cost model promises >= 1.5x; routing overhead <= 10% of
  ``predict`` at batch 10,000 and <= 50 us per exit run per call (checked at batch 1,
  where all of it is per call);
- "lean predict path": each case's ``predict`` (its batch-100 fit, one thread) against
  the code before issue 11's first step (the stages re-validating their input,
  ``check_is_fitted`` walking the tags), interleaved.  This section was the draft
  ``bench_hot_path.py``, merged here (its digits ladders replaced by the cases below).

Cases.  Every model is trained once and frozen; the policies are chosen by budget mode
(``...ClassifierCV``, ``max_accuracy_loss=0.005``) on a policy split the models were
not trained on, and everything is reported on a test split.

1. HGB early exit on PMLB ``adult``: ``HistGradientBoostingClassifier(max_iter=300,
   early_stopping=False)``, exits after 10, 25, 50, 100, 200 and 300 iterations,
   ``EarlyExitClassifierCV``.  Fixed split (stratified, seed 0): test 30%; of the
   other 70%, five sevenths (50% of all rows) train the HGB, two sevenths (20%) fit
   the policies.
2. The same on the largest PMLB classification table by rows (``index.tsv``:
   ``kddcup``, 494,020 rows), subsampled at random to 60,000 rows (``--max-rows``)
   before the split, so that its 300 x n_classes trees train in a few minutes; classes
   with fewer than 20 of those rows are dropped (the output says which).
3. The letter network-selection ladder of ``bench_letter.py`` (MLP 64 -> MLP 256x256 ->
   calibrated RBF SVC; its loader, splits and ``make_ladder`` imported from it),
   ``NetworkSelectionClassifierCV`` (topology "jump").
4. The MNIST 4-exit CNN of ``bench_mnist_torch.py`` (``MultiExitNetwork``, CPU, trained
   8 epochs instead of 15), ``EarlyExitClassifierCV``; test: the 10,000 test images.
5. The MNIST 3-CNN ladder of ``bench_mnist_torch.py`` (``TorchClassifier`` x 3, CPU, 8
   epochs), ``NetworkSelectionClassifierCV``.
6. The GPU case: skipped, with a line that says so, when CUDA is not available (when it
   is, the line points to ``bench_mnist_torch.py --device cuda``: no GPU case here).

Costs.  ``TIME_AWARE`` (below) detects the time-aware cost model (the estimators'
``serving_batch_size``).  With it, every case is fitted with ``costs="time"`` once per
batch size reported, with ``serving_batch_size`` set to it (``--two-fits``: at 100 and
10,000 only, the batch-100 fit serving batch 1 too).  Without it (or with
``--today-costs``), each case is fitted once with the costs it uses today (HGB:
boosting iterations; the ladders and the CNN: ``"time"``) and that fit serves every
batch size.  Costs are timed at fit under one thread.

Run from the repository root, on a quiet machine (it measures)::

    python benchmarks/bench_wallclock.py > benchmarks/results/bench_wallclock.txt
    python benchmarks/bench_wallclock.py --quick            # subsamples, 3-5 minutes
    python benchmarks/bench_wallclock.py --quick --cases adult,letter

The full run takes about 15-20 minutes on a 2-core VM: about 7 training the models
(the kddcup HGB 2-4, the letter ladder about 2), about 5 in budget-mode fits (three per
case; ``--two-fits`` saves about a third of that) and about 5 timing.
"""

import argparse
import contextlib
import inspect
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from _timing import no_gc, paired_times, run_all
from bench_letter import load_letter, make_ladder, make_splits
from bench_mnist_torch import (
    N_CLASSES,
    cnn,
    load_test,
    load_train,
    multi_exit_forward,
    multi_exit_modules,
    scale,
    torch_threads,
    train,
)
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_info, threadpool_limits

import skadaptive
import skadaptive.metrics
from skadaptive import EarlyExitClassifierCV, NetworkSelectionClassifierCV
from skadaptive._base import BaseAdaptiveClassifier
from skadaptive.metrics import reference_cost
from skadaptive.torch import MultiExitNetwork, TorchClassifier, export_adaptive, save_adaptive

# The time-aware cost model (costs="time" with serving_batch_size, stage_times_) and the
# predicted wall clock, when this skadaptive has them; otherwise today's costs.
# --today-costs turns TIME_AWARE off.
TIME_AWARE = all(
    "serving_batch_size" in inspect.signature(cls).parameters
    for cls in (EarlyExitClassifierCV, NetworkSelectionClassifierCV)
)
PREDICTS_WALL_CLOCK = hasattr(skadaptive.metrics, "predicted_wall_clock")

REPO = Path(__file__).resolve().parents[1]
PMLB = (REPO / ".." / "shared" / "data" / "pmlb").resolve()
MAX_ACCURACY_LOSS = 0.005
HGB_EXITS = (10, 25, 50, 100, 200, 300)
MAX_ROWS = 60_000  # the largest table is subsampled to this many rows (--max-rows)
MIN_CLASS_ROWS = 20  # of the subsample; rarer classes are dropped
BATCHES = (1, 100, 10_000)
ALL_CASES = ("adult", "largest", "letter", "mnist-ee", "mnist-ns")
GOALS = dict(ratio_10k=0.9, ratio_100=0.7, batch1_promise=1.5, overhead_pct=0.10, per_exit_us=50)


def log(msg=""):
    print(msg, flush=True)


# ----------------------------------------------------------------------------- settings
@dataclass
class Config:
    quick: bool
    repeats: int  # interleaved timing repeats
    profile_repeats: int
    target_s: float  # about this many seconds of reference calls per repeat (batch 1, 100)
    min_calls: dict  # the fewest calls per repeat, per batch size (1, 100)
    max_calls: dict  # the most calls per repeat, per batch size (1, 100)
    hgb_iter: int
    hgb_exits: tuple
    adult_rows: int | None
    largest_rows: int
    letter_rows: int | None
    mnist_test_rows: int | None
    epochs: int
    selection_cv: int
    cost_weights: np.ndarray | None
    two_fits: bool


def make_config(args):
    if args.quick:
        return Config(
            quick=True,
            repeats=3,
            profile_repeats=1,
            target_s=0.03,
            min_calls={1: 16, 100: 2},
            max_calls={1: 32, 100: 4},
            hgb_iter=100,
            hgb_exits=(10, 25, 50, 100),
            adult_rows=8_000,
            largest_rows=10_000,
            letter_rows=3_000,
            mnist_test_rows=2_000,
            epochs=2,
            selection_cv=3,
            cost_weights=np.r_[0.0, np.geomspace(1e-4, 1.0, 5)],
            two_fits=args.two_fits,
        )
    return Config(
        quick=False,
        repeats=7,
        profile_repeats=3,
        target_s=0.25,
        min_calls={1: 64, 100: 5},
        max_calls={1: 256, 100: 20},
        hgb_iter=300,
        hgb_exits=HGB_EXITS,
        adult_rows=None,
        largest_rows=args.max_rows,
        letter_rows=None,
        mnist_test_rows=None,
        epochs=8,
        selection_cv=5,
        cost_weights=None,
        two_fits=args.two_fits,
    )


@contextlib.contextmanager
def threads(one):
    """One BLAS/OpenMP and torch thread inside (``one``), or the defaults as they are."""
    if not one:
        yield
        return
    with threadpool_limits(limits=1), torch_threads(1):
        yield


THREADS = (("1 thread", True), ("default threads", False))


def budget_params(cfg, serving, today_costs):
    """Costs and budget-mode settings of one fit; ``serving``: the batch size it serves."""
    params = dict(max_accuracy_loss=MAX_ACCURACY_LOSS, selection_cv=cfg.selection_cv)
    params["cost_weights"] = cfg.cost_weights
    params["random_state"] = 0
    if TIME_AWARE:
        params.update(costs="time", serving_batch_size=serving)
    else:
        params["costs"] = today_costs
    return params


def fit_per_batch(make, sizes, cfg):
    """``{batch size: fitted estimator}``: one fit per size served (time-aware), else one."""
    t0 = time.perf_counter()
    if TIME_AWARE:
        fit_sizes = [b for b in sizes if not (cfg.two_fits and b == 1)]
        fits = {b: make(b) for b in fit_sizes}
        if cfg.two_fits:
            fits[1] = fits[100]
        how = f"{len(fit_sizes)} fits (costs='time', serving_batch_size={fit_sizes})"
        if cfg.two_fits:
            how += "; the batch-100 fit serves batch 1"
    else:
        est = make(None)
        fits = dict.fromkeys(sizes, est)
        how = "one fit with today's costs (no serving_batch_size, or --today-costs), every batch"
    return fits, f"{how}; {time.perf_counter() - t0:.1f}s"


@dataclass
class Case:
    name: str
    X_test: np.ndarray
    y_test: np.ndarray
    reference: object  # the reference's own predict
    reference_name: str
    fits: dict  # batch size -> fitted adaptive estimator
    sizes: tuple  # the batch sizes reported (the last: 10,000 or all test rows)
    notes: list = field(default_factory=list)
    exportable: bool = False  # an early exit over a MultiExitNetwork: time export_adaptive too


def served_sizes(n_test):
    return (1, 100, min(BATCHES[-1], n_test))


# ----------------------------------------------------------------------------- cases
def pmlb_table(name):
    path = PMLB / name / f"{name}.tsv.gz"
    if not path.is_file():
        sys.exit(f"error: {path} not found (../shared/data/pmlb, see its README)")
    df = pd.read_csv(path, sep="\t")
    X = df.drop(columns="target").to_numpy(dtype=np.float64)
    return X, df["target"].to_numpy()


def largest_table():
    index = pd.read_csv(PMLB / "index.tsv", sep="\t")
    row = index.loc[index["n_samples"].idxmax()]
    return str(row["name"]), int(row["n_samples"])


def hgb_case(label, X, y, cfg, notes):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    X_stage, X_pol, y_stage, y_pol = train_test_split(
        X_train, y_train, test_size=2 / 7, stratify=y_train, random_state=0
    )
    t0 = time.perf_counter()
    hgb = HistGradientBoostingClassifier(
        max_iter=cfg.hgb_iter, early_stopping=False, random_state=0
    ).fit(X_stage, y_stage)  # default threads
    notes.append(
        f"{len(y)} rows x {X.shape[1]} features, {len(np.unique(y))} classes; HGB "
        f"({cfg.hgb_iter} iterations, exits {list(cfg.hgb_exits)}) trained on {len(y_stage)} rows "
        f"in {time.perf_counter() - t0:.1f}s; policies on {len(y_pol)}; test {len(y_test)}"
    )
    sizes = served_sizes(len(y_test))

    def make(serving):
        params = budget_params(cfg, serving, today_costs=None)  # today: iterations
        est = EarlyExitClassifierCV(FrozenEstimator(hgb), exits=list(cfg.hgb_exits), **params)
        with threads(True):
            return est.fit(X_pol, y_pol)

    fits, how = fit_per_batch(make, sizes, cfg)
    notes.append(how)
    return Case(label, X_test, y_test, hgb.predict, "HGB.predict", fits, sizes, notes)


def adult_case(cfg):
    X, y = pmlb_table("adult")
    y = LabelEncoder().fit_transform(y)
    notes = []
    if cfg.adult_rows:
        X, _, y, _ = train_test_split(X, y, train_size=cfg.adult_rows, stratify=y, random_state=0)
        notes.append(f"--quick: subsampled to {cfg.adult_rows} rows")
    return hgb_case("HGB early exit, adult", X, y, cfg, notes)


def largest_case(cfg):
    name, n_rows = largest_table()
    X, y = pmlb_table(name)
    notes = [f"{name}: the largest PMLB classification table here ({n_rows} rows, index.tsv)"]
    if len(y) > cfg.largest_rows:
        keep = np.sort(np.random.default_rng(0).permutation(len(y))[: cfg.largest_rows])
        X, y = X[keep], y[keep]
        notes.append(f"subsampled at random (seed 0) to {cfg.largest_rows} rows for fitting")
    labels, counts = np.unique(y, return_counts=True)
    rare = labels[counts < MIN_CLASS_ROWS]
    if len(rare):
        keep = ~np.isin(y, rare)
        notes.append(
            f"dropped {len(rare)} classes with fewer than {MIN_CLASS_ROWS} rows "
            f"({int((~keep).sum())} rows): {rare.tolist()}"
        )
        X, y = X[keep], y[keep]
    y = LabelEncoder().fit_transform(y)
    return hgb_case(f"HGB early exit, {name}", X, y, cfg, notes)


def letter_case(cfg):
    path = PMLB / "letter" / "letter.tsv.gz"
    if not path.is_file():
        sys.exit(f"error: {path} not found")
    X, y = load_letter(path)
    notes = []
    if cfg.letter_rows:
        X, _, y, _ = train_test_split(X, y, train_size=cfg.letter_rows, stratify=y, random_state=0)
        notes.append(f"--quick: subsampled to {cfg.letter_rows} rows")
    X_stage, y_stage, X_pol, y_pol, X_test, y_test = make_splits(X, y, 0)
    t0 = time.perf_counter()
    ladder = make_ladder(cfg.quick, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [(name, est.fit(X_stage, y_stage)) for name, est in ladder]
    notes.append(
        f"ladder {[name for name, _ in models]} (bench_letter.make_ladder) trained on "
        f"{len(y_stage)} rows in {time.perf_counter() - t0:.1f}s; policies on {len(y_pol)}; "
        f"test {len(y_test)}"
    )
    return ladder_case("letter network selection", models, X_pol, y_pol, X_test, y_test, cfg, notes)


def ladder_case(name, models, X_pol, y_pol, X_test, y_test, cfg, notes):
    """A network-selection case over fitted ``models``, frozen; the last one is the reference."""
    sizes = served_sizes(len(y_test))

    def make(serving):
        params = budget_params(cfg, serving, today_costs="time")
        frozen = [(model_name, FrozenEstimator(m)) for model_name, m in models]
        est = NetworkSelectionClassifierCV(frozen, topology="jump", **params)
        with threads(True):
            return est.fit(X_pol, y_pol)

    fits, how = fit_per_batch(make, sizes, cfg)
    notes.append(how)
    last_name, last = models[-1]
    return Case(name, X_test, y_test, last.predict, f"{last_name}.predict", fits, sizes, notes)


def mnist_data(cfg):
    X, y, _ = load_train()
    X_test, y_test = load_test((REPO / ".." / "shared" / "data" / "mnist_test").resolve())
    X, X_test = scale(X), scale(X_test)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, train_size=3500, stratify=y, random_state=0)
    # One fixed random order of the test images (the batches are consecutive rows).
    keep = np.random.default_rng(0).permutation(len(y_test))[: cfg.mnist_test_rows]
    X_test, y_test = X_test[keep], y_test[keep]
    return X_tr, y_tr, X_val, y_val, X_test, y_test


def mnist_ee_case(cfg, data):
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    torch.manual_seed(0)
    blocks, heads = multi_exit_modules(16)
    t0 = time.perf_counter()
    train([*blocks, *heads], multi_exit_forward(blocks, heads), X_tr, y_tr, cfg.epochs, "cpu", 0)
    net = MultiExitNetwork(blocks, heads, classes=np.arange(N_CLASSES), batch_size=256).fit()
    notes = [
        f"4-exit CNN (bench_mnist_torch.multi_exit_modules) trained {cfg.epochs} epochs on "
        f"{len(y_tr)} rows in {time.perf_counter() - t0:.1f}s; policies on {len(y_val)}; "
        f"test {len(y_test)}; 256 rows per forward pass"
    ]
    sizes = served_sizes(len(y_test))

    def make(serving):
        params = budget_params(cfg, serving, today_costs="time")
        with threads(True):
            return EarlyExitClassifierCV(FrozenEstimator(net), **params).fit(X_val, y_val)

    fits, how = fit_per_batch(make, sizes, cfg)
    notes.append(how)
    return Case(
        "MNIST multi-exit CNN", X_test, y_test, net.predict, "full network .predict", fits,
        sizes, notes, exportable=True,
    )  # fmt: skip


def mnist_ns_case(cfg, data):
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    t0 = time.perf_counter()
    models = []
    for c in (8, 16, 32):
        torch.manual_seed(0)
        module = cnn(c)
        train([module], lambda x, m=module: [m(x)], X_tr, y_tr, cfg.epochs, "cpu", 0)
        clf = TorchClassifier(module, classes=np.arange(N_CLASSES), batch_size=256).fit()
        models.append((f"cnn{c}", clf))
    notes = [
        f"CNNs of width 8, 16, 32 (bench_mnist_torch.cnn) trained {cfg.epochs} epochs on "
        f"{len(y_tr)} rows in {time.perf_counter() - t0:.1f}s; policies on {len(y_val)}; "
        f"test {len(y_test)}; 256 rows per forward pass"
    ]
    return ladder_case("MNIST 3-CNN ladder", models, X_val, y_val, X_test, y_test, cfg, notes)


# ----------------------------------------------------------------------------- timing
def row_sets(case, cfg):
    """The batches timed at each batch size: as many as fill ``cfg.target_s`` of reference
    calls (batch 1 and 100), one batch of the largest size; consecutive test rows."""
    X = case.X_test
    sets = {}
    with threads(True):
        for b in case.sizes:
            if b == case.sizes[-1]:
                sets[b] = [X[:b]]
                continue
            case.reference(X[:b])  # warm-up
            runs = []
            for i in range(1, 4):
                t0 = time.perf_counter()
                case.reference(X[i * b : (i + 1) * b])
                runs.append(time.perf_counter() - t0)
            t_call = max(float(np.median(runs)), 1e-6)
            n = int(np.clip(round(cfg.target_s / t_call), cfg.min_calls[b], cfg.max_calls[b]))
            n = min(n, len(X) // b)
            sets[b] = [X[i * b : (i + 1) * b] for i in range(n)]
    return sets


class Profile:
    """Exclusive time in the hooks of a fitted estimator's ``predict``, by category.

    Wraps methods on the fitted objects (instance attributes shadowing the class's, so
    that nothing else sees them) and removes the wrappers on exit.  A hook called inside
    another charges its time to its own category, not to its caller's.
    """

    def __init__(self, est):
        self.est = est
        self.seconds = dict(validation=0.0, init=0.0, stages=0.0, policies=0.0)
        self.stage_runs = 0
        self._stack = []
        self._patches = []

    def _wrap(self, obj, name, category, counts=False):
        if not callable(getattr(obj, name, None)):
            return
        own = vars(obj).get(name)
        original = getattr(obj, name)

        def timed(*args, **kwargs):
            if counts and not (self._stack and self._stack[-1][0] == "stages"):
                self.stage_runs += 1
            frame = [category, 0.0]
            self._stack.append(frame)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                self._stack.pop()
                self.seconds[category] += dt - frame[1]
                if self._stack:
                    self._stack[-1][1] += dt

        setattr(obj, name, timed)
        self._patches.append((obj, name, own))

    def __enter__(self):
        est, model, router = self.est, self.est.stage_model_, self.est.policy_
        self._wrap(est, "_check_fitted", "validation")
        self._wrap(est, "_validate_X", "validation")
        self._wrap(model, "init_exits", "init")
        self._wrap(model, "predict_exit_proba", "stages", counts=True)
        if isinstance(model, MultiExitNetwork):  # its blocks and heads, also on the device
            self._wrap(model, "_run_stage", "stages", counts=True)
            self._wrap(model, "route_linear", "policies")
        self._wrap(router, "stage_block", "policies")
        self._wrap(router, "decide", "policies")
        return self

    def __exit__(self, *exc):
        for obj, name, own in reversed(self._patches):
            if own is None:
                delattr(obj, name)
            else:
                setattr(obj, name, own)
        self._patches = []


def profile_predict(est, batches, repeats):
    """Microseconds per ``predict`` call in each category, and stage runs per call."""
    for X_b in batches:  # warm-up
        est.predict(X_b)
    total = 0.0
    with Profile(est) as prof, no_gc():
        for _ in range(repeats):
            for X_b in batches:
                t0 = time.perf_counter()
                est.predict(X_b)
                total += time.perf_counter() - t0
    calls = repeats * len(batches)
    us = {k: v / calls * 1e6 for k, v in prof.seconds.items()}
    us["predict"] = total / calls * 1e6
    us["bookkeeping"] = us["predict"] - sum(prof.seconds.values()) / calls * 1e6
    us["overhead"] = us["predict"] - us["init"] - us["stages"]
    us["runs"] = prof.stage_runs / calls
    return us


def time_case(case, cfg, sets):
    """Timing and profile of every batch size, in both thread settings."""
    results = []
    for label, one in THREADS:
        with threads(one):
            for b in case.sizes:
                est, batches = case.fits[b], sets[b]
                t_ref, t_est = paired_times(
                    [run_all(case.reference, batches), run_all(est.predict, batches)],
                    cfg.repeats,
                )
                rows = np.concatenate(batches)
                promised = reference_cost(est) / float(est.predict_cost(rows).mean())
                predicted = None
                if PREDICTS_WALL_CLOCK and getattr(est, "stage_times_", None) is not None:
                    try:
                        seconds = skadaptive.metrics.predicted_wall_clock(est, rows, batch_size=b)
                        predicted = float(seconds) / len(batches)
                    except Exception as exc:  # a new API: report, do not stop the run
                        predicted = f"{type(exc).__name__}: {exc}"
                calls = len(batches)
                prof = profile_predict(est, batches, cfg.profile_repeats)
                results.append(
                    dict(
                        threads=label,
                        batch=b,
                        calls=calls,
                        rows=len(rows),
                        t_ref=t_ref / calls,
                        t_est=t_est / calls,
                        measured=t_ref / t_est,
                        promised=promised,
                        predicted=predicted,
                        profile=prof,
                    )
                )
    return results


def lean_path_gain(case, cfg, sets):
    """The lean predict path against the code before it (interleaved, one thread)."""
    est = case.fits[100]
    lean = (BaseAdaptiveClassifier._stage_config, BaseAdaptiveClassifier._check_fitted)
    plain = (lambda self, X: contextlib.nullcontext(), lambda self: check_is_fitted(self))

    def with_path(path, batches):
        def run():
            BaseAdaptiveClassifier._stage_config, BaseAdaptiveClassifier._check_fitted = path
            for X_b in batches:
                est.predict(X_b)

        return run

    out = []
    try:
        with threads(True):
            for b in case.sizes:
                batches = sets[b]
                before, after = paired_times(
                    [with_path(plain, batches), with_path(lean, batches)], cfg.repeats
                )
                out.append((b, before / len(batches), after / len(batches)))
    finally:
        BaseAdaptiveClassifier._stage_config, BaseAdaptiveClassifier._check_fitted = lean
    return out


def export_timing(case, cfg, sets):
    """The exported module against the estimator and the full network (interleaved).

    ``export_adaptive``'s module run eagerly, and the program ``save_adaptive`` writes,
    loaded back with ``torch.export.load(...).module()`` as a serving stack would; both
    on float32 tensors made once per batch (the conversion is not timed).
    """
    import tempfile

    out = []
    for label, one in THREADS:
        with threads(one):
            for b in case.sizes:
                est, batches = case.fits[b], sets[b]
                module = export_adaptive(est)
                with tempfile.TemporaryDirectory() as tmp:
                    save_adaptive(est, os.path.join(tmp, "model.pt2"))
                    loaded = torch.export.load(os.path.join(tmp, "model.pt2")).module()
                tensors = [torch.as_tensor(np.asarray(X_b, dtype=np.float32)) for X_b in batches]
                same = all(
                    np.array_equal(module(x)[1].numpy(), est.apply(X_b))
                    for x, X_b in zip(tensors[:3], batches[:3])
                )

                def run_module(m, tensors=tensors):
                    def run():
                        with torch.inference_mode():
                            for x in tensors:
                                m(x)

                    return run

                t_ref, t_est, t_mod, t_load = paired_times(
                    [
                        run_all(case.reference, batches),
                        run_all(est.predict, batches),
                        run_module(module),
                        run_module(loaded),
                    ],
                    cfg.repeats,
                )
                n = len(batches)
                out.append((label, b, t_ref / n, t_est / n, t_mod / n, t_load / n, same))
    return out


def print_export(case, rows):
    log(f"\n### {case.name}: the exported module (skadaptive.torch.export_adaptive)\n")
    log(
        "Eager = export_adaptive's nn.Module; loaded = save_adaptive's torch.export program, "
        "loaded with torch.export.load(...).module(); same exits as the estimator's apply on "
        "the first batches: checked.\n"
    )
    log(
        "| threads | batch | full network us/call | estimator predict | exported, eager "
        "| exported, loaded | eager vs full | same exits |"
    )
    log("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, b, t_ref, t_est, t_mod, t_load, same in rows:
        log(
            f"| {label} | {batch_label(b, case)} | {t_ref * 1e6:.0f} | {t_est * 1e6:.0f} "
            f"| {t_mod * 1e6:.0f} | {t_load * 1e6:.0f} | {t_ref / t_mod:.2f}x | {same} |"
        )


# ----------------------------------------------------------------------------- report
def batch_label(b, case):
    if b == case.sizes[-1] and b < BATCHES[-1]:
        return f"{b} (all)"
    return f"{b:,}"


def describe_fits(case):
    ref_acc = float(np.mean(case.reference(case.X_test) == case.y_test))
    log(f"- reference: {case.reference_name}, test accuracy {ref_acc:.4f}")
    served = {}  # id of each distinct fit -> the batch sizes it serves
    for b in case.sizes:
        served.setdefault(id(case.fits[b]), []).append(batch_label(b, case))
    for b in case.sizes:
        est = case.fits[b]
        if id(est) not in served:
            continue
        batches = ", ".join(served.pop(id(est)))
        acc = float(np.mean(est.predict(case.X_test) == case.y_test))
        stage = est.apply(case.X_test)
        counts = np.bincount(stage, minlength=est.n_stages_)
        cost = float(est.predict_cost(case.X_test).mean())
        chosen = est.best_family_
        if est.cost_weight_ is not None:
            chosen += f", cost_weight={est.cost_weight_:.3g}"
        if est.cost_fraction_ is not None:
            chosen += f", cost_fraction={est.cost_fraction_:.3g}"
        head = f"fit for serving_batch_size={est.serving_batch_size}" if TIME_AWARE else "fit"
        head += f" (timed at batch {batches})"
        log(
            f"- {head}: budget mode chose {chosen}; test accuracy {acc:.4f}, loss "
            f"{100 * (ref_acc - acc):+.2f} pp (target <= {100 * MAX_ACCURACY_LOSS:g} pp on "
            f"validation); cost-model speed-up on every test row "
            f"{reference_cost(est) / cost:.2f}x"
        )
        log(f"  - costs_ {np.array2string(est.costs_, precision=4)}")
        stage_times = getattr(est, "stage_times_", None)
        if stage_times is not None:
            st = np.asarray(stage_times) * 1e6
            cells = ", ".join(f"{c:.1f} us/call + {r:.3f} us/row" for c, r in st)
            log(f"  - stage_times_: {cells}")
        shares = ", ".join(
            f"{k}: {n} ({n / len(stage):.1%})" for k, n in enumerate(counts.tolist())
        )
        log(f"  - rows answered per stage (test): {shares}")


def print_timing(case, results):
    pred_head = " predicted us/call |" if PREDICTS_WALL_CLOCK else ""
    log(
        "\n| threads | batch | calls | adaptive us/call |"
        + pred_head
        + " reference us/call | measured | cost model | ratio |"
    )
    log("|---|---:|---:|---:|" + ("---:|" if PREDICTS_WALL_CLOCK else "") + "---:|---:|---:|---:|")
    for r in results:
        pred = ""
        if PREDICTS_WALL_CLOCK:
            p = r["predicted"]
            if p is None:  # not fitted with measured times
                pred = " - |"
            else:
                pred = f" {p * 1e6:.0f} |" if isinstance(p, float) else f" {p} |"
        log(
            f"| {r['threads']} | {batch_label(r['batch'], case)} | {r['calls']} "
            f"| {r['t_est'] * 1e6:.0f} |{pred} {r['t_ref'] * 1e6:.0f} | {r['measured']:.2f}x "
            f"| {r['promised']:.2f}x | {r['measured'] / r['promised']:.2f} |"
        )


def pct(part, whole):
    return f"{part:.0f} ({part / whole:.0%})"


def print_profile(case, results):
    log(
        "\nProfile of one adaptive predict call (us per call, % of predict; exits run = "
        "stage calls per predict call; overhead = predict minus the stages' own work):\n"
    )
    log(
        "| threads | batch | predict | validation | stages | of which init_exits | policies "
        "| bookkeeping | routing overhead | exits run | overhead per exit run |"
    )
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        p = r["profile"]
        whole = p["predict"]
        per_exit = p["overhead"] / max(p["runs"], 1e-12)
        log(
            f"| {r['threads']} | {batch_label(r['batch'], case)} | {whole:.0f} "
            f"| {pct(p['validation'], whole)} | {pct(p['init'] + p['stages'], whole)} "
            f"| {p['init']:.0f} | {pct(p['policies'], whole)} | {pct(p['bookkeeping'], whole)} "
            f"| {pct(p['overhead'], whole)} | {p['runs']:.2f} | {per_exit:.1f} |"
        )


def goals(all_results):
    """One line per goal of issue 11: met, or missed (where, by how much)."""
    log("\n## Goals (issue 11)\n")
    checks = []
    for case, results in all_results:
        for r in results:
            where = f"{case.name}, {r['threads']}, batch {batch_label(r['batch'], case)}"
            ratio = r["measured"] / r["promised"]
            p = r["profile"]
            last = r["batch"] == case.sizes[-1]
            if last:
                checks.append(("ratio_10k", where, ratio, ratio - GOALS["ratio_10k"]))
                share = p["overhead"] / p["predict"]
                checks.append(("overhead_pct", where, share, GOALS["overhead_pct"] - share))
            if r["batch"] == 100:
                checks.append(("ratio_100", where, ratio, ratio - GOALS["ratio_100"]))
            if r["batch"] == 1 and r["promised"] >= GOALS["batch1_promise"]:
                checks.append(("batch1", where, r["measured"], r["measured"] - 1.0))
            if r["batch"] == 1:  # the per-call part of the overhead: nothing scales with rows
                per_exit = p["overhead"] / max(p["runs"], 1e-12)
                checks.append(("per_exit_us", where, per_exit, GOALS["per_exit_us"] - per_exit))
    text = {
        "ratio_10k": ("measured / cost model >= 0.9 at batch 10,000 (or all test rows)", "{:.2f}"),
        "ratio_100": ("measured / cost model >= 0.7 at batch 100", "{:.2f}"),
        "batch1": (
            "batch 1: never slower than the reference where the cost model says >= 1.5x "
            "(measured speed-up >= 1)",
            "{:.2f}x",
        ),
        "overhead_pct": ("routing overhead <= 10% of predict at batch 10,000", "{:.1%}"),
        "per_exit_us": (
            "routing overhead <= 50 us per exit run per call (at batch 1, where all of it is "
            "per call; larger batches add per-row work, shown in the profiles)",
            "{:.1f}",
        ),
    }
    for key, (title, fmt) in text.items():
        rows = [c for c in checks if c[0] == key]
        missed = [c for c in rows if c[3] < 0]
        if not rows:
            log(f"- {title}: no cell applies")
        elif not missed:
            log(f"- {title}: **met** in all {len(rows)} cells")
        else:
            log(f"- {title}: **missed** in {len(missed)} of {len(rows)} cells")
            for _, where, value, margin in missed:
                by = f"{-margin:.1%}" if key == "overhead_pct" else f"{-margin:.2f}"
                if key == "per_exit_us":
                    by = f"{-margin:.1f} us"
                log(f"  - {where}: {fmt.format(value)} (missed by {by})")


def machine():
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    log("## Machine\n")
    log(f"- {platform.platform()}; CPU {cpu!r}; os.cpu_count()={os.cpu_count()}")
    log(
        f"- Python {platform.python_version()}, numpy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}, torch {torch.__version__}, pandas {pd.__version__}, "
        f"skadaptive {skadaptive.__version__}"
    )
    pools = ", ".join(
        f"{p['internal_api']} ({p['user_api']}) {p['num_threads']}" for p in threadpool_info()
    )
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    env = {k: os.environ[k] for k in names if os.environ.get(k)}
    log(
        f"- default threads: torch {torch.get_num_threads()}, thread pools: {pools or 'none'}; "
        f"environment {env or 'no *_NUM_THREADS set'}; '1 thread' = threadpool_limits(1) and "
        "torch.set_num_threads(1)"
    )
    log(
        f"- time-aware cost model (serving_batch_size): {'yes' if TIME_AWARE else 'no'}; "
        f"skadaptive.metrics.predicted_wall_clock: {'yes' if PREDICTS_WALL_CLOCK else 'no'}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Wall clock vs cost model (see the docstring).")
    parser.add_argument("--quick", action="store_true", help="small data, few repeats")
    parser.add_argument(
        "--cases",
        default=",".join(ALL_CASES),
        help=f"comma-separated subset of {','.join(ALL_CASES)} (default: all)",
    )
    parser.add_argument(
        "--two-fits",
        action="store_true",
        help="time-aware cost model only: fit at 100 and 10,000, the batch-100 fit serving batch 1",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=MAX_ROWS,
        help=f"rows kept of the largest table (default {MAX_ROWS}; its HGB trains on half)",
    )
    parser.add_argument(
        "--today-costs",
        action="store_true",
        help="fit once with today's costs even where the time-aware cost model exists",
    )
    parser.add_argument("--no-lean-path", action="store_true", help="skip the lean path section")
    args = parser.parse_args(argv)
    global TIME_AWARE
    TIME_AWARE = TIME_AWARE and not args.today_costs
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(ALL_CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose among {list(ALL_CASES)}")
    cfg = make_config(args)
    start = time.perf_counter()
    log("# Wall clock of predict against the cost model (benchmarks/bench_wallclock.py)\n")
    machine()
    log(
        f"- mode {'quick' if cfg.quick else 'full'}: {cfg.repeats} interleaved repeats, "
        f"profile over {cfg.profile_repeats} repeat(s); budget mode max_accuracy_loss="
        f"{MAX_ACCURACY_LOSS}, selection_cv={cfg.selection_cv}"
    )
    if torch.cuda.is_available():
        log(
            f"\nGPU case: not run; CUDA is available ({torch.cuda.get_device_name(0)}) but this "
            "script times the CPU only: run bench_mnist_torch.py --device cuda"
        )
    else:
        log("\nGPU case: skipped, no GPU available (torch.cuda.is_available() is False)")

    builders = {
        "adult": adult_case,
        "largest": largest_case,
        "letter": letter_case,
    }
    all_results, lean = [], []
    mnist = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for key in cases:
            t0 = time.perf_counter()
            if key.startswith("mnist"):
                mnist = mnist_data(cfg) if mnist is None else mnist
                case = (mnist_ee_case if key == "mnist-ee" else mnist_ns_case)(cfg, mnist)
            else:
                case = builders[key](cfg)
            t_fit = time.perf_counter() - t0
            log(f"\n## {case.name}\n")
            for note in case.notes:
                log(f"- {note}")
            describe_fits(case)
            t0 = time.perf_counter()
            sets = row_sets(case, cfg)
            results = time_case(case, cfg, sets)
            print_timing(case, results)
            print_profile(case, results)
            if case.exportable:
                print_export(case, export_timing(case, cfg, sets))
            if not args.no_lean_path:
                lean.append((case, lean_path_gain(case, cfg, sets)))
            log(f"\n({t_fit:.0f}s to build and fit, {time.perf_counter() - t0:.0f}s to time)")
            all_results.append((case, results))
    if lean:
        log("\n## The lean predict path (issue 11, first step; one thread, the batch-100 fit)\n")
        log(
            "Before = the stages re-validating their input (no assume_finite / "
            "skip_parameter_validation) and check_is_fitted walking the tags on every call; "
            "after = the code as it is.  Interleaved.\n"
        )
        log("| case | batch | before us/call | after us/call | saved |")
        log("|---|---:|---:|---:|---:|")
        for case, rows in lean:
            for b, before, after in rows:
                log(
                    f"| {case.name} | {batch_label(b, case)} | {before * 1e6:.0f} "
                    f"| {after * 1e6:.0f} | {1 - after / before:.0%} |"
                )
    goals(all_results)
    n_conv = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    log(
        f"\n{n_conv} ConvergenceWarning(s) (policies' LogisticRegression, MLP stages); "
        f"total time {time.perf_counter() - start:.0f}s"
    )


if __name__ == "__main__":
    main()
