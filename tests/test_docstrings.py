"""numpydoc validation of the public API, with scikit-learn's rules.

The same checks as scikit-learn's ``sklearn/tests/test_docstrings.py``: every
public class, each of its public methods and properties, and every public
function, validated by ``numpydoc.validate``.  Ignored everywhere, as there: RT02,
GL01, GL02; for methods also EX01, SA01 and ES01 (only classes and functions need
examples, a See Also section and an extended summary); for properties PR02 and GL08.
"""

import importlib
import inspect

import pytest
from _helpers import PUBLIC_MODULES, missing_dependency

numpydoc_validation = pytest.importorskip("numpydoc.validate")

# skadaptive.exceptions aside: a warning class has no numpydoc sections to validate, and
# inherits the builtin methods of exceptions.
MODULES = [
    name
    for name in PUBLIC_MODULES
    if name != "skadaptive.exceptions" and not missing_dependency(name)
]


def public_objects():
    """(import path, class or None, method name or None) of every public object."""
    seen = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # data (__version__, TRUSTED_TYPES, ...)
            path = f"{module_name}.{name}"
            if obj in seen:
                continue  # re-exported (ThresholdPolicy in baselines, RoutingPolicy in routers)
            seen.add(obj)
            yield path, obj if inspect.isclass(obj) else None, None
            if inspect.isclass(obj):
                for method in sorted(dir(obj)):
                    if method.startswith("_"):
                        continue
                    value = getattr(obj, method)
                    if callable(value) or isinstance(inspect.getattr_static(obj, method), property):
                        yield f"{path}.{method}", obj, method


def filter_errors(errors, method, klass):
    for code, message in errors:
        if code in ("RT02", "GL01", "GL02"):
            continue
        if code in ("PR02", "GL08") and method is not None:
            if isinstance(inspect.getattr_static(klass, method), property):
                continue
        if method is not None and code in ("EX01", "SA01", "ES01"):
            continue
        yield code, message


OBJECTS = list(public_objects())


@pytest.mark.parametrize("path, klass, method", OBJECTS, ids=[o[0] for o in OBJECTS])
def test_docstring(path, klass, method):
    result = numpydoc_validation.validate(path)
    errors = list(filter_errors(result["errors"], method, klass))
    if errors:
        details = "\n".join(f" - {code}: {message}" for code, message in errors)
        raise AssertionError(f"{path}\n{result['docstring']}\n# Errors\n{details}")
