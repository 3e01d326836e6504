"""A journal on a network file system is warned about once per process.

The mount table is Linux's `/proc/self/mountinfo` format; the journal test points the
reader at a crafted file and creates on the real sandbox over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

import kitta_notebook
from kitta_notebook import JournalWarning
from kitta_notebook.history import journal
from kitta_notebook.sandbox import Sandbox

REPO = Path(kitta_notebook.__file__).resolve().parent.parent
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


def test_a_journal_on_a_network_root_file_system_is_told() -> None:
    """A diskless machine booted from NFS: every folder is on the root mount."""
    table = "1 0 0:20 / / rw,relatime shared:1 - nfs server:/root rw,vers=3\n" + TMP
    assert journal.network_type(table, "/srv/kitta") == "nfs"
    assert journal.network_type(table, "/tmp/kitta") is None


def test_odd_lines_are_skipped_and_fields_are_split_on_single_spaces() -> None:
    """A line cut short or without its " - " is skipped and the scan goes on; the kernel
    escapes only space, tab, newline and backslash, so a no-break space stays inside a
    mount point or a FUSE type; the type is the word after the first " - "."""
    point = "/home/ana\u00a0b"
    table = "\n".join(
        [
            "1 2 3",  # cut short
            "99 22 0:99 / /home rw,relatime shared:9 nfs4 server:/x rw",  # no separator
            ROOT,
            f"41 22 0:44 / {point} rw shared:9 - fuse.my\u00a0fs host:/x rw,tag= - nfs",
        ]
    )
    assert journal.network_type(table, f"{point}/.kitta") == "fuse.my\u00a0fs"
    assert journal.network_type(table, "/home/ana/.kitta") is None


@pytest.mark.parametrize("raw", [b"\xff\xfe", "é".encode()], ids=["not-utf8", "utf8"])
def test_a_mount_point_is_read_as_the_path_it_names_whatever_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    """Mount points are bytes: they are decoded as paths are, so one that is not UTF-8
    still names its folder (and is no error)."""
    table = tmp_path / "mountinfo"
    line = b"41 22 0:44 / /mnt/" + raw + b" rw shared:9 - nfs4 server:/x rw\n"
    table.write_bytes(ROOT.encode() + b"\n" + line)
    monkeypatch.setattr(journal, "MOUNTINFO", table)
    text = journal.read_mountinfo()
    assert text is not None
    assert journal.network_type(text, os.fsdecode(b"/mnt/" + raw + b"/j")) == "nfs4"


def test_a_kernel_with_an_ascii_locale_finds_a_mount_point_named_in_utf8(tmp_path: Path) -> None:
    """A kernel started with the C locale and UTF-8 mode off decodes its paths as ASCII
    with escapes: the mount table is decoded the same way, so the two still compare."""
    table = tmp_path / "mountinfo"
    table.write_text(mountinfo("/home/anaé", "nfs4"), encoding="utf-8")
    script = (
        "import sys; from kitta_notebook.history import journal as j; from pathlib import Path;"
        "j.MOUNTINFO = Path(sys.argv[1]); print(j.network_type(j.read_mountinfo(), sys.argv[2]))"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script, str(table), "/home/anaé/j"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == b"nfs4", done.stderr


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
