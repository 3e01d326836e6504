"""Reading the API's answers: the error mapping, JSON bodies, tasks and pages.

No I/O. A 2xx to a create whose body
cannot be read still says the task may exist (`may_have_created`).
"""

from __future__ import annotations

from typing import Any

import httpx

from ._redact import redact_text
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    TokenSource,
    error_class_for,
)
from .models import LipSyncTask, Page


def sent_secrets(response: httpx.Response) -> tuple[str, ...]:
    """The credentials the request carried, which the answer must not echo into an error."""
    try:
        authorization = response.request.headers.get("authorization")
    except RuntimeError:  # a Response built without its request
        return ()
    if not authorization:
        return ()
    credential = authorization.partition(" ")[2].strip()
    return (authorization, credential) if credential else (authorization,)


def request_id_of(response: httpx.Response, body: object = None) -> str | None:
    found: object = None
    if isinstance(body, dict):
        envelope = body.get("error")
        if isinstance(envelope, dict) and isinstance(envelope.get("requestId"), str):
            found = envelope["requestId"]
    if found is None:
        found = response.headers.get("x-request-id")
    return None if found is None else redact_text(str(found), sent_secrets(response))


def api_error(
    response: httpx.Response, token_source: TokenSource = "environment"
) -> APIStatusError:
    """Map an error response to the matching `APIStatusError` subclass, JSON or not
    (a 401 names where the token came from: `token_source`)."""
    status = response.status_code
    secrets = sent_secrets(response)
    # The reason phrase is the server's text too, and the Response's repr shows it
    # (e.g. in a traceback with local variables): scrub it in place.
    reason = response.extensions.get("reason_phrase")
    if isinstance(reason, bytes) and secrets:
        scrubbed = redact_text(reason.decode("latin-1"), secrets)
        response.extensions["reason_phrase"] = scrubbed.encode("latin-1")
    body = _json_or_none(response)
    code: str | None = None
    message: str | None = None
    if isinstance(body, dict):
        envelope = body.get("error")
        if isinstance(envelope, dict):
            code = envelope.get("code") if isinstance(envelope.get("code"), str) else None
            raw_message = envelope.get("message")
            message = raw_message if isinstance(raw_message, str) else None
        elif isinstance(envelope, str):
            message = envelope
    if message is None:
        content_type = response.headers.get("content-type", "unknown type").split(";")[0]
        reason = response.reason_phrase or "error"
        message = (
            f"{reason} (the body was not the API's JSON error: {content_type}, "
            f"{len(response.content)} bytes; often a proxy or gateway page)"
        )
    code = None if code is None else redact_text(code, secrets)
    message = redact_text(message, secrets)
    cls = error_class_for(status)
    may_have_created = response.request.method == "POST" and status >= 500
    if cls is AuthenticationError:
        return AuthenticationError(
            status, code, message, request_id_of(response, body), token_source=token_source
        )
    return cls(
        status, code, message, request_id_of(response, body), may_have_created=may_have_created
    )


def _json_or_none(response: httpx.Response) -> object:
    """The decoded JSON body, or None when it is not JSON (or nested too deeply to read)."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _answered_create(response: httpx.Response) -> bool:
    """True when `response` is a 2xx to a create: the server accepted it, the task exists."""
    try:
        return response.is_success and response.request.method == "POST"
    except RuntimeError:  # a Response built without its request
        return False


def nothing_created(error: BaseException) -> bool:
    """True when a failed create's error proves no task was made: a server's refusal, or a
    connection never made. A 5xx, a read timeout, an unreadable 2xx or an interrupt do not."""
    if not isinstance(error, (APIError, APIConnectionError)) or error.may_have_created:
        return False
    status = error.status_code if isinstance(error, APIError) else None
    return status is None or not 200 <= status < 300  # a 2xx: accepted, but unreadable


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a success response; an `APIStatusError` when it is not one.

    A create answered 2xx was accepted: when its body cannot be read, the error
    says the task may exist (`may_have_created=True`), so it is not sent again.
    """
    body = _json_or_none(response)
    if not isinstance(body, dict):
        raise _invalid(response, "the server answered success but the body is not a JSON object")
    return body


def _invalid(response: httpx.Response, message: str) -> APIStatusError:
    """A success answer we cannot use; a create's may have made a task."""
    return APIStatusError(
        response.status_code,
        "invalid_response",
        message,
        request_id_of(response),
        may_have_created=_answered_create(response),
    )


def parse_task(response: httpx.Response, client: Any) -> LipSyncTask:
    body = json_body(response)
    task = LipSyncTask(body, request_id=request_id_of(response), client=client)
    if not task.task_id:
        raise _invalid(response, "the task in the response has no taskId")
    return task


def parse_page(response: httpx.Response, client: Any, limit: int, offset: int) -> Page:
    body = json_body(response)
    items = body.get("data")
    if not isinstance(items, list):
        raise _invalid(response, "the list response has no 'data' array")
    request_id = request_id_of(response)
    tasks = [
        LipSyncTask(item, request_id=request_id, client=client)
        for item in items
        if isinstance(item, dict)
    ]
    pagination = body.get("pagination")
    pagination = pagination if isinstance(pagination, dict) else {}

    def number(name: str, default: int) -> int:
        value = pagination.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    return Page(
        data=tasks,
        limit=number("limit", limit),
        offset=number("offset", offset),
        has_more=pagination.get("hasMore") is True,
        raw=body,
        request_id=request_id,
    )
