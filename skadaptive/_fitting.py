"""What ``fit`` computes with the stages: cross-fitted or frozen outputs, and costs.

Nothing here depends on the routing policies, so that ``memory`` can cache the
stage pass and a search over policy parameters runs the stages once.  One
:class:`StagePass` carries the settings of a pass.
"""

import dataclasses
import hashlib
import logging
import pickle
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, check_memory, has_fit_parameter

from . import _chunks
from ._compat import num_samples
from ._rows import safe_rows
from ._stages import stage_outputs, unfrozen
from ._timing import measure_last_exit_times, measure_stage_times

logger = logging.getLogger("skadaptive")


def seeds(random_state, n):
    """``n`` integer seeds drawn from ``random_state``; Nones when it is None."""
    if random_state is None:
        return [None] * n
    rng = check_random_state(random_state)
    return [int(seed) for seed in rng.randint(np.iinfo(np.int32).max, size=n)]


def seed_unset(estimator, seed):
    """``estimator``, or a clone whose ``random_state`` parameters left at None get ``seed``.

    So that the estimators' ``random_state`` makes a fit reproducible even with
    unseeded random stages or policies, as ensembles seed their base estimators.
    Seeds the user set, and frozen estimators, are kept.
    """
    if seed is None or estimator is None or isinstance(estimator, FrozenEstimator):
        return estimator
    if not hasattr(estimator, "get_params"):
        return estimator
    unset = {
        name: seed
        for name, value in estimator.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state")) and value is None
    }
    if not unset:
        return estimator
    return clone(estimator).set_params(**unset)


def resolve_classes(y, templates, owner):
    """The classes of a fit: those of ``y``, or the frozen stages' (which must agree)."""
    classes = np.unique(y)
    frozen = [unfrozen(t) for t in templates if isinstance(t, FrozenEstimator)]
    if frozen:
        for t in frozen:
            check_is_fitted(t)  # a clear NotFittedError for an unfitted frozen stage
        frozen_classes = np.asarray(frozen[0].classes_)
        for t in frozen[1:]:
            if not np.array_equal(np.asarray(t.classes_), frozen_classes):
                raise ValueError(
                    f"The frozen stages disagree on classes: {frozen_classes.tolist()} and "
                    f"{np.asarray(t.classes_).tolist()}."
                )
        if not np.isin(classes, frozen_classes).all():
            raise ValueError(
                f"y has classes {np.setdiff1d(classes, frozen_classes).tolist()} that the "
                f"frozen stages do not predict (they know {frozen_classes.tolist()})."
            )
        classes = frozen_classes
    if len(classes) < 2:
        raise ValueError(f"{owner} needs at least 2 classes in y; got 1 class: {classes.tolist()}.")
    return classes


def check_stage_classes(fitted, classes):
    """Raise unless every fitted stage that names its classes names ``classes``."""
    for est in fitted:
        est_classes = getattr(est, "classes_", None)
        if est_classes is not None and not np.array_equal(np.asarray(est_classes), classes):
            raise ValueError(
                f"The stages disagree on classes: {np.asarray(est_classes).tolist()} and "
                f"{classes.tolist()}."
            )


def all_frozen(templates):
    """Whether every stage is a prefit model (``FrozenEstimator``): no cross-fitting."""
    return all(isinstance(t, FrozenEstimator) for t in templates)


def stages_key(templates):
    """A content key of the stage estimators, for ``memory``.

    The SHA-256 of each estimator's pickle: about ten times faster than the
    argument hashing of ``joblib.Memory``, which walks a fitted model's objects in
    Python (7 s of a 45 s grid search over frozen letter models).  Equal keys mean
    equal pickles, so a cache can never serve another model's outputs; two equal
    models that pickle differently only miss the cache.
    """
    return [hashlib.sha256(pickle.dumps(t, protocol=5)).hexdigest() for t in templates]


def progress_bar(verbose, total, desc):
    """A function wrapping an iterable in a tqdm progress bar when ``verbose``, else as is.

    tqdm is optional: without it, ``verbose`` only logs.
    """
    if not verbose:
        return lambda iterable: iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.info("%s (install tqdm for a progress bar)", desc)
        return lambda iterable: iterable
    return lambda iterable: tqdm(iterable, total=total, desc=desc)


