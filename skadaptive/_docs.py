"""The estimators' shared parameter and attribute descriptions, written once.

Each estimator's docstring lists every one of its parameters and attributes in
full; the descriptions they share come from here (``docstring(template, ...)``
fills ``{parameters}``-style fields), so that the four estimators cannot drift
apart.
"""

import textwrap

PARAMETERS = {
    "estimators": """
estimators : list of (str, estimator)
    The models, cheapest first, each with ``predict_proba``.  Unfitted models
    are cross-fitted (``cv``) so that the policies learn from out-of-fold
    outputs, then refitted on all rows.  Models wrapped in
    :class:`sklearn.frozen.FrozenEstimator` are used as they are: pass
    held-out rows to ``fit``.""",
    "estimator": """
estimator : estimator
    The multi-exit model: a ``HistGradientBoostingClassifier``,
    ``GradientBoostingClassifier``, ``RandomForestClassifier`` or
    ``ExtraTreesClassifier`` (exits after given numbers of trees), or any
    classifier that implements the multi-exit protocol (``init_exits(X)``,
    ``predict_exit_proba(state, k, rows)``, ``n_exits_`` and ``classes_``
    once fitted; see the user guide).  An unfitted model is cross-fitted
    (``cv``) and refitted on all rows; one wrapped in
    :class:`sklearn.frozen.FrozenEstimator` is used as it is (pass held-out
    rows to ``fit``).""",
    "exits": """
exits : sequence of int or float, default=None
    For tree ensembles: the number of trees (boosting iterations) after which
    each exit answers, increasing, the last one all of the fitted trees (the
    reference); floats in (0, 1] are fractions of the fitted trees.  ``None``
    means ``(0.125, 0.25, 0.5, 1.0)``.  Must be None for a protocol model, which
    defines its own exits.""",
    "costs_ladder": """
costs : array-like of shape (n_estimators,), "time" or None, default=None
    The cost of running each model, in any unit (FLOPs, ms).  ``None`` or
    ``"time"`` measures each model's wall clock during fit, per call and per
    row, and the policies minimise the expected time per row when ``predict``
    is called on ``serving_batch_size`` rows (then fits are not bit-for-bit
    reproducible; pass costs for that).""",
    "costs_exits": """
costs : array-like of shape (n_exits,), "time" or None, default=None
    Incremental cost of each exit, in any unit.  ``None``: the number of trees
    each exit adds (tree ensembles), the model's ``exit_costs_`` (protocol
    models that have it), else measured time.  ``"time"``: each stage's wall
    clock, measured during fit per call and per row; the policies then
    minimise the expected time per row when ``predict`` is called on
    ``serving_batch_size`` rows (fits are not bit-for-bit reproducible).""",
    "serving_batch_size": """
serving_batch_size : int, default=100
    The rows of a ``predict`` call in service, for measured costs
    (``costs="time"``): a stage's time per call is shared by the rows of the
    batch that reach it, so ``costs_`` (seconds per row reaching each stage)
    depend on it and on the policies, which are learned at the fixed point
    (see the user guide).  Ignored when the costs are given.""",
    "cost_weight": """
cost_weight : float, default=0.1
    Lambda.  Costs are normalised so that the full system (every stage) costs
    1, so ``cost_weight`` reads as "errors traded per full evaluation": 0
    minimises errors alone; a large value answers with the first stage.""",
    "topology": """
topology : {"jump", "chain"}, default="jump"
    ``"jump"`` lets a row go from any model straight to the last one (the
    paper's network-selection graph); ``"chain"`` only allows the next model.""",
    "policy_estimator": """
policy_estimator : classifier, default=None
    Binary classifier whose ``fit`` takes ``sample_weight``, cloned for each
    decision.  ``None`` means ``LogisticRegression(max_iter=1000)``.""",
    "features": """
features : {"summary", "proba", "proba+X"} or callable, default="summary"
    Policy input after stage ``k``, from the stages run so far: ``"summary"``
    = the 3 largest sorted probabilities, the top-two margin and the entropy of
    each; ``"proba"`` = full probability vectors; ``"proba+X"`` = those and
    the raw input; a callable gets ``(stage_probas, X_rows)``.""",
    "loss": """
loss : {"zero_one", "top_k"} or callable, default="zero_one"
    Loss of answering with a stage; a callable gets ``(y, proba)`` and returns
    a loss per row.""",
    "top_k": """
top_k : int, default=5
    ``k`` for ``loss="top_k"``.""",
    "cv": """
cv : int, cross-validation generator or iterable, default=5
    Folds for the out-of-fold outputs.  An int means a shuffled
    ``StratifiedKFold`` seeded by ``random_state``.""",
    "n_jobs": """
n_jobs : int, default=None
    Workers for ``fit`` (joblib): the folds and the refits, the stages'
    outputs in row chunks (frozen stages' rows are cut so that every worker
    gets a chunk) and budget mode's selection folds.  Any joblib backend,
    Dask's included, runs them.  ``predict`` and the other routing methods
    stream large inputs in chunks whose size follows scikit-learn's
    ``working_memory`` (see the user guide), and route them in ``n_jobs``
    threads once there are more than 1,024 rows per thread.  The results do
    not depend on it.""",
    "random_state": """
random_state : int, RandomState instance or None, default=None
    Seeds the folds, and every ``random_state`` left at None in the stages
    and ``policy_estimator`` (as ensembles seed their base estimators), so
    that an int makes ``fit`` reproducible.  Seeds you set are kept.""",
    "verbose": """
verbose : int, default=0
    Log progress to the ``"skadaptive"`` logger (and joblib's) when > 0, with
    tqdm progress bars where tqdm is installed.""",
    "memory": """
memory : str, joblib.Memory or None, default=None
    Caches everything ``fit`` computes with the stages (cross-fitted outputs,
    fitted stages, measured costs), keyed by the stages, the data and ``cv``
    but not by the policy parameters, as :class:`~sklearn.pipeline.Pipeline`
    caches transformers.  A grid search over ``cost_weight`` (or any other
    policy parameter) then runs the stages once per training set instead of
    once per candidate.  A string is the path of a cache directory.  Fitted
    stages come back from the cache as copies.""",
    "max_accuracy_loss": """
max_accuracy_loss : float, default=None
    Target: accuracy at most this much below the reference's (0.01 = one
    percentage point), as mean loss (error rate for the zero-one loss).  The
    reference is the most expensive model alone (network selection) or the full
    model (early exit).  Without ``confidence``, a candidate meets it when its
    held-out loss increase plus one standard error does (the margin corrects for
    choosing the cheapest of many noisy estimates); 0 asks for no loss at all.""",
    "max_cost": """
max_cost : float, default=None
    Target: mean cost per row at most this, in the units of ``costs_``.""",
    "max_relative_cost": """
max_relative_cost : float, default=None
    Target: mean cost per row at most this fraction of the reference's.
    Exactly one of the three targets must be given.""",
    "families": """
families : sequence of {"learned", "thresholds", "hybrid"}, default=all three
    Routers to choose from: the paper's learned policies over ``cost_weights``;
    one max-probability threshold per exit, tuned jointly; per-exit thresholds
    on the learned policies' probability of "exit".  The reference itself is
    always a candidate.""",
    "cost_weights": """
cost_weights : array-like, default=None
    The lambda path of the learned and hybrid families; ``None`` means 0 and 7
    values from 1e-4 to 1, log-spaced (the hybrids' 24 cost budgets per lambda
    resolve nearby targets).""",
    "selection_cv": """
selection_cv : int or cross-validation generator, default=5
    Folds of the out-of-fold outputs on which candidates are compared (an int
    means a shuffled ``StratifiedKFold`` seeded by ``random_state``); they run in
    parallel with ``n_jobs``.""",
    "confidence": """
confidence : float in (0, 1), default=None
    Guarantee mode.  With ``confidence=0.9``, the target is met on new rows from
    the training rows' distribution with probability at least 0.9 over the
    calibration rows: ``calibration_size`` of the rows are set aside, the
    candidates are chosen and fitted on the others, and the candidates on their
    cost-loss frontier are tested on the calibration rows in a fixed order
    (Learn then Test, with betting p-values; see the user guide).  The router
    served is the one tested, fitted on the selection rows, not refitted.  When
    none passes, a :class:`~skadaptive.exceptions.GuaranteeWarning` says so and
    the reference (accuracy target) or stage 0 alone (cost target) is served.
    Stages fitted here are cross-fitted: the guarantee is about the out-of-fold
    stages; prefit (frozen) stages are exactly the ones served.  Needs losses in
    [0, 1] and no ``sample_weight``.""",
    "calibration_size": """
calibration_size : float or int, default=0.5
    With ``confidence``: the fraction (or number) of rows kept for testing the
    candidates, stratified by class.""",
}

