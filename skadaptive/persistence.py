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
- Every type is saved under its public name (``skadaptive.RoutingPolicy``, not the
  private module that defines it), so that moving code inside the package does not
  break saved files, and :func:`dump` records a format version (:data:`FORMAT_VERSION`)
  in the file.  :func:`load` reads the files of every earlier version.
- XGBoost, LightGBM and CatBoost stages save through their own ``__getstate__``:
  each rebuilds its booster from the library's own model format (read by the
  library's C++ loader; no Python code in the file runs).  skops does not trust them
  by default; review and trust, for XGBoost, ``xgboost.core.Booster`` and
  ``xgboost.sklearn.XGBClassifier``; for LightGBM, ``lightgbm.basic.Booster``,
  ``lightgbm.sklearn.LGBMClassifier`` and ``collections.OrderedDict``; for
  CatBoost, ``catboost.core.CatBoostClassifier``.  As with scikit-learn's trees,
  a crafted model can attack the library's loader: trust these types for files
  from sources you trust.
- :func:`dump` and :func:`load` wrap ``skops.io.dump`` and ``skops.io.load``
  with that list.  With torch stages they also keep the code out of the file:
  :func:`dump` writes each module's weights only (its ``state_dict``, read back
  with ``torch.load(weights_only=True)``), and :func:`load` puts them into modules
  that *you* build from code, passed as ``torch_stages``.

Examples
--------
>>> import skops.io
>>> from sklearn.datasets import load_digits
>>> from sklearn.naive_bayes import GaussianNB
>>> from sklearn.neighbors import KNeighborsClassifier
>>> from skadaptive import NetworkSelectionClassifier
>>> from skadaptive.persistence import TRUSTED_TYPES, dump, load
>>> X, y = load_digits(return_X_y=True)
>>> clf = NetworkSelectionClassifier(
...     [("nb", GaussianNB()), ("knn", KNeighborsClassifier())],
...     costs=[1, 10], cv=3, random_state=0).fit(X[:1000], y[:1000])
>>> data = dump(clf)                       # bytes; dump(clf, "model.skops") writes a file
>>> for name in sorted(skops.io.get_untrusted_types(data=data)):  # all of them ours
...     print(name)
skadaptive.NetworkSelectionClassifier
skadaptive.RoutingPolicy
skadaptive.stages.ModelLadder
sklearn.utils._bunch.Bunch
>>> [name for name in skops.io.get_untrusted_types(data=data) if name not in TRUSTED_TYPES]
[]
>>> loaded = load(data)
>>> loaded.predict(X[1000:1010])
array([1, 4, 0, 5, 3, 6, 9, 6, 1, 7])
>>> float((loaded.predict(X) == clf.predict(X)).mean())   # the same answers
1.0
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from typing import Any, overload

from ._boosting import missing_library
from ._saving import TORCH_TEMPLATES, WEIGHTS_ONLY, setting

__all__ = ["FORMAT_VERSION", "TRUSTED_TYPES", "dump", "load"]

FORMAT_VERSION = 1
"""The version of the files :func:`dump` writes.

0: skadaptive 0.1 (types named by their private modules, no version entry);
1: every type under its public name, and a ``skadaptive.json`` entry with the version.
"""

TRUSTED_TYPES = [
    "skadaptive.EarlyExitClassifier",
    "skadaptive.EarlyExitClassifierCV",
    "skadaptive.NetworkSelectionClassifier",
    "skadaptive.NetworkSelectionClassifierCV",
    "skadaptive.RoutingPolicy",
    "skadaptive.routers.ConstantPolicy",
    "skadaptive.routers.HybridPolicy",
    "skadaptive.routers.ReferencePolicy",
    "skadaptive.routers.ThresholdPolicy",
    "skadaptive.stages.ModelLadder",
    "skadaptive.stages.TreeEnsembleExits",
    "skadaptive.torch.MultiExitNetwork",
    "skadaptive.torch.TorchClassifier",
    "sklearn.utils._bunch.Bunch",
]
"""The types a fitted skadaptive estimator adds to a skops file.

They rebuild from their attributes (``__setstate__`` of a scikit-learn estimator);
the torch wrappers read weights with ``torch.load(weights_only=True)`` into
modules given to :func:`load`, and never load a module from the file.
"""

