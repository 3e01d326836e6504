"""A hostile Kitta API server of our own, on 127.0.0.1 only, for reliability tests.

It speaks the contract's routes (create, list, get, usage, openapi) but every
answer is something a broken, compromised or malicious server might send:
script in every string field, ``javascript:`` and ``data:text/html`` result
URLs, invalid JSON, HTML error pages, unknown statuses and fields, 10,000-item
pages, slow-drip and stalled bodies, cross-origin redirects, huge bodies.

The scenario is chosen by the URL, so one server serves them all::

    with HostileServer() as server:
        client = KittaClient("t", base_url=server.base_url("xss"))

API routes live under ``/s/<scenario>/api/v1/...``; media under ``/media/<name>``.
Every request is recorded (method, path, headers) so tests can check where a
token went. The server is stdlib only (``http.server``), so a notebook kernel
can import it from a copied file. Every slow answer is bounded in time and
stops as soon as the client goes away.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "HOSTILE_STRINGS",
    "HOSTILE_URLS",
    "SCENARIOS",
    "HostileServer",
    "RecordedRequest",
    "hostile_dto",
]

TASKS = "/v1/lip-sync/tasks"

#: Markup a server could put in any string field. Each one, if it ever ran in a
#: browser, would open a dialog or set ``window.__kittaPwned``.
HOSTILE_STRINGS: tuple[str, ...] = (
    "<script>alert('kitta-xss-1');window.__kittaPwned=1</script>",
    '"><img src=x onerror="alert(\'kitta-xss-2\');window.__kittaPwned=2">',
    "'><svg onload=alert('kitta-xss-3')>",
    "</code></td></tr></table></div><iframe src=\"javascript:alert('kitta-xss-4')\"></iframe>",
    "<a href=\"javascript:alert('kitta-xss-5')\">click me</a>",
    "<style>*{display:none!important}</style><body onload=alert('kitta-xss-6')>",
    "javascript:alert('kitta-xss-7')",
    "<details open ontoggle=alert('kitta-xss-8')>x</details>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('kitta-xss-9')>",
    "{{constructor.constructor('alert(10)')()}} ${alert(11)} <!-- --><script>alert(12)</script>",
    "\u202e<b onmouseover=alert('kitta-xss-13')>gnp.exe</b>",
    "&lt;script&gt;alert('kitta-xss-14')&lt;/script&gt;",
    "<video src=x onerror=alert('kitta-xss-15')></video><audio src=x onerror=alert(16)>",
    "<object data=\"data:text/html,<script>alert('kitta-xss-17')</script>\"></object>",
    "<form action=javascript:alert(18)><button>go</button></form>"
    "<input autofocus onfocus=alert(19)>",
    "<base href=\"javascript:alert('kitta-xss-20')//\"><link rel=import href=x>",
    "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(21)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('kitta-xss-22')>\">",
    '<div style="background:url(javascript:alert(23))">x</div>',
    "\x00<script>alert(24)</script>\x1b[31m",
)

#: Result URLs that must never reach a ``src`` or ``href`` (``{media}`` is filled
#: with the server's media origin).
HOSTILE_URLS: tuple[str, ...] = (
    "javascript:alert('kitta-url-1')",
    "JaVaScRiPt:alert('kitta-url-2')",
    " javascript:alert('kitta-url-3')",
    "java\tscript:alert('kitta-url-4')",
    "\x00javascript:alert('kitta-url-5')",
    "data:text/html,<script>alert('kitta-url-6')</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgna2l0dGEtdXJsLTcnKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert('kitta-url-8')>",
    "vbscript:msgbox('kitta-url-9')",
    "//evil.example/x.mp4",
    "https:\\\\evil.example\\x.mp4",
    "file:///etc/passwd",
    "blob:https://evil.example/0000",
    "https://cdn.example.com/x.mp4\" onerror=\"alert('kitta-url-10')",
    "https://cdn.example.com/x.mp4' onerror='alert(11)",
    "https://cdn.example.com/x.mp4#\"><script>alert('kitta-url-12')</script>",
    "{media}/media/ok.mp4?q=<script>alert('kitta-url-13')</script>",
    "{media}/media/html.mp4",
    "https://cdn.example.com/a b.mp4",
    "",
)

#: Every API scenario (the first path segment after ``/s/``).
SCENARIOS: tuple[str, ...] = (
    "xss",  # every string field hostile, hostile result URLs, progressing tasks
    "unknown",  # unknown statuses, wrong types, extra fields, junk list items
    "badjson",  # 200 with invalid JSON / not an object / deeply nested JSON
    "htmlerror",  # HTML error pages (and 200 text/html)
    "errors",  # the error envelope, every field hostile
    "bigpage",  # a list page of 10,000 hostile items
    "loop",  # a list that always says hasMore with the same items
    "drip",  # the body trickles one byte at a time (never a read-timeout gap)
    "stall",  # headers, part of the body, then silence
    "redirect",  # every answer is a redirect to another origin
    "huge",  # a body that claims to be huge and keeps coming
    "hugefield",  # a valid DTO whose strings are megabytes long
    "ok",  # a well-behaved server (control)
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def hostile_dto(index: int, *, status: str = "succeeded", media: str = "") -> dict[str, Any]:
    """A full task DTO with a hostile string in every string field."""
    text = HOSTILE_STRINGS[index % len(HOSTILE_STRINGS)]
    url = HOSTILE_URLS[index % len(HOSTILE_URLS)].replace("{media}", media)
    return {
        "id": text,
        "taskId": f"hostile-{index}-{text}",
        "type": text,
        "status": status,
        "model": text,
        "inputMode": text,
        "resultVideoUrl": url,
        "errorCode": text,
        "errorMessage": text,
        "creditsCharged": index,
        "createdAt": "2026-07-01T08:00:00.000Z",
        "startedAt": "2026-07-01T08:00:03.000Z",
        "completedAt": "2026-07-01T08:01:20.000Z",
        text: text,  # an unknown field whose name is hostile too
    }


def _well_formed(task_id: str, status: str, media: str) -> dict[str, Any]:
    done = status in ("succeeded", "failed")
    return {
        "id": "row_" + task_id,
        "taskId": task_id,
        "type": "lip_sync",
        "status": status,
        "model": "kitta-lip-sync-v1",
        "inputMode": "video",
        "resultVideoUrl": f"{media}/media/ok.mp4" if status == "succeeded" else None,
        "errorCode": "provider_error" if status == "failed" else None,
        "errorMessage": "failed" if status == "failed" else None,
        "creditsCharged": 100,
        "createdAt": "2026-07-01T08:00:00.000Z",
        "startedAt": "2026-07-01T08:00:01.000Z" if status != "pending" else None,
        "completedAt": "2026-07-01T08:00:09.000Z" if done else None,
    }


# JSON-ish bodies a broken server sends with 200.
BAD_JSON_BODIES: tuple[bytes, ...] = (
    b'{"taskId": "lip_task_1", "status": ',
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b"NaN",
    b"<html><body><script>alert('kitta-json')</script></body></html>",
    b"\xff\xfe\x00{\x00}",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"taskId": "x", "status": "pending"}' + b"\x00garbage",
    b"",
)

HTML_PAGE = (
    b"<!doctype html><html><head><title>502 Bad Gateway</title>"
    b"<script>alert('kitta-html-error');window.__kittaPwned=99</script></head>"
    b"<body><h1>502 Bad Gateway</h1><img src=x onerror=alert(1)></body></html>"
)


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with a recording of every request.

    ``redirect_to`` is the origin the ``redirect`` scenario and ``/media/redirect.mp4``
    send clients to (another origin: a second ``HostileServer`` used as a recorder).
    ``media_origin`` is where result URLs point (default: this server's own
    ``/media/``); ``media_bytes`` is served at ``/media/ok.mp4``. ``drip_interval`` and
    ``drip_max_seconds`` pace and bound every trickling answer; ``huge_cap``
    bounds how many bytes a ``huge`` answer sends before it gives up.
    """

    def __init__(
        self,
        *,
        redirect_to: str | None = None,
        media_origin: str | None = None,
        media_bytes: bytes = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
        drip_interval: float = 0.1,
        drip_max_seconds: float = 8.0,
        huge_cap: int = 64 * 1024 * 1024,
        progress_steps: int = 2,
    ) -> None:
        self.redirect_to = redirect_to
        self.media_origin = media_origin
        self.media_bytes = media_bytes
        self.drip_interval = drip_interval
        self.drip_max_seconds = drip_max_seconds
        self.huge_cap = huge_cap
        self.progress_steps = progress_steps
        self.requests: list[RecordedRequest] = []
        self.bytes_sent: Counter[str] = Counter()
        self.aborted: Counter[str] = Counter()
        self._polls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> HostileServer:
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._stop.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hostile-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # ends every drip / stall at once
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the hostile server is not running")
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, scenario: str) -> str:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        return f"{self.origin}/s/{scenario}/api"

    def media_url(self, name: str) -> str:
        return f"{self.origin}/media/{name}"

    # --- recording ---------------------------------------------------------------------
    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def recorded(self, predicate: Callable[[RecordedRequest], bool] | None = None) -> list[Any]:
        with self._lock:
            items = list(self.requests)
        return [r for r in items if predicate is None or predicate(r)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent.clear()
            self.aborted.clear()
            self._polls.clear()

    def poll_count(self, task_id: str) -> int:
        with self._lock:
            self._polls[task_id] += 1
            return self._polls[task_id]

    def sleep(self, seconds: float) -> bool:
        """Pause a slow answer; False when the server is stopping (give up)."""
        return not self._stop.wait(seconds)


def _make_handler(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_HostileHandler):
        owner = server

    return Handler


class _ClientGone(Exception):
    pass


class _HostileHandler(BaseHTTPRequestHandler):
    owner: HostileServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    server_version = "hostile/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    # --- plumbing ----------------------------------------------------------------------
    def _body(self) -> bytes:
        length = self.headers.get("content-length")
        if length and length.isdigit():
            return self.rfile.read(min(int(length), 1_000_000))
        return b""

    def _record(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.owner.record(RecordedRequest(self.command, self.path, headers, body))

    def _write(self, data: bytes, route: str) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            self.owner.aborted[route] += 1
            raise _ClientGone from exc
        self.owner.bytes_sent[route] += len(data)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        route: str = "api",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self._write(body, route)

    def _json(self, status: int, payload: object, **headers: str) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _drip(self, body: bytes, route: str) -> None:
        """Headers at once, then one byte per interval (bounded; stops if the client left)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + self.owner.drip_max_seconds
        for index in range(len(body)):
            if time.monotonic() > deadline or not self.owner.sleep(self.owner.drip_interval):
                return
            self._write(body[index : index + 1], route)

    def _stall(self, body: bytes, route: str) -> None:
        """Headers and half the body, then silence until the client gives up (bounded)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        self._write(body[: len(body) // 2], route)
        deadline = time.monotonic() + self.owner.drip_max_seconds
        while time.monotonic() < deadline and self.owner.sleep(0.05):
            if _peer_closed(self.connection):
                self.owner.aborted[route] += 1
                return

    def _huge(self, route: str, content_type: str = "application/json") -> None:
        """Claims 100 GB and sends JSON-ish bytes until the cap or the client leaves."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(100 * 1024**3))
        self.end_headers()
        self.close_connection = True
        chunk = b'{"taskId": "' + b"A" * (256 * 1024)
        self._write(chunk[:13], route)
        sent = 0
        filler = b"A" * (256 * 1024)
        while sent < self.owner.huge_cap and not self.owner._stop.is_set():
            self._write(filler, route)
            sent += len(filler)

    def _redirect(self, route: str) -> None:
        target = (self.owner.redirect_to or "http://127.0.0.1:9") + "/stolen" + self.path
        self._send(
            307,
            b'{"redirect": true}',
            headers={"Location": target},
            route=route,
        )

    # --- dispatch ----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._body()
        self._record(body)
        try:
            path = urlsplit(self.path).path
            if path.startswith("/media/"):
                self._media(unquote(path.removeprefix("/media/")))
            elif path.startswith("/s/"):
                scenario, _, rest = path.removeprefix("/s/").partition("/")
                if not rest.startswith("api/"):
                    self._json(404, {"error": {"code": "not_found", "message": path}})
                    return
                self._api(scenario, "/" + rest.removeprefix("api/"), body)
            else:
                self._json(404, {"error": {"code": "not_found", "message": "no route"}})
        except _ClientGone:
            self.close_connection = True

    # --- media -------------------------------------------------------------------------
    def _media(self, name: str) -> None:
        route = "media:" + name
        if name == "ok.mp4":
            self._send(200, self.owner.media_bytes, "video/mp4", route=route)
        elif name == "html.mp4":
            self._send(200, HTML_PAGE, "text/html", route=route)
        elif name == "drip.mp4":
            self._drip(self.owner.media_bytes * 8, route)
        elif name == "stall.mp4":
            self._stall(self.owner.media_bytes * 8, route)
        elif name == "huge.mp4":
            self._huge(route, "video/mp4")
        elif name == "redirect.mp4":
            target = (self.owner.redirect_to or self.owner.origin) + "/media/ok.mp4"
            self._send(302, b"", "text/plain", headers={"Location": target}, route=route)
        elif name == "expired.mp4":
            self._send(403, HTML_PAGE, "text/html", route=route)
        else:
            self._send(404, b"no such media", "text/plain", route=route)

    # --- API ---------------------------------------------------------------------------
    def _api(self, scenario: str, path: str, body: bytes) -> None:
        owner = self.owner
        media = owner.media_origin or owner.origin
        query = parse_qs(urlsplit(self.path).query)
        is_list = path == TASKS and self.command == "GET"
        is_create = path == TASKS and self.command == "POST"
        task_id = unquote(path.removeprefix(TASKS + "/")) if path.startswith(TASKS + "/") else None
        route = f"api:{scenario}"

        if scenario == "ok":
            if is_create:
                self._json(202, _well_formed("lip_task_ok", "pending", media))
            elif task_id is not None:
                self._json(200, _well_formed(task_id, "succeeded", media))
            elif is_list:
                items = [_well_formed(f"lip_task_{i}", "succeeded", media) for i in range(3)]
                self._json(200, {"data": items, "pagination": {"limit": 20, "offset": 0}})
            else:
                self._json(200, {"balance": 1})
            return

        if scenario == "xss":
            if is_create:
                self._json(202, hostile_dto(0, status="pending", media=media))
            elif task_id is not None:
                self._json(200, self._xss_detail(task_id, media))
            elif is_list:
                items = [hostile_dto(i, media=media) for i in range(len(HOSTILE_STRINGS))]
                for item in items:
                    for name in ("id", "model", "errorCode", "errorMessage"):
                        item.pop(name, None)
                self._json(
                    200,
                    {
                        "data": items,
                        "pagination": {"limit": 100, "offset": 0, "hasMore": False},
                        HOSTILE_STRINGS[0]: HOSTILE_STRINGS[1],
                    },
                )
            else:
                self._json(200, {s: s for s in HOSTILE_STRINGS})
            return

        if scenario == "unknown":
            weird_statuses: list[object] = [
                "queued_for_gpu",
                "SUCCEEDED",
                "",
                42,
                None,
                ["failed"],
                {"status": "failed"},
                True,
                "succeeded\u200b",
            ]
            if is_create or task_id is not None:
                index = owner.poll_count(task_id or "create") % len(weird_statuses)
                self._json(
                    202 if is_create else 200,
                    {
                        "taskId": task_id or "lip_task_unknown",
                        "status": weird_statuses[index],
                        "creditsCharged": ["1e309", "NaN", -5, 10**40, "abc", 1.5e308, {}][
                            index % 7
                        ],
                        "createdAt": ["0001-01-01T00:00:00+14:00", 12345, "tomorrow", None][
                            index % 4
                        ],
                        "completedAt": "9999-12-31T23:59:59-14:00",
                        "resultVideoUrl": {"nested": HOSTILE_STRINGS[0]},
                        "model": 3.14,
                        "errorMessage": [HOSTILE_STRINGS[1]],
                        "brandNewField": {"deep": [1, {"x": HOSTILE_STRINGS[2]}]},
                    },
                )
            elif is_list:
                junk: list[object] = [
                    "a string item",
                    17,
                    None,
                    [1, 2],
                    {"noTaskId": True},
                    {"taskId": None, "status": "failed"},
                    {"taskId": 12345, "status": "pending"},
                ]
                items = [
                    {"taskId": f"lip_task_{i}", "status": s, "extra": HOSTILE_STRINGS[i % 5]}
                    for i, s in enumerate(weird_statuses)
                ]
                self._json(
                    200,
                    {
                        "data": junk + items,
                        "pagination": {"limit": "20", "offset": None, "hasMore": "yes"},
                    },
                )
            else:
                self._json(200, {"unexpected": True})
            return

        if scenario == "badjson":
            index = owner.poll_count("badjson") - 1
            self._send(
                202 if is_create else 200,
                BAD_JSON_BODIES[index % len(BAD_JSON_BODIES)],
                route=route,
            )
            return

        if scenario == "htmlerror":
            codes = (502, 500, 503, 404, 401, 400, 429, 200, 418, 302)
            index = owner.poll_count("htmlerror") - 1
            code = codes[index % len(codes)]
            extra = {"Retry-After": "0"} if code == 429 else {}
            self._send(code, HTML_PAGE, "text/html; charset=utf-8", headers=extra, route=route)
            return

        if scenario == "errors":
            codes = (400, 401, 402, 403, 404, 409, 422, 500, 503, 599)
            index = owner.poll_count("errors") - 1
            text = HOSTILE_STRINGS[index % len(HOSTILE_STRINGS)]
            self._json(
                codes[index % len(codes)],
                {"error": {"code": text, "message": text, "requestId": text}},
                **{"X-Request-Id": "req-" + str(index)},
            )
            return

        if scenario == "bigpage":
            if is_list:
                items = [
                    {
                        "taskId": f"big-{i}-{HOSTILE_STRINGS[i % len(HOSTILE_STRINGS)]}",
                        "type": "lip_sync",
                        "status": "succeeded",
                        "inputMode": HOSTILE_STRINGS[(i + 1) % len(HOSTILE_STRINGS)],
                        "resultVideoUrl": HOSTILE_URLS[i % len(HOSTILE_URLS)].replace(
                            "{media}", media
                        ),
                        "creditsCharged": i,
                    }
                    for i in range(10_000)
                ]
                self._json(
                    200, {"data": items, "pagination": {"limit": 20, "offset": 0, "hasMore": False}}
                )
            else:
                self._json(200, hostile_dto(1, media=media))
            return

        if scenario == "loop":
            # The same items on every page, "hasMore" until offset 300 (bounds a client
            # that keeps following it to 100 requests).
            raw_offset = (query.get("offset") or ["0"])[0]
            offset = int(raw_offset) if raw_offset.isdigit() else 0
            items = [{"taskId": f"loop-{i}", "status": "succeeded"} for i in range(3)]
            more = offset < 300
            self._json(
                200, {"data": items, "pagination": {"limit": 3, "offset": offset, "hasMore": more}}
            )
            return

        payload = json.dumps(_well_formed(task_id or "lip_task_slow", "succeeded", media))
        if scenario == "drip":
            self._drip(payload.encode(), route)
        elif scenario == "stall":
            self._stall(payload.encode(), route)
        elif scenario == "redirect":
            self._redirect(route)
        elif scenario == "huge":
            self._huge(route)
        elif scenario == "hugefield":
            big = HOSTILE_STRINGS[0] * (4 * 1024 * 1024 // len(HOSTILE_STRINGS[0]))
            dto = hostile_dto(0, status="failed", media=media)
            dto.update(errorMessage=big, errorCode=big[:100_000], taskId="lip_task_huge")
            self._json(202 if is_create else 200, dto)
        else:
            self._json(404, {"error": {"code": "not_found", "message": "unknown scenario"}})

    def _xss_detail(self, task_id: str, media: str) -> dict[str, Any]:
        """`prog-N`: pending -> processing -> succeeded over polls; `N`: hostile DTO N."""
        owner = self.owner
        if task_id.startswith("prog-"):
            polls = owner.poll_count(task_id)
            steps = owner.progress_steps
            status = "pending" if polls <= 1 else "processing" if polls <= steps else "succeeded"
            index = int(task_id.removeprefix("prog-") or 0) if task_id[5:].isdigit() else 0
            dto = hostile_dto(index, status=status, media=media)
            dto["taskId"] = task_id
            return dto
        digits = "".join(ch for ch in task_id.split("-")[-1] if ch.isdigit())[:4]
        index = int(digits) if digits else 0
        dto = hostile_dto(index, media=media)
        dto["taskId"] = task_id
        return dto


def _peer_closed(connection: socket.socket) -> bool:
    """True once the client closed its side (a readable socket with nothing to read)."""
    try:
        connection.setblocking(False)
        try:
            data = connection.recv(1, socket.MSG_PEEK)
        finally:
            connection.setblocking(True)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b""


def iter_hostile_tasks(media: str = "") -> Iterator[dict[str, Any]]:
    """One hostile DTO per hostile string / URL pairing (for tests without a server)."""
    for index in range(max(len(HOSTILE_STRINGS), len(HOSTILE_URLS))):
        for status in ("pending", "processing", "succeeded", "failed"):
            yield hostile_dto(index, status=status, media=media)
