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

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import column_or_1d

from ._losses import as_outputs, output_classes, stage_losses
from ._routers import ThresholdPolicy
from ._validation import check_costs

__all__ = ["ThresholdPolicy", "oracle_route"]


def oracle_route(
    stage_outputs, y, costs=None, *, topology="chain", loss="zero_one", top_k=5, classes=None
):
    """The cheapest route whose answer has the lowest loss, per row (needs ``y``).

    Each row answers at the stage of smallest loss (right, where any stage is
    right) reached by the cheapest route; where every stage is wrong it answers at
    the first stage.  With ``topology="jump"`` the last stage is reached by the
    cheaper of the full chain and the jump from the first stage.

    Parameters
    ----------
    stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
    y : array-like of shape (n_samples,)
    costs : array-like of shape (n_stages,), default=None
        ``None`` means 1 per stage.
    topology : {"chain", "jump"}, default="chain"
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
    top_k : int, default=5
    classes : array-like, default=None
        Labels of the output columns; ``None`` means ``np.unique(y)``.

    Returns
    -------
    result : Bunch
        ``proba``, ``stage``, ``path``, ``cost``, as :meth:`RoutingPolicy.route`.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive.baselines import oracle_route
    >>> outputs = np.array([[[0.9, 0.1], [0.2, 0.8]],
    ...                     [[0.4, 0.6], [0.3, 0.7]]])
    >>> oracle_route(outputs, [1, 0], costs=[1, 4]).stage
    array([1, 0])
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