ATTRIBUTES = {
    "estimators_": """
estimators_ : list of estimators
    The models fitted on all rows (frozen ones as they were given).""",
    "named_estimators_": """
named_estimators_ : Bunch
    The same, by name.""",
    "estimator_": """
estimator_ : estimator
    The model fitted on all rows (a frozen one as it was given).""",
    "exits_": """
exits_ : list of int or None
    Tree counts of the exits (tree ensembles); None for a protocol model.""",
    "stage_model_": """
stage_model_ : object
    The fitted stages as one multi-exit model (the protocol of the user guide):
    a :class:`~skadaptive.stages.ModelLadder`, a
    :class:`~skadaptive.stages.TreeEnsembleExits` or the protocol model.""",
    "classes_": """
classes_ : ndarray of shape (n_classes,)
    The class labels.""",
    "costs_": """
costs_ : ndarray of shape (n_stages,)
    Cost of each stage in the user's units.  Measured: the seconds per row
    of reaching the stage at ``serving_batch_size``, its per-call time shared
    by the rows the fitted router sends to it (on the training rows).""",
    "stage_times_": """
stage_times_ : ndarray of shape (n_stages, 2) or None
    Measured costs only (else None): each stage's seconds per call (column 0)
    and per row (column 1), under the threads ``fit`` ran with.""",
    "routing_times_": """
routing_times_ : ndarray of shape (2,)
    Measured costs only: the seconds per call and per row that ``predict``
    spends outside the stages (entry check, policies, bookkeeping); see
    :func:`skadaptive.metrics.predicted_wall_clock`.""",
    "normalized_costs_": """
normalized_costs_ : ndarray of shape (n_stages,)
    ``costs_ / costs_.sum()``: the full system costs 1.""",
    "policy_learned": """
policy_ : RoutingPolicy
    The fitted policies; ``policy_.policies_[(k, "exit")]`` and, with jumps,
    ``[(k, "jump")]``.""",
    "policy_budget": """
policy_ : router
    The chosen candidate refitted on every out-of-fold row: a
    :class:`~skadaptive.RoutingPolicy`, a
    :class:`~skadaptive.routers.ThresholdPolicy`, a
    :class:`~skadaptive.routers.HybridPolicy` or the
    :class:`~skadaptive.routers.ReferencePolicy`.""",
    "oof_outputs_": """
oof_outputs_ : ndarray of shape (n_samples, n_stages, n_classes)
    The out-of-fold outputs the policies learned from.""",
    "n_stages_": """
n_stages_ : int
    The number of stages.""",
    "n_features_in_": """
n_features_in_ : int
    Number of features seen during ``fit``.""",
    "feature_names_in_": """
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Defined when ``X`` has feature names that are all strings.""",
    "cv_results_": """
cv_results_ : dict of ndarray
    One entry per candidate: ``family`` (also ``"reference"``: every row
    answered by the reference, the safe fallback), ``cost_weight`` (NaN for
    thresholds), ``cost_fraction`` (the cost budget, as a fraction of the
    reference's, the thresholds were tuned for on the training folds; NaN for
    learned), ``mean_test_loss``, ``std_test_loss``, ``mean_test_accuracy``
    (zero-one loss only), ``test_loss_increase`` (over the reference, pooled over
    the held-out rows) with ``test_loss_increase_lower`` and
    ``test_loss_increase_upper`` (a normal interval at ``confidence``, or 0.9,
    that ignores the choice among candidates), ``mean_test_cost``,
    ``std_test_cost``, ``mean_test_relative_cost`` and ``std_test_relative_cost``
    (cost as a fraction of the reference's); and ``reference_loss``.  With
    ``confidence``, these are on the selection rows, and ``p_value`` (NaN where
    not tested) and ``certified`` say what the calibration rows showed.""",
    "best_index_": """
best_index_ : int
    The chosen candidate.""",
    "best_family_": """
best_family_ : str
    Its family.""",
    "cost_weight_": """
cost_weight_ : float or None
    The chosen lambda (learned and hybrid).""",
    "cost_fraction_": """
cost_fraction_ : float or None
    The cost budget, as a fraction of the reference's, the chosen thresholds
    were tuned for (thresholds and hybrid).""",
    "estimate_": """
estimate_ : dict
    What the chosen router promises: ``loss_increase`` over the reference and
    ``relative_cost``, each with an ``..._interval`` (normal, at ``level``), the
    ``rows`` they were measured on (``"calibration"``, or ``"held-out folds"``
    where the chosen candidate was then refitted on every row), ``n_rows``, and
    ``certified`` (guarantee mode found a candidate that meets the target).""",
}


def _section(entries, names):
    return "\n".join(textwrap.indent(entries[name].strip("\n"), "    ") for name in names)


BUDGET_CHOICE = """A candidate meets an accuracy target when its held-out loss
    increase plus one standard error does; :meth:`retarget` re-chooses for another
    target without refitting the candidates.

    With ``confidence``, the choice is certified instead: with that probability over
    the calibration rows, the served router meets the target on new rows from the
    same distribution (Learn then Test; see the user guide for the assumptions)."""


def docstring(template, parameters, attributes):
    """``template`` with ``{parameters}``, ``{attributes}`` (and ``{budget_choice}``,
    the budget estimators' shared paragraph) filled in."""
    return (
        template.replace("{parameters}", _section(PARAMETERS, parameters))
        .replace("{attributes}", _section(ATTRIBUTES, attributes))
        .replace("{budget_choice}", BUDGET_CHOICE)
    )
