"""Taking rows of any input: arrays, sparse matrices, data frames, lists."""

import numpy as np

from ._compat import num_samples, safe_indexing


def safe_rows(X, rows):
    """The rows ``rows`` (indices or a slice) of an array, sparse matrix, DataFrame or list."""
    return safe_indexing(X, rows, axis=0)


def take_rows(X, rows):
    """The rows ``rows`` of ``X``: ``X`` itself, not a copy, when they are all of it in order.

    Every row reaches the first stage, so this saves a copy of the input (of the
    chunk, in ``predict``) there.
    """
    n_rows = num_samples(X)
    if len(rows) == n_rows and (n_rows == 0 or (np.diff(rows) == 1).all() and rows[0] == 0):
        return X
    if isinstance(X, np.ndarray):  # what safe_rows does, without its type dispatch
        return X[rows]
    return safe_rows(X, rows)


def optional_rows(X, rows):
    """``safe_rows(X, rows)``, or None when ``X`` is None."""
    return None if X is None else safe_rows(X, rows)
