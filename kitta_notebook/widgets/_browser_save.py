"""Saving a result in the user's browser: a download link for bytes the kernel fetched.

In Voila (and on Binder) the kernel's disk is not the user's: a file written
there, and a server path shown, help nobody. Instead the kernel fetches the
video (without the token, within its deadline) and offers it as an
`<a download>` link with a data URL, which the browser saves like any download.
"""

from __future__ import annotations

import asyncio
import base64
import html
from typing import TYPE_CHECKING, Any

from .._media_files import result_suffix, safe_stem
from ..display.video import async_fetch_for_embed, plan_video
from ..i18n import text
from . import _async
from ._visitors import app_server

if TYPE_CHECKING:
    from ..display.follow import FollowSnapshot
    from .card import TaskCard

# Base64 grows a file by a third and travels through the widget's state.
MAX_BROWSER_SAVE_BYTES = 24 * 1024 * 1024


def in_voila() -> bool:
    """True inside a Voila kernel (how it is told: `_visitors.app_server`)."""
    return app_server() == "voila"


# The link stands where the "Save video file" button was, and looks like it.
_LINK_STYLE = (
    "display:inline-block;padding:4px 12px;margin:2px 8px 2px 0;border-radius:2px;"
    "background:#eeeeee;color:#1f2328;text-decoration:none;font-size:13px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.25);white-space:nowrap"
)


def download_link_html(data: bytes, filename: str, label: str, title: str = "") -> str:
    """An `<a download>` link that hands `data` to the browser as a file."""
    payload = base64.b64encode(data).decode("ascii")
    hover = f' title="{html.escape(title, quote=True)}"' if title else ""
    return (
        f'<a class="kitta-browser-download" download="{html.escape(filename, quote=True)}" '
        f'href="data:video/mp4;base64,{payload}"{hover} style="{_LINK_STYLE}">'
        f"⤓ {html.escape(label)}</a>"
    )


async def save_in_browser(card: TaskCard, max_bytes: int = MAX_BROWSER_SAVE_BYTES) -> bool:
    """Put a browser download link for the card's result in its action note; True when done."""
    lang = card.lang
    plan = plan_video(card.task, embed=True)
    if plan.url is None:
        card.action_note.value = html.escape(text("video_refused", lang))
        return False
    data = card.video_bytes
    problem = None
    if data is None:
        card.action_note.value = f"<i>{html.escape(text('card_fetching_video', lang))}</i>"
        data, problem = await async_fetch_for_embed(card.task, plan.url, max_bytes)
    if data is None:
        reason = text("video_unavailable", lang, reason=problem or "unknown")
        card.action_note.value = html.escape(text("card_save_failed", lang, reason=reason))
        return False
    name = safe_stem(card.task.task_id) + result_suffix(plan.url)
    label = text("card_save", lang)
    title = text("card_browser_download", lang, name=name)
    card.action_note.value = download_link_html(data, name, label, title)
    card.save_offered = True  # the link is the one click: the button steps aside
    card.render()
    return True


def offer_browser_save(card: TaskCard, tasks: set[asyncio.Task[Any]]) -> None:
    """Make "Save video file" hand the video to the browser instead of the disk, in one click.

    Once the task has succeeded, the download link is prepared at once (from the bytes
    the card already shows, else fetched) and takes the button's place: one click saves.
    Should that fail, the button stays and tries again. The running save is added to
    `tasks` (the panel's), so it is kept alive and awaited by the panel's `settle()`.
    """
    card.save_button.on_click(card._on_save, remove=True)

    def prepare(_button: object = None) -> None:
        try:
            task = _async.spawn(save_in_browser(card), name="kitta-browser-save")
        except _async.NoEventLoopError:
            return
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    prepared: list[FollowSnapshot] = []

    def finished(snap: FollowSnapshot) -> None:
        if not snap.active and card.task.succeeded and not prepared:
            prepared.append(snap)
            prepare()

    card.save_button.on_click(prepare)
    card.follower.subscribe(finished)
