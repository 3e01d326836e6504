"""Downloads against a hostile media host on 127.0.0.1: bounded, checked, atomic.

Every failure is one `DownloadError` (never a raw httpx or OS error) and no
partial file stays behind; sync and async downloads behave the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaClient, LipSyncTask
from kitta_notebook._fetch import FetchLimits, _exception_text, fetch, url_for_errors
from kitta_notebook._kept import DEFAULT_DOWNLOAD_TIMEOUT
from kitta_notebook._written import MAX_NAME_CHARS, result_file_name, safe_stem
from kitta_notebook.errors import DownloadError, KittaError, ValidationError
from kitta_notebook.sandbox import Sandbox
from tests.downloads.download_helpers import TOKEN, finished_task
from tests.downloads.media_host import OK_BODY, MediaHost


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def offline_client() -> KittaClient:
    """A client whose API is unreachable: only the media host answers."""
    return KittaClient("tok-secret-download", base_url="http://127.0.0.1:9/api", journal=False)


# --- what arrives is checked -------------------------------------------------------------


def test_a_video_is_saved_whole(host: MediaHost, tmp_path: Path) -> None:
    task = finished_task(offline_client(), host.url("ok.mp4"))
    path = task.download(tmp_path)
    assert path == tmp_path / "lip_task_dl.mp4"
    assert path.read_bytes() == OK_BODY
    assert leftovers(tmp_path) == ["lip_task_dl.mp4"]


@pytest.mark.parametrize(
    ("name", "reason", "said"),
    [
        ("login.mp4", "not_media", "an HTML page"),
        ("json.mp4", "not_media", "a JSON document"),
        ("drop.mp4", "failed", "connection failed after"),
        ("lie.mp4", "failed", "connection failed after 10000 bytes"),
        ("big.mp4", "too_large", "larger than"),
    ],
)
def test_what_is_not_a_whole_video_is_an_error_and_leaves_no_file(
    host: MediaHost, tmp_path: Path, name: str, reason: str, said: str
) -> None:
    task = finished_task(offline_client(), host.url(name))
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path / "out.mp4")
    error = caught.value
    assert error.reason == reason and said in str(error), str(error)
    assert f"{host.base}/{name}" in str(error)
    assert leftovers(tmp_path) == []


def test_an_html_login_page_with_200_says_what_arrived(host: MediaHost, tmp_path: Path) -> None:
    task = finished_task(offline_client(), host.url("login.mp4"))
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path)
    assert caught.value.arrived == "an HTML page (often a login or error page)"
    assert caught.value.status_code == 200


def test_a_trickling_host_is_cut_off_at_the_deadline(host: MediaHost, tmp_path: Path) -> None:
    task = finished_task(offline_client(), host.url("trickle.mp4"))
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path, timeout=1.5)
    took = time.monotonic() - started
    # The deadline left for this fetch: the 1.5 s given, less what came before it.
    assert caught.value.reason == "timeout"
    assert re.search(r"did not deliver within 1\.(5|4\d*) s", str(caught.value))
    assert took < 5.0, took
    assert leftovers(tmp_path) == []


def test_a_stalled_host_is_cut_off_at_the_deadline_async(host: MediaHost, tmp_path: Path) -> None:
    task = finished_task(offline_client().as_async(), host.url("stall.mp4"))

    async def body() -> None:
        started = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            await task._owner().as_async().download(task, tmp_path, timeout=1.0)
        assert caught.value.reason == "timeout"
        assert time.monotonic() - started < 4.0

    asyncio.run(body())
    assert leftovers(tmp_path) == []


def test_async_download_checks_the_same(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client().as_async()

    async def body() -> None:
        ok = await client.download(finished_task(client, host.url("ok.mp4")), tmp_path)
        assert ok.read_bytes() == OK_BODY
        with pytest.raises(DownloadError):
            await client.download(finished_task(client, host.url("login.mp4"), "x"), tmp_path)

    asyncio.run(body())
    assert leftovers(tmp_path) == ["lip_task_dl.mp4"]


def test_the_default_deadline_is_documented() -> None:
    assert DEFAULT_DOWNLOAD_TIMEOUT == 600.0
    assert "600 s" in (LipSyncTask.download.__doc__ or "")
    assert "600 s" in (KittaClient.download.__doc__ or "")


def test_no_token_reaches_the_media_host_even_through_a_redirect(
    host: MediaHost, tmp_path: Path
) -> None:
    before = len(host.requests)
    task = finished_task(offline_client(), host.url("redirect.mp4"))
    assert task.download(tmp_path).read_bytes() == OK_BODY
    seen = host.requests[before:]
    assert [path for path, _ in seen] == ["/redirect.mp4", "/ok.mp4"]
    for _path, headers in seen:
        assert "authorization" not in headers
        assert "tok-secret-download" not in repr(headers)


def test_errors_never_show_credentials_or_signatures(host: MediaHost, tmp_path: Path) -> None:
    url = host.url("login.mp4").replace("http://", "http://user:hunter2@") + "?X-Sig=abc123"
    task = finished_task(offline_client(), url)
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path)
    assert "hunter2" not in str(caught.value) and "abc123" not in str(caught.value)
    assert (
        url_for_errors("https://u:p@h.example:8443/a/b.mp4?sig=1#x")
        == "https://h.example:8443/a/b.mp4"
    )
    quoted = ValueError("bad URL 'http://u:hunter2@h.example/x?sig=abc123'")
    assert _exception_text(quoted) == "bad URL 'http://h.example/x'"


def test_transport_failures_are_download_errors(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        fetch("http://127.0.0.1:9/nothing.mp4", FetchLimits(deadline=5, max_bytes=100))
    assert isinstance(caught.value, KittaError) and caught.value.reason == "failed"
    assert "the connection failed after 0 bytes (ConnectError: " in str(caught.value)
    assert "Connection refused" in str(caught.value)
    assert caught.value.status_code is None  # no answer, so no status


# --- expired links, overwriting, names -----------------------------------------------------


def test_an_expired_link_is_refreshed_once(
    sandbox: Sandbox, client: KittaClient, host: MediaHost, tmp_path: Path
) -> None:
    media = sandbox.samples
    real = client.lip_sync.create(audio_url=media["audio"], video_url=media["video"])
    real.wait(timeout=60, poll_interval=0.05)
    stale = finished_task(client, host.url("expired.mp4"), real.task_id)
    path = stale.download(tmp_path)
    assert path.read_bytes()[4:8] == b"ftyp" and stale.result_video_url == real.result_video_url


def test_an_expired_link_that_stays_expired_says_refresh(host: MediaHost, tmp_path: Path) -> None:
    client = offline_client()
    task = finished_task(client, host.url("expired.mp4"))
    client.lip_sync.get = lambda task_id: finished_task(client, host.url("expired.mp4"))  # type: ignore[method-assign]
    with pytest.raises(DownloadError) as caught:
        task.download(tmp_path)
    assert caught.value.expired and caught.value.status_code == 403
    assert "task.refresh()" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_rerunning_a_download_cell_overwrites_for_task_and_client(
    host: MediaHost, tmp_path: Path
) -> None:
    client = offline_client()
    task = finished_task(client, host.url("ok.mp4"))
    first = task.download(tmp_path / "result.mp4")
    assert task.download(tmp_path / "result.mp4").read_bytes() == OK_BODY  # re-run: replaced
    assert client.download(task, tmp_path / "result.mp4").read_bytes() == OK_BODY
    other = finished_task(client, host.url("redirect.mp4"), "lip_task_next")
    assert other.download(first) == first  # a new task, same cell: our own file is replaced
    with pytest.raises(DownloadError, match="overwrite=True"):
        task.download(tmp_path / "result.mp4", overwrite=False)
    with pytest.raises(DownloadError, match="overwrite=True"):
        client.download(task, tmp_path / "result.mp4", overwrite=False)
    assert leftovers(tmp_path) == ["result.mp4"]


def test_a_file_the_toolkit_did_not_write_is_never_replaced_unasked(
    host: MediaHost, tmp_path: Path
) -> None:
    """Rule: the toolkit never overwrites a file it did not write (issue 17)."""
    client = offline_client()
    task = finished_task(client, host.url("ok.mp4"))
    mine = tmp_path / "holiday.mp4"
    mine.write_bytes(b"the user's own video")
    before = len(host.requests)
    for call in (lambda: task.download(mine), lambda: client.download(task, mine)):
        with pytest.raises(DownloadError, match="not written by kitta-notebook") as caught:
            call()
        assert "overwrite=True" in str(caught.value)
    with pytest.raises(DownloadError, match="not written by kitta-notebook"):
        asyncio.run(client.as_async().download(task, mine))
    assert mine.read_bytes() == b"the user's own video" and len(host.requests) == before
    # A file the toolkit wrote and the user changed since is the user's now.
    ours = task.download(tmp_path / "result.mp4")
    ours.write_bytes(b"edited by hand")
    with pytest.raises(DownloadError, match="changed since"):
        task.download(ours)
    assert ours.read_bytes() == b"edited by hand"
    assert task.download(mine, overwrite=True).read_bytes() == OK_BODY  # asked for: replaced
    assert leftovers(tmp_path) == ["holiday.mp4", "result.mp4"]


@pytest.mark.parametrize("name", ["login.mp4", "drop.mp4", "lie.mp4", "expired.mp4"])
def test_a_failed_redownload_leaves_the_old_file_byte_for_byte(
    host: MediaHost, tmp_path: Path, name: str
) -> None:
    client = offline_client()
    client.lip_sync.get = lambda task_id: finished_task(client, host.url(name))  # type: ignore[method-assign]
    good = finished_task(client, host.url("ok.mp4")).download(tmp_path / "result.mp4")
    before = good.stat()
    for overwrite in (None, True):
        with pytest.raises(DownloadError):
            finished_task(client, host.url(name)).download(good, overwrite=overwrite)
        assert good.read_bytes() == OK_BODY and good.stat().st_mtime_ns == before.st_mtime_ns
    assert leftovers(tmp_path) == ["result.mp4"]


def test_the_target_is_untouched_until_the_whole_video_arrived(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes go to a hidden temporary file renamed into place: never straight into the target."""
    from kitta_notebook import _kept

    target = tmp_path / "result.mp4"
    target.write_bytes(b"old")
    seen: list[bytes] = []
    real_fetch = _kept.fetch

    def watching(url: str, limits: FetchLimits, sink: Any = None, **options: Any) -> Any:
        def observe(chunk: bytes) -> None:
            seen.append(target.read_bytes())  # what the target holds while bytes arrive
            sink(chunk)

        return real_fetch(url, limits, sink=observe, **options)

    monkeypatch.setattr(_kept, "fetch", watching)
    task = finished_task(offline_client(), host.url("ok.mp4"))
    assert task.download(target, overwrite=True).read_bytes() == OK_BODY
    assert seen and all(held == b"old" for held in seen), seen[:3]
    assert leftovers(tmp_path) == ["result.mp4"]


