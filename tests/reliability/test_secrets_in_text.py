"""Rule: a secret never appears in text, even when a server or proxy echoes it.

* An API whose errors quote the request's Authorization header (some proxies do):
  the token is in no error's str, repr, args, attribute or traceback with locals.
* Nothing in the client's object graph holds the plain token, but its `Secret`
  (so `vars()`, a debugger or a traceback with locals cannot show it).
* A base URL with user:password@ is refused (httpx would send it in place of the token).
"""

from __future__ import annotations

import gc
import json
import logging
import secrets
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from kitta_notebook import AuthenticationError, KittaClient, LipSyncTask, ValidationError
from kitta_notebook._core import Secret
from kitta_notebook.sandbox import Sandbox
from tests.reliability.reliability_helpers import scan_for
from tests.support import media_host, serving

CANARY = "kitta-canary-" + secrets.token_hex(12)


@contextmanager
def echoing_api(mode: str) -> Iterator[str]:
    """An API on 127.0.0.1 whose every answer echoes the Authorization header back.

    `json`: a 401 error envelope quoting it (message, code and request id);
    `html`: a proxy's 401 page (and its reason phrase); `task`: a failed task
    whose error message quotes it.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth.partition(" ")[2]
            if mode == "task":
                body = json.dumps(
                    {
                        "taskId": "lip_task_1",
                        "status": "failed",
                        "errorCode": "proxy_error",
                        "errorMessage": f"upstream refused header Authorization: {auth}",
                    }
                ).encode()
                self.send_response(200)
                content_type = "application/json"
            elif mode == "json":
                envelope = {
                    "code": f"bad_token_{token}",
                    "message": f"Invalid header 'Authorization: {auth}' (token {token})",
                    "requestId": f"req_{token}",
                }
                body = json.dumps({"error": envelope}).encode()
                self.send_response(401)
                content_type = "application/json"
            else:
                body = f"<html><pre>Authorization: {auth}</pre></html>".encode()
                self.send_response(401, f"Denied {token}")
                content_type = "text/html"
            self.send_header("Content-Type", content_type)
            self.send_header("X-Request-Id", f"req-{auth}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield f"{base}/api"


def texts_of(error: BaseException) -> dict[str, str]:
    """Every way an error is shown: str, repr, args, attributes, tracebacks (with locals)."""
    texts = {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "vars": repr(vars(error)),
        "traceback": "".join(traceback.format_exception(error)),
        "traceback with locals": "".join(
            traceback.TracebackException.from_exception(error, capture_locals=True).format()
        ),
    }
    return texts


@pytest.mark.parametrize("mode", ["json", "html"])
def test_a_401_that_echoes_the_authorization_header_shows_no_token(mode: str) -> None:
    with (
        echoing_api(mode) as base_url,
        KittaClient(CANARY, base_url=base_url) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.lip_sync.get("lip_task_1")
    error = caught.value
    assert scan_for(CANARY, texts_of(error), record=False) == []
    assert "REDACTED" in str(error)  # the echo was there, and scrubbed
    assert error.status_code == 401


def test_a_failed_task_whose_message_echoes_the_header_shows_no_token() -> None:
    with echoing_api("task") as base_url, KittaClient(CANARY, base_url=base_url) as client:
        task = client.lip_sync.get("lip_task_1")
        with pytest.raises(Exception) as caught:
            client.lip_sync.wait(task, timeout=5, poll_interval=0.01)
    assert scan_for(CANARY, {"str": str(caught.value)}, record=False) == []
    assert "Bearer REDACTED" in str(caught.value)


# --- the object graph --------------------------------------------------------------------------
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)


def texts_in_graph(root: object, limit: int = 300_000) -> Iterator[tuple[str, str | bytes]]:
    """Every str/bytes reachable from `root` (not through a `Secret`, a class or a module),
    with the type of the object that holds it."""
    seen: set[int] = set()
    stack: list[tuple[object, str]] = [(root, type(root).__name__)]
    while stack and len(seen) < limit:
        obj, holder = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, bytearray)):
            yield holder, bytes(obj) if isinstance(obj, bytearray) else obj
            continue
        if isinstance(obj, (Secret, *_OPAQUE)):
            continue
        for child in gc.get_referents(obj):
            stack.append((child, type(obj).__name__))


def test_no_attribute_in_the_client_graph_holds_the_plain_token(
    shared_sandbox: Sandbox,
) -> None:
    shared_sandbox.add_account(CANARY, 1_000_000)
    media = shared_sandbox.samples
    with KittaClient(CANARY, base_url=shared_sandbox.base_url) as client:
        task = client.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
        client.lip_sync.wait(task, timeout=60, poll_interval=0.05)
        client.lip_sync.list(limit=2)
        assert isinstance(task, LipSyncTask) and task.succeeded
        assert CANARY not in repr(vars(client._config))
        holders = [
            holder
            for holder, text in texts_in_graph(client)
            if CANARY in (text if isinstance(text, str) else text.decode("latin-1"))
        ]
    assert holders == [], f"the plain token is held by: {sorted(set(holders))}"


class BrokenHttp:
    """An HTTP client that fails while the request is built (its headers) or sent."""

    def __init__(self, where: str) -> None:
        self.where = where

    @property
    def headers(self) -> Any:
        if self.where == "build":
            raise RuntimeError("interrupted while building")
        return {}

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("interrupted while sending")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("where", ["build", "send"])
def test_a_traceback_with_locals_inside_a_request_shows_no_token(where: str) -> None:
    """An error raised while the request is built or sent: every frame's locals, shown."""
    with KittaClient(CANARY, base_url="http://127.0.0.1:9/api") as client:
        client._http = BrokenHttp(where)  # type: ignore[assignment]
        with pytest.raises(RuntimeError) as caught:
            client.lip_sync.list(limit=1)
    shown = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert f"interrupted while {where}ing" in shown
    assert scan_for(CANARY, {"traceback with locals": shown}, record=False) == []


