"""The control socket ``traytrader send`` talks to: one line in, one line out.

Why: Wayland gives pynput no global keys, so compositor shortcuts, window-manager bindings or a
macro pad run ``traytrader send buy`` and reach the same warm engine path as a hotkey.

Protocol (UTF-8, one request per connection, both lines end with ``\\n``)::

    request:  buy | sell | close | flatten | cancel | profile NAME | status
    reply:    ok <sentence>  |  refused <sentence>  |  error <sentence>

Security: a Unix socket in a 0700 directory, itself 0600, and every peer's uid is checked with
``SO_PEERCRED`` (Linux) or ``LOCAL_PEERCRED`` (macOS): a different user is refused even if the
file modes were loosened. Windows has no AF_UNIX in Python; see ``docs/desktop.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from traytrader.core.errors import CommandRefused, ConfigError
from traytrader.ui.menu_model import Action

log = logging.getLogger(__name__)

MAX_LINE = 512
READ_TIMEOUT_S = 2.0

# request word → (action, takes an argument)
WORDS: dict[str, tuple[Action | None, bool]] = {
    "buy": (Action.BUY, False),
    "sell": (Action.SELL, False),
    "close": (Action.CLOSE, False),      # or "close 50%" (OPTIONAL_ARGUMENT)
    "breakeven": (Action.BREAKEVEN, False),
    "add": (Action.ADD, False),
    "flatten": (Action.FLATTEN, False),
    "cancel": (Action.CANCEL_ALL, False),
    "profile": (Action.SELECT_PROFILE, True),
    "status": (None, False),
}

#: Words whose argument may be given or not: ``close`` (the whole position) or ``close 50%``.
OPTIONAL_ARGUMENT = frozenset({"close"})

Request = tuple[Action | None, str]  # (None, "") is "status"
Handler = Callable[[Action | None, str], str]


def parse_request(line: str) -> Request:
    """``"profile scalp"`` → ``(Action.SELECT_PROFILE, "scalp")``; bad input raises CommandRefused."""
    words = line.strip().split(maxsplit=1)
    if not words:
        raise CommandRefused("Empty request; send one of: " + ", ".join(WORDS) + ".")
    word = words[0].lower()
    if word not in WORDS:
        raise CommandRefused(f"Unknown request {word!r}; send one of: " + ", ".join(WORDS) + ".")
    action, needs_argument = WORDS[word]
    argument = words[1].strip() if len(words) > 1 else ""
    if needs_argument and not argument:
        raise CommandRefused(f"{word!r} needs a name, for example: {word} scalp.")
    if word in OPTIONAL_ARGUMENT and argument:
        if not argument.rstrip("%").strip().replace(".", "", 1).isdigit():
            raise CommandRefused(f"{word!r} takes a part of the position such as 50% (got {argument!r}).")
        return action, argument.replace(" ", "")
    if not needs_argument and argument:
        raise CommandRefused(f"{word!r} takes no argument (got {argument!r}).")
    return action, argument


def format_reply(ok: bool, sentence: str, *, refused: bool = True) -> str:
    word = "ok" if ok else ("refused" if refused else "error")
    return f"{word} {' '.join(sentence.split())}\n"


def reply_ok(reply: str) -> bool:
    return reply.startswith("ok ")


def peer_uid(conn: socket.socket) -> int | None:
    """The connecting process's uid, or None where the platform cannot tell."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return uid
    if sys.platform == "darwin":  # struct xucred { u_int cr_version; uid_t cr_uid; ... }; SOL_LOCAL=0
        local_peercred = 0x001
        raw = conn.getsockopt(0, local_peercred, 76)
        return struct.unpack_from("2I", raw)[1]
    return None


def prepare_path(path: Path) -> None:
    """Create the 0700 parent; remove a stale socket; refuse if another instance is listening."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.stat().st_mode):
        raise ConfigError(f"{path} exists and is not a socket; remove it and start again.")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody listens: left over from a crash
        return
    finally:
        probe.close()
    raise ConfigError(f"Another traytrader is already running (its control socket is {path}); quit it first.")


class ControlServer:
    """Accepts connections on a daemon thread; each request runs ``handler`` on a short-lived thread."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = Path(path)
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.refused_peers = 0

    def start(self) -> ControlServer:
        prepare_path(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="traytrader-control", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), name="traytrader-control-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                uid = peer_uid(conn)
                if uid is not None and uid != os.getuid():
                    self.refused_peers += 1
                    log.warning("Control socket: refused a connection from uid %s.", uid)
                    refusal = format_reply(False, "Only the user running traytrader may control it.")
                    conn.sendall(refusal.encode())
                    return
                conn.settimeout(READ_TIMEOUT_S)
                line = _read_line(conn)
                try:
                    action, argument = parse_request(line)
                except CommandRefused as exc:
                    reply = format_reply(False, str(exc), refused=False)
                else:
                    reply = self._handler(action, argument)
                conn.sendall(reply.encode())
            except (OSError, UnicodeDecodeError) as exc:
                log.info("Control socket: connection dropped (%s).", exc)

    def stop(self, timeout: float = 0.5) -> None:
        self._closing.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self.path.unlink()


def _read_line(conn: socket.socket) -> str:
    data = b""
    while b"\n" not in data and len(data) < MAX_LINE:
        chunk = conn.recv(MAX_LINE)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8")


class NoInstance(CommandRefused):
    """Nothing listens on the control socket."""


def send_request(path: Path, line: str, timeout: float = 10.0) -> str:
    """Client side: send one request line, return the reply line (without the newline)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoInstance(f"No traytrader is running (nothing listens on {path}); "
                             "start it with `traytrader run` or `traytrader demo`.") from exc
        with contextlib.suppress(BrokenPipeError):  # a refusal may arrive before we finish sending
            sock.sendall(line.strip().encode() + b"\n")
        return _read_line(sock)
    except TimeoutError as exc:
        raise CommandRefused(f"traytrader did not answer within {timeout:g} s; "
                             "the command may still have been executed.") from exc
    finally:
        sock.close()
