"""The routers that learn nothing from labels.

:class:`ThresholdPolicy` (confidence thresholds, one per exit or one for all),
:class:`HybridPolicy` (thresholds on a learned policy's probability of "exit", read
through that policy's public methods) and :class:`ReferencePolicy` (every row
answered by the estimator's reference, along its route).  All three implement the
:class:`~skadaptive.routers.BaseRouter` protocol; they are public in
:mod:`skadaptive.routers`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, StrOptions, fit_context
from ._features import entropy
from ._losses import output_classes
from ._routers import STABLE_MODULE, BaseRouter
from ._routing import EXIT, JUMP, NEXT
from ._validation import Features, Float64Array

__all__ = ["HybridPolicy", "ReferencePolicy", "ThresholdPolicy"]

_Threshold = TypeVar("_Threshold", bound="ThresholdPolicy")
_Hybrid = TypeVar("_Hybrid", bound="HybridPolicy")
_Reference = TypeVar("_Reference", bound="ReferencePolicy")


class _LearnedRouter(Protocol):
    """What :class:`HybridPolicy` reads of a fitted RoutingPolicy: its public surface."""

    classes_: NDArray[Any]
    costs_: Float64Array
    normalized_costs_: Float64Array
    n_stages_: int
    features: Features

    @property
    def uses_X(self) -> bool: ...

    def stage_block(self, proba: Float64Array) -> Float64Array: ...

    def exit_probability(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None = None
    ) -> Float64Array: ...

    def linear_exit_rule(self) -> Bunch | None: ...


class ThresholdPolicy(BaseRouter):
    """Exit at the first stage whose confidence passes a threshold.

    The confidence-threshold baseline: after each non-final stage ``k``, a row
    answers with stage ``k`` when the largest of its probabilities reaches
    ``threshold`` (or their entropy falls to it); the last stage answers the
    rows that no earlier stage was confident about.  There are no jumps, and
    ``fit`` learns nothing from labels: it records the number of stages, the
    classes and the costs.

    Parameters
    ----------
    threshold : float or array-like of shape (n_stages - 1,), default=0.9
        With ``criterion="max_proba"``, exit when the largest probability is
        ``>= threshold``; with ``criterion="entropy"``, exit when the entropy (in
        nats) is ``<= threshold``.  An array gives each non-final stage its own
        threshold (``threshold[k]`` at stage ``k``; ``inf`` and ``-inf`` allowed),
        as budget mode tunes them jointly.
    criterion : {"max_proba", "entropy"}, default="max_proba"
        The confidence measure.
    costs : array-like of shape (n_stages,), default=None
        Cost of each stage; ``None`` means 1 each.
    outputs : {"proba", "logits"}, default="proba"
        What ``stage_outputs`` hold; logits go through a softmax.
    classes : array-like, default=None
        Labels of the output columns; ``None`` means ``np.unique(y)``, or
        ``0..n_classes - 1`` when ``fit`` gets no ``y``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The label of each output column.
    n_stages_ : int
        The number of stages.
    thresholds_ : ndarray of shape (n_stages - 1,)
        The threshold of each exit (``threshold`` repeated when it is a number).
    costs_ : ndarray of shape (n_stages,)
        The cost of each stage.
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``.

    See Also
    --------
    skadaptive.RoutingPolicy : The learned router.
    HybridPolicy : Thresholds on a learned policy's probability of "exit".

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive.routers import ThresholdPolicy
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
        self,
        threshold: float | ArrayLike = 0.9,
        *,
        criterion: Literal["max_proba", "entropy"] = "max_proba",
        costs: ArrayLike | None = None,
        outputs: Literal["proba", "logits"] = "proba",
        classes: ArrayLike | None = None,
    ) -> None:
        self.threshold = threshold
        self.criterion = criterion
        self.costs = costs
        self.outputs = outputs
        self.classes = classes

    @fit_context
    def fit(self: _Threshold, stage_outputs: ArrayLike, y: ArrayLike | None = None) -> _Threshold:
        """Record the stages, classes and costs; a threshold policy learns nothing.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            Outputs of every stage (only their shape is read).
        y : array-like of shape (n_samples,), default=None
            Used only to name the classes when ``classes`` is None.

        Returns
        -------
        self : ThresholdPolicy
            The fitted router.
        """
        outputs = self._validate_outputs(stage_outputs, y=y)
        self.classes_ = output_classes(self.classes, y, outputs.shape[2])
        self.n_stages_ = outputs.shape[1]
        self.thresholds_ = self._check_threshold()
        self._set_costs(self.costs, self.n_stages_)
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

    def decide(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None
    ) -> NDArray[np.integer[Any]]:
        """Exit where the newest stage is confident enough, else continue.

        Parameters
        ----------
        node : int
            The stage the rows just computed.
        blocks : list of ndarray
            The probabilities of each stage the rows computed.
        X_rows : None
            Not used.

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            0 (exit) or 1 (continue).
        """
        proba = blocks[-1]
        threshold = self.thresholds_[node]
        if self.criterion == "max_proba":
            confident = proba.max(axis=1) >= threshold
        else:
            confident = entropy(proba) <= threshold
        return np.where(confident, EXIT, NEXT)


