"""Where journals live: `KITTA_HOME`, one file per (origin, account) or per identity.

A file is named by a one-way fingerprint, never by the token, so the folder
listing tells nothing about the account.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .._home import HOME_ENV, kitta_home
from ..errors import JournalError

__all__ = [
    "HOME_ENV",
    "account_fingerprint",
    "home_error",
    "identity_fingerprint",
    "journal_path",
    "journal_path_for_identity",
    "kitta_home",
]

_FINGERPRINT_HEX = 12


def account_fingerprint(origin: str, token: str) -> str:
    """A short, one-way name for (origin, account): 12 hex digits of sha256.

    Enough to keep accounts apart, far too little to recover a token from.
    """
    digest = hashlib.sha256(f"{origin.lower()}\n{token}".encode()).hexdigest()
    return digest[:_FINGERPRINT_HEX]


def identity_fingerprint(identity: str) -> str:
    """The file name part for a journal chosen by identity (e.g. the embedded sandbox).

    Prefixed so that no identity can collide with an (origin, token) fingerprint.
    """
    return hashlib.sha256(f"identity\n{identity}".encode()).hexdigest()[:_FINGERPRINT_HEX]


def journal_path(origin: str, token: str, home: Path | None = None) -> Path:
    base = home if home is not None else kitta_home()
    return base / "journals" / f"journal-{account_fingerprint(origin, token)}.sqlite3"


def journal_path_for_identity(identity: str, home: Path | None = None) -> Path:
    base = home if home is not None else kitta_home()
    return base / "journals" / f"journal-{identity_fingerprint(identity)}.sqlite3"


def home_error(path: Path, exc: BaseException) -> JournalError:
    """A journal folder that cannot be used, as an error that names the fix.

    `KITTA_HOME` pointing at a file, or at a folder this user may not write,
    would otherwise surface as a raw `NotADirectoryError` / `PermissionError`
    in the middle of a create.
    """
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    configured = os.environ.get(HOME_ENV, "").strip()
    where = f"KITTA_HOME ({configured})" if configured else "the default data folder"
    return JournalError(
        f"The task journal cannot be written at {path} ({reason}). Set {HOME_ENV} to a "
        f"writable folder (now {where}), or pass journal=False to the client to work "
        "without a journal."
    )
