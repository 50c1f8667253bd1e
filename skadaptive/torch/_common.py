"""What the torch wrappers share: devices, batching, cloning and persistence."""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .._saving import TORCH_TEMPLATES, WEIGHTS_ONLY

__all__ = ["Rows", "TorchEstimatorMixin", "as_tensor", "resolve_device"]

Rows: TypeAlias = NDArray[Any] | torch.Tensor | Sequence[Any]
"""Input rows of a torch wrapper: an array, a tensor or a sequence of rows (sliced in batches)."""


def resolve_device(device):
    """A ``torch.device`` from "cpu", "cuda", "cuda:1" or a ``torch.device``."""
    return device if isinstance(device, torch.device) else torch.device(device)


def check_device_available(device):
    """Raise a ValueError that says what to do when ``device`` is CUDA without CUDA."""
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} but torch.cuda.is_available() is False (no GPU, or a "
            "CPU-only torch build): pass device='cpu', or install a CUDA build of torch on "
            "a machine with a GPU."
        )


def as_tensor(X, device):
    """Rows of X as a float32 tensor on ``device`` (tensors are moved, not copied twice)."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)


def _as_module(value):
    """A module attribute as one module (a list becomes a ModuleList), and whether it was a list."""
    as_list = isinstance(value, (list, tuple))
    return (torch.nn.ModuleList(value) if as_list else value), as_list


def _state_dict_bytes(module):
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


def _load_state_dict(data, device):
    """Weights saved by :func:`_state_dict_bytes`, read with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location=device, weights_only=True)


def _module_to_blob(module):
    """A picklable form of a module whose weights load with ``weights_only=True``."""
    skeleton = copy.deepcopy(module).to("meta")  # the architecture, without the weights
    return {"skeleton": skeleton, "state_dict": _state_dict_bytes(module)}


def _blob_to_module(blob, device):
    module = blob["skeleton"].to_empty(device=device)
    module.load_state_dict(_load_state_dict(blob["state_dict"], device))
    return module


def _next_template(cls):
    """The next of the ``torch_stages`` given to skadaptive.persistence.load."""
    context = TORCH_TEMPLATES.get()
    given = 0 if context is None else context.get("given", 0)
    if given and not context["templates"]:
        raise ValueError(
            f"The file has more torch stages than the {given} torch_stages passed: the next "
            f"one is a {cls.__name__}. Pass one unfitted wrapper per torch stage of the saved "
            "estimator, in the order of its stages, built with fresh modules of the saved "
            "architectures."
        )
    if context is None or not context["templates"]:
        raise ValueError(
            f"This {cls.__name__} was saved without its modules' code (weights only). Load it "
            "with skadaptive.persistence.load(file, torch_stages=[...]), passing one "
            f"unfitted {cls.__name__} per torch stage, built with fresh modules of the saved "
            "architectures."
        )
    template = context["templates"].pop(0)
    if type(template) is not cls:
        raise ValueError(
            f"torch_stages are out of order: the file's next torch stage is a {cls.__name__}, "
            f"got a {type(template).__name__}."
        )
    return template


class TorchEstimatorMixin:
    """Cloning without copying weights, and persistence across devices.

    Subclasses list their module-valued attributes in ``_module_attributes``.
    """

    _module_attributes: tuple[str, ...] = ()

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
        check_device_available(device)
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
        modules = {name: state.pop(name, None) for name in self._module_attributes}
        registry = WEIGHTS_ONLY.get()
        if registry is not None:  # skadaptive.persistence.dump: weights, no code
            state["_weights"] = self._weights_entry(modules, registry)
        else:
            state["_module_blobs"] = {}
            for name, value in modules.items():
                module, as_list = _as_module(value)
                if module is not None:
                    blob = _module_to_blob(module)
                    state["_module_blobs"][name] = dict(blob, as_list=True) if as_list else blob
        state["device"] = str(self.device)
        return state

    @staticmethod
    def _weights_entry(modules, registry):
        """``[ref, {name: state_dict}]``; wrappers that share modules share both.

        A clone shares its modules, so a fitted estimator holds the same modules in
        its parameters and its fitted stages: they are saved (and loaded) once.  The
        state_dict bytes travel as one uint8 array, which skops stores once however
        often it is referenced (it would store bytes objects each time).
        """
        key = tuple(
            tuple(map(id, value)) if isinstance(value, (list, tuple)) else id(value)
            for value in modules.values()
        )
        if key not in registry:
            weights = {}
            for name, value in modules.items():
                module, _ = _as_module(value)
                if module is not None:
                    weights[name] = np.frombuffer(_state_dict_bytes(module), dtype=np.uint8)
            registry[key] = [len(registry), weights, modules]  # modules: keep the ids alive
        ref, weights, _ = registry[key]
        return [ref, weights]

    def _modules_from_weights(self, entry, device):
        """Load saved weights into the modules of the next ``torch_stages`` (or reuse them)."""
        ref, weights = entry
        context = TORCH_TEMPLATES.get()
        if context is not None and ref in context["loaded"]:
            return context["loaded"][ref]
        template = _next_template(type(self))
        modules = {}
        for name, data in weights.items():
            module, as_list = _as_module(getattr(template, name))
            try:
                state_dict = _load_state_dict(np.asarray(data, dtype=np.uint8).tobytes(), device)
                module.to(device).load_state_dict(state_dict)
            except RuntimeError as exc:  # missing, unexpected or resized weights
                raise ValueError(
                    f"The saved weights of {type(self).__name__}.{name} do not fit the module "
                    f"given in torch_stages: {exc}"
                ) from exc
            modules[name] = list(module) if as_list else module
        context["loaded"][ref] = modules
        return modules

    def __setstate__(self, state):
        state = dict(state)
        blobs = state.pop("_module_blobs", {})
        weights = state.pop("_weights", None)
        device = resolve_device(state["device"])
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was saved on {device} but CUDA is not available: "
                "loading it on the CPU and setting device='cpu'.",
                UserWarning,
                stacklevel=2,
            )
            state["device"] = device = "cpu"
        if weights is not None:
            state.update(self._modules_from_weights(weights, device))
        for name, blob in blobs.items():
            module = _blob_to_module(blob, device)
            state[name] = list(module) if blob.get("as_list") else module
        super().__setstate__(state)