@dataclasses.dataclass(frozen=True)
class StagePass:
    """The settings of one stage pass: everything ``fit`` computes with the stages.

    Parameters
    ----------
    make_model : callable
        ``make_model(fitted_stages, classes)`` -> the multi-exit view of the stages.
        A module-level function (or a partial of one), so that it pickles for
        ``memory``.
    classes : ndarray
        The column order of the outputs.
    cv : cross-validation splitter or None
        The folds of the out-of-fold outputs; None with frozen stages.
    cost_mode : {"given", "auto", "time"}
        ``"given"``: no timing; ``"auto"``: time the stages unless the model has
        ``exit_costs_``; ``"time"``: time them.
    timing_rows : ndarray or None
        The rows the stages are timed on.
    n_jobs, verbose, row_bytes
        How the pass runs (joblib workers, logging, bytes per row of the chunks);
        they do not change its results, and ``memory`` ignores them.
    """

    make_model: Any
    classes: Any
    cv: Any = None
    cost_mode: str = "given"
    timing_rows: Any = None
    n_jobs: Any = None
    verbose: int = 0
    row_bytes: int = 1

    def run(self, templates, X, y, sample_weight=None, memory=None):
        """The pass over ``templates`` (through ``memory``, keyed by :func:`stages_key`).

        Returns
        -------
        result : Bunch
            ``outputs`` (the out-of-fold stage outputs: cross-fitting, or the frozen
            stages on every row), ``fitted`` (the stages fitted on every row),
            ``model`` (their multi-exit view) and ``measured`` (each stage's
            seconds per call and per row, shape (n_stages, 2), or None when the
            cost mode does not ask for them).
        """
        if memory is None:
            return _stage_pass(self, templates, X, y, sample_weight)
        key_settings = dataclasses.replace(self, n_jobs=None, verbose=0, row_bytes=1)
        cached = check_memory(memory).cache(_cached_stage_pass, ignore=["templates", "settings"])
        return cached(key_settings, stages_key(templates), X, y, sample_weight, templates, self)


def _cached_stage_pass(key_settings, key, X, y, sample_weight, templates, settings):
    """:func:`_stage_pass`, with the arguments that ``memory`` hashes first."""
    return _stage_pass(settings, templates, X, y, sample_weight)


