"""Several processes opening a journal that does not exist yet, at the same moment.

Real processes, started once and synchronised per round by barrier files (no
sleeps standing in for synchronisation): in each round every process waits
until all have announced themselves, then opens a journal on a fresh
`KITTA_HOME` and writes to it. Before the fix, one of them could see the
other's half-created journal and fail with `JournalCorruptError`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kitta_notebook
from kitta_notebook.history.journal import Journal

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
ROUNDS = 20
PROCESSES = 3
WRITES = 5
COUNTS = [str(PROCESSES), str(ROUNDS), str(WRITES)]

WORKER = r"""
import os, sys, time
from pathlib import Path
from kitta_notebook.history.journal import Journal

root, me, processes, rounds, writes = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:])

def barrier(name):
    (root / f"{name}-{me}").touch()
    deadline = time.monotonic() + 120
    while len(list(root.glob(f"{name}-*"))) < processes:
        if (root / "failed").exists():
            sys.exit(0)  # another process failed and says why
        if time.monotonic() > deadline:
            sys.exit(f"barrier {name} not reached")
        time.sleep(0.0005)

for index in range(rounds):
    barrier(f"round{index}")
    try:
        journal = Journal(root / f"home{index}" / "journal.sqlite3")
        for n in range(writes):
            journal.record_seen({"taskId": f"lip_{me}_{n}", "status": "pending"})
        journal.close()
    except BaseException:
        (root / "failed").touch()
        raise
"""


def test_processes_opening_a_new_journal_at_once_all_succeed(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), str(me), *COUNTS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for me in range(PROCESSES)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    failures = [
        err for proc, (_out, err) in zip(procs, outputs, strict=True) if proc.returncode != 0
    ]
    assert not failures, failures[0][-2000:]
    assert not (tmp_path / "failed").exists()
    for index in range(ROUNDS):
        journal = Journal(tmp_path / f"home{index}" / "journal.sqlite3")
        assert journal.count() == PROCESSES * WRITES
