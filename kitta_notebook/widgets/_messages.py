"""What the panel says: errors, validation problems, the estimate and the balance.

A panel must never show a traceback: every exception becomes one or two
sentences from the i18n table plus, where the server sent one, its own
message and request id. The sentences are plain text; the HTML snippets at
the end escape every value they show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..display.preflight import finding_html
from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    DownloadError,
    MissingTokenError,
    ValidationError,
)
from ..i18n import Lang, say, text
from ..price import format_credits
from ._frontend import esc

_STATUS_KEYS = {401: "err_401", 404: "err_404", 429: "err_429"}
# A 401 says which token to check: the one from the environment, token= or the token field.
_TOKEN_KEYS = {
    "environment": "err_401",
    "argument": "err_401_argument",
    "entered": "err_401_entered",
}
_DOWNLOAD_KEYS = {
    "expired": "err_download_expired",
    "too_large": "err_download_too_large",
    "timeout": "err_download_timeout",
}


def describe_error(
    exc: BaseException, lang: Lang, *, balance: object = None, model: str | None = None
) -> str:
    """Readable text for an error met while talking to the service.

    Every 4xx is one sentence that says what to do (the server's own words
    where they name the problem); a 5xx adds whether a task may exist and the
    request id to quote.
    """
    if isinstance(exc, APIConnectionError):
        parts = [
            text("err_timeout" if isinstance(exc, APITimeoutError) else "err_connection", lang)
        ]
        if exc.may_have_created:
            parts.append(text("err_may_have_created", lang))
        return " ".join(parts)
    if isinstance(exc, APIError) and exc.status_code is not None:
        if 400 <= exc.status_code < 500:
            return _client_error(exc, exc.status_code, lang, balance=balance, model=model)
        head = text("err_500", lang) if exc.status_code >= 500 else ""
        parts = [head or text("err_other_status", lang, status=exc.status_code)]
        parts.append(f"{text('err_server_said', lang)}: {_detail(exc)}".strip())
        if exc.may_have_created:
            parts.append(text("err_may_have_created", lang))
        if exc.request_id:
            parts.append(f"({text('err_request_id', lang)}: {exc.request_id})")
        return " ".join(parts)
    if isinstance(exc, DownloadError):
        if exc.reason == "not_media" and exc.arrived:
            return text("err_download_not_media", lang, arrived=exc.arrived)
        key = _DOWNLOAD_KEYS.get(exc.reason)
        if key:
            return text(key, lang)
        return str(exc) if lang == "en" else text("err_download_failed", lang)
    if isinstance(exc, MissingTokenError):
        return text("err_missing_token", lang)
    if isinstance(exc, ValidationError):
        return text("panel_fix_fields", lang)
    return f"{text('err_unexpected', lang, kind=type(exc).__name__)} {exc}".strip()


def describe_refusal(exc: ValidationError, form_fields: set[str], lang: Lang) -> str:
    """The banner for a create refused on this machine: each problem of a form field is
    shown next to that field; the others (e.g. a store setting) are said here."""
    rest = [f"{name}: {say(m, lang)}" for name, m in exc.problems if name not in form_fields]
    return " ".join([text("panel_fix_fields", lang), *rest])


def _detail(exc: APIError) -> str:
    return f"{exc.code}: {exc.message}" if exc.code else exc.message


def _client_error(
    exc: APIError, status: int, lang: Lang, *, balance: object, model: str | None
) -> str:
    """One sentence for a 4xx."""
    if status == 402:
        if balance is not None:
            return text("err_402_balance", lang, balance=number(balance))
        return text("err_402", lang)
    if status == 403:
        return text("err_403_model", lang, model=model) if model else text("err_403", lang)
    if isinstance(exc, AuthenticationError):
        return text(_TOKEN_KEYS[exc.token_source], lang)
    if status in _STATUS_KEYS:
        return text(_STATUS_KEYS[status], lang)
    detail = _sentence_part(exc.message)
    if status == 400:
        return text("err_400", lang, detail=detail) if detail else text("err_400_plain", lang)
    return text("err_4xx", lang, status=status, detail=detail or exc.code or "?")


def _sentence_part(message: str) -> str:
    """A server message fit to end our sentence: one line, no trailing full stop."""
    clean = " ".join(message.split()).rstrip(" .;:")
    return clean[:300]


def number(value: object) -> str:
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


def allowed_models(models: Sequence[str], usage: Mapping[str, Any]) -> tuple[str, ...]:
    """`models` minus those the usage body marks `allowed: false` (all of them if it says
    none): picking a refused model could only end in a 403."""
    listed = usage.get("models")
    if not isinstance(listed, Mapping):
        return tuple(models)
    refused = {
        name
        for name, facts in listed.items()
        if isinstance(facts, Mapping) and facts.get("allowed") is False
    }
    kept = tuple(m for m in models if m not in refused)
    return kept or tuple(models)


# --- the panel's lines: header, token note, banner, estimate, balance ------------------------
def header_html(sandbox: bool, lang: Lang) -> str:
    """The panel's title, with a badge when it talks to a sandbox."""
    badge = ""
    if sandbox:
        badge = (
            '<span class="kitta-sandbox-badge" style="margin-left:10px;padding:1px 8px;'
            'border-radius:4px;font-size:12px;background:#fff8e1;color:#5c4300">'
            f"{esc(text('panel_sandbox_badge', lang))}</span>"
        )
    return (
        '<div style="font-size:16px;font-weight:600;margin-bottom:4px">'
        f"{esc(text('panel_title', lang))}{badge}</div>"
    )


def token_note_html(lang: Lang) -> str:
    return f'<div style="color:#5c4300">{esc(text("panel_token_needed", lang))}</div>'


_BANNER_COLORS = {
    "info": ("#0b4f8a", "#dcecfb"),
    "success": ("#17622d", "#dcf5e3"),
    "error": ("#7a1111", "#fde2e2"),
    "warning": ("#5c4300", "#fff8e1"),
}


def banner_html(message: str, kind: str) -> str:
    color, background = _BANNER_COLORS.get(kind, _BANNER_COLORS["info"])
    return (
        f'<div class="kitta-message" data-kind="{esc(kind)}" style="color:{color};'
        f'background:{background};border-radius:6px;padding:6px 10px;margin:4px 0">'
        f"{esc(message)}</div>"
    )


def over_balance(credits: int | None, balance: float | None, lang: Lang) -> str:
    """The warning for an estimate above the account's balance ("" when it is not)."""
    if credits is None or balance is None or credits <= balance:
        return ""
    return text(
        "panel_over_balance", lang, credits=format_credits(credits), balance=number(balance)
    )


def estimate_sentence(
    rate: float | None, credits: int | None, model: str, seconds: float | None, lang: Lang
) -> str:
    """What the task will cost where the server publishes a price; never a guess."""
    if rate is None:
        return text("panel_estimate_unknown", lang)
    if credits is None or seconds is None:
        return text("panel_estimate_need_duration", lang, rate=f"{rate:g}")
    return text(
        "panel_estimate", lang, credits=format_credits(credits), model=model, seconds=f"{seconds:g}"
    )


def estimate_html(message: str, balance_warning: str, general: list[str], lang: Lang) -> str:
    """The estimate line, then the balance warning and the media warnings of no one field."""
    warning = finding_html("warning", balance_warning, lang, "kitta-balance-warning")
    notes = "".join(finding_html("warning", m, lang) for m in general)
    return (
        '<div style="color:#59636e;font-size:12px;margin:2px 0 0 150px">'
        f"{esc(message)}{warning if balance_warning else ''}{notes}</div>"
    )
