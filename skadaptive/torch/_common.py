"""What the torch wrappers share: devices, batching, cloning and persistence."""

import copy
import io
import warnings

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

__all__ = ["TorchEstimatorMixin", "as_tensor", "resolve_device"]


def resolve_device(device):
    """A ``torch.device`` from "cpu", "cuda", "cuda:1" or a ``torch.device``."""
    return device if isinstance(device, torch.device) else torch.device(device)


def as_tensor(X, device):
    """Rows of X as a float32 tensor on ``device`` (tensors are moved, not copied twice)."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)


def _module_to_blob(module):
    """A picklable form of a module whose weights load with ``weights_only=True``."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    skeleton = copy.deepcopy(module).to("meta")  # the architecture, without the weights
    return {"skeleton": skeleton, "state_dict": buffer.getvalue()}


def _blob_to_module(blob, device):
    state_dict = torch.load(io.BytesIO(blob["state_dict"]), map_location=device, weights_only=True)
    module = blob["skeleton"].to_empty(device=device)
    module.load_state_dict(state_dict)
    return module


class TorchEstimatorMixin:
    """Cloning without copying weights, and persistence across devices.

    Subclasses list their module-valued attributes in ``_module_attributes``.
    """

    _module_attributes = ()

    def __sklearn_clone__(self):
        # Like FrozenEstimator: a clone shares the trained modules, it does not copy them.
        return type(self)(**self.get_params(deep=False))

    def _fitted_classes(self, y):
        """``classes`` if given, else the labels in ``y``."""
        if self.classes is not None:
            return np.asarray(self.classes)
        if y is None:
            raise ValueError("Pass classes= or y to fit, to name the output columns.")
        y = column_or_1d(y)
        check_classification_targets(y)
        return np.unique(y)

    def _device(self):
        return resolve_device(self.device)

    def _modules(self):
        for name in self._module_attributes:
            value = getattr(self, name)
            yield from value if isinstance(value, (list, tuple)) else [value]

    def _to_device(self):
        """Move every module to ``device``, in eval mode (what ``fit`` does)."""
        device = self._device()
        for module in self._modules():
            module.to(device).eval()

    def _eval_modules(self):
        """Put the modules in eval mode, walking a module tree only where it is not.

        ``Module.eval()`` visits every submodule (about 30 us for a small CNN), too
        much to pay on every predict call; the top-level flag is read instead, and
        a module that the user put back in training mode is switched again.
        """
        for module in self._modules():
            if module.training:
                module.eval()

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_module_blobs"] = {}
        for name in self._module_attributes:
            value = state.pop(name, None)
            if isinstance(value, (list, tuple)):
                blob = _module_to_blob(torch.nn.ModuleList(value))
                state["_module_blobs"][name] = dict(blob, as_list=True)
            elif value is not None:
                state["_module_blobs"][name] = _module_to_blob(value)
        state["device"] = str(self.device)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blobs = state.pop("_module_blobs", {})
        device = resolve_device(state["device"])
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was saved on {device} but CUDA is not available: "
                "loading it on the CPU and setting device='cpu'.",
                UserWarning,
                stacklevel=2,
            )
            state["device"] = device = "cpu"
        for name, blob in blobs.items():
            module = _blob_to_module(blob, device)
            state[name] = list(module) if blob.get("as_list") else module
        super().__setstate__(state)
