"""The contract's error envelope, shared by routes, handlers and the fault layer."""

from __future__ import annotations

import json
import secrets

__all__ = ["ERROR_CODES", "ApiError", "envelope", "envelope_bytes", "new_request_id"]

ERROR_CODES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
}
"""``error.code`` per status. Only ``invalid_request`` is in the contract; the rest are
the sandbox's choice (clients must key on the HTTP status, not on these strings)."""

REQUEST_ID_SCOPE_KEY = "kitta.request_id"
"""Where the middleware leaves the request id in the ASGI scope."""


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class ApiError(Exception):
    """Raised by a route to answer with the error envelope."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = ERROR_CODES.get(status, "error")
        self.message = message
        self.headers = headers or {}


def envelope(code: str, message: str, request_id: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message, "requestId": request_id}}


def envelope_bytes(code: str, message: str, request_id: str) -> bytes:
    return json.dumps(envelope(code, message, request_id)).encode()
