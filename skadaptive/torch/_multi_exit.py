"""MultiExitNetwork: blocks with an exit head after each, routed on the device."""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._common import TorchEstimatorMixin, as_tensor


class MultiExitNetwork(TorchEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A trained network with an exit after each block, for EarlyExitClassifier.

    Block ``k`` maps the activations of block ``k - 1`` (block 0: the input) to
    its own; head ``k`` maps block ``k``'s activations to class scores (logits).
    The network implements the multi-exit protocol of
    :class:`~skadaptive.EarlyExitClassifier`: activations stay on the device, at
    each exit the rows that stop are dropped from the batch (an index select), so
    later blocks run on fewer rows, and results come back in the input order.

    ``fit`` does not train (the blocks and heads are trained already): it records
    the classes and moves the modules to ``device``.  Cloning shares the modules.

    Parameters
    ----------
    blocks : list of torch.nn.Module
    heads : list of torch.nn.Module
        One head per block, returning scores of shape ``(n, n_classes)``.
    classes : array-like of shape (n_classes,), default=None
        Labels of the score columns; ``None`` means ``np.unique(y)`` at fit.
    device : str or torch.device, default="cpu"
    batch_size : int, default=256
        Rows per forward pass of a block.
    exit_costs : array-like of shape (n_exits,), default=None
        Incremental cost of each exit (for example FLOPs of block and head).
        ``None``: EarlyExitClassifier measures the time of each stage.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_exits_ : int
    exit_costs_ : ndarray of shape (n_exits,) or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skadaptive.torch import MultiExitNetwork
    >>> relu_linear = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 8))
    >>> blocks = [torch.nn.Linear(4, 8), relu_linear]
    >>> heads = [torch.nn.Linear(8, 3), torch.nn.Linear(8, 3)]
    >>> net = MultiExitNetwork(blocks, heads, classes=[0, 1, 2]).fit(np.zeros((2, 4)))
    >>> state = net.init_exits(np.ones((5, 4)))
    >>> net.predict_exit_proba(state, 0, np.arange(5)).shape
    (5, 3)
    >>> net.predict_exit_proba(state, 1, np.array([1, 3])).shape   # only rows 1 and 3 go on
    (2, 3)
    """

    _module_attributes = ("blocks", "heads")
    _parameter_constraints = {
        "blocks": [list],
        "heads": [list],
        "classes": ["array-like", None],
        "device": [str, torch.device],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "exit_costs": ["array-like", None],
    }

    def __init__(
        self, blocks, heads, *, classes=None, device="cpu", batch_size=256, exit_costs=None
    ):
        self.blocks = blocks
        self.heads = heads
        self.classes = classes
        self.device = device
        self.batch_size = batch_size
        self.exit_costs = exit_costs

    def fit(self, X=None, y=None):
        """Record the classes and exits and move the modules to ``device``; no training.

        Parameters
        ----------
        X : ignored
        y : array-like of shape (n_samples,), default=None
            Names the classes when ``classes`` is None.

        Returns
        -------
        self : MultiExitNetwork
        """
        self._validate_params()
        if len(self.blocks) != len(self.heads) or len(self.blocks) < 2:
            raise ValueError(
                f"Need one head per block and at least 2 blocks; got {len(self.blocks)} "
                f"blocks and {len(self.heads)} heads."
            )
        self.classes_ = self._fitted_classes(y)
        self.n_exits_ = len(self.blocks)
        self.exit_costs_ = None if self.exit_costs is None else np.asarray(self.exit_costs, float)
        device = self._device()
        for module in [*self.blocks, *self.heads]:
            module.to(device)
        return self

    # -- the multi-exit protocol -------------------------------------------------
    def init_exits(self, X):
        """Start routing ``X``: nothing is computed or copied to the device yet."""
        check_is_fitted(self)
        for module in [*self.blocks, *self.heads]:
            module.eval()
        return {"X": X, "rows": None, "h": None}

    @torch.inference_mode()
    def predict_exit_proba(self, state, k, rows):
        """Run block ``k`` and head ``k`` on ``rows``; keep their activations on the device."""
        rows = np.asarray(rows)
        device = self._device()
        if k == 0:
            inputs = None
        else:
            pos = np.searchsorted(state["rows"], rows)
            if np.any(pos >= len(state["rows"])) or not np.array_equal(state["rows"][pos], rows):
                raise ValueError(f"Exit {k} got rows that did not compute exit {k - 1}.")
            index = torch.as_tensor(pos, device=device)
            inputs = state["h"].index_select(0, index)
        acts, probas = [], []
        for start in range(0, len(rows), self.batch_size):
            if inputs is None:
                batch = as_tensor(state["X"][rows[start : start + self.batch_size]], device)
            else:
                batch = inputs[start : start + self.batch_size]
            h = self.blocks[k](batch)
            acts.append(h)
            probas.append(torch.softmax(self.heads[k](h), dim=1))
        state["h"] = torch.cat(acts) if len(acts) > 1 else acts[0]
        state["rows"] = rows
        return torch.cat(probas).cpu().double().numpy()

    @torch.inference_mode()
    def predict_proba(self, X):
        """Probabilities at the last exit (the full network) for every row."""
        state = self.init_exits(X)
        rows = np.arange(len(X))
        for k in range(self.n_exits_):
            proba = self.predict_exit_proba(state, k, rows)
        return proba

    def predict(self, X):
        """The most probable class at the last exit."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
