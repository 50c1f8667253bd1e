"""Policy features built from the stage outputs seen so far.

The policy at exit ``k`` sees, for every stage evaluated on the row's route
(stages ``0..k``), a small block computed from that stage's class probabilities.
Blocks are computed once per stage and concatenated, so the feature vector at
exit ``k`` costs ``O(n_classes)`` per new stage whatever ``k`` is.
"""

import numpy as np
from scipy import sparse

N_TOP = 3  # largest sorted probabilities kept by the "summary" features
EPS = 1e-12  # probability floor of the entropy


def entropy(proba):
    """The entropy (in nats) of each row of class probabilities.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    entropy : ndarray of shape (n_samples,)
    """
    return -np.sum(proba * np.log(np.clip(proba, EPS, None)), axis=-1)


def summary_width(n_classes):
    """Columns of :func:`summary_block` for ``n_classes`` classes."""
    return min(N_TOP, n_classes) + 2


def summary_block(proba):
    """The few largest sorted probabilities, the top-two margin and the entropy.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    block : ndarray of shape (n_samples, min(3, n_classes) + 2)
    """
    proba = np.asarray(proba, dtype=float)
    n_top = min(N_TOP, proba.shape[1])
    block = np.empty((proba.shape[0], n_top + 2))
    block[:, :n_top] = np.sort(proba, axis=1)[:, : -n_top - 1 : -1]  # largest first
    block[:, n_top] = block[:, 0] - block[:, 1] if n_top > 1 else block[:, 0]
    block[:, n_top + 1] = entropy(proba)
    return block


class FeatureBuilder:
    """Turn stage probabilities (and optionally X) into a policy's input.

    Parameters
    ----------
    kind : {"summary", "proba", "proba+X"} or callable
        ``"summary"``: :func:`summary_block` of each stage so far.
        ``"proba"``: the full probability vector of each stage so far.
        ``"proba+X"``: those plus the raw input row.
        A callable gets ``(stage_probas, X_rows)``, where ``stage_probas`` is the
        list of the ``(n_rows, n_classes)`` arrays of the stages so far, and returns
        a 2-D array.
    """

    def __init__(self, kind="summary"):
        self.kind = kind

    @property
    def uses_X(self):
        return callable(self.kind) or self.kind == "proba+X"

    def width(self, n_classes):
        """Columns of :meth:`block` for ``n_classes`` classes."""
        return summary_width(n_classes) if self.kind == "summary" else n_classes

    def block(self, proba):
        """The cached per-stage block (``None`` for a callable)."""
        if callable(self.kind):
            return None
        if self.kind == "summary":
            return summary_block(proba)
        return np.asarray(proba, dtype=float)

    def build(self, blocks, probas, X_rows=None):
        """Features for the rows whose stages so far gave ``blocks``/``probas``."""
        if callable(self.kind):
            out = self.kind(list(probas), X_rows)
            return np.asarray(out) if not sparse.issparse(out) else out
        features = np.hstack(blocks)
        if self.kind == "proba+X":
            if sparse.issparse(X_rows):
                return sparse.hstack([sparse.csr_matrix(features), X_rows], format="csr")
            return np.hstack([features, np.asarray(X_rows, dtype=float)])
        return features
