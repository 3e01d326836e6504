"""The client's facts and decisions, free of I/O: configuration, the token (given, from
the environment, or from Colab's Secrets), how a request is built, when to retry, and
how long to wait between polls.
"""

from __future__ import annotations

import contextvars
import email.utils
import functools
import importlib
import json
import logging
import os
import random
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ._redact import redact_text
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ColabSecretAccessError,
    ColabSecretError,
    ColabSecretNotFoundError,
    ColabSecretTimeoutError,
    MissingTokenError,
    TokenSource,
    ValidationError,
)
from .models import LipSyncTask
from .validation import check_poll_interval

if TYPE_CHECKING:
    from .batch.gate import RateGate

# The longest `key` (re-run safety for create and batch items) a caller may give.
MAX_KEY_LENGTH = 200

logger = logging.getLogger("kitta_notebook")


class _HttpxLogRedactor(logging.Filter):
    """httpx logs each request's full URL and the server's reason phrase at INFO: a signed
    media URL, or a proxy's echo of the token, would reach any handler the user set up.
    Runs only for records that are emitted (after the level check)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            tokens = [secret.reveal() for secret in list(_LIVE_SECRETS)]
            record.args = tuple(
                redact_text(str(arg), tokens) if isinstance(arg, (str, httpx.URL)) else arg
                for arg in record.args
            )
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(type(f).__name__ == "_HttpxLogRedactor" for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_HttpxLogRedactor())

DEFAULT_BASE_URL = "https://kittaaudio.com/api"
OFFICIAL_HOSTS = ("kittaaudio.com",)
TOKEN_ENV = "KITTA_API_TOKEN"
BASE_URL_ENV = "KITTA_BASE_URL"
HOME_ENV = "KITTA_HOME"
TASKS_PATH = "/v1/lip-sync/tasks"
USAGE_PATH = "/v1/usage"
# Where the sandbox serves its schema. The reference does not say where the real
# service publishes its OpenAPI document, so a miss falls back to the default model.
OPENAPI_PATH = "/v1/openapi.json"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 3.0
# The reference asks for one detail query every 3 to 5 seconds.
OFFICIAL_POLL_RANGE = (3.0, 5.0)
MAX_RETRY_AFTER = 60.0
# httpx's read timeout is per chunk: a server that trickles bytes never trips it.
# One attempt therefore also has a total deadline, and a body has a size cap.
ATTEMPT_DEADLINE_FACTOR = 2.0
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
USER_AGENT = f"kitta-notebook/{__version__}"


def kitta_home() -> Path:
    """Where this toolkit keeps its files on this machine (journals, kept results, the
    sandbox's folder): `KITTA_HOME` when set, else the user data folder (platformdirs)."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("kitta-notebook", appauthor=False))


# Every token a client holds, so that a log line echoing one can be scrubbed.
_LIVE_SECRETS: weakref.WeakSet[Secret] = weakref.WeakSet()


class Secret:
    """Holds the API token so that no repr, str or log line can show it.

    A token must be printable ASCII without spaces: anything else cannot go in
    an HTTP header, and httpx/h11 would raise an error that quotes the header
    (the token) in its message and traceback. Such a token is refused here,
    with a message that does not repeat it.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        bad = next((i for i, ch in enumerate(value) if not "!" <= ch <= "~"), None)
        if bad is not None:
            problem = (
                f"has a space, control or non-ASCII character at position {bad + 1}; "
                "copy the API token again (it is printable ASCII only)"
            )
            raise ValidationError([("token", problem)])
        self._value = value
        _LIVE_SECRETS.add(self)

    def reveal(self) -> str:
        return self._value

    def bearer(self) -> str:
        """The Authorization header's value, made only when a request is built."""
        return f"Bearer {self._value}"

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API token cannot be pickled")


# --- the token from Colab's Secrets -------------------------------------------------------
# In Colab with no KITTA_API_TOKEN set, the token comes from Colab's Secrets: Colab keeps
# them in its sidebar rather than in environment variables; `google.colab.userdata.get`
# asks the page for one and blocks until it answers. Its failures become our
# `ColabSecretError`s, whose messages say where in Colab to fix them. Colab's exception
# classes are matched by name: their hierarchy differs between Colab releases
# (`NotebookAccessError` subclasses plain `Exception`, the others Colab's own error base,
# and older releases lack some).
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
        value = userdata.get(TOKEN_ENV)
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


@dataclass
class ClientConfig:
    """Everything a client needs to talk to one API origin with one account."""

    base_url: str
    token: Secret | None
    timeout: httpx.Timeout
    max_retries: int
    # Where the token came from (a 401 says what to check).
    token_source: TokenSource = "environment"
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0
    # Keep result videos: True, False, a folder, an s3:// bucket, or None (KITTA_KEEP_RESULTS
    # decides). Not in the repr: a mistaken s3://user:secret@... is refused when used.
    keep_results: bool | str | os.PathLike[str] | None = field(default=None, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # The task journal: True (the account's own), False (none), a postgresql:// URL or a
    # `history.JournalStore` (typed loosely: the core does not import the history package).
    journal: object = field(default=True, repr=False)
    # When set, the journal file is chosen by this identity instead of origin and token
    # (the embedded sandbox: one journal however many ports it ran on).
    journal_identity: str | None = None
    # Where local media files are published (a `media.MediaStore`); None: the sandbox's
    # own store for a sandbox, else KITTA_MEDIA_STORE. Typed loosely, like `journal`.
    media_store: Any = field(default=None, repr=False)
    # The client's media prober (a `media.MediaProber`, made on first use): caches probes.
    prober: Any = field(default=None, repr=False, compare=False)
    # The merged headers without Authorization, per HTTP client: nothing here holds the
    # token (it is added to each request as it is built), so `vars()` shows none.
    _header_cache: dict[tuple[int, bool], httpx.Headers] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def create(
        cls,
        token: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ) -> ClientConfig:
        source: TokenSource = "environment" if token is None else "argument"
        if token is None:
            token = os.environ.get(TOKEN_ENV) or token_from_colab_secrets()
        raw_token = token
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
        try:
            parts = urlsplit(url)
            scheme, hostname = parts.scheme, parts.hostname
        except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
            scheme, hostname = "", None
        if scheme not in ("http", "https") or not hostname:
            raise ValidationError(
                [("base_url", f"must be an absolute http(s) URL such as {DEFAULT_BASE_URL}")]
            )
        if "@" in parts.netloc:  # httpx would send it as Basic auth in place of the token
            problem = (
                "must not carry user:password@ (the API token signs each request; "
                "give a proxy's credentials to the proxy settings instead)"
            )
            raise ValidationError([("base_url", problem)])
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValidationError([("max_retries", "must be a whole number ≥ 0")])
        if timeout is None:
            resolved = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            resolved = timeout
        else:
            resolved = httpx.Timeout(float(timeout), connect=min(5.0, float(timeout)))
        clean_token = raw_token.strip() if raw_token else None
        return cls(
            base_url=url.rstrip("/"),
            token=Secret(clean_token) if clean_token else None,
            timeout=resolved,
            max_retries=max_retries,
            token_source=source,
        )

    # --- facts about the origin -----------------------------------------
    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def is_official(self) -> bool:
        """True when talking to the real Kitta service (not the sandbox or a proxy)."""
        host = (urlsplit(self.base_url).hostname or "").lower()
        return any(host == h or host.endswith("." + h) for h in OFFICIAL_HOSTS)

    # --- requests -----------------------------------------------------------
    def build_request(
        self,
        http: httpx.Client,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Request:
        """The request, built without `http.build_request`'s per-call merging.

        Every API call goes through here, so it is the client's hot path: the
        URL of a path and the merged headers are parsed once and reused. The
        HTTP client's own headers (a user's `http_client=`) still apply.
        """
        if self.token is None:
            raise MissingTokenError()
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        url = _parsed_url(self.base_url + path)
        if params:
            url = url.copy_merge_params(dict(params))
        request = httpx.Request(
            method,
            url,
            headers=self._merged_headers(http, json_body=body is not None),
            content=content,
            extensions={"timeout": self.timeout.as_dict()},
        )
        request.headers["Authorization"] = self.token.bearer()  # the request's own copy
        return request

    def _merged_headers(self, http: httpx.Client, *, json_body: bool) -> httpx.Headers:
        key = (id(http), json_body)
        cached = self._header_cache.get(key)
        if cached is None:
            merged = httpx.Headers(http.headers)  # every header but the Authorization
            merged.update({"Accept": "application/json", "User-Agent": USER_AGENT})
            if json_body:
                merged["Content-Type"] = "application/json"
            self._header_cache.clear()  # one HTTP client at a time in practice
            self._header_cache[key] = cached = merged
        return cached

    # --- polling ------------------------------------------------------------
    def poll_delay(self, poll_interval: float | None) -> float:
        """The next pause between two detail queries, with jitter.

        Against the real service the pause stays within the reference's 3–5 s;
        against the sandbox or a test server any interval is honoured.
        """
        checked = check_poll_interval(poll_interval)
        base = DEFAULT_POLL_INTERVAL if checked is None else checked
        delay = base * self.rng.uniform(1.0, 1.2)
        if self.is_official:
            low, high = OFFICIAL_POLL_RANGE
            delay = min(max(delay, low), high)
        return delay

    # --- retries ------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for retry number `attempt` (0-based)."""
        ceiling = min(self.retry_max_delay, self.retry_base_delay * (2**attempt))
        return self.rng.uniform(ceiling / 2, ceiling)


@functools.lru_cache(maxsize=512)
def _parsed_url(url: str) -> httpx.URL:
    """Parsing a URL is most of the cost of building a request; tasks are polled by the same URL."""
    return httpx.URL(url)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date), capped."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0


def _is_create(request: httpx.Request) -> bool:
    return request.method == "POST"


def decide_after_response(
    config: ClientConfig, request: httpx.Request, response: httpx.Response, attempt: int
) -> RetryDecision:
    """Retry reads on 429/5xx; retry a create only on 429 (the server refused it).

    A create that got a 5xx may have created the task, so it is never resent.
    """
    if attempt >= config.max_retries:
        return RetryDecision(False)
    status = response.status_code
    if status == 429 or (status >= 500 and not _is_create(request)):
        wait = retry_after_seconds(response)
        return RetryDecision(True, wait if wait is not None else config.backoff(attempt))
    return RetryDecision(False)


def decide_after_exception(
    config: ClientConfig, request: httpx.Request, exc: httpx.TransportError, attempt: int
) -> RetryDecision:
    """Retry reads on any transport error; a create only when it never left this machine."""
    if attempt >= config.max_retries:
        return RetryDecision(False)
    if _is_create(request) and not never_reached_server(exc):
        return RetryDecision(False)
    return RetryDecision(True, config.backoff(attempt))


def never_reached_server(exc: httpx.TransportError) -> bool:
    """True when the request certainly did not reach the server (no connection was made)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def transport_error(request: httpx.Request, exc: httpx.TransportError) -> APIConnectionError:
    """A readable error for a transport failure; names the URL, never the headers."""
    target = f"{request.method} {request.url.copy_with(query=None)}"
    created_maybe = _is_create(request) and not never_reached_server(exc)
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the answer"
        message = f"Timed out {kind} ({target}). Check the network, or raise the client's timeout."
        error: APIConnectionError = APITimeoutError(message, may_have_created=created_maybe)
    else:
        message = (
            f"Could not complete {target}: {type(exc).__name__}. Check the network and base_url."
        )
        error = APIConnectionError(message, may_have_created=created_maybe)
    return error


def log_response(request: httpx.Request, response: httpx.Response, started: float) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "%s %s -> %s in %.0f ms",
        request.method,
        request.url.copy_with(query=None),
        response.status_code,
        (time.monotonic() - started) * 1000,
    )


REQUEST_GATE: contextvars.ContextVar[RateGate | None] = contextvars.ContextVar(
    "kitta_request_gate", default=None
)
"""The rate gate of the batch the current thread sends for (None outside a batch): the
client's request loop waits at it before each send and tells it every answer."""


# --- waiting -------------------------------------------------------------------
def check_timeout(timeout: object) -> float:
    """A wait's or a download's total seconds: a number above 0 (`ValidationError` otherwise)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValidationError([("timeout", "The timeout must be a number of seconds above 0.")])
    return float(timeout)


def is_transient(exc: Exception) -> bool:
    """Errors worth polling through: the next query may well succeed."""
    from .errors import RateLimitError, ServerError

    return isinstance(exc, (APIConnectionError, RateLimitError, ServerError))


def task_id_of(task_or_id: LipSyncTask | str) -> str:
    return task_or_id.task_id if isinstance(task_or_id, LipSyncTask) else task_or_id
