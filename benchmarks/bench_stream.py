"""Big inputs: ``predict`` on 5 million rows streams in chunks with bounded peak memory.

``predict`` (``predict_proba``, ``apply``, ``predict_cost``, ``route``) cuts a large
input into row chunks whose size follows scikit-learn's ``working_memory`` (MiB; see
``skadaptive/_chunks.py``) and routes them one after the other.  This script measures
what that buys on an input of 5,000,000 rows x 16 float64 features (610 MiB), made in
memory with ``make_classification`` (binary; no download; the models are trained on
rows of the same draw, so ``--quick`` has other models), for two cheap estimators:

- ``NetworkSelectionClassifier`` over a frozen ladder GaussianNB -> LogisticRegression
  -> HistGradientBoostingClassifier (100 iterations of 15 leaves), the models trained
  on 10,000 other rows, the policies on 4,000 more; fixed costs 1, 3, 20;
- ``EarlyExitClassifier`` over a frozen HistGradientBoostingClassifier (200 iterations
  of 15 leaves) with exits after 25, 50, 100 and 200 iterations.

For each, ``predict(X)`` runs under several ``working_memory`` settings, plus one
large enough that the rows are one chunk (no streaming: the same routing in one
piece).  The non-adaptive reference computes every stage's ``predict_proba`` (for
early exit: the full model's) on all rows at once and keeps the outputs, as running
the whole ladder would.  For each call the table gives:

- seconds and rows/s (a first call without tracing; the memory is measured in a
  second call);
- the tracemalloc peak: the most memory the call had allocated at any time (numpy
  reports its arrays to tracemalloc; the input existed before the call and is not
  counted; the call's output is, where it is alive at the peak);
- of it, the per-row results: arrays of one entry per row whatever the chunks (for
  ``predict``, the labels it returns; for the reference, the stage outputs it keeps), and
  the rest: the chunk's work, the part that should follow ``working_memory``;
- the increase of the process's peak resident memory (VmHWM of /proc/self/status,
  reset before the call by writing 5 to /proc/self/clear_refs, after glibc's
  ``malloc_trim`` has returned the free heap; where that reset is
  unavailable, ru_maxrss of getrusage, which only shows increases over the process's
  earlier peak), which also sees memory that numpy does not report (BLAS, OpenMP);
- the peak as a fraction of the input's size.

Every setting's predictions are checked against ``route`` on 10 slices of the rows
(each slice one chunk) put together: the counts of differing labels are printed.
BLAS/OpenMP pools are limited to ``--threads`` threads (default 1).

Run from the repository root::

    python benchmarks/bench_stream.py            # 5M rows, about 6 minutes on 2 cores
    python benchmarks/bench_stream.py --quick    # 500k rows, < 1 minute
"""

import argparse
import ctypes
import ctypes.util
import gc
import os
import platform
import resource
import time
import tracemalloc
import warnings

import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from threadpoolctl import threadpool_limits

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier

MIB = 2**20
N_STAGE, N_POLICY = 10_000, 4_000
ONE_CHUNK = 10**7  # working_memory (MiB) large enough for one chunk: no streaming


# -- peak resident memory -------------------------------------------------------------
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm():
    """Reset the kernel's peak RSS of this process; False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


RSS_METHOD = "VmHWM (reset through /proc/self/clear_refs)"
if not _reset_hwm():
    RSS_METHOD = "ru_maxrss (getrusage; only increases over the earlier peak show)"


def _malloc_trim():
    """Give the C heap's free memory back to the system (glibc), so that RSS shows the call."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def rss_mark():
    """RSS (bytes) before a call; resets the peak when the kernel allows it."""
    _malloc_trim()
    if RSS_METHOD.startswith("VmHWM"):
        _reset_hwm()
        return _status_kib("VmRSS") * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_peak():
    if RSS_METHOD.startswith("VmHWM"):
        return _status_kib("VmHWM") * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(fn, *args):
    """``(result, seconds, tracemalloc peak bytes, RSS peak increase bytes)`` of ``fn(*args)``.

    A first call is timed without tracing; a second call is traced.
    """
    gc.collect()
    t0 = time.perf_counter()
    fn(*args)
    seconds = time.perf_counter() - t0
    gc.collect()
    rss0 = rss_mark()
    tracemalloc.start()
    try:
        result = fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss = max(0, rss_peak() - rss0)
    return result, seconds, peak, rss


# -- data and models --------------------------------------------------------------------
def make_data(n_rows, n_features, seed):
    X, y = make_classification(
        n_samples=N_STAGE + N_POLICY + n_rows,
        n_features=n_features,
        n_informative=8,
        n_redundant=4,
        flip_y=0.03,
        class_sep=0.8,
        random_state=seed,
    )
    a, b = N_STAGE, N_STAGE + N_POLICY
    return X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:]


def make_estimators(X_stage, y_stage, X_pol, y_pol, seed):
    def hgb(max_iter):
        return HistGradientBoostingClassifier(
            max_iter=max_iter, max_leaf_nodes=15, early_stopping=False, random_state=seed
        ).fit(X_stage, y_stage)

    ladder = [
        ("nb", GaussianNB().fit(X_stage, y_stage)),
        ("lr", LogisticRegression(max_iter=1000).fit(X_stage, y_stage)),
        ("hgb", hgb(100)),
    ]
    ns = NetworkSelectionClassifier(
        [(name, FrozenEstimator(m)) for name, m in ladder],
        costs=[1.0, 3.0, 20.0],
        cost_weight=0.05,
        random_state=seed,
    ).fit(X_pol, y_pol)
    big = hgb(200)
    ee = EarlyExitClassifier(
        FrozenEstimator(big), exits=[25, 50, 100, 200], cost_weight=0.02, random_state=seed
    ).fit(X_pol, y_pol)
    return [
        ("network selection (nb -> lr -> hgb100)", ns, [m for _, m in ladder]),
        ("early exit (hgb200, exits 25/50/100/200)", ee, [big]),
    ]


