"""Predict-time routing engine: each stage runs only on the rows that reach it.

The engine knows nothing about learning.  It asks a *stage function* for the
outputs of stage ``k`` on a set of row indices, and a *router* (the protocol of
:class:`skadaptive.routers.BaseRouter`) what each of those rows does next.  Rows
that exit are answered at once and never reach a later stage; rows that jump skip
every stage but the last.  Results are written back by row index, so they come
out in the input order.  This module imports nothing else from the package.
"""

import numpy as np
from sklearn.utils import Bunch

from ._rows import optional_rows

EXIT, NEXT, JUMP = 0, 1, 2


def route_cost(path, costs):
    """The cost of each row's route: the costs of the stages on its path, summed."""
    return path @ np.asarray(costs, dtype=float)


def route_outputs(outputs, router, X=None, costs=None):
    """:func:`route` on stage outputs computed beforehand, ``outputs[row, stage]``.

    ``outputs`` is an array of shape (n_samples, n_stages, n_classes); the stages'
    work is a lookup, so this is the routing alone (the routers' own ``route``, and
    ``fit``'s checks on the out-of-fold outputs).
    """
    return route(lambda k, rows: outputs[rows, k], len(outputs), router, X, costs)


def route(stage_fn, n_samples, router, X=None, costs=None):
    """Route ``n_samples`` rows through the router's ``n_stages_`` stages.

    Parameters
    ----------
    stage_fn : callable
        ``stage_fn(k, rows) -> proba`` computes stage ``k`` for the row indices
        ``rows`` (a non-empty int array) and returns an array of shape
        ``(len(rows), n_classes)``.  It is called once per stage, in order, and
        only with rows that reach that stage.
    n_samples : int
        The number of rows.
    router : BaseRouter
        Fitted: ``router.entry_stage()`` is the stage every row computes first;
        ``router.stage_block(proba)`` turns a stage's outputs into what the router
        keeps of it; ``router.decide(node, blocks, X_rows)`` returns, for the rows
        at non-final stage ``node``, an action per row: ``EXIT`` (0), ``NEXT`` (1)
        or ``JUMP`` (2, straight to the last stage).  ``blocks`` is the list of kept
        blocks of the stages those rows computed.
    X : array-like, default=None
        The input, passed row-sliced to the router when it needs it.
    costs : array-like of shape (n_stages,), default=None
        The cost of each stage; when given, the result has each row's ``cost``.

    Returns
    -------
    result : Bunch
        ``proba`` (n_samples, n_classes): the answering stage's outputs;
        ``stage`` (n_samples,): the index of the answering stage;
        ``path`` (n_samples, n_stages) bool: which stages were computed;
        ``cost`` (n_samples,), when ``costs`` is given.
    """
    n_stages = router.n_stages_
    entry = router.entry_stage()
    path = np.zeros((n_samples, n_stages), dtype=bool)
    stage = np.full(n_samples, n_stages - 1, dtype=np.intp)
    proba = None
    kept = []  # the blocks of the stages computed so far, for the active rows only
    active = np.arange(n_samples)
    jumped = []
    for k in range(entry, n_stages):
        last = k == n_stages - 1
        rows = active
        if last and jumped:
            rows = np.sort(np.concatenate([active, *jumped]))
        if len(rows) == 0:
            continue
        p = np.asarray(stage_fn(k, rows))
        if proba is None:
            proba = np.zeros((n_samples, p.shape[1]), dtype=p.dtype)
        path[rows, k] = True
        if last:
            proba[rows] = p
            break
        kept.append(router.stage_block(p))
        X_rows = None if X is None else optional_rows(X, rows)
        actions = np.asarray(router.decide(k, kept, X_rows))
        stop = actions == EXIT
        if stop.any():
            proba[rows[stop]] = p[stop]
            stage[rows[stop]] = k
        go_on = actions == NEXT
        if not go_on.all():
            jump = actions == JUMP
            if jump.any():
                jumped.append(rows[jump])
            active = rows[go_on]
            kept = [block[go_on] for block in kept]
    result = Bunch(proba=proba, stage=stage, path=path)
    if costs is not None:
        result.cost = route_cost(path, costs)
    return result