@pytest.mark.parametrize(
    "task_id",
    [
        "../../etc/passwd",
        "a" * 5000,
        "con",
        "..",
        "任务/一",
        "x\x00y",
        "<script>alert(1)</script>",
        "/absolute/path",
        "C:\\Windows\\evil",
    ],
)
def test_hostile_task_ids_give_safe_bounded_names(
    host: MediaHost, tmp_path: Path, task_id: str
) -> None:
    task = finished_task(offline_client(), host.url("ok.mp4"), task_id)
    path = task.download(tmp_path)
    assert path.parent == tmp_path and len(path.name) <= MAX_NAME_CHARS + 5
    assert path.read_bytes() == OK_BODY
    assert leftovers(tmp_path) == [path.name]


def test_safe_names_never_collide_for_different_ids() -> None:
    assert safe_stem("lip_task_123") == "lip_task_123"
    assert safe_stem("a/b") != safe_stem("a_b")
    assert safe_stem("a" * 300) != safe_stem("a" * 301)
    assert safe_stem("") == "result-e3b0c44298"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def test_a_changed_id_gets_a_plain_visible_name_with_its_hash() -> None:
    """Unsafe characters become `_`, no name starts hidden (`.`), a device name of
    Windows gets `task_` in any case and with any extension."""
    assert safe_stem("a/b") == f"a_b-{digest('a/b')}"
    assert safe_stem("..hidden.") == f"hidden-{digest('..hidden.')}"
    assert safe_stem("X_task_X") == "X_task_X"
    assert safe_stem("con") == f"task_con-{digest('con')}"
    assert safe_stem("CON.mp4") == f"task_CON.mp4-{digest('CON.mp4')}"
    assert safe_stem("lpt1.x") == f"task_lpt1.x-{digest('lpt1.x')}"