def _fit_stage(estimator, X, y, sample_weight, rows):
    """Fit a clone of one stage on ``rows`` (None: all rows); frozen stages as they are."""
    estimator = clone(estimator)
    if isinstance(estimator, FrozenEstimator):
        return estimator
    if rows is not None:
        X, y = safe_rows(X, rows), y[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    if sample_weight is not None and has_fit_parameter(estimator, "sample_weight"):
        return estimator.fit(X, y, sample_weight=sample_weight)
    return estimator.fit(X, y)


def _fit_fold(templates, X, y, sample_weight, train):
    return [_fit_stage(t, X, y, sample_weight, train) for t in templates]


def _fold_outputs(make_model, templates, X, y, sample_weight, train, test, classes):
    fitted = _fit_fold(templates, X, y, sample_weight, train)
    return stage_outputs(make_model(fitted, classes), safe_rows(X, test), classes)


def frozen_outputs(memory, templates, model, X, classes):
    """Every frozen stage's outputs on ``X``, through ``memory``.

    Frozen stages answer a row the same way in every fit, so the scorers of a
    grid search (:func:`skadaptive.metrics.budget_scoring`) compute a held-out
    fold's outputs once for all candidates and route every candidate on them.
    """
    cached = check_memory(memory).cache(_keyed_frozen_outputs, ignore=["model"])
    return cached(stages_key(templates), model, X, classes)


def _keyed_frozen_outputs(key, model, X, classes):
    return stage_outputs(model, X, classes)


def _stage_pass(settings, templates, X, y, sample_weight):
    """Everything ``fit`` computes with the stages, and nothing that depends on the policies.

    Stage outputs are computed in row chunks of at most ``working_memory`` (see
    :mod:`skadaptive._chunks`), dispatched through joblib: the chunks of frozen
    stages' outputs, or, when a fold's held-out rows exceed one chunk, the chunks of
    every fold's held-out rows after the folds' stages are fitted.  The outputs do
    not depend on the chunks.
    """
    s = settings
    n_samples = num_samples(X)
    if all_frozen(templates):
        fitted = [clone(t) for t in templates]
        model = s.make_model(fitted, s.classes)
        rows = _chunks.chunk_rows(s.row_bytes, n_rows=n_samples, n_jobs=s.n_jobs)
        slices = _chunks.row_slices(n_samples, rows)
        if s.verbose:
            logger.info(
                "All stages are frozen: computing their outputs on %d rows in %d chunks.",
                n_samples,
                len(slices),
            )
        if len(slices) == 1:
            outputs = stage_outputs(model, X, s.classes)
        else:
            parts = [(model, rows) for rows in slices]
            outputs = _outputs_of_parts(s, parts, X, n_samples, "frozen stages' outputs")
    else:
        outputs, fitted = _cross_fit(s, templates, X, y, sample_weight)
        model = s.make_model(fitted, s.classes)
    measured = last_exit = None
    if s.cost_mode == "time" or (
        s.cost_mode == "auto" and getattr(model, "exit_costs_", None) is None
    ):
        timing_rows = safe_rows(X, s.timing_rows)
        measured = measure_stage_times(model, timing_rows)
        last_exit = measure_last_exit_times(model, timing_rows)
        if s.verbose:
            logger.info("Measured stage times (seconds per call, per row): %s", measured.tolist())
    return Bunch(
        outputs=outputs, fitted=fitted, model=model, measured=measured, last_exit=last_exit
    )


def _outputs_of_parts(settings, parts, X, n_samples, desc):
    """The outputs of ``parts`` of the rows, computed through joblib."""
    return _chunks.outputs_in_chunks(
        parts,
        X,
        n_samples,
        settings.classes,
        settings.n_jobs,
        max(0, int(settings.verbose) - 1),
        progress_bar(settings.verbose, len(parts), desc),
    )


def _cross_fit(settings, templates, X, y, sample_weight):
    """Out-of-fold outputs and the stages refitted on every row.

    When every fold's held-out rows fit in one chunk, each job fits a fold's stages
    and computes their outputs at once; otherwise the jobs fit the folds' stages,
    and the held-out rows' outputs follow in chunks, through joblib again.
    """
    s = settings
    n_samples = num_samples(X)
    splits = list(s.cv.split(X, y))
    if s.verbose:
        logger.info("Cross-fitting %d stage estimators on %d folds.", len(templates), len(splits))
    covered = np.zeros(n_samples, dtype=bool)
    for _, test in splits:
        covered[test] = True
    if not covered.all():
        raise ValueError("cv must put every row in a test fold once (a partition, as KFold).")
    rows_per_chunk = _chunks.chunk_rows(s.row_bytes)
    in_one_chunk = all(len(test) <= rows_per_chunk for _, test in splits)
    parallel = Parallel(n_jobs=s.n_jobs, verbose=max(0, int(s.verbose) - 1), return_as="generator")
    if in_one_chunk:
        jobs = [
            delayed(_fold_outputs)(s.make_model, templates, X, y, sample_weight, tr, te, s.classes)
            for tr, te in splits
        ]
    else:
        jobs = [delayed(_fit_fold)(templates, X, y, sample_weight, tr) for tr, _ in splits]
    jobs += [delayed(_fit_stage)(t, X, y, sample_weight, None) for t in templates]
    results = list(progress_bar(s.verbose, len(jobs), "cross-fitting stages")(parallel(jobs)))
    fitted = results[len(splits) :]
    if in_one_chunk:
        outputs = np.zeros((n_samples,) + results[0].shape[1:])
        for (_, test), out in zip(splits, results[: len(splits)]):
            outputs[test] = out
        return outputs, fitted
    parts = []
    for (_, test), fold_fitted in zip(splits, results[: len(splits)]):
        model = s.make_model(fold_fitted, s.classes)
        parts += [(model, test[rows]) for rows in _chunks.row_slices(len(test), rows_per_chunk)]
    if s.verbose:
        logger.info("Computing the held-out outputs in %d chunks.", len(parts))
    return _outputs_of_parts(s, parts, X, n_samples, "held-out outputs"), fitted
