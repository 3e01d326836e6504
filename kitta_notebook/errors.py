"""The error hierarchy and the one table that maps HTTP statuses to it.

Every message says what happened and what to do next. No message ever holds
the API token: errors are built from the response body and the request's
method and URL only, never from its headers, and what a server said is
scrubbed of credentials (`_redact.redact_text`) first, since a proxy may echo them.

The tree (warnings are `UserWarning`s: MediaWarning, CreditWarning, JournalWarning):

    KittaError
    ├── ValidationError (also a ValueError)
    │   ├── BatchValidationError
    │   └── KeyReusedError
    ├── MissingTokenError
    │   └── ColabSecretError
    │       └── ColabSecretAccessError, ColabSecretNotFoundError, ColabSecretTimeoutError
    ├── APIError
    │   ├── APIConnectionError
    │   │   └── APITimeoutError
    │   └── APIStatusError
    │       └── BadRequestError, AuthenticationError, InsufficientCreditsError,
    │           PermissionDeniedError, NotFoundError, RateLimitError, ServerError
    ├── TaskFailedError
    ├── WaitTimeoutError
    │   └── WaitManyTimeoutError
    ├── BatchError, CreditLimitError
    ├── UnresolvedCreateError, KeyInUseError
    ├── JournalError
    │   └── JournalCorruptError
    ├── DownloadError, FileConflictError
    ├── MediaError
    │   └── PublishError
    └── NoEventLoopError, WidgetsUnavailableError (also RuntimeErrors)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ._redact import MAX_MESSAGE_CHARS, clip, redact_text

if TYPE_CHECKING:
    from .batch import BatchResult
    from .models import LipSyncTask


class KittaError(Exception):
    """Base class of every error this package raises."""


class ValidationError(KittaError, ValueError):
    """Input refused on this machine, before any request (no credits spent).

    `problems` lists every `(field, message)` found, so a form can show each
    message next to its field.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        lines = [f"{name}: {message}" for name, message in self.problems]
        summary = f" {lines[0]}" if len(lines) == 1 else bulleted(lines)
        super().__init__(f"Invalid input (nothing was sent):{summary}")

    @property
    def fields(self) -> dict[str, str]:
        """The first message for each field."""
        found: dict[str, str] = {}
        for name, message in self.problems:
            found.setdefault(name, message)
        return found


def bulleted(lines: Sequence[str], at_most: int | None = None, more: str = "") -> str:
    """`lines` one per row ("\n  - line"), at most `at_most` of them, then how many more."""
    shown = list(lines[:at_most])
    if len(lines) > len(shown):
        shown.append(f"… and {len(lines) - len(shown)} more{more}")
    return "".join(f"\n  - {line}" for line in shown)


class MissingTokenError(KittaError):
    """No API token was configured for a client that talks to the real service."""

    def __init__(self) -> None:
        super().__init__(
            "No API token. Pass KittaClient(token=...) or set the KITTA_API_TOKEN "
            "environment variable. To try things without an account, use "
            "kitta_notebook.connect(), which starts the local sandbox."
        )


# Said by every error after which a create may still have made a task.
MAY_HAVE_CREATED = (
    " The task may have been created anyway (credits may be spent): look for it "
    "with client.lip_sync.list(status='pending') before creating it again."
)


