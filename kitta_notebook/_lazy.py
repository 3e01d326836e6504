"""Names a package imports on first use (a module `__getattr__`, PEP 562).

A package lists where each lazy name lives; importing the package loads none of
those modules, so `import kitta_notebook` stays cheap and a view, a widget or an S3
store is paid for only by whoever uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: each name of `homes` imported from its module
    (absolute, or relative to `package`) when first asked for."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home, package), name)

    return __getattr__
