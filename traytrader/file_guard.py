"""Careful access to the files traytrader keeps in the user's directories.

Readers (vault, config, state) go through ``read_regular``: a FIFO would block ``read()``
forever and a device or a huge file would be read whole into memory just to say "not a
vault", so the file is opened without blocking, must be a regular file, and is refused when it
is larger than its reader could mean, after the first bytes were checked (so a 2 GiB photo is
"not a vault", not "too large").

Writers create directories 0700 (``private_dir``) and files 0600 from their first byte.

``trust_problem`` is the ssh-style check for files whose content decides where the API key
is sent: a config that another user can change lets that user point ``rest_url`` at a proxy.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

HEAD_BYTES = 64
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class FileRefused(Exception):
    """The file exists but will not be read; ``reason`` is a clause ("it is a directory")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def read_regular(path: str | os.PathLike[str], limit: int,
                 check_head: Callable[[bytes], None] | None = None) -> bytes:
    """The whole file, when it is a regular file of at most ``limit`` bytes.

    ``check_head`` sees the first ``HEAD_BYTES`` first and may raise its own error (the vault
    says "not a traytrader vault" before any size question). ``FileNotFoundError`` and other
    ``OSError`` pass through for the caller's own sentence; ``FileRefused`` otherwise.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):  # os.open of a directory fails on Windows with a vaguer error
        raise FileRefused("it is a directory, not a file")
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0))
    fd = os.open(path, flags)   # O_NONBLOCK: opening a FIFO with no writer returns at once
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"it is {_kind(st.st_mode)}, not a regular file")
        head = os.read(fd, HEAD_BYTES)
        if check_head is not None:
            check_head(head)
        if st.st_size > limit:
            raise FileRefused(f"it is {_size(st.st_size)}, far more than such a file can be"
                              f" (at most {_size(limit)})")
        chunks = [head]
        total = len(head)
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read
            raise FileRefused(f"it is more than {_size(limit)}, far more than such a file can be")
        return b"".join(chunks)
    finally:
        os.close(fd)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; return it.

    A directory of ours (named ``traytrader``) that an older version left 0755 is tightened;
    any other existing directory (``--journal /tmp/x.sqlite3``) is left as the user made it.
    """
    directory = Path(path)
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode passes through the umask; say it exactly
    elif os.name == "posix" and directory.name == "traytrader":
        st = directory.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(directory, 0o700)
    return directory


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist (SQLite then gives its -wal and
    -shm files the same mode); an existing file is left alone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return
    os.close(fd)


def trust_problem(path: str | os.PathLike[str], what: str) -> str | None:
    """A sentence when another user could change ``path`` (or a directory above it), else None.

    As ssh does for its config: the file and each directory above it must belong to us or root
    and not be writable by others, nor by a group other than the owner's private group (umask 002
    systems make files group-writable for a group of one). A world-writable directory with the
    sticky bit, such as /tmp, is fine: nobody else can replace what we own in it. Symlinks are
    followed and both the link's and the target's directories are checked. POSIX only.
    """
    if os.name != "posix":
        return None
    uid = os.geteuid()
    given = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    chains = [given, *given.parents]
    if real != given:
        chains += [real, *real.parents]
    seen: set[Path] = set()
    for item in chains:
        if item in seen:
            continue
        seen.add(item)
        try:
            st = os.stat(item)
        except OSError:
            continue
        is_file = item in (given, real) and not stat.S_ISDIR(st.st_mode)
        name = f"The {what} {item}" if is_file else f"The directory {item} (above the {what})"
        if st.st_uid not in (uid, 0):
            return (f"{name} belongs to another user (uid {st.st_uid}), who could change it and redirect"
                    " your API key; make it yours (chown) or move the file, and run again.")
        sticky_dir = not is_file and st.st_mode & stat.S_ISVTX
        writers = st.st_mode & (0o002 if _private_group(st) else 0o022)
        if writers and not sticky_dir:
            who = "others" if st.st_mode & 0o002 else "its group"
            return (f"{name} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}), who could change it"
                    f" and redirect your API key; fix it with: chmod go-w {item}.")
    return None


def _private_group(st: os.stat_result) -> bool:
    """The file's group is its owner's own: named like the owner, the owner's primary group, and
    nobody else in it (neither listed as a member nor having it as primary group), as ssh checks."""
    try:
        import grp
        import pwd

        group = grp.getgrgid(st.st_gid)
        owner = pwd.getpwuid(st.st_uid)
    except (ImportError, KeyError):
        return False
    if group.gr_name != owner.pw_name or owner.pw_gid != st.st_gid:
        return False
    if any(member != owner.pw_name for member in group.gr_mem):
        return False
    return not any(user.pw_gid == st.st_gid and user.pw_uid != owner.pw_uid for user in pwd.getpwall())
