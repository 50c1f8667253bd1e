"""RoutingPolicy: the paper's learned router.

:class:`RoutingPolicy` is the learning half of both estimators, usable on its own
from precomputed stage outputs (probabilities or logits saved from models, as the
paper's own experiments did).  It fits one binary policy estimator per decision
with the bottom-up reduction of :mod:`skadaptive._reduction`, from stage outputs
and labels (:meth:`RoutingPolicy.fit`) or from per-row stage losses
(:meth:`RoutingPolicy.fit_losses`), and routes as a
:class:`~skadaptive.routers.BaseRouter`.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._compat import (
    HasMethods,
    Interval,
    LinearClassifierMixin,
    StrOptions,
    fit_context,
    one_blas_thread,
)
from ._features import FeatureBuilder
from ._losses import output_classes, stage_losses
from ._reduction import learn_policies
from ._routers import BaseRouter, ConstantPolicy, exit_probability
from ._routing import EXIT, JUMP, NEXT
from ._validation import (
    Estimator,
    Features,
    Float64Array,
    Loss,
    check_sample_weight_1d,
    sample_weight_param,
)

FEATURE_KINDS = ("summary", "proba", "proba+X")

_Policy = TypeVar("_Policy", bound="RoutingPolicy")


def policy_predict(policy, features):
    """``policy.predict(features)``, without input validation for binary linear models.

    Routing calls each policy once per stage and batch; for a fitted binary linear
    classifier (the default LogisticRegression) the decision is one matrix product,
    while ``predict`` spends ~0.1 ms validating its input.  Same result: sklearn
    predicts ``classes_[1]`` where the decision function is > 0.
    """
    if (
        isinstance(policy, LinearClassifierMixin)
        and getattr(policy, "coef_", None) is not None
        and policy.coef_.shape[0] == 1
        and features.shape[1] == policy.coef_.shape[1]
    ):
        scores = features @ policy.coef_[0] + policy.intercept_[0]
        return policy.classes_[(np.asarray(scores).ravel() > 0).astype(int)]
    return policy.predict(features)


def _binary_linear(policy, n_features):
    """``(coef, intercept)`` of a binary linear policy predicting 1 where score > 0, or None."""
    if (
        isinstance(policy, LinearClassifierMixin)
        and getattr(policy, "coef_", None) is not None
        and policy.coef_.shape == (1, n_features)
        and np.array_equal(policy.classes_, [0, 1])
    ):
        return np.asarray(policy.coef_[0], dtype=float), float(policy.intercept_[0])
    return None


def _warm_or_fresh(template, previous, labels):
    """A fresh clone of ``template``, or a copy of ``previous`` set to warm-start from it.

    Only where the estimator has ``warm_start`` (a ``LogisticRegression``, ...), is of the
    template's type and was fitted on the same labels.
    """
    if (
        previous is None
        or type(previous) is not type(template)
        or "warm_start" not in template.get_params()
        or not np.array_equal(getattr(previous, "classes_", None), labels)
    ):
        return clone(template)
    policy = copy.deepcopy(previous)
    policy.set_params(warm_start=True)
    return policy


class RoutingPolicy(BaseRouter):
    """Learn the paper's routing policies from precomputed stage outputs.

    Each non-final stage gets a binary policy (exit or continue), learned
    bottom-up with the reduction of Bolukbasi et al. (2017): label = the cheaper
    action, weight = the difference in ``loss + cost_weight * route cost``, with
    the continue cost realised under the policies already learned downstream.
    With ``topology="jump"`` (network selection) the stages before the last two
    also get a policy that sends continuing rows straight to the last stage.

    Parameters
    ----------
    costs : array-like of shape (n_stages,), default=None
        Cost of each stage in any unit (incremental cost of each exit, or cost of
        each model).  ``None`` means every stage costs 1.  Costs are normalised so
        that the most expensive route (every stage) costs 1.
    cost_weight : float, default=0.1
        Lambda: loss traded per full-system evaluation.  0 minimises the loss
        alone; large values exit at the first stage.
    topology : {"chain", "jump"}, default="chain"
        ``"jump"`` adds the network-selection edge to the last stage.
    policy_estimator : classifier, default=None
        A binary classifier whose ``fit`` takes ``sample_weight`` (a Pipeline whose
        last step does is fine).  ``None`` means ``LogisticRegression(max_iter=1000)``.  A clone
        is fitted per decision; weights are rescaled to mean 1 per decision, which
        keeps the label/weight optimum and makes regularisation independent of
        ``cost_weight``.
    features : {"summary", "proba", "proba+X"} or callable, default="summary"
        Policy input at exit ``k``, from every stage evaluated so far:
        ``"summary"`` = the 3 largest sorted probabilities, the top-two margin and
        the entropy per stage; ``"proba"`` = the full probability vectors;
        ``"proba+X"`` = those plus the raw input; a callable gets
        ``(stage_probas, X_rows)`` and returns a 2-D array.
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
        Loss of answering with a stage; a callable gets ``(y, proba)`` and returns
        a per-row loss.
    top_k : int, default=5
        The ``k`` of ``loss="top_k"``.
    outputs : {"proba", "logits"}, default="proba"
        What ``stage_outputs`` hold; logits go through a softmax.
    classes : array-like, default=None
        Labels of the output columns; ``None`` means ``np.unique(y)``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The label of each output column.
    n_stages_ : int
        The number of stages.
    costs_ : ndarray of shape (n_stages,)
        The costs in the user's units.
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``: the full route costs 1.
    policies_ : dict
        ``policies_[(k, "exit")]`` (predicts 1 = continue) and, with jumps,
        ``policies_[(k, "jump")]`` (1 = jump): fitted clones of
        ``policy_estimator`` or constant policies.
    train_objective_ : float
        Mean realised ``loss + cost_weight * normalised cost`` on the training rows
        (weighted by ``sample_weight`` when given).

    See Also
    --------
    skadaptive.EarlyExitClassifier : The same policies on the exits of one model.
    skadaptive.NetworkSelectionClassifier : The same policies on a ladder of models.
    skadaptive.routers.ThresholdPolicy : Exit where a stage is confident enough.
    skadaptive.routers.HybridPolicy : Thresholds on these policies' probability of "exit".

    Examples
    --------
    A cheap stage that is right with the probability it gives its answer, and an
    expensive one (9 times the cost) that is always right:

    >>> import numpy as np
    >>> from skadaptive import RoutingPolicy
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> confidence = rng.uniform(0.5, 1.0, 300)
    >>> cheap = np.where(rng.random(300) < confidence, y, 1 - y)
    >>> p = np.where(cheap == 1, confidence, 1 - confidence)
    >>> outputs = np.stack([np.column_stack([1 - p, p]), np.eye(2)[y] * 0.98 + 0.01], axis=1)
    >>> policy = RoutingPolicy(costs=[1, 9], cost_weight=0.2).fit(outputs, y)
    >>> policy.decision_path(outputs).mean(axis=0).round(2)   # share of rows per stage
    array([1.  , 0.57])
    >>> policy.score(outputs, y)
    0.96
    >>> round(float(policy.predict_cost(outputs).mean()), 2)  # every row at both: 10
    6.1
    """

    _parameter_constraints = {
        "costs": ["array-like", None],
        "cost_weight": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "topology": [StrOptions({"chain", "jump"})],
        "policy_estimator": [HasMethods(["fit", "predict"]), None],
        "features": [StrOptions(set(FEATURE_KINDS)), callable],
        "loss": [StrOptions({"zero_one", "top_k"}), callable],
        "top_k": [Interval(numbers.Integral, 1, None, closed="left")],
        "outputs": [StrOptions({"proba", "logits"})],
        "classes": ["array-like", None],
    }

    def __init__(
        self,
        costs: ArrayLike | None = None,
        *,
        cost_weight: float = 0.1,
        topology: Literal["chain", "jump"] = "chain",
        policy_estimator: Estimator | None = None,
        features: Features = "summary",
        loss: Loss = "zero_one",
        top_k: int = 5,
        outputs: Literal["proba", "logits"] = "proba",
        classes: ArrayLike | None = None,
    ) -> None:
        self.costs = costs
        self.cost_weight = cost_weight
        self.topology = topology
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.outputs = outputs
        self.classes = classes

    def __getstate__(self):
        # skops saves dicts with plain keys only: policies_ travels as [node, kind,
        # policy] triples and comes back as the tuple-keyed dict (pickle too).
        state = super().__getstate__()
        if isinstance(state.get("policies_"), dict):
            triples = [[node, kind, p] for (node, kind), p in state["policies_"].items()]
            state = {**state, "policies_": triples}
        return state

    def __setstate__(self, state):
        if isinstance(state.get("policies_"), list):
            state = {**state, "policies_": {(n, k): p for n, k, p in state["policies_"]}}
        state = {k: v for k, v in state.items() if k != "_builder"}  # kept by 0.1
        super().__setstate__(state)

    @fit_context
    def fit(
        self: _Policy,
        stage_outputs: ArrayLike,
        y: ArrayLike,
        *,
        X: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> _Policy:
        """Learn the policies, last decision first.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            Outputs of every stage on rows that no stage was trained on.
        y : array-like of shape (n_samples,)
            The true labels.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input, needed only when ``features`` uses it.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in every decision's binary problem.

        Returns
        -------
        self : RoutingPolicy
            The fitted router.
        """
        outputs = self._validate_outputs(stage_outputs, y=y)
        y = cast("NDArray[Any]", column_or_1d(y))  # sklearn's helpers are not typed
        if y.shape[0] != outputs.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but stage_outputs has {outputs.shape[0]}.")
        classes = output_classes(self.classes, y, outputs.shape[2])
        losses = stage_losses(outputs, y, classes, self.loss, self.top_k)
        return self._fit(outputs, losses, classes, X, sample_weight)

    @fit_context
    def fit_losses(
        self: _Policy,
        stage_outputs: ArrayLike,
        losses: ArrayLike,
        *,
        X: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> _Policy:
        """Learn the policies from each row's loss at each stage, last decision first.

        For callers that have the losses already (budget mode evaluates many
        ``cost_weight`` values on the same rows).  ``classes`` must name the columns.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            Outputs of every stage on rows that no stage was trained on.
        losses : array-like of shape (n_samples, n_stages)
            The loss of answering each row with each stage.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input, needed only when ``features`` uses it.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in every decision's binary problem.

        Returns
        -------
        self : RoutingPolicy
            The fitted router.
        """
        if self.classes is None:
            raise ValueError("fit_losses needs classes= to name the output columns.")
        outputs = self._validate_outputs(stage_outputs)
        classes = output_classes(self.classes, None, outputs.shape[2])
        losses = np.asarray(losses, dtype=float)
        if losses.shape != outputs.shape[:2] or not np.all(np.isfinite(losses)):
            raise ValueError(
                f"losses must be finite, of shape (n_samples, n_stages) = {outputs.shape[:2]}; "
                f"got shape {losses.shape}."
            )
        return self._fit(outputs, losses, classes, X, sample_weight)

    def _fit(self, outputs, losses, classes, X, sample_weight):
        n_samples, n_stages, _ = outputs.shape
        self.classes_ = classes
        self.n_stages_ = n_stages
        self._set_costs(self.costs, n_stages)
        sample_weight = check_sample_weight_1d(sample_weight, n_samples)
        template = (
            LogisticRegression(max_iter=1000)
            if self.policy_estimator is None
            else self.policy_estimator
        )
        weight_param = sample_weight_param(template)
        if self.features == "proba+X" and X is None:
            raise ValueError("features='proba+X' needs X; pass X= to fit.")
        if X is not None and hasattr(X, "tocsr"):
            X = X.tocsr()
        builder = FeatureBuilder(self.features)
        blocks = [self.stage_block(outputs[:, k]) for k in range(n_stages)]
        probas = list(outputs.swapaxes(0, 1))
        self.policies_ = {}
        # Along a lambda path, each decision's estimator starts from the previous lambda's
        # solution (learned_path sets _warm_start_from for the duration of the fit).
        previous = getattr(self, "_warm_start_from", None)
        warm = {} if previous is None else previous.policies_

        def fit_decision(node, kind, labels, weights):
            features = builder.build(blocks[: node + 1], probas[: node + 1], X)
            keep = weights > 0
            present = np.unique(labels[keep])
            if len(present) < 2:
                policy = ConstantPolicy(present[0] if len(present) else 0)
            else:
                policy = _warm_or_fresh(template, warm.get((node, kind)), present)
                w = weights[keep] / weights[keep].mean()
                policy.fit(features[keep], labels[keep], **{weight_param: w})
                if policy is not template and "warm_start" in template.get_params():
                    policy.set_params(warm_start=template.get_params()["warm_start"])
            self.policies_[(node, kind)] = policy
            return policy.predict(features)

        with one_blas_thread():  # many small fits: parallelism comes from n_jobs instead
            realised, _ = learn_policies(
                losses,
                self.normalized_costs_,
                float(self.cost_weight),
                fit_decision,
                jump=self.topology == "jump",
                sample_weight=sample_weight,
            )
        self.train_objective_ = float(np.average(realised, weights=sample_weight))
        return self

    @property
    def uses_X(self) -> bool:
        """Whether the policies read the raw input (``features="proba+X"`` or a callable)."""
        return FeatureBuilder(self.features).uses_X

    def stage_block(self, proba: Float64Array) -> Float64Array:
        """The features' block of one stage: its summary, or its probabilities.

        Parameters
        ----------
        proba : ndarray of shape (n_rows, n_classes)
            The stage's class probabilities.

        Returns
        -------
        block : ndarray of shape (n_rows, n_block_columns)
            :func:`summary_block` columns for ``features="summary"``, else ``proba``.
        """
        block = FeatureBuilder(self.features).block(proba)
        return proba if block is None else block

    def _features(self, blocks, X_rows):
        """The policies' input for rows whose stages so far gave ``blocks``."""
        probas = blocks if callable(self.features) else None
        return FeatureBuilder(self.features).build(blocks, probas, X_rows)

    def decide(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None
    ) -> NDArray[np.integer[Any]]:
        """Exit, continue or jump, as the policies at ``node`` predict.

        Parameters
        ----------
        node : int
            The stage the rows just computed.
        blocks : list of ndarray
            The :meth:`stage_block` of each stage the rows computed.
        X_rows : array-like of shape (n_rows, n_features) or None
            The raw input rows, when :attr:`uses_X`.

        Returns
        -------
        actions : ndarray of shape (n_rows,)
            0 (exit), 1 (continue) or 2 (jump to the last stage).
        """
        features = self._features(blocks, X_rows)
        exit_policy = self.policies_[(node, "exit")]
        actions = np.where(policy_predict(exit_policy, features) == 1, NEXT, EXIT)
        jump_policy = self.policies_.get((node, "jump"))
        cont = actions == NEXT
        if jump_policy is not None and cont.any():
            actions[cont] = np.where(policy_predict(jump_policy, features[cont]) == 1, JUMP, NEXT)
        return actions

    def exit_probability(
        self, node: int, blocks: list[Float64Array], X_rows: ArrayLike | None = None
    ) -> Float64Array:
        """The exit policy's probability of "exit" at ``node``, per row.

        Parameters
        ----------
        node : int
            A non-final stage.
        blocks : list of ndarray
            The :meth:`stage_block` of stages ``0..node`` of the rows.
        X_rows : array-like of shape (n_rows, n_features), default=None
            The raw input rows, when :attr:`uses_X`.

        Returns
        -------
        p_exit : ndarray of shape (n_rows,)
            1 - the probability of "continue"; 0 or 1 for a constant policy.
        """
        policy = self.policies_[(node, "exit")]
        return exit_probability(policy, len(blocks[-1]), lambda: self._features(blocks, X_rows))

    def exit_probabilities(
        self, stage_outputs: ArrayLike, X: ArrayLike | None = None
    ) -> Float64Array:
        """Every exit policy's probability of "exit" for every row.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage; the features at exit ``k`` come from stages
            ``0..k``, as when routing.
        X : array-like of shape (n_samples, n_features), default=None
            The raw input, when :attr:`uses_X`.

        Returns
        -------
        p_exit : ndarray of shape (n_samples, n_stages - 1)
            Column ``k``: :meth:`exit_probability` at exit ``k``.
        """
        check_is_fitted(self)
        outputs = self._validate_outputs(stage_outputs, reset=False)
        blocks = [self.stage_block(outputs[:, k]) for k in range(self.n_stages_)]
        return np.column_stack(
            [self.exit_probability(k, blocks[: k + 1], X) for k in range(self.n_stages_ - 1)]
        )

    def linear_exit_rule(self) -> Bunch | None:
        """The exit decisions as one linear rule over the stage blocks, or None.

        For a chain whose exit policies are all binary linear models (or constant)
        on ``"summary"`` or ``"proba"`` features, the decision at exit ``k`` is
        "continue" where ``sum_j block_j @ weights[j][:, k] + intercept[k] > 0``,
        ``j = 0..k``.  ``weights[j]`` has shape ``(block_width, n_stages - 1)``
        (zero for the exits before ``j``), so a model can keep one running score
        per remaining exit and add stage ``j``'s part as soon as stage ``j`` is
        computed: this is what lets a device evaluate the policies without
        copying anything to the host (see ``route_linear`` in the multi-exit
        protocol).

        Returns
        -------
        rule : Bunch or None
            ``features``, ``weights``, ``intercept`` and ``constant`` (per exit: -1,
            or the action of a constant policy); None when a decision is not linear,
            or with jumps.
        """
        if self.topology != "chain" or self.features not in ("summary", "proba"):
            return None
        n_exits = self.n_stages_ - 1
        width = FeatureBuilder(self.features).width(len(self.classes_))
        weights = [np.zeros((width, n_exits)) for _ in range(n_exits)]
        intercept = np.zeros(n_exits)
        constant = np.full(n_exits, -1)
        for k in range(n_exits):
            policy = self.policies_[(k, "exit")]
            if isinstance(policy, ConstantPolicy):
                intercept[k] = 1.0 if policy.value == 1 else -1.0
                constant[k] = policy.value
                continue
            linear = _binary_linear(policy, (k + 1) * width)
            if linear is None:
                return None
            coef, intercept[k] = linear
            for j in range(k + 1):
                weights[j][:, k] = coef[j * width : (j + 1) * width]
        return Bunch(
            features=self.features, weights=weights, intercept=intercept, constant=constant
        )


RoutingPolicy.__module__ = "skadaptive"
