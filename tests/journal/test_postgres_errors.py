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


UNREACHABLE = (
    "an unreachable database, its password echoed in both forms",
    psycopg.OperationalError(
        'connection to "db.example.com" failed: password "pa/ss@word" (pa%2Fss%40word) refused'
    ),
    f'the team journal at {WHERE} could not be reached: connection to "db.example.com" '
    'failed: password "REDACTED" (REDACTED) refused. Check KITTA_JOURNAL_URL (host, port, '
    "database, user, password), or pass journal=False to the client.",
)
NO_RIGHTS = (
    "a role without rights is told who creates the tables",
    psycopg.errors.InsufficientPrivilege("permission denied for table entries"),
    f"the team journal at {WHERE} refused this role: permission denied for table entries. "
    "The role needs to read and write the journal's tables, which the database's owner "
    "creates and migrates: python -m kitta_notebook.history setup --to OWNER_URL",
)
OTHER = (
    "any other driver error",
    psycopg.errors.UniqueViolation("duplicate key value"),
    f"the team journal at {WHERE} could not be used: duplicate key value",
)


@pytest.mark.parametrize(("case", "error", "said"), [UNREACHABLE, NO_RIGHTS, OTHER])
def test_a_driver_error_says_what_failed_and_where_without_the_password(
    case: str, error: Exception, said: str
) -> None:
    assert error_of(error) == said, case


@pytest.mark.parametrize(("password", "redacted"), [("abcd", True), ("abc", False), ("", False)])
def test_a_password_of_four_characters_or_more_is_redacted(password: str, redacted: bool) -> None:
    """Shorter, it could not be told from ordinary words of the message."""
    secret = f":{password}" if password else ""
    url = f"postgresql://team{secret}@db.example.com/kitta"
    said = error_of(psycopg.errors.UniqueViolation("abcd abc"), url)
    assert said.endswith("could not be used: REDACTED abc" if redacted else "used: abcd abc")
