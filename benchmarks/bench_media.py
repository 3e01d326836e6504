"""Media: bytes a probe reads, publish throughput against boto3's own upload, re-publish.

    python -m benchmarks.bench_media          # writes the "Media" section of RESULTS.md

(a) A probe reads a 100 MB MP4 (moov at the end, then at the front) and a 50 MB WAV
    from a Range-capable host on 127.0.0.1 that counts the body bytes it sends.
    Goal: bytes read / file size <= 0.5 %.
(b) `S3Store.publish` of the 100 MB MP4 (sha256, HEAD, upload, presign) against
    `boto3.client.upload_file` of the same file, to nanio (a real S3-compatible server
    writing to disk) in its own process; alternating rounds, medians.
    Goal: throughput ratio (boto3 time / publish time) >= 0.9.
(c) Publishing the same file again: bytes uploaded (goal 0) and time.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg

from kitta_notebook.media import S3Store, probe

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Media"
PROBE_GOAL = 0.005
PUBLISH_GOAL = 0.9
ROUNDS = 3
ACCESS_KEY = "AKIABENCHMEDIA000001"
SECRET_KEY = "bench-media-secret"


def _ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *args], check=True, timeout=600)


def make_files(folder: Path) -> dict[str, Path]:
    """~100 MB H.264+AAC MP4s (CBR, so the size is known) and a ~50 MB WAV."""
    end = folder / "moov-end.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=40",
        "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=40",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "20M", "-minrate", "20M",
        "-maxrate", "20M", "-bufsize", "4M", "-x264-params", "nal-hrd=cbr",
        "-c:a", "aac", "-b:a", "128k", str(end),
    )  # fmt: skip
    front = folder / "moov-front.mp4"
    _ffmpeg("-i", str(end), "-c", "copy", "-movflags", "+faststart", str(front))
    wav = folder / "speech.wav"
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=273",
        "-ac", "2", "-c:a", "pcm_s16le", str(wav),
    )  # fmt: skip
    return {"mp4_end": end, "mp4_front": front, "wav": wav}


# (a) a counting Range host --------------------------------------------------------------

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@contextmanager
def counting_host(files: dict[str, Path]) -> Iterator[tuple[str, dict[str, int]]]:
    sent: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.strip("/")
            path = files[name]
            size = path.stat().st_size
            match = _RANGE.match(self.headers.get("Range", ""))
            start, end = (0, size - 1)
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            with path.open("rb") as handle:
                handle.seek(start)
                body = handle.read(end - start + 1)
            with lock:
                sent[name] = sent.get(name, 0) + len(body)
            self.send_response(206 if match else 200)
            self.send_header("Content-Length", str(len(body)))
            if match:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sent
    finally:
        server.shutdown()
        server.server_close()


def bench_probe(files: dict[str, Path]) -> list[dict[str, Any]]:
    rows = []
    with counting_host(files) as (origin, sent):
        for name, path in files.items():
            result = probe(f"{origin}/{name}")
            size = path.stat().st_size
            seconds = result.audio_duration if name == "wav" else result.duration
            rows.append(
                {
                    "file": name,
                    "size": size,
                    "bytes_read": sent[name],
                    "requests": result.requests,
                    "ratio": sent[name] / size,
                    "duration": seconds,
                    "elapsed": result.elapsed,
                }
            )
    return rows


# (b)/(c) publish against nanio ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nanio(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "NANIO_ACCESS_KEY": ACCESS_KEY, "NANIO_SECRET_KEY": SECRET_KEY}
    command = [sys.executable, "-m", "nanio", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(endpoint, timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=20)


def bench_publish(path: Path, endpoint: str) -> dict[str, Any]:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )
    config = Config(signature_version="s3v4", request_checksum_calculation="when_required")
    raw = session.client("s3", endpoint_url=endpoint, config=config)
    raw.create_bucket(Bucket="bench")
    size = path.stat().st_size
    ours: list[float] = []
    theirs: list[float] = []
    for round_ in range(ROUNDS):
        store = S3Store("bench", f"ours-{round_}", endpoint_url=endpoint, session=session)
        boto_key = f"boto-{round_}/file.mp4"
        runs = [
            ("ours", lambda store=store: store.publish(path)),
            ("boto3", lambda key=boto_key: raw.upload_file(str(path), "bench", key)),
        ]
        for label, run in runs if round_ % 2 == 0 else reversed(runs):
            started = time.perf_counter()
            run()
            (ours if label == "ours" else theirs).append(time.perf_counter() - started)
    store = S3Store("bench", "ours-0", endpoint_url=endpoint, session=session)
    started = time.perf_counter()
    again = store.publish(path)
    again_seconds = time.perf_counter() - started
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    return {
        "size": size,
        "ours": ours,
        "boto3": theirs,
        "ours_mb_s": size / ours_median / 1e6,
        "boto3_mb_s": size / theirs_median / 1e6,
        "ratio": theirs_median / ours_median,
        "again_uploaded": again.uploaded_bytes,
        "again_seconds": again_seconds,
    }


def markdown(probes: list[dict[str, Any]], publish: dict[str, Any], when: str) -> str:
    lines = [
        SECTION,
        "",
        f"Run {when} with `python -m benchmarks.bench_media` (2 shared CPUs, 127.0.0.1 only).",
        "",
        "| Benchmark | Measured | Goal | Met |",
        "|---|---|---|---|",
    ]
    names = {"mp4_end": "100 MB MP4, moov at the end", "mp4_front": "100 MB MP4, moov at the "
             "front", "wav": "50 MB WAV"}  # fmt: skip
    for row in probes:
        met = "yes" if row["ratio"] <= PROBE_GOAL else "**no**"
        lines.append(
            f"| Probe bytes read / size: {names[row['file']]} | {row['bytes_read']:,} B of "
            f"{row['size']:,} B = {row['ratio'] * 100:.3f} % ({row['requests']} requests, "
            f"duration {row['duration']:.2f} s, {row['elapsed'] * 1000:.0f} ms) | ≤ 0.5 % | {met} |"
        )
    met = "yes" if publish["ratio"] >= PUBLISH_GOAL else "**no**"
    lines.append(
        f"| Publish throughput / boto3 upload_file (100 MB MP4, nanio) | "
        f"{publish['ours_mb_s']:.1f} MB/s vs {publish['boto3_mb_s']:.1f} MB/s = "
        f"{publish['ratio']:.3f} | ≥ 0.9 | {met} |"
    )
    met = "yes" if publish["again_uploaded"] == 0 else "**no**"
    lines.append(
        f"| Second publish of the same file | {publish['again_uploaded']} bytes uploaded, "
        f"{publish['again_seconds'] * 1000:.0f} ms (sha256 + HEAD + presign) | 0 bytes | {met} |"
    )
    ours = ", ".join(f"{s:.2f}" for s in publish["ours"])
    theirs = ", ".join(f"{s:.2f}" for s in publish["boto3"])
    lines += [
        "",
        "Probe bytes are counted by the host (body bytes sent). Publish includes hashing the "
        "file (its sha256 is the key), a HEAD, the upload (multipart above 16 MB, content "
        f"type set) and signing the URL; alternating rounds, medians. Seconds per round: "
        f"publish {ours}; boto3 {theirs}.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace the Media section (always the last one) or append it."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head = current.split(f"\n{SECTION}\n", 1)[0].rstrip("\n")
    RESULTS.write_text(head + "\n\n" + text)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kitta-bench-media-") as tmp:
        folder = Path(tmp)
        files = make_files(folder)
        probes = bench_probe(files)
        with nanio(folder / "nanio") as endpoint:
            publish = bench_publish(files["mp4_end"], endpoint)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = markdown(probes, publish, when)
    write_section(text)
    print(text)


if __name__ == "__main__":
    main()
