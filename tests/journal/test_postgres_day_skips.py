"""Where a deep page of a team journal starts reading: the kept counts per day say which
day the offset falls in, so the earlier days are skipped, not walked. The counts are
given here as the database would answer them (thousands of rows would be needed to
reach these edges through a real server's pages)."""

from __future__ import annotations

from typing import Any

import pytest

from kitta_notebook.history.postgres import PostgresJournal
from kitta_notebook.history.postgres_schema import DAY_SECONDS, FOLD_ROWS

pytest.importorskip("psycopg")  # the extra [postgres]


class CountedDays(PostgresJournal):
    """A team journal whose per-day counts are `days`: (day, entries, delta rows)."""

    def __init__(self, days: list[tuple[int, int, int]]) -> None:
        super().__init__("postgresql://db.example.com/kitta", account="acct")
        self.days = days
        self.asked: list[tuple[str, Any]] = []
        self.folded: list[str] = []

    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        self.asked.append((sql, params))
        return list(self.days)

    def _fold(self, table: str) -> None:
        self.folded.append(table)


DAYS = [(100, 3, 0), (101, 5, 0), (102, 2, 0)]


@pytest.mark.parametrize(
    ("offset", "day", "within"),
    [(0, 100, 0), (2, 100, 2), (3, 101, 0), (7, 101, 4), (8, 102, 0), (9, 102, 1)],
)
def test_a_page_starts_at_the_edge_of_the_day_its_offset_falls_in(
    offset: int, day: int, within: int
) -> None:
    journal = CountedDays(DAYS)
    assert journal._skip_days(offset, ascending=True) == (float(day * DAY_SECONDS), within)
    ((sql, params),) = journal.asked
    assert sql.endswith("ORDER BY day ASC") and params == ("acct",)


def test_newest_first_a_page_starts_at_the_end_of_its_day() -> None:
    journal = CountedDays(list(reversed(DAYS)))
    assert journal._skip_days(3, ascending=False) == (float(102 * DAY_SECONDS), 1)
    assert journal.asked[0][0].endswith("ORDER BY day DESC")


def test_an_offset_past_every_day_reads_from_the_start_as_given() -> None:
    assert CountedDays(DAYS)._skip_days(10, ascending=True) == (None, 10)


def test_the_day_counts_are_folded_once_their_deltas_are_more_than_the_fold_size() -> None:
    at_the_limit = CountedDays([(100, 3, FOLD_ROWS - 1), (101, 5, 1)])
    at_the_limit._skip_days(0, ascending=True)
    over = CountedDays([(100, 3, FOLD_ROWS), (101, 5, 1)])
    over._skip_days(0, ascending=True)
    assert (at_the_limit.folded, over.folded) == ([], ["day_totals"])