class APIError(KittaError):
    """Base of every failure to get a usable answer from the API.

    `status_code` is None when no answer came; `may_have_created` is True when a
    create may still have made a task.
    """

    hint: str = ""

    def __init__(
        self,
        status_code: int | None,
        code: str | None,
        message: str,
        request_id: str | None = None,
        *,
        may_have_created: bool = False,
    ) -> None:
        self.status_code = status_code
        self.code = None if code is None else clip(redact_text(code), 100)
        self.message = clip(redact_text(message), MAX_MESSAGE_CHARS)
        self.request_id = None if request_id is None else redact_text(request_id)
        self.may_have_created = may_have_created
        super().__init__(self._compose())

    def _compose(self, *, message: bool = True) -> str:
        """The error's text; the journal keeps it without the server's `message`."""
        text = self.message if message else ""
        if self.status_code is not None:
            head = f"HTTP {self.status_code}" + (f" {self.code}" if self.code else "")
            text = f"{head}: {text}" if message else head
        if self.hint:
            text += f" — {self.hint}"
        if self.may_have_created:
            text += MAY_HAVE_CREATED
        if self.request_id:
            text += f" (request id: {self.request_id})"
        return text


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke mid-request."""

    def __init__(self, message: str, *, may_have_created: bool = False) -> None:
        super().__init__(None, None, message, may_have_created=may_have_created)


class APITimeoutError(APIConnectionError):
    """The server did not answer within the configured timeout."""


class APIStatusError(APIError):
    """The server answered with an error status (or an unusable success body).

    `code`, `message` and `request_id` come from the contract's error envelope
    when the body has one; a non-JSON body (a proxy's HTML page) still gives a
    readable message. Quote `request_id` when you contact support.
    """

    status_code: int


class BadRequestError(APIStatusError):
    hint = "the server refused the request body or query; check the fields named above."


TokenSource = Literal["environment", "argument", "entered"]
"""Where a client's token came from: KITTA_API_TOKEN (or Colab's secret of that name),
`token=`, or `set_token()` (the panel's token field): what a 401 tells the user to check."""

TOKEN_CHECKS: dict[TokenSource, str] = {
    "environment": "check KITTA_API_TOKEN",
    "argument": "check the token passed as token=",
    "entered": "check the token entered (set_token() or the panel's token field)",
}


class AuthenticationError(APIStatusError):
    """401. `token_source` says where the refused token came from, and the hint names it."""

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str,
        request_id: str | None = None,
        *,
        may_have_created: bool = False,
        token_source: TokenSource = "environment",
    ) -> None:
        self.token_source: TokenSource = token_source
        self.hint = f"the API token is missing or invalid; {TOKEN_CHECKS[token_source]}."
        super().__init__(status_code, code, message, request_id, may_have_created=may_have_created)


class InsufficientCreditsError(APIStatusError):
    hint = "not enough credits for this task; top up the account or use a shorter audio."


class PermissionDeniedError(APIStatusError):
    hint = "choose a model or a task you have access to."


class NotFoundError(APIStatusError):
    hint = "no such task for this account (task ids are per account)."


class RateLimitError(APIStatusError):
    hint = "too many requests; slow down (the client already retried with backoff)."


class ServerError(APIStatusError):
    hint = "the service failed; retry later."


# The one mapping from status code to class (`error_class_for`, read by the client).
ERROR_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> type[APIStatusError]:
    fallback = ServerError if status_code >= 500 else APIStatusError
    return ERROR_CLASSES.get(status_code, fallback)


class TaskFailedError(KittaError):
    """`wait()` saw the task end as `failed`; `task` holds its error code and message."""

    def __init__(self, task: LipSyncTask) -> None:
        self.task = task
        code = clip(redact_text(task.error_code or "unknown_error"), 100)
        detail = redact_text(task.error_message or "no message from the server")
        detail = clip(detail, MAX_MESSAGE_CHARS)
        super().__init__(
            f"Task {task.task_id} failed ({code}): {detail}. "
            "Credits charged for it are shown in task.credits_charged."
        )


class WaitTimeoutError(KittaError):
    """`wait()` gave up before the task finished. The task keeps running on the server."""

    def __init__(self, task: LipSyncTask, timeout: float) -> None:
        self.task = task
        self.timeout = timeout
        super().__init__(
            f"Task {task.task_id} was still {task.status_text} after {timeout:g} s. "
            "It was not cancelled: call task.wait() again, or task.refresh() later."
        )


