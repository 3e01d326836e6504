"""A sandbox in its own process, driven over stdin/stdout with JSON lines.

The real service is on another machine; a benchmark that ran the sandbox in
its own process would make client and server share one interpreter lock. So
the benchmarks host it here, optionally pinned to one CPU, and ask it for its
request counters (read at the server) over the pipe.

    {"cmd": "stats"} | {"cmd": "reset"} | {"cmd": "faults", "config": {...}} | {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--credits", type=int, default=10**12)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    from kitta_notebook.sandbox import FaultConfig, Sandbox

    sandbox = Sandbox(accounts={args.token: args.credits}, time_scale=args.time_scale)
    sandbox.start()
    reply: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "origin": sandbox.origin,
        "token": sandbox.token,
        "samples": sandbox.samples,
        "pid": os.getpid(),
    }
    print(json.dumps(reply), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            name = command.get("cmd")
            if name == "stats":
                print(json.dumps(sandbox.stats.snapshot()), flush=True)
            elif name == "reset":
                sandbox.stats.reset()
                print("{}", flush=True)
            elif name == "faults":
                config = command.get("config")
                sandbox.faults = FaultConfig(**config) if config else None
                print("{}", flush=True)
            elif name == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {name!r}"}), flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
