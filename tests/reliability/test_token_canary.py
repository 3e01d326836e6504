"""A unique canary token goes through every client flow; it must surface nowhere.

The flows run against the sandbox (over real HTTP) and the hostile server.
Scanned: captured stdout/stderr, every log record at DEBUG (httpx, httpcore,
uvicorn, ours), errors (str, repr, `traceback.format_exc()`, and tracebacks
with local variables as IPython's `%xmode Verbose` shows them), reprs of
clients, configs, tasks, pages and batches, pickling attempts, display
bundles, and the files under KITTA_HOME (the journal). Servers record every
request: the result/media hosts must see no Authorization header at all, and
the sandbox must see the token only on its API routes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import pickle
import secrets
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import kitta_notebook.sandbox.app as sandbox_app
from kitta_notebook import AsyncKittaClient, KittaClient, LipSyncTask, ValidationError
from kitta_notebook.display.html import page_mimebundle, task_html, task_mimebundle
from kitta_notebook.sandbox import FaultConfig, Sandbox
from tests.reliability.hostile_server import HostileServer
from tests.reliability.reliability_helpers import FIGURES, scan_for

pytestmark = pytest.mark.slow

CANARY = "kitta-canary-" + secrets.token_hex(12)
POOR = CANARY + "-poor"  # also contains the canary


class AuthRecorder:
    """ASGI wrapper: remembers (method, path, Authorization) of every request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            self.seen.append((scope["method"], scope["path"], headers.get("authorization")))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def recorded_sandbox() -> Iterator[tuple[Sandbox, list[AuthRecorder]]]:
    recorders: list[AuthRecorder] = []
    original = sandbox_app.build_app

    def build_recording_app(ctx: Any) -> Any:
        recorder = AuthRecorder(original(ctx))
        recorders.append(recorder)
        return recorder

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox_app, "build_app", build_recording_app)
        sandbox = Sandbox({CANARY: 10_000_000, POOR: 10}, time_scale=0.02)
        sandbox.start()
    try:
        yield sandbox, recorders
    finally:
        sandbox.stop()


class Evidence:
    """Every text the flows produced, by name."""

    def __init__(self) -> None:
        self.texts: dict[str, str | bytes] = {}
        self.flows = 0

    def add(self, name: str, value: object) -> None:
        key = f"{len(self.texts):04d} {name}"
        self.texts[key] = value if isinstance(value, (str, bytes)) else repr(value)

    def error(self, name: str, exc: BaseException, *, verbose: bool = True) -> None:
        self.add(f"{name}: str", str(exc))
        self.add(f"{name}: repr", repr(exc))
        self.add(f"{name}: args", repr(exc.args))
        self.add(f"{name}: format_exception", "".join(traceback.format_exception(exc)))
        if verbose:
            self.verbose_traceback(name, exc)
        for attr in ("task", "request_id", "message", "code"):
            if hasattr(exc, attr):
                self.add(f"{name}: .{attr}", repr(getattr(exc, attr)))

    def verbose_traceback(self, name: str, exc: BaseException) -> None:
        """The traceback with every frame's local variables (IPython's `%xmode Verbose`)."""
        try:
            verbose = traceback.TracebackException.from_exception(exc, capture_locals=True)
        except Exception as failure:  # a local whose repr raises (e.g. a half-built object)
            FIGURES.add("canary", "tracebacks whose locals could not be shown", 1)
            self.add(f"{name}: traceback locals failure", repr(failure))
        else:
            self.add(f"{name}: traceback with locals", "".join(verbose.format()))

    def run(self, name: str, call: Callable[[], object], *, verbose: bool = True) -> object:
        """Run one flow; keep its result's reprs or its error's texts.

        `verbose=False` leaves out the traceback with local variables: where the
        token is itself an argument of a frame (a constructor), that view shows it,
        as it shows any argument.
        """
        self.flows += 1
        try:
            result = call()
        except Exception as exc:
            self.add(f"{name}: format_exc", traceback.format_exc())
            self.error(name, exc, verbose=verbose)
            return exc
        self.keep(name, result)
        return result

    def keep(self, name: str, value: object) -> None:
        self.add(f"{name}: repr", repr(value))
        self.add(f"{name}: str", str(value))
        bundle = getattr(value, "_repr_mimebundle_", None)
        if callable(bundle):
            for mime, text in bundle().items():
                self.add(f"{name}: {mime}", text)
        html = getattr(value, "_repr_html_", None)
        if callable(html):
            self.add(f"{name}: _repr_html_", html())
        for attempt in (pickle.dumps, copy.deepcopy, copy.copy):
            try:
                self.add(f"{name}: {attempt.__name__}", repr(attempt(value)))
            except Exception as exc:
                self.error(f"{name}: {attempt.__name__}", exc)


