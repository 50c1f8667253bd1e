"""Plots of accuracy against cost, and of where rows exit (matplotlib, imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._base import BaseAdaptiveClassifier
from ._candidates import check_cost_weights
from ._compat import HasMethods, StrOptions, validate_parameter_constraints
from ._display_points import accuracy as _accuracy
from ._display_points import check_training_labels as _check_training_labels
from ._display_points import sweep as _sweep
from ._losses import check_outputs, output_classes
from ._policy import RoutingPolicy
from ._validation import CV, Estimator, Features, check_costs
from ._validation import final_step as _final_step

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_Display = TypeVar("_Display", bound="CostAccuracyDisplay")

_CONSTRAINTS = {
    "cv": ["cv_object"],
    "policy_estimator": [HasMethods(["fit", "predict"]), None],
    "topology": [StrOptions({"chain", "jump"})],
    "features": [StrOptions({"summary", "proba"}), callable],
    "reference": [StrOptions({"full", "last"}), None],
    "name": [str, None],
    "relative_cost": ["boolean"],
}
_STYLES: dict[str, dict[str, Any]] = {
    "learned": dict(marker="o"),
    "threshold": dict(marker="s", ls="--", ms=4, label="max-probability threshold"),
    "stages": dict(marker="D", ls="none", c="gray", label="single stages"),
    "oracle": dict(marker="*", ls="none", ms=14, label="oracle"),
    "estimator": dict(marker="X", ls="none", ms=11, c="k"),
}


def _pyplot(caller):
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib, an optional dependency of skadaptive. Install it "
            "with `pip install matplotlib` (or `pip install skadaptive[plot]`)."
        ) from exc
    return plt


def _validate(caller, params):
    params = {k: v for k, v in params.items() if k in _CONSTRAINTS}
    validate_parameter_constraints(_CONSTRAINTS, params, caller_name=caller)


def _check_grid(values, name, low=None):
    if values is None:
        return None
    grid = np.asarray(values, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers, got {values!r}.")
    if low is not None and np.any(grid < low):
        raise ValueError(f"{name} must be >= {low}, got {grid.tolist()}.")
    return np.unique(grid)


def _check_names(names, n_stages):
    if names is None:
        return [f"stage {k}" for k in range(n_stages)]
    if len(names) != n_stages:
        raise ValueError(f"stage_names needs {n_stages} names, got {len(names)}.")
    return [str(name) for name in names]


class CostAccuracyDisplay:
    """Accuracy against average cost: learned policies, thresholds, oracle, single stages.

    Build it with :meth:`from_estimator` or :meth:`from_predictions`.  The numbers are
    attributes (costs in the units of ``costs``), so they can be read without the plot.

    Parameters
    ----------
    learned, threshold, oracle, stages : dict
        The points, stored as ``learned_``, ``threshold_``, ``oracle_`` and ``stages_``.
    reference_cost : float
        Per-row cost of the non-adaptive reference.
    operating_point : dict, default=None
        A fitted estimator's own ``cost``, ``accuracy`` and ``cost_weight`` (and, for
        the budget estimators, the chosen ``family`` and ``cost_fraction``).
    evaluation : str, default=""
        How the learned path was made honest (``"held-out"`` or ``"cross-fitted ..."``).
    name : str, default=None
        Name of the learned policies in the legend.

    Attributes
    ----------
    learned_ : Bunch
        ``cost_weight``, ``cost`` (mean per row) and ``accuracy``, one entry per cost weight.
    threshold_ : Bunch
        ``threshold``, ``cost`` and ``accuracy`` of the maximum-probability threshold policy.
    oracle_ : Bunch
        ``cost`` and ``accuracy`` of :func:`~skadaptive.baselines.oracle_route` (0/1 loss):
        no policy over these stages is more accurate.
    stages_ : Bunch
        ``name``, ``cost`` and ``accuracy`` of each stage used alone: its cumulative cost
        when the reference is the full system (exits of one model), its own cost when it is
        the last stage alone (separate models).
    operating_point_ : Bunch or None
        The fitted estimator's own point (``cost``, ``accuracy`` and its router's
        knobs), from :meth:`from_estimator`; None from :meth:`from_predictions`.
    reference_cost_ : float
        Per-row cost of the non-adaptive reference: the unit of the x axis when the
        cost is plotted relative to it.
    evaluation_ : str
        How the learned path was evaluated: ``"held-out"`` or ``"cross-fitted on ..."``.
    ax_ : matplotlib Axes
        The axes of the last :meth:`plot`.
    figure_ : matplotlib Figure
        The figure of ``ax_``.
    lines_ : dict
        The Line2D of ``"learned"``, ``"threshold"``, ``"stages"``, ``"oracle"`` and (from
        an estimator) ``"estimator"``.

    See Also
    --------
    ExitShareDisplay : The share of rows answered at each stage.
    skadaptive.baselines.oracle_route : The oracle's routes.
    skadaptive.metrics.reference_cost : The reference's cost, for a fitted estimator.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skadaptive.plotting import CostAccuracyDisplay
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> cheap = np.where(rng.random(400) < 0.7, y, 1 - y)
    >>> outputs = np.stack([np.eye(2)[cheap] * 0.6 + 0.2, np.eye(2)[y] * 0.9 + 0.05], axis=1)
    >>> disp = CostAccuracyDisplay.from_predictions(outputs, y, costs=[1, 9], cv=3)
    >>> disp.stages_.accuracy.round(2).tolist()
    [0.69, 1.0]
    >>> disp.stages_.cost.tolist(), disp.reference_cost_
    ([1.0, 10.0], 10.0)
    >>> disp.oracle_.cost, disp.oracle_.accuracy   # stage 1 only where stage 0 is wrong
    (3.8125, 1.0)

    Stage 0 is equally confident on every row, so the learned policies can only send
    every row on (cost 10) or none (cost 1):

    >>> sorted(set(zip(disp.learned_.cost.tolist(), disp.learned_.accuracy.round(4).tolist())))
    [(1.0, 0.6875), (10.0, 1.0)]
    """

    def __init__(
        self,
        *,
        learned: Mapping[str, Any],
        threshold: Mapping[str, Any],
        oracle: Mapping[str, Any],
        stages: Mapping[str, Any],
        reference_cost: float,
        operating_point: Mapping[str, Any] | None = None,
        evaluation: str = "",
        name: str | None = None,
    ) -> None:
        self.learned_, self.threshold_ = Bunch(**learned), Bunch(**threshold)
        self.oracle_, self.stages_ = Bunch(**oracle), Bunch(**stages)
        self.reference_cost_ = float(reference_cost)
        self.operating_point_ = None if operating_point is None else Bunch(**operating_point)
        self.evaluation_ = evaluation
        self.name = name

    def plot(
        self: _Display,
        ax: Axes | None = None,
        *,
        name: str | None = None,
        relative_cost: bool = True,
        **kwargs: Any,
    ) -> _Display:
        """Draw the points on ``ax`` (a new figure if None).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.
        name : str, default=None
            Legend name of the learned policies; None uses the display's ``name``.
        relative_cost : bool, default=True
            Plot the cost as a fraction of ``reference_cost_`` rather than in its units.
        **kwargs : dict
            Passed to ``ax.plot`` for the learned path.

        Returns
        -------
        display : CostAccuracyDisplay
            The display itself, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        plt = _pyplot("CostAccuracyDisplay.plot")
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        scale = self.reference_cost_ if relative_cost else 1.0
        points = {"learned": self.learned_, "threshold": self.threshold_}
        points.update(stages=self.stages_, oracle=self.oracle_)
        labels = {"learned": f"{name or 'learned'} (cost_weight sweep)"}
        if self.operating_point_ is not None:
            points["estimator"] = self.operating_point_
            labels["estimator"] = f"{name or 'estimator'} ({_describe(self.operating_point_)})"
        self.lines_ = {}
        for key, pts in points.items():
            style = dict(_STYLES[key], **({"label": labels[key]} if key in labels else {}))
            if key == "learned":
                style.update(kwargs)
            cost, accuracy = np.atleast_1d(pts.cost), np.atleast_1d(pts.accuracy)
            order = np.argsort(cost, kind="stable")
            self.lines_[key] = ax.plot(cost[order] / scale, accuracy[order], **style)[0]
        for stage, x, acc in zip(self.stages_.name, self.stages_.cost, self.stages_.accuracy):
            ax.annotate(stage, (x / scale, acc), textcoords="offset points", xytext=(4, -10))
        unit = "fraction of the reference" if relative_cost else "units of costs"
        ax.set(xlabel=f"average cost per row ({unit})", ylabel="accuracy")
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_predictions(
        cls: type[_Display],
        stage_outputs: ArrayLike,
        y: ArrayLike,
        *,
        eval_outputs: ArrayLike | None = None,
        y_eval: ArrayLike | None = None,
        cv: CV = None,
        costs: ArrayLike | None = None,
        cost_weights: ArrayLike | None = None,
        thresholds: ArrayLike | None = None,
        policy_estimator: Estimator | None = None,
        topology: Literal["chain", "jump"] = "chain",
        features: Features = "summary",
        classes: ArrayLike | None = None,
        reference: Literal["full", "last"] | None = None,
        stage_names: Sequence[str] | None = None,
        name: str | None = None,
        ax: Axes | None = None,
        relative_cost: bool = True,
    ) -> _Display:
        """Sweep the policies on precomputed stage probabilities, and plot them.

        The learned path fits one :class:`~skadaptive.RoutingPolicy` per cost weight, and
        is estimated honestly in one of two ways:

        - ``eval_outputs, y_eval`` given: the policies learn on ``(stage_outputs, y)`` and
          every point is evaluated on the held-out ``(eval_outputs, y_eval)``;
        - otherwise every point is evaluated on ``(stage_outputs, y)``, where the policies
          are cross-fitted (``cv``): each row is routed by a policy that did not learn from it.

        For the (optimistic) in-sample path, pass ``eval_outputs=stage_outputs, y_eval=y``.
        Thresholds, the oracle and the single stages are not fitted to the labels.

        Parameters
        ----------
        stage_outputs : array-like of shape (n_samples, n_stages, n_classes) or list
            Class probabilities of every stage, on rows that no stage was trained on.
        y : array-like of shape (n_samples,)
            The true labels of those rows.
        eval_outputs : array-like of shape (n_eval, n_stages, n_classes), default=None
            Class probabilities of every stage on held-out rows, where every point is
            evaluated; pass it with ``y_eval``, or neither.
        y_eval : array-like of shape (n_eval,), default=None
            The true labels of ``eval_outputs``' rows.
        cv : int, cross-validation generator or iterable, default=None
            Folds of the cross-fitted path (None: 5); only without ``eval_outputs``.
        costs : array-like of shape (n_stages,), default=None
            Cost of each stage (incremental for exits, own cost for models); None: 1 each.
        cost_weights : array-like, default=None
            The learned path's lambdas; None: 0 and 13 values from
            1e-4 to 1, log-spaced.
        thresholds : array-like, default=None
            Maximum-probability thresholds; None: quantiles of the non-final stages'
            largest probabilities on the evaluation rows, and one above them all.
        policy_estimator : classifier, default=None
            As in :class:`~skadaptive.RoutingPolicy`: the binary classifier fitted per
            decision; None means ``LogisticRegression(max_iter=1000)``.
        topology : {"chain", "jump"}, default="chain"
            As in :class:`~skadaptive.RoutingPolicy`: ``"jump"`` adds the
            network-selection edge to the last stage, for the policies and the oracle.
        features : {"summary", "proba"} or callable, default="summary"
            As in :class:`~skadaptive.RoutingPolicy`, without ``"proba+X"`` (there is
            no X here).
        classes : array-like of shape (n_classes,), default=None
            Labels of the output columns; None means ``np.unique(y)``.
        reference : {"full", "last"}, default=None
            The non-adaptive reference: every stage (``"full"``, exits of one model) or the
            last stage alone (``"last"``, separate models).  None: ``"last"`` with
            ``topology="jump"``, else ``"full"``.
        stage_names : list of str, default=None
            Labels of the single-stage points; None: ``"stage k"``.
        name : str, default=None
            Legend name of the learned policies; None: ``"learned"``.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.
        relative_cost : bool, default=True
            Plot the cost as a fraction of the reference's rather than in the units of
            ``costs``.

        Returns
        -------
        display : CostAccuracyDisplay
            The display, plotted, with its points as attributes.
        """
        _pyplot("CostAccuracyDisplay.from_predictions")
        _validate("CostAccuracyDisplay.from_predictions", locals())
        outputs = check_outputs(stage_outputs, "stage_outputs")
        y = cast("NDArray[Any]", column_or_1d(y))  # sklearn is not typed
        if len(y) != len(outputs):
            raise ValueError(f"y has {len(y)} rows but stage_outputs has {len(outputs)}.")
        if (eval_outputs is None) != (y_eval is None):
            raise ValueError("Pass both eval_outputs and y_eval, or neither.")
        if eval_outputs is None:
            fit, evaluate, cv = None, (outputs, y, None), 5 if cv is None else cv
            evaluation = "cross-fitted on (stage_outputs, y)"
        else:
            if cv is not None:
                raise ValueError("cv cross-fits on stage_outputs: pass it without eval_outputs.")
            evaluate = (check_outputs(eval_outputs, "eval_outputs"), column_or_1d(y_eval), None)
            if evaluate[0].shape[1:] != outputs.shape[1:] or len(evaluate[1]) != len(evaluate[0]):
                raise ValueError(
                    f"eval_outputs {evaluate[0].shape} and y_eval ({len(evaluate[1])} rows) "
                    f"must match each other, and stage_outputs {outputs.shape} in its last axes."
                )
            fit, evaluation = (outputs, y, None), "held-out"
        n_stages = outputs.shape[1]
        classes = output_classes(classes, y, outputs.shape[2])
        costs = check_costs(np.ones(n_stages) if costs is None else costs, n_stages)
        template = RoutingPolicy(
            costs,
            topology=topology,
            policy_estimator=policy_estimator,
            features=features,
            classes=classes,
        )
        points = _sweep(
            template,
            fit=fit,
            evaluate=evaluate,
            cv=cv,
            cost_weights=np.unique(check_cost_weights(cost_weights)),
            thresholds=_check_grid(thresholds, "thresholds"),
            reference=reference or ("last" if topology == "jump" else "full"),
            names=_check_names(stage_names, n_stages),
        )
        disp = cls(**points, evaluation=evaluation, name=name)
        return disp.plot(ax=ax, relative_cost=relative_cost)

    @classmethod
    def from_estimator(
        cls: type[_Display],
        estimator: Estimator,
        X: ArrayLike,
        y: ArrayLike,
        *,
        y_train: ArrayLike | None = None,
        cv: CV = None,
        cost_weights: ArrayLike | None = None,
        thresholds: ArrayLike | None = None,
        name: str | None = None,
        ax: Axes | None = None,
        relative_cost: bool = True,
    ) -> _Display:
        """Sweep the policies of a fitted adaptive classifier, evaluated on ``(X, y)``.

        The stages' outputs on ``X`` are computed once (``staged_predict_proba``); every
        point, and the estimator's own (its accuracy and average ``predict_cost`` on ``X``),
        is evaluated on them.  The learned path has the estimator's policy settings
        (``policy_``) with one ``cost_weight`` per point.  The estimators do not keep their
        training labels, so the path learns in one of two honest ways:

        - ``y_train`` given (the labels the estimator was fitted on, in order): on
          ``estimator.oof_outputs_``, as the estimator's own policy did, so that the
          estimator's point lies on the path (its ``cost_weight`` joins the default grid);
        - otherwise cross-fitted on ``(X, y)`` (``cv``): each row is routed by a policy that
          did not learn from it (and that learned from fewer rows than the estimator's).

        Parameters
        ----------
        estimator : EarlyExitClassifier, NetworkSelectionClassifier or Pipeline
            Fitted; a Pipeline must end with one of them.  Their budget siblings
            (``EarlyExitClassifierCV``, ``NetworkSelectionClassifierCV``) work too.
        X : array-like of shape (n_samples, n_features)
            Rows the estimator was not fitted on.
        y : array-like of shape (n_samples,)
            The true labels of ``X``.
        y_train : array-like of shape (n_train,), default=None
            The estimator's training labels.  A warning says when refitting its policy on
            them does not reproduce it (wrong labels, or a fit with ``sample_weight``).
        cv : int, cross-validation generator or iterable, default=None
            Folds of ``(X, y)`` for the cross-fitted path (None: 5); only without
            ``y_train``.
        cost_weights : array-like, default=None
            The learned path's lambdas, as in :meth:`from_predictions`.
        thresholds : array-like, default=None
            Maximum-probability thresholds, as in :meth:`from_predictions`.
        name : str, default=None
            Legend name of the learned policies and of the estimator's point; None: the
            estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.
        relative_cost : bool, default=True
            Plot the cost as a fraction of the reference's rather than in the units of
            ``costs_``.  The reference is the full model for early exit and the last
            model alone for network selection.

        Returns
        -------
        display : CostAccuracyDisplay
            The display, plotted, with the estimator's own point as
            ``operating_point_``.
        """
        _pyplot("CostAccuracyDisplay.from_estimator")
        _validate("CostAccuracyDisplay.from_estimator", locals())
        final, Xt = _final_adaptive(estimator, X)
        y = cast("NDArray[Any]", column_or_1d(y))  # sklearn is not typed
        outputs = np.stack(list(final.staged_predict_proba(Xt)), axis=1)
        if len(y) != len(outputs):
            raise ValueError(f"y has {len(y)} rows but X has {len(outputs)}.")
        template = final._policy_template(0.0)
        uses_X = template.uses_X
        weights = np.unique(check_cost_weights(cost_weights))
        operating = final._operating_point()
        if y_train is None:
            fit, cv, evaluation = None, 5 if cv is None else cv, "cross-fitted on (X, y)"
        else:
            if cv is not None:
                raise ValueError("cv cross-fits on (X, y): pass it without y_train.")
            if uses_X:
                raise ValueError(
                    "The estimator's policies use X (features='proba+X'), which is not kept for "
                    "its training rows: leave y_train=None to cross-fit the path on (X, y)."
                )
            y_train = cast("NDArray[Any]", column_or_1d(y_train))
            if len(y_train) != len(final.oof_outputs_):
                raise ValueError(
                    f"y_train has {len(y_train)} rows; the estimator was fitted on "
                    f"{len(final.oof_outputs_)} (its oof_outputs_)."
                )
            _check_training_labels(final, template, y_train, operating["cost_weight"])
            fit, evaluation = (final.oof_outputs_, y_train, None), "held-out"
            if cost_weights is None and operating["cost_weight"] is not None:
                weights = np.union1d(weights, [operating["cost_weight"]])
        res = final.route(Xt)
        own = dict(
            cost=float(res.cost.mean()),
            accuracy=_accuracy(res.proba, y, final.classes_),
            **operating,
        )
        points = _sweep(
            template,
            fit=fit,
            evaluate=(outputs, y, Xt if uses_X else None),
            cv=cv,
            cost_weights=weights,
            thresholds=_check_grid(thresholds, "thresholds"),
            reference="last" if final._independent_stages else "full",
            names=final._stage_names(),
        )
        name = type(final).__name__ if name is None else name
        disp = cls(**points, operating_point=own, evaluation=evaluation, name=name)
        return disp.plot(ax=ax, relative_cost=relative_cost)


def _describe(operating_point):
    """The legend's words for a fitted estimator's router."""
    knobs = [operating_point.family] if operating_point.get("family") else []
    for knob in ("cost_weight", "cost_fraction"):
        if operating_point.get(knob) is not None:
            knobs.append(f"{knob}={operating_point[knob]:g}")
    return ", ".join(["fitted", *knobs])


def _final_adaptive(estimator, X):
    """The fitted adaptive classifier (at the end of a Pipeline) and X transformed for it."""
    final = estimator
    while isinstance(final, Pipeline):
        final = final[-1]
    if not isinstance(final, BaseAdaptiveClassifier):
        raise TypeError(
            "estimator must be an EarlyExitClassifier, NetworkSelectionClassifier or one of "
            f"their ...CV siblings, or a Pipeline ending with one; got {type(final).__name__}."
        )
    check_is_fitted(final)
    return _final_step(estimator, X)
