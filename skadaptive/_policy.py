"""Routing policies learned, or applied, on stage outputs.

:class:`RoutingPolicy` is the learning half of both estimators, usable on its own
from precomputed stage outputs (probabilities or logits saved from models, as the
paper's own experiments did).  The estimators compute stage outputs and hand them
to a :class:`RoutingPolicy`; their ``predict`` routes live rows with the same
fitted policy object.
"""

import numbers

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._compat import LinearClassifierMixin
from ._features import FeatureBuilder, summary_width
from ._reduction import learn_policies
from ._routing import EXIT, JUMP, NEXT, route
from ._validation import check_cost_weight, check_costs, sample_weight_param

FEATURE_KINDS = ("summary", "proba", "proba+X")


def as_outputs(stage_outputs):
    """Stage outputs as one float array of shape (n_samples, n_stages, n_classes)."""
    if isinstance(stage_outputs, (list, tuple)):
        stage_outputs = np.stack([np.asarray(o, dtype=float) for o in stage_outputs], axis=1)
    return np.asarray(stage_outputs, dtype=float)


def encode_labels(y, classes):
    """Column index of each label in ``classes`` (which need not be sorted)."""
    if not np.isin(y, classes).all():
        raise ValueError(f"y contains labels that are not in classes {classes.tolist()}.")
    sorter = np.argsort(classes)
    return sorter[np.searchsorted(classes, y, sorter=sorter)]


def stage_losses(outputs, y_encoded, loss="zero_one", top_k=5, y=None, classes=None):
    """Per-row loss of answering with each stage.

    Parameters
    ----------
    outputs : ndarray of shape (n_samples, n_stages, n_classes)
        Class probabilities of each stage, columns ordered as ``classes``.
    y_encoded : ndarray of shape (n_samples,)
        Column index of each row's true class.
    loss : {"zero_one", "top_k"} or callable
        ``"zero_one"``: 1 where the argmax is wrong.  ``"top_k"``: 1 where the true
        class is not among the ``top_k`` largest probabilities.  A callable gets
        ``(y, proba)`` for one stage, with ``y`` in the user's labels, and returns a
        loss per row.
    """
    n_samples, n_stages, _ = outputs.shape
    if callable(loss):
        losses = np.column_stack(
            [column_or_1d(loss(y, outputs[:, k])) for k in range(n_stages)]
        ).astype(float)
        if losses.shape != (n_samples, n_stages) or not np.all(np.isfinite(losses)):
            raise ValueError("The loss callable must return one finite value per row.")
        return losses
    rows = np.arange(n_samples)
    true_p = outputs[rows, :, y_encoded]  # (n_samples, n_stages)
    if loss == "zero_one":
        return (outputs.argmax(axis=2) != y_encoded[:, None]).astype(float)
    # top_k: the number of classes scoring strictly higher than the true one,
    # ties broken towards the lower column index as argsort would.
    higher = (outputs > true_p[:, :, None]).sum(axis=2)
    cols = np.arange(outputs.shape[2])
    tied_before = ((outputs == true_p[:, :, None]) & (cols < y_encoded[:, None, None])).sum(axis=2)
    return (higher + tied_before >= top_k).astype(float)


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


class _ConstantPolicy:
    """A policy that always takes the same action (no informative rows)."""

    def __init__(self, value):
        self.value = int(value)

    def predict(self, X):
        return np.full(X.shape[0], self.value, dtype=int)

    def __repr__(self):
        return f"_ConstantPolicy({self.value})"