@pytest.fixture
def evidence(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Evidence]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(keep)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "kitta_notebook", "uvicorn", "asyncio", "hpack"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    found = Evidence()
    try:
        yield found
    finally:
        root.removeHandler(keep)
    captured = capfd.readouterr()
    found.add("stdout", captured.out)
    found.add("stderr", captured.err)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    found.add("log records (DEBUG)", "\n".join(formatter.format(r) for r in records))
    found.add("log record args", repr([(r.msg, r.args, r.__dict__) for r in records]))
    FIGURES.add("canary", "log records captured at DEBUG", len(records))
    FIGURES.add("canary", "client flows run with the canary token", found.flows)
    if os.environ.get("KITTA_DEBUG_EVIDENCE"):
        print("\n".join(f"{k}: {str(v)[:100]!r}" for k, v in found.texts.items()))
    hits = scan_for(CANARY, found.texts)
    assert hits == [], f"the canary token appeared in: {hits}"


def journal_files(home: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file()}


class FakeHandle:
    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.sink.extend(bundle.values())


# --- the sandbox ------------------------------------------------------------------------------
def test_canary_token_through_every_sandbox_flow(
    recorded_sandbox: tuple[Sandbox, list[AuthRecorder]],
    evidence: Evidence,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    _isolated_environment: Path,
) -> None:
    sandbox, recorders = recorded_sandbox
    import IPython.display

    shown: list[str] = []

    def fake_display(obj: Any, raw: bool = False, display_id: Any = None, **_: Any) -> Any:
        if isinstance(obj, dict):
            shown.extend(obj.values())
        return FakeHandle(shown) if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    media = sandbox.samples
    run = evidence.run
    with KittaClient(CANARY, base_url=sandbox.base_url, max_retries=1) as client:
        client._config.retry_base_delay = 0.01
        evidence.keep("client", client)
        evidence.add("config", repr(client._config))
        evidence.add("config token", repr(client._config.token))
        evidence.add("config vars", repr(vars(client)))
        video = run(
            "create video",
            lambda: client.lip_sync.create(video_url=media["video"], audio_url=media["audio"]),
        )
        image = run(
            "create image",
            lambda: client.lip_sync.create(
                image_url=media["image"],
                audio_url=media["audio"],
                reference_image_url=media["reference_image"],
                duration_seconds=2,
            ),
        )
        assert isinstance(video, LipSyncTask) and isinstance(image, LipSyncTask)
        watcher = run("watch", lambda: image.watch(poll_interval=0.05, timeout=60))
        run("wait", lambda: client.lip_sync.wait(video, timeout=60, poll_interval=0.05))
        assert video.succeeded
        assert watcher.join(60)  # type: ignore[attr-defined]
        run("get", lambda: client.lip_sync.get(video.task_id))
        run("refresh", video.refresh)
        run("list", lambda: client.lip_sync.list(limit=5))
        run("iter", lambda: list(client.lip_sync.iter(page_size=1)))
        run("usage", client.usage)
        run("server_info", client.server_info)
        run("download", lambda: video.download(tmp_path / "v.mp4"))
        run("embed", lambda: task_html(video, embed=True))
        run("mimebundle", lambda: task_mimebundle(video))
        run("page bundle", lambda: page_mimebundle(client.lip_sync.list()))
        run("fetch_bytes", lambda: client.fetch_bytes(str(video.result_video_url), max_bytes=1))
        run("404", lambda: client.lip_sync.get("lip_task_does_not_exist"))
        run(
            "400",
            lambda: client.lip_sync.create(
                video_url=media["video"], audio_url=media["audio"], model="no-such-model"
            ),
        )
        run("failed wait", lambda: client.lip_sync.wait(
            client.lip_sync.create(  # the server's failure path: past the preflight
                video_url=media["not_media"], audio_url=media["audio"], preflight=False),
            timeout=60, poll_interval=0.05))  # fmt: skip
        run("validation", lambda: client.lip_sync.create(audio_url="file:///x", video_url="x"))
        run("preflight", lambda: client.lip_sync.check(
            video_url=media["not_media"], audio_url=media["audio"]))  # fmt: skip
        run("wait timeout", lambda: client.lip_sync.wait(video.task_id, timeout=1e-9))
        if hasattr(client.lip_sync, "create_many"):
            batch = run(
                "create_many",
                lambda: client.lip_sync.create_many(
                    [{"video_url": media["video"], "audio_url": media["audio"]}] * 3
                    + [{"video_url": media["missing"], "audio_url": media["audio"]}],
                    progress=False,
                ),
            )
            run("wait_many", lambda: client.lip_sync.wait_many(batch.tasks, poll_interval=0.05))  # type: ignore[union-attr]
            run("batch", lambda: batch)
        sandbox.faults = FaultConfig(drop_rate=0.5, error_rate=0.5, seed=7)
        for index in range(6):
            run(f"fault {index}", lambda: client.lip_sync.get(video.task_id))
            run(
                f"fault create {index}",
                lambda: client.lip_sync.create(video_url=media["video"], audio_url=media["audio"]),
            )
        sandbox.faults = None
        run("journal", lambda: client.journal)
    with KittaClient(POOR, base_url=sandbox.base_url) as poor:
        run("402", lambda: poor.lip_sync.create(video_url=media["video"], audio_url=media["audio"]))
    with KittaClient(CANARY + "-wrong", base_url=sandbox.base_url) as wrong:
        run("401", lambda: wrong.lip_sync.list())
    with KittaClient(CANARY, base_url="http://127.0.0.1:9/api", max_retries=0) as closed:
        run("connection refused", lambda: closed.lip_sync.get("lip_task_1"))
        run(
            "connection refused create",
            lambda: closed.lip_sync.create(audio_url=media["audio"], video_url=media["video"]),
        )

    async def async_flows() -> None:
        async with AsyncKittaClient(CANARY, base_url=sandbox.base_url) as aclient:
            evidence.keep("async client", aclient)
            task = await aclient.lip_sync.create(video_url=media["video"], audio_url=media["audio"])
            await aclient.lip_sync.wait(task, timeout=60, poll_interval=0.05)
            evidence.keep("async task", task)
            evidence.keep("async page", await aclient.lip_sync.list())
            try:
                await aclient.lip_sync.get("lip_task_nope")
            except Exception as exc:
                evidence.error("async 404", exc)

    run("async flows", lambda: asyncio.run(async_flows()))
    evidence.add("display outputs", "\n".join(shown))
    for path, data in journal_files(_isolated_environment).items():
        evidence.add(f"file {path}", data)
    FIGURES.add(
        "canary", "files under KITTA_HOME scanned", len(journal_files(_isolated_environment))
    )

    # The sandbox saw the token on API routes only, and never on media.
    seen = [entry for recorder in recorders for entry in recorder.seen]
    api = [s for s in seen if s[1].startswith("/api/")]
    other = [s for s in seen if not s[1].startswith("/api/")]
    assert api and other, "expected both API and media requests"
    leaked = [s for s in other if s[2] is not None]
    assert leaked == [], f"Authorization sent to non-API routes: {leaked[:5]}"
    FIGURES.add("canary", "sandbox API requests (token expected)", len(api))
    FIGURES.add("canary", "sandbox media/result requests seen", len(other))
    FIGURES.add("canary", "Authorization headers on media/result requests found", len(leaked))


