"""The review page of an export (`index.html`), read back as a browser reads it.

Each card is parsed into what a reviewer sees: its key, labels, status badge, the
video or its link, and the facts table; then the summary line and the title. A value
from a server or a user is text wherever it lands, also inside an attribute.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook import KittaError, LipSyncTask
from kitta_notebook.batch.export import export_tasks
from kitta_notebook.i18n import status_style
from tests.batch.test_batch_export import (
    HOSTILE,
    SAMPLE_VIDEO,
    History,
    Owner,
    batch,
    dto,
    kept_copy,
)

LINK_TEXT = "Result video (online; the link may expire)"


class Page(HTMLParser):
    """The page's title, heading, summary and cards, as text and attributes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {"title": "", "h1": "", "summary": ""}
        self.summary_links: list[str] = []
        self.cards: list[dict[str, Any]] = []
        self._open: list[tuple[str, Any]] = []  # each open element and where its text goes
        self.stray = ""
        self.starts_as_html5 = text.startswith("<!doctype html><html")
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":  # no end tag
            return
        found, into = dict(attrs), self._open[-1][1] if self._open else None
        kind, card = found.get("class"), self.cards[-1] if self.cards else None
        if tag in ("title", "h1") or kind == "summary":
            into = (self.texts, kind or tag)
        elif tag == "a" and card is None:
            self.summary_links.append(found.get("href") or "")
        elif kind == "card":
            self.cards.append({"attrs": found, "labels": [], "facts": {}, "coded": [], "loose": ""})
            into = (self.cards[-1], "loose")  # text outside the card's parts: none expected
        elif card is None:
            pass
        elif kind == "key":
            card["key"] = ""
            into = (card, "key")
        elif kind == "label":
            card["labels"].append("")
            into = (card["labels"], len(card["labels"]) - 1)
        elif kind == "badge":
            card["badge"] = {"attrs": found, "text": ""}
            into = (card["badge"], "text")
        elif tag in ("video", "a"):
            card["media"] = {"tag": tag, "attrs": found, "text": ""}
            into = (card["media"], "text")
        elif tag in ("div", "table", "tr"):
            pass
        elif tag == "td" and kind == "k":
            card["facts"]["\0"] = ""  # the name cell: its text names the value cell next
            into = (card["facts"], "\0")
        elif tag == "td":
            name = card["facts"].pop("\0")
            card["facts"][name] = ""
            into = (card["facts"], name)
        elif tag == "code" and into is not None and into[0] is card["facts"]:
            card["coded"].append(into[1])
        elif kind == "error":
            card["error_styled"] = True
        self._open.append((tag, into))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][1] is not None:
            where, key = self._open[-1][1]
            where[key] += data
        elif not self._open or self._open[-1][0] != "style":
            self.stray += data.strip()  # text outside every part of the page


def read_page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def style_of(status: str) -> str:
    style = status_style(status)
    return f"color:{style.color};background:{style.background}"


def test_each_card_shows_its_key_labels_badge_media_and_facts(tmp_path: Path) -> None:
    page = read_page(batch().export(tmp_path).index_html)
    ok, bad, rejected = page.cards
    assert ok["attrs"]["data-task-id"] == "lip_task_ok" and ok["key"] == "clip/en"
    assert ok["labels"] == ["en"]
    assert ok["badge"] == {
        "attrs": {"class": "badge", "data-status": "succeeded", "style": style_of("succeeded")},
        "text": "succeeded",
    }
    assert ok["media"] == {
        "tag": "a",
        "attrs": {
            "href": "https://cdn.example.com/r.mp4",
            "target": "_blank",
            "rel": "noopener noreferrer",
        },
        "text": LINK_TEXT,
    }
    assert ok["facts"] == {
        "task": "lip_task_ok",
        "outcome": "created",
        "credits": "12",
        "model": "kitta-lip-sync-v1",
        "mode": "video",
        "audio": "https://media.example.com/a.mp3",
        "video": "https://media.example.com/v.mp4",
        "created": "2026-07-01T08:00:00+00:00",
        "completed": "2026-07-01T08:01:20.500000+00:00",
        "processing": "77.5 s",
    }
    assert ok["coded"] == ["task", "audio", "video"] and "error_styled" not in ok
    # A failed task: its error is text, styled as one; the badge says failed.
    assert bad["key"] == HOSTILE and bad["labels"] == [HOSTILE]
    assert bad["badge"]["attrs"]["data-status"] == bad["badge"]["text"] == "failed"
    assert bad["badge"]["attrs"]["style"] == style_of("failed")
    assert bad["facts"]["error"] == f"provider_error {HOSTILE}" and bad["error_styled"]
    assert "media" not in bad
    # A rejected item has no task: its outcome is its badge, nothing is left as "None".
    assert rejected["attrs"]["data-task-id"] == "" and rejected["labels"] == ["fr"]
    assert rejected["badge"]["text"] == rejected["badge"]["attrs"]["data-status"] == "rejected"
    assert rejected["badge"]["attrs"]["style"] == style_of("unknown")
    assert rejected["facts"]["task"] == "—" and rejected["facts"]["credits"] == "—"
    assert rejected["facts"]["outcome"] == "rejected" and "processing" not in rejected["facts"]
    assert rejected["facts"]["error"].startswith("ServerError: HTTP 400")
    assert rejected["coded"] == ["audio", "video"] and "media" not in rejected
    assert [card["loose"].strip() for card in page.cards] == ["", "", ""]


