"""Regression tests: no input or internal error ever turns into a broken connection,
the charge at creation matches the final one, and the reported clock can be shifted."""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook.sandbox import Sandbox, SandboxConfigError
from kitta_notebook.sandbox.samples import SAMPLES_DIR
from kitta_notebook.sandbox.store import Store
from tests.sandbox.sandbox_helpers import (
    TASKS,
    V1,
    api_client,
    assert_error,
    image_body,
    video_body,
    wait_terminal,
)


def _local_port(response: httpx.Response) -> int:
    """The client-side port of the connection that carried ``response``."""
    stream: Any = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


@pytest.mark.parametrize(
    "query",
    [
        {"offset": "99999999999999999999999"},
        {"offset": "9223372036854775808"},
        {"offset": "9" * 5000},  # past Python's own int() digit limit
        {"limit": "99999999999999999999999"},
    ],
)
def test_offsets_and_limits_beyond_64_bit_are_a_400(
    alice: httpx.Client, query: dict[str, str]
) -> None:
    response = alice.get(TASKS, params=query)
    error = assert_error(response, 400, "invalid_request")
    assert next(iter(query)) in error["message"]


def test_largest_offset_is_accepted(alice: httpx.Client) -> None:
    response = alice.get(TASKS, params={"offset": str(2**63 - 1)})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


def test_internal_error_keeps_the_connection_usable(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Store, *args: object, **kwargs: object) -> object:
        raise RuntimeError("simulated bug in the store")

    with api_client(sandbox, "alice-token") as client:
        monkeypatch.setattr(Store, "list_tasks", broken)
        failed = client.get(TASKS)
        monkeypatch.undo()
        assert_error(failed, 500, "internal_error")
        created = client.post(TASKS, json=video_body(sandbox, durationSeconds=1))
        assert created.status_code == 202, created.text
        assert _local_port(created) == _local_port(failed)  # the same kept-alive connection


def test_internal_error_on_create_answers_500_and_next_create_works(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def broken(self: Store, *args: object, **kwargs: object) -> object:
        calls.append((args, kwargs))
        raise RuntimeError("simulated bug in the store")

    with api_client(sandbox, "alice-token") as client:
        monkeypatch.setattr(Store, "create_task", broken)
        failed = client.post(TASKS, json=video_body(sandbox, durationSeconds=1))
        monkeypatch.undo()
        assert_error(failed, 500, "internal_error")
        assert len(calls) == 1
        created = client.post(TASKS, json=video_body(sandbox, durationSeconds=1))
        assert created.status_code == 202, created.text
        assert _local_port(created) == _local_port(failed)


def _wav_seconds(name: str) -> float:
    import wave

    with wave.open(str(SAMPLES_DIR / name), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.mark.parametrize(
    ("audio", "file"), [("audio", "speech-en.wav"), ("audio_zh", "speech-zh.wav")]
)
def test_charge_at_creation_equals_the_final_one(
    sandbox: Sandbox, alice: httpx.Client, audio: str, file: str
) -> None:
    exact = _wav_seconds(file)  # e.g. 4.29375 s: what a client reading the WAV header sends
    bodies = [
        video_body(sandbox, audioUrl=sandbox.samples[audio], durationSeconds=exact),
        video_body(sandbox, audioUrl=sandbox.samples[audio]),  # priced from the manifest
        image_body(sandbox, audioUrl=sandbox.samples[audio], durationSeconds=exact),
    ]
    for body in bodies:
        created = alice.post(TASKS, json=body).json()
        done = wait_terminal(alice, created["taskId"])
        assert done["status"] == "succeeded", done
        assert created["creditsCharged"] == done["creditsCharged"], body
        assert done["creditsCharged"] == round(exact, 2) * 100


def _parse_iso(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("offset", [-180.0, 900.0])
def test_clock_offset_shifts_every_reported_time(offset: float) -> None:
    with Sandbox(time_scale=0.02, clock_offset=offset) as sb, api_client(sb, sb.token) as c:
        before = time.time()
        created = c.post(TASKS, json=video_body(sb, durationSeconds=1))
        after = time.time()
        assert created.status_code == 202
        dto = created.json()
        assert before + offset - 0.01 <= _parse_iso(dto["createdAt"]) <= after + offset + 0.01
        date = email.utils.parsedate_to_datetime(created.headers["date"]).timestamp()
        assert before + offset - 1.5 <= date <= after + offset + 1.5  # the header has whole seconds
        assert len(created.headers.get_list("date")) == 1
        done = wait_terminal(c, dto["taskId"])
        finished = time.time()
        for field in ("startedAt", "completedAt"):
            assert before + offset - 0.01 <= _parse_iso(done[field]) <= finished + offset + 0.01
        listed = c.get(TASKS).json()["data"][0]
        assert listed["taskId"] == dto["taskId"]


def test_clock_offset_and_time_scale_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KITTA_SANDBOX_CLOCK_OFFSET", "-180")
    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", "0.25")
    sandbox = Sandbox()
    assert (sandbox.clock_offset, sandbox.time_scale) == (-180.0, 0.25)
    assert Sandbox(time_scale=0.5, clock_offset=0).clock_offset == 0.0  # arguments win


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KITTA_SANDBOX_TIME_SCALE", "fast"),
        ("KITTA_SANDBOX_TIME_SCALE", "nan"),
        ("KITTA_SANDBOX_TIME_SCALE", "-1"),
        ("KITTA_SANDBOX_CLOCK_OFFSET", "3 minutes"),
        ("KITTA_SANDBOX_CLOCK_OFFSET", "inf"),
    ],
)
def test_bad_environment_values_raise_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SandboxConfigError, match=name) as caught:
        Sandbox()
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).endswith(".")


def test_connect_reports_a_bad_time_scale_as_a_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kitta_notebook import connection
    from kitta_notebook.errors import ValidationError

    monkeypatch.setattr(connection, "_sandbox", None)
    monkeypatch.setenv("KITTA_SANDBOX_TIME_SCALE", "fast")
    with pytest.raises(ValidationError, match="KITTA_SANDBOX_TIME_SCALE") as caught:
        connection.connect(quiet=True)
    assert "KITTA_SANDBOX_TIME_SCALE" in caught.value.fields


def test_connect_names_the_fix_when_kitta_home_is_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kitta_notebook import connection
    from kitta_notebook.errors import KittaError

    home = tmp_path / "not-a-folder"
    home.write_text("a file")
    monkeypatch.setattr(connection, "_sandbox", None)
    monkeypatch.setenv("KITTA_HOME", str(home))
    with pytest.raises(KittaError, match="Set KITTA_HOME to a writable folder"):
        connection.connect(quiet=True)


def test_model_field_check_still_comes_first(alice: httpx.Client) -> None:
    assert_error(alice.post(TASKS, json={"model": V1}), 400, "invalid_request")


def test_connect_names_the_fix_when_the_sandbox_database_is_broken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kitta_notebook import connection
    from kitta_notebook.errors import KittaError

    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "sandbox.db").write_bytes(b"not a database at all" * 100)
    monkeypatch.setattr(connection, "_sandbox", None)
    monkeypatch.setenv("KITTA_HOME", str(tmp_path))
    with pytest.raises(KittaError, match="Move that folder aside"):
        connection.connect(quiet=True)
