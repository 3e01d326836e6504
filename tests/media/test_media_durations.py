"""A header's duration is a claim: it sets a price only when the file can hold it.

A 1 s WAV whose header claims 50 minutes is priced by the second it holds; an MP3 or
M4A whose header claims more than its size allows sets neither the estimate nor
`durationSeconds`. Unit checks on the bytes, then `check()` and `create()` against the
sandbox over real HTTP (a create publishes the file and probes it by URL, where the
size comes from the host's Content-Range).
"""

from __future__ import annotations

import io
import json
import re
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from kitta_notebook import KittaClient
from kitta_notebook.errors import MediaWarning
from kitta_notebook.media.formats import MediaFacts, read_facts, sniff
from kitta_notebook.media.probe import probe_url
from kitta_notebook.sandbox import Sandbox
from kitta_notebook.sandbox.samples import SAMPLES_DIR
from tests.support import serving

TOKEN = "tok-media-durations"
VIDEO = SAMPLES_DIR / "video.mp4"
CLAIMED = 3000  # seconds: 50 minutes


def lying_wav(path: Path) -> Path:
    """1 s of 16 kHz mono 16-bit audio (32 KB) whose header claims 50 minutes."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(bytes(range(256)) * 125)  # 32,000 bytes: exactly 1 s
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    claimed = CLAIMED * 32000
    data[at + 4 : at + 8] = struct.pack("<I", claimed)
    data[4:8] = struct.pack("<I", at + claimed)  # the RIFF size agrees with the lie
    path.write_bytes(data)
    return path


def lying_m4a(source: Path, path: Path) -> Path:
    """`source` with its movie and track headers claiming 50 minutes."""
    data = bytearray(source.read_bytes())
    for box in (b"mvhd", b"mdhd"):
        at = data.find(box)
        assert at > 0 and data[at + 4] == 0  # version 0: 32-bit times
        timescale = struct.unpack(">I", data[at + 16 : at + 20])[0]
        data[at + 20 : at + 24] = struct.pack(">I", timescale * CLAIMED)
    path.write_bytes(data)
    return path


def lying_mp3(source: Path, path: Path) -> Path:
    """`source` with its Info/Xing frame count claiming about 50 minutes."""
    data = bytearray(source.read_bytes())
    at = max(data.find(b"Info"), data.find(b"Xing"))
    assert at > 0 and struct.unpack(">I", data[at + 4 : at + 8])[0] & 1  # frames present
    data[at + 8 : at + 12] = struct.pack(">I", CLAIMED * 44100 // 1152)
    path.write_bytes(data)
    return path


def facts_of(path: Path) -> MediaFacts:
    data = path.read_bytes()
    found = read_facts(io.BytesIO(data), sniff(data[:4096]), len(data))
    assert found is not None
    return found


def test_a_wav_is_as_long_as_the_audio_bytes_it_holds(tmp_path: Path) -> None:
    facts = facts_of(lying_wav(tmp_path / "lie.wav"))
    assert facts.audio_duration == pytest.approx(1.0, abs=0.01)
    assert facts.duration_doubt is not None and "3,000.0 s" in facts.duration_doubt


def test_compressed_audio_claiming_more_than_its_size_allows_has_no_duration(
    media: dict[str, Path], tmp_path: Path
) -> None:
    for lie in (
        lying_m4a(media["m4a"], tmp_path / "lie.m4a"),
        lying_mp3(media["mp3"], tmp_path / "lie.mp3"),
    ):
        facts = facts_of(lie)
        assert facts.audio_duration is None and facts.duration is None, lie.name
        assert facts.duration_doubt and "more than a file of" in facts.duration_doubt
    for honest in ("wav", "mp3", "m4a"):  # honest files keep their length, without doubt
        facts = facts_of(media[honest])
        assert facts.audio_duration == pytest.approx(2.5, abs=0.1)
        assert facts.duration_doubt is None


def sent_bodies(client: KittaClient) -> list[dict[str, object]]:
    """Every create body the client sends (read from the real requests)."""
    bodies: list[dict[str, object]] = []

    def keep(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/lip-sync/tasks"):
            bodies.append(json.loads(request.content))

    hooks = client._http.event_hooks
    client._http.event_hooks = {**hooks, "request": [*hooks.get("request", []), keep]}
    return bodies


def test_a_lying_wav_header_does_not_set_the_price(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_account(TOKEN, 100_000_000)
    audio = lying_wav(tmp_path / "lie.wav")
    with sandbox.client(TOKEN, journal=False) as client:
        report = client.lip_sync.check(audio_url=audio, video_url=VIDEO)
        assert report.duration_seconds == pytest.approx(1.0, abs=0.01)
        assert report.estimated_credits == 100  # 1 s at 100 credits/s, not 300,000
        assert any("3,000.0 s" in message for _, message in report.warnings)
        bodies = sent_bodies(client)
        with pytest.warns(MediaWarning, match=r"claims 3,000\.0 s"):
            task = client.lip_sync.create(audio_url=audio, video_url=VIDEO)
    assert [body["durationSeconds"] for body in bodies] == [pytest.approx(1.0, abs=0.01)]
    assert task.credits_charged == 100


def test_a_lying_m4a_header_sets_neither_estimate_nor_duration(
    sandbox: Sandbox, media: dict[str, Path], tmp_path: Path
) -> None:
    sandbox.add_account(TOKEN, 100_000_000)
    audio = lying_m4a(media["m4a"], tmp_path / "lie.m4a")
    with sandbox.client(TOKEN, journal=False) as client:
        report = client.lip_sync.check(audio_url=audio, video_url=VIDEO)
        assert report.duration_seconds is None and report.estimated_credits is None
        assert report.price_note is not None and "duration unknown" in report.price_note
        assert any("not trusted" in message for _, message in report.warnings)
        bodies = sent_bodies(client)
        with pytest.warns(MediaWarning, match="not trusted"):
            client.lip_sync.create(audio_url=audio, video_url=VIDEO)
    assert len(bodies) == 1 and "durationSeconds" not in bodies[0]


@contextmanager
def host_claiming(data: bytes, total: int) -> Iterator[str]:
    """A media host on 127.0.0.1 whose Content-Range claims `total` bytes while it holds
    only `data`: past its real end it answers 416."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            found = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
            start = int(found.group(1)) if found else 0
            end = min(int(found.group(2) or total - 1), total - 1) if found else total - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{total}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            chunk = data[start : min(end + 1, len(data))]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{start + len(chunk) - 1}/{total}")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            self.wfile.write(chunk)

    with serving(Handler) as base:
        yield f"{base}/lie.wav"


def test_a_host_claiming_more_bytes_than_it_has_does_not_set_the_price(tmp_path: Path) -> None:
    """The WAV's header and the host's Content-Range tell the same lie (50 minutes, 96 MB);
    the file's last byte cannot be read, so the size is not proven and no length is."""
    data = lying_wav(tmp_path / "lie.wav").read_bytes()
    header_total = struct.unpack("<I", data[4:8])[0] + 8
    with host_claiming(data, header_total) as url:
        result = probe_url(url, deadline=20)
    assert result.size == header_total and result.facts is not None
    assert result.audio_duration is None
    assert result.facts.duration_doubt and "could not be read" in result.facts.duration_doubt
