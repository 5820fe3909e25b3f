"""Where traytrader keeps its files, per the platform's conventions (platformdirs).

On Linux this honours ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME`` and
``XDG_RUNTIME_DIR``. Every function returns a path and creates nothing: the writer of a file
creates its directory, always with mode 0700 (``file_guard.private_dir``), and the file 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "traytrader"

CONFIG_FILE = "config.toml"
VAULT_FILE = "vault.bin"
STATE_FILE = "state.toml"
JOURNAL_FILE = "journal.sqlite3"
CONTROL_SOCKET = "control.sock"


def _dirs() -> platformdirs.PlatformDirs:
    # Built per call so that a test (or a user) changing XDG_* at run time is honoured.
    return platformdirs.PlatformDirs(APP_NAME, appauthor=False)


def config_dir() -> Path:
    return Path(_dirs().user_config_dir)


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)


def state_dir() -> Path:
    return Path(_dirs().user_state_dir)


def config_path() -> Path:
    """The user's ``config.toml``; the app reads it and never rewrites it."""
    return config_dir() / CONFIG_FILE


def vault_path() -> Path:
    """The encrypted key file (mode 0600)."""
    return data_dir() / VAULT_FILE


def state_path() -> Path:
    """What the app remembers between runs (active profile, armed state, action-bar position)."""
    return state_dir() / STATE_FILE


def journal_path() -> Path:
    """The append-only SQLite journal."""
    return data_dir() / JOURNAL_FILE


def control_socket_path() -> Path:
    """The Unix socket ``traytrader send`` talks to.

    The per-user runtime directory (``XDG_RUNTIME_DIR``, mode 0700, cleared at logout) is the
    right home for a socket; when it is unset or not private we use the user's own state dir
    rather than a shared temp dir.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _private_dir(Path(runtime)):
        return Path(runtime) / APP_NAME / CONTROL_SOCKET
    return state_dir() / CONTROL_SOCKET


def _private_dir(path: Path) -> bool:
    """A directory owned by us that nobody else can enter (what XDG requires of the runtime dir)."""
    if not hasattr(os, "getuid"):  # Windows has no XDG runtime dir
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return path.is_dir() and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0
