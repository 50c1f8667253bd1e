"""Baselines to compare the learned policies against.

- :class:`ThresholdPolicy`: exit as soon as a stage is confident enough (maximum
  probability at least ``threshold``, or entropy at most ``threshold``; one
  threshold for every exit, or one per exit), as BranchyNet and shallow-deep
  networks (SDN) do.
- :func:`oracle_route`: the cheapest route whose answer is right (needs ``y``):
  an upper bound on the accuracy of any policy over the same stages, and the
  lowest cost at which that accuracy can be had.

Both work on precomputed stage outputs, like :class:`skadaptive.RoutingPolicy`,
and report the same ``proba`` / ``stage`` / ``path`` / ``cost``.  ``ThresholdPolicy``
is a router (:mod:`skadaptive.routers`), also importable from here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import Bunch
from sklearn.utils.validation import column_or_1d

from ._losses import as_outputs, output_classes, stage_losses
from ._plain_routers import ThresholdPolicy
from ._validation import Loss, check_costs

__all__ = ["ThresholdPolicy", "oracle_route"]


def oracle_route(
    stage_outputs: ArrayLike,
    y: ArrayLike,
    costs: ArrayLike | None = None,
    *,
    topology: Literal["chain", "jump"] = "chain",
    loss: Loss = "zero_one",
    top_k: int = 5,
    classes: ArrayLike | None = None,
) -> Bunch:
    """The cheapest route whose answer has the lowest loss, per row (needs ``y``).

    Each row answers at the stage of smallest loss (right, where any stage is
    right) reached by the cheapest route; where every stage is wrong it answers at
    the first stage.  With ``topology="jump"`` the last stage is reached by the
    cheaper of the full chain and the jump from the first stage.

    Parameters
    ----------
    stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
        Class probabilities of every stage for every row, or a list of ``n_stages``
        arrays of shape (n_samples, n_classes).
    y : array-like of shape (n_samples,)
        The true labels: the oracle knows them.
    costs : array-like of shape (n_stages,), default=None
        Cost of each stage (non-negative, not all zero); a route pays for every stage
        it evaluates.  ``None`` means 1 per stage.
    topology : {"chain", "jump"}, default="chain"
        ``"chain"``: stage ``k`` is reached through every stage before it.
        ``"jump"`` (network selection): the last stage may also be reached from the
        first one directly, skipping the stages in between.
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
        Loss of answering with a stage.  ``"zero_one"``: 1 where the most probable
        class is wrong.  ``"top_k"``: 1 where the true class is not among the
        ``top_k`` most probable.  A callable gets ``(y, proba)`` for one stage and
        returns one loss per row.
    top_k : int, default=5
        The ``k`` of ``loss="top_k"``.
    classes : array-like, default=None
        Labels of the output columns; ``None`` means ``np.unique(y)``.

    Returns
    -------
    result : Bunch
        ``proba``, ``stage``, ``path``, ``cost``, as :meth:`RoutingPolicy.route`:
        the answering stage's probabilities (n_samples, n_classes), its index
        (n_samples,), the stages each route evaluates (boolean, n_samples by
        n_stages) and each route's cost (n_samples,).

    See Also
    --------
    ThresholdPolicy : Exit at the first stage that is confident enough.
    skadaptive.RoutingPolicy : The learned policies, on the same stage outputs.
    skadaptive.plotting.CostAccuracyDisplay : Plots the oracle next to the policies.

    Examples
    --------
    Three stages of costs 1, 2 and 4 and two classes; the first row is right from
    stage 1 on, the second only at stage 2, the third at every stage and the fourth
    at none:

    >>> import numpy as np
    >>> from skadaptive.baselines import oracle_route
    >>> outputs = np.array([[[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]],
    ...                     [[0.4, 0.6], [0.3, 0.7], [0.8, 0.2]],
    ...                     [[0.7, 0.3], [0.6, 0.4], [0.6, 0.4]],
    ...                     [[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]])
    >>> y = [1, 0, 0, 0]
    >>> result = oracle_route(outputs, y, costs=[1, 2, 4])
    >>> result.stage
    array([1, 2, 0, 0])
    >>> result.cost
    array([3., 7., 1., 1.])
    >>> result.path.astype(int)
    array([[1, 1, 0],
           [1, 1, 1],
           [1, 0, 0],
           [1, 0, 0]])

    With jumps, the second row skips stage 1 and pays 1 + 4:

    >>> oracle_route(outputs, y, costs=[1, 2, 4], topology="jump").cost
    array([3., 5., 1., 1.])
    """
    outputs = as_outputs(stage_outputs)
    y = column_or_1d(y)
    n_samples, n_stages, n_classes = outputs.shape
    classes = output_classes(classes, y, n_classes)
    costs = check_costs(np.ones(n_stages) if costs is None else costs, n_stages)
    losses = stage_losses(outputs, y, classes, loss, top_k)

    paths = np.tril(np.ones((n_stages, n_stages), dtype=bool))  # chain route to each stage
    if topology == "jump" and costs[0] + costs[-1] < costs.sum():
        paths[-1] = False
        paths[-1, [0, -1]] = True
    route_cost = paths @ costs
    # Smallest loss first, then the cheapest route: argmin over stages sorted by
    # route cost returns the first (cheapest) stage that reaches the smallest loss.
    by_cost = np.argsort(route_cost, kind="stable")
    best = by_cost[np.argmin(losses[:, by_cost], axis=1)]
    rows = np.arange(n_samples)
    return Bunch(
        proba=outputs[rows, best],
        stage=best,
        path=paths[best],
        cost=route_cost[best],
    )