class _RouterMixin:
    """Routing, prediction and cost reporting from stage outputs."""

    def _stage_block(self, proba):
        return proba

    def _route_outputs(self, stage_outputs, X=None):
        check_is_fitted(self)
        outputs = self._check_outputs(stage_outputs, reset=False)
        if getattr(self, "features", None) == "proba+X" and X is None:
            raise ValueError("features='proba+X' needs X; pass X= to route.")
        if X is not None:
            X = X.tocsr() if hasattr(X, "tocsr") else np.asarray(X)
        res = route(lambda k, rows: outputs[rows, k], outputs.shape[0], self.n_stages_, self, X)
        res.cost = res.path @ self.costs_
        return res

    def _check_outputs(self, stage_outputs, reset=True):
        outputs = as_outputs(stage_outputs)
        if outputs.ndim != 3:
            raise ValueError(
                "stage_outputs must be an array of shape (n_samples, n_stages, n_classes) or a "
                "list of n_stages arrays of shape (n_samples, n_classes); "
                f"got shape {outputs.shape}."
            )
        if outputs.shape[1] < 2:
            raise ValueError(f"At least 2 stages are needed, got {outputs.shape[1]}.")
        if outputs.shape[0] == 0:
            raise ValueError("stage_outputs has 0 rows; at least 1 is required.")
        if not np.all(np.isfinite(outputs)):
            raise ValueError("stage_outputs contains NaN or infinity.")
        if not reset and outputs.shape[1:] != (self.n_stages_, len(self.classes_)):
            raise ValueError(
                f"stage_outputs has {outputs.shape[1]} stages and {outputs.shape[2]} classes; "
                f"the policy was fitted with {self.n_stages_} and {len(self.classes_)}."
            )
        if getattr(self, "outputs", "proba") == "logits":
            outputs = softmax(outputs, axis=2)
        return outputs

    def route(self, stage_outputs, X=None):
        """Route rows given every stage's outputs.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            The outputs of every stage for every row (only those on each row's route
            are read).
        X : array-like of shape (n_samples, n_features), default=None
            The raw input; needed only when the policy's features use it.

        Returns
        -------
        result : Bunch
            ``proba``, ``stage`` (see :meth:`apply`), ``path`` (see
            :meth:`decision_path`) and ``cost`` (see :meth:`predict_cost`).
        """
        return self._route_outputs(stage_outputs, X)

    def predict_proba(self, stage_outputs, X=None):
        """Class probabilities of the stage that answers each row."""
        return self.route(stage_outputs, X).proba

    def predict(self, stage_outputs, X=None):
        """Class labels of the stage that answers each row."""
        proba = self.predict_proba(stage_outputs, X)
        return self.classes_[proba.argmax(axis=1)]

    def apply(self, stage_outputs, X=None):
        """Index of the stage whose answer is returned, per row."""
        return self.route(stage_outputs, X).stage

    def decision_path(self, stage_outputs, X=None):
        """Indicator of the stages evaluated for each row, shape (n_samples, n_stages)."""
        return self.route(stage_outputs, X).path

    def predict_cost(self, stage_outputs, X=None):
        """Cost of each row's route, in the units of ``costs``."""
        return self.route(stage_outputs, X).cost

    def score(self, stage_outputs, y, X=None):
        """Accuracy of the routed predictions."""
        return float(np.mean(self.predict(stage_outputs, X) == np.asarray(y)))


