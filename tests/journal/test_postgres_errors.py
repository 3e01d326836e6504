"""What a team journal's driver error becomes: our error, naming what failed and where,
with the password redacted in every form a driver may echo it. No server needed."""

from __future__ import annotations

import pytest

from kitta_notebook.errors import JournalError
from kitta_notebook.history.postgres import PostgresJournal

psycopg = pytest.importorskip("psycopg")  # the extra [postgres]

URL = "postgresql://team:pa%2Fss%40word@db.example.com:5432/kitta"
WHERE = "postgresql://db.example.com:5432/kitta"  # no user, no password


def error_of(exc: BaseException, url: str = URL) -> str:
    journal = PostgresJournal(url, account="acct")
    made = journal._error(exc)
    assert isinstance(made, JournalError)
    return str(made)


def test_an_unreachable_database_is_named_without_its_password_in_any_form() -> None:
    echoed = psycopg.OperationalError(
        'connection to "db.example.com" failed: password "pa/ss@word" (pa%2Fss%40word) refused'
    )
    assert error_of(echoed) == (
        f'the team journal at {WHERE} could not be reached: connection to "db.example.com" '
        'failed: password "REDACTED" (REDACTED) refused. Check KITTA_JOURNAL_URL (host, port, '
        "database, user, password), or pass journal=False to the client."
    )


def test_a_role_without_rights_is_told_who_creates_the_tables() -> None:
    refused = psycopg.errors.InsufficientPrivilege("permission denied for table entries")
    assert error_of(refused) == (
        f"the team journal at {WHERE} refused this role: permission denied for table entries. "
        "The role needs to read and write the journal's tables, which the database's owner "
        "creates and migrates: python -m kitta_notebook.history setup --to OWNER_URL"
    )


def test_any_other_driver_error_says_the_journal_could_not_be_used() -> None:
    failed = psycopg.errors.UniqueViolation("duplicate key value")
    assert error_of(failed) == (
        f"the team journal at {WHERE} could not be used: duplicate key value"
    )


@pytest.mark.parametrize(("password", "redacted"), [("abcd", True), ("abc", False), ("", False)])
def test_a_password_of_four_characters_or_more_is_redacted(password: str, redacted: bool) -> None:
    """Shorter, it could not be told from ordinary words of the message."""
    secret = f":{password}" if password else ""
    url = f"postgresql://team{secret}@db.example.com/kitta"
    said = error_of(psycopg.errors.UniqueViolation("abcd abc"), url)
    assert said.endswith("could not be used: REDACTED abc" if redacted else "used: abcd abc")
