"""URLs and texts as they may be stored and shown: no credentials in them.

A media URL may carry a password (`https://user:pass@host/clip.mp4`) or a
signed query (`?X-Amz-Signature=...`). The request itself must send it as
given (the service has to fetch it), but everything kept or displayed after
that (journal, cards, history, tables) uses `redact_url(url)`. Redacting
rather than refusing keeps signed URLs, which are how most private buckets
share a file, usable.

Text that comes from elsewhere (a server's error message, a header, a library's
error) goes through `redact_text` before it lands in an exception: a proxy may
echo the request's Authorization header, a storage error may quote a signed URL.
A server's string can also be megabytes long, and tracebacks and outputs end up in
saved notebooks: `clip` bounds it before a view, a repr or an error shows it (the
full value always stays in `task.raw`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "MAX_MESSAGE_CHARS",
    "REDACTED",
    "clip",
    "redact_text",
    "redact_url",
    "sensitive_query_names",
]

REDACTED = "REDACTED"

# Query parameters that sign or authorise a URL, lower-cased (S3, GCS, Azure SAS,
# Alibaba OSS, Tencent COS, and the generic names).
_SENSITIVE = frozenset({
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential", "x-oss-signature", "x-oss-credential", "x-oss-security-token",
    "signature", "ossaccesskeyid", "awsaccesskeyid", "googleaccessid", "security-token",
    "q-signature", "q-ak", "sign", "sig", "token", "access_token", "auth", "api_key", "apikey",
    "password", "secret",
})  # fmt: skip
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")
# An HTTP credential in free text: "Bearer abc", "Basic abc=", "Authorization: xyz".
_CREDENTIAL = re.compile(
    r"(?i)(\b(?:bearer|basic)\s+|\bauthorization[\"']?\s*[:=]\s*[\"']?"
    r"(?!(?:bearer|basic)\s))[^\s\"',;<>]+"
)
# "X-Amz-Security-Token: …", "signature=…", "token=…" in free text (headers or form data).
_NAMED = re.compile(
    r"(?i)(?<![\w-])("
    + "|".join(re.escape(name) for name in sorted(_SENSITIVE, key=len, reverse=True))
    + r")([\"']?\s*[:=]\s*[\"']?)[^\s\"',;&<>]+"
)
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+")
# Shorter texts are not treated as secrets (they would redact ordinary words).
_MIN_SECRET_CHARS = 8


def sensitive_query_names() -> frozenset[str]:
    """The query parameter names whose values `redact_url` replaces (lower-case)."""
    return _SENSITIVE


def redact_url(url: str) -> str:
    """`url` without userinfo and with credential-like query values replaced.

    A URL with nothing to redact comes back unchanged (byte for byte), so
    searching for any part of it still finds it.
    """
    if not isinstance(url, str) or ("@" not in url and "?" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: strip what looks like userinfo
        return _USERINFO.sub(r"\1", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    query = _redact_query(parts.query) if parts.query else parts.query
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_query(query: str) -> str:
    pieces = query.split("&")
    changed = False
    for index, piece in enumerate(pieces):
        name, sep, _value = piece.partition("=")
        if sep and unquote_plus(name).strip().lower() in _SENSITIVE:
            pieces[index] = f"{name}={REDACTED}"
            changed = True
    return "&".join(pieces) if changed else query


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` (also percent-encoded), every `Bearer …`/`Basic …`,
    `Authorization: …` or `X-Amz-Signature=…`-like value (the names of
    `sensitive_query_names()`) and every URL's credentials replaced by REDACTED."""
    if not text:
        return text
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, REDACTED)
    text = _CREDENTIAL.sub(lambda match: match[1] + REDACTED, text)
    text = _NAMED.sub(lambda match: match[1] + match[2] + REDACTED, text)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda match: redact_url(match[0]), text)
    return text


MAX_SHOWN_CHARS = 4000
MAX_MESSAGE_CHARS = 500


def clip(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as text, cut to `limit` characters with a note of how much was left out."""
    shown = "" if value is None else str(value)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… (+{len(shown) - limit:,} characters)"
