"""Reconcile under clock skew: a server clock minutes behind or ahead never turns a
create that did make a task into "not created" (which would let a keyed re-run
bill a second task).

The matching itself is pure code (`history.reconcile.plan`), tested here with
skewed timestamps; the end-to-end test shifts the sandbox's clock both ways,
answers a create with a 500 after the task was made, reconciles, re-runs the
keyed create, and counts the tasks on the server.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from kitta_notebook import KeyInUseError, KittaClient, ServerError
from kitta_notebook.history.reconcile import (
    Candidate,
    DateSample,
    Pending,
    estimate_clock,
    plan,
)
from kitta_notebook.sandbox import FaultConfig, Sandbox

NOW = 1_790_000_000.0
REQUESTED = NOW - 600  # ten minutes ago: well past `settle`
BEHIND = -180.0  # the server's clock 3 minutes behind
AHEAD = 900.0  # 15 minutes ahead


def pending(entry_id: str = "e1", requested: float = REQUESTED) -> Pending:
    return Pending(entry_id, requested, "kitta-lip-sync-v1", "video")


def task(task_id: str, created: float | None) -> Candidate:
    return Candidate(task_id, created, "kitta-lip-sync-v1", "video")


def date_sample(offset: float, at: float = NOW) -> DateSample:
    """A list response's Date header from a server `offset` seconds off, 50 ms round trip."""
    return DateSample(server=float(int(at + offset)), sent=at - 0.05, received=at)


@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
def test_old_fixed_window_would_miss_and_the_skew_is_learned_from_the_date_header(
    offset: float,
) -> None:
    created = REQUESTED + offset + 0.3  # the task the lost create made, on the server's clock
    clock = estimate_clock([], [date_sample(offset)])
    assert clock.low - 1.5 <= offset <= clock.high + 1.5
    report = plan([pending()], [task("lip_a", created)], clock=clock, now=NOW, complete=True)
    assert report.matched == [("e1", "lip_a")]
    assert report.absent == []


@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
def test_skew_is_learned_from_the_created_at_of_answered_creates(offset: float) -> None:
    delays = [offset + 0.2, offset + 0.4, offset + 0.3]  # createdAt - local request time
    clock = estimate_clock(delays)
    assert clock.trusted and clock.low <= offset <= clock.high
    candidates = [task("lip_a", REQUESTED + offset + 0.25), task("lip_far", REQUESTED - 7200)]
    report = plan([pending()], candidates, clock=clock, now=NOW, complete=True)
    assert report.matched == [("e1", "lip_a")]


@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
def test_without_any_clock_evidence_a_skewed_task_is_never_ruled_out(offset: float) -> None:
    """No measurement: the window spans every plausible offset; the only task is taken."""
    clock = estimate_clock([])
    report = plan(
        [pending()], [task("lip_a", REQUESTED + offset)], clock=clock, now=NOW, complete=True
    )
    assert report.matched == [("e1", "lip_a")]
    assert report.absent == []


def test_an_ambiguous_pair_outside_the_measured_window_stays_unresolved() -> None:
    """Two unknown creates, two tasks far from where the Date header says: never guess,
    and never call either "not created"."""
    clock = estimate_clock([], [date_sample(0.0)])
    creates = [pending("e1", REQUESTED), pending("e2", REQUESTED + 5)]
    tasks = [task("lip_a", REQUESTED + AHEAD), task("lip_b", REQUESTED + AHEAD + 5)]
    report = plan(creates, tasks, clock=clock, now=NOW, complete=True)
    assert report.matched == []
    assert sorted(report.unresolved) == ["e1", "e2"]
    assert report.absent == []


def test_a_create_the_server_never_made_is_still_ruled_out() -> None:
    """No unclaimed task anywhere near: "not created" stays available (re-run is safe)."""
    clock = estimate_clock([], [date_sample(BEHIND)])
    report = plan(
        [pending()], [task("lip_old", REQUESTED - 86_400)], clock=clock, now=NOW, complete=True
    )
    assert report.absent == ["e1"]


def test_a_trusted_measurement_rules_out_a_distant_task_created_elsewhere() -> None:
    clock = estimate_clock([AHEAD + 0.2, AHEAD + 0.4])
    far = task("lip_elsewhere", REQUESTED + AHEAD - 1800)  # half an hour before, server time
    report = plan([pending()], [far], clock=clock, now=NOW, complete=True)
    assert report.absent == ["e1"]


