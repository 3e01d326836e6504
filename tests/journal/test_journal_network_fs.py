"""A journal on a network file system is warned about once per process.

The mount table is Linux's `/proc/self/mountinfo` format; the journal test points the
reader at a crafted file and creates on the real sandbox over HTTP.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import pytest

from kitta_notebook import JournalWarning
from kitta_notebook.history import journal
from kitta_notebook.sandbox import Sandbox

ROOT = "22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/l,upperdir=/u"
TMP = "30 22 0:30 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1024k"


def mountinfo(point: str, kind: str, *, source: str = "server:/export") -> str:
    """A mount table: an overlay root, a tmpfs, and `kind` mounted at `point`."""
    line = f"41 22 0:44 / {point} rw,relatime shared:9 master:2 - {kind} {source} rw,vers=4.2"
    return "\n".join([ROOT, TMP, line, ""])


NETWORK = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "fuse.s3fs", "fuse"]
LOCAL = ["ext4", "xfs", "btrfs", "overlay", "tmpfs", "fuseblk", "fuse.fuse-overlayfs", "zfs"]


@pytest.mark.parametrize("kind", NETWORK)
def test_a_folder_on_a_network_mount_is_told(kind: str) -> None:
    table = mountinfo("/home/ana", kind)
    assert journal.network_type(table, "/home/ana/.kitta/journals") == kind
    assert journal.network_type(table, "/home/ana") == kind
    assert journal.network_type(table, "/home/anabel/.kitta") is None  # a sibling, not inside
    assert journal.network_type(table, "/srv/kitta") is None  # on the overlay root


@pytest.mark.parametrize("kind", LOCAL)
def test_a_folder_on_a_local_file_system_is_not(kind: str) -> None:
    table = mountinfo("/home/ana", kind, source="/dev/sda1")
    assert journal.network_type(table, "/home/ana/.kitta/journals") is None
    assert journal.network_type(table, "/tmp/kitta") is None  # tmpfs


def test_the_longest_mount_point_decides_and_escapes_are_read() -> None:
    local_inside_nfs = mountinfo("/home", "nfs4") + (
        "52 41 8:1 / /home/ana/scratch\\040space rw - ext4 /dev/sdb1 rw\n"
    )
    assert journal.network_type(local_inside_nfs, "/home/ana/scratch space/j") is None
    assert journal.network_type(local_inside_nfs, "/home/ana/notebooks") == "nfs4"
    remounted = local_inside_nfs + "60 41 0:50 / /home rw - ext4 /dev/sdc1 rw\n"
    assert journal.network_type(remounted, "/home/bo") is None  # the later mount shows
    assert journal.network_type("garbage\n\n1 2 3\n", "/home") is None


@pytest.fixture
def crafted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The mount table the journal reads, as a file of the test's (no warning given yet)."""
    table = tmp_path / "mountinfo"
    monkeypatch.setattr(journal, "MOUNTINFO", table)
    monkeypatch.setattr(journal, "_warned", threading.Event())
    return table


def _journal_warnings(sandbox: Sandbox, home: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Creates from two clients (two journals) under `home`; the JournalWarnings given."""
    monkeypatch.setenv("KITTA_HOME", str(home))
    media = {"video_url": sandbox.samples["video"], "audio_url": sandbox.samples["audio"]}
    sandbox.add_account("tok-network-fs", 1_000_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for token in (sandbox.token, "tok-network-fs", sandbox.token):
            with sandbox.client(token) as client:
                client.lip_sync.create(**media)
                assert client.journal is not None and client.journal.count() >= 1
                client.journal.close()  # the next client opens it anew
    return [str(w.message) for w in caught if issubclass(w.category, JournalWarning)]


def test_a_journal_on_nfs_is_warned_about_once_naming_the_fix(
    sandbox: Sandbox, tmp_path: Path, crafted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.path.realpath(tmp_path)) / "nfs-home"
    crafted.write_text(mountinfo(str(home), "nfs4"))
    found = _journal_warnings(sandbox, home / "kitta", monkeypatch)
    assert len(found) == 1, found
    assert "nfs4" in found[0] and "KITTA_JOURNAL_URL" in found[0]
    assert str(home) in found[0]


def test_a_local_journal_or_no_mount_table_gives_no_warning(
    sandbox: Sandbox, tmp_path: Path, crafted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.path.realpath(tmp_path)) / "local-home"
    crafted.write_text(mountinfo(str(home), "ext4", source="/dev/sda1"))
    assert _journal_warnings(sandbox, home, monkeypatch) == []
    crafted.unlink()  # another OS: no mount table at all
    assert _journal_warnings(sandbox, tmp_path / "elsewhere", monkeypatch) == []
