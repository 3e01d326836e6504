"""The error hierarchy and the one table that maps HTTP statuses to it.

Every message says what happened and what to do next. No message ever holds
the API token: errors are built from the response body and the request's
method and URL only, never from its headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._text import MAX_MESSAGE_CHARS, clip

if TYPE_CHECKING:
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
        summary = lines[0] if len(lines) == 1 else "\n  - " + "\n  - ".join(lines)
        super().__init__(f"Invalid input (nothing was sent): {summary}")

    @property
    def fields(self) -> dict[str, str]:
        """The first message for each field."""
        found: dict[str, str] = {}
        for name, message in self.problems:
            found.setdefault(name, message)
        return found


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


class APIConnectionError(KittaError):
    """The server could not be reached, or the connection broke mid-request."""

    def __init__(self, message: str, *, may_have_created: bool = False) -> None:
        self.may_have_created = may_have_created
        super().__init__(message + (MAY_HAVE_CREATED if may_have_created else ""))


class APITimeoutError(APIConnectionError):
    """The server did not answer within the configured timeout."""


class APIError(KittaError):
    """The server answered with an error status.

    `code`, `message` and `request_id` come from the contract's error envelope
    when the body has one; a non-JSON body (a proxy's HTML page) still gives a
    readable message. Quote `request_id` when you contact support.
    """

    status_code: int
    hint: str = ""

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str,
        request_id: str | None = None,
        *,
        may_have_created: bool = False,
    ) -> None:
        self.status_code = status_code
        self.code = None if code is None else clip(code, 100)
        self.message = clip(message, MAX_MESSAGE_CHARS)
        self.request_id = request_id
        self.may_have_created = may_have_created
        super().__init__(self._compose())

    def _compose(self) -> str:
        head = f"HTTP {self.status_code}"
        if self.code:
            head += f" {self.code}"
        text = f"{head}: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        if self.may_have_created:
            text += MAY_HAVE_CREATED
        if self.request_id:
            text += f" (request id: {self.request_id})"
        return text


class BadRequestError(APIError):
    hint = "the server refused the request body or query; check the fields named above."


class AuthenticationError(APIError):
    hint = "the API token is missing or invalid; check KITTA_API_TOKEN."


class InsufficientCreditsError(APIError):
    hint = "not enough credits for this task; top up the account or use a shorter audio."


class PermissionDeniedError(APIError):
    hint = "this account may not use this model or access this task."


class NotFoundError(APIError):
    hint = "no such task for this account (task ids are per account)."


class RateLimitError(APIError):
    hint = "too many requests; slow down (the client already retried with backoff)."


class ServerError(APIError):
    hint = "the service failed; retry later."


# The one mapping from status code to class, read by the client and by tests.
ERROR_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> type[APIError]:
    if status_code in ERROR_CLASSES:
        return ERROR_CLASSES[status_code]
    if status_code >= 500:
        return ServerError
    return APIError


class TaskFailedError(KittaError):
    """`wait()` saw the task end as `failed`; `task` holds its error code and message."""

    def __init__(self, task: LipSyncTask) -> None:
        self.task = task
        code = clip(task.error_code or "unknown_error", 100)
        detail = clip(task.error_message or "no message from the server", MAX_MESSAGE_CHARS)
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
