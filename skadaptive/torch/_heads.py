"""Training exit heads on a frozen, pretrained backbone (the paper's setting)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d

from .._losses import encode_labels
from .._validation import RandomState
from ._common import Rows, as_tensor, resolve_device

logger = logging.getLogger("skadaptive")

_Heads = TypeVar("_Heads", bound=Sequence[torch.nn.Module])


def train_exit_heads(
    blocks: Sequence[torch.nn.Module],
    heads: _Heads,
    X: Rows,
    y: ArrayLike,
    *,
    classes: ArrayLike | None = None,
    frozen_heads: Sequence[int] = (),
    epochs: int = 5,
    lr: float = 1e-3,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    random_state: RandomState = None,
    verbose: int = 0,
) -> _Heads:
    """Train exit heads on the activations of a frozen backbone.

    The blocks are not trained (their parameters keep ``requires_grad`` as it was
    but get no updates); each head ``k`` learns to classify block ``k``'s
    activations with cross-entropy, all heads in one pass per batch.  Pass rows the
    routing policies will *not* be fitted on.

    Parameters
    ----------
    blocks : list of torch.nn.Module
        The pretrained backbone, cut into blocks.
    heads : list of torch.nn.Module
        One head per block, trained in place (except those in ``frozen_heads``).
    X : array-like or torch.Tensor of shape (n_samples, ...)
        The training rows, in the shape block 0 takes; each batch is copied to
        ``device`` as float32.
    y : array-like of shape (n_samples,)
        The labels of the rows, all in ``classes``.
    classes : array-like, default=None
        Label of each output column; ``None`` means ``np.unique(y)``.
    frozen_heads : sequence of int, default=()
        Heads to leave as they are (for example the backbone's own classifier).
    epochs : int, default=5
        The number of passes over the rows, each in a new random order.
    lr : float, default=1e-3
        Adam's learning rate.
    batch_size : int, default=128
        Rows per training step.
    device : str or torch.device, default="cpu"
        Where the blocks and heads are trained; they are moved there
        (``module.to(device)``, in place) and stay there.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and torch's generator.
    verbose : int, default=0
        Log the mean loss per epoch to the "skadaptive" logger.

    Returns
    -------
    heads : list of torch.nn.Module
        The same objects, trained, in eval mode.

    See Also
    --------
    MultiExitNetwork : The blocks and their trained heads, as a multi-exit model.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skadaptive.torch import MultiExitNetwork, train_exit_heads
    >>> _ = torch.manual_seed(0)
    >>> blocks = [torch.nn.Linear(4, 8), torch.nn.Linear(8, 8)]   # a pretrained backbone
    >>> heads = [torch.nn.Linear(8, 2), torch.nn.Linear(8, 2)]
    >>> X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> heads = train_exit_heads(blocks, heads, X, y, epochs=50, lr=0.05, random_state=0)
    >>> net = MultiExitNetwork(blocks, heads).fit(X, y)
    >>> state = net.init_exits(X)
    >>> for k in range(net.n_exits_):   # the accuracy of each exit
    ...     proba = net.predict_exit_proba(state, k, np.arange(64))
    ...     print(k, round(float(np.mean(proba.argmax(axis=1) == y)), 2))
    0 0.97
    1 0.89
    """
    if len(blocks) != len(heads):
        raise ValueError(f"Need one head per block; got {len(blocks)} and {len(heads)}.")
    device = resolve_device(device)
    y = cast("NDArray[Any]", column_or_1d(y))  # sklearn is not typed
    classes = np.unique(y) if classes is None else np.asarray(classes)
    targets = torch.as_tensor(encode_labels(y, classes), device=device)
    if not isinstance(X, torch.Tensor):
        X = np.asarray(X, dtype=np.float32)
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.randint(2**31 - 1)))
    trained = [k for k in range(len(heads)) if k not in set(frozen_heads)]
    for module in blocks:
        module.to(device).eval()
    for k, head in enumerate(heads):
        head.to(device).train(k in trained)
    params = [p for k in trained for p in heads[k].parameters()]
    if not params:
        return heads
    optimizer = torch.optim.Adam(params, lr=lr)
    n = len(y)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            h = as_tensor(X[idx], device)
            loss: Any = 0.0  # a tensor once a head's loss is added
            for k, block in enumerate(blocks):
                with torch.no_grad():
                    h = block(h)
                if k in trained:
                    loss = loss + torch.nn.functional.cross_entropy(
                        heads[k](h), targets[torch.as_tensor(idx, device=device)]
                    )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        if verbose:
            logger.info("exit heads: epoch %d, mean loss %.4f", epoch + 1, total / n)
    for head in heads:
        head.eval()
    return heads