_VERSION_ENTRY = "skadaptive.json"

# Format 0 (skadaptive 0.1) named types by their private modules: their public names.
_FORMAT_0_NAMES = {
    ("skadaptive._budget", "HybridPolicy"): ("skadaptive.routers", "HybridPolicy"),
    ("skadaptive._budget", "ReferencePolicy"): ("skadaptive.routers", "ReferencePolicy"),
    ("skadaptive._cv", "EarlyExitClassifierCV"): ("skadaptive", "EarlyExitClassifierCV"),
    ("skadaptive._cv", "NetworkSelectionClassifierCV"): (
        "skadaptive",
        "NetworkSelectionClassifierCV",
    ),
    ("skadaptive._early_exit", "EarlyExitClassifier"): ("skadaptive", "EarlyExitClassifier"),
    ("skadaptive._network_selection", "NetworkSelectionClassifier"): (
        "skadaptive",
        "NetworkSelectionClassifier",
    ),
    ("skadaptive._policy", "RoutingPolicy"): ("skadaptive", "RoutingPolicy"),
    ("skadaptive._policy", "_ConstantPolicy"): ("skadaptive.routers", "ConstantPolicy"),
    ("skadaptive._stages", "ModelLadder"): ("skadaptive.stages", "ModelLadder"),
    ("skadaptive._stages", "TreeEnsembleExits"): ("skadaptive.stages", "TreeEnsembleExits"),
    ("skadaptive.baselines", "ThresholdPolicy"): ("skadaptive.routers", "ThresholdPolicy"),
    ("skadaptive.torch._classifier", "TorchClassifier"): ("skadaptive.torch", "TorchClassifier"),
    ("skadaptive.torch._multi_exit", "MultiExitNetwork"): ("skadaptive.torch", "MultiExitNetwork"),
}
# Saved by format 0 as a cache of RoutingPolicy, dropped on load.
_FORMAT_0_TRUSTED = ["skadaptive._features.FeatureBuilder"]


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


@overload
def dump(estimator: Any, file: None = None) -> bytes: ...
@overload
def dump(estimator: Any, file: str | os.PathLike[str]) -> None: ...
def dump(estimator: Any, file: str | os.PathLike[str] | None = None) -> bytes | None:
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
        The file's contents (a zip archive) when ``file`` is None; None when it was
        written to ``file``.

    See Also
    --------
    load : Load the file back, refusing types that are not trusted.
    TRUSTED_TYPES : The skadaptive types that :func:`load` trusts.
    skops.io.dump : The skops function that this one wraps.

    Examples
    --------
    >>> import io, json, zipfile
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.persistence import dump, load
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("nb", GaussianNB()), ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cv=3, random_state=0).fit(X[:1000], y[:1000])
    >>> data = dump(clf)
    >>> type(data).__name__, data[:2]   # a zip archive ("PK")
    ('bytes', b'PK')
    >>> with zipfile.ZipFile(io.BytesIO(data)) as archive:   # the format version entry
    ...     json.loads(archive.read("skadaptive.json"))["format"]
    1

    With a path, the file is written and nothing is returned:

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.skops")
    ...     dump(clf, path)
    ...     load(path).predict(X[1000:1010])
    array([1, 4, 0, 5, 3, 6, 9, 6, 1, 7])
    """
    sio = _skops_io()
    with setting(WEIGHTS_ONLY, {}):  # the modules already saved, by identity
        data = sio.dumps(estimator)
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        version = {"format": FORMAT_VERSION, "skadaptive": _package_version()}
        archive.writestr(_VERSION_ENTRY, json.dumps(version))
    data = buffer.getvalue()
    if file is None:
        return data
    with open(file, "wb") as f:
        f.write(data)
    return None


def _package_version():
    from . import __version__

    return __version__


def _format_of(data):
    """The format version of a saved file's bytes (0: no version entry)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if _VERSION_ENTRY not in archive.namelist():
            return 0
        return int(json.loads(archive.read(_VERSION_ENTRY))["format"])


