"""MultiExitNetwork: blocks with an exit head after each, routed on the device."""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, fit_context
from .._features import EPS, N_TOP
from .._stages import iter_stage_outputs
from .._validation import Float64Array
from ._common import Rows, TorchEstimatorMixin, as_tensor

_Network = TypeVar("_Network", bound="MultiExitNetwork")


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
        The trained backbone, cut into at least 2 blocks, in order: block 0 takes
        a float32 batch of input rows, block ``k`` the output of block ``k - 1``.
    heads : list of torch.nn.Module
        One head per block, returning scores of shape ``(n, n_classes)``.
    classes : array-like of shape (n_classes,), default=None
        Labels of the score columns; ``None`` means ``np.unique(y)`` at fit.
    device : str or torch.device, default="cpu"
        Where the blocks and heads run ("cpu", "cuda", "cuda:1", ...).  They are
        moved there at fit (``module.to(device)``, in place).
    batch_size : int, default=256
        Rows per forward pass of a block.
    exit_costs : array-like of shape (n_exits,), default=None
        Incremental cost of each exit (for example FLOPs of block and head).
        ``None``: EarlyExitClassifier measures the time of each stage.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The label of each score column: ``classes``, or the labels of ``y``.
    n_exits_ : int
        The number of exits (blocks).
    exit_costs_ : ndarray of shape (n_exits,) or None
        ``exit_costs`` as floats; None when it is None.

    See Also
    --------
    train_exit_heads : Train the heads on a frozen, pretrained backbone.
    TorchClassifier : One torch classifier as a scikit-learn classifier.
    skadaptive.EarlyExitClassifier : Routes rows through the exits of such a network.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skadaptive.torch import MultiExitNetwork
    >>> _ = torch.manual_seed(0)
    >>> relu_linear = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 8))
    >>> blocks = [torch.nn.Linear(4, 8), relu_linear]
    >>> heads = [torch.nn.Linear(8, 3), torch.nn.Linear(8, 3)]
    >>> net = MultiExitNetwork(blocks, heads, classes=[0, 1, 2]).fit()
    >>> X = np.random.default_rng(0).normal(size=(4, 4))
    >>> state = net.init_exits(X)
    >>> net.predict_exit_proba(state, 0, np.arange(4)).round(2)
    array([[0.37, 0.32, 0.31],
           [0.31, 0.41, 0.28],
           [0.39, 0.28, 0.32],
           [0.44, 0.21, 0.34]])

    Only rows 1 and 3 go on to exit 1, which runs block 1 on their activations
    from block 0; they get what the full network gives them:

    >>> net.predict_exit_proba(state, 1, np.array([1, 3])).round(2)
    array([[0.29, 0.34, 0.37],
           [0.27, 0.32, 0.41]])
    >>> net.predict_proba(X[[1, 3]]).round(2)
    array([[0.29, 0.34, 0.37],
           [0.27, 0.32, 0.41]])
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
        self,
        blocks: Sequence[torch.nn.Module],
        heads: Sequence[torch.nn.Module],
        *,
        classes: ArrayLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        exit_costs: ArrayLike | None = None,
    ) -> None:
        self.blocks = blocks
        self.heads = heads
        self.classes = classes
        self.device = device
        self.batch_size = batch_size
        self.exit_costs = exit_costs

    @fit_context
    def fit(self: _Network, X: Any = None, y: ArrayLike | None = None) -> _Network:
        """Record the classes and exits and move the modules to ``device``; no training.

        Parameters
        ----------
        X : ignored
            Not used, present for API consistency.
        y : array-like of shape (n_samples,), default=None
            Names the classes when ``classes`` is None.

        Returns
        -------
        self : MultiExitNetwork
            The network, with ``classes_``, ``n_exits_`` and ``exit_costs_`` set.
        """
        if len(self.blocks) != len(self.heads) or len(self.blocks) < 2:
            raise ValueError(
                f"Need one head per block and at least 2 blocks; got {len(self.blocks)} "
                f"blocks and {len(self.heads)} heads."
            )
        self.classes_ = self._fitted_classes(y)
        self.n_exits_ = len(self.blocks)
        self.exit_costs_ = None if self.exit_costs is None else np.asarray(self.exit_costs, float)
        self._to_device()
        return self

    # -- the multi-exit protocol -------------------------------------------------
    def init_exits(self, X: Rows) -> dict[str, Any]:
        """Start routing ``X``: nothing is computed or copied to the device yet.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape block 0 takes; indexed by row with an
            integer array at exit 0.

        Returns
        -------
        state : dict
            The input (``"X"``), and the rows that computed the latest exit with
            their activations on the device (``"rows"`` and ``"h"``, None until
            exit 0), which :meth:`predict_exit_proba` updates.
        """
        check_is_fitted(self)
        self._eval_modules()
        return {"X": X, "rows": None, "h": None}

    def _run_stage(self, k, inputs, device):
        """Block ``k`` and head ``k`` on ``inputs``, ``batch_size`` rows at a time.

        ``inputs``: the rows of X (array) or the activations of block ``k - 1``.
        Returns the activations and the class probabilities (float32, on the device).
        """
        acts, probas = [], []
        for start in range(0, len(inputs), self.batch_size):
            h = self.blocks[k](as_tensor(inputs[start : start + self.batch_size], device))
            acts.append(h)
            probas.append(torch.softmax(self.heads[k](h), dim=1))
        if len(acts) == 1:
            return acts[0], probas[0]
        return torch.cat(acts), torch.cat(probas)

    @torch.inference_mode()
    def predict_exit_proba(self, state: dict[str, Any], k: int, rows: ArrayLike) -> Float64Array:
        """Run block ``k`` and head ``k`` on ``rows``; keep their activations on the device.

        Parameters
        ----------
        state : dict
            What :meth:`init_exits` returned, updated in place.
        k : int
            The exit.
        rows : array-like of int
            The indices, into the rows given to :meth:`init_exits`, of the rows to
            advance, in increasing order.  For ``k > 0`` they must be among the
            rows of the call for exit ``k - 1``, whose activations block ``k``
            continues from.

        Returns
        -------
        proba : ndarray of shape (len(rows), n_classes)
            The softmax of head ``k``'s scores for those rows (float64, on the
            host).

        Raises
        ------
        ValueError
            If, for ``k > 0``, some of ``rows`` did not compute exit ``k - 1``.
        """
        rows = np.asarray(rows)
        device = self._device()
        if k == 0:
            inputs = state["X"][rows]
        else:
            pos = np.searchsorted(state["rows"], rows)
            if np.any(pos >= len(state["rows"])) or not np.array_equal(state["rows"][pos], rows):
                raise ValueError(f"Exit {k} got rows that did not compute exit {k - 1}.")
            inputs = state["h"].index_select(0, torch.as_tensor(pos, device=device))
        state["h"], proba = self._run_stage(k, inputs, device)
        state["rows"] = rows
        return proba.cpu().double().numpy()

    @torch.inference_mode()
    def route_linear(self, X: Rows, rule: Bunch) -> tuple[Float64Array, NDArray[np.int64]]:
        """Route every row of ``X`` on the device, with linear exit policies.

        The optional part of the multi-exit protocol that
        :class:`~skadaptive.EarlyExitClassifier` uses when its policies are linear
        (the default logistic regression, on ``"summary"`` or ``"proba"``
        features).  The policy features, a running policy score per remaining exit
        and the decisions are computed on the device, in float64 from the float32
        probabilities, as the host would; the rows that stop are dropped from the
        activations, scores and row ids with one index select per exit.  The answers
        (probabilities and exit index per row) are gathered on the device and copied
        to the host once, at the end; inside the exit loop the only host
        synchronisation is the number of rows that go on (``torch.nonzero``), which
        the compaction needs.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape block 0 takes.
        rule : Bunch
            ``features`` ("summary" or "proba"), ``weights`` (one array of shape
            ``(block_width, n_exits - 1)`` per non-final exit) and ``intercept``
            (shape ``(n_exits - 1,)``): a row continues past exit ``k`` where
            ``sum_j block_j @ weights[j][:, k] + intercept[k] > 0`` over the exits
            ``j <= k`` it computed.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the exit that answers each row.
        stage : ndarray of shape (n_samples,)
            Index of that exit.
        """
        check_is_fitted(self)
        self._eval_modules()
        device = self._device()
        n_samples, n_exits = len(X), self.n_exits_
        weights, intercept = rule_tensors(rule, device)
        out_proba = torch.zeros((n_samples, len(self.classes_)), device=device)
        out_stage = torch.zeros((n_samples,), dtype=torch.long, device=device)
        ids = torch.arange(n_samples, device=device)  # input row of each active row
        h, scores = X, None
        for k in range(n_exits):
            h, proba = self._run_stage(k, h, device)
            # Every active row gets exit k's answer; the rows that go on overwrite it
            # later, so that the rows that stop need no index of their own.
            out_proba.index_copy_(0, ids, proba)
            out_stage.index_fill_(0, ids, k)
            if k == n_exits - 1:
                break
            scores = add_policy_scores(scores, proba, rule.features, weights[k])
            go = scores[:, k] + intercept[k] > 0
            # The one host synchronisation per exit: the number of rows that go on,
            # which the index select (the compaction) needs.
            keep = torch.nonzero(go).squeeze(1)
            if len(keep) == 0:
                break
            ids, h = ids.index_select(0, keep), h.index_select(0, keep)
            scores = scores.index_select(0, keep)
        return out_proba.cpu().double().numpy(), out_stage.cpu().numpy()

    @torch.inference_mode()
    def measure_exit_costs(self, X: Rows, repeats: int = 7) -> Float64Array:
        """Median seconds per row of each exit's block and head, timed on the device.

        Every row of ``X`` runs every exit, ``batch_size`` rows per forward pass,
        after one untimed warm-up pass.  On a GPU each stage is timed with CUDA
        events (the GPU's own clock, no host round trip inside a stage); elsewhere
        with ``time.perf_counter`` around synchronous calls.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The rows to time the exits on, copied to the device at once.
        repeats : int, default=7
            The number of timed passes, after the warm-up; the median is kept.

        Returns
        -------
        seconds : ndarray of shape (n_exits,)
            The median time of each exit (its block and head) divided by the
            number of rows.
        """
        check_is_fitted(self)
        self._eval_modules()
        device = self._device()
        X_t = as_tensor(X, device)
        cuda = device.type == "cuda"
        times = np.zeros((repeats + 1, self.n_exits_))
        for r in range(repeats + 1):
            h = X_t
            if cuda:
                events = [torch.cuda.Event(enable_timing=True) for _ in range(self.n_exits_ + 1)]
                events[0].record()
            else:
                t0 = time.perf_counter()
            for k in range(self.n_exits_):
                h, _ = self._run_stage(k, h, device)
                if cuda:
                    events[k + 1].record()
                else:
                    t1 = time.perf_counter()
                    times[r, k] = t1 - t0
                    t0 = t1
            if cuda:
                torch.cuda.synchronize(device)
                times[r] = [a.elapsed_time(b) / 1e3 for a, b in zip(events, events[1:])]
        return np.median(times[1:], axis=0) / len(X_t)

    @torch.inference_mode()
    def predict_proba(self, X: Rows) -> Float64Array:
        """Compute the probabilities at the last exit (the full network) for every row.

        Every row runs every block and head (no routing); the last exit answers.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape block 0 takes.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The softmax of the last head's scores (float64, on the host).
        """
        *_, proba = iter_stage_outputs(self, X, self.classes_)  # every exit, every row
        return proba

    def predict(self, X: Rows) -> NDArray[Any]:
        """Predict the most probable class at the last exit (the full network).

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape block 0 takes.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The label in ``classes_`` of each row's largest probability.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _summary_block(proba):
    """:func:`skadaptive._features.summary_block` in torch, on the device."""
    n_top = min(N_TOP, proba.shape[1])
    top = torch.topk(proba, n_top, dim=1).values
    margin = top[:, :1] - top[:, 1:2] if n_top > 1 else top[:, :1]
    entropy = -(proba * torch.log(torch.clamp(proba, min=EPS))).sum(dim=1, keepdim=True)
    return torch.cat([top, margin, entropy], dim=1)


def add_policy_scores(scores, proba, features, weights):
    """The running policy scores after one more exit, in float64 on the device.

    ``proba``: the exit's probabilities for the active rows; ``weights``: the rule's
    ``(block_width, n_exits - 1)`` matrix of that exit; ``scores``: the scores so
    far (None at exit 0).  Shared by ``route_linear`` and the exported module, so
    that both decide alike.
    """
    block = proba.double()
    if features == "summary":
        block = _summary_block(block)
    part = block @ weights
    return part if scores is None else scores + part


def rule_tensors(rule, device):
    """A linear exit rule's weights (one stacked tensor) and intercepts, float64 on ``device``.

    One copy to the device for all the weights, made before the exit loop.
    """
    weights = torch.as_tensor(np.stack(rule.weights), dtype=torch.float64, device=device)
    intercept = torch.as_tensor(rule.intercept, dtype=torch.float64, device=device)
    return weights, intercept


MultiExitNetwork.__module__ = "skadaptive.torch"  # where saved files find it