# --- the hostile server and a recording result host -------------------------------------------
def canary_flows(api: HostileServer, scenario: str, evidence: Evidence, tmp_path: Path) -> None:
    """get/list/create against one scenario; for `ok`, every way a result video is fetched."""
    client = KittaClient(
        CANARY, base_url=api.base_url(scenario), timeout=httpx.Timeout(0.5), max_retries=1
    )
    client._config.retry_base_delay = 0.001
    with client:
        task = evidence.run(f"{scenario} get", lambda: client.lip_sync.get("lip_task_1"))
        evidence.run(f"{scenario} list", lambda: client.lip_sync.list())
        evidence.run(
            f"{scenario} create",
            lambda: client.lip_sync.create(
                audio_url="https://m.example.com/a.mp3", video_url="https://m.example.com/v.mp4"
            ),
        )
        if not (isinstance(task, LipSyncTask) and scenario == "ok"):
            return
        evidence.run("download", lambda: task.download(tmp_path / "ok.mp4"))
        evidence.run("embed", lambda: task_html(task, embed=True))
        url = str(task.result_video_url)
        evidence.run("fetch_bytes", lambda: client.fetch_bytes(url, max_bytes=10**6))
        redirected = LipSyncTask(
            task.raw | {"resultVideoUrl": api.media_url("redirect.mp4")}, client=client
        )
        evidence.run("download redirect", lambda: redirected.download(tmp_path))