def test_an_incomplete_list_or_a_recent_create_never_concludes_absent() -> None:
    clock = estimate_clock([0.3])
    assert plan([pending()], [], clock=clock, now=NOW, complete=False).unresolved == ["e1"]
    recent = pending(requested=NOW - 5)
    assert plan([recent], [], clock=clock, now=NOW, complete=True).unresolved == ["e1"]


def test_an_undated_candidate_blocks_absent() -> None:
    """A task whose createdAt could not be fetched could be it: unresolved, not absent."""
    report = plan(
        [pending()], [task("lip_a", None)], clock=estimate_clock([0.2]), now=NOW, complete=True
    )
    assert report.unresolved == ["e1"] and report.absent == []


def test_disagreeing_date_headers_widen_the_range() -> None:
    clock = estimate_clock([], [date_sample(0.0, NOW), date_sample(300.0, NOW + 10)])
    assert clock.low <= 0.0 and clock.high >= 300.0


# --- end to end, against the sandbox's shifted clock ----------------------------------------
CLOCK_OFFSET_SUPPORTED = "clock_offset" in inspect.signature(Sandbox.__init__).parameters


@pytest.mark.skipif(not CLOCK_OFFSET_SUPPORTED, reason="the sandbox has no clock_offset yet")
@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
@pytest.mark.usefixtures("journal_store")
def test_keyed_create_after_a_500_with_a_skewed_server_clock_bills_once(offset: float) -> None:
    token = "skew-token"
    with Sandbox({token: 1_000_000}, time_scale=0.05, clock_offset=offset) as sb:
        client = KittaClient(token, base_url=sb.base_url, max_retries=0)
        sample = sb.samples
        request = {"audio_url": sample["audio"], "video_url": sample["video"]}
        client.lip_sync.create(**request, key="warm-up")  # an answered create, as usual
        sb.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
        with pytest.raises(ServerError):
            client.lip_sync.create(**request, key="promo-en")
        sb.faults = None
        report = client.history.reconcile(settle=0)
        assert report.absent == [], report
        again = client.lip_sync.create(**request, key="promo-en")
        server = client.lip_sync.list(limit=100).data
        assert len(server) == 2, [t.task_id for t in server]  # warm-up + one for the key
        assert again.task_id in {t.task_id for t in server}
        client.close()


@pytest.mark.skipif(not CLOCK_OFFSET_SUPPORTED, reason="the sandbox has no clock_offset yet")
@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
@pytest.mark.usefixtures("journal_store")
def test_reconcile_matches_with_no_answered_create_to_learn_from(offset: float) -> None:
    """The very first create fails: only the Date header tells the server's clock."""
    token = "skew-token-2"
    with Sandbox({token: 1_000_000}, time_scale=0.05, clock_offset=offset) as sb:
        client = KittaClient(token, base_url=sb.base_url, max_retries=0)
        sb.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
        with pytest.raises(ServerError):
            client.lip_sync.create(
                audio_url=sb.samples["audio"], video_url=sb.samples["video"], key="only"
            )
        sb.faults = None
        report = client.history.reconcile(settle=0)
        assert len(report.matched) == 1 and report.absent == [], report
        assert report.clock is not None and report.clock.low - 2 <= offset <= report.clock.high + 2
        client.close()


# --- a teammate's create, stamped by another machine's clock (a shared journal) -------------
def test_a_teammates_create_is_never_judged_by_this_machines_clock() -> None:
    """This machine measured its own clock (trusted, narrow); a teammate's lost create was
    written down by a clock 20 minutes behind. Judged by this machine's window it would be
    'never created' and its key free to bill again; it is paired only when unambiguous."""
    clock = estimate_clock([0.2, 0.3, 0.4])  # this machine: in step with the server
    teammate = Pending("e1", REQUESTED - 1200, "kitta-lip-sync-v1", "video", local=False)
    made = task("lip_a", REQUESTED + 0.3)  # the task it made, on the server's clock
    report = plan([teammate], [made], clock=clock, now=NOW, complete=True)
    assert report.matched == [("e1", "lip_a")] and report.absent == []
    other = task("lip_b", REQUESTED - 60)  # two could be it: neither is guessed
    report = plan([teammate], [made, other], clock=clock, now=NOW, complete=True)
    assert report.unresolved == ["e1"] and report.matched == [] and report.absent == []


