"""Timing helpers shared by the benchmark scripts (no torch: the boosting benchmark needs none).

Every speed-up the benchmarks report is a ratio of medians taken in one run, the functions
interleaved (order alternating between repeats) so that machine noise hits all of them.
"""

import gc
import time

import numpy as np


class no_gc:
    """Collect once, then keep the garbage collector off while timing (a full collection
    costs about 0.1 s with torch and scikit-learn loaded)."""

    def __enter__(self):
        gc.collect()
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.enabled:
            gc.enable()


def run_all(fn, batches):
    """A function of no arguments that calls ``fn`` on each batch in turn."""

    def run():
        for X_b in batches:
            fn(X_b)

    return run


def paired_times(fns, repeats, sync=None):
    """Median seconds of each function, interleaved (order alternating) after a warm-up.

    ``sync``, when given, is called before and after each timed call (a GPU's
    synchronisation, so that its queued work counts).
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    with no_gc():
        for r in range(repeats):
            order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
            for i in order:
                if sync is not None:
                    sync()
                t0 = time.perf_counter()
                fns[i]()
                if sync is not None:
                    sync()
                times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]
