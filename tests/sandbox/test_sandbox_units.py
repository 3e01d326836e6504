"""The Python surface: lifecycle, accounts, stats, pricing, the mark, cheap import."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pytest

import kitta_notebook
from kitta_notebook.sandbox import (
    DEFAULT_CREDITS,
    DEFAULT_TOKEN,
    FaultConfig,
    Sandbox,
    estimate_credits,
)
from kitta_notebook.sandbox.context import FinishedTasks
from kitta_notebook.sandbox.mark import sandbox_mark_png
from kitta_notebook.sandbox.records import TaskRecord
from tests.sandbox.sandbox_helpers import TASKS, api_client, video_body

REPO = Path(kitta_notebook.__file__).resolve().parent.parent


def test_default_sandbox_has_one_rich_account() -> None:
    with Sandbox(time_scale=0.05) as sb:
        assert sb.token == DEFAULT_TOKEN
        assert sb.tokens == [DEFAULT_TOKEN]
        assert sb.balance() == DEFAULT_CREDITS
        assert sb.base_url == f"http://127.0.0.1:{sb.port}/api"
        assert sb.pro_tokens == frozenset()


def test_start_and_stop_are_idempotent() -> None:
    sb = Sandbox(time_scale=0.05)
    with pytest.raises(RuntimeError):
        _ = sb.base_url
    assert sb.start() is sb
    port = sb.port
    sb.start()
    assert sb.port == port
    assert httpx.get(f"{sb.base_url}/v1/openapi.json", timeout=10).status_code == 200
    sb.stop()
    sb.stop()
    assert not sb.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5)


def test_stop_is_fast_with_work_in_flight() -> None:
    import time

    sb = Sandbox(time_scale=0.05).start()
    with api_client(sb, sb.token) as client:
        for _ in range(5):
            client.post(TASKS, json=video_body(sb, audioUrl=sb.samples["audio_zh"]))
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 3


def test_accounts_pro_grants_and_runtime_changes() -> None:
    with Sandbox({"a": 10, "b": 20}, pro_tokens=["c"], time_scale=0.05) as sb:
        assert sb.token == "a"
        assert set(sb.tokens) == {"a", "b", "c"}
        assert sb.balance("c") == DEFAULT_CREDITS
        sb.set_balance("a", 5000)
        sb.add_account("d", 7, pro=True)
        assert sb.balance("a") == 5000 and sb.balance("d") == 7
        assert "d" in sb.pro_tokens
        with pytest.raises(KeyError):
            sb.balance("nobody")


@pytest.mark.parametrize(
    "kwargs",
    [{"accounts": {"": 1}}, {"accounts": {"a b": 1}}, {"accounts": {"a": -1}}, {"time_scale": -1}],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Sandbox(**kwargs)  # type: ignore[arg-type]


def test_stats_count_requests_by_route_and_reset() -> None:
    with Sandbox(time_scale=0.05) as sb, api_client(sb, sb.token) as client:
        sb.stats.reset()
        client.post(TASKS, json=video_body(sb))
        client.get(TASKS)
        client.get(TASKS)
        client.get("/v1/usage")
        client.get("/v1/nope")
        snap = sb.stats.snapshot()
        assert snap["total"] == 5
        assert snap["by_route"]["create"] == 1 and snap["by_route"]["list"] == 2
        assert snap["by_route"]["usage"] == 1 and snap["by_route"]["api_other"] == 1
        assert snap["by_method"] == {"POST": 1, "GET": 4}
        assert snap["by_status"] == {202: 1, 200: 3, 404: 1}
        assert sb.stats.creates_accepted == 1
        sb.stats.reset()
        assert sb.stats.total == 0 and sb.stats.by_route == {}


def test_faults_can_be_set_at_runtime() -> None:
    config = FaultConfig(error_rate=1.0)
    with Sandbox(time_scale=0.05, faults=config) as sb, api_client(sb, sb.token) as client:
        assert client.get(TASKS).status_code == 500
        sb.faults = None
        assert client.get(TASKS).status_code == 200
        assert not sb.faults.active


def test_price_table() -> None:
    assert estimate_credits("kitta-lip-sync-v1", 12) == 1200
    assert estimate_credits("kitta-lip-sync-v1", 0.2) == 100  # one-second minimum
    # Billed by the length rounded to hundredths (the precision ffmpeg reports).
    assert estimate_credits("kitta-lip-sync-v1", 4.29375) == 429
    assert estimate_credits("kitta-lip-sync-v1", 4.291) == 429
    assert estimate_credits("kitta-lip-sync-v1", 4.296) == 430
    assert estimate_credits("kitta-lip-sync-pro", 12) == 2400
    assert estimate_credits("kitta-lip-sync-v1", None) == 1000
    with pytest.raises(KeyError):
        estimate_credits("nope", 1)


def test_mark_is_a_valid_rgba_png() -> None:
    png = sandbox_mark_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (kind, length, depth, colour) == (b"IHDR", 13, 8, 6)
    assert width > 60 and height > 15
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4 : idat])[0]
    raw = zlib.decompress(png[idat + 4 : idat + 4 + size])
    assert len(raw) == height * (1 + 4 * width)


def test_import_is_cheap_and_stateless() -> None:
    # Measured against what the client package itself loads: only the sandbox's own cost.
    code = (
        "import sys, threading; import kitta_notebook; before = set(sys.modules); "
        "import kitta_notebook.sandbox as s; "
        "new = set(sys.modules) - before; "
        "heavy = [m for m in new if m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette')]; "
        "views = [m for m in new if m.startswith(('kitta_notebook.widgets', "
        "'kitta_notebook.display'))]; "
        "assert not heavy and not views, (heavy, views); "
        "assert not [m for m in new if m.startswith('kitta_notebook.') "
        "and not m.startswith('kitta_notebook.sandbox')], new; "
        "assert threading.active_count() == 1; print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        check=False,
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_client_factories(tmp_path: Path) -> None:
    with Sandbox({"x": 1000}, time_scale=0.05) as sb:
        client = sb.client(timeout=5)
        try:
            assert client.usage()["balance"] == 1000
        finally:
            client.close()
        other = sb.async_client()
        assert type(other).__name__ == "AsyncKittaClient"


def test_sandbox_imports_nothing_from_the_client() -> None:
    """Only ``Sandbox.client()``/``async_client()`` build a client (imported when called,
    named in TYPE_CHECKING); no other module of the package is ever imported."""
    import ast

    package = Path(kitta_notebook.__file__).parent / "sandbox"
    allowed = {("server.py", "kitta_notebook")}
    for path in package.rglob("*.py"):
        depth = len(path.relative_to(package).parts) - 1  # 0: sandbox/, 1: sandbox/routes/
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > depth + 1:
                    pytest.fail(f"{path.name} imports from outside the sandbox: {node.module}")
                names = [node.module or ""] if node.level == 0 else []
            for name in names:
                if name.startswith("kitta_notebook") and (path.name, name) not in allowed:
                    assert name.startswith("kitta_notebook.sandbox"), (path.name, name)


def test_responses_are_not_delayed_by_nagle() -> None:
    """Headers and body leave in separate writes: without TCP_NODELAY each response
    waits for a delayed ACK (~40 ms)."""
    import statistics
    import time

    with Sandbox(time_scale=0.05) as sb, api_client(sb, sb.token) as client:
        client.get(TASKS)
        times = []
        for _ in range(15):
            start = time.perf_counter()
            client.get(TASKS)
            times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.025


def _record(task_id: str, status: str) -> TaskRecord:
    return TaskRecord(
        row=1,
        task_id=task_id,
        token="t",
        status=status,
        model="m",
        input_mode="video",
        video_url="v",
        image_url=None,
        audio_url="a",
        reference_image_url=None,
        duration_seconds=None,
        credits_charged=1,
        created_ts=0.0,
        started_ts=None,
        completed_ts=None,
        render_key=None,
        error_code=None,
        error_message=None,
    )


def test_finished_tasks_keep_only_finished_ones_and_the_most_recently_used() -> None:
    kept = FinishedTasks(capacity=2)
    kept.add(_record("running", "processing"))
    assert kept.get("running") is None and len(kept) == 0
    for name in ("a", "b"):
        kept.add(_record(name, "succeeded"))
    assert kept.get("a") is not None  # a is now the most recently used
    kept.add(_record("c", "failed"))
    assert kept.get("b") is None and kept.get("a") is not None and kept.get("c") is not None
    assert len(kept) == 2
