"""Saving fitted estimators without pickle's arbitrary code on load.

``pickle`` (and joblib) work with every estimator, torch stages included, but
loading a pickle runs whatever code the file names: load only files you made.
For files that cross a trust boundary, use `skops <https://skops.readthedocs.io>`_
(``pip install "skadaptive[skops]"``), whose format names every type it holds and
refuses, on load, the types you did not list as trusted:

- :data:`TRUSTED_TYPES` lists skadaptive's own types (and the scikit-learn helpers
  they hold).  Each is plain data plus the code of this package; trusting them
  lets skops rebuild them, nothing else.  Your stages' types that skops does not
  trust by default (``skops.io.get_untrusted_types(file=...)`` lists them) are
  yours to review and add.
- :func:`dump` and :func:`load` wrap ``skops.io.dump`` and ``skops.io.load``
  with that list.  With torch stages they also keep the code out of the file:
  :func:`dump` writes each module's weights only (its ``state_dict``, read back
  with ``torch.load(weights_only=True)``), and :func:`load` puts them into modules
  that *you* build from code, passed as ``torch_stages``.

Examples
--------
>>> import skops.io
>>> from sklearn.datasets import load_digits
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.naive_bayes import GaussianNB
>>> from skadaptive import NetworkSelectionClassifier
>>> from skadaptive.persistence import TRUSTED_TYPES, dump, load
>>> X, y = load_digits(return_X_y=True)
>>> clf = NetworkSelectionClassifier(
...     [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=500))],
...     costs=[1, 10], cv=3, random_state=0).fit(X, y)
>>> data = dump(clf)                       # bytes; dump(clf, "model.skops") writes a file
>>> for name in sorted(skops.io.get_untrusted_types(data=data)):  # all of them ours
...     print(name)
skadaptive._features.FeatureBuilder
skadaptive._network_selection.NetworkSelectionClassifier
skadaptive._policy.RoutingPolicy
skadaptive._stages.ModelLadder
sklearn.utils._bunch.Bunch
>>> set(skops.io.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
True
>>> loaded = load(data)
>>> bool((loaded.predict(X) == clf.predict(X)).all())
True
"""

import contextlib
import contextvars
import os

__all__ = ["TRUSTED_TYPES", "dump", "load"]

TRUSTED_TYPES = [
    "skadaptive._budget.HybridPolicy",
    "skadaptive._budget.ReferencePolicy",
    "skadaptive._cv.EarlyExitClassifierCV",
    "skadaptive._cv.NetworkSelectionClassifierCV",
    "skadaptive._early_exit.EarlyExitClassifier",
    "skadaptive._features.FeatureBuilder",
    "skadaptive._network_selection.NetworkSelectionClassifier",
    "skadaptive._policy.RoutingPolicy",
    "skadaptive._policy._ConstantPolicy",
    "skadaptive._stages.ModelLadder",
    "skadaptive._stages.TreeEnsembleExits",
    "skadaptive.baselines.ThresholdPolicy",
    "skadaptive.torch._classifier.TorchClassifier",
    "skadaptive.torch._multi_exit.MultiExitNetwork",
    "sklearn.utils._bunch.Bunch",
]
"""The types a fitted skadaptive estimator adds to a skops file.

They rebuild from their attributes (``__setstate__`` of a scikit-learn estimator);
the torch wrappers read weights with ``torch.load(weights_only=True)`` into
modules given to :func:`load`, and never load a module from the file.
"""

# Read by the torch wrappers' __getstate__ / __setstate__ (skadaptive.torch._common).
WEIGHTS_ONLY = contextvars.ContextVar("skadaptive_weights_only", default=None)
TORCH_TEMPLATES = contextvars.ContextVar("skadaptive_torch_templates", default=None)


def _skops_io():
    try:
        import skops.io
    except ImportError as exc:
        raise ImportError(
            "skadaptive.persistence.dump and load need skops, which is not installed. "
            'Install the extra: pip install "skadaptive[skops]" (or use pickle for files '
            "you trust)."
        ) from exc
    return skops.io


@contextlib.contextmanager
def _set(var, value):
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def dump(estimator, file=None):
    """Save a fitted estimator in the skops format.

    Torch stages are saved as weights only: each module's ``state_dict``, with
    none of its code.  :func:`load` needs the same architectures back.

    Parameters
    ----------
    estimator : object
        A fitted estimator (or anything skops saves).
    file : str, path-like or None, default=None
        Where to write; ``None`` returns the bytes instead.

    Returns
    -------
    data : bytes or None
        The file's contents when ``file`` is None.
    """
    sio = _skops_io()
    with _set(WEIGHTS_ONLY, {}):  # the modules already saved, by identity
        if file is None:
            return sio.dumps(estimator)
        sio.dump(estimator, file)
    return None


def load(file, *, trusted=(), torch_stages=()):
    """Load an estimator saved by :func:`dump`, refusing untrusted types.

    Parameters
    ----------
    file : str, path-like or bytes
        A path, or the bytes that ``dump(estimator)`` returned.
    trusted : sequence of str, default=()
        Types to trust besides :data:`TRUSTED_TYPES` and the types skops trusts by
        default: your stages' types, after you have reviewed them.
    torch_stages : sequence of torch wrappers, default=()
        One unfitted :class:`~skadaptive.torch.TorchClassifier` or
        :class:`~skadaptive.torch.MultiExitNetwork` per torch stage, in the order of
        the stages, built with fresh modules of the saved architectures (as at
        training time).  Wrappers that shared modules when saved (a fitted
        estimator's parameters and its fitted stages) share them again.  The saved
        weights are loaded into these modules with ``weights_only=True``, and the
        modules are then used as they are.

    Returns
    -------
    estimator : object

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds a type that is neither trusted by skops, listed in
        :data:`TRUSTED_TYPES`, nor in ``trusted``.
    ValueError
        When ``torch_stages`` does not match the torch stages in the file.
    """
    sio = _skops_io()
    templates = list(torch_stages)
    trusted = [*TRUSTED_TYPES, *trusted]
    with _set(TORCH_TEMPLATES, {"templates": templates, "loaded": {}}):
        if isinstance(file, bytes | bytearray):
            estimator = sio.loads(bytes(file), trusted=trusted)
        else:
            estimator = sio.load(os.fspath(file), trusted=trusted)
    if templates:
        raise ValueError(
            f"{len(templates)} torch_stages were left over: the file has fewer torch stages "
            "than were passed."
        )
    return estimator
