"""TorchClassifier: a trained torch module as a scikit-learn classifier."""

from __future__ import annotations

import numbers
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, fit_context
from .._validation import Float64Array
from ._common import Rows, TorchEstimatorMixin, as_tensor

_Classifier = TypeVar("_Classifier", bound="TorchClassifier")


class TorchClassifier(TorchEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A trained ``torch.nn.Module`` classifier as a scikit-learn classifier.

    ``fit`` does not train: it records the classes (the module is already
    trained), so the wrapper can be a stage of
    :class:`~skadaptive.NetworkSelectionClassifier` as it is, or wrapped in
    :class:`sklearn.frozen.FrozenEstimator`.  Either way the policies must learn
    on rows the module was not trained on.  Cloning shares the module: weights are
    never copied.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a float32 batch of shape ``(n, ...)`` to scores of shape
        ``(n, n_classes)``, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,), default=None
        The label of each output column; ``None`` means ``np.unique(y)`` at fit.
    device : str or torch.device, default="cpu"
        Where the module runs ("cpu", "cuda", "cuda:1", ...).  The module is moved
        there at fit (``module.to(device)``, in place).
    batch_size : int, default=256
        Rows per forward pass.
    output : {"logits", "proba", "log_proba"}, default="logits"
        What the module returns; logits and log-probabilities go through a softmax.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The label of each output column: ``classes``, or the labels of ``y``.

    See Also
    --------
    MultiExitNetwork : A torch network with an exit after each block.
    skadaptive.NetworkSelectionClassifier : Routes rows through a ladder of models.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skadaptive.torch import TorchClassifier
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(4, 3)   # a trained classifier, in practice
    >>> clf = TorchClassifier(net, classes=["a", "b", "c"]).fit()
    >>> X = np.random.default_rng(0).normal(size=(3, 4))
    >>> clf.predict_proba(X).round(2)
    array([[0.24, 0.38, 0.38],
           [0.13, 0.56, 0.31],
           [0.27, 0.35, 0.38]])
    >>> clf.predict(X)
    array(['c', 'b', 'c'], dtype='<U1')
    """

    _module_attributes = ("module",)
    _parameter_constraints = {
        "module": [torch.nn.Module],
        "classes": ["array-like", None],
        "device": [str, torch.device],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "output": [StrOptions({"logits", "proba", "log_proba"})],
    }

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        classes: ArrayLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        output: Literal["logits", "proba", "log_proba"] = "logits",
    ) -> None:
        self.module = module
        self.classes = classes
        self.device = device
        self.batch_size = batch_size
        self.output = output

    @fit_context
    def fit(self: _Classifier, X: Any = None, y: ArrayLike | None = None) -> _Classifier:
        """Record the classes and move the module to ``device``; no training.

        Parameters
        ----------
        X : ignored
            Not used, present for API consistency.
        y : array-like of shape (n_samples,), default=None
            Names the classes when ``classes`` is None.

        Returns
        -------
        self : TorchClassifier
            The wrapper, with ``classes_`` set.
        """
        self.classes_ = self._fitted_classes(y)
        self._to_device()
        return self

    @torch.inference_mode()
    def predict_proba(self, X: Rows) -> Float64Array:
        """Class probabilities, in batches of ``batch_size`` rows.

        The module runs in eval mode, under ``torch.inference_mode``, on
        ``device``; each batch is copied there as float32.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape the module takes.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The class probabilities (float64, on the host), columns in the order of
            ``classes_``.
        """
        check_is_fitted(self)
        device = self._device()
        self._eval_modules()
        n = len(X)
        out = []
        for start in range(0, n, self.batch_size):
            scores = self.module(as_tensor(X[start : start + self.batch_size], device))
            out.append(self._to_proba(scores).cpu())
        proba = torch.cat(out) if out else torch.empty((0, len(self.classes_)))
        if proba.shape[1] != len(self.classes_):
            raise ValueError(
                f"The module returned {proba.shape[1]} columns for {len(self.classes_)} classes."
            )
        return proba.double().numpy()

    def _to_proba(self, scores):
        if self.output == "proba":
            return scores
        return torch.softmax(scores, dim=1)

    def predict(self, X: Rows) -> NDArray[Any]:
        """Predict the most probable class of each row.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            The input rows, in the shape the module takes.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The label in ``classes_`` of each row's largest probability.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # the module decides
        return tags


TorchClassifier.__module__ = "skadaptive.torch"  # where saved files find it
