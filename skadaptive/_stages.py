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

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from . import _boosting, _compat
from ._compat import ForestClassifier, num_samples
from ._rows import take_rows
from ._validation import Estimator, Float64Array

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
    """Independent models of rising cost as the stages of the multi-exit protocol.

    The stages of :class:`~skadaptive.NetworkSelectionClassifier`: stage ``k`` is
    model ``k``, which computes its answer from the input rows alone (nothing
    is carried from one stage to the next).  A fitted
    ``NetworkSelectionClassifier`` keeps its fitted models in one of these, as
    ``stage_model_``.  The models' columns are put in the order of ``classes``,
    so models fitted on different subsets of the classes answer in one layout.

    Parameters
    ----------
    models : sequence of fitted classifiers
        The models, cheapest first.  Each needs ``predict_proba`` and
        ``classes_``; the models are not copied.
    classes : array-like of shape (n_classes,)
        The label of each output column, sorted (as ``np.unique`` returns them).
        Every model's ``classes_`` must be among them; a class that a model does
        not know gets probability 0 in its answers.

    Attributes
    ----------
    models : list of fitted classifiers
        The models, as a list.
    classes_ : ndarray of shape (n_classes,)
        ``classes`` as an array.
    n_exits_ : int
        The number of stages (models).
    library_infos : list
        For each XGBoost, LightGBM or CatBoost model, its library and what a
        prediction through its booster needs (see :class:`TreeEnsembleExits`); on
        rows the estimator checked, such a model answers through its booster, the
        same probabilities as its ``predict_proba`` without the wrapper's input
        checks.  None for any other model.

    See Also
    --------
    TreeEnsembleExits : The exits of one tree ensemble.
    skadaptive.NetworkSelectionClassifier : Routes rows through such a ladder.

    Examples
    --------
    A stump that never saw class 2, then a logistic regression that did:

    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive.stages import ModelLadder
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    >>> y = np.array([0, 0, 1, 1, 2, 2])
    >>> stump = DecisionTreeClassifier(max_depth=1).fit(X[:4], y[:4])
    >>> logreg = LogisticRegression().fit(X, y)
    >>> ladder = ModelLadder([stump, logreg], classes=[0, 1, 2])
    >>> state = ladder.init_exits(X)
    >>> ladder.predict_exit_proba(state, 0, np.arange(6))
    array([[1., 0., 0.],
           [1., 0., 0.],
           [0., 1., 0.],
           [0., 1., 0.],
           [0., 1., 0.],
           [0., 1., 0.]])
    >>> ladder.predict_exit_proba(state, 1, np.array([4, 5])).round(2)
    array([[0.04, 0.33, 0.63],
           [0.01, 0.17, 0.82]])
    """

    library_infos: list[Any] | None = None  # what ladders saved before the boosting libraries lack

    def __init__(self, models: Sequence[Estimator], classes: ArrayLike) -> None:
        self.models = list(models)
        self.classes_ = np.asarray(classes)
        self.n_exits_ = len(self.models)
        # XGBoost, LightGBM and CatBoost stages answer through their boosters, without
        # the wrappers' input checks (LightGBM's: about 0.6 ms a call) on checked rows.
        self.library_infos = [_library_info(unfrozen(model)) for model in self.models]

    def init_exits(self, X: ArrayLike) -> ArrayLike:
        """Start the computation for the rows of ``X``: nothing to compute yet.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input rows, in any form the models take (array, sparse matrix,
            DataFrame).

        Returns
        -------
        state : array-like of shape (n_samples, n_features)
            ``X`` itself: every stage reads the input rows.
        """
        return X

    def predict_exit_proba(self, state: ArrayLike, k: int, rows: ArrayLike) -> Float64Array:
        """Class probabilities of model ``k`` for some of the rows.

        Parameters
        ----------
        state : array-like of shape (n_samples, n_features)
            What :meth:`init_exits` returned: the input rows.
        k : int
            The stage, that is the index of the model in ``models``.
        rows : array-like of int
            The indices, into the rows of ``state``, of the rows to answer.

        Returns
        -------
        proba : ndarray of shape (len(rows), n_classes)
            Model ``k``'s ``predict_proba`` of those rows, as floats, columns in the
            order of ``classes_``.
        """
        model = self.models[k]
        X = take_rows(state, rows)
        proba = _compat.fast_predict_proba(unfrozen(model), X)
        if proba is None and self.library_infos is not None and self.library_infos[k]:
            proba = _library_proba(unfrozen(model), self.library_infos[k], X)
        if proba is None:
            proba = model.predict_proba(X)
        return align_proba(np.asarray(proba, dtype=float), model.classes_, self.classes_)


