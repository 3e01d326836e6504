"""Kept results in a team's bucket (``KITTA_KEEP_RESULTS=s3://bucket/prefix``).

A real S3-compatible server (moto) and the sandbox, both over HTTP on
127.0.0.1. One client keeps; a teammate (another process, another
KITTA_HOME, the same journal file) plays, downloads and exports after the
API's own link expired. A replaced object is an error and nothing is
written; a missing bucket or a refusal is a clear error before anything is
recorded; the local disk cap never touches the bucket; the storage secret
appears nowhere, even when the server echoes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kitta_notebook import DownloadError, KittaClient, KittaError, _kept
from kitta_notebook._fetch import FetchLimits
from kitta_notebook._kept import (
    KEEP_ENV,
    KEEP_MAX_ENV,
    ensure_kept,
    fetch_kept,
    keep_finished,
    kept_bytes,
    kept_path,
)
from kitta_notebook.batch.export import export_tasks
from kitta_notebook.display import video
from kitta_notebook.display.video import video_html
from kitta_notebook.errors import PublishError
from kitta_notebook.history.journal import Journal
from kitta_notebook.sandbox import Sandbox
from tests.downloads.download_helpers import finished_task
from tests.downloads.media_host import OK_BODY, MediaHost
from tests.media.conftest import ACCESS_KEY, SECRET_CANARY, boto_session
from tests.media.conftest import moto_endpoint as moto_endpoint  # the shared S3 server
from tests.media.media_helpers import nanio_server

TOKEN = "tok-kept-in-bucket"
ROOT = Path(__file__).parents[2]


@dataclass
class Team:
    bucket: str
    setting: str
    journal: Path
    env: dict[str, str]

    def s3(self) -> Any:
        return boto_session().client("s3", endpoint_url=self.env["KITTA_MEDIA_ENDPOINT_URL"])

    def key_of(self, location: str) -> str:
        assert location.startswith(f"s3://{self.bucket}/")
        return location.split("/", 3)[3]

    def keys(self) -> list[str]:
        listing = self.s3().list_objects_v2(Bucket=self.bucket)
        return [item["Key"] for item in listing.get("Contents", [])]


def bucket_env(endpoint: str, home: Path) -> dict[str, str]:
    """What a hub's spawner sets for everyone (the secret is the canary)."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_CANARY,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "KITTA_MEDIA_ENDPOINT_URL": endpoint,
        "KITTA_MEDIA_REGION": "us-east-1",
        "KITTA_HOME": str(home / "home-a"),
    }


@pytest.fixture
def team(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any) -> Team:
    name, tag = request.node.name, hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    bucket = "kept-" + name.lower().replace("_", "-")[:30].strip("-") + "-" + tag
    env = bucket_env(moto_endpoint, tmp_path)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", KEEP_MAX_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    team = Team(bucket, f"s3://{bucket}/team/kept", tmp_path / "team.sqlite3", env)
    team.s3().create_bucket(Bucket=bucket)
    monkeypatch.setenv(KEEP_ENV, team.setting)
    video._cache.clear()
    return team


def keeping_client(journal: Path, keep: str | None = None) -> KittaClient:
    """A client whose result host is the hostile media host (no API calls needed)."""
    base_url = "http://127.0.0.1:9/api"
    return KittaClient(TOKEN, base_url=base_url, journal=Journal(journal), keep_results=keep)


TEAMMATE = r"""
import hashlib, json, sys
from pathlib import Path
from kitta_notebook import KittaClient
from kitta_notebook.batch.export import export_tasks
from kitta_notebook.display.video import video_html
from kitta_notebook.history.journal import Journal

base_url, token, journal, task_id, out = sys.argv[1:6]
shared = journal if journal.startswith("postgresql://") else Journal(journal)
client = KittaClient(token, base_url=base_url, journal=shared)
task = client.lip_sync.get(task_id)
page = video_html(task)
saved = client.download(task, Path(out) / "mine.mp4")
report = export_tasks([task], Path(out) / "review", posters=False)
exported = Path(out) / "review" / report.rows[0].local_path
print(json.dumps({
    "page": page,
    "download": hashlib.sha256(saved.read_bytes()).hexdigest(),
    "export": hashlib.sha256(exported.read_bytes()).hexdigest(),
    "videos": report.videos,
}))
"""


