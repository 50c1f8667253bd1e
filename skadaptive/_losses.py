"""Stage outputs, labels and the per-row loss of answering with each stage.

What the reduction (:mod:`skadaptive._reduction`) takes as input: for every row
and stage, the loss of answering there.  Everything here is pure numpy.
"""

import numpy as np
from sklearn.utils.validation import column_or_1d

__all__ = ["as_outputs", "check_outputs", "encode_labels", "output_classes", "stage_losses"]


def as_outputs(stage_outputs):
    """Stage outputs as one float array of shape (n_samples, n_stages, n_classes)."""
    if isinstance(stage_outputs, (list, tuple)):
        stage_outputs = np.stack([np.asarray(o, dtype=float) for o in stage_outputs], axis=1)
    return np.asarray(stage_outputs, dtype=float)


def check_outputs(stage_outputs, name="stage_outputs"):
    """``stage_outputs`` as a finite float array of shape (n_samples, n_stages >= 2, n_classes).

    Raises a ValueError that names ``name`` and what is wrong.
    """
    outputs = as_outputs(stage_outputs)
    if outputs.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_samples, n_stages >= 2, n_classes), or be a list "
            f"of n_stages arrays of shape (n_samples, n_classes); got shape {outputs.shape}."
        )
    if outputs.shape[1] < 2:
        raise ValueError(f"At least 2 stages are needed, got {outputs.shape[1]} in {name}.")
    if outputs.shape[0] == 0:
        raise ValueError(f"{name} has 0 rows; at least 1 is required.")
    if not np.all(np.isfinite(outputs)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return outputs


def output_classes(classes, y, n_columns, name="stage_outputs"):
    """The label of each output column: ``classes``, else ``np.unique(y)``, else ``0..n-1``.

    Raises a ValueError when their number differs from the outputs' columns.
    """
    if classes is not None:
        classes = np.asarray(classes)
    elif y is not None:
        classes = np.unique(column_or_1d(y))
    else:
        classes = np.arange(n_columns)
    if len(classes) != n_columns:
        raise ValueError(
            f"{name} has {n_columns} columns but there are {len(classes)} classes; pass "
            "classes= to name the columns."
        )
    return classes


def encode_labels(y, classes):
    """Column index of each label in ``classes`` (which need not be sorted)."""
    if not np.isin(y, classes).all():
        raise ValueError(f"y contains labels that are not in classes {classes.tolist()}.")
    sorter = np.argsort(classes)
    return sorter[np.searchsorted(classes, y, sorter=sorter)]


def stage_losses(outputs, y, classes, loss="zero_one", top_k=5):
    """Per-row loss of answering with each stage.

    Parameters
    ----------
    outputs : ndarray of shape (n_samples, n_stages, n_classes)
        Class probabilities of each stage, columns ordered as ``classes``.
    y : ndarray of shape (n_samples,)
        The true labels.
    classes : ndarray of shape (n_classes,)
        The label of each column.
    loss : {"zero_one", "top_k"} or callable, default="zero_one"
        ``"zero_one"``: 1 where the argmax is wrong.  ``"top_k"``: 1 where the true
        class is not among the ``top_k`` largest probabilities.  A callable gets
        ``(y, proba)`` for one stage and returns a loss per row.
    top_k : int, default=5
        The ``k`` of ``"top_k"``.

    Returns
    -------
    losses : ndarray of shape (n_samples, n_stages)
    """
    n_samples, n_stages, _ = outputs.shape
    if callable(loss):
        losses = np.column_stack(
            [column_or_1d(loss(y, outputs[:, k])) for k in range(n_stages)]
        ).astype(float)
        if losses.shape != (n_samples, n_stages) or not np.all(np.isfinite(losses)):
            raise ValueError("The loss callable must return one finite value per row.")
        return losses
    y_encoded = encode_labels(y, classes)
    if loss == "zero_one":
        return (outputs.argmax(axis=2) != y_encoded[:, None]).astype(float)
    # top_k: the number of classes scoring strictly higher than the true one,
    # ties broken towards the lower column index as argsort would.
    true_p = outputs[np.arange(n_samples), :, y_encoded]  # (n_samples, n_stages)
    higher = (outputs > true_p[:, :, None]).sum(axis=2)
    cols = np.arange(outputs.shape[2])
    tied_before = ((outputs == true_p[:, :, None]) & (cols < y_encoded[:, None, None])).sum(axis=2)
    return (higher + tied_before >= top_k).astype(float)
