"""Command line: ``python -m kitta_notebook.sandbox`` runs a sandbox until Ctrl-C/SIGTERM.

It prints the base URL and tokens (``--json``: one JSON line instead, for scripts).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import fields
from types import FrameType

from .faults import FAULT_ROUTES, FaultConfig
from .server import DEFAULT_CREDITS, Sandbox


def _account(text: str) -> tuple[str, int]:
    token, sep, credits = text.rpartition(":")
    if sep and credits.replace("_", "").isdigit() and token:
        return token, int(credits)
    return text, DEFAULT_CREDITS


def _routes(text: str) -> tuple[str, ...]:
    routes = tuple(r.strip() for r in text.split(",") if r.strip())
    bad = [r for r in routes if r not in FAULT_ROUTES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown routes {bad}; choose from {FAULT_ROUTES}")
    return routes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kitta_notebook.sandbox",
        description="Run a local server that behaves like the Kitta lip-sync API "
        "(results are not lip-synced and carry a SANDBOX mark).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--token",
        action="append",
        type=_account,
        default=[],
        metavar="TOKEN[:CREDITS]",
        help=f"an account (repeatable; default credits {DEFAULT_CREDITS})",
    )
    parser.add_argument(
        "--pro-token", action="append", default=[], metavar="TOKEN", help="may use the pro model"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="multiplies all delays (default: KITTA_SANDBOX_TIME_SCALE or 1)",
    )
    parser.add_argument(
        "--clock-offset",
        type=float,
        default=None,
        metavar="SECONDS",
        help="added to every reported time (default: KITTA_SANDBOX_CLOCK_OFFSET or 0)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", default=None, help="SQLite file (default: in memory)")
    where.add_argument(
        "--data-dir",
        default=None,
        help="folder for the database, results and uploads (shareable by several sandboxes)",
    )
    parser.add_argument("--lease-seconds", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-reconcile",
        action="store_true",
        help="keep creditsCharged as charged at create (no refunds/adjustments)",
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--hide-prices",
        action="store_true",
        help="publish no price in the OpenAPI document, like the real service",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line when ready")
    # Each fault option's dest is its `FaultConfig` field: `main` builds the config by name.
    faults = parser.add_argument_group("fault injection (off by default)")
    faults.add_argument("--error-rate", type=float, default=0.0, help="500 internal_error")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="close with no response")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="429 + Retry-After")
    faults.add_argument("--retry-after", type=float, default=1.0, metavar="SECONDS")
    faults.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument("--latency-spike-rate", type=float, default=0.0)
    faults.add_argument("--latency-spike", type=float, default=5.0, metavar="SECONDS")
    faults.add_argument(
        "--fault-routes",
        dest="routes",
        type=_routes,
        default=("create", "get", "list", "usage"),
        metavar="R1,R2",
        help=f"routes the faults target, from {','.join(FAULT_ROUTES)}",
    )
    faults.add_argument("--fault-seed", dest="seed", type=int, metavar="FAULT_SEED")
    faults.add_argument(
        "--fault-after-commit",
        dest="create_fault_after_commit",
        action="store_true",
        help="a 500/drop on create happens after the task was created and charged",
    )
    faults.add_argument("--task-failure-rate", type=float, default=0.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = FaultConfig(
            **{field.name: getattr(args, field.name) for field in fields(FaultConfig)}
        )
        sandbox = Sandbox(
            dict(args.token) or None,
            time_scale=args.time_scale,
            clock_offset=args.clock_offset,
            pro_tokens=args.pro_token,
            db=args.db,
            data_dir=args.data_dir,
            lease_seconds=args.lease_seconds,
            faults=config,
            host=args.host,
            port=args.port,
            reconcile_credits=not args.no_reconcile,
            log_level=args.log_level,
            publish_prices=not args.hide_prices,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sandbox.start()
    except ImportError as exc:  # a bare install: one line naming the extra, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        accounts = {t: sandbox.balance(t) for t in sandbox.tokens}
        if args.json:
            print(
                json.dumps(
                    {
                        "baseUrl": sandbox.base_url,
                        "openapi": sandbox.openapi_url,
                        "token": sandbox.token,
                        "accounts": accounts,
                        "proTokens": sorted(sandbox.pro_tokens),
                        "samples": sandbox.samples,
                    }
                ),
                flush=True,
            )
        else:
            print("Kitta sandbox running (results are NOT lip-synced; they carry a SANDBOX mark)")
            print(f"base URL: {sandbox.base_url}")
            print(f"OpenAPI:  {sandbox.openapi_url}")
            for token, credits in accounts.items():
                pro = ", pro" if token in sandbox.pro_tokens else ""
                print(f"token:    {token}  ({credits} credits{pro})")
            for key, url in sandbox.samples.items():
                print(f"sample {key}: {url}")
            print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
