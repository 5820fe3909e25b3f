"""What the app remembers between runs, kept apart from the user's config (which it never writes).

``state.toml`` holds the active profile, whether hotkeys were armed (per environment, and never
for ``live``: live hotkeys start disarmed every run), and the action bar's visibility and
position. It is written with tomli-w atomically: temp file in the same directory, fsync, rename,
fsync of the directory, in a 0700 directory. A missing, corrupt, absurdly large or
not-regular file (a FIFO would block the tray's start forever) gives defaults and a warning,
never a crash.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from traytrader.core.models import Environment
from traytrader.file_guard import FileRefused, private_dir, read_regular

log = logging.getLogger(__name__)

_COORD_LIMIT = 1_000_000  # pixels; anything beyond is damage, not a screen
MAX_STATE_BYTES = 64 * 1024  # the file is ~150 bytes


@dataclass
class AppState:
    active_profile: str = ""
    armed: dict[str, bool] = field(default_factory=dict)  # environment value -> armed; never "live"
    action_bar_visible: bool = False
    action_bar_position: tuple[int, int] | None = None  # (x, y) in screen pixels

    def armed_for(self, environment: Environment, default: bool) -> bool:
        """Remembered armed state; ``live`` always starts disarmed whatever was stored."""
        if environment is Environment.LIVE:
            return False
        return self.armed.get(environment.value, default)

    def set_armed(self, environment: Environment, armed: bool) -> None:
        """Remember the armed state, except for ``live``, which is never remembered."""
        if environment is not Environment.LIVE:
            self.armed[environment.value] = armed


def load_state(path: str | os.PathLike[str]) -> AppState:
    """The remembered state; defaults (and a logged warning) when the file is missing or unusable."""
    return read_state(path)[0]


def read_state(path: str | os.PathLike[str]) -> tuple[AppState, str | None]:
    """The remembered state and, when the file was unusable, a one-sentence warning (also logged)."""
    target = Path(path)
    try:
        raw = read_regular(target, MAX_STATE_BYTES)
    except FileNotFoundError:
        return AppState(), None
    except FileRefused as exc:
        return _warn(f"Cannot read the state file {target} ({exc.reason}); starting from defaults.")
    except OSError as exc:
        return _warn(f"Cannot read the state file {target} ({exc.strerror or exc}); starting from defaults.")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except Exception:  # TOMLDecodeError, UnicodeDecodeError, RecursionError (5000 nested "["), ...
        return _warn(f"The state file {target} is damaged; starting from defaults (it will be rewritten).")
    state = AppState()
    ignored: list[str] = []
    for key, value in doc.items():
        if not _apply(state, key, value):
            ignored.append(key)
    x, y = doc.get("action_bar_x"), doc.get("action_bar_y")
    if _coordinate(x) and _coordinate(y):
        state.action_bar_position = (x, y)
    elif "action_bar_x" in doc or "action_bar_y" in doc:
        ignored += [k for k in ("action_bar_x", "action_bar_y") if k not in ignored]
    if ignored:
        state_warning = (f"The state file {target} had unusable entries ({', '.join(sorted(ignored))});"
                         " they were ignored.")
        log.warning(state_warning)
        return state, state_warning
    return state, None


def _coordinate(value: Any) -> bool:
    return type(value) is int and abs(value) <= _COORD_LIMIT


def _warn(message: str) -> tuple[AppState, str]:
    log.warning(message)
    return AppState(), message


def _apply(state: AppState, key: str, value: Any) -> bool:
    """Set one remembered field when its value has the right shape; False when it is unusable."""
    if key == "active_profile" and isinstance(value, str):
        state.active_profile = value
    elif key == "action_bar_visible" and isinstance(value, bool):
        state.action_bar_visible = value
    elif key in ("action_bar_x", "action_bar_y"):
        return True  # read as a pair in read_state
    elif key == "armed" and isinstance(value, dict):
        known = {e.value for e in Environment if e is not Environment.LIVE}
        if not all(k in known and isinstance(v, bool) for k, v in value.items()):
            return False
        state.armed = dict(value)
    else:
        return False
    return True


def save_state(path: str | os.PathLike[str], state: AppState) -> None:
    """Write the state atomically; raises ``OSError`` when the disk refuses (the old file survives)."""
    doc: dict[str, Any] = {
        "active_profile": state.active_profile,
        "action_bar_visible": state.action_bar_visible,
        "armed": {k: v for k, v in sorted(state.armed.items()) if k != Environment.LIVE.value},
    }
    if state.action_bar_position is not None:
        doc["action_bar_x"], doc["action_bar_y"] = (int(v) for v in state.action_bar_position)
    data = tomli_w.dumps(doc).encode("utf-8")
    target = Path(path)
    private_dir(target.parent)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if os.name == "posix":
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