def test_a_base_url_with_credentials_is_refused_without_echo() -> None:
    with pytest.raises(ValidationError) as caught:
        KittaClient(CANARY, base_url="http://proxy-user:proxy-pass-1234@127.0.0.1:9/api")
    assert "proxy-pass-1234" not in str(caught.value)
    assert "user:password@" in str(caught.value)


def test_a_storage_error_that_echoes_the_request_headers_shows_no_credential() -> None:
    """An S3-compatible proxy's error quoting the signed request (a session token is
    reusable until it expires) becomes a PublishError without it."""
    botocore_exceptions = pytest.importorskip("botocore.exceptions")
    from kitta_notebook.media.s3_store import _wrap

    echoed = (
        f"bad request: Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, Signature={CANARY} "
        f"X-Amz-Security-Token: {CANARY}-session https://s3.example.com/b/k?X-Amz-Signature={CANARY}"
    )
    error = botocore_exceptions.ClientError(
        {"Error": {"Code": "InvalidToken", "Message": echoed}}, "PutObject"
    )
    wrapped = _wrap(error, "uploading clip.wav")
    assert wrapped.code == "InvalidToken"
    assert scan_for(CANARY, texts_of(wrapped), record=False) == []
    assert "REDACTED" in str(wrapped)


def test_no_attribute_of_a_store_holds_the_endpoint_password() -> None:
    from kitta_notebook.media import S3Store

    store = S3Store("b", endpoint_url=f"https://user:{CANARY}@s3.example.com:9000")
    assert scan_for(CANARY, {"vars": repr(vars(store)), "repr": repr(store)}, record=False) == []
    assert store.endpoint_url == "https://s3.example.com:9000"


def test_a_mistaken_store_setting_is_not_echoed_with_its_password() -> None:
    from kitta_notebook.media.local import ENV_STORE, store_from_env

    with pytest.raises(ValidationError) as caught:
        store_from_env({ENV_STORE: f"https://AKID:{CANARY}@bucket.s3.amazonaws.com/kitta"})
    texts = texts_of(caught.value)
    del texts["traceback with locals"]  # the setting is itself a local of that frame
    assert scan_for(CANARY, texts, record=False) == []
    assert "s3://bucket/prefix" in str(caught.value)


def test_httpx_logs_show_no_signature_or_echoed_token(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every URL (a signed media URL's signature) and reason phrase at INFO."""
    caplog.set_level(logging.INFO, logger="httpx")
    with media_host(b"\x00" * 64) as host, KittaClient(CANARY, base_url=host) as client:
        client.fetch_bytes(f"{host}/clip.mp4?X-Amz-Signature={CANARY}&v=1", max_bytes=1024)
    with (
        echoing_api("html") as base_url,
        KittaClient("Bearer-less-" + CANARY, base_url=base_url) as client,
        pytest.raises(AuthenticationError),
    ):
        client.lip_sync.get("lip_task_1")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "clip.mp4?X-Amz-Signature=REDACTED&v=1" in logged  # the request was logged
    assert scan_for(CANARY, {"httpx log": logged}, record=False) == []
