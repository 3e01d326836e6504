"""The SQLite journal's pages, capped summaries, searches and the account of its file.

Gaps found by mutation testing of `history/journal.py`: pages far from the start are read
from the nearer end (with a filter, its own count), entries without credits come last, a
summary is capped, a short search folds case like a long one. A real journal file.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kitta_notebook.history.entry import Query
from kitta_notebook.history.journal import Journal
from kitta_notebook.history.schema import account_fingerprint
from tests.support import dto

T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)
ORIGIN = "http://api.test/api"
TOTAL = 1300  # a filter keeps 867 of them: far pages (past 500) from both ends


def credits_of(i: int) -> int | None:
    return None if i % 3 == 0 else (i * 7) % 50  # ties, broken by creation


def task_id(i: int) -> str:
    return f"lip_task_{'keep' if i % 3 != 1 else 'drop'}_{i:04d}"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    journal = Journal(tmp_path_factory.mktemp("paging") / "journal.sqlite3")
    tasks: list[dict[str, Any]] = []
    for i in range(TOTAL):
        created = (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        tasks.append(
            dto(
                taskId=task_id(i),
                status="succeeded",
                createdAt=created,
                creditsCharged=credits_of(i),
            )
        )
    journal.record_seen_many(tasks)
    return journal


KEPT = [i for i in range(TOTAL) if "keep" in task_id(i)]
OFFSETS = [0, 10, 495, 501, 560, 700, 857, 866, 867, 900]


@pytest.mark.parametrize("descending", [True, False])
def test_far_pages_of_a_filtered_history_are_the_pages_read_from_the_start(
    big: Journal, descending: bool
) -> None:
    """Past 500 entries a page is read backwards from the end, counted with the filter;
    the last page of one entry included, and "all from a far offset" too."""
    query = Query(search="keep")
    expected = [task_id(i) for i in (reversed(KEPT) if descending else KEPT)]
    assert len(expected) == 867
    for offset in OFFSETS:
        page = big.entries(query, sort="created", descending=descending, limit=10, offset=offset)
        assert [e.task_id for e in page] == expected[offset : offset + 10], offset
    rest = big.entries(query, sort="created", descending=descending, offset=700)
    assert [e.task_id for e in rest] == expected[700:]


def test_ascending_credits_put_tasks_without_credits_last_on_every_page(big: Journal) -> None:
    """Sorted by credits upwards, ties by creation; those without credits after them all,
    by creation, also on pages far from the start and with a filter."""
    valued = sorted(
        (i for i in KEPT if credits_of(i) is not None), key=lambda i: (credits_of(i), i)
    )
    expected = [task_id(i) for i in valued + [i for i in KEPT if credits_of(i) is None]]
    query = Query(search="keep")
    for offset in [0, 570, 575, 578, 580, 600, 700, 866]:
        page = big.entries(query, sort="credits", descending=False, limit=10, offset=offset)
        assert [e.task_id for e in page] == expected[offset : offset + 10], offset


def test_ascending_by_creation_mixes_tasks_with_and_without_credits(big: Journal) -> None:
    """Only the credits sort puts tasks without credits apart: by creation it is time alone."""
    page = big.entries(sort="created", descending=False, limit=6)
    assert [e.task_id for e in page] == [task_id(i) for i in range(6)]


def test_a_capped_summary_counts_up_to_the_cap_and_says_more_past_it(big: Journal) -> None:
    """`summary(at_most=n)` of a searched set: counted when n or fewer match, `more` past it."""
    query = Query(search="keep_000")  # tasks 0, 2, 3, 5, 6, 8, 9: seven
    exact = big.summary(query, at_most=7)
    assert (exact.more, exact.total, exact.counts) == (False, 7, {"succeeded": 7})
    over = big.summary(query, at_most=6)
    assert over.more and over.total == 6
    assert big.summary(Query(search="keep_00"), at_most=200).total == 67


def test_a_three_letter_search_folds_case_beyond_ascii_like_a_longer_one(tmp_path: Path) -> None:
    """Three characters are enough for the trigram index, which folds É to é (LIKE does not)."""
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.record_seen(dto(taskId="lip_task_été"))
    if not journal.entries() or not journal._search_index:
        pytest.skip("this SQLite has no trigram tokenizer")
    assert [e.task_id for e in journal.entries(Query(search="ÉTÉ"))] == ["lip_task_été"]
    assert [e.task_id for e in journal.entries(Query(search="_ÉTÉ"))] == ["lip_task_été"]


def test_a_journal_file_names_its_service_and_account(tmp_path: Path) -> None:
    """`for_account` files the journal under `home`, writes its origin and account into the
    file, and a journal opened by path alone learns the account from it."""
    journal = Journal.for_account(ORIGIN, "tok-paging", home=tmp_path)
    assert journal.path.is_relative_to(tmp_path)
    assert (journal.origin, journal.account) == (ORIGIN, account_fingerprint(ORIGIN, "tok-paging"))
    journal.record_seen(dto(taskId="lip_task_1"))
    journal.close()
    with sqlite3.connect(journal.path) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('origin', 'account')"))
    assert meta == {"origin": ORIGIN, "account": account_fingerprint(ORIGIN, "tok-paging")}
    by_path = Journal(journal.path)
    assert by_path.account is None  # not read before it opens
    assert [e.task_id for e in by_path.entries()] == ["lip_task_1"]
    assert by_path.account == account_fingerprint(ORIGIN, "tok-paging")


def test_quotes_and_like_wildcards_in_a_search_are_plain_characters(tmp_path: Path) -> None:
    """A `"` in a trigram search and `%`, `_`, `\\` in a short (LIKE) one match only themselves."""
    journal = Journal(tmp_path / "journal.sqlite3")
    ids = ["lip_task_100%", "lip_task_a\\b", "lip_task_a_b", 'lip_task_say_"hi"', "lip_task_zz"]
    journal.record_seen_many([dto(taskId=i) for i in ids])
    for search, found in [
        ("%", ["lip_task_100%"]),
        ("\\", ["lip_task_a\\b"]),
        ("a_", ["lip_task_a_b"]),
        ('"hi"', ['lip_task_say_"hi"']),
        ('"h', ['lip_task_say_"hi"']),
    ]:
        assert sorted(str(e.task_id) for e in journal.entries(Query(search=search))) == found, (
            search
        )