def _rename_format_0(node):
    """Give the types of a format-0 schema (a JSON tree) their public names, in place."""
    if isinstance(node, dict):
        key = (node.get("__module__"), node.get("__class__"))
        if key in _FORMAT_0_NAMES:
            node["__module__"], node["__class__"] = _FORMAT_0_NAMES[key]
        for value in node.values():
            _rename_format_0(value)
    elif isinstance(node, list):
        for value in node:
            _rename_format_0(value)


def _upgrade(data):
    """The bytes of a saved file in the current format, and extra types to trust."""
    version = _format_of(data)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"This file was saved in format {version} by a newer skadaptive; this one reads "
            f"formats 0 to {FORMAT_VERSION}. Upgrade skadaptive to load it."
        )
    if version == FORMAT_VERSION:
        return data, []
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            if name == "schema.json":
                schema = json.loads(content)
                _rename_format_0(schema)
                content = json.dumps(schema)
            dst.writestr(name, content)
    return out.getvalue(), _FORMAT_0_TRUSTED


def load(
    file: str | os.PathLike[str] | bytes | bytearray,
    *,
    trusted: Sequence[str] = (),
    torch_stages: Sequence[Any] = (),
) -> Any:
    """Load an estimator saved by :func:`dump`, refusing untrusted types.

    Files of every earlier format are read (see :data:`FORMAT_VERSION`): their types
    get their current names first.

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
        The loaded estimator.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds a type that is neither trusted by skops, listed in
        :data:`TRUSTED_TYPES`, nor in ``trusted``.
    ValueError
        When ``torch_stages`` does not match the torch stages in the file, or the
        file comes from a newer format.
    ImportError
        When the file holds an XGBoost, LightGBM or CatBoost model and that
        library is not installed; the message names the extra that installs it.

    See Also
    --------
    dump : Save an estimator in the format that this function reads.
    TRUSTED_TYPES : The skadaptive types trusted here without being listed.
    skops.io.get_untrusted_types : List the types of a file that need reviewing.

    Examples
    --------
    Decision trees are not trusted by skops by default (a crafted tree file can read
    out of bounds): review the types of a file, then trust them by name.

    >>> import skops.io
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> from skadaptive.persistence import TRUSTED_TYPES, dump, load
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(random_state=0))],
    ...     costs=[1, 5], cv=3, random_state=0).fit(X[:1000], y[:1000])
    >>> data = dump(clf)
    >>> [name for name in skops.io.get_untrusted_types(data=data) if name not in TRUSTED_TYPES]
    ['sklearn.tree._tree.Tree']
    >>> try:
    ...     load(data)
    ... except skops.io.exceptions.UntrustedTypesFoundException as exc:
    ...     print(type(exc).__name__)
    UntrustedTypesFoundException
    >>> loaded = load(data, trusted=["sklearn.tree._tree.Tree"])
    >>> loaded.predict(X[1000:1010])
    array([1, 4, 0, 5, 3, 6, 3, 6, 1, 7])
    """
    sio = _skops_io()
    if isinstance(file, bytes | bytearray):
        data = bytes(file)
    else:
        with open(os.fspath(file), "rb") as f:
            data = f.read()
    data, legacy_trusted = _upgrade(data)
    templates = list(torch_stages)
    trusted = [*TRUSTED_TYPES, *legacy_trusted, *trusted]
    context = {"templates": templates, "loaded": {}, "given": len(templates)}
    with setting(TORCH_TEMPLATES, context):
        try:
            estimator = sio.loads(data, trusted=trusted)
        except ModuleNotFoundError as exc:
            error = missing_library(exc)
            if error is None:
                raise
            raise error from exc
    if templates:
        raise ValueError(
            f"{len(templates)} torch_stages were left over: the file has fewer torch stages "
            "than were passed."
        )
    return estimator
