"""EarlyExitClassifier: one model with several exits."""

import functools

from sklearn.utils._param_validation import HasMethods

from ._base import COMMON_CONSTRAINTS, BaseAdaptiveClassifier
from ._stages import (
    DEFAULT_EXITS,
    check_exit_estimator,
    implements_exit_protocol,
    single_model_exits,
    unfrozen,
)


class EarlyExitClassifier(BaseAdaptiveClassifier):
    """Stop computing one model as soon as an exit's answer is good enough.

    A model with several exits (the first trees of a boosted ensemble or a
    forest, the intermediate heads of a network) is evaluated exit by exit.  After
    each exit a learned policy decides whether to answer or pay for the next
    stage; a later stage continues from the earlier computation (partial sums,
    activations) and only for the rows still active.  The policies minimise
    ``E[loss + cost_weight * cost]`` with the bottom-up reduction of Bolukbasi et
    al., "Adaptive Neural Networks for Efficient Inference" (ICML 2017), learned on
    out-of-fold exit outputs.

    Parameters
    ----------
    estimator : estimator
        The multi-exit model: a ``HistGradientBoostingClassifier``,
        ``GradientBoostingClassifier``, ``RandomForestClassifier`` or
        ``ExtraTreesClassifier`` (exits after given numbers of trees), or any
        classifier that implements the multi-exit protocol (``init_exits(X)``,
        ``predict_exit_proba(state, k, rows)``, ``n_exits_`` and ``classes_``
        once fitted; see the user guide).  An unfitted model is cross-fitted
        (``cv``) and refitted on all rows; one wrapped in
        :class:`sklearn.frozen.FrozenEstimator` is used as it is (pass held-out
        rows to ``fit``).
    exits : sequence of int or float, default=None
        For tree ensembles: the number of trees (boosting iterations) after which
        each exit answers, increasing; floats in (0, 1] are fractions of the
        fitted trees.  ``None`` means ``(0.125, 0.25, 0.5, 1.0)``.  Must be None for
        a protocol model, which defines its own exits.
    costs : array-like of shape (n_exits,), "time" or None, default=None
        Incremental cost of each exit, in any unit.  ``None``: the number of trees
        each exit adds (tree ensembles), the model's ``exit_costs_`` (protocol
        models that have it), else measured time.  ``"time"``: measured per-row
        wall-clock time of each stage.
    cost_weight : float, default=0.1
        Lambda.  Costs are normalised so that the full model costs 1, so
        ``cost_weight`` reads as "errors traded per full-model evaluation".
    policy_estimator : classifier, default=None
        Binary classifier whose ``fit`` takes ``sample_weight``, cloned for each
        exit.  ``None`` means ``LogisticRegression(max_iter=1000)``.
    features : {"summary", "proba", "proba+X"} or callable, default="summary"
        Policy input at exit ``k``, from exits ``0..k``: see
        :class:`NetworkSelectionClassifier`.
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
    top_k : int, default=5
    cv : int, cross-validation generator or iterable, default=5
    n_jobs : int, default=None
        Workers for ``fit``: see :class:`NetworkSelectionClassifier`.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    memory : str, joblib.Memory or None, default=None
        Caches everything ``fit`` computes with the stages (cross-fitted outputs,
        fitted stages, measured costs), as :class:`~sklearn.pipeline.Pipeline`
        caches transformers: see :class:`NetworkSelectionClassifier`.

    Attributes
    ----------
    estimator_ : estimator
        The model fitted on all rows (a frozen one as it was given).
    exits_ : list of int or None
        Tree counts of the exits (tree ensembles).
    classes_, costs_, normalized_costs_, policy_, oof_outputs_, n_stages_,
    n_features_in_, feature_names_in_
        As in :class:`NetworkSelectionClassifier`.

    See Also
    --------
    NetworkSelectionClassifier : a ladder of separate models.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skadaptive import EarlyExitClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EarlyExitClassifier(
    ...     HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=0),
    ...     exits=[5, 10, 20, 40], cost_weight=0.05, cv=3, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> clf.costs_.tolist()
    [5.0, 5.0, 10.0, 20.0]
    >>> float(clf.score(X[1200:], y[1200:])) > 0.85
    True
    >>> bool(clf.predict_cost(X[1200:]).mean() < 40)  # the full model costs 40 trees
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "exits": ["array-like", None],
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator,
        *,
        exits=None,
        costs=None,
        cost_weight=0.1,
        policy_estimator=None,
        features="summary",
        loss="zero_one",
        top_k=5,
        cv=5,
        n_jobs=None,
        random_state=None,
        verbose=0,
        memory=None,
    ):
        self.estimator = estimator
        self.exits = exits
        self.costs = costs
        self.cost_weight = cost_weight
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory

    def _stage_templates(self):
        check_exit_estimator(self.estimator, self.exits)
        return [self.estimator]

    def _n_stages_hint(self):
        if implements_exit_protocol(unfrozen(self.estimator)):
            return None
        return len(DEFAULT_EXITS if self.exits is None else self.exits)

    def _stage_factory(self):
        return functools.partial(single_model_exits, exits=self.exits)

    def _store_fitted_stages(self, fitted):
        self.estimator_ = fitted[0]
        self.exits_ = getattr(self.stage_model_, "counts", None)
