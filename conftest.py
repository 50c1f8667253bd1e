"""Collection settings: doctests of optional parts need their optional dependency."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["skadaptive/torch"]
if importlib.util.find_spec("matplotlib") is None:  # the `plot` extra
    collect_ignore += ["skadaptive/_display.py", "docs/plotting.md"]
