"""The API token from Colab's Secrets, when running in Colab with no KITTA_API_TOKEN set.

Colab keeps secrets in its sidebar rather than in environment variables;
`google.colab.userdata.get` asks the page for one and blocks until it answers.
Its failures become our `ColabSecretError`s, whose messages say where in Colab
to fix them. Colab's exception classes are matched by name: their hierarchy
differs between Colab releases (`NotebookAccessError` subclasses plain
`Exception`, the others Colab's own error base, and older releases lack some).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import (
    ColabSecretAccessError,
    ColabSecretError,
    ColabSecretNotFoundError,
    ColabSecretTimeoutError,
)

SECRET_NAME = "KITTA_API_TOKEN"

_ERRORS_BY_NAME: dict[str, type[ColabSecretError]] = {
    "NotebookAccessError": ColabSecretAccessError,
    "SecretNotFoundError": ColabSecretNotFoundError,
    "TimeoutException": ColabSecretTimeoutError,
}


def _colab_userdata() -> ModuleType | None:
    """Colab's `userdata` module, or None when this kernel is not Colab's."""
    try:
        importlib.import_module("google.colab")
        return importlib.import_module("google.colab.userdata")
    except ImportError:
        return None


def _translate(exc: Exception) -> type[ColabSecretError]:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((ours for name, ours in _ERRORS_BY_NAME.items() if name in names), ColabSecretError)


def token_from_colab_secrets(*, missing_ok: bool = False) -> str | None:
    """The token stored in Colab's Secrets; None outside Colab.

    Raises a `ColabSecretError` subclass when access was not granted, the
    request timed out, or (unless ``missing_ok``, which `connect()` uses to
    fall back to the sandbox) no such secret exists.
    """
    userdata = _colab_userdata()
    if userdata is None:
        return None
    try:
        value = userdata.get(SECRET_NAME)
    except Exception as exc:  # Colab's classes are not importable outside Colab
        error = _translate(exc)
        if missing_ok and error is ColabSecretNotFoundError:
            return None
        raise error() from None
    token = str(value).strip() if value is not None else ""
    if not token:
        if missing_ok:
            return None
        raise ColabSecretNotFoundError()
    return token
