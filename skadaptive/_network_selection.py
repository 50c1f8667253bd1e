"""NetworkSelectionClassifier: a ladder of separate models of rising cost."""

from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions

from ._base import COMMON_CONSTRAINTS, BaseAdaptiveClassifier
from ._compat import _BaseComposition
from ._stages import ModelLadder, unfrozen


class NetworkSelectionClassifier(BaseAdaptiveClassifier, _BaseComposition):
    """Answer with a cheap model when it suffices, a more expensive one when not.

    Models are ordered from cheapest to most expensive.  After each model a
    learned policy decides: answer now, run the next model, or (``topology="jump"``)
    jump straight to the most expensive model, paying only for the models it runs.
    The policies minimise ``E[loss + cost_weight * cost]`` with the bottom-up
    reduction of Bolukbasi et al., "Adaptive Neural Networks for Efficient
    Inference" (ICML 2017), learned on out-of-fold model outputs.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The models, cheapest first, each with ``predict_proba``.  Unfitted models
        are cross-fitted (``cv``) so that the policies learn from out-of-fold
        outputs, then refitted on all rows.  Models wrapped in
        :class:`sklearn.frozen.FrozenEstimator` are used as they are: pass
        held-out rows to ``fit``.
    costs : array-like of shape (n_estimators,), "time" or None, default=None
        The cost of running each model, in any unit (FLOPs, ms).  ``None`` or
        ``"time"`` measures each model's per-row ``predict_proba`` time during fit
        (then fits are not bit-for-bit reproducible; pass costs for that).
    cost_weight : float, default=0.1
        Lambda.  Costs are normalised so that running every model costs 1, so
        ``cost_weight`` reads as "errors traded per full-ladder evaluation": 0
        minimises errors alone; a large value answers with the first model.
    topology : {"jump", "chain"}, default="jump"
        ``"jump"`` lets a row go from any model straight to the last one (the
        paper's network-selection graph); ``"chain"`` only allows the next model.
    policy_estimator : classifier, default=None
        Binary classifier whose ``fit`` takes ``sample_weight``, cloned for each
        decision.  ``None`` means ``LogisticRegression(max_iter=1000)``.
    features : {"summary", "proba", "proba+X"} or callable, default="summary"
        Policy input after model ``k``, from the models run so far: ``"summary"``
        = the 3 largest sorted probabilities, the top-two margin and the entropy of
        each; ``"proba"`` = full probability vectors; ``"proba+X"`` = those and
        the raw input; a callable gets ``(stage_probas, X_rows)``.
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
        Loss of answering with a model; a callable gets ``(y, proba)`` and returns
        a loss per row.
    top_k : int, default=5
        ``k`` for ``loss="top_k"``.
    cv : int, cross-validation generator or iterable, default=5
        Folds for the out-of-fold outputs.  An int means a shuffled
        ``StratifiedKFold`` seeded by ``random_state``.
    n_jobs : int, default=None
        Workers for ``fit`` (joblib): the folds and the refits, and the models'
        outputs in row chunks (frozen models' rows are cut so that every worker gets
        a chunk).  Any joblib backend, Dask's included, runs them.  The results do not
        depend on it.  ``predict`` streams large inputs in chunks too; their size
        follows scikit-learn's ``working_memory`` (see the user guide).
    random_state : int, RandomState instance or None, default=None
        Seeds the folds, and every ``random_state`` left at None in the stages
        and ``policy_estimator`` (as ensembles seed their base estimators), so
        that an int makes ``fit`` reproducible.  Seeds you set are kept.
    verbose : int, default=0
        Log progress to the ``"skadaptive"`` logger (and joblib's) when > 0.
    memory : str, joblib.Memory or None, default=None
        Caches everything ``fit`` computes with the models (cross-fitted outputs,
        fitted models, measured costs), keyed by the models, the data and ``cv``
        but not by the policy parameters, as :class:`~sklearn.pipeline.Pipeline`
        caches transformers.  A grid search over ``cost_weight`` (or any other
        policy parameter) then runs the models once per training set instead of
        once per candidate.  A string is the path of a cache directory.  Fitted
        models come back from the cache as copies.

    Attributes
    ----------
    estimators_ : list of estimators
        The models fitted on all rows (frozen ones as they were given).
    named_estimators_ : Bunch
        The same, by name.
    classes_ : ndarray of shape (n_classes,)
    costs_ : ndarray of shape (n_estimators,)
        Cost of each model in the user's units (or measured seconds per row).
    normalized_costs_ : ndarray of shape (n_estimators,)
        ``costs_ / costs_.sum()``.
    policy_ : RoutingPolicy
        The fitted policies; ``policy_.policies_[(k, "exit")]`` and
        ``[(k, "jump")]``.
    oof_outputs_ : ndarray of shape (n_samples, n_estimators, n_classes)
        The out-of-fold outputs the policies learned from.
    n_stages_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    EarlyExitClassifier : exits inside one model.
    RoutingPolicy : the same policies from precomputed outputs.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skadaptive import NetworkSelectionClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("lr", LogisticRegression(max_iter=2000)),
    ...      ("rf", RandomForestClassifier(n_estimators=100, random_state=0))],
    ...     costs=[1, 20], cost_weight=0.05, random_state=0,
    ... ).fit(X[:1200], y[:1200])
    >>> float(clf.score(X[1200:], y[1200:])) > 0.9
    True
    >>> bool(clf.predict_cost(X[1200:]).mean() < 21)
    True
    """

    _parameter_constraints = {
        "estimators": [list],
        "topology": [StrOptions({"jump", "chain"})],
        **COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        estimators,
        *,
        costs=None,
        cost_weight=0.1,
        topology="jump",
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
        self.estimators = estimators
        self.costs = costs
        self.cost_weight = cost_weight
        self.topology = topology
        self.policy_estimator = policy_estimator
        self.features = features
        self.loss = loss
        self.top_k = top_k
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory

    @property
    def _topology(self):
        return self.topology

    def get_params(self, deep=True):
        """Parameters, with each model's as ``<name>__<param>`` when ``deep``."""
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, including ``<name>__<param>`` of a model."""
        self._set_params("estimators", **params)
        return self

    def _stage_templates(self):
        if not isinstance(self.estimators, list) or len(self.estimators) < 2:
            raise ValueError("estimators must be a list of at least 2 (name, estimator) pairs.")
        try:
            names, models = zip(*self.estimators)
        except (TypeError, ValueError) as exc:
            raise ValueError("estimators must be a list of (name, estimator) pairs.") from exc
        self._validate_names(names)
        for name, model in self.estimators:
            if not hasattr(unfrozen(model), "predict_proba"):
                raise TypeError(f"Estimator {name!r} has no predict_proba: {model!r}.")
        return list(models)

    def _n_stages_hint(self):
        return len(self.estimators)

    def _stage_factory(self):
        return ModelLadder

    def _store_fitted_stages(self, fitted):
        self.estimators_ = list(fitted)
        self.named_estimators_ = Bunch(
            **{name: est for (name, _), est in zip(self.estimators, self.estimators_)}
        )
