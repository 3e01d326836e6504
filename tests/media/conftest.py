"""Fixtures for the media suite: generated media, a Range-capable host, an S3 server."""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.media.media_helpers import (
    MediaHost,
    make_jpeg,
    make_m4a,
    make_mp3,
    make_mp4,
    make_png,
    make_wav,
    media_host,
)

SECONDS = 2.5
"""Length of every generated clip: not a round number, so a wrong reader shows."""

ACCESS_KEY = "AKIAKITTATESTKEY0001"
SECRET_CANARY = "canary-SECRET-7f3a9c0e-do-not-leak"
"""A storage secret that must appear in no repr, error or log line."""


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One of each test file, made once per session."""
    folder = tmp_path_factory.mktemp("media")
    empty_wav = folder / "empty.wav"
    with wave.open(str(empty_wav), "wb") as writer:  # a valid header and zero samples
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
    (folder / "page.html").write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    (folder / "error.json").write_bytes(b'{"error": "not found"}')
    (folder / "notes.txt").write_bytes(b"This is not a video, just some notes.\n")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "noise.bin").write_bytes(bytes(range(7, 256)) * 8)
    return {
        "wav": make_wav(folder / "speech.wav", SECONDS),
        "mp3": make_mp3(folder / "speech.mp3", SECONDS),
        "m4a": make_m4a(folder / "speech.m4a", SECONDS),
        "mp4_front": make_mp4(folder / "front.mp4", SECONDS, faststart=True),
        "mp4_end": make_mp4(folder / "end.mp4", SECONDS, faststart=False),
        "mp4_silent": make_mp4(folder / "silent.mp4", SECONDS, faststart=True, audio=False),
        "long_mp4": make_mp4(folder / "long.mp4", 12.0, faststart=True),
        "png": make_png(folder / "still.png", "64x48"),
        "jpeg": make_jpeg(folder / "still.jpg", "80x60"),
        "empty_wav": empty_wav,
        "html": folder / "page.html",
        "json": folder / "error.json",
        "text": folder / "notes.txt",
        "empty": folder / "empty.mp4",
        "noise": folder / "noise.bin",
    }


@pytest.fixture()
def host() -> Iterator[MediaHost]:
    with media_host() as served:
        yield served


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (signatures are not checked; SDK flows only)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    address, port = server.get_host_and_port()
    # moto keeps its buckets in the process: a second test session there (mutmut runs
    # several) would find the last one's objects.
    httpx.post(f"http://{address}:{port}/moto-api/reset", timeout=30).raise_for_status()
    try:
        yield f"http://{address}:{port}"
    finally:
        server.stop()


def boto_session(secret: str = SECRET_CANARY) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret, region_name="us-east-1"
    )


@pytest.fixture()
def bucket(moto_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test."""
    name = "media-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto_session().client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name
