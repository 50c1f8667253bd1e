"""Stage providers: what computes stage ``k`` for a set of rows.

Both estimators talk to their stages through one small *multi-exit protocol*.  A
fitted object that follows it has

- ``classes_`` and ``n_exits_``;
- ``init_exits(X) -> state``: start the computation for the rows of ``X``;
- ``predict_exit_proba(state, k, rows) -> proba``: advance the rows ``rows``
  (indices into ``X``) through stage ``k`` and return their class
  probabilities at exit ``k``, shape ``(len(rows), n_classes)``.  The router
  calls it for ``k = 0, 1, ...`` in order, and only with rows that computed
  stage ``k - 1`` before (and that did not exit), so a stage computes only what it
  adds, for only the rows that reach it;
- optionally ``exit_costs_``: the incremental cost of each exit.

An unfitted estimator that has ``init_exits`` and ``predict_exit_proba`` can be the
``estimator`` of :class:`~skadaptive.EarlyExitClassifier`; tree ensembles are
adapted here.  For :class:`~skadaptive.NetworkSelectionClassifier`, the ladder of
models is itself one such object, whose stages are independent models.
"""

import numbers
import time

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from . import _compat
from ._compat import ForestClassifier, num_samples
from ._rows import take_rows

TREE_ENSEMBLES = (ForestClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier)
DEFAULT_EXITS = (0.125, 0.25, 0.5, 1.0)


def align_proba(proba, model_classes, classes):
    """Put the columns of ``proba`` (for ``model_classes``) in the order of ``classes``.

    Classes the model never saw (a cross-fitting fold without them) get 0.
    """
    model_classes = np.asarray(model_classes)
    if len(model_classes) == len(classes) and np.array_equal(model_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)), dtype=float)
    out[:, np.searchsorted(classes, model_classes)] = proba
    return out


def implements_exit_protocol(model):
    return callable(getattr(model, "init_exits", None)) and callable(
        getattr(model, "predict_exit_proba", None)
    )


def unfrozen(model):
    return model.estimator if isinstance(model, FrozenEstimator) else model


class ModelLadder:
    """Independent models of rising cost as the stages of the protocol."""

    def __init__(self, models, classes):
        self.models = list(models)
        self.classes_ = np.asarray(classes)
        self.n_exits_ = len(self.models)

    def init_exits(self, X):
        return X

    def predict_exit_proba(self, state, k, rows):
        model = self.models[k]
        proba = model.predict_proba(take_rows(state, rows))
        return align_proba(np.asarray(proba, dtype=float), model.classes_, self.classes_)


def resolve_exits(exits, n_total):
    """Exit positions as increasing tree counts in ``1..n_total``."""
    exits = DEFAULT_EXITS if exits is None else exits
    values = list(np.atleast_1d(exits))
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        counts = [int(v) for v in values]
    elif all(0 < float(v) <= 1 for v in values):
        counts = [max(1, int(round(float(v) * n_total))) for v in values]
    else:
        raise ValueError(
            "exits must be tree counts (integers) or fractions of the fitted trees in (0, 1], "
            f"got {exits!r}."
        )
    if len(counts) < 2:
        raise ValueError(f"At least 2 exits are needed, got {exits!r}.")
    if any(b <= a for a, b in zip(counts, counts[1:])) or counts[0] < 1 or counts[-1] > n_total:
        raise ValueError(
            f"exits {exits!r} give tree counts {counts}, which must increase strictly within "
            f"1..{n_total} (the number of fitted trees or boosting iterations)."
        )
    return counts


