"""Per-stage exit thresholds: routing, their exact cost/loss frontier, tuning to a target.

A threshold cascade answers a row at the first non-final stage ``k`` with
``scores[:, k] >= thresholds[k]``, else at the last one; answering at stage ``k``
costs ``costs[0] + ... + costs[k]``.  Scores are anything where higher means "readier
to exit": the largest probability, minus the entropy, a learned policy's P(exit).

The search is exact on a grid of candidates per stage (``-inf``, quantiles of its
scores, ``+inf``): a row's route depends only on the grid interval ("bin") of each
of its scores, and the rows exiting at stage ``k`` fill a box in the bins of stages
``0..k``, so cumulative sums of weighted histograms give the mean cost and loss of
every vector of the product grid in ``O(n_samples * n_stages + n_vectors)``.  Past
``max_candidates`` vectors the grids are thinned; :func:`tune_thresholds` then zooms
in around its answer.  Depends on numpy only (and sklearn's ``Bunch``).
"""

import numpy as np
from sklearn.utils import Bunch

from ._choice import best_under
from ._features import entropy

__all__ = [
    "max_proba_scores",
    "neg_entropy_scores",
    "threshold_frontier",
    "threshold_route",
    "tune_thresholds",
]


def _array(name, value, shape, expected):
    """``value`` as a finite float array of the given shape (None: any size)."""
    a = np.asarray(value, dtype=float)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        raise ValueError(f"{name} must have shape {expected}; got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return a


def _is_int(x):
    return isinstance(x, (int, np.integer, float, np.floating)) and np.isfinite(x) and x == int(x)


def _outputs(outputs):
    p = _array("outputs", outputs, (None, None, None), "(n_samples, n_stages, n_classes)")
    if p.shape[1] < 2:
        raise ValueError(f"outputs must have at least 2 stages; got shape {p.shape}.")
    return p[:, :-1]


def max_proba_scores(outputs):
    """The largest class probability at every non-final stage.

    Parameters
    ----------
    outputs : array-like of shape (n_samples, n_stages, n_classes)
        Class probabilities of every stage.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_stages - 1)
    """
    return _outputs(outputs).max(axis=2)


def neg_entropy_scores(outputs):
    """Minus the entropy (in nats) at every non-final stage.

    ``threshold_route(neg_entropy_scores(p), -t)`` exits where the entropy is at
    most ``t``, as ``ThresholdPolicy(t, criterion="entropy")`` does.

    Parameters
    ----------
    outputs : array-like of shape (n_samples, n_stages, n_classes)
        Class probabilities of every stage.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_stages - 1)
    """
    p = _outputs(outputs)
    return -entropy(p)


def threshold_route(scores, thresholds):
    """The stage that answers each row: the first ``k`` with ``scores[:, k] >= thresholds[k]``.

    Parameters
    ----------
    scores : array-like of shape (n_samples, n_stages - 1)
        Finite score of every non-final stage; higher exits earlier.
    thresholds : array-like of shape (n_stages - 1,)
        One per non-final stage; ``-inf`` always exits there, ``+inf`` never does.

    Returns
    -------
    stage : ndarray of shape (n_samples,)
        The answering stage; ``n_stages - 1`` (the last) where no threshold is reached.

    Examples
    --------
    >>> threshold_route([[0.9, 0.2], [0.5, 0.7], [0.1, 0.1]], [0.8, 0.6])
    array([0, 1, 2])
    """
    scores = _array("scores", scores, (None, None), "(n_samples, n_stages - 1)")
    thresholds = np.asarray(thresholds, dtype=float)
    if thresholds.shape != scores.shape[1:] or scores.shape[1] < 1:
        raise ValueError(
            f"thresholds must have shape (n_stages - 1,) = {scores.shape[1:]} to match "
            f"scores, with n_stages >= 2; got shape {thresholds.shape}."
        )
    if np.any(np.isnan(thresholds)):
        raise ValueError("thresholds contains NaN.")
    exits = scores >= thresholds
    return np.where(exits.any(axis=1), exits.argmax(axis=1), scores.shape[1])


def _grid(scores, grid_size):
    """``-inf``, up to ``grid_size`` quantiles of ``scores`` (all values if None), ``+inf``."""
    if grid_size is None:
        values = np.unique(scores)
    else:
        levels = np.arange(1, grid_size + 1) / (grid_size + 1)
        values = np.unique(np.quantile(scores, levels, method="inverted_cdf"))
    return np.concatenate([[-np.inf], values, [np.inf]])


def _problem(scores, losses, costs, sample_weight, grid_size, max_candidates):
    """Validated inputs, weights summing to 1, and the full grid of each stage."""
    losses = _array("losses", losses, (None, None), "(n_samples, n_stages)")
    n_rows, n_stages = losses.shape
    if n_stages < 2 or n_rows < 1:
        raise ValueError(f"losses must have >= 1 row and >= 2 stages; got shape {losses.shape}.")
    shape = (n_rows, n_stages - 1)
    scores = _array("scores", scores, shape, f"(n_samples, n_stages - 1) = {shape}")
    costs = _array("costs", costs, (n_stages,), f"(n_stages,) = ({n_stages},)")
    if np.any(costs < 0) or costs.sum() <= 0:
        raise ValueError(f"costs must be >= 0 and not all 0; got {costs.tolist()}.")
    weight = np.ones(n_rows) if sample_weight is None else sample_weight
    weight = _array("sample_weight", weight, (n_rows,), f"(n_samples,) = ({n_rows},)")
    if np.any(weight < 0) or weight.sum() <= 0:
        raise ValueError("sample_weight must be >= 0 and not all 0.")
    if grid_size is not None and not (_is_int(grid_size) and grid_size >= 1):
        raise ValueError(f"grid_size must be an integer >= 1 or None; got {grid_size!r}.")
    if not (_is_int(max_candidates) and max_candidates >= 2 ** (n_stages - 1)):
        raise ValueError(
            f"max_candidates must be an integer >= 2 ** (n_stages - 1) = {2 ** (n_stages - 1)}"
            f" (-inf and +inf at every stage); got {max_candidates!r}."
        )
    live = scores[weight > 0]
    grids = [_grid(live[:, k], grid_size) for k in range(n_stages - 1)]
    return Bunch(
        scores=scores,
        losses=losses,
        prefix=np.cumsum(costs),
        weight=weight / weight.sum(),
        grids=grids,
    )


def _thin(grids, max_candidates, keep=None):
    """Each grid thinned evenly, ends and ``keep[k]`` kept, to the largest size that fits."""
    sizes = np.array([len(g) for g in grids])
    if np.prod(sizes, dtype=float) <= max_candidates:
        return list(grids)
    cap = 2
    while np.prod(np.minimum(sizes, cap + 1), dtype=float) <= max_candidates:
        cap += 1
    thinned = []
    for k, g in enumerate(grids):
        idx = np.unique(np.linspace(0, len(g) - 1, min(cap, len(g))).round().astype(int))
        if keep is not None and len(idx) > 2:
            inner, at = idx[1:-1], np.searchsorted(g, keep[k])
            inner[np.argmin(np.abs(inner - at))] = at
            idx = np.unique(np.concatenate([idx[[0, -1]], inner]))
        thinned.append(g[idx])
    return thinned


def _enumerate(pb, grids):
    """Mean cost and loss of every threshold vector of the product of ``grids``.

    Flat arrays, in C order of the grid indices.  Every grid runs from ``-inf`` to
    ``+inf``, so a score lies in one of its ``len(grid) - 1`` bins, and a row exits
    at stage ``k`` under grid index ``j`` iff its bin there is ``>= j``.  Means are
    taken relative to answering at the last stage, so only the exits' boxes are
    summed; the sums over stages ``0..k`` grow one stage at a time.
    """
    sizes = [len(g) for g in grids]
    weight, prefix = pb.weight, pb.prefix
    extra_loss = weight[:, None] * (pb.losses[:, :-1] - pb.losses[:, -1:])
    cost, loss = np.full((), prefix[-1]), np.full((), weight @ pb.losses[:, -1])
    flat = np.zeros(len(weight), dtype=np.intp)
    for k, grid in enumerate(grids):
        flat = flat * (sizes[k] - 1) + np.searchsorted(grid, pb.scores[:, k], "right") - 1
        bins = [s - 1 for s in sizes[: k + 1]]
        size = int(np.prod(bins))
        hist = np.stack(
            [
                np.bincount(flat, weight, minlength=size),
                np.bincount(flat, extra_loss[:, k], minlength=size),
            ],
            axis=-1,
        ).reshape(bins + [2])
        for axis in range(k):  # below the threshold at stage axis: bins < j
            np.cumsum(hist, axis, out=hist)
        view = np.flip(hist, k)  # at or above it at stage k: bins >= j
        np.cumsum(view, k, out=view)
        box = np.zeros(sizes[: k + 1] + [2])  # none below -inf, none at or above +inf
        box[(slice(1, None),) * k + (slice(0, -1),)] = hist
        cost = cost[..., None] + (prefix[k] - prefix[-1]) * box[..., 0]
        loss = loss[..., None] + box[..., 1]
    return cost.ravel(), loss.ravel()


def _pareto(cost, loss):
    """Indices of the non-dominated points by increasing cost; the first of equal points.

    Means are compared after rounding to 1e-12 of their largest value, so that
    vectors with the same routes tie whatever the order of the sums.  Points
    strictly dominated by the frontier of a strided sample go first; that leaves
    the result unchanged and the sort small.
    """
    cost, loss = (np.round(x / max(1.0, np.abs(x).max()), 12) for x in (cost, loss))

    def sweep(idx):
        order = idx[np.lexsort((loss[idx], cost[idx]))]
        sorted_loss = loss[order]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = sorted_loss[1:] < np.minimum.accumulate(sorted_loss)[:-1]
        return order[keep]

    sample = sweep(np.arange(0, len(cost), 61))  # a prime stride: not aligned with the grid
    at = np.searchsorted(cost[sample], cost, side="right") - 1
    bound = np.where(at >= 0, loss[sample][np.maximum(at, 0)], np.inf)
    return sweep(np.flatnonzero(bound >= loss))


def _frontier(pb, grids):
    cost, loss = _enumerate(pb, grids)
    keep = _pareto(cost, loss)
    index = np.unravel_index(keep, [len(g) for g in grids])
    thresholds = np.column_stack([g[i] for g, i in zip(grids, index)])
    return Bunch(thresholds=thresholds, cost=cost[keep], loss=loss[keep], grid=grids)


def threshold_frontier(
    scores, losses, costs, *, sample_weight=None, grid_size=64, max_candidates=2**20
):
    """The Pareto set of per-stage threshold vectors: the least mean loss at each mean cost.

    Parameters
    ----------
    scores : array-like of shape (n_samples, n_stages - 1)
        Finite score of every non-final stage; higher exits earlier.
    losses : array-like of shape (n_samples, n_stages)
        Loss of answering each row at each stage (0/1 errors, say).
    costs : array-like of shape (n_stages,)
        Cost of each stage, >= 0; answering at stage ``k`` costs ``costs[:k + 1].sum()``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the means; ``None`` weighs rows equally.
    grid_size : int or None, default=64
        The most candidate thresholds per stage besides ``-inf`` and ``+inf``: the
        distinct quantiles of the stage's scores at levels ``i / (grid_size + 1)``;
        ``None`` takes every distinct score.
    max_candidates : int, default=2**20
        The most threshold vectors enumerated (time and memory grow with it);
        past it, every grid is thinned evenly, keeping ``-inf`` and ``+inf``.

    Returns
    -------
    frontier : Bunch
        ``thresholds`` (n_points, n_stages - 1), ``cost`` and ``loss`` (n_points,):
        mean route cost and loss, by increasing cost and strictly decreasing loss;
        ``grid``: the candidates searched at each stage.

    Notes
    -----
    Exact on the grid: for every vector ``t`` with each ``t[k]`` in ``grid[k]``,
    some returned point costs at most ``cost(t)`` and loses at most ``loss(t)``
    (up to 1e-12 of rounding), and each returned point's cost and loss are those of
    :func:`threshold_route` with its thresholds.  The first point exits every row
    at stage 0.  Of vectors with equal cost and loss, the lowest thresholds win.

    Examples
    --------
    >>> front = threshold_frontier([[0.9], [0.6], [0.8]], [[0, 0], [1, 0], [1, 0]], [1, 3])
    >>> front.thresholds[:, 0].tolist(), front.cost.tolist(), front.loss.round(3).tolist()
    ([-inf, 0.8, 0.9], [1.0, 2.0, 3.0], [0.667, 0.333, 0.0])
    """
    pb = _problem(scores, losses, costs, sample_weight, grid_size, max_candidates)
    return _frontier(pb, _thin(pb.grids, max_candidates))


def _pick(cost, loss, max_cost, max_loss):
    """Index of the best point for the target, and whether it meets it."""
    if max_cost is None:
        return best_under(loss, max_loss, cost)
    return best_under(cost, max_cost, loss)


def tune_thresholds(
    scores,
    losses,
    costs,
    *,
    max_cost=None,
    max_loss=None,
    sample_weight=None,
    grid_size=64,
    max_candidates=2**20,
    refine=3,
):
    """Per-stage thresholds that meet a cost budget or a loss target most cheaply.

    Give exactly one target.  With ``max_loss``: the cheapest vector whose mean
    loss is at most ``max_loss``.  With ``max_cost``: the lowest-loss vector whose
    mean cost is at most ``max_cost`` (the cheaper on ties).  Targets are met up to
    1e-12 of rounding.  Where none meets the target, the closest is returned with
    ``met=False``: the lowest loss found for ``max_loss`` (no more than always
    answering at the last stage), the least cost for ``max_cost`` (every row exits
    at stage 0).

    Parameters
    ----------
    scores, losses, costs, sample_weight, grid_size, max_candidates
        As in :func:`threshold_frontier`.
    max_cost : float, default=None
        Budget on the mean route cost, in the units of ``costs``.
    max_loss : float, default=None
        Target on the mean loss (an error rate for 0/1 losses).
    refine : int, default=3
        Rounds of zooming in when the grids had to be thinned: each enumerates,
        around the current answer, every stage's full-grid candidates between its
        neighbours on the last grid (thinned again if needed), and keeps the best
        vector for the target.  The answer is never worse than the frontier's.

    Returns
    -------
    result : Bunch
        ``thresholds`` (n_stages - 1,), their mean ``cost`` and ``loss`` on these
        rows, and ``met`` (bool): whether they meet the target.

    Examples
    --------
    >>> scores, losses = [[0.9], [0.6], [0.8]], [[0, 0], [1, 0], [1, 0]]
    >>> tune_thresholds(scores, losses, [1, 3], max_cost=2.5).thresholds
    array([0.8])
    >>> tune_thresholds(scores, losses, [1, 3], max_loss=0.5).cost
    2.0
    """
    if (max_cost is None) == (max_loss is None):
        raise ValueError("Give exactly one of max_cost and max_loss.")
    name, raw = ("max_loss", max_loss) if max_cost is None else ("max_cost", max_cost)
    try:
        target = float(raw)
    except (TypeError, ValueError):
        target = np.nan
    if not np.isfinite(target):
        raise ValueError(f"{name} must be a finite number; got {raw!r}.")
    max_cost, max_loss = (None, target) if max_cost is None else (target, None)
    if not (_is_int(refine) and refine >= 0):
        raise ValueError(f"refine must be an integer >= 0; got {refine!r}.")
    pb = _problem(scores, losses, costs, sample_weight, grid_size, max_candidates)
    grids = _thin(pb.grids, max_candidates)
    front = _frontier(pb, grids)
    i, _ = _pick(front.cost, front.loss, max_cost, max_loss)
    best = (front.thresholds[i], front.cost[i], front.loss[i])
    for _ in range(refine):
        windows = []
        for g, full, t in zip(grids, pb.grids, best[0]):
            j = np.searchsorted(g, t)
            lo, hi = g[max(j - 1, 0)], g[min(j + 1, len(g) - 1)]
            windows.append(full[((full >= lo) & (full <= hi)) | np.isinf(full)])
        if all(np.isin(w, g).all() for w, g in zip(windows, grids)):
            break  # nothing new to enumerate
        grids = _thin(windows, max_candidates, keep=best[0])
        cost, loss = _enumerate(pb, grids)
        # The current answer comes first, so that it wins ties.
        i, _ = _pick(np.r_[best[1], cost], np.r_[best[2], loss], max_cost, max_loss)
        if i > 0:
            index = np.unravel_index(i - 1, [len(g) for g in grids])
            best = (np.array([g[j] for g, j in zip(grids, index)]), cost[i - 1], loss[i - 1])
    _, met = _pick(np.r_[best[1]], np.r_[best[2]], max_cost, max_loss)
    return Bunch(thresholds=best[0], cost=float(best[1]), loss=float(best[2]), met=met)
