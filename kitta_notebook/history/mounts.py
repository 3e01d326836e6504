"""Is the journal's folder on a network file system? SQLite's locking is not safe there.

Hubs often mount home folders over NFS, CIFS/SMB or FUSE; SQLite's own
documentation warns that its file locks may not hold on them, so two kernels
could lose or double entries. Linux says where each folder is mounted in
`/proc/self/mountinfo`; elsewhere nothing is known and nothing is said.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from pathlib import Path

from ..errors import JournalWarning
from ..i18n import text

MOUNTINFO = Path("/proc/self/mountinfo")
NETWORK_TYPES = frozenset({"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "fuse"})
# FUSE file systems that keep their files on this machine (rootless containers' layers).
LOCAL_FUSE = frozenset({"fuse.fuse-overlayfs", "fuse.lxcfs"})
_ESCAPED = re.compile(r"\\([0-7]{3})")  # a space in a mount point is written \040
_once = threading.Lock()
_warned = threading.Event()  # once per process, whichever journal is first


def read_mountinfo() -> str | None:
    """This process's mount table, or None where there is none (not Linux)."""
    try:
        return MOUNTINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def network_type(mountinfo: str, folder: str) -> str | None:
    """The file system type of `folder`'s mount (the longest mount point holding it, the
    last one mounted there) when it is a network one, else None."""
    found: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if " - " not in line or len(fields) < 5:
            continue
        point = _ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = point == "/" or folder == point or folder.startswith(point.rstrip("/") + "/")
        if inside and (found is None or len(point) >= found[0]):
            found = (len(point), line.split(" - ", 1)[1].split(" ")[0])
    if found is None:
        return None
    kind = found[1]
    if kind in LOCAL_FUSE or not (kind in NETWORK_TYPES or kind.startswith("fuse.")):
        return None
    return kind


def warn_if_network(path: Path) -> None:
    """Warn once per process when the journal at `path` lies on a network file system."""
    if _warned.is_set():
        return
    mountinfo = read_mountinfo()
    if mountinfo is None:
        return
    kind = network_type(mountinfo, os.path.realpath(path.parent))
    if kind is None:
        return
    with _once:
        if _warned.is_set():
            return
        _warned.set()
    message = text("journal_network_fs", path=str(path), kind=kind)
    warnings.warn(JournalWarning(message), stacklevel=2)
