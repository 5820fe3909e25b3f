"""The control channel's wire format and its client: everything ``traytrader send`` needs, nothing more.

Why a module of its own: a compositor shortcut starts ``traytrader send buy`` as a new process for
every key, so what this process imports is the latency. This module imports only ``os``, ``_socket``
(the C module: ``socket.py`` costs a send ~3 ms more, for ``enum`` and ``selectors``), ``stat`` and
``time`` (no ``pathlib``, ``typing``, ``logging`` or any other part of traytrader), and the CLI
reaches it without ``argparse`` (see ``traytrader.commands.send_cmd.fast_main``).

Protocol (UTF-8, one request per connection, every line ends with ``\\n``)::

    request:  buy | sell | close | flatten | cancel | profile NAME | status
    reply:    ok <sentence>  |  refused <sentence>  |  error <sentence>

Two transports carry it; the endpoint path tells them apart by what is there:

* ``unix`` (the default wherever ``AF_UNIX`` exists): the path is the socket itself, 0600 in a 0700
  directory; the server checks each peer's uid (``SO_PEERCRED`` / ``LOCAL_PEERCRED``).
* ``tcp`` (Windows, where Python has no ``AF_UNIX``; on any system with ``TRAYTRADER_CONTROL=tcp``):
  the path is a 0600 *endpoint file* ``traytrader-control tcp 127.0.0.1 PORT TOKEN``. The server
  listens on loopback only; the client sends the token as its first line, before the request. The
  token (256 random bits, new at every start) is what keeps other users out: they cannot read it.
"""

from __future__ import annotations

import _socket as socket  # see the module docstring; the API used here is the same
import os
import stat
import time

MAX_LINE = 512
ENDPOINT_MAGIC = "traytrader-control"
LOOPBACK = ("127.0.0.1", "::1")
DEFAULT_TIMEOUT_S = 12.0  # a little above the app's own wait (10 s), so its sentence arrives first

# request word → whether it takes an argument (a profile name)
REQUEST_WORDS: dict[str, bool] = {
    "buy": False, "sell": False, "close": False, "breakeven": False, "add": False, "flatten": False,
    "cancel": False, "profile": True, "status": False,
}
#: Words whose argument may be given or not: ``close`` (the whole position) or ``close 50%``.
OPTIONAL_ARGUMENT = frozenset({"close"})


class SendFailed(Exception):
    """The request could not be delivered or answered; ``str(exc)`` is one sentence for the user."""


class NoListener(SendFailed):
    """Nothing listens at the endpoint (not started, or left over from a crash)."""


class BadRequest(SendFailed):
    """The request line itself is malformed (said before anything is sent)."""


def split_request(line: str) -> tuple[str, str]:
    """``"profile scalp"`` → ``("profile", "scalp")``; a malformed line raises ``BadRequest``."""
    words = line.strip().split(maxsplit=1)
    choices = ", ".join(REQUEST_WORDS)
    if not words:
        raise BadRequest(f"Empty request; send one of: {choices}.")
    word = words[0].lower()
    if word not in REQUEST_WORDS:
        raise BadRequest(f"Unknown request {word!r}; send one of: {choices}.")
    argument = words[1].strip() if len(words) > 1 else ""
    if REQUEST_WORDS[word] and not argument:
        raise BadRequest(f"{word!r} needs a name, for example: {word} scalp.")
    if word in OPTIONAL_ARGUMENT and argument:
        if not argument.rstrip("%").strip().replace(".", "", 1).isdigit():
            raise BadRequest(f"{word!r} takes a part of the position such as 50% (got {argument!r}).")
        return word, argument.replace(" ", "")
    if not REQUEST_WORDS[word] and argument:
        raise BadRequest(f"{word!r} takes no argument (got {argument!r}).")
    return word, argument


def format_reply(ok: bool, sentence: str, *, refused: bool = True) -> str:
    word = "ok" if ok else ("refused" if refused else "error")
    return f"{word} {' '.join(sentence.split())}\n"


def reply_ok(reply: str) -> bool:
    return reply.startswith("ok ")


# -- endpoint discovery ----------------------------------------------------------------------------

