"""The control channel's server: one selector thread reads requests, a few threads wait for answers.

Why this shape (issue 15): a thread per connection let 2000 slow connections hold 2004 threads,
and when descriptors ran out ``accept()`` raised EMFILE and the accept loop ended for good. Here:

* one thread accepts and reads every connection without blocking; each connection has ONE deadline
  (``request_deadline_s`` from accept to the end of its request line), not a timeout per ``recv``;
* at most ``max_connections`` requests are being read at once: a new connection beyond that closes
  the oldest unfinished one, so a flood of idle connections cannot keep a real ``send`` out (a real
  client writes its line at once and is read within the same loop turn);
* at most ``max_handlers`` complete requests wait for the app at once; one more is answered "busy";
* EMFILE/ENFILE on ``accept()`` is logged (at most every few seconds), the oldest unfinished
  connection is closed to free a descriptor, and the loop goes on accepting.

Who may connect (both transports refuse anyone else with the same one-line reply):
* ``unix``: the socket is 0600 in a 0700 directory, and each peer's uid is checked at accept
  (``SO_PEERCRED`` / ``LOCAL_PEERCRED``), so loosened modes still keep other users out;
* ``tcp`` (loopback only): the first line must be the token from the 0600 endpoint file
  (``control_wire``), compared in constant time.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import logging
import os
import secrets
import selectors
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from traytrader.core.errors import ConfigError
from traytrader.ui.control_wire import (
    MAX_LINE,
    BadRequest,
    format_endpoint,
    format_reply,
    read_endpoint,
    read_line,
    split_request,
)
from traytrader.ui.menu_model import Action

log = logging.getLogger(__name__)

REQUEST_DEADLINE_S = 2.0    # accept → whole request line read
REPLY_SEND_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 64        # requests being read at once
MAX_HANDLERS = 8            # complete requests waiting for the app at once
BACKLOG = 64
ACCEPTS_PER_TURN = 32
EMFILE_LOG_EVERY_S = 5.0
EMFILE_PAUSE_S = 0.05
REFUSAL = "Only the user running traytrader may control it."

ACTIONS: dict[str, Action | None] = {
    "buy": Action.BUY, "sell": Action.SELL, "close": Action.CLOSE, "flatten": Action.FLATTEN,
    "cancel": Action.CANCEL_ALL, "profile": Action.SELECT_PROFILE, "status": None,
    "breakeven": Action.BREAKEVEN, "add": Action.ADD,
}
Handler = Callable[[Action | None, str], str]


def default_transport() -> str:
    """``unix`` where the platform has it, else ``tcp``; ``TRAYTRADER_CONTROL=tcp|unix`` chooses."""
    chosen = os.environ.get("TRAYTRADER_CONTROL", "").strip().lower()
    if chosen in ("unix", "tcp"):
        return chosen if chosen == "tcp" or hasattr(socket, "AF_UNIX") else "tcp"
    return "unix" if hasattr(socket, "AF_UNIX") else "tcp"


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
    """Create the 0700 parent; remove a stale socket or endpoint file; refuse if another instance
    answers there, or if something that is not ours is in the way."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode) and hasattr(socket, "AF_UNIX"):
        alive = _unix_alive(path)
    elif stat.S_ISREG(st.st_mode) and (endpoint := read_endpoint(str(path))) is not None:
        alive = _tcp_alive(*endpoint)
    else:
        raise ConfigError(f"{path} exists and is not a socket (nor a traytrader endpoint file); "
                          "remove it and start again.")
    if alive:
        raise ConfigError(f"Another traytrader is already running (its control socket is {path}); "
                          "quit it first.")
    path.unlink(missing_ok=True)  # nobody listens: left over from a crash