def test_a_name_uses_the_whole_length_allowed_and_no_more() -> None:
    assert safe_stem("a" * MAX_NAME_CHARS) == "a" * MAX_NAME_CHARS  # safe and short: as is
    long = safe_stem("a" * (MAX_NAME_CHARS + 1))
    assert long == "a" * (MAX_NAME_CHARS - 11) + "-" + digest("a" * (MAX_NAME_CHARS + 1))
    assert len(long) == MAX_NAME_CHARS


def test_an_id_that_is_not_valid_unicode_still_gets_its_own_name() -> None:
    """A lone surrogate (a JSON escape) is hashed as it is, never a UnicodeEncodeError."""
    raw = "lip_\ud800"
    hashed = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    assert safe_stem(raw) == f"lip-{hashed}"


def test_a_result_keeps_its_links_extension_or_is_an_mp4() -> None:
    assert result_file_name("lip_task_1", "https://cdn.test/out/v.MOV?sig=1") == "lip_task_1.mov"
    assert result_file_name("lip_task_1", "https://cdn.test/out/video") == "lip_task_1.mp4"
    assert result_file_name("lip_task_1", "https://cdn.test/v.mp4-part") == "lip_task_1.mp4"


def test_a_task_without_a_usable_result_link_is_refused_naming_it(
    host: MediaHost, tmp_path: Path
) -> None:
    """Before anything is fetched or written: no link yet, or one that is not a URL."""
    client = offline_client()
    pending = LipSyncTask({"taskId": "lip_task_wait", "status": "pending"}, client=client)
    broken = finished_task(client, "not a link")
    before = len(host.requests)
    with pytest.raises(ValidationError) as missing:
        pending.download(tmp_path / "a.mp4")
    with pytest.raises(ValidationError) as invalid:
        broken.download(tmp_path / "b.mp4")
    assert missing.value.problems == [
        ("result_video_url", "Task lip_task_wait has no result video yet (status pending).")
    ]
    assert [field for field, _ in invalid.value.problems] == ["result_video_url"]
    assert leftovers(tmp_path) == [] and len(host.requests) == before


