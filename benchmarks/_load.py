"""A minimal HTTP/1.1 load generator, run as its own process by `bench_throughput`.

Raw asyncio streams with keep-alive (no HTTP library), so the generator is
not what limits the figure. Prints one JSON line: requests, errors, seconds.

    python -m benchmarks._load URL TOKEN --connections 16 --seconds 5 --cpu 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlsplit


async def _worker(
    host: str, port: int, request: bytes, stop_at: float, warm_until: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            now = time.monotonic()
            if now >= stop_at:
                return
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            if time.monotonic() < warm_until:
                continue
            if status_line.split(b" ", 2)[1:2] == [b"200"]:
                counts[0] += 1
            else:
                counts[1] += 1
    finally:
        writer.close()


async def _run(
    url: str, token: str, connections: int, seconds: float, warmup: float
) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    counts = [0, 0]
    start = time.monotonic()
    warm_until = start + warmup
    stop_at = warm_until + seconds
    await asyncio.gather(
        *(_worker(host, port, request, stop_at, warm_until, counts) for _ in range(connections))
    )
    measured = time.monotonic() - warm_until
    return {"requests": counts[0], "errors": counts[1], "seconds": measured}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    result = asyncio.run(_run(args.url, args.token, args.connections, args.seconds, args.warmup))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
