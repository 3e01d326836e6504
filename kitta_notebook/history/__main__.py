"""`python -m kitta_notebook.history setup|copy --to postgresql://…`: a team's journal.

`setup`, run by the database's owner, creates the tables or migrates them to this
version (again after an upgrade; running it twice changes nothing) and says the version.

Copies one person's SQLite journal (entries, their labels and notes) into the PostgreSQL
journal of the same account, in one transaction. Idempotent: an entry already there (the
same entry, or the same task seen by a teammate) is left alone, so a second run copies none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import KittaError

LOCAL_ONLY = ("download_path",)
"""Columns that name files on this machine: meaningless to a teammate, not copied."""

_HELP = """\
Copies entries, labels and notes. Not copied: kept result videos and where results were
downloaded (files on this machine, which teammates cannot open; the files stay where they
are), and keys being claimed right now. Run it again at any time: nothing is doubled.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kitta_notebook.history", description="The task journal's tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser(
        "setup",
        help="create or migrate a team's PostgreSQL journal (as the database's owner)",
        description="Create the team journal's tables, or migrate them to this version, "
        "as the database's owner; running it again changes nothing.",
    )
    setup.add_argument("--to", required=True, metavar="URL", help="postgresql://owner:pass@host/db")
    copy = commands.add_parser(
        "copy",
        help="copy a journal into a team's PostgreSQL journal",
        description="Copy this machine's journal into a team's PostgreSQL journal. " + _HELP,
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user:pass@host/db")
    copy.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="PATH",
        help="the SQLite journal file (default: this account's, from KITTA_API_TOKEN, "
        "KITTA_BASE_URL and KITTA_HOME)",
    )
    return parser


def setup(url: str) -> str:
    """Create or migrate the tables at `url` (a postgresql:// URL); what is there now."""
    from .postgres import PostgresJournal
    from .postgres_schema import SCHEMA_VERSION

    journal = PostgresJournal(url, account="setup")
    try:
        indexed = journal.has_search_index  # connecting creates or migrates the tables
    finally:
        journal.close()
    search = "with" if indexed else "without (CREATE EXTENSION pg_trgm as a superuser, rerun)"
    return f"{journal.where}: schema version {SCHEMA_VERSION}, {search} the URL search index"


def copy(source: Path | None, url: str) -> tuple[int, int]:
    """Copy the journal at `source` (default: this account's) to `url` (a postgresql://
    URL); (copied, already)."""
    from .journal import Journal
    from .postgres import PostgresJournal

    if source is None:
        from .._core import ClientConfig
        from .schema import journal_path

        config = ClientConfig.create(None, None, None, 0)
        if config.token is None:
            raise KittaError("no KITTA_API_TOKEN: name the journal file with --from PATH")
        source = journal_path(config.origin, config.token.reveal())
    if not source.is_file() or source.stat().st_size == 0:  # an empty file would become one
        raise KittaError(f"no journal at {source}")
    rows = Journal(source).rows()
    if rows.account is None:
        raise KittaError(f"{source} does not say which account it belongs to")
    for entry in rows.entries:
        entry.update(dict.fromkeys(LOCAL_ONLY))
    target = PostgresJournal(url, account=rows.account)
    try:
        added = target.add_rows(rows)
    finally:
        target.close()
    return added, len(rows.entries) - added


def main(argv: list[str] | None = None) -> int:
    from .recorder import is_postgres_url

    args = build_parser().parse_args(argv)
    try:
        if not is_postgres_url(args.to):
            raise KittaError("--to must be a postgresql:// or postgres:// URL")
        if args.command == "setup":
            print(setup(args.to))
            return 0
        added, already = copy(args.source, args.to)
    except KittaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {added} entries (with their labels and notes); {already} were already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