def runtime_endpoint(app_name: str = "traytrader", file_name: str = "control.sock") -> str | None:
    """``$XDG_RUNTIME_DIR/traytrader/control.sock`` when that directory is ours and private, else None.

    ``traytrader.paths.control_socket_path`` uses this too, so that ``send`` finds the default
    endpoint without importing ``platformdirs`` and ``pathlib``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime or not hasattr(os, "getuid"):  # Windows has no XDG runtime dir
        return None
    try:
        st = os.stat(runtime)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return os.path.join(runtime, app_name, file_name)


def format_endpoint(host: str, port: int, token: str) -> str:
    return f"{ENDPOINT_MAGIC} tcp {host} {port} {token}\n"


def parse_endpoint(text: str) -> tuple[str, int, str] | None:
    """``(host, port, token)`` from an endpoint file's text, or None when it is not one of ours."""
    fields = text.split()
    if len(fields) != 5 or fields[0] != ENDPOINT_MAGIC or fields[1] != "tcp" or not fields[3].isdigit():
        return None
    if fields[2] not in LOOPBACK:  # the token never leaves this machine, whatever the file says
        return None
    return fields[2], int(fields[3]), fields[4]


def read_endpoint(path: str) -> tuple[str, int, str] | None:
    """The TCP endpoint written at ``path``; None when the file is not an endpoint file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return parse_endpoint(os.read(fd, 4 * MAX_LINE).decode("ascii", "replace"))
    finally:
        os.close(fd)


# -- the client ------------------------------------------------------------------------------------

def send_request(path: str | os.PathLike[str], line: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Send one request line to the instance at ``path``; return its reply line (no newline).

    ``timeout`` bounds everything (connecting included). Every failure is a ``SendFailed`` whose
    sentence says whether anything was sent."""
    path = os.fspath(path)
    deadline = time.monotonic() + timeout
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _no_listener(path) from exc
    prefix = b""
    if stat.S_ISSOCK(st.st_mode) and hasattr(socket, "AF_UNIX"):
        family: int = socket.AF_UNIX
        address: object = path
    else:
        try:
            endpoint = read_endpoint(path)
        except OSError as exc:
            raise SendFailed(f"Cannot read traytrader's control endpoint {path} ({exc.strerror}).") from exc
        if endpoint is None:
            raise SendFailed(f"{path} is neither traytrader's control socket nor its endpoint file.")
        host, port, token = endpoint
        family, address, prefix = socket.AF_INET, (host, port), token.encode("ascii") + b"\n"
    sock = _connect(family, address, path, deadline, timeout)
    try:
        try:
            sock.sendall(prefix + line.strip().encode("utf-8") + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # a refusal may arrive before we finish sending: read it
        except TimeoutError as exc:
            raise SendFailed(f"traytrader did not take the request within {timeout:g} s; "
                             "nothing was sent.") from exc
        try:
            reply = read_line(sock, deadline)
        except TimeoutError as exc:
            raise SendFailed(f"traytrader did not answer within {timeout:g} s; the command may still "
                             "be carried out, so check `traytrader send status` before sending it "
                             "again.") from exc
        except OSError as exc:
            raise SendFailed(f"traytrader closed the connection without answering ({exc.strerror}); "
                             "`traytrader send status` shows the position.") from exc
        if not reply:
            raise SendFailed("traytrader closed the connection without answering; "
                             "`traytrader send status` shows the position.")
        return reply
    finally:
        sock.close()


def _connect(family: int, address: object, path: str, deadline: float, timeout: float) -> socket.socket:
    """Connect before ``deadline``. A full Unix backlog fails at once with EAGAIN (Python raises
    ``BlockingIOError``): the instance is alive but busy, so wait a little and try again."""
    pause = 0.002
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendFailed(f"traytrader is too busy to take a connection (waited {timeout:g} s); "
                             "nothing was sent.")
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect(address)  # type: ignore[arg-type]
            return sock
        except BlockingIOError:
            sock.close()
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.05)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise _no_listener(path) from exc
        except TimeoutError as exc:  # TCP: SYNs dropped while the backlog is full
            sock.close()
            raise SendFailed(f"traytrader is too busy to take a connection (waited {timeout:g} s); "
                             "nothing was sent.") from exc
        except OSError as exc:
            sock.close()
            raise SendFailed(f"Cannot reach traytrader at {path} ({exc.strerror or exc}); "
                             "nothing was sent.") from exc


def read_line(sock: socket.socket, deadline: float) -> str:
    """One line (without its newline) read before ``deadline``; raises TimeoutError after it."""
    data = b""
    while b"\n" not in data and len(data) < MAX_LINE:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(MAX_LINE)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")


def _no_listener(path: str) -> NoListener:
    return NoListener(f"No traytrader is running (nothing listens on {path}); "
                      "start it with `traytrader run` or `traytrader demo`.")