@pytest.fixture(params=["sqlite", "postgres"])
def team_journal(request: pytest.FixtureRequest, team: Team) -> str:
    """Where the team's history is: one SQLite file, or a PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_db"))
    return str(team.journal)


def test_a_teammate_plays_downloads_and_exports_after_the_link_expired(
    team: Team, team_journal: str, tmp_path: Path
) -> None:
    shared = team_journal if team_journal.startswith("postgresql://") else Journal(team_journal)
    with Sandbox(accounts={TOKEN: 10_000_000}, time_scale=0.05, data_dir=tmp_path / "sb") as sb:
        with sb.client(TOKEN, journal=shared) as client:
            task = client.lip_sync.create(
                video_url=sb.samples["video"], audio_url=sb.samples["audio"]
            )
            task.wait(timeout=60, poll_interval=0.05)  # keeps the result on the way
            kept = client.history.kept(task.task_id)
        assert kept is not None and kept.path.startswith(f"s3://{team.bucket}/team/kept/lip_task_")
        stored = team.s3().get_object(Bucket=team.bucket, Key=team.key_of(kept.path))
        body = stored["Body"].read()
        assert hashlib.sha256(body).hexdigest() == kept.sha256 == stored["Metadata"]["sha256"]
        assert len(body) == kept.size and not (tmp_path / "home-a" / "results").exists()

        for render in (tmp_path / "sb" / "renders").rglob("*"):  # the API's link expires
            if render.is_file():
                render.unlink()
        assert httpx.get(str(task.result_video_url)).status_code == 404

        out = tmp_path / "teammate"
        env = {**os.environ, "KITTA_HOME": str(tmp_path / "home-b"), "PYTHONPATH": str(ROOT)}
        args = [sb.base_url, TOKEN, team_journal, task.task_id, str(out)]
        done = subprocess.run(
            [sys.executable, "-c", TEAMMATE, *args],
            env=env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"data:video/mp4;base64,{base64.b64encode(body).decode()}" in seen["page"]
    assert "X-Amz" not in seen["page"] and team.env["KITTA_MEDIA_ENDPOINT_URL"] not in seen["page"]
    assert seen["download"] == seen["export"] == kept.sha256 and seen["videos"] == 1
    assert SECRET_CANARY not in done.stdout + done.stderr
    assert team.keys() == [team.key_of(kept.path)]  # uploaded once, nothing else written


def test_a_replaced_object_is_an_error_and_nothing_is_written(
    team: Team, host: MediaHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = keeping_client(team.journal)
    task = finished_task(client, host.url("ok.mp4"), "lip_task_swapped")
    location = ensure_kept(client, task)
    assert isinstance(location, str) and client.history.kept(task.task_id) is not None
    other = OK_BODY[:-4] + b"evil"  # same size, other bytes, even the metadata copied
    team.s3().put_object(
        Bucket=team.bucket, Key=team.key_of(location), Body=other, Metadata={"sha256": "x"}
    )
    teammate = keeping_client(team.journal)
    expired = finished_task(teammate, host.url("expired.mp4"), "lip_task_swapped")
    teammate.lip_sync.get = lambda task_id: expired  # type: ignore[method-assign]

    markup = video_html(expired, embed=True)
    assert base64.b64encode(other).decode() not in markup and "Link expired" in markup
    with (
        caplog.at_level(logging.WARNING, logger="kitta_notebook"),
        pytest.raises(DownloadError, match="was replaced") as caught,
    ):
        teammate.download(expired, tmp_path / "mine.mp4")
    assert caught.value.reason == "changed"
    said = {r.getMessage() for r in caplog.records if "is not used" in r.getMessage()}
    assert said == {f"the kept result of lip_task_swapped is not used: {caught.value}"}
    with pytest.raises(KittaError, match="was replaced"):
        export_tasks([expired], tmp_path / "review", posters=False)
    videos = tmp_path / "review" / "videos"
    assert not (tmp_path / "mine.mp4").exists() and not any(videos.iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no .part left


def test_each_result_is_uploaded_once_and_a_foreign_object_is_left_alone(
    team: Team, host: MediaHost
) -> None:
    client = keeping_client(team.journal)
    task = finished_task(client, host.url("ok.mp4"), "lip_task_once")
    location = str(ensure_kept(client, task))
    key = team.key_of(location)
    # Someone puts the same bytes there with a note; the journal forgets the row:
    # keeping again finds the object by its sha256 and sends nothing.
    sha256 = hashlib.sha256(OK_BODY).hexdigest()
    note = {"sha256": sha256, "note": "from-a-teammate"}
    team.s3().put_object(Bucket=team.bucket, Key=key, Body=OK_BODY, Metadata=note)
    client.history.forget_kept(task.task_id)
    assert ensure_kept(client, task) == location
    assert team.s3().head_object(Bucket=team.bucket, Key=key)["Metadata"] == note
    # Other bytes under the kept name are never replaced.
    client.history.forget_kept(task.task_id)
    team.s3().put_object(Bucket=team.bucket, Key=key, Body=b"theirs")
    with pytest.raises(DownloadError) as refused:
        ensure_kept(client, task)
    assert str(refused.value) == (
        f"{location} holds other bytes than this result (its size or sha256 differs), so it "
        "was not kept there and the object was left as it is."
    )
    assert refused.value.reason == "changed"
    assert team.s3().get_object(Bucket=team.bucket, Key=key)["Body"].read() == b"theirs"
    assert client.history.kept(task.task_id) is None
    # As many bytes, but other ones (their own note of a sha256): refused all the same.
    same_size = OK_BODY[::-1]
    other_note = {"sha256": hashlib.sha256(same_size).hexdigest()}
    team.s3().put_object(Bucket=team.bucket, Key=key, Body=same_size, Metadata=other_note)
    with pytest.raises(DownloadError, match="holds other bytes"):
        ensure_kept(client, task)
    assert team.s3().get_object(Bucket=team.bucket, Key=key)["Body"].read() == same_size


def test_keeping_again_answers_with_the_recorded_location_and_fetches_nothing(
    team: Team, host: MediaHost
) -> None:
    client = keeping_client(team.journal)
    task = finished_task(client, host.url("ok.mp4"), "lip_task_again")
    location = ensure_kept(client, task)
    assert isinstance(location, str) and location.startswith(f"s3://{team.bucket}/")
    before = len(host.requests)
    assert ensure_kept(client, task) == location and len(host.requests) == before


def test_a_teammate_keeping_the_same_result_meanwhile_leaves_one_object(
    team: Team, host: MediaHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two kernels keep one result at once: the one that finishes its fetch second
    answers with the location the first recorded."""
    client, teammate = keeping_client(team.journal), keeping_client(team.journal)
    theirs: list[object] = []

    def save_while_a_teammate_keeps(*args: Any, **kwargs: Any) -> Any:
        fetched = real_save(*args, **kwargs)
        monkeypatch.setattr(_kept, "save", real_save)  # the teammate's own fetch is plain
        shared = finished_task(teammate, host.url("ok.mp4"), "lip_task_race")
        theirs.append(ensure_kept(teammate, shared))
        return fetched

    real_save = _kept.save
    monkeypatch.setattr(_kept, "save", save_while_a_teammate_keeps)
    location = ensure_kept(client, finished_task(client, host.url("ok.mp4"), "lip_task_race"))
    assert theirs and isinstance(location, str) and location == theirs[0]
    assert team.keys() == [team.key_of(location)]


