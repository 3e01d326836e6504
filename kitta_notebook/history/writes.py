"""The journal's write path: requests before they are sent, answers, states seen, downloads.

Billing safety rests here: a create is written down (`sending`) before it
goes out, and becomes `created`, `rejected` or `unknown` when it returns.
A task's state is written only when it changed, so polling an unchanged
task costs no disk write.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._redact import redact_url
from ..errors import KeyInUseError, KeyReusedError, UnresolvedCreateError
from ..models import LipSyncTask
from . import schema
from .entry import derive_state, load_json, now, number, text, ts
from .keys import INPUTS_KEY, KeyClaim, differences, pid_alive, stored_inputs
from .store import JournalStore

__all__ = [
    "HOST",
    "IN_FLIGHT",
    "SESSION",
    "STALE_SENDING_SECONDS",
    "URL_FIELDS",
    "JournalWriter",
    "held_elsewhere",
]

SESSION = uuid.uuid4().hex
HOST = socket.gethostname()
# Entries whose create request is on the wire in this process right now.
IN_FLIGHT: set[str] = set()
# Request fields holding a media URL (stored redacted, see `_redact`).
URL_FIELDS = ("videoUrl", "imageUrl", "audioUrl", "referenceImageUrl")
_REMEMBERED = 2000
# A `sending` entry of a live process older than this is treated as left behind.
STALE_SENDING_SECONDS = 15 * 60.0


# Where a stored request keeps what was published for it (not part of what was sent).
PUBLISHED_KEY = "x-published"


def stored_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as it may be kept: media URLs without credentials."""
    clean = dict(body)
    for name in URL_FIELDS:
        value = clean.get(name)
        if isinstance(value, str):
            clean[name] = redact_url(value)
    return clean


def held_elsewhere(
    pid: object, host: object, session: object, since: float, stale_after: float | None
) -> bool:
    """True when another process of this machine, still running, wrote it (and, with
    `stale_after`, less than that many seconds ago). Another machine's cannot be told."""
    if session == SESSION or host != HOST or not isinstance(pid, int) or not pid_alive(pid):
        return False
    return stale_after is None or now() - since < stale_after


def _dto_columns(merged: Mapping[str, Any]) -> tuple[object, ...]:
    """model, input_mode, credits, dto_json, created_ts, completed_ts of a task's DTO."""
    return (
        text(merged.get("model")),
        text(merged.get("inputMode")),
        number(merged.get("creditsCharged")),
        json.dumps(merged, sort_keys=True),
        ts(merged.get("createdAt")),
        ts(merged.get("completedAt")),
    )


