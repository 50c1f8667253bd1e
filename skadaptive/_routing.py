"""Predict-time routing engine: each stage runs only on the rows that reach it.

The engine knows nothing about learning.  It asks a *stage function* for the
outputs of stage ``k`` on a set of row indices, and a *router* what each of those
rows does next.  Rows that exit are answered at once and never reach a later
stage; rows that jump skip every stage but the last.  Results are written back by
row index, so they come out in the input order.
"""

import numpy as np
from sklearn.utils import Bunch

from ._compat import safe_rows

EXIT, NEXT, JUMP = 0, 1, 2


def route(stage_fn, n_samples, n_stages, router, X=None):
    """Route ``n_samples`` rows through ``n_stages`` stages.

    Parameters
    ----------
    stage_fn : callable
        ``stage_fn(k, rows) -> proba`` computes stage ``k`` for the row indices
        ``rows`` (a non-empty int array) and returns an array of shape
        ``(len(rows), n_classes)``.  It is called once per stage, in order, and
        only with rows that reach that stage.
    n_samples, n_stages : int
    router : object
        ``router._stage_block(proba)`` turns a stage's outputs into what the router
        keeps of it; ``router._decide(node, blocks, X_rows)`` returns, for the
        rows at non-final stage ``node``, an action per row: ``EXIT`` (0),
        ``NEXT`` (1) or ``JUMP`` (2, straight to the last stage).  ``blocks`` is
        the list of kept blocks of stages ``0..node`` for those rows.
    X : array-like, default=None
        The input, passed row-sliced to the router when it needs it.

    Returns
    -------
    result : Bunch
        ``proba`` (n_samples, n_classes): the answering stage's outputs;
        ``stage`` (n_samples,): the index of the answering stage;
        ``path`` (n_samples, n_stages) bool: which stages were computed.
    """
    path = np.zeros((n_samples, n_stages), dtype=bool)
    stage = np.full(n_samples, n_stages - 1, dtype=np.intp)
    proba = None
    blocks = [None] * n_stages
    active = np.arange(n_samples)
    jumped = []
    for k in range(n_stages):
        last = k == n_stages - 1
        rows = np.concatenate([active, *jumped]) if last else active
        if last and jumped:
            rows = np.sort(rows)
        if len(rows) == 0:
            continue
        p = np.asarray(stage_fn(k, rows))
        if proba is None:
            proba = np.zeros((n_samples, p.shape[1]), dtype=p.dtype)
        path[rows, k] = True
        if last:
            proba[rows] = p
            break
        block = router._stage_block(p)
        if blocks[k] is None:
            blocks[k] = np.zeros((n_samples,) + block.shape[1:], dtype=block.dtype)
        blocks[k][rows] = block
        X_rows = None if X is None else safe_rows(X, rows)
        actions = np.asarray(router._decide(k, [b[rows] for b in blocks[: k + 1]], X_rows))
        stop = actions == EXIT
        proba[rows[stop]] = p[stop]
        stage[rows[stop]] = k
        jumped.append(rows[actions == JUMP])
        active = rows[actions == NEXT]
    return Bunch(proba=proba, stage=stage, path=path)