def test_canary_token_never_reaches_the_result_host(
    recorder: HostileServer, evidence: Evidence, tmp_path: Path
) -> None:
    recorder.clear()
    with HostileServer(media_origin=recorder.origin, redirect_to=recorder.origin) as api:
        for scenario in ("ok", "xss", "errors", "htmlerror", "badjson", "redirect", "stall"):
            canary_flows(api, scenario, evidence, tmp_path)
        on_api = api.recorded(lambda r: r.authorization is not None)
        assert all("/api/" in r.path for r in on_api)
        media_on_api = api.recorded(lambda r: r.path.startswith("/media/"))
        assert all(r.authorization is None for r in media_on_api)
    seen = recorder.recorded()
    assert any(r.path.startswith("/media/") for r in seen), "the result host was never asked"
    with_auth = [r for r in seen if r.authorization is not None]
    assert with_auth == [], with_auth
    stolen = [r for r in seen if r.path.startswith("/stolen")]
    assert stolen == []
    FIGURES.add("canary", "result-host requests recorded", len(seen))
    FIGURES.add("canary", "Authorization headers on media/result requests found", len(with_auth))
    FIGURES.add("canary", "cross-origin redirects followed with the token found", len(stolen))


# --- a token that cannot be sent ---------------------------------------------------------------
@pytest.mark.parametrize("junk", ["\n", "\r\n", "\x00", "\u200b", "\xa0x", " ", "é"])
def test_a_token_with_unsendable_characters_is_refused_without_echo(
    junk: str, evidence: Evidence
) -> None:
    """Regression: h11 quoted such a header (the token) in its error; now refused upfront."""
    bad = CANARY + junk + "tail"
    result = evidence.run(
        "bad token", lambda: KittaClient(bad, base_url="http://127.0.0.1:9/api"), verbose=False
    )
    assert isinstance(result, ValidationError), result
    client = KittaClient("placeholder", base_url="http://127.0.0.1:9/api")
    result = evidence.run("bad set_token", lambda: client.set_token(bad), verbose=False)
    assert isinstance(result, ValueError), result
    client.close()


def test_the_scan_finds_a_planted_token() -> None:
    """Control: the scanner sees the token plain, repr-escaped and JSON-escaped."""
    planted = {
        "plain": f"Authorization: Bearer {CANARY}",
        "bytes": f"x{CANARY}y".encode(),
        "repr": repr({"token": CANARY}),
        "clean": "nothing here",
    }
    assert scan_for(CANARY, planted, record=False) == ["plain", "bytes", "repr"]
