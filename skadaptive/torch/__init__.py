"""Torch models as stages: module wrappers and multi-exit networks.

Needs PyTorch (``pip install "skadaptive[torch]"``); ``import skadaptive`` does not.

- :class:`TorchClassifier`: a trained ``torch.nn.Module`` classifier as a
  scikit-learn classifier, usable as a :class:`~skadaptive.NetworkSelectionClassifier`
  stage (batched ``predict_proba`` on any device, in eval mode under
  ``torch.inference_mode``).
- :class:`MultiExitNetwork`: blocks with an exit head after each, implementing
  the multi-exit protocol of :class:`~skadaptive.EarlyExitClassifier`;
  activations stay on the device and later blocks run only on the rows still
  active.
- :func:`train_exit_heads`: exit heads for a frozen, pretrained backbone.
- :func:`export_adaptive` and :func:`save_adaptive`: a fitted
  :class:`~skadaptive.EarlyExitClassifier` over a :class:`MultiExitNetwork` as one
  plain ``torch.nn.Module`` (blocks, heads and exit policies), and saved with
  ``torch.export`` for serving without skadaptive or scikit-learn.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "skadaptive.torch needs PyTorch, which is not installed. Install the extra: "
        'pip install "skadaptive[torch]"'
    ) from exc

from ._classifier import TorchClassifier
from ._export import export_adaptive, save_adaptive
from ._heads import train_exit_heads
from ._multi_exit import MultiExitNetwork

__all__ = [
    "MultiExitNetwork",
    "TorchClassifier",
    "export_adaptive",
    "save_adaptive",
    "train_exit_heads",
]