def _unix_alive(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
        return True
    except BlockingIOError:
        return True   # a full backlog: very much alive
    except OSError:
        return False
    finally:
        probe.close()


def _tcp_alive(host: str, port: int, token: str) -> bool:
    """Only an instance that knows the token counts: the port may belong to someone else by now."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as probe:
            probe.sendall(f"{token}\nstatus\n".encode())
            return read_line(probe, time.monotonic() + 1.0).startswith("ok ")
    except OSError:
        return False


@dataclass
class _Reading:
    """A connection whose request is not complete yet."""

    deadline: float
    lines_needed: int
    data: bytes = b""
    lines: list[bytes] = field(default_factory=list)


class ControlServer:
    """Serves the control channel at ``path`` on a daemon thread (see the module docstring)."""

    def __init__(self, path: Path, handler: Handler, *, transport: str | None = None,
                 max_connections: int = MAX_CONNECTIONS, max_handlers: int = MAX_HANDLERS,
                 request_deadline_s: float = REQUEST_DEADLINE_S) -> None:
        self.path = Path(path)
        self.transport = transport or default_transport()
        if self.transport not in ("unix", "tcp"):
            raise ConfigError(f"Unknown control transport {self.transport!r}; use unix or tcp.")
        self._handler = handler
        self.max_connections = max_connections
        self.max_handlers = max_handlers
        self.request_deadline_s = request_deadline_s
        self._sock: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._token = ""
        self._reading: dict[socket.socket, _Reading] = {}   # insertion order = accept order
        self._selector: selectors.BaseSelector | None = None
        self._handlers = 0
        self._handlers_lock = threading.Lock()
        self._accept_paused_until = 0.0
        self._last_emfile_log = -EMFILE_LOG_EVERY_S
        self.refused_peers = 0
        self.evicted = 0
        self.emfile_events = 0

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> ControlServer:
        prepare_path(self.path)
        sock = self._listen_unix() if self.transport == "unix" else self._listen_tcp()
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._thread = threading.Thread(target=self._loop, name="traytrader-control", daemon=True)
        self._thread.start()
        return self

    def _listen_unix(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(BACKLOG)
        return sock

    def _listen_tcp(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if sys.platform == "win32":  # no other process may bind the same port under us
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", 0), 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(BACKLOG)
        self._token = secrets.token_hex(32)
        host, port = sock.getsockname()[:2]
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            os.write(fd, format_endpoint(host, port, self._token).encode("ascii"))
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        return sock

    def stop(self, timeout: float = 0.5) -> None:
        self._closing.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._close_all()
        if self.path.exists() and (self.transport == "unix" or self._is_our_endpoint()):
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _is_our_endpoint(self) -> bool:
        try:
            endpoint = read_endpoint(str(self.path))
        except OSError:
            return False
        return endpoint is not None and endpoint[2] == self._token

    def _close_all(self) -> None:
        for conn in list(self._reading):
            conn.close()
        self._reading.clear()
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._sock = self._wake_r = self._wake_w = None

    # -- the selector thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._sock is not None and self._wake_r is not None
        selector = self._selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        selector.register(self._sock, selectors.EVENT_READ, "accept")
        listening = True
        try:
            while not self._closing.is_set():
                now = time.monotonic()
                if not listening and now >= self._accept_paused_until:
                    selector.register(self._sock, selectors.EVENT_READ, "accept")
                    listening = True
                for key, _ in selector.select(self._select_timeout(now, listening)):
                    if key.data == "accept":
                        self._accept_some(selector)
                    elif key.data == "reading":
                        self._read(selector, key.fileobj)  # type: ignore[arg-type]
                if listening and self._accept_paused_until > time.monotonic():
                    selector.unregister(self._sock)
                    listening = False
                self._expire(selector, time.monotonic())
        except Exception:  # never silently: a dead loop means no more `send`
            log.exception("Control socket: the server loop failed")
        finally:
            selector.close()
            self._close_all()

    def _select_timeout(self, now: float, listening: bool) -> float | None:
        deadlines = [r.deadline for r in self._reading.values()]
        if not listening:
            deadlines.append(self._accept_paused_until)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _accept_some(self, selector: selectors.BaseSelector) -> None:
        assert self._sock is not None
        for _ in range(ACCEPTS_PER_TURN):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_descriptors(exc)
                    return
                if exc.errno == errno.EBADF or self._closing.is_set():
                    return
                log.info("Control socket: accept failed (%s); still accepting.", exc)
                continue
            self._admit(selector, conn)

    def _out_of_descriptors(self, exc: OSError) -> None:
        self.emfile_events += 1
        now = time.monotonic()
        freed = self._evict_oldest()
        if not freed:  # nothing of ours to close: stop polling the listener for a moment
            self._accept_paused_until = now + EMFILE_PAUSE_S
        if now - self._last_emfile_log >= EMFILE_LOG_EVERY_S:
            self._last_emfile_log = now
            log.warning("Control socket: out of file descriptors (%s); %s and still accepting.",
                        errno.errorcode.get(exc.errno or 0, exc), "closed the oldest unfinished connection"
                        if freed else "pausing 50 ms")

    def _admit(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        conn.setblocking(False)
        if self.transport == "unix":
            try:
                uid = peer_uid(conn)
            except OSError:
                conn.close()
                return
            if uid is not None and uid != os.getuid():
                self._refuse_peer(conn, f"uid {uid}")
                return
        if len(self._reading) >= self.max_connections:
            self._evict_oldest()
        reading = _Reading(time.monotonic() + self.request_deadline_s, 2 if self.transport == "tcp" else 1)
        self._reading[conn] = reading
        selector.register(conn, selectors.EVENT_READ, "reading")
        self._read(selector, conn)  # a real client has usually written its line already

    def _evict_oldest(self) -> bool:
        for conn in self._reading:
            assert self._selector is not None
            self._drop(conn, self._selector)
            self.evicted += 1
            return True
        return False

    def _drop(self, conn: socket.socket, selector: selectors.BaseSelector) -> None:
        self._reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        conn.close()

    def _read(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        reading = self._reading.get(conn)
        if reading is None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(conn)
            return
        try:
            chunk = conn.recv(2 * MAX_LINE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn, selector)
            return
        reading.data += chunk
        while b"\n" in reading.data and len(reading.lines) < reading.lines_needed:
            line, reading.data = reading.data.split(b"\n", 1)
            reading.lines.append(line)
        if len(reading.lines) < reading.lines_needed:
            if not chunk or len(reading.data) > MAX_LINE:  # closed early, or a line too long
                if chunk:
                    self._reply_now(conn, format_reply(False, "Request too long.", refused=False))
                self._drop(conn, selector)
            return
        self._reading.pop(conn)
        selector.unregister(conn)
        if self.transport == "tcp" and not hmac.compare_digest(reading.lines[0], self._token.encode()):
            self._refuse_peer(conn, "a TCP client without the token")
            return
        self._dispatch(conn, reading.lines[-1], reading.deadline)

    def _refuse_peer(self, conn: socket.socket, who: str) -> None:
        self.refused_peers += 1
        log.warning("Control socket: refused a connection from %s.", who)
        self._reply_now(conn, format_reply(False, REFUSAL))
        conn.close()

    @staticmethod
    def _reply_now(conn: socket.socket, reply: str) -> None:
        with contextlib.suppress(OSError):
            conn.send(reply.encode())  # one short line fits any socket buffer

    def _expire(self, selector: selectors.BaseSelector, now: float) -> None:
        late = [conn for conn, reading in self._reading.items() if reading.deadline <= now]
        for conn in late:
            log.debug("Control socket: a connection sent no complete request in time; closed.")
            self._drop(conn, selector)

    # -- handlers ----------------------------------------------------------------------------------
    def _dispatch(self, conn: socket.socket, raw: bytes, deadline: float) -> None:
        with self._handlers_lock:
            busy = self._handlers >= self.max_handlers
            if not busy:
                self._handlers += 1
        if busy:
            sentence = f"traytrader is busy with {self.max_handlers} other requests; nothing was sent."
            self._reply_now(conn, format_reply(False, sentence, refused=False))
            conn.close()
            return
        threading.Thread(target=self._serve, args=(conn, raw), name="traytrader-control-conn",
                         daemon=True).start()

    def _serve(self, conn: socket.socket, raw: bytes) -> None:
        try:
            with conn:
                try:
                    action, argument = parse_request(raw.decode("utf-8"))
                except (BadRequest, UnicodeDecodeError) as exc:
                    text = str(exc) if isinstance(exc, BadRequest) else "The request is not UTF-8."
                    reply = format_reply(False, text, refused=False)
                else:
                    reply = self._handler(action, argument)
                conn.setblocking(True)
                conn.settimeout(REPLY_SEND_TIMEOUT_S)
                conn.sendall(reply.encode())
        except OSError as exc:
            log.info("Control socket: connection dropped before the reply (%s).", exc)
        finally:
            with self._handlers_lock:
                self._handlers -= 1


def parse_request(line: str) -> tuple[Action | None, str]:
    """``"profile scalp"`` → ``(Action.SELECT_PROFILE, "scalp")``; bad input raises ``BadRequest``."""
    word, argument = split_request(line)
    return ACTIONS[word], argument