class WaitManyTimeoutError(WaitTimeoutError):
    """`watch_many`/`wait_many` gave up; the unfinished tasks keep running on the server.

    `unfinished` and `finished` hold the tasks (updated in place); `task` is
    the first unfinished one, so code written for `WaitTimeoutError` works.
    """

    def __init__(
        self, unfinished: list[LipSyncTask], finished: list[LipSyncTask], timeout: float
    ) -> None:
        self.unfinished = unfinished
        self.finished = finished
        self.task = unfinished[0]
        self.timeout = timeout
        KittaError.__init__(
            self,
            f"{len(unfinished)} of {len(unfinished) + len(finished)} tasks were still running "
            f"after {timeout:g} s (first: {unfinished[0].task_id}). They were not cancelled: "
            "wait for them again with client.lip_sync.wait_many(error.unfinished).",
        )


# How many problems (and failed items) a batch error lists before "and N more".
MAX_LISTED_PROBLEMS = 20
MAX_LISTED_ERRORS = 10


class BatchValidationError(ValidationError):
    """Some batch items are invalid; nothing at all was sent.

    `problems` lists `("requests[3].audio_url", message)` pairs for every
    problem of every item; `by_index` groups them per item index.
    """

    def __init__(self, problems: Sequence[tuple[int, str, str]], total: int) -> None:
        self.by_index: dict[int, list[tuple[str, str]]] = {}
        for index, name, message in problems:
            self.by_index.setdefault(index, []).append((name, message))
        flat = [  # `requests[3].audio_url`, as a form or a log shows it
            (f"requests[{index}]" + (f".{name}" if name else ""), message)
            for index, name, message in problems
        ]
        super().__init__(flat)
        lines = [f"{name}: {message}" for name, message in flat]
        self.args = (
            f"{len(self.by_index)} of {total} batch items are invalid; nothing was sent:"
            + bulleted(lines, MAX_LISTED_PROBLEMS, " (see .problems)"),
        )


class BatchError(KittaError):
    """`BatchResult.raise_for_errors()`: some items were rejected or have an unknown outcome."""

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        bad = result.errors
        lines = [f"[{i.index}] {i.outcome}: {type(i.error).__name__}: {i.error}" for i in bad]
        listed = bulleted(lines, MAX_LISTED_ERRORS)
        super().__init__(f"{len(bad)} of {len(result)} batch items did not get a task:{listed}")


class JournalError(KittaError):
    """The journal could not be opened or written (the path and the fix are named)."""


class JournalCorruptError(JournalError):
    """The journal's file is damaged or belongs to something else; it is left untouched."""


class UnresolvedCreateError(KittaError):
    """An earlier create for this key may have reached the server.

    Creating it again could bill twice, so nothing is sent until
    `client.history.reconcile()` has found (or ruled out) the first task.
    """

    def __init__(self, key: str, entry_id: str) -> None:
        self.key = key
        self.entry_id = entry_id
        super().__init__(
            f"An earlier create for key {key!r} may have reached the server (journal entry "
            f"{entry_id}, outcome unknown). Run client.history.reconcile() to find it before "
            "creating it again."
        )


class KeyInUseError(KittaError):
    """Another create under this key is running now; the key is held until it has its answer."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"A create under key {key!r} is in progress right now (in this or another kernel "
            "sharing the journal); nothing was sent. Run this again when it has finished to "
            "get its task."
        )


class KeyReusedError(ValidationError):
    """The key already made a task, from other inputs: nothing was sent.

    `task_id` is the earlier task; `differences` lists `(field, earlier, now)`.
    """

    def __init__(self, key: str, task_id: str, differences: Sequence[tuple[str, str, str]]) -> None:
        self.key = key
        self.task_id = task_id
        self.differences = list(differences)
        names = ", ".join(name for name, _, _ in self.differences)
        other = f" from other inputs ({names})" if names else ""
        super().__init__(
            [
                (
                    "key",
                    f"{key!r} already made task {task_id}{other}. Use a new key to create "
                    "a new task, or the earlier inputs to get that task "
                    f"(client.lip_sync.get({task_id!r})).",
                ),
                *((name, f"was {before}, now {now}") for name, before, now in self.differences),
            ]
        )


class JournalWarning(UserWarning):
    """The journal could not record something; the API call itself went through."""


class DownloadError(KittaError):
    """A result or input media fetch failed, or what arrived is not the media expected.

    `url` has its credentials and query removed; `status_code` is the host's
    answer (None when none came); `arrived` says what came instead, if anything.
    No partial file is left behind.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status_code: int | None = None,
        arrived: str | None = None,
        expired: bool = False,
        reason: str = "failed",
    ) -> None:
        self.url = url
        self.status_code = status_code
        self.arrived = arrived
        self.expired = expired
        # expired, denied, too_large, timeout, not_media, incomplete, refused, changed, failed
        self.reason = reason
        super().__init__(clip(message, MAX_MESSAGE_CHARS))