def _library_info(model):
    """``(library, what its range prediction needs)`` for a boosting library's model, else None.

    None too for a model whose probabilities the exits could not reproduce (it is then
    asked for ``predict_proba`` as any other model).
    """
    library = _boosting.library_of(model)
    if library is None:
        return None
    try:
        return library, _boosting.describe(library, model)
    except TypeError:
        return None


def _library_proba(model, info, X):
    """A library model's ``predict_proba`` on rows the estimator checked, through its booster.

    None where the rows were not checked by the estimator (see ``_compat``): the model
    checks them itself then.
    """
    if not _compat.checked_by_caller(model, X):
        return None
    library, info = info
    return _boosting.whole_proba(library, model, info, X)


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
    if counts[-1] != n_total:
        raise ValueError(
            f"exits {exits!r} stop after {counts[-1]} of the model's {n_total} fitted trees "
            "(boosting iterations): the last exit is the reference, the whole model. End "
            f"exits with {n_total} (or 1.0), or fit the model with {counts[-1]} trees if that "
            "is the model you mean to serve."
        )
    return counts


class TreeEnsembleExits:
    """A fitted forest or boosting model as a multi-exit model.

    Exit ``k`` answers with the first ``counts[k]`` trees (boosting iterations). A
    later exit continues from the earlier partial sums (boosting raw scores, or
    summed tree probabilities for forests): it computes only the trees not yet
    evaluated, for only the rows still active.  A forest's exit averages the
    class probabilities of its trees; a boosting model's exit turns its partial
    raw scores into probabilities as the model's loss does.  This is the
    multi-exit view of the tree ensembles that
    :class:`~skadaptive.EarlyExitClassifier` takes, kept as its
    ``stage_model_``.

    XGBoost, LightGBM and CatBoost models go through their libraries' public
    range predictions of raw margins (XGBoost's ``iteration_range`` with a
    ``base_margin``, LightGBM's ``start_iteration``, CatBoost's ``ntree_start``),
    which add the model's starting margin once.  Their exits count boosting
    iterations up to the one the model's own ``predict_proba`` stops at (the
    best iteration, after early stopping).

    Parameters
    ----------
    model : fitted classifier
        A fitted :class:`~sklearn.ensemble.RandomForestClassifier`,
        :class:`~sklearn.ensemble.ExtraTreesClassifier` (any scikit-learn forest
        classifier), :class:`~sklearn.ensemble.GradientBoostingClassifier`,
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`,
        ``xgboost.XGBClassifier`` (tree booster), ``lightgbm.LGBMClassifier`` or
        ``catboost.CatBoostClassifier``.  It is not copied.
    exits : sequence of int or float, default=None
        The number of trees (boosting iterations) after which each exit answers:
        integers are tree counts, floats in (0, 1] fractions of the fitted trees
        (rounded, at least 1).  At least 2 exits, strictly increasing, the last
        one the whole model (all the fitted trees: it is the reference).  ``None``
        means ``(0.125, 0.25, 0.5, 1.0)``.

    Attributes
    ----------
    model : fitted classifier
        The ensemble given.
    kind : {"forest", "gb", "hgb", "xgboost", "lightgbm", "catboost"}
        The family of the ensemble: a forest, a ``GradientBoostingClassifier``, a
        ``HistGradientBoostingClassifier``, or a model of one of the three
        boosting libraries.
    library_info : dict or None
        For a boosting library's model, what its exits read once from the model
        (iterations, trees per iteration, link function, prediction settings);
        None for a scikit-learn ensemble.
    counts : list of int
        The tree count (boosting iterations) of each exit, increasing.
    classes_ : ndarray of shape (n_classes,)
        The model's ``classes_``.
    n_exits_ : int
        The number of exits.
    exit_costs_ : ndarray of shape (n_exits,)
        The number of trees each exit adds to the previous one, as floats: its
        boosting iterations times the trees each iteration grows (one per class
        for a multiclass XGBoost, LightGBM, ``GradientBoostingClassifier`` or
        ``HistGradientBoostingClassifier`` model; one for CatBoost, whose trees
        hold a value per class).  The costs that ``EarlyExitClassifier`` uses
        when its ``costs`` is None.

    See Also
    --------
    ModelLadder : Independent models as the stages.
    skadaptive.EarlyExitClassifier : Routes rows through the exits of one model.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadaptive.stages import TreeEnsembleExits
    >>> X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    >>> forest = RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y)
    >>> exits = TreeEnsembleExits(forest, exits=[2, 4, 8])
    >>> exits.counts, exits.exit_costs_
    ([2, 4, 8], array([2., 2., 4.]))
    >>> state = exits.init_exits(X[:4])
    >>> exits.predict_exit_proba(state, 0, np.arange(4))   # the first 2 trees
    array([[0. , 1. ],
           [1. , 0. ],
           [0.5, 0.5],
           [0.5, 0.5]])

    Rows 1 and 3 go on to the next exit, which adds two trees; then row 3 alone
    to the last one, which answers as the whole forest:

    >>> exits.predict_exit_proba(state, 1, np.array([1, 3]))
    array([[1. , 0. ],
           [0.5, 0.5]])
    >>> exits.predict_exit_proba(state, 2, np.array([3]))
    array([[0.625, 0.375]])
    >>> forest.predict_proba(X[3:4])
    array([[0.625, 0.375]])
    """

    library_info: dict | None = None  # what files saved before the boosting libraries lack

    def __init__(self, model: Estimator, exits: ArrayLike | None = None) -> None:
        self.model = model
        self.library_info = None
        library = _boosting.library_of(model)
        if library is not None:
            self.kind, self.library_info = library, _boosting.describe(library, model)
            n_total = self.library_info["n_iterations"]
            per_iteration = self.library_info["trees_per_iteration"]
        elif isinstance(model, ForestClassifier):
            self.kind, n_total, per_iteration = "forest", len(model.estimators_), 1
        elif isinstance(model, GradientBoostingClassifier):
            self.kind, (n_total, per_iteration) = "gb", model.estimators_.shape
        else:
            self.kind, n_total = "hgb", _compat.hgb_n_iterations(model)
            per_iteration = model.n_trees_per_iteration_
        self.counts = resolve_exits(exits, n_total)
        self.classes_ = model.classes_
        self.n_exits_ = len(self.counts)
        self.exit_costs_ = np.diff([0, *self.counts]).astype(float) * per_iteration

    def init_exits(self, X: ArrayLike) -> dict[str, Any]:
        """Start the computation for the rows of ``X``: validate them.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input rows, checked (and converted) as the model's own prediction
            methods check them.

        Returns
        -------
        state : dict
            The checked rows (``"X"``) and the running sums of the trees computed
            so far (``"acc"``, None until the first exit), which
            :meth:`predict_exit_proba` updates.  A boosting library's model checks
            the rows itself, at each range prediction.
        """
        if self.library_info is not None:
            return {"X": X, "acc": None}
        check = {"forest": _compat.forest_check_X, "gb": _compat.gb_check_X}.get(
            self.kind, _compat.hgb_check_X
        )
        return {"X": check(self.model, X), "acc": None}

    def predict_exit_proba(self, state: dict[str, Any], k: int, rows: ArrayLike) -> Float64Array:
        """Advance some rows to exit ``k`` and return their class probabilities.

        Only the trees (boosting iterations) that exit ``k`` adds to exit ``k - 1``
        are computed: those after the first ``counts[k - 1]``, up to
        ``counts[k]``.  They are added to the rows' running sums in ``state``.

        Parameters
        ----------
        state : dict
            What :meth:`init_exits` returned, updated in place.
        k : int
            The exit.
        rows : array-like of int
            The indices, into the rows given to :meth:`init_exits`, of the rows to
            advance.  For ``k > 0`` they must have computed exit ``k - 1`` (their
            running sums continue from there); this is not checked.

        Returns
        -------
        proba : ndarray of shape (len(rows), n_classes)
            The class probabilities of those rows at exit ``k``: the mean of the
            first ``counts[k]`` trees' probabilities for a forest; for boosting, the
            model's probabilities from its initial prediction and first
            ``counts[k]`` iterations.
        """
        start = 0 if k == 0 else self.counts[k - 1]
        return self._advance(state, rows, start, self.counts[k])

    def predict_last_exit_proba(self, X: ArrayLike) -> Float64Array:
        """The last exit's probabilities for every row, in one pass over the trees.

        The same numbers as every exit in turn (up to the rounding of summing the
        trees in one range instead of several), with one call of the model's tree
        routine instead of one per exit: what serving the reference costs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The whole model's class probabilities, as its own ``predict_proba``.
        """
        if self.library_info is not None:  # straight to the library: no state to keep
            return _boosting.whole_proba(self.kind, self.model, self.library_info, X)
        state = self.init_exits(X)
        return self._advance(state, np.arange(num_samples(state["X"])), 0, self.counts[-1])

    def _advance(self, state, rows, start, stop):
        """Add trees ``start:stop`` to the rows' running sums; their probabilities after."""
        X = take_rows(state["X"], rows)
        if self.library_info is not None:
            acc = None if start == 0 else state["acc"][rows]
            acc = _boosting.add_iterations(
                self.kind, self.model, self.library_info, X, start, stop, acc
            )
        else:
            if isinstance(X, np.ndarray):  # the tree routines take C-ordered rows only
                X = np.ascontiguousarray(X)
            acc = self._init_acc(X) if start == 0 else state["acc"][rows]
            self._add_trees(start, stop, X, acc)
        if state["acc"] is None:
            state["acc"] = np.zeros((num_samples(state["X"]), acc.shape[1]), dtype=acc.dtype)
        state["acc"][rows] = acc
        if self.library_info is not None:
            return _boosting.margins_to_proba(self.library_info, acc)
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
    if not isinstance(inner, TREE_ENSEMBLES) and _boosting.library_of(inner) is None:
        raise TypeError(
            f"EarlyExitClassifier cannot find exits in {type(inner).__name__}: pass a "
            "HistGradientBoostingClassifier, GradientBoostingClassifier, RandomForestClassifier, "
            "ExtraTreesClassifier, XGBClassifier, LGBMClassifier, CatBoostClassifier, or a "
            "model with init_exits and predict_exit_proba (the multi-exit protocol)."
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


def iter_stage_outputs(model, X, classes):
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

    Yields
    ------
    proba : ndarray of shape (n_samples, n_classes)
        The probabilities at stage 0, 1, ..., in order.
    """
    state = model.init_exits(X)
    rows = np.arange(num_samples(X))
    for k in range(model.n_exits_):
        proba = np.asarray(model.predict_exit_proba(state, k, rows), dtype=float)
        yield align_proba(proba, model.classes_, classes)


def stage_outputs(model, X, classes):
    """Every stage's probabilities for every row, shape (n_samples, n_stages, n_classes)."""
    return np.stack(list(iter_stage_outputs(model, X, classes)), axis=1)


for _cls in (ModelLadder, TreeEnsembleExits):
    _cls.__module__ = "skadaptive.stages"  # where saved files find them
