"""Collection settings: the torch subpackage's doctests need torch."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["skadaptive/torch"]
