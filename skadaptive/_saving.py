"""The context of a :mod:`skadaptive.persistence` save or load.

:func:`skadaptive.persistence.dump` and ``load`` set these; the torch wrappers'
``__getstate__`` and ``__setstate__`` read them (to save weights only, and to load
them into the modules given to ``load``).  A module of its own, so that neither side
imports the other.
"""

import contextlib
import contextvars

# While dump runs: {id key: [ref, weights, modules]} of the modules already saved.
WEIGHTS_ONLY = contextvars.ContextVar("skadaptive_weights_only", default=None)
# While load runs: {"templates": [...], "loaded": {ref: modules}}.
TORCH_TEMPLATES = contextvars.ContextVar("skadaptive_torch_templates", default=None)


@contextlib.contextmanager
def setting(var, value):
    """Set a context variable for the duration of a ``with`` block."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)