def test_an_export_copies_each_bucket_copy_and_replaces_its_own_earlier_export(
    team: Team, host: MediaHost, tmp_path: Path
) -> None:
    client = keeping_client(team.journal)
    tasks = [finished_task(client, host.url("ok.mp4"), f"lip_task_export_{i}") for i in (0, 1)]
    for task in tasks:
        ensure_kept(client, task)
    first = export_tasks(tasks, tmp_path / "review", posters=False)
    again = export_tasks(tasks, tmp_path / "review", posters=False)  # a re-run of that cell
    assert first.videos == again.videos == 2
    videos = sorted((tmp_path / "review" / "videos").iterdir())
    assert [path.read_bytes() for path in videos] == [OK_BODY, OK_BODY]
    assert [row.local_path for row in again.rows] == [f"videos/{p.name}" for p in videos]


def test_a_missing_bucket_is_a_clear_error_and_nothing_is_recorded(
    team: Team, host: MediaHost, tmp_path: Path
) -> None:
    client = keeping_client(team.journal, keep="s3://no-such-bucket/kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_nobucket")
    with pytest.raises(PublishError, match="NoSuchBucket") as caught:
        ensure_kept(client, task)
    assert "s3://no-such-bucket/kept/" in str(caught.value)
    assert client.history.kept(task.task_id) is None and kept_path(client, task) is None
    assert not (tmp_path / "home-a" / "results").exists()


