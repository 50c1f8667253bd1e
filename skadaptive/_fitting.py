"""What ``fit`` computes with the stages: cross-fitted or frozen outputs, and costs.

Nothing here depends on the routing policies, so that ``memory`` can cache
:func:`stage_pass` and a search over policy parameters runs the stages once.
"""

import hashlib
import logging
import pickle

import numpy as np
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples, check_memory, has_fit_parameter

from . import _chunks, _compat
from ._stages import collect_outputs, measure_costs

logger = logging.getLogger("skadaptive")


def _fit_stage(estimator, X, y, sample_weight, rows):
    """Fit a clone of one stage on ``rows`` (None: all rows); frozen stages as they are."""
    estimator = clone(estimator)
    if isinstance(estimator, FrozenEstimator):
        return estimator
    if rows is not None:
        X, y = _compat.safe_rows(X, rows), y[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    if sample_weight is not None and has_fit_parameter(estimator, "sample_weight"):
        return estimator.fit(X, y, sample_weight=sample_weight)
    return estimator.fit(X, y)


def _fold_outputs(make_model, templates, X, y, sample_weight, train, test, classes):
    fitted = _fit_fold(templates, X, y, sample_weight, train)
    X_test = _compat.safe_rows(X, test)
    return collect_outputs(make_model(fitted, classes), X_test, len(test), classes)


def _fit_fold(templates, X, y, sample_weight, train):
    return [_fit_stage(t, X, y, sample_weight, train) for t in templates]


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


def _keyed_frozen_outputs(key, model, X, n_rows, classes):
    return collect_outputs(model, X, n_rows, classes)


def cached_stage_pass(memory, templates, *args):
    """:func:`stage_pass` through ``memory`` (None: no cache), keyed by :func:`stages_key`."""
    if memory is None:
        return stage_pass(templates, *args)
    cached = check_memory(memory).cache(
        stage_pass, ignore=["templates", "n_jobs", "verbose", "row_bytes"]
    )
    return cached(templates, *args, key=stages_key(templates))


def cached_frozen_outputs(memory, templates, model, X, classes):
    """Every frozen stage's outputs on ``X``, through ``memory``.

    Frozen stages answer a row the same way in every fit, so the scorers of a
    grid search (:func:`skadaptive.metrics.budget_scoring`) compute a held-out
    fold's outputs once for all candidates and route every candidate on them.
    """
    cached = check_memory(memory).cache(_keyed_frozen_outputs, ignore=["model"])
    return cached(stages_key(templates), model, X, _num_samples(X), classes)


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


def stage_pass(
    templates,
    make_model,
    X,
    y,
    sample_weight,
    classes,
    cv,
    cost_mode,
    timing_rows,
    n_jobs,
    verbose,
    row_bytes,
    key=None,
):
    """Everything ``fit`` computes with the stages, and nothing that depends on the policies.

    Returns the out-of-fold stage outputs (cross-fitting, or the frozen stages on
    every row), the fitted stages and the measured per-row stage times (None when
    ``cost_mode`` does not ask for them).  A module-level function of its inputs
    only, so that ``memory`` can cache it: a grid search over ``cost_weight`` or
    any other policy parameter then runs the stages once per training set.
    ``key`` is unused here: :func:`cached_stage_pass` passes :func:`stages_key`
    there, for the cache to hash instead of ``templates``.

    Stage outputs are computed in row chunks of at most ``working_memory`` (see
    :mod:`skadaptive._chunks`; ``row_bytes`` is the estimate per row), dispatched
    through joblib: the chunks of frozen stages' outputs, or, when a fold's
    held-out rows exceed one chunk, the chunks of every fold's held-out rows after
    the folds' stages are fitted.  The outputs do not depend on the chunks.
    """
    n_samples = _num_samples(X)
    joblib_verbose = max(0, int(verbose) - 1)
    if all_frozen(templates):
        fitted = [clone(t) for t in templates]
        model = make_model(fitted, classes)
        slices = _chunks.row_slices(
            n_samples, _chunks.chunk_rows(row_bytes, n_rows=n_samples, n_jobs=n_jobs)
        )
        if verbose:
            logger.info(
                "All stages are frozen: computing their outputs on %d rows in %d chunks.",
                n_samples,
                len(slices),
            )
        if len(slices) == 1:
            outputs = collect_outputs(model, X, n_samples, classes)
        else:
            outputs = _chunks.stage_outputs(
                [(model, rows) for rows in slices],
                X,
                n_samples,
                classes,
                n_jobs,
                joblib_verbose,
                progress_bar(verbose, len(slices), "frozen stages' outputs"),
            )
    else:
        outputs, fitted = _cross_fit(
            templates, make_model, X, y, sample_weight, classes, cv, n_jobs, verbose, row_bytes
        )
    measured = None
    model = make_model(fitted, classes)
    if cost_mode == "time" or (cost_mode == "auto" and getattr(model, "exit_costs_", None) is None):
        X_timing = _compat.safe_rows(X, timing_rows)
        if hasattr(model, "measure_exit_costs"):  # the model knows how to time its device
            measured = np.maximum(np.asarray(model.measure_exit_costs(X_timing), float), 1e-12)
        else:
            measured = measure_costs(model, X_timing, len(timing_rows))
        if verbose:
            logger.info("Measured per-row stage costs (seconds): %s", measured)
    return outputs, fitted, measured


def _cross_fit(templates, make_model, X, y, sample_weight, classes, cv, n_jobs, verbose, row_bytes):
    """Out-of-fold outputs and the stages refitted on every row.

    When every fold's held-out rows fit in one chunk, each job fits a fold's stages
    and computes their outputs at once; otherwise the jobs fit the folds' stages,
    and the held-out rows' outputs follow in chunks, through joblib again.
    """
    n_samples = _num_samples(X)
    splits = list(cv.split(X, y))
    if verbose:
        logger.info("Cross-fitting %d stage estimators on %d folds.", len(templates), len(splits))
    covered = np.zeros(n_samples, dtype=bool)
    for _, test in splits:
        covered[test] = True
    if not covered.all():
        raise ValueError("cv must put every row in a test fold once (a partition, as KFold).")
    joblib_verbose = max(0, int(verbose) - 1)
    rows_per_chunk = _chunks.chunk_rows(row_bytes)
    in_one_chunk = all(len(test) <= rows_per_chunk for _, test in splits)
    parallel = Parallel(n_jobs=n_jobs, verbose=joblib_verbose, return_as="generator")
    if in_one_chunk:
        jobs = [
            delayed(_fold_outputs)(make_model, templates, X, y, sample_weight, tr, te, classes)
            for tr, te in splits
        ]
    else:
        jobs = [delayed(_fit_fold)(templates, X, y, sample_weight, tr) for tr, _ in splits]
    jobs += [delayed(_fit_stage)(t, X, y, sample_weight, None) for t in templates]
    results = list(progress_bar(verbose, len(jobs), "cross-fitting stages")(parallel(jobs)))
    fitted = results[len(splits) :]
    if in_one_chunk:
        outputs = np.zeros((n_samples,) + results[0].shape[1:])
        for (_, test), out in zip(splits, results[: len(splits)]):
            outputs[test] = out
        return outputs, fitted
    parts = []
    for (_, test), fold_fitted in zip(splits, results[: len(splits)]):
        model = make_model(fold_fitted, classes)
        parts += [(model, test[rows]) for rows in _chunks.row_slices(len(test), rows_per_chunk)]
    if verbose:
        logger.info("Computing the held-out outputs in %d chunks.", len(parts))
    outputs = _chunks.stage_outputs(
        parts,
        X,
        n_samples,
        classes,
        n_jobs,
        joblib_verbose,
        progress_bar(verbose, len(parts), "held-out outputs"),
    )
    return outputs, fitted
