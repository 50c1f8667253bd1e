"""Baselines to compare the learned policies against.

- :class:`ThresholdPolicy`: exit as soon as a stage is confident enough (maximum
  probability at least ``threshold``, or entropy at most ``threshold``; one
  threshold for every exit, or one per exit), as BranchyNet and shallow-deep
  networks (SDN) do.
- :func:`oracle_route`: the cheapest route whose answer is right (needs ``y``):
  an upper bound on the accuracy of any policy over the same stages, and the
  lowest cost at which that accuracy can be had.

Both work on precomputed stage outputs, like :class:`skadaptive.RoutingPolicy`,
and report the same ``proba`` / ``stage`` / ``path`` / ``cost``.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import column_or_1d

from ._features import summary_block
from ._policy import _RouterMixin, as_outputs, encode_labels, stage_losses
from ._routing import EXIT, NEXT
from ._validation import check_costs

__all__ = ["ThresholdPolicy", "oracle_route"]


class ThresholdPolicy(_RouterMixin, BaseEstimator):
    """Exit at the first stage whose confidence passes a threshold.

    Parameters
    ----------
    threshold : float or array-like of shape (n_stages - 1,), default=0.9
        With ``criterion="max_proba"``, exit when the largest probability is
        ``>= threshold``; with ``criterion="entropy"``, exit when the entropy (in
        nats) is ``<= threshold``.  An array gives each non-final stage its own
        threshold (``threshold[k]`` at stage ``k``; ``inf`` and ``-inf`` allowed),
        as tuned jointly by :func:`skadaptive._thresholds.tune_thresholds`.
    criterion : {"max_proba", "entropy"}, default="max_proba"
    costs : array-like of shape (n_stages,), default=None
        Cost of each stage; ``None`` means 1 each.
    outputs : {"proba", "logits"}, default="proba"
    classes : array-like, default=None
        Labels of the output columns; ``None`` means ``np.unique(y)``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_stages_ : int
    thresholds_ : ndarray of shape (n_stages - 1,)
        The threshold of each exit (``threshold`` repeated when it is a number).
    costs_ : ndarray of shape (n_stages,)
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive.baselines import ThresholdPolicy
    >>> outputs = np.array([[[0.95, 0.05], [0.1, 0.9]],
    ...                     [[0.55, 0.45], [0.2, 0.8]]])
    >>> ThresholdPolicy(threshold=0.9).fit(outputs, [0, 1]).apply(outputs)
    array([0, 1])

    One threshold per exit (here one exit, so one value):

    >>> ThresholdPolicy(threshold=[0.5]).fit(outputs, [0, 1]).apply(outputs)
    array([0, 0])
    """

    _parameter_constraints = {
        "threshold": [Interval(numbers.Real, None, None, closed="neither"), "array-like"],
        "criterion": [StrOptions({"max_proba", "entropy"})],
        "costs": ["array-like", None],
        "outputs": [StrOptions({"proba", "logits"})],
        "classes": ["array-like", None],
    }

    def __init__(
        self, threshold=0.9, *, criterion="max_proba", costs=None, outputs="proba", classes=None
    ):
        self.threshold = threshold
        self.criterion = criterion
        self.costs = costs
        self.outputs = outputs
        self.classes = classes

    def fit(self, stage_outputs, y=None):
        """Record the stages, classes and costs; a threshold policy learns nothing.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
        y : array-like of shape (n_samples,), default=None
            Used only to name the classes when ``classes`` is None.

        Returns
        -------
        self : ThresholdPolicy
        """
        self._validate_params()
        outputs = self._check_outputs(stage_outputs)
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
        elif y is not None:
            self.classes_ = np.unique(column_or_1d(y))
        else:
            self.classes_ = np.arange(outputs.shape[2])
        if len(self.classes_) != outputs.shape[2]:
            raise ValueError(
                f"stage_outputs has {outputs.shape[2]} columns but there are "
                f"{len(self.classes_)} classes."
            )
        self.n_stages_ = outputs.shape[1]
        self.thresholds_ = self._check_threshold()
        costs = np.ones(self.n_stages_) if self.costs is None else self.costs
        self.costs_ = check_costs(costs, self.n_stages_)
        self.normalized_costs_ = self.costs_ / self.costs_.sum()
        return self

    def _check_threshold(self):
        """The threshold of each exit, shape (n_stages - 1,)."""
        n_exits = self.n_stages_ - 1
        if np.ndim(self.threshold) == 0:
            return np.full(n_exits, float(self.threshold))
        try:
            thresholds = np.asarray(self.threshold, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"threshold must be a number or an array of numbers; got {self.threshold!r}."
            ) from exc
        if thresholds.shape != (n_exits,):
            raise ValueError(
                f"threshold must be a number or have one value per exit: expected shape "
                f"({n_exits},) for {self.n_stages_} stages, got shape {thresholds.shape}."
            )
        if np.any(np.isnan(thresholds)):
            raise ValueError(f"threshold contains NaN: {thresholds.tolist()}.")
        return thresholds

    def _decide(self, node, blocks, X_rows):
        summary = summary_block(blocks[-1])
        threshold = self.thresholds_[node]
        if self.criterion == "max_proba":
            confident = summary[:, 0] >= threshold
        else:
            confident = summary[:, -1] <= threshold
        return np.where(confident, EXIT, NEXT)


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
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if len(classes) != n_classes:
        raise ValueError(
            f"stage_outputs has {n_classes} columns but there are {len(classes)} classes."
        )
    y_encoded = encode_labels(y, classes)
    costs = check_costs(np.ones(n_stages) if costs is None else costs, n_stages)
    losses = stage_losses(outputs, y_encoded, loss, top_k, y=y, classes=classes)

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
