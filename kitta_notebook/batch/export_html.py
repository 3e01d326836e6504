"""The `index.html` of an export: static, self-contained, every value escaped.

No script, no external stylesheet or font: the page must work opened from
disk, offline, years later. Only relative paths the exporter wrote, and
http(s) result URLs, ever reach a `src` or an `href`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..i18n import status_style
from ..validation import check_url

if TYPE_CHECKING:
    from .export import ExportRow

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;
margin:24px;color:#1f2328;background:#f6f8fa;font-size:14px;line-height:1.45}
h1{font-size:20px;margin:0 0 4px}.summary{color:#59636e;margin-bottom:16px}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;
flex:1 1 320px;max-width:480px;min-width:280px}
.key{font-weight:700;word-break:break-all}.label{display:inline-block;padding:0 8px;
border-radius:999px;background:#ddf4ff;color:#0a3069;font-size:12px;margin-left:4px}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;font-size:12px}
video,img.poster{width:100%;border-radius:6px;background:#000;margin:6px 0}
table{border-collapse:collapse;width:100%}td{padding:1px 8px 1px 0;vertical-align:top}
td.k{color:#59636e;white-space:nowrap}.error{color:#9b1c1c}code{word-break:break-all}
""".strip()


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _badge(row: ExportRow) -> str:
    name = row.status or row.outcome or "unknown"
    style = status_style(row.status if row.status else "unknown")
    return (
        f'<span class="badge" data-status="{esc(name)}" '
        f'style="color:{style.color};background:{style.background}">{esc(name)}</span>'
    )


def _media(row: ExportRow) -> str:
    if row.local_path:
        poster = f' poster="{esc(row.poster)}"' if row.poster else ""
        return (
            f'<video controls preload="metadata" playsinline{poster} '
            f'src="{esc(row.local_path)}"></video>'
        )
    url, _ = check_url(row.result_url, require_public=False)  # http(s) only, never script
    if url:
        return (
            f'<p><a href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
            "Result video (online; the link may expire)</a></p>"
        )
    return ""


def _facts(row: ExportRow) -> str:
    pairs = [
        ("task", f"<code>{esc(row.task_id)}</code>" if row.task_id else "—"),
        ("outcome", esc(row.outcome)) if row.outcome else None,
        ("credits", esc(row.credits) if row.credits is not None else "—"),
        ("model", esc(row.model)) if row.model else None,
        ("mode", esc(row.input_mode)) if row.input_mode else None,
        ("audio", f"<code>{esc(row.audio_url)}</code>") if row.audio_url else None,
        ("video", f"<code>{esc(row.video_url)}</code>") if row.video_url else None,
        ("image", f"<code>{esc(row.image_url)}</code>") if row.image_url else None,
        ("created", esc(row.created_at)) if row.created_at else None,
        ("completed", esc(row.completed_at)) if row.completed_at else None,
        (
            ("processing", f"{row.processing_seconds:.1f} s")
            if row.processing_seconds is not None
            else None
        ),
        ("error", f'<span class="error">{esc(row.error)}</span>') if row.error else None,
    ]
    cells = "".join(
        f'<tr><td class="k">{name}</td><td>{value}</td></tr>' for name, value in filter(None, pairs)
    )
    return f"<table>{cells}</table>"


def _card(row: ExportRow) -> str:
    head = [f'<span class="key">{esc(row.key)}</span>'] if row.key else []
    head += [f'<span class="label">{esc(label)}</span>' for label in row.labels]
    head.append(_badge(row))
    return (
        f'<div class="card" data-task-id="{esc(row.task_id)}">'
        f"<div>{' '.join(head)}</div>{_media(row)}{_facts(row)}</div>"
    )


def index_html(title: str, rows: Sequence[ExportRow]) -> str:
    """The whole page."""
    succeeded = sum(1 for row in rows if row.status == "succeeded")
    failed = sum(1 for row in rows if row.status == "failed" or row.error)
    credits = sum(row.credits or 0 for row in rows)
    summary = (
        f"{len(rows)} tasks · {succeeded} succeeded · {failed} with an error · "
        f"{credits:,} credits · manifests: "
        '<a href="manifest.csv">manifest.csv</a>, <a href="manifest.json">manifest.json</a>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><div class="summary">{summary}</div>'
        f'<div class="grid">{"".join(_card(row) for row in rows)}</div></body></html>'
    )
