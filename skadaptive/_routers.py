"""The router protocol: :class:`BaseRouter`, and :class:`ConstantPolicy`.

A *router* is a fitted object that says, for rows whose stage outputs it has seen
so far, what each row does next: answer now, run the next stage, or jump to the
last one.  :class:`BaseRouter` is the protocol that the routing engine
(:func:`skadaptive._routing.route`), the estimators and the torch side call; a
router written against it routes precomputed stage outputs (``route``,
``predict``, ...) and the live stages of an estimator alike.

The routers that learn nothing from labels are in :mod:`skadaptive._plain_routers`;
the learned router, :class:`~skadaptive.RoutingPolicy`, in :mod:`skadaptive._policy`.
:class:`ConstantPolicy` is the policy estimator that the learned router uses where a
decision has nothing to learn.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from sklearn.utils import metadata_routing as mr
from sklearn.utils.validation import check_is_fitted

from ._compat import logistic_proba
from ._losses import check_outputs, output_classes
from ._routing import route_outputs
from ._validation import Float64Array, check_costs

__all__ = ["BaseRouter", "ConstantPolicy", "exit_probability"]

STABLE_MODULE = "skadaptive.routers"  # where saved files find these classes
PROBA_TOL = 1e-3  # how far probabilities may stray from [0, 1] rows summing to 1

_Constant = TypeVar("_Constant", bound="ConstantPolicy")


class BaseRouter(BaseEstimator):
    """Base class of the routers: fitted policies that route rows through stages.

    A router sees each stage's class probabilities for the rows that computed
    it and decides, after every non-final stage, what each of those rows does
    next.  The routing engine calls it; the methods below (``route``, ``predict``,
    ``apply``, ...) route precomputed stage outputs with it, and the estimators
    route live stages with the same object.

    A subclass implements ``fit``, which sets ``classes_``, ``n_stages_``,
    ``costs_`` and ``normalized_costs_``, and :meth:`decide`.  It may override
    :meth:`stage_block` (what it keeps of a stage's outputs), :meth:`entry_stage`
    (the first stage every row computes), :attr:`uses_X` (whether it needs the
    raw input) and :meth:`linear_exit_rule` (its decisions as one linear rule,
    which a torch network evaluates on its device).

    The engine calls, for each non-final stage ``k = entry_stage(), ...`` and only
    for the rows that reach stage ``k``: ``stage_block(proba_k)``, then
    ``decide(k, blocks, X_rows)`` with the kept blocks of stages
    ``entry_stage()..k`` of those rows.  The rows that reach the last stage are
    answered by it, without a call to the router.

    See Also
    --------
    skadaptive.RoutingPolicy : The learned router of the paper.
    ThresholdPolicy : Exit where a stage's confidence passes a threshold.
    HybridPolicy : Thresholds on a learned policy's probability of "exit".
    ReferencePolicy : Every row answered along the non-adaptive reference's route.

    Examples
    --------
    A router that answers with a stage where its top two probabilities differ by
    at least ``margin``:

    >>> import numpy as np
    >>> from skadaptive.routers import BaseRouter
    >>> class MarginRouter(BaseRouter):
    ...     def __init__(self, margin=0.5):
    ...         self.margin = margin
    ...
    ...     def fit(self, stage_outputs, y=None):
    ...         n_stages, n_classes = np.shape(stage_outputs)[1:]
    ...         self.classes_ = np.arange(n_classes)
    ...         self.n_stages_ = n_stages
    ...         self.costs_ = np.ones(n_stages)
    ...         self.normalized_costs_ = self.costs_ / n_stages
    ...         return self
    ...
    ...     def decide(self, node, blocks, X_rows):
    ...         top_two = np.sort(blocks[-1], axis=1)[:, -2:]
    ...         return np.where(top_two[:, 1] - top_two[:, 0] >= self.margin, 0, 1)
    >>> outputs = np.array([[[0.9, 0.1], [0.2, 0.8]],
    ...                     [[0.6, 0.4], [0.3, 0.7]]])
    >>> router = MarginRouter(margin=0.5).fit(outputs)
    >>> router.apply(outputs)
    array([0, 1])
    >>> router.predict_proba(outputs)
    array([[0.9, 0.1],
           [0.3, 0.7]])
    >>> router.predict_cost(outputs)
    array([1., 2.])
    """

    # stage_outputs is data, not metadata: no set_*_request method for it.
    __metadata_request__fit = {"stage_outputs": mr.UNUSED}
    __metadata_request__predict = {"stage_outputs": mr.UNUSED}
    __metadata_request__predict_proba = {"stage_outputs": mr.UNUSED}
    __metadata_request__score = {"stage_outputs": mr.UNUSED}

    # -- the protocol -----------------------------------------------------------
    @property
    def uses_X(self) -> bool:
        """Whether :meth:`decide` reads the raw input rows (``X_rows``)."""
        return False

    def entry_stage(self) -> int:
        """The stage that every row computes first.

        Returns
        -------
        stage : int
            0 unless the router answers without the early stages.
        """
        return 0

    def stage_block(self, proba: Float64Array) -> Float64Array:
        """What the router keeps of one stage's outputs, per row.

        Parameters
        ----------
        proba : ndarray of shape (n_rows, n_classes)
            The stage's class probabilities.

        Returns
        -------
        block : ndarray of shape (n_rows, n_block_columns)
            Handed back to :meth:`decide` in ``blocks``; the probabilities themselves
            by default.
        """
        return proba

    def decide(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None
    ) -> NDArray[np.integer[Any]]:
        """What the rows at non-final stage ``node`` do next.

        Parameters
        ----------
        node : int
            The stage the rows just computed.
        blocks : list of ndarray
            The :meth:`stage_block` of each stage the rows computed, in order.
        X_rows : array-like of shape (n_rows, n_features) or None
            The raw input rows, when :attr:`uses_X`; else None.

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            0 to answer with stage ``node``, 1 to run stage ``node + 1``, 2 to jump to
            the last stage.
        """
        raise NotImplementedError

    def linear_exit_rule(self) -> Bunch | None:
        """The exit decisions as one linear rule over the stage blocks, or None.

        A router whose decision at every exit ``k`` is "continue" exactly where
        ``sum_j block_j @ weights[j][:, k] + intercept[k] > 0`` (``j = 0..k``), with
        no jumps, returns ``Bunch(features=..., weights=[...], intercept=...)``:
        ``features`` names the blocks (``"summary"`` or ``"proba"``), ``weights[j]``
        has shape ``(block_width, n_stages - 1)``.  A multi-exit model with
        ``route_linear`` (a torch network) then routes on its device.

        Returns
        -------
        rule : Bunch or None
            None when the decisions are not of that form.
        """
        return None

    # -- routing precomputed outputs --------------------------------------------
    def _validate_outputs(self, stage_outputs, reset=True, y=None):
        outputs = check_outputs(stage_outputs)
        if reset:  # the columns against the classes first: the more telling error
            output_classes(getattr(self, "classes", None), y, outputs.shape[2])
        if not reset and outputs.shape[1:] != (self.n_stages_, len(self.classes_)):
            raise ValueError(
                f"stage_outputs has {outputs.shape[1]} stages and {outputs.shape[2]} classes; "
                f"the policy was fitted with {self.n_stages_} and {len(self.classes_)}."
            )
        if getattr(self, "outputs", "proba") == "logits":
            return softmax(outputs, axis=2)
        sums = outputs.sum(axis=2)
        # A few rows may stray (GaussianNB on float32 input sums to 1.5 on a digit); logits
        # and per-class scores stray on most rows.
        if outputs.min() < -PROBA_TOL or np.mean(np.abs(sums - 1) > PROBA_TOL) > 0.01:
            raise ValueError(
                "stage_outputs are not probabilities: each stage's row must be non-negative "
                f"and sum to 1 (found values from {outputs.min():.4g} to {outputs.max():.4g}, "
                f"row sums from {sums.min():.4g} to {sums.max():.4g}). If they are logits or "
                "scores, pass outputs='logits' (they then go through a softmax)."
            )
        return outputs

    def route(self, stage_outputs: ArrayLike, X: ArrayLike | None = None) -> Bunch:
        """Route rows given every stage's outputs.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row (only those on each row's route
            are read).
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        result : Bunch
            ``proba``, ``stage`` (see :meth:`apply`), ``path`` (see
            :meth:`decision_path`) and ``cost`` (see :meth:`predict_cost`).
        """
        check_is_fitted(self)
        outputs = self._validate_outputs(stage_outputs, reset=False)
        if getattr(self, "features", None) == "proba+X" and X is None:
            raise ValueError("features='proba+X' needs X; pass X= to route.")
        if X is not None:
            X = X.tocsr() if hasattr(X, "tocsr") else np.asarray(X)
        return route_outputs(outputs, self, X, self.costs_)

    def predict_proba(self, stage_outputs: ArrayLike, X: ArrayLike | None = None) -> Float64Array:
        """Class probabilities of the stage that answers each row.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The answering stage's probabilities.
        """
        return self.route(stage_outputs, X).proba

    def predict(self, stage_outputs: ArrayLike, X: ArrayLike | None = None) -> NDArray[Any]:
        """Class labels of the stage that answers each row.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of the answering stage.
        """
        proba = self.predict_proba(stage_outputs, X)
        return self.classes_[proba.argmax(axis=1)]

    def apply(self, stage_outputs: ArrayLike, X: ArrayLike | None = None) -> NDArray[np.intp]:
        """Index of the stage whose answer is returned, per row.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        stage : ndarray of shape (n_samples,)
            The answering stage of each row.
        """
        return self.route(stage_outputs, X).stage

    def decision_path(
        self, stage_outputs: ArrayLike, X: ArrayLike | None = None
    ) -> NDArray[np.bool_]:
        """Which stages each row's route computes.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        path : ndarray of shape (n_samples, n_stages), dtype=bool
            True where the row's route computes the stage.
        """
        return self.route(stage_outputs, X).path

    def predict_cost(self, stage_outputs: ArrayLike, X: ArrayLike | None = None) -> Float64Array:
        """Cost of each row's route, in the units of ``costs_``.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        cost : ndarray of shape (n_samples,)
            The sum of the costs of the stages on the row's route.
        """
        return self.route(stage_outputs, X).cost

    def score(self, stage_outputs: ArrayLike, y: ArrayLike, X: ArrayLike | None = None) -> float:
        """Accuracy of the routed predictions.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row.
        y : array-like of shape (n_samples,)
            The true labels.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the router uses it.

        Returns
        -------
        score : float
            The share of rows whose routed prediction is ``y``.
        """
        return float(np.mean(self.predict(stage_outputs, X) == np.asarray(y)))

    def _set_costs(self, costs, n_stages):
        """Set ``costs_`` (1 per stage when None) and ``normalized_costs_``."""
        self.costs_ = check_costs(np.ones(n_stages) if costs is None else costs, n_stages)
        self.normalized_costs_ = self.costs_ / self.costs_.sum()


class ConstantPolicy:
    """A binary policy estimator that always predicts the same action.

    :class:`~skadaptive.RoutingPolicy` uses it at a decision where the training
    rows leave nothing to learn (every informative row has the same label).

    Parameters
    ----------
    value : int
        The action predicted for every row: 0 (exit) or 1 (continue, or jump).

    Attributes
    ----------
    value : int
        The action predicted for every row, as an int.
    classes_ : ndarray of shape (2,)
        The two actions, ``[0, 1]``.

    See Also
    --------
    skadaptive.RoutingPolicy : The learned router whose ``policies_`` may hold it.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive.routers import ConstantPolicy
    >>> ConstantPolicy(1).predict(np.zeros((3, 2)))
    array([1, 1, 1])
    """

    def __init__(self, value: int) -> None:
        self.value = int(value)
        self.classes_ = np.array([0, 1])

    def __setstate__(self, state):
        # Saved by skadaptive 0.1 without classes_.
        self.__dict__.update(state)
        self.classes_ = np.array([0, 1])

    def fit(self: _Constant, X: Any = None, y: Any = None) -> _Constant:
        """Nothing to learn.

        Parameters
        ----------
        X : ignored
            Not used, present for API consistency.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ConstantPolicy
            The policy.
        """
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.int_]:
        """``value`` for every row.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            The rows (only their number is read).

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            ``value`` repeated.
        """
        return np.full(np.shape(X)[0], self.value, dtype=int)

    def predict_proba(self, X: ArrayLike) -> Float64Array:
        """Probability 1 for ``value``, 0 for the other action.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            The rows (only their number is read).

        Returns
        -------
        proba : ndarray of shape (n_rows, 2)
            Columns for actions 0 and 1.
        """
        proba = np.zeros((np.shape(X)[0], 2))
        proba[:, self.value] = 1.0
        return proba

    def __repr__(self):
        return f"ConstantPolicy({self.value})"


def exit_probability(policy, n_rows, features):
    """An exit policy's probability of "exit" (class 0) for ``n_rows`` rows.

    ``features()`` builds the policy's input; a :class:`ConstantPolicy` needs none.
    """
    if isinstance(policy, ConstantPolicy):
        return np.full(n_rows, 1.0 if policy.value == 0 else 0.0)
    X = features()
    p_exit = _binary_logistic_exit(policy, X)
    if p_exit is not None:
        return p_exit
    proba = policy.predict_proba(X)
    return proba[:, list(policy.classes_).index(0)]


def _binary_logistic_exit(policy, X):
    """``predict_proba(X)[:, 0]`` of a binary LogisticRegression, without its input check.

    :func:`~skadaptive._compat.logistic_proba`: scikit-learn's operations, so the same
    bits; the check costs ~0.1 ms a call, the arithmetic a few microseconds on one
    row.  None for anything else.
    """
    if not (
        isinstance(policy, LogisticRegression)
        and isinstance(X, np.ndarray)
        and X.dtype == np.float64
        and X.ndim == 2
        and getattr(policy, "coef_", None) is not None
        and policy.coef_.shape == (1, X.shape[1])
        and np.array_equal(policy.classes_, [0, 1])
    ):
        return None
    return logistic_proba(policy, X)[:, 0]


for _cls in (BaseRouter, ConstantPolicy):
    _cls.__module__ = STABLE_MODULE
