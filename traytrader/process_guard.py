"""Keep decrypted secrets out of core dumps and away from debuggers of the same user.

A process that unlocks the vault holds the API secret (and the password) in memory; a crash
or ``kill -ABRT`` would write them to a core file (an audit found a 61 MB core with the HMAC
secret). ``forbid_core_dumps()`` sets the soft ``RLIMIT_CORE`` to 0 and, on Linux, clears the
process's dumpable flag (``prctl(PR_SET_DUMPABLE, 0)``), which also stops other processes of
the same user from attaching with ptrace or reading ``/proc/<pid>/mem``; with the kernel's
default ``fs.suid_dumpable = 0`` a non-dumpable process writes no core whatever its limit.
The hard limit is left alone so that child processes (a browser the tray opens) are unaffected.

Best effort and idempotent: where an API is missing (Windows has neither) nothing fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3

_done = False


def forbid_core_dumps() -> None:
    """Call before a secret enters memory; cheap after the first call."""
    global _done
    if _done:
        return
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _done = True


def dumpable() -> bool | None:
    """Whether this process may dump core or be traced (Linux); None where it cannot be asked."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