def test_a_file_where_a_folder_should_be_is_a_clear_error(host: MediaHost, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    task = finished_task(offline_client(), host.url("ok.mp4"))
    with pytest.raises(DownloadError, match="Cannot create the folder"):
        task.download(blocker / "sub" / "out.mp4")


def test_a_bad_timeout_is_refused_before_any_request(host: MediaHost, tmp_path: Path) -> None:
    from kitta_notebook.errors import ValidationError

    before = len(host.requests)
    task = finished_task(offline_client(), host.url("ok.mp4"))
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            task.download(tmp_path, timeout=bad)
    assert len(host.requests) == before


def test_the_sandbox_quickstart_download_runs_twice(
    client: KittaClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    media = sandbox.samples
    task = client.lip_sync.create(audio_url=media["audio"], video_url=media["video"])
    task.wait(timeout=60, poll_interval=0.05)
    first = task.download(tmp_path / "result.mp4")
    second = task.download(tmp_path / "result.mp4")
    assert first == second and second.stat().st_size > 1000
    assert leftovers(tmp_path) == ["result.mp4"]
    assert TOKEN  # the sandbox account of this module


def test_a_sync_download_works_inside_a_running_loop(host: MediaHost, tmp_path: Path) -> None:
    """A notebook cell runs inside the kernel's loop: the sync call must still work there."""
    task = finished_task(offline_client(), host.url("ok.mp4"))

    async def cell() -> Path:
        return task.download(tmp_path)

    assert asyncio.run(cell()).read_bytes() == OK_BODY


def test_an_interrupted_sync_download_leaves_no_partial_file(
    host: MediaHost, tmp_path: Path
) -> None:
    """Ctrl-C in a cell (KeyboardInterrupt in the main thread) removes the hidden partial file."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("a signal reaches only the main thread")
    task = finished_task(offline_client(), host.url("trickle.mp4"))
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_writing() -> None:
        deadline = time.monotonic() + 10
        while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        signal.pthread_kill(main, signal.SIGINT)

    # Ctrl-C raises KeyboardInterrupt as in a kernel, also under a runner that ignores SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_writing, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            task.download(tmp_path, timeout=30)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 10
    assert leftovers(tmp_path) == []


def test_a_cancelled_download_leaves_no_partial_file(host: MediaHost, tmp_path: Path) -> None:
    """Interrupting a cell cancels the transfer; its hidden temporary file goes with it."""
    client = offline_client().as_async()
    task = finished_task(client, host.url("trickle.mp4"))

    async def body() -> None:
        running = asyncio.ensure_future(client.download(task, tmp_path, timeout=30))
        deadline = time.monotonic() + 10
        while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the download never started writing"
            await asyncio.sleep(0.02)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(body())
    # The download runs on a worker thread, which sees the cancel and cleans up within a
    # moment: far sooner than its 30 s timeout would end it.
    cancelled = time.monotonic()
    while leftovers(tmp_path) and time.monotonic() - cancelled < 3.0:
        time.sleep(0.02)
    assert leftovers(tmp_path) == []
