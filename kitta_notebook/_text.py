"""Bounding text that a server supplied before it reaches a view, a repr or an error.

A server's string can be megabytes long, and tracebacks and outputs end up in
saved notebooks; the full value always stays in `task.raw`.
"""

from __future__ import annotations

MAX_SHOWN_CHARS = 4000
MAX_MESSAGE_CHARS = 500


def clip(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as text, cut to `limit` characters with a note of how much was left out."""
    shown = "" if value is None else str(value)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… (+{len(shown) - limit:,} characters)"