class RoutingPolicy(_RouterMixin, BaseEstimator):
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
    n_stages_ : int
    costs_ : ndarray of shape (n_stages,)
        The costs in the user's units.
    normalized_costs_ : ndarray of shape (n_stages,)
        ``costs_ / costs_.sum()``: the full route costs 1.
    policies_ : dict
        ``policies_[(k, "exit")]`` (predicts 1 = continue) and, with jumps,
        ``policies_[(k, "jump")]`` (1 = jump): fitted clones of
        ``policy_estimator`` or constant policies.
    train_objective_ : float
        Mean realised ``loss + cost_weight * normalised cost`` on the training rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skadaptive import RoutingPolicy
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> cheap = np.where(rng.random(200) < 0.7, y, 1 - y)      # 70% right
    >>> outputs = np.stack([np.eye(2)[cheap] * 0.6 + 0.2, np.eye(2)[y] * 0.98 + 0.01], axis=1)
    >>> policy = RoutingPolicy(costs=[1, 9], cost_weight=0.5).fit(outputs, y)
    >>> policy.decision_path(outputs).shape
    (200, 2)
    """

    _parameter_constraints = {
        "costs": ["array-like", None],
        "cost_weight": [Interval(numbers.Real, 0, None, closed="left")],
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
        costs=None,
        *,
        cost_weight=0.1,
        topology="chain",
        policy_estimator=None,
        features="summary",
        loss="zero_one",
        top_k=5,
        outputs="proba",
        classes=None,
    ):
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
        super().__setstate__(state)

    def fit(self, stage_outputs, y, *, X=None, sample_weight=None):
        """Learn the policies, last decision first.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            Outputs of every stage on rows that no stage was trained on.
        y : array-like of shape (n_samples,)
        X : array-like of shape (n_samples, n_features), default=None
            The raw input, needed only when ``features`` uses it.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : RoutingPolicy
        """
        self._validate_params()
        outputs = self._check_outputs(stage_outputs)
        y = column_or_1d(y)
        if y.shape[0] != outputs.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but stage_outputs has {outputs.shape[0]}.")
        classes = np.unique(y) if self.classes is None else np.asarray(self.classes)
        if len(classes) != outputs.shape[2]:
            raise ValueError(
                f"stage_outputs has {outputs.shape[2]} columns but there are {len(classes)} "
                "classes; pass classes= to name the columns."
            )
        y_encoded = encode_labels(y, classes)
        self.classes_ = classes
        losses = stage_losses(outputs, y_encoded, self.loss, self.top_k, y=y, classes=classes)
        self._fit_from_losses(outputs, losses, X=X, sample_weight=sample_weight)
        return self

    def _fit_from_losses(self, outputs, losses, X=None, sample_weight=None):
        n_samples, n_stages, _ = outputs.shape
        self.n_stages_ = n_stages
        costs = np.ones(n_stages) if self.costs is None else self.costs
        self.costs_ = check_costs(costs, n_stages)
        self.normalized_costs_ = self.costs_ / self.costs_.sum()
        cost_weight = check_cost_weight(self.cost_weight)
        if sample_weight is not None:
            sample_weight = column_or_1d(sample_weight).astype(float)
            if sample_weight.shape[0] != n_samples or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be non-negative, one value per row.")
            if not np.any(sample_weight > 0):
                raise ValueError("sample_weight must contain at least one positive weight.")
        template = (
            LogisticRegression(max_iter=1000)
            if self.policy_estimator is None
            else self.policy_estimator
        )
        weight_param = sample_weight_param(template)
        self._builder = FeatureBuilder(self.features)
        if self.features == "proba+X" and X is None:
            raise ValueError("features='proba+X' needs X; pass X= to fit.")
        if X is not None and hasattr(X, "tocsr"):
            X = X.tocsr()
        blocks = [self._stage_block(outputs[:, k]) for k in range(n_stages)]
        self.policies_ = {}

        def fit_decision(node, kind, labels, weights):
            features = self._builder.build(
                blocks[: node + 1], list(outputs[:, : node + 1].swapaxes(0, 1)), X
            )
            keep = weights > 0
            present = np.unique(labels[keep])
            if len(present) < 2:
                policy = _ConstantPolicy(present[0] if len(present) else 0)
            else:
                policy = clone(template)
                w = weights[keep] / weights[keep].mean()
                policy.fit(features[keep], labels[keep], **{weight_param: w})
            self.policies_[(node, kind)] = policy
            return policy.predict(features)

        realised, _ = learn_policies(
            losses,
            self.normalized_costs_,
            cost_weight,
            fit_decision,
            jump=self.topology == "jump",
            sample_weight=sample_weight,
        )
        self.train_objective_ = float(np.average(realised, weights=sample_weight))
        return self

    def _stage_block(self, proba):
        return self._builder.block(proba) if not callable(self.features) else proba

    def _linear_exit_rule(self):
        """The exit decisions as one linear rule over the stage blocks, or None.

        For a chain whose exit policies are all binary linear models (or constant)
        on ``"summary"`` or ``"proba"`` features, the decision at exit ``k`` is
        "continue" where ``sum_j block_j @ weights[j][:, k] + intercept[k] > 0``,
        ``j = 0..k``.  ``weights[j]`` has shape ``(block_width, n_stages - 1)``
        (zero for the exits before ``j``), so a model can keep one running score
        per remaining exit and add stage ``j``'s part as soon as stage ``j`` is
        computed: this is what lets a device evaluate the policies without
        copying anything to the host (see ``route_linear`` in the multi-exit
        protocol).  None when any decision is not linear, or with jumps.
        """
        if self.topology != "chain" or self.features not in ("summary", "proba"):
            return None
        n_exits = self.n_stages_ - 1
        n_classes = len(self.classes_)
        width = summary_width(n_classes) if self.features == "summary" else n_classes
        weights = [np.zeros((width, n_exits)) for _ in range(n_exits)]
        intercept = np.zeros(n_exits)
        for k in range(n_exits):
            policy = self.policies_[(k, "exit")]
            if isinstance(policy, _ConstantPolicy):
                intercept[k] = 1.0 if policy.value == 1 else -1.0
                continue
            linear = _binary_linear(policy, (k + 1) * width)
            if linear is None:
                return None
            coef, intercept[k] = linear
            for j in range(k + 1):
                weights[j][:, k] = coef[j * width : (j + 1) * width]
        return Bunch(features=self.features, weights=weights, intercept=intercept)

    def _decide(self, node, blocks, X_rows):
        probas = blocks if callable(self.features) else None
        features = self._builder.build(blocks, probas, X_rows)
        exit_policy = self.policies_[(node, "exit")]
        actions = np.where(policy_predict(exit_policy, features) == 1, NEXT, EXIT)
        jump_policy = self.policies_.get((node, "jump"))
        cont = actions == NEXT
        if jump_policy is not None and cont.any():
            actions[cont] = np.where(policy_predict(jump_policy, features[cont]) == 1, JUMP, NEXT)
        return actions
