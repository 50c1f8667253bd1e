"""The estimator base: validation, ``fit`` = stage pass -> costs -> router, routing.

Both estimators of each kind (the fixed ``cost_weight`` one and its budget
sibling) derive from :class:`BaseAdaptiveClassifier` through a stage-kind base
(``_NetworkSelectionBase``, ``_EarlyExitBase``).  The stage-kind base says what the
stages are; the sibling says how the router is chosen (``_fit_router``): at one
``cost_weight`` (:class:`FixedCostWeightMixin`) or to meet a target
(:class:`skadaptive._budget.BudgetMixin`).  The estimator owns its reference (the
non-adaptive model: its route, cost and probabilities); everything else asks it.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils import Bunch, get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _chunks
from ._compat import (
    HasMethods,
    Interval,
    StrOptions,
    check_sample_weight,
    fit_context,
    num_samples,
)
from ._features import FeatureBuilder
from ._fit_warnings import FitWarningsMixin
from ._fitting import (
    StagePass,
    all_frozen,
    check_stage_classes,
    resolve_classes,
    seed_unset,
    seeds,
)
from ._plain_routers import ReferencePolicy
from ._policy import FEATURE_KINDS, RoutingPolicy
from ._routing import route, route_cost
from ._rows import safe_rows
from ._stages import align_proba, iter_stage_outputs, unfrozen
from ._time_aware import TimeAwareMixin
from ._timing import reference_time
from ._validation import (
    Float64Array,
    check_costs,
    is_frame,
    is_plain_float_array,
    sample_weight_param,
)

logger = logging.getLogger("skadaptive")

COMMON_CONSTRAINTS = {
    "costs": ["array-like", StrOptions({"time"}), None],
    "serving_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "policy_estimator": [HasMethods(["fit", "predict"]), None],
    "features": [StrOptions(set(FEATURE_KINDS)), callable],
    "loss": [StrOptions({"zero_one", "top_k"}), callable],
    "top_k": [Interval(numbers.Integral, 1, None, closed="left")],
    "cv": ["cv_object"],
    "n_jobs": [numbers.Integral, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "memory": [None, str, HasMethods(["cache"])],
}

N_TIMING_ROWS = 512
DEFAULT_SERVING_BATCH_SIZE = 100

_Adaptive = TypeVar("_Adaptive", bound="BaseAdaptiveClassifier")


class BaseAdaptiveClassifier(TimeAwareMixin, FitWarningsMixin, ClassifierMixin, BaseEstimator):
    """Base of the adaptive classifiers; not for direct use.

    Stage-kind bases define ``_stage_templates()`` (the unfitted stage
    estimators), ``_stage_factory()`` (``make_model(fitted, classes)``: the
    multi-exit view of the fitted stages), ``_store_fitted_stages(fitted)`` (their
    public attributes), ``_n_stages_hint()``, ``_stage_names()``, ``_topology`` and
    ``_independent_stages`` (whether the last stage runs on its own: then the
    reference is the last stage alone, else every stage).  Siblings define
    ``_check_router_params()`` and ``_fit_router(outputs, y, X, sample_weight)``.
    """

    _topology = "chain"
    _independent_stages = False

    def __setstate__(self, state):
        # Estimators saved before serving_batch_size existed timed their stages per row.
        if "serving_batch_size" not in state:
            state = {**state, "serving_batch_size": DEFAULT_SERVING_BATCH_SIZE}
        super().__setstate__(state)

    # -- fitting ---------------------------------------------------------------
    @fit_context
    def fit(
        self: _Adaptive, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> _Adaptive:
        """Fit the stages (cross-fitted) and learn the routing policies.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.  With frozen (prefit) stages, pass rows that the stages
            were *not* trained on: the policies learn from the stages' outputs here.
        y : array-like of shape (n_samples,)
            The labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights every row in the policies' binary problems, and in the stages'
            fit where they accept ``sample_weight``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # A fit that fails leaves the estimator as it was (unfitted, or the previous
        # fit), never with some of the new fitted attributes.
        before = dict(self.__dict__)
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, y, sample_weight):
        self._check_router_params()
        templates = self._stage_templates()
        stage_seeds = seeds(self.random_state, len(templates) + 1)
        templates = [seed_unset(t, seed) for t, seed in zip(templates, stage_seeds)]
        self._policy_estimator = seed_unset(self.policy_estimator, stage_seeds[-1])
        n_stages = self._n_stages_hint()
        if self.costs is not None and not isinstance(self.costs, str) and n_stages is not None:
            check_costs(self.costs, n_stages)
        if self.policy_estimator is not None:
            sample_weight_param(self.policy_estimator)
        X, y = self._validate_X(X, y, reset=True)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
        classes = resolve_classes(y, templates, type(self).__name__)
        frozen = all_frozen(templates)
        if self.costs is None:
            cost_mode = "auto"
        else:
            cost_mode = "time" if isinstance(self.costs, str) else "given"
        n_samples = num_samples(X)
        # Costs are timed on evenly spaced rows: no randomness, so that memory can hit.
        timing_rows = np.unique(np.linspace(0, n_samples - 1, N_TIMING_ROWS).astype(np.intp))
        stage_pass = StagePass(
            make_model=self._stage_factory(),
            classes=classes,
            cv=None if frozen else self._check_cv(y, 5 if self.cv is None else self.cv),
            cost_mode=cost_mode,
            timing_rows=None if cost_mode == "given" else timing_rows,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            row_bytes=self._row_bytes(templates, n_stages, classes),
        )
        result = stage_pass.run(templates, X, y, sample_weight, memory=self.memory)
        self.stage_model_ = result.model
        check_stage_classes(result.fitted, classes)
        self._store_fitted_stages(result.fitted)
        self.classes_ = classes
        self.stage_times_ = result.measured
        # The reference in one pass of the model, when it has one (early exit): its
        # seconds per call and per row, what the reference costs with measured times.
        self._last_exit_times = result.get("last_exit")
        self._time_batch_size = self.serving_batch_size
        self.n_stages_ = result.outputs.shape[1]
        self.oof_outputs_ = result.outputs
        uses_X = FeatureBuilder(self.features).uses_X
        X_policy = X if uses_X else None
        if self.stage_times_ is None:
            self._set_costs(self._resolve_costs())
            self._warn_about_the_costs()
            self.policy_ = self._fit_router(result.outputs, y, X_policy, sample_weight)
        else:
            self.policy_ = self._fit_time_aware(result.outputs, y, X_policy, sample_weight)
        self._device_rule_ = self._device_rule(self.policy_)  # compiled once, not per predict
        if self.stage_times_ is not None:
            self.routing_times_ = self._measure_routing_times(safe_rows(X, timing_rows))
        self._warn_about_the_fit(y, X_policy)
        return self

    def _device_rule(self, router):
        """The router's linear exit rule, when the stage model routes on its own device."""
        model = self.stage_model_
        if getattr(model, "route_linear", None) is None:
            return None
        if not np.array_equal(model.classes_, self.classes_):
            return None
        return router.linear_exit_rule()

    def _row_bytes(self, templates, n_stages, classes):
        """Bytes per row of the stage outputs, for the chunks of :mod:`skadaptive._chunks`.

        A protocol model that is not fitted yet does not tell its number of exits:
        it counts as 4.
        """
        if n_stages is None:
            n_stages = getattr(unfrozen(templates[0]), "n_exits_", 4)
        return _chunks.row_bytes(n_stages, len(classes), self.n_features_in_)

    def _policy_template(self, cost_weight):
        """The unfitted RoutingPolicy with this estimator's settings (after ``fit``)."""
        return RoutingPolicy(
            costs=self.costs_,
            cost_weight=cost_weight,
            topology=self._topology,
            policy_estimator=getattr(self, "_policy_estimator", self.policy_estimator),
            features=self.features,
            loss=self.loss,
            top_k=self.top_k,
            classes=self.classes_,
        )

    def _validate_X(self, X, y="no_validation", reset=True):
        """Check X as far as every stage agrees; data frames pass through as they are.

        Data frames keep their columns (a stage may be a Pipeline that selects
        columns by name); anything else becomes an array or a CSR matrix, rejected
        here when it holds NaN, infinity or sparse data that a stage cannot take.
        """
        if reset:
            # The stages' tags, read once per fit (reading them costs ~0.1 ms a call);
            # plain bools, so that skops can save the fitted estimator.
            tags = get_tags(self).input_tags
            self._input_flags_ = {"sparse": bool(tags.sparse), "allow_nan": bool(tags.allow_nan)}
        if is_frame(X):
            return validate_data(self, X, y, reset=reset, skip_check_array=True)
        if not reset and is_plain_float_array(self, X):
            return X
        flags = self._input_flags_
        try:
            return validate_data(
                self,
                X,
                y,
                reset=reset,
                accept_sparse=["csr"] if flags["sparse"] else False,
                dtype=None,
                ensure_all_finite="allow-nan" if flags["allow_nan"] else True,
            )
        except ValueError as exc:
            if "contains NaN" not in str(exc):
                raise
            raise ValueError(f"{exc} {self._nan_hint()}") from exc

    def _nan_hint(self):
        """Which stages cannot take NaN, and what to do about it."""
        templates = self._stage_templates()
        labels = [
            f"stage {k} ({name!r}: {type(unfrozen(t)).__name__})"
            for k, (name, t) in enumerate(zip(self._template_names(), templates))
            if not get_tags(t).input_tags.allow_nan
        ]
        return (
            f"It reaches {', '.join(labels)}, which cannot take NaN. Impute the missing values "
            "first (a Pipeline with sklearn.impute.SimpleImputer, for example), or use stages "
            "that take NaN (HistGradientBoostingClassifier does)."
        )

    def _template_names(self):
        """The stages' names before fit (the estimator's parameters)."""
        return ["estimator"]

    def _check_cv(self, y, cv):
        """``cv`` as a splitter; an int means a shuffled StratifiedKFold seeded by random_state."""
        if isinstance(cv, numbers.Integral):
            cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=self.random_state)
        return check_cv(cv, y, classifier=True)

    def _resolve_costs(self):
        """The costs given, or the model's ``exit_costs_`` (when they were not measured)."""
        model = self.stage_model_
        if self.costs is not None and not isinstance(self.costs, str):
            return check_costs(self.costs, model.n_exits_)
        return check_costs(model.exit_costs_, model.n_exits_, name="exit_costs_")

    # -- the reference ---------------------------------------------------------
    def _reference_entry(self):
        """The first stage of the reference's route (the last one alone, or stage 0)."""
        return self.n_stages_ - 1 if self._independent_stages else 0

    def _reference_cost(self):
        """Per-row cost of the non-adaptive reference, in the units of ``costs_``.

        With measured stage times: its seconds per row at the serving batch size,
        every row running its stages (so that their calls are shared by the batch).
        """
        timing = self._timing()
        if timing is not None:
            times, batch = timing
            entry = self._reference_entry()
            last_exit = getattr(self, "_last_exit_times", None) if entry == 0 else None
            return reference_time(times, entry, batch, last_exit)
        return float(self.costs_[self._reference_entry() :].sum())

    def _reference_router(self):
        """The router that answers every row with the reference, along its route."""
        return ReferencePolicy(self.costs_, self.classes_, self._reference_entry()).fit()

    def _reference_proba(self, X):
        """The reference's probabilities on validated ``X``: only the stages it runs."""
        return self._route_rows(X, self._reference_router()).proba

    # -- prediction ------------------------------------------------------------
    def _route(self, X, keep=None):
        """Route ``X`` (in chunks when large); ``keep`` names the one answer to keep.

        With ``keep``, each chunk's other answers are dropped as soon as it is
        routed, so that ``predict`` on many rows holds its labels, not every
        row's probabilities, path and cost.
        """
        self._check_fitted()
        X = self._validate_X(X, reset=False)

        def route_rows(X_rows):
            result = self._route_rows(X_rows)
            if keep == "label":
                return Bunch(label=self.classes_[np.argmax(result.proba, axis=1)])
            return result if keep is None else Bunch(**{keep: result[keep]})

        slices = self._predict_chunks(X)
        with self._stage_config(X):
            if slices is None:
                return route_rows(X)
            return _chunks.route_in_chunks(route_rows, X, slices, n_jobs=self.n_jobs)

    def _stage_config(self, X):
        """The scikit-learn settings the stages predict under: validated once, here.

        An array or sparse ``X`` was checked by :meth:`_validate_X` (finite, or NaN
        only where every stage takes it), so the stages skip their own finiteness
        check (``assume_finite``) and parameter validation: 25-45 us a call for a
        scikit-learn model on one row.  A data frame passes through unchecked, so
        its stages keep their checks.
        """
        if is_frame(X):
            return contextlib.nullcontext()
        return config_context(assume_finite=True, skip_parameter_validation=True)

    def _check_fitted(self):
        """``check_is_fitted``, without its cost on a fitted estimator.

        scikit-learn's check reads the estimator's tags first, and an adaptive
        classifier's tags are those of its stages (``get_params``, signature
        inspection): about 0.1 ms, a third of a one-row ``predict``.  A fitted
        estimator has ``policy_``; an unfitted one gets scikit-learn's own error.
        """
        if "policy_" not in self.__dict__:
            check_is_fitted(self)

    def _predict_chunks(self, X):
        """The row chunks of a large ``X`` (see :mod:`skadaptive._chunks`); None for one."""
        n_samples = num_samples(X)
        if n_samples <= _chunks.MIN_CHUNK_ROWS:  # one chunk, whatever the settings
            return None
        n_bytes = _chunks.row_bytes(self.n_stages_, len(self.classes_), self.n_features_in_)
        rows = _chunks.chunk_rows(n_bytes, n_rows=n_samples, n_jobs=self.n_jobs)
        return None if n_samples <= rows else _chunks.row_slices(n_samples, rows)

    def _route_rows(self, X, router=None):
        """Route the validated rows of ``X`` in one piece (with ``policy_`` by default)."""
        router = self.policy_ if router is None else router
        model = self.stage_model_
        result = self._route_linear(model, X, router)
        if result is None:
            result = self._route_reference_at_once(model, X, router)
        if result is not None:
            return result
        state = model.init_exits(X)

        def stage_fn(k, rows):
            try:
                return model.predict_exit_proba(state, k, rows)
            except Exception as exc:
                if hasattr(exc, "add_note"):  # Python 3.11+: the same error, with a note
                    exc.add_note(f"{type(self).__name__}: raised by {self._stage_label(k)}.")
                raise

        policy_X = X if router.uses_X else None
        return route(stage_fn, num_samples(X), router, policy_X, self.costs_)

    def _route_reference_at_once(self, model, X, router):
        """Early exit's reference route in one call, for a model that computes it so.

        The reference runs every exit; a model with ``predict_last_exit_proba(X)``
        (the protocol's optional method: tree ensembles and the boosting libraries
        have it) computes the last exit in one pass instead, without the per-call
        work of every exit before it.  The result is that route's: every stage on
        the path, the last one answering.
        """
        whole = getattr(model, "predict_last_exit_proba", None)
        if whole is None or not isinstance(router, ReferencePolicy) or router.entry_stage():
            return None
        proba = align_proba(np.asarray(whole(X), dtype=float), model.classes_, self.classes_)
        n_rows = num_samples(X)
        path = np.ones((n_rows, self.n_stages_), dtype=bool)
        stage = np.full(n_rows, self.n_stages_ - 1, dtype=np.intp)
        cost = np.full(n_rows, self._reference_cost())  # with measured times, the one pass
        return Bunch(proba=proba, stage=stage, path=path, cost=cost)

    def _stage_label(self, k):
        """How error messages name stage ``k``."""
        return f"exit {k}"

    def _route_linear(self, model, X, router):
        """Let a model that has ``route_linear`` evaluate linear policies itself.

        A torch network then routes on its device and copies nothing but the
        answers back (the protocol's optional ``route_linear``).  The decisions are
        those of the generic engine, computed in float64 there as here.
        """
        if router is self.policy_ and "_device_rule_" in self.__dict__:
            rule = self._device_rule_  # compiled at fit
        else:  # another router, or an estimator saved before the rule was compiled at fit
            rule = self._device_rule(router)
        if rule is None:
            return None
        proba, stage = model.route_linear(X, rule)
        stage = np.asarray(stage, dtype=np.intp)
        path = np.arange(self.n_stages_) <= stage[:, None]
        cost = route_cost(path, self.costs_)
        return Bunch(proba=np.asarray(proba), stage=stage, path=path, cost=cost)

    def route(self, X: ArrayLike) -> Bunch:
        """Route ``X`` once and return everything about it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        result : Bunch
            ``proba`` (as :meth:`predict_proba`), ``stage`` (as :meth:`apply`),
            ``path`` (as :meth:`decision_path`) and ``cost`` (as
            :meth:`predict_cost`).
        """
        return self._route(X)

    def staged_predict_proba(self, X: ArrayLike) -> Iterator[Float64Array]:
        """Every stage's class probabilities for every row, with no routing.

        Runs the whole system on every row, as the non-adaptive model would: for
        comparing policies (thresholds, the oracle) on the same stages.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Yields
        ------
        proba : ndarray of shape (n_samples, n_classes)
            The probabilities at stage 0, 1, ..., in order.
        """
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        slices = self._predict_chunks(X)
        if slices is None:
            yield from self._staged_rows(X)
        else:
            yield from _chunks.staged_in_chunks(self._staged_rows, X, slices, self.n_stages_)

    def _staged_rows(self, X):
        return iter_stage_outputs(self.stage_model_, X, self.classes_)

    def predict_proba(self, X: ArrayLike) -> Float64Array:
        """Class probabilities of the stage that answers each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The answering stage's probabilities.
        """
        return self._route(X, keep="proba").proba

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels of the stage that answers each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of the answering stage.
        """
        return self._route(X, keep="label").label

    def apply(self, X: ArrayLike) -> NDArray[np.intp]:
        """Index of the stage whose answer is returned, per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        stage : ndarray of shape (n_samples,)
            The answering stage of each row.
        """
        return self._route(X, keep="stage").stage

    def decision_path(self, X: ArrayLike) -> NDArray[np.bool_]:
        """Which stages were evaluated for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        path : ndarray of shape (n_samples, n_stages), dtype=bool
            True where the row's route computed the stage.
        """
        return self._route(X, keep="path").path

    def predict_cost(self, X: ArrayLike) -> Float64Array:
        """Cost of predicting each row, in the units of ``costs_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        cost : ndarray of shape (n_samples,)
            The sum of the costs of the stages the row's route evaluated.
        """
        return self._route(X, keep="cost").cost

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            stage_tags = [get_tags(t) for t in self._stage_templates()]
        except (TypeError, ValueError):  # invalid stages: fit will say why
            return tags
        tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in stage_tags)
        tags.input_tags.sparse = all(t.input_tags.sparse for t in stage_tags)
        tags.input_tags.string = all(t.input_tags.string for t in stage_tags)
        return tags


class FixedCostWeightMixin:
    """The router of one ``cost_weight``: a :class:`~skadaptive.RoutingPolicy`."""

    _router_constraints = {"cost_weight": [Interval(numbers.Real, 0, np.inf, closed="left")]}

    def _check_router_params(self):
        """Nothing to check beyond the parameter constraints."""

    def _fit_router(self, outputs, y, X, sample_weight):
        """Learn the policies at ``cost_weight`` from the out-of-fold outputs."""
        policy = self._policy_template(self.cost_weight)
        return policy.fit(outputs, y, X=X, sample_weight=sample_weight)

    def _operating_point(self):
        """The fitted router's knobs, for the displays."""
        return {"cost_weight": float(self.cost_weight)}