def label_bytes(est, n_rows):
    """Bytes of the labels ``predict`` returns (it keeps nothing else for every row)."""
    return n_rows * est.classes_.dtype.itemsize


def reference_outputs(models, X):
    """Every model's predict_proba on all rows at once, kept (the whole ladder, no chunks)."""
    return [m.predict_proba(X) for m in models]


def sliced_route(est, X, n_slices=10):
    """Labels and stages from ``route`` on ``n_slices`` slices (each one chunk), joined."""
    labels, stages = [], []
    bounds = np.linspace(0, X.shape[0], n_slices + 1).astype(int)
    with sklearn.config_context(working_memory=ONE_CHUNK):
        for a, b in zip(bounds[:-1], bounds[1:]):
            r = est.route(X[a:b])
            labels.append(est.classes_[np.argmax(r.proba, axis=1)])
            stages.append(r.stage)
    return np.concatenate(labels), np.concatenate(stages)


# -- the benchmark ----------------------------------------------------------------------
def run(args):
    start = time.perf_counter()
    X_stage, y_stage, X_pol, y_pol, X, y = make_data(args.rows, args.features, args.seed)
    X = np.ascontiguousarray(X, dtype=args.dtype)
    n_rows, input_mib = X.shape[0], X.nbytes / MIB
    print(
        f"input: {n_rows:,} rows x {X.shape[1]} {X.dtype} features = {input_mib:.0f} MiB "
        f"(made in {time.perf_counter() - start:.0f}s); models trained on {N_STAGE:,} rows, "
        f"policies on {N_POLICY:,}"
    )
    t0 = time.perf_counter()
    estimators = make_estimators(X_stage, y_stage, X_pol, y_pol, args.seed)
    print(f"fitted the estimators in {time.perf_counter() - t0:.0f}s")

    table = []
    for name, est, models in estimators:
        t0 = time.perf_counter()
        ref_labels, ref_stages = sliced_route(est, X)
        shares = np.bincount(ref_stages, minlength=est.n_stages_) / n_rows
        print(
            f"\n{name}: route on 10 slices in {time.perf_counter() - t0:.1f}s; accuracy "
            f"{np.mean(ref_labels == y):.4f}; rows answered per stage "
            f"{np.round(shares, 3).tolist()}"
        )
        floor = label_bytes(est, n_rows)
        for wm in [*args.working_memory, ONE_CHUNK]:
            with sklearn.config_context(working_memory=wm):
                slices = est._predict_chunks(X)
                labels, seconds, peak, rss = measure(est.predict, X)
            n_chunks = 1 if slices is None else len(slices)
            chunk = n_rows if slices is None else slices[0].stop - slices[0].start
            diff = int(np.sum(labels != ref_labels))
            print(
                f"  working_memory={wm}: {n_chunks} chunk(s) of {chunk:,} rows; "
                f"{diff} label(s) differ from the 10 slices"
            )
            table.append(
                (
                    f"{name.split(' (')[0]}: predict, "
                    + ("one chunk (no streaming)" if wm == ONE_CHUNK else f"{n_chunks} chunks"),
                    n_rows,
                    "-" if wm == ONE_CHUNK else f"{wm:g}",
                    f"{chunk:,}",
                    seconds,
                    peak,
                    floor,
                    rss,
                    input_mib,
                )
            )
            del labels
        outputs, seconds, peak, rss = measure(reference_outputs, models, X)
        kept = sum(o.nbytes for o in outputs)
        del outputs
        table.append(
            (
                f"{name.split(' (')[0]}: every stage's predict_proba on all rows (reference)",
                n_rows,
                "-",
                f"{n_rows:,}",
                seconds,
                peak,
                kept,
                rss,
                input_mib,
            )
        )

    print(
        "\n| setting | rows | working_memory MiB | rows per chunk | seconds | rows/s "
        "| tracemalloc peak MiB | of which per-row results MiB | rest (chunk work) MiB "
        "| RSS peak increase MiB | peak / input |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for setting, rows, wm, chunk, seconds, peak, floor, rss, in_mib in table:
        print(
            f"| {setting} | {rows:,} | {wm} | {chunk} | {seconds:.2f} | {rows / seconds:,.0f} "
            f"| {peak / MIB:.0f} | {floor / MIB:.0f} | {(peak - floor) / MIB:.0f} "
            f"| {rss / MIB:.0f} | {peak / MIB / in_mib:.2f} |"
        )
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500,000 rows: < 1 minute")
    parser.add_argument("--rows", type=int, default=None, help="rows of X (default 5,000,000)")
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument(
        "--working-memory",
        type=float,
        nargs="+",
        default=[16, 64, 256, 1024],
        help="working_memory settings in MiB (default 16 64 256 1024; 1024 is sklearn's default)",
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = 500_000 if args.quick else 5_000_000
    with threadpool_limits(limits=args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        total = run(args)
    print(
        f"\nMachine: {platform.platform()}, Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}, numpy {np.__version__}, os.cpu_count()={os.cpu_count()}, "
        f"{args.threads} BLAS/OpenMP thread(s); peak RSS from {RSS_METHOD}; mode "
        f"{'quick' if args.quick else 'full'}, seed {args.seed}; total {total:.0f}s"
    )


if __name__ == "__main__":
    main()
