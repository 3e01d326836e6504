"""A local server that behaves like the Kitta lip-sync API, for notebooks and tests.

It implements the API contract (create, list, get, usage, errors, credits,
task progression) on 127.0.0.1 and renders real MP4 results, which are not
lip-synced: every result carries a burned-in "SANDBOX" mark (on the sample
character, the mouth follows the new audio's loudness). It also offers a
sandbox-only media store (``/_sandbox/media``) for local files, and can keep
its state in a folder shared by several processes (``data_dir=``).

    from kitta_notebook.sandbox import Sandbox
    with Sandbox(time_scale=0.1) as sb:
        client = sb.client()

Importing this package is cheap; FastAPI/uvicorn load when a sandbox starts
(they come with the ``sandbox`` extra).
"""

from __future__ import annotations

from .faults import FaultConfig
from .pricing import DEFAULT_MODEL, MODELS, PRICES, ModelPrice, estimate_credits
from .server import DEFAULT_CREDITS, DEFAULT_TOKEN, Sandbox
from .settings import SandboxConfigError
from .stats import SandboxStats

__all__ = [
    "DEFAULT_CREDITS",
    "DEFAULT_MODEL",
    "DEFAULT_TOKEN",
    "MODELS",
    "PRICES",
    "FaultConfig",
    "ModelPrice",
    "Sandbox",
    "SandboxConfigError",
    "SandboxStats",
    "estimate_credits",
]