class HybridPolicy(BaseRouter):
    """Per-exit thresholds on a fitted RoutingPolicy's probability of "exit".

    A row answers at the first exit ``k`` where the exit policy's probability of
    "exit" is ``>= thresholds[k]``; the last stage answers the rest.  No jumps.
    ``fit`` learns nothing: it reads the fitted ``policy``.

    Parameters
    ----------
    policy : RoutingPolicy
        A fitted learned router.
    thresholds : array-like of shape (n_stages - 1,)
        The threshold of each exit, on the probability of "exit".

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_stages - 1,)
        ``thresholds`` as floats.
    classes_ : ndarray of shape (n_classes,)
        The policy's classes.
    costs_ : ndarray of shape (n_stages,)
        The policy's stage costs.
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``.
    n_stages_ : int
        The number of stages.

    See Also
    --------
    skadaptive.RoutingPolicy : The learned router whose exit policies it reads.
    ThresholdPolicy : Thresholds on the largest probability.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive import RoutingPolicy
    >>> from skadaptive.routers import HybridPolicy
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> confidence = rng.uniform(0.5, 1.0, 300)
    >>> cheap = np.where(rng.random(300) < confidence, y, 1 - y)  # right w.p. confidence
    >>> p = np.where(cheap == 1, confidence, 1 - confidence)
    >>> outputs = np.stack([np.column_stack([1 - p, p]), np.eye(2)[y] * 0.98 + 0.01], axis=1)
    >>> policy = RoutingPolicy(costs=[1, 9], cost_weight=0.2).fit(outputs, y)
    >>> np.bincount(policy.apply(outputs))   # rows answered by stage 0 and by stage 1
    array([130, 170])
    >>> hybrid = HybridPolicy(policy, thresholds=[0.7]).fit()   # exit more cautiously
    >>> np.bincount(hybrid.apply(outputs))
    array([ 50, 250])
    >>> hybrid.score(outputs, y)
    1.0
    """

    def __init__(self, policy: _LearnedRouter, thresholds: ArrayLike) -> None:
        self.policy = policy
        self.thresholds = thresholds

    def fit(self: _Hybrid, stage_outputs: Any = None, y: Any = None) -> _Hybrid:
        """Read the fitted policy and check the thresholds.

        Parameters
        ----------
        stage_outputs : ignored
            Not used, present for API consistency.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self : HybridPolicy
            The fitted router.
        """
        check_is_fitted(self.policy)
        self.thresholds_ = np.asarray(self.thresholds, dtype=float)
        self.classes_ = self.policy.classes_
        self.costs_ = self.policy.costs_
        self.normalized_costs_ = self.policy.normalized_costs_
        self.n_stages_ = self.policy.n_stages_
        if self.thresholds_.shape != (self.n_stages_ - 1,):
            raise ValueError(
                f"thresholds needs one value per exit ({self.n_stages_ - 1}); got "
                f"{self.thresholds_.shape}."
            )
        return self

    @property
    def uses_X(self) -> bool:
        """Whether the underlying policy reads the raw input."""
        return self.policy.uses_X

    @property
    def features(self) -> Features:
        """The features of the underlying policy."""
        return self.policy.features

    def stage_block(self, proba: Float64Array) -> Float64Array:
        """The underlying policy's block of one stage's outputs.

        Parameters
        ----------
        proba : ndarray of shape (n_rows, n_classes)
            The stage's class probabilities.

        Returns
        -------
        block : ndarray of shape (n_rows, n_block_columns)
            What the policy keeps of them.
        """
        return self.policy.stage_block(proba)

    def decide(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None
    ) -> NDArray[np.integer[Any]]:
        """Exit where the policy's probability of "exit" reaches the threshold.

        Parameters
        ----------
        node : int
            The stage the rows just computed.
        blocks : list of ndarray
            The policy's blocks of each stage the rows computed.
        X_rows : array-like or None
            The raw input rows, when the policy uses them.

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            0 (exit) or 1 (continue).
        """
        p_exit = self.policy.exit_probability(node, blocks, X_rows)
        return np.where(p_exit >= self.thresholds_[node], EXIT, NEXT)

    def linear_exit_rule(self) -> Bunch | None:
        """The rule of the underlying policies, intercepts moved by each threshold.

        P(exit) = 1 - sigmoid(score) >= t  <=>  score <= logit(1 - t), so "continue"
        is ``score - logit(1 - t) > 0``: still linear.

        Returns
        -------
        rule : Bunch or None
            As :meth:`BaseRouter.linear_exit_rule`; None when the policy's rule is.
        """
        rule = self.policy.linear_exit_rule()
        if rule is None:
            return None
        intercept = rule.intercept.copy()
        for k, t in enumerate(self.thresholds_):
            if rule.constant[k] >= 0:  # a constant policy: P(exit) is 1 or 0
                p_exit = 1.0 if rule.constant[k] == 0 else 0.0
                intercept[k] = -1.0 if p_exit >= t else 1.0
            elif t <= 0:
                intercept[k] = -np.inf  # always exit
            elif t >= 1:
                intercept[k] = np.inf  # never exit
            else:
                intercept[k] -= np.log1p(-t) - np.log(t)
        return Bunch(
            features=rule.features,
            weights=rule.weights,
            intercept=intercept,
            constant=rule.constant,
        )


