"""Row chunks: how ``fit`` and ``predict`` bound their memory on large data.

Everything the stages compute for a row depends on that row alone, so the rows can
be cut into chunks, each chunk computed on its own and the answers put back in
place.  The chunk size follows scikit-learn's ``working_memory`` setting (in MiB,
``sklearn.set_config`` or ``sklearn.config_context``), as
:func:`sklearn.metrics.pairwise_distances_chunked` does:

    rows per chunk = max(MIN_CHUNK_ROWS, working_memory * 2**20 // row_bytes)
    row_bytes = 8 * n_stages * (2 * n_classes + n_features)

per stage, a row's class probabilities twice (the stage's answer and the collected
copy) and a copy of its features (a stage indexes the rows it computes).  The floor
keeps small inputs in one chunk: they are computed exactly as without chunking.  A
last chunk smaller than the floor joins the one before it.

The chunks are also made small enough for every joblib worker (``n_jobs``, or the
workers of a Dask cluster) to get one, down to the floor.  In ``fit`` they are dispatched
through :class:`joblib.Parallel`; ``predict`` routes them in ``n_jobs`` threads.
"""

import numpy as np
from joblib import effective_n_jobs
from sklearn import get_config
from sklearn.utils import Bunch, gen_batches
from sklearn.utils.parallel import Parallel, delayed

from ._rows import safe_rows
from ._stages import stage_outputs

# The smallest chunk: inputs of up to this many rows are computed in one piece.
# Private knob; the tests lower it to cut small inputs into many chunks.
MIN_CHUNK_ROWS = 1024


def row_bytes(n_stages, n_classes, n_features):
    """Estimated bytes that computing every stage for one row holds at once.

    Parameters
    ----------
    n_stages, n_classes, n_features : int

    Returns
    -------
    n_bytes : int
    """
    return 8 * max(1, n_stages) * (2 * max(1, n_classes) + max(0, n_features))


def chunk_rows(n_bytes, n_rows=None, n_jobs=None):
    """Rows per chunk under ``working_memory``, at least :data:`MIN_CHUNK_ROWS`.

    Parameters
    ----------
    n_bytes : int
        Bytes per row, from :func:`row_bytes`.
    n_rows : int, default=None
        The rows to split.  When given, the chunks are also made small enough (down
        to the floor) that each of the workers of ``Parallel(n_jobs)`` under the
        active joblib backend gets one.
    n_jobs : int, default=None

    Returns
    -------
    rows : int
    """
    working_memory = get_config()["working_memory"]
    rows = max(MIN_CHUNK_ROWS, int(working_memory * 2**20 // n_bytes))
    if n_rows is not None:
        n_workers = effective_n_jobs(n_jobs)
        if n_workers > 1:
            rows = min(rows, max(MIN_CHUNK_ROWS, -(-n_rows // n_workers)))
    return rows


def row_slices(n_rows, rows):
    """Consecutive slices of ``rows`` rows covering ``range(n_rows)``; a short tail joins."""
    return list(gen_batches(n_rows, rows, min_batch_size=min(rows, MIN_CHUNK_ROWS)))


def outputs_in_chunks(parts, X, n_rows, classes, n_jobs, verbose=0, progress=None):
    """Every stage's outputs for the rows of ``X``, computed part by part through joblib.

    Parameters
    ----------
    parts : list of (model, rows)
        A multi-exit model and the rows of ``X`` (a slice or indices) it answers
        for; every row of ``range(n_rows)`` belongs to one part.
    X : array-like
    n_rows : int
    classes : ndarray
    n_jobs : int or None
    verbose : int, default=0
        joblib's verbosity.
    progress : callable, default=None
        Wraps the iterable of finished parts (a progress bar).

    Returns
    -------
    outputs : ndarray of shape (n_rows, n_stages, n_classes)
    """
    parallel = Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator")
    jobs = (delayed(stage_outputs)(model, safe_rows(X, rows), classes) for model, rows in parts)
    results = parallel(jobs)
    if progress is not None:
        results = progress(results)
    outputs = None
    for (_, rows), out in zip(parts, results):
        if outputs is None:
            outputs = np.zeros((n_rows,) + out.shape[1:])
        outputs[rows] = out
    return outputs


def route_in_chunks(route_rows, X, slices, n_jobs=None):
    """Route the chunks of ``X`` and put the answers together.

    The chunks run in ``n_jobs`` threads (scikit-learn's ``Parallel``, which carries
    the caller's scikit-learn settings into the workers); one after the other when
    ``n_jobs`` is None or 1.  A row's route does not depend on its chunk, so the
    answers do not depend on ``n_jobs``.

    Parameters
    ----------
    route_rows : callable
        ``route_rows(X_chunk) -> Bunch`` of arrays with one entry per row.
    X : array-like
    slices : list of slice
        Consecutive chunks covering every row of ``X``.
    n_jobs : int, default=None
        Threads routing chunks at once.

    Returns
    -------
    result : Bunch
        The same keys as ``route_rows`` returns, for every row, in input order.
    """
    n_rows = slices[-1].stop
    result = None
    parallel = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")
    parts = parallel(delayed(route_rows)(safe_rows(X, rows)) for rows in slices)
    for rows, part in zip(slices, parts):
        if result is None:
            result = Bunch(
                **{
                    key: np.empty((n_rows,) + value.shape[1:], dtype=value.dtype)
                    for key, value in part.items()
                }
            )
        for key, value in part.items():
            result[key][rows] = value
    return result


def staged_in_chunks(staged_rows, X, slices, n_stages):
    """Every stage's outputs for every row, chunk by chunk, as one array per stage.

    Parameters
    ----------
    staged_rows : callable
        ``staged_rows(X_chunk)`` yields each stage's probabilities for the chunk.
    X : array-like
    slices : list of slice
    n_stages : int

    Returns
    -------
    staged : ndarray of shape (n_stages, n_rows, n_classes)
    """
    n_rows = slices[-1].stop
    staged = None
    for rows in slices:
        for k, proba in enumerate(staged_rows(safe_rows(X, rows))):
            if staged is None:
                staged = np.empty((n_stages, n_rows, proba.shape[1]), dtype=proba.dtype)
            staged[k, rows] = proba
    return staged
