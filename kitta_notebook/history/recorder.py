"""`JournalRecorder`: what a client records its creates and polls with, into its journal.

The journal choice lives on the client's configuration (`ClientConfig.journal`:
True for the account's own journal, False for none, a `postgresql://` URL, or a
`JournalStore`; True with `KITTA_JOURNAL_URL` set is that URL), so
the client's other flavour and the live views' private clients, which share
the configuration, record into the same journal, or not at all. With
`ClientConfig.journal_identity` set, the journal is chosen by that identity
instead of origin and token (the embedded sandbox: one journal, any port).

Nothing stored needs scrubbing: the token travels in a header and never in
a request body; the server's free-text error messages (which could echo
anything) are not kept, only the error's type, status, code and request id.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core import HOME_ENV
from ..errors import APIStatusError, JournalError
from ..models import LipSyncTask
from .entry import portable, storable
from .keys import KeyClaim
from .store import JournalStore, journal_warning

if TYPE_CHECKING:
    from .._core import ClientConfig

__all__ = [
    "JOURNAL_URL_ENV",
    "JournalRecorder",
    "failure_text",
    "is_postgres_url",
    "journal_for_config",
]

JOURNAL_URL_ENV = "KITTA_JOURNAL_URL"
"""A `postgresql://` URL: the journal lives in that (team) database instead of KITTA_HOME."""
_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class _Handle:
    journal: JournalStore
    entry_id: str


def failure_text(error: BaseException) -> str:
    """What is stored about a failed create: our own words only.

    An API error keeps its type, status, code, hint and request id; the
    server's message is left out because a server may echo anything in it
    (even the token), and scrubbing by substring would mangle everything else.
    """
    if not isinstance(error, APIStatusError):
        return storable(f"{type(error).__name__}: {error}")
    return storable(f"{type(error).__name__}: {error._compose(message=False)}")


def journal_for_config(config: ClientConfig) -> JournalStore | None:
    """The journal a configuration chooses (None when off or nothing identifies one).

    The one place that picks a store: a `postgresql://` URL (given, else
    `KITTA_JOURNAL_URL`) is `PostgresJournal`, else the SQLite file under `KITTA_HOME`.
    """
    choice: Any = config.journal
    if choice is False:
        return None
    if isinstance(choice, JournalStore):
        return choice
    url = choice if isinstance(choice, str) else os.environ.get(JOURNAL_URL_ENV, "").strip()
    if url:
        return _postgres_journal(config, url)
    from .journal import Journal

    if config.journal_identity:
        return Journal.for_identity(config.journal_identity)
    if config.token is None:
        return None
    return Journal.for_account(config.origin, config.token.reveal())


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(_SCHEMES)


def _postgres_journal(config: ClientConfig, url: str) -> JournalStore | None:
    if not is_postgres_url(url):
        shown = url.split("://", 1)[0] + "://…" if "://" in url else "a path"
        raise JournalError(
            f"The journal must be a postgresql:// or postgres:// URL (given {shown}, through "
            f"journal= or {JOURNAL_URL_ENV}); pass True for this machine's journal."
        )
    from .postgres import PostgresJournal

    if config.journal_identity:
        return PostgresJournal.for_identity(url, config.journal_identity)
    if config.token is None:
        return None
    return PostgresJournal.for_account(url, config.origin, config.token.reveal())


class JournalRecorder:
    """Resolves its journal lazily, per call, from the client's configuration.

    Recording a task's state never breaks an API call: a journal error is a
    warning (once). Writing a create down before it is sent is the exception:
    it raises, and nothing is sent.
    """

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._cached: tuple[tuple[object, ...], JournalStore] | None = None
        self._warned = False

    def journal(self) -> JournalStore | None:
        """The journal for the configuration's current choice, origin and token."""
        config = self._config
        if config.journal is False or isinstance(config.journal, JournalStore):
            return journal_for_config(config)
        # Compared by identity and value, not hashed: this runs on every poll.
        key = (config.token, config.base_url, config.journal_identity, *_places(config))
        cached = self._cached
        if cached is not None and cached[0][0] is key[0] and cached[0][1:] == key[1:]:
            return cached[1]
        journal = journal_for_config(config)
        if journal is not None:
            self._cached = (key, journal)
            if config.journal_identity:  # the embedded sandbox's: its media at its origin now
                journal.media_origin = config.origin
        return journal

    def close(self) -> None:
        """Close the journal in use; one never used is not opened (nor refused) to close it."""
        given = self._config.journal
        journal = given if isinstance(given, JournalStore) else None
        if journal is None and self._cached is not None:
            journal = self._cached[1]
        if journal is not None:
            journal.close()

    def before_create(
        self,
        origin: str,
        body: dict[str, Any],
        key: str | None = None,
        published: dict[str, Any] | None = None,
        claim: str | None = None,
    ) -> object:
        journal = self.journal()
        if journal is None:
            return None
        if self._config.journal_identity:  # the sandbox's own media, recorded without a port
            body = portable(body, origin)
        entry_id = journal.record_request(body, key, published=published, claim=claim)
        return _Handle(journal, entry_id)

    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        journal = self.journal()
        if journal is None:
            return KeyClaim(key)
        if self._config.journal_identity:  # the sandbox's own media, compared without a port
            inputs = portable(inputs, self._config.origin)
        return journal.claim_key(key, inputs)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        """Never raises: a claim left behind is taken over once this process has ended."""
        with self._quietly() as journal:
            if journal is not None:
                journal.release_keys(claims)

    def created(self, handle: object, task: LipSyncTask) -> None:
        if isinstance(handle, _Handle):
            try:
                handle.journal.record_created(handle.entry_id, task)
            except JournalError as exc:
                handle.journal._warn_once("record a created task", exc)

    def rejected(self, handle: object, error: BaseException) -> None:
        self._outcome(handle, error, rejected=True)

    def outcome_unknown(self, handle: object, error: BaseException) -> None:
        self._outcome(handle, error, rejected=False)

    def _outcome(self, handle: object, error: BaseException, *, rejected: bool) -> None:
        if not isinstance(handle, _Handle):
            return
        try:
            handle.journal.record_outcome(
                handle.entry_id, rejected=rejected, error=failure_text(error)
            )
        except JournalError as exc:
            handle.journal._warn_once("record a failed create", exc)

    def seen(self, task: LipSyncTask) -> None:
        self.seen_many([task])

    def seen_many(self, tasks: list[LipSyncTask]) -> None:
        """Many tasks' states in one write (a watch's round of detail answers)."""
        with self._quietly() as journal:
            if journal is not None and tasks:
                journal.record_seen_many(tasks)

    def downloaded(self, task: LipSyncTask, path: str | os.PathLike[str]) -> None:
        with self._quietly() as journal:
            if journal is not None:
                journal.record_download(task, path)

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[JournalStore | None]:
        """The journal, for a write that must never break an API call (warns once)."""
        try:
            journal = self.journal()
        except JournalError as exc:
            self._warn(exc)
            journal = None
        try:
            yield journal
        except JournalError as exc:
            self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            journal_warning(f"the task journal could not record a task: {exc}")


def _places(config: ClientConfig) -> tuple[object, str | None, str | None]:
    """What else chooses the journal: the configured URL, KITTA_JOURNAL_URL, KITTA_HOME."""
    return (config.journal, os.environ.get(JOURNAL_URL_ENV), os.environ.get(HOME_ENV))