class ReferencePolicy(BaseRouter):
    """Every row answered by the last stage, along the reference's route.

    The safe candidate of budget mode: it loses nothing against the reference.
    The route is the estimator's reference: the stages from ``entry`` to the last
    one (the last model alone for network selection, every exit for early exit).

    Parameters
    ----------
    costs : array-like of shape (n_stages,)
        The cost of each stage.
    classes : array-like of shape (n_classes,)
        The label of each output column.
    entry : int, default=0
        The first stage of the route: ``n_stages - 1`` when the last stage runs on
        its own (independent models), 0 when it continues the earlier ones.

    Attributes
    ----------
    costs_ : ndarray of shape (n_stages,)
        ``costs`` as floats.
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``.
    n_stages_ : int
        The number of stages.
    classes_ : ndarray of shape (n_classes,)
        ``classes`` as an array.

    See Also
    --------
    ThresholdPolicy : A router that exits early on confident rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive.routers import ReferencePolicy
    >>> outputs = np.full((2, 3, 2), 0.5)
    >>> ReferencePolicy([1, 2, 10], classes=[0, 1], entry=2).fit().predict_cost(outputs)
    array([10., 10.])
    """

    def __init__(
        self, costs: Sequence[float] | NDArray[Any], classes: ArrayLike, entry: int = 0
    ) -> None:
        self.costs = costs
        self.classes = classes
        self.entry = entry

    def fit(self: _Reference, stage_outputs: Any = None, y: Any = None) -> _Reference:
        """Record the costs, classes and route.

        Parameters
        ----------
        stage_outputs : ignored
            Not used, present for API consistency.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ReferencePolicy
            The fitted router.
        """
        self._set_costs(self.costs, len(self.costs))
        self.n_stages_ = len(self.costs_)
        self.classes_ = np.asarray(self.classes)
        if not 0 <= self.entry < self.n_stages_:
            raise ValueError(
                f"entry must be a stage index below {self.n_stages_}; got {self.entry}."
            )
        return self

    def __setstate__(self, state):
        # Saved by skadaptive 0.1: (costs, topology, classes), jumping from stage 0.
        if "topology" in state:
            state = dict(state)
            state["entry"], state["_legacy_jump"] = 0, bool(state.pop("jumps_", False))
            del state["topology"]
        super().__setstate__(state)

    def entry_stage(self) -> int:
        """The first stage of the reference's route.

        Returns
        -------
        stage : int
            ``entry``.
        """
        return int(self.entry)

    def decide(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None
    ) -> NDArray[np.integer[Any]]:
        """Continue every row towards the last stage.

        Parameters
        ----------
        node : int
            The stage the rows just computed.
        blocks : list of ndarray
            Not read.
        X_rows : None
            Not used.

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            1 (continue) for every row.
        """
        action = JUMP if getattr(self, "_legacy_jump", False) else NEXT
        return np.full(len(blocks[-1]), action)


for _cls in (ThresholdPolicy, HybridPolicy, ReferencePolicy):
    _cls.__module__ = STABLE_MODULE