class EchoingRefusal:
    """An S3-compatible host that refuses every write and echoes the secret it knows."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_HEAD(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = (
                    f"<Error><Code>AccessDenied</Code><Message>Access Denied: key {ACCESS_KEY} "
                    f"with secret {SECRET_CANARY}</Message></Error>"
                ).encode()
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def refusing() -> Iterator[EchoingRefusal]:
    host = EchoingRefusal()
    thread = threading.Thread(target=host.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.server.shutdown()
        host.server.server_close()


def test_access_denied_is_clear_and_never_shows_the_secret(
    team: Team,
    host: MediaHost,
    refusing: EchoingRefusal,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("KITTA_MEDIA_ENDPOINT_URL", refusing.url)
    caplog.set_level(logging.DEBUG)  # botocore logs the echoing answer's body at DEBUG
    client = keeping_client(team.journal)
    task = finished_task(client, host.url("ok.mp4"), "lip_task_denied")
    with pytest.raises(PublishError, match="AccessDenied") as caught:
        ensure_kept(client, task)
    keep_finished(client, task)  # after a wait: a warning, the task stays
    assert client.history.kept(task.task_id) is None
    texts = [str(caught.value), repr(caught.value), caplog.text, repr(client), repr(task)]
    assert "Access Denied" in str(caught.value) and "could not keep" in caplog.text
    for text in texts:
        assert SECRET_CANARY not in text


def test_the_local_cap_never_removes_a_teammates_bucket_object(
    team: Team, host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teammate = keeping_client(team.journal)
    shared = finished_task(teammate, host.url("ok.mp4"), "lip_task_shared")
    location = str(ensure_kept(teammate, shared))
    # Someone on the same journal keeps on their disk, under a cap of one result.
    monkeypatch.setenv(KEEP_MAX_ENV, str(len(OK_BODY)))
    local = keeping_client(team.journal, keep=str(tmp_path / "mine"))
    for name in ("lip_task_a", "lip_task_b", "lip_task_c"):
        ensure_kept(local, finished_task(local, host.url("ok.mp4"), name))
    assert len(list((tmp_path / "mine").iterdir())) == 1  # the cap held on disk
    record = local.history.kept("lip_task_shared")
    assert record is not None and record.path == location
    assert team.keys() == [team.key_of(location)]


def test_a_keep_url_with_credentials_is_refused_without_echoing_them(
    team: Team, host: MediaHost
) -> None:
    client = keeping_client(team.journal, keep=f"s3://{ACCESS_KEY}:{SECRET_CANARY}@bucket/kept")
    task = finished_task(client, host.url("ok.mp4"), "lip_task_userinfo")
    with pytest.raises(KittaError, match="s3://bucket/prefix") as caught:
        ensure_kept(client, task)
    assert KEEP_ENV in str(caught.value) and SECRET_CANARY not in str(caught.value)
    assert client.history.kept(task.task_id) is None
    assert SECRET_CANARY not in repr(client) + repr(client._config) + repr(vars(client))


def test_a_card_never_uploads_and_a_download_keeps_in_the_bucket(
    team: Team, host: MediaHost, tmp_path: Path
) -> None:
    client = keeping_client(team.journal)
    task = finished_task(client, host.url("ok.mp4"), "lip_task_card")
    assert "data:video/mp4;base64," in video_html(task, embed=True)
    assert team.keys() == [] and not (tmp_path / "home-a" / "results").exists()
    client.download(task, tmp_path / "mine.mp4")
    kept = client.history.kept(task.task_id)
    assert kept is not None and team.keys() == [team.key_of(kept.path)]
    assert kept.sha256 == hashlib.sha256(OK_BODY).hexdigest()
    assert kept_bytes(client, task, len(OK_BODY), 10.0) == OK_BODY  # a card's embed
    assert kept_bytes(client, task, len(OK_BODY) - 1, 10.0) is None  # over its budget
    # Later the task's link has expired: a download is saved from the bucket's copy.
    expired = finished_task(client, host.url("expired.mp4"), task.task_id)
    client.lip_sync.get = lambda task_id: expired  # type: ignore[method-assign]
    again = client.download(expired, tmp_path / "again.mp4")
    assert again == tmp_path / "again.mp4" and again.read_bytes() == OK_BODY


def test_a_refused_kept_copy_says_access_denied_or_expired_as_the_store_does(
    host: MediaHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signature-checking server (nanio): the kept copy's link, signed just now, is
    refused for a wrong secret (access denied, nothing about expiry or refresh), and for
    a clock 25 h behind (expired, with the clock named)."""
    with nanio_server(tmp_path / "nanio", ACCESS_KEY, SECRET_CANARY) as endpoint:
        for name, value in bucket_env(endpoint, tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(KEEP_ENV, "s3://team/kept")
        boto_session().client("s3", endpoint_url=endpoint).create_bucket(Bucket="team")
        client = keeping_client(tmp_path / "team.sqlite3")
        assert ensure_kept(client, finished_task(client, host.url("ok.mp4"), "lip_task_ro"))
        expired = finished_task(client, host.url("expired.mp4"), "lip_task_ro")
        client.lip_sync.get = lambda task_id: expired  # type: ignore[method-assign]

        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_CANARY + "-rotated")
        with pytest.raises(DownloadError) as denied:
            client.download(expired, tmp_path / "mine.mp4")
        text = str(denied.value)
        assert (denied.value.reason, denied.value.expired) == ("denied", False)
        assert "SignatureDoesNotMatch" in text and "access denied" in text
        assert "KITTA_MEDIA_" in text and "AWS_SECRET_ACCESS_KEY" in text
        assert "expired" not in text.lower() and "refresh" not in text
        assert SECRET_CANARY not in text + repr(denied.value)
        record = client.history.kept("lip_task_ro")
        assert record is not None
        with pytest.raises(DownloadError) as in_memory:  # a card's or an export's read
            fetch_kept(record, FetchLimits(30, 10**7))
        assert (in_memory.value.reason, in_memory.value.status_code) == ("denied", 403)
        assert in_memory.value.arrived == "a storage error (SignatureDoesNotMatch)"
        assert in_memory.value.url == f"{endpoint}/team/kept/{record.path.rsplit('/', 1)[1]}"
        assert str(in_memory.value) == (
            f"The team's bucket refused the kept copy {record.path}: a storage error "
            "(SignatureDoesNotMatch), access denied. Check the storage credentials "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), the KITTA_MEDIA_* settings and the "
            "bucket's policy."
        )

        import botocore.auth

        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_CANARY)
        signed_at = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=25)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
        with pytest.raises(DownloadError) as late:
            client.download(expired, tmp_path / "mine.mp4")
        assert (late.value.reason, late.value.expired) == ("expired", True)
        assert "expired" in str(late.value) and "clock" in str(late.value)
        with pytest.raises(DownloadError) as late_in_memory:
            fetch_kept(record, FetchLimits(30, 10**7))
        assert late_in_memory.value.reason == "expired"
        assert "signed just now: check this machine's clock" in str(late_in_memory.value)
    assert not (tmp_path / "mine.mp4").exists()
