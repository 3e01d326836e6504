"""Where this toolkit keeps its files on this machine: `KITTA_HOME`.

In the core (not in `history`), so views that play kept results can find
them without importing the journal's storage.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "KITTA_HOME"


def kitta_home() -> Path:
    """`KITTA_HOME` when set, else the user data folder (platformdirs)."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("kitta-notebook", appauthor=False))
