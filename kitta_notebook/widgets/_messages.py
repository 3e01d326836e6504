"""Readable, translated messages for errors and validation problems.

A panel must never show a traceback: every exception becomes one or two
sentences from the i18n table plus, where the server sent one, its own
message and request id (plain text; the views escape it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    MissingTokenError,
    ValidationError,
)
from ..i18n import Lang, text

_STATUS_KEYS = {
    400: "err_400",
    401: "err_401",
    402: "err_402",
    403: "err_403",
    404: "err_404",
    429: "err_429",
}


def describe_error(exc: BaseException, lang: Lang, *, balance: object = None) -> str:
    """One readable paragraph for an error met while talking to the service."""
    if isinstance(exc, APIError):
        key = _STATUS_KEYS.get(exc.status_code)
        if key is None:
            key = "err_500" if exc.status_code >= 500 else ""
        head = text(key, lang) if key else text("err_other_status", lang, status=exc.status_code)
        parts = [head]
        if exc.status_code == 402 and balance is not None:
            parts.append(text("err_402_balance", lang, balance=_number(balance)))
        detail = f"{exc.code}: {exc.message}" if exc.code else exc.message
        parts.append(f"{text('err_server_said', lang)}: {detail}".strip())
        if exc.may_have_created:
            parts.append(text("err_may_have_created", lang))
        if exc.request_id:
            parts.append(f"({text('err_request_id', lang)}: {exc.request_id})")
        return " ".join(parts)
    if isinstance(exc, APITimeoutError):
        parts = [text("err_timeout", lang)]
        if exc.may_have_created:
            parts.append(text("err_may_have_created", lang))
        return " ".join(parts)
    if isinstance(exc, APIConnectionError):
        parts = [text("err_connection", lang)]
        if exc.may_have_created:
            parts.append(text("err_may_have_created", lang))
        return " ".join(parts)
    if isinstance(exc, MissingTokenError):
        return text("err_missing_token", lang)
    if isinstance(exc, ValidationError):
        return text("panel_fix_fields", lang)
    return f"{text('err_unexpected', lang, kind=type(exc).__name__)} {exc}".strip()


def _number(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


# Keys a usage body might carry the balance under. `GET /v1/usage` is not
# documented; these are looked for, and nothing is shown when none is there.
_BALANCE_KEYS = ("balance", "creditsRemaining", "remainingCredits", "availableCredits", "credits")


def find_balance(body: Mapping[str, Any]) -> int | float | None:
    """A balance number in a usage body (top level or one level down), if any."""
    layers: list[Mapping[str, Any]] = [body]
    layers.extend(v for v in body.values() if isinstance(v, Mapping))
    for layer in layers:
        for key in _BALANCE_KEYS:
            value = layer.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
    return None


# Core validation messages (English, from `validate_create`) -> translated key.
_PROBLEM_PREFIXES: tuple[tuple[str, str], ...] = (
    ("is required", "val_required"),
    ("is empty", "val_required"),
    ("must be a finite number greater than 0", "val_positive"),
    ("must be a number", "val_not_number"),
    ("contains whitespace", "val_whitespace"),
    ("must be an absolute http(s) URL", "val_not_url"),
    ("must use http or https", "val_not_url"),
    ("must be a URL string", "val_not_url"),
    ("has no host name", "val_not_url"),
    ("has an invalid host or port", "val_not_url"),
    ("points at ", "val_not_public"),
)


def field_message(message: str, lang: Lang) -> str:
    """The message to show next to a field: translated in Chinese when it is a known one.

    English keeps the core's own wording (it is the most specific); an
    unrecognised message is shown as received in either language.
    """
    if lang == "en":
        return message
    for prefix, key in _PROBLEM_PREFIXES:
        if message.startswith(prefix):
            return text(key, lang)
    return message