class JournalWriter(JournalStore):
    """Everything that changes a journal's entries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The DTO last written per task: a poll that brings the same one writes nothing.
        self._last_dto: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- creates ---------------------------------------------------------------------
    def record_request(
        self,
        origin: str,
        body: Mapping[str, Any],
        key: str | None = None,
        *,
        published: Mapping[str, Any] | None = None,
        claim: str | None = None,
    ) -> str:
        """Write a create down before it is sent; returns the entry id.

        `origin` is part of the recorder call; a journal file serves one origin.
        `published` says which inputs were local files published for this create
        (file name, sha256, size, store, expiry: never a credential); it is kept
        under `x-published` beside the body that was sent. A `key` needs its
        `claim` token (`claim_key`), checked in the same transaction as the write:
        a claim taken over by another process refuses the create (nothing sent).
        """
        clean = stored_body(body)
        stored = {**clean, PUBLISHED_KEY: dict(published)} if published else clean
        entry_id = uuid.uuid4().hex
        moment = now()
        row = {
            "entry_id": entry_id,
            "source": "local",
            "outcome": schema.OUTCOME_SENDING,
            "state": schema.STATE_OUTCOME_UNKNOWN,
            "model": text(clean.get("model")),
            "input_mode": text(clean.get("inputMode")) or "video",
            "video_url": text(clean.get("videoUrl")),
            "image_url": text(clean.get("imageUrl")),
            "audio_url": text(clean.get("audioUrl")),
            "reference_image_url": text(clean.get("referenceImageUrl")),
            "duration_seconds": number(clean.get("durationSeconds")),
            "request_json": "",
            "batch_key": key,
            "requested_ts": moment,
            "updated_ts": moment,
            "sort_ts": moment,
            "pid": os.getpid(),
            "host": HOST,
            "session": SESSION,
        }
        with self._write() as conn:
            if key is not None:
                inputs = self._check_claim(conn, key, claim)
                if inputs is not None:
                    stored = {**stored, INPUTS_KEY: inputs}
            row["request_json"] = json.dumps(stored, sort_keys=True)
            columns = ", ".join(row)
            marks = ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO entries ({columns}) VALUES ({marks})", list(row.values()))
        IN_FLIGHT.add(entry_id)
        return entry_id

    def _check_claim(
        self, conn: sqlite3.Connection, key: str, claim: str | None
    ) -> dict[str, Any] | None:
        """The inputs the key was claimed with, if `claim` still holds it; else refuse."""
        if claim is None:  # a caller that did not claim: the same checks, made here
            existing = self._key_decision(conn, key, None)
            if existing is not None:
                raise KeyReusedError(key, existing, [])
            return None
        row = conn.execute(
            f"SELECT inputs_json FROM {schema.KEY_CLAIMS_TABLE} WHERE batch_key = ? AND token = ?",
            (key, claim),
        ).fetchone()
        if row is None:  # taken over as left behind: another create has the key now
            raise KeyInUseError(key)
        inputs = load_json(row[0])
        return inputs if isinstance(inputs, dict) else None

    def record_created(self, entry_id: str, task: LipSyncTask | Mapping[str, Any]) -> None:
        """The server answered 202: attach the taskId and the DTO to the entry."""
        raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
        IN_FLIGHT.discard(entry_id)
        with self._write() as conn:
            self._attach(conn, entry_id, raw, reconciled=False)

    def record_matched(self, entry_id: str, task_id: str) -> None:
        """Reconcile tied an unknown create to this server task."""
        known = self._read("SELECT dto_json FROM entries WHERE task_id = ?", (task_id,))
        raw = (load_json(known[0][0]) if known else None) or {"taskId": task_id}
        with self._write() as conn:
            self._attach(conn, entry_id, raw, reconciled=True)

    def record_not_created(self, entry_id: str) -> None:
        """Reconcile read the whole server list: this create never made a task."""
        moment = now()
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET outcome = ?, state = ?, reconciled_ts = ?, "
                "updated_ts = ? WHERE entry_id = ? AND outcome IN (?, ?)",
                (
                    schema.OUTCOME_ABSENT,
                    schema.STATE_NOT_CREATED,
                    moment,
                    moment,
                    entry_id,
                    schema.OUTCOME_UNKNOWN,
                    schema.OUTCOME_SENDING,
                ),
            )

    def _attach(
        self, conn: sqlite3.Connection, entry_id: str, raw: Mapping[str, Any], *, reconciled: bool
    ) -> None:
        task_id = text(raw.get("taskId"))
        if not task_id:
            return
        # The task may already have a row (seen from the server before the answer came).
        other = conn.execute(
            "SELECT entry_id, dto_json FROM entries WHERE task_id = ? AND entry_id != ?",
            (task_id, entry_id),
        ).fetchone()
        merged: dict[str, Any] = {}
        if other is not None:
            merged.update(load_json(other[1]) or {})
            conn.execute(
                "INSERT OR IGNORE INTO labels (entry_id, label) "
                "SELECT ?, label FROM labels WHERE entry_id = ?",
                (entry_id, other[0]),
            )
            conn.execute("DELETE FROM labels WHERE entry_id = ?", (other[0],))
            conn.execute("DELETE FROM entries WHERE entry_id = ?", (other[0],))
        merged.update(raw)
        moment = now()
        status = text(merged.get("status"))
        conn.execute(
            "UPDATE entries SET task_id = ?, outcome = ?, state = ?, status = ?, "
            "model = COALESCE(?, model), input_mode = COALESCE(?, input_mode), "
            "credits = COALESCE(?, credits), dto_json = ?, created_ts = COALESCE(?, created_ts), "
            "completed_ts = ?, updated_ts = ?, sort_ts = COALESCE(?, requested_ts, sort_ts), "
            "reconciled_ts = ? WHERE entry_id = ?",
            (
                task_id,
                schema.OUTCOME_CREATED,
                derive_state(schema.OUTCOME_CREATED, status),
                status,
                *_dto_columns(merged),
                moment,
                ts(merged.get("createdAt")),
                moment if reconciled else None,
                entry_id,
            ),
        )
        self._remember(task_id, raw)

    def record_outcome(self, entry_id: str, *, rejected: bool, error: str) -> None:
        """A create failed: `rejected` when nothing can have been created, else unknown."""
        IN_FLIGHT.discard(entry_id)
        outcome = schema.OUTCOME_REJECTED if rejected else schema.OUTCOME_UNKNOWN
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET outcome = ?, state = ?, outcome_error = ?, updated_ts = ? "
                "WHERE entry_id = ? AND outcome = ?",
                (
                    outcome,
                    derive_state(outcome, None),
                    error[:2000],
                    now(),
                    entry_id,
                    schema.OUTCOME_SENDING,
                ),
            )

    # --- states seen -----------------------------------------------------------------
    def record_seen(self, task: LipSyncTask | Mapping[str, Any]) -> None:
        """Keep the latest DTO of a task; a task first seen here is stored as `remote`."""
        self.record_seen_many([task])

    def record_seen_many(self, tasks: Iterable[LipSyncTask | Mapping[str, Any]]) -> int:
        """`record_seen` for many tasks in one transaction; returns how many were new.

        Only tasks whose stored state would change are written: an unchanged
        poll is answered from memory, and a task this process has not seen yet
        is compared with its row before any write lock is taken.
        """
        fresh: list[tuple[str, dict[str, Any]]] = []
        for task in tasks:
            raw = task.raw if isinstance(task, LipSyncTask) else dict(task)
            task_id = text(raw.get("taskId"))
            if not task_id or self._last_dto.get(task_id) == raw:
                continue
            fresh.append((task_id, raw))
        if not fresh:
            return 0
        changed = self._changed(fresh)
        added = 0
        if changed:
            with self._write() as conn:
                for task_id, raw in changed:
                    added += self._seen(conn, task_id, raw)
        for task_id, raw in fresh:
            self._remember(task_id, raw)
        return added

    def _changed(self, fresh: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """The tasks whose row is missing or would change (read without a write lock)."""
        stored: dict[str, dict[str, Any]] = {}
        ids = [task_id for task_id, _ in fresh]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._read(
                f"SELECT task_id, dto_json FROM entries WHERE task_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            stored.update({str(r[0]): load_json(r[1]) or {} for r in rows})
        changed = []
        for task_id, raw in fresh:
            before = stored.get(task_id)
            if before is None or {**before, **raw} != before:
                changed.append((task_id, raw))
        return changed

    def _seen(self, conn: sqlite3.Connection, task_id: str, raw: Mapping[str, Any]) -> int:
        row = conn.execute(
            "SELECT entry_id, dto_json, outcome FROM entries WHERE task_id = ?", (task_id,)
        ).fetchone()
        merged = (load_json(row[1]) or {}) if row is not None else {}
        merged.update(raw)  # a list item (a subset) must not erase what a detail told us
        status = text(merged.get("status"))
        moment = now()
        created_ts = ts(merged.get("createdAt"))
        if row is None:
            conn.execute(
                "INSERT INTO entries (entry_id, task_id, source, outcome, state, status, "
                "model, input_mode, credits, dto_json, created_ts, completed_ts, updated_ts, "
                "sort_ts) VALUES (?, ?, 'server', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    task_id,
                    schema.OUTCOME_REMOTE,
                    derive_state(schema.OUTCOME_REMOTE, status),
                    status,
                    *_dto_columns(merged),
                    moment,
                    created_ts if created_ts is not None else moment,
                ),
            )
            return 1
        conn.execute(
            "UPDATE entries SET status = ?, state = ?, model = COALESCE(?, model), "
            "input_mode = COALESCE(?, input_mode), credits = COALESCE(?, credits), "
            "dto_json = ?, created_ts = COALESCE(?, created_ts), "
            "completed_ts = COALESCE(?, completed_ts), updated_ts = ?, "
            "sort_ts = COALESCE(?, requested_ts, sort_ts) WHERE entry_id = ?",
            (
                status,
                derive_state(row[2], status),
                *_dto_columns(merged),
                moment,
                created_ts,
                row[0],
            ),
        )
        return 0

    def _remember(self, task_id: str, raw: Mapping[str, Any]) -> None:
        self._last_dto[task_id] = dict(raw)
        self._last_dto.move_to_end(task_id)
        while len(self._last_dto) > _REMEMBERED:
            self._last_dto.popitem(last=False)

    # --- files on this machine -------------------------------------------------------
    def record_download(self, task: LipSyncTask | str, path: str | os.PathLike[str]) -> None:
        """Remember where a task's result video was saved on this machine."""
        task_id = task.task_id if isinstance(task, LipSyncTask) else task
        if isinstance(task, LipSyncTask):
            self.record_seen(task)
        with self._write() as conn:
            conn.execute(
                "UPDATE entries SET download_path = ?, updated_ts = ? WHERE task_id = ?",
                (str(Path(path).absolute()), now(), task_id),
            )

    def record_kept(
        self, task_id: str, path: str | os.PathLike[str], size: int, sha256: str
    ) -> None:
        """A result video kept locally (path, size, sha256): replaces an earlier copy."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO kept (task_id, path, size, sha256, kept_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(task_id), str(Path(path).absolute()), int(size), str(sha256), now()),
            )

    def forget_kept(self, task_id: str) -> None:
        """Drop the record of a kept copy (after its file was cleaned up)."""
        with self._write() as conn:
            conn.execute("DELETE FROM kept WHERE task_id = ?", (str(task_id),))

    # --- keys --------------------------------------------------------------------------
    def claim_key(self, key: str, inputs: Mapping[str, Any]) -> KeyClaim:
        """Reserve `key` for one create, atomically, before anything is published or sent.

        Returns the task made earlier under the key from the same `inputs`, or a
        claim token to pass to `record_request` and then to `release_keys`. Raises
        `KeyReusedError` (a task from other inputs), `UnresolvedCreateError` (an
        earlier create may have reached the server) or `KeyInUseError` (a create
        under the key is running now, here or in another process).
        """
        token = uuid.uuid4().hex
        with self._write() as conn:
            existing = self._key_decision(conn, key, inputs)
            if existing is not None:
                return KeyClaim(key, task_id=existing)
            conn.execute(  # replaces a claim left behind by a process that died
                f"INSERT OR REPLACE INTO {schema.KEY_CLAIMS_TABLE} (batch_key, token, "
                "inputs_json, pid, host, session, claimed_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    token,
                    json.dumps(dict(inputs), sort_keys=True),
                    os.getpid(),
                    HOST,
                    SESSION,
                    now(),
                ),
            )
        return KeyClaim(key, token=token)

    def release_keys(self, claims: Iterable[KeyClaim]) -> None:
        """Give claimed keys back (their creates were sent, or will not be)."""
        held = [(c.key, c.token) for c in claims if c.token is not None]
        if held:
            with self._write() as conn:
                conn.executemany(
                    f"DELETE FROM {schema.KEY_CLAIMS_TABLE} WHERE batch_key = ? AND token = ?",
                    held,
                )

    def task_id_for_key(self, key: str) -> str | None:
        """The task created earlier under a `key`; raises while one is unresolved."""
        with self._lock:
            return self._key_decision(self._connection(), key, None)

    def _key_decision(
        self, conn: sqlite3.Connection, key: str, inputs: Mapping[str, Any] | None
    ) -> str | None:
        """The task the key already has (made from the same `inputs`, when given), or
        None when a create may go ahead; raises when it may not."""
        rows = conn.execute(
            "SELECT entry_id, task_id, outcome, request_json, pid, host, session, requested_ts "
            "FROM entries WHERE batch_key = ? ORDER BY requested_ts DESC",
            (key,),
        ).fetchall()
        for _entry_id, task_id, outcome, request_json, *_owner in rows:
            if outcome == schema.OUTCOME_CREATED and task_id:
                if inputs is not None:
                    request = load_json(request_json) or {}
                    before = stored_inputs(request, PUBLISHED_KEY)
                    changed = differences(before, inputs, legacy=INPUTS_KEY not in request)
                    if changed:
                        raise KeyReusedError(key, str(task_id), changed)
                return str(task_id)
        for entry_id, _task_id, outcome, _request, pid, host, session, requested in rows:
            if outcome == schema.OUTCOME_SENDING and (
                entry_id in IN_FLIGHT
                or held_elsewhere(pid, host, session, requested or 0.0, STALE_SENDING_SECONDS)
            ):
                raise KeyInUseError(key)
            if outcome in (schema.OUTCOME_UNKNOWN, schema.OUTCOME_SENDING):
                raise UnresolvedCreateError(key, str(entry_id))
        claim = conn.execute(
            f"SELECT pid, host, session, claimed_ts FROM {schema.KEY_CLAIMS_TABLE} "
            "WHERE batch_key = ?",
            (key,),
        ).fetchone()
        if claim is not None:
            pid, host, session, claimed = claim
            ours = session == SESSION and pid == os.getpid()  # another thread's, or coroutine's
            if ours or held_elsewhere(pid, host, session, claimed, None):
                raise KeyInUseError(key)
        return None