class FileConflictError(KittaError):
    """Files the toolkit did not write (or that changed since) stand where it would write.

    `paths` names them; the toolkit replaces or removes only files it wrote, unchanged since.
    """

    def __init__(self, message: str, paths: Sequence[object]) -> None:
        self.paths = [str(path) for path in paths]
        super().__init__(clip(message, MAX_MESSAGE_CHARS))


class MediaError(KittaError):
    """A media input could not be read, published or probed (no credits were spent)."""


class PublishError(MediaError):
    """A local file could not be stored at its media host. `code` is the store's error code.

    Built from the store's error code and message only: never from credentials.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


# Where a Colab user fixes a token problem; said by every ColabSecretError.
COLAB_SECRETS_HELP = (
    "In Colab, open Secrets (the key icon in the left sidebar), add KITTA_API_TOKEN with "
    "your API token and switch on its Notebook access; or set the KITTA_API_TOKEN "
    "environment variable. connect() without a token starts the local sandbox instead."
)


class ColabSecretError(MissingTokenError):
    """Colab's secret KITTA_API_TOKEN could not be read, so there is no token."""

    reason = "Colab's secret KITTA_API_TOKEN could not be read."

    def __init__(self) -> None:
        KittaError.__init__(self, f"{self.reason} {COLAB_SECRETS_HELP}")


class ColabSecretAccessError(ColabSecretError):
    reason = "This notebook was not granted access to Colab's secret KITTA_API_TOKEN."


class ColabSecretNotFoundError(ColabSecretError):
    reason = "Colab has no secret named KITTA_API_TOKEN."


class ColabSecretTimeoutError(ColabSecretError):
    reason = (
        "Colab did not answer the request for the secret KITTA_API_TOKEN in time "
        "(this happens where no Colab page is open, e.g. a Colab runtime used from VS Code)."
    )


class NoEventLoopError(KittaError, RuntimeError):
    """A view's action needs the kernel's running event loop and none runs in this thread."""


class MediaWarning(UserWarning):
    """A media input could not be checked for certain (the create went on): the
    service fetches inputs from its own network, which this machine may not share."""


class WidgetsUnavailableError(KittaError, RuntimeError):
    """A widget view was made where no widget can render: no IPython kernel (a plain
    script, a text console). The message names the widget-free way to do the same."""

    def __init__(self, widget: str, instead: str) -> None:
        self.widget = widget
        super().__init__(
            f"{widget} is a Jupyter widget and needs a running notebook kernel (JupyterLab, "
            f"Notebook 7, VS Code, Colab or Voila); there is none here. Instead, {instead}"
        )


class CreditLimitError(KittaError):
    """`create_many(max_credits=...)` kept items from being sent: the whole batch, before
    any create, when its estimate exceeds the limit or cannot be made; or, as the error
    of each `not_sent` item, the rest of a batch once the credits charged reached it."""


class CreditWarning(UserWarning):
    """A batch is estimated to cost more than the balance `usage()` reports (it is sent
    anyway: the server refuses, with a 402, each create the balance cannot pay)."""