TEAMMATE = r"""
import socket, sys, time
socket.gethostname = lambda: "teammate-machine"
wall = time.time
time.time = lambda: wall() - 1200  # this machine's clock is 20 minutes behind
from kitta_notebook import KeyInUseError, KittaClient, ServerError
base_url, token, video, audio = sys.argv[1:5]
client = KittaClient(token, base_url=base_url, max_retries=0)
try:
    client.lip_sync.create(video_url=video, audio_url=audio, key="promo-en")
except ServerError:
    print("unknown")
client.close()
"""


@pytest.mark.usefixtures("journal_store")
def test_a_teammates_lost_create_is_not_billed_again_after_reconcile() -> None:
    """Two machines on one journal: the teammate's create is answered with a 500 after the
    task was made; this machine reconciles (its own clock measured by answered creates) and
    re-runs the key: one task for the key, never two."""
    token = "team-skew-token"
    with Sandbox({token: 1_000_000}, time_scale=0.05) as sb:
        client = KittaClient(token, base_url=sb.base_url, max_retries=0)
        request = {"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}
        for n in range(3):  # answered creates: this machine's clock is measured
            client.lip_sync.create(**request, key=f"warm-up-{n}")
        sb.faults = FaultConfig(error_rate=1.0, routes=("create",), create_fault_after_commit=True)
        args = [sb.base_url, token, request["video_url"], request["audio_url"]]
        done = subprocess.run(
            [sys.executable, "-c", TEAMMATE, *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        sb.faults = None
        assert done.returncode == 0 and done.stdout.strip() == "unknown", done.stderr[-2000:]
        report = client.history.reconcile(settle=0)
        assert report.absent == [] and len(report.matched) == 1, report
        again = client.lip_sync.create(**request, key="promo-en")
        server = client.lip_sync.list(limit=100).data
        assert len(server) == 4 and again.task_id in {t.task_id for t in server}
        client.close()


IN_FLIGHT_TEAMMATE = r"""
import socket, sys, time
socket.gethostname = lambda: "teammate-machine"
wall = time.time
time.time = lambda: wall() - 1200  # this machine's clock is 20 minutes behind
from kitta_notebook import KittaClient
base_url, token, video, audio = sys.argv[1:5]
client = KittaClient(token, base_url=base_url)
body = {"model": "kitta-lip-sync-v1", "inputMode": "video", "videoUrl": video, "audioUrl": audio}
print(client.journal.record_request(body, "promo-en"), flush=True)
sys.stdin.readline()  # its create is in flight until told to go
"""


@pytest.mark.slow
def test_a_teammates_create_in_flight_is_never_left_behind_by_its_clock(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teammate still connected to the team's journal has a create in flight, written by a
    clock 20 minutes behind. Judged by its timestamp it would look 20 minutes old (past the
    15 after which a create counts as left behind); reconcile would rule it "not created"
    from the server's empty list and free its key while the server may still make its task.
    It stays the teammate's while its session lives, and only then is left behind."""
    monkeypatch.setenv("KITTA_JOURNAL_URL", postgres_db)
    token = "team-in-flight-token"
    with Sandbox({token: 1_000_000}, time_scale=0.05) as sb:
        client = KittaClient(token, base_url=sb.base_url, max_retries=0)
        request = {"audio_url": sb.samples["audio"], "video_url": sb.samples["video"]}
        args = [sb.base_url, token, request["video_url"], request["audio_url"]]
        teammate = subprocess.Popen(
            [sys.executable, "-c", IN_FLIGHT_TEAMMATE, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert teammate.stdout is not None and teammate.stdin is not None
            entry_id = teammate.stdout.readline().strip()
            assert entry_id, "the teammate wrote its entry"
            assert client.journal is not None and client.journal.unresolved() == []
            report = client.history.reconcile(settle=0)
            assert report.absent == [], report
            entry = client.history.get(entry_id)
            assert entry is not None and entry.outcome == "sending"
            with pytest.raises(KeyInUseError):
                client.lip_sync.create(**request, key="promo-en")
            assert sb.stats.route("create") == 0
            teammate.stdin.close()
            assert teammate.wait(timeout=60) == 0
        finally:
            teammate.kill()
        # Its session gone, the entry is left behind: reconcile may now judge it.
        left = [e.entry_id for e in client.journal.unresolved()]
        assert left == [entry_id]
        client.close()