def test_a_sandbox_result_on_this_machine_is_linked_too(tmp_path: Path) -> None:
    """The page is for whoever ran the export: a result served on 127.0.0.1 (the
    embedded sandbox's) is linked like any other http(s) one."""
    url = "http://127.0.0.1:8765/media/results/r.mp4"
    task = LipSyncTask(dto("lip_task_local", "succeeded", resultVideoUrl=url))
    (card,) = read_page(export_tasks([task], tmp_path, posters=False).index_html).cards
    assert card["media"]["tag"] == "a" and card["media"]["attrs"]["href"] == url
    assert card["loose"].strip() == ""


def test_the_summary_counts_tasks_errors_and_credits_and_links_the_manifests(
    tmp_path: Path,
) -> None:
    page = read_page(batch().export(tmp_path).index_html)
    assert page.texts["title"] == page.texts["h1"] == "Kitta batch"
    assert page.texts["summary"] == (
        "3 tasks · 1 succeeded · 2 with an error · 24 credits · manifests: "
        "manifest.csv, manifest.json"
    )
    assert page.summary_links == ["manifest.csv", "manifest.json"]
    assert page.starts_as_html5 and page.stray == ""  # no text outside the page's parts


def test_a_kept_video_plays_on_its_card_with_its_poster(tmp_path: Path) -> None:
    kept = kept_copy(tmp_path / "kept" / "result.mp4", SAMPLE_VIDEO.read_bytes())
    task = LipSyncTask(dto("lip_task_kept", "succeeded"))
    task._client = Owner(History({"lip_task_kept": kept}))  # type: ignore[assignment]
    report = export_tasks([task], tmp_path / "review", title="Review", posters=False)
    (card,) = read_page(report.index_html).cards
    media = card["media"]
    assert media["tag"] == "video" and card["loose"].strip() == ""
    assert media["attrs"] == {
        "controls": None,
        "preload": "metadata",
        "playsinline": None,
        "src": "videos/0000-lip_task_kept.mp4",
    }


def test_a_servers_hostile_id_and_status_stay_text_inside_attributes(tmp_path: Path) -> None:
    task_id, status = 'lip_"><b id=x>', '"onmouseover="alert(1)'
    task = LipSyncTask(dto(task_id, status))
    report = export_tasks([task], tmp_path, title='"Mine" <b>', posters=False)
    page = read_page(report.index_html)
    (card,) = page.cards
    assert card["attrs"] == {"class": "card", "data-task-id": task_id}
    assert card["badge"]["attrs"]["data-status"] == card["badge"]["text"] == status
    assert card["badge"]["attrs"]["style"] == style_of("unknown")
    assert card["facts"]["task"] == task_id and page.texts["title"] == '"Mine" <b>'
    assert "key" not in card and card["labels"] == []  # no tags given, no journal: none shown


def test_processing_time_is_shown_to_the_millisecond(tmp_path: Path) -> None:
    task = LipSyncTask(
        dto(
            "lip_task_us",
            "succeeded",
            startedAt="2026-07-01T08:00:03.000000Z",
            completedAt="2026-07-01T08:01:20.500456Z",
        )
    )
    report = export_tasks([task], tmp_path, posters=False)
    assert report.rows[0].processing_seconds == 77.5
    (card,) = read_page(report.index_html).cards
    assert card["facts"]["processing"] == "77.5 s"


def test_a_write_that_fails_without_a_system_reason_names_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError("the volume went away")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(KittaError) as caught:
        export_tasks([LipSyncTask(dto("lip_task_w", "succeeded"))], tmp_path / "review")
    assert f"to {tmp_path / 'review'}: the volume went away. Choose" in str(caught.value)