class TreeEnsembleExits:
    """A fitted forest or boosting model as a multi-exit model.

    Exit ``k`` answers with the first ``counts[k]`` trees (boosting iterations). A
    later exit continues from the earlier partial sums (boosting raw scores, or
    summed tree probabilities for forests): it computes only the trees not yet
    evaluated, for only the rows still active.
    """

    def __init__(self, model, exits=None):
        self.model = model
        if isinstance(model, ForestClassifier):
            self.kind, n_total = "forest", len(model.estimators_)
        elif isinstance(model, GradientBoostingClassifier):
            self.kind, n_total = "gb", model.estimators_.shape[0]
        else:
            self.kind, n_total = "hgb", _compat.hgb_n_iterations(model)
        self.counts = resolve_exits(exits, n_total)
        self.classes_ = model.classes_
        self.n_exits_ = len(self.counts)
        self.exit_costs_ = np.diff([0, *self.counts]).astype(float)

    def init_exits(self, X):
        check = {"forest": _compat.forest_check_X, "gb": _compat.gb_check_X}.get(
            self.kind, _compat.hgb_check_X
        )
        return {"X": check(self.model, X), "acc": None}

    def predict_exit_proba(self, state, k, rows):
        start = 0 if k == 0 else self.counts[k - 1]
        stop = self.counts[k]
        X = take_rows(state["X"], rows)
        if isinstance(X, np.ndarray):  # the tree routines take C-ordered rows only
            X = np.ascontiguousarray(X)
        if k == 0:
            acc = self._init_acc(X)
        else:
            acc = state["acc"][rows]
        self._add_trees(start, stop, X, acc)
        if state["acc"] is None:
            state["acc"] = np.zeros((state["X"].shape[0], acc.shape[1]), dtype=acc.dtype)
        state["acc"][rows] = acc
        if self.kind == "forest":
            return acc / stop
        return _compat.raw_to_proba(self.model, acc)

    def _init_acc(self, X):
        if self.kind == "forest":
            return np.zeros((X.shape[0], len(self.classes_)))
        if self.kind == "gb":
            return np.ascontiguousarray(_compat.gb_init_raw(self.model, X), dtype=np.float64)
        return _compat.hgb_baseline(self.model, X.shape[0])

    def _add_trees(self, start, stop, X, acc):
        if self.kind == "forest":
            for tree in self.model.estimators_[start:stop]:
                acc += tree.predict_proba(X, check_input=False)
        elif self.kind == "gb":
            _compat.gb_add_stages(self.model, start, stop, X, acc)
        else:
            _compat.hgb_add_iterations(self.model, start, stop, X, acc)


def check_exit_estimator(estimator, exits):
    """Fail early, before any fitting, on an estimator that has no exits."""
    inner = unfrozen(estimator)
    if implements_exit_protocol(inner):
        if exits is not None:
            raise ValueError(
                "exits must be None for a model that implements the multi-exit protocol; "
                "it defines its own exits."
            )
        return
    if not isinstance(inner, TREE_ENSEMBLES):
        raise TypeError(
            f"EarlyExitClassifier cannot find exits in {type(inner).__name__}: pass a "
            "HistGradientBoostingClassifier, GradientBoostingClassifier, RandomForestClassifier, "
            "ExtraTreesClassifier, or a model with init_exits and predict_exit_proba (the "
            "multi-exit protocol)."
        )


def exit_model(fitted, exits):
    """The multi-exit view of a fitted estimator."""
    inner = unfrozen(fitted)
    return inner if implements_exit_protocol(inner) else TreeEnsembleExits(inner, exits)


def single_model_exits(fitted, classes, exits=None):
    """The multi-exit view of the one fitted stage of an EarlyExitClassifier.

    A module-level function (with ``functools.partial`` for ``exits``), so that it
    pickles and hashes for ``memory``.
    """
    return exit_model(fitted[0], exits)


def iter_stage_outputs(model, X, classes, stages=None):
    """Each stage's probabilities for every row of ``X``, stage after stage, no routing.

    The one loop that runs stages on every row: the out-of-fold outputs of
    ``fit``, ``staged_predict_proba`` and the full network's ``predict_proba``.

    Parameters
    ----------
    model : multi-exit model
        Fitted, following the protocol.
    X : array-like of shape (n_samples, n_features)
        The rows.
    classes : ndarray of shape (n_classes,)
        The column order of the answers.
    stages : int, default=None
        Compute stages ``0..stages - 1`` only; None: every stage.

    Yields
    ------
    proba : ndarray of shape (n_samples, n_classes)
        The probabilities at stage 0, 1, ..., in order.
    """
    state = model.init_exits(X)
    rows = np.arange(num_samples(X))
    for k in range(model.n_exits_ if stages is None else stages):
        proba = np.asarray(model.predict_exit_proba(state, k, rows), dtype=float)
        yield align_proba(proba, model.classes_, classes)


def stage_outputs(model, X, classes):
    """Every stage's probabilities for every row, shape (n_samples, n_stages, n_classes)."""
    return np.stack(list(iter_stage_outputs(model, X, classes)), axis=1)


def measure_costs(model, X, repeats=7):
    """Median wall-clock seconds per row of each stage, computed incrementally.

    One untimed pass first warms caches, lazy imports and thread pools up.
    """
    rows = np.arange(num_samples(X))
    times = np.zeros((repeats + 1, model.n_exits_))
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        state = model.init_exits(X)
        for k in range(model.n_exits_):
            model.predict_exit_proba(state, k, rows)
            t1 = time.perf_counter()
            times[r, k] = t1 - t0
            t0 = t1
    return np.maximum(np.median(times[1:], axis=0) / len(rows), 1e-12)


for _cls in (ModelLadder, TreeEnsembleExits):
    _cls.__module__ = "skadaptive.stages"  # where saved files find them
