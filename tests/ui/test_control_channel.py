"""The control channel under pressure and from outside (issues 14 and 15): the TCP transport and its
token, a second OS user refused on both transports, a flood of idle connections, a full backlog,
descriptors running out, an answer that never comes, and what `traytrader send` imports."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from traytrader import paths
from traytrader.commands.send_cmd import default_endpoint
from traytrader.ui.control_server import ControlServer
from traytrader.ui.control_wire import NoListener, SendFailed, format_reply, read_endpoint, send_request
from traytrader.ui.menu_model import Action

ROOT = Path(__file__).resolve().parents[2]
NEIGHBOUR = "tt-neighbour"
REFUSAL = "refused Only the user running traytrader may control it."


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """AF_UNIX paths are limited to ~107 bytes; pytest's tmp_path can be longer."""
    path = Path(f"/tmp/ttc-{os.getpid()}-{threading.get_ident() % 10000}")
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def echo(action: Action | None, argument: str) -> str:
    return format_reply(True, f"did {action.value if action else 'status'} {argument}".strip())


@contextlib.contextmanager
def serving(path: Path, transport: str, handler=echo, **kwargs) -> Iterator[ControlServer]:
    server = ControlServer(path, handler, transport=transport, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def cli(*args: str, timeout: float = 20, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "traytrader", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kwargs)


# -- the TCP transport ---------------------------------------------------------------------------

def test_tcp_transport_round_trip_endpoint_file_and_cleanup(short_dir: Path) -> None:
    path = short_dir / "run" / "control.sock"
    with serving(path, "tcp") as server:
        assert stat.S_ISREG(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        host, port, token = read_endpoint(str(path))  # type: ignore[misc]
        assert host == "127.0.0.1" and port > 0 and len(token) == 64
        assert send_request(path, "profile scalp") == "ok did profile scalp"
        assert send_request(path, "nonsense").startswith("error Unknown request 'nonsense'")
        done = cli("send", "buy", "--socket", str(path))
        assert (done.returncode, done.stdout, done.stderr) == (0, "did buy\n", "")
        assert server.refused_peers == 0
    assert not path.exists()
    with pytest.raises(NoListener, match="No traytrader is running"):
        send_request(path, "buy")


def test_tcp_wrong_token_is_refused_and_nothing_runs(short_dir: Path) -> None:
    calls: list[Action | None] = []

    def handler(action: Action | None, argument: str) -> str:
        calls.append(action)
        return format_reply(True, "executed")

    path = short_dir / "control.sock"
    with serving(path, "tcp", handler) as server:
        _, port, token = read_endpoint(str(path))  # type: ignore[misc]
        for guess in ("0" * 64, token[:-1], "", "buy"):
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                raw.sendall(f"{guess}\nbuy\n".encode())
                assert raw.recv(200).decode().strip() == REFUSAL
        assert server.refused_peers == 4
    assert calls == []


def test_a_stale_endpoint_file_is_replaced_and_a_live_one_refused(short_dir: Path) -> None:
    from traytrader.core.errors import ConfigError

    path = short_dir / "control.sock"
    with serving(path, "tcp"):
        stale = path.read_text()
        with pytest.raises(ConfigError, match="Another traytrader is already running"):
            ControlServer(path, echo, transport="tcp").start()
    path.write_text(stale)  # left behind by a crash: its port no longer answers with the token
    with serving(path, "tcp"):
        assert send_request(path, "status") == "ok did status"


# -- a second OS user ------------------------------------------------------------------------------

NEIGHBOUR_CLIENT = """
import socket, sys
transport, where, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if transport == "unix":
    print("socket")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(5); s.connect(where)
else:
    try:
        open(where).read()
        print("read-endpoint")
    except PermissionError:
        print("cannot-read-endpoint")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    s.sendall(b"guessed-token\\nbuy\\n" if transport == "tcp" else b"buy\\n")
except BrokenPipeError:  # refused and closed before reading
    pass
print(s.recv(200).decode().strip())
"""


@pytest.fixture(scope="module")
def neighbour() -> tuple[int, int]:
    """A second OS user (created when missing). Root only: CI and the dev machines run as root."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as another OS user")
    import pwd

    try:
        entry = pwd.getpwnam(NEIGHBOUR)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NEIGHBOUR],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(NEIGHBOUR)
    return entry.pw_uid, entry.pw_gid


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_second_user_is_refused_on_both_transports(short_dir: Path, neighbour: tuple[int, int],
                                                     transport: str) -> None:
    executed: list[str] = []

    def handler(_action: Action | None, _argument: str) -> str:
        executed.append("x")
        return format_reply(True, "executed")

    path = short_dir / "sub" / "control.sock"
    with serving(path, transport, handler) as server:
        # loosen every mode on purpose: the uid check / the token must hold on their own for the
        # connection; the endpoint file itself stays 0600, as the server wrote it
        for directory in (short_dir, path.parent):
            os.chmod(directory, 0o755)
        if transport == "unix":
            os.chmod(path, 0o666)
        port = read_endpoint(str(path))[1] if transport == "tcp" else 0  # type: ignore[index]
        uid, gid = neighbour
        raw = subprocess.run(["/usr/bin/python3", "-c", NEIGHBOUR_CLIENT, transport, str(path), str(port)],
                             user=uid, group=gid, capture_output=True, text=True, timeout=10, cwd="/")
        # the real `traytrader send`, run by the neighbour (the fast path needs only the source tree)
        sent = subprocess.run(["/usr/bin/python3", "-m", "traytrader", "send", "buy", "--socket", str(path)],
                              user=uid, group=gid, capture_output=True, text=True, timeout=10, cwd="/",
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    lines = raw.stdout.split("\n")
    if transport == "tcp":
        assert lines[0] == "cannot-read-endpoint", raw.stderr
        assert sent.returncode == 1 and "Permission denied" in sent.stderr
        assert sent.stderr.startswith("traytrader: Cannot read traytrader's control endpoint")
    else:
        assert sent.returncode == 1 and sent.stderr == "traytrader: Only the user running traytrader may " \
                                                       "control it.\n"
    assert lines[1] == REFUSAL, raw.stderr
    assert "Traceback" not in sent.stderr and sent.stdout == ""
    assert executed == [] and server.refused_peers == (1 if transport == "tcp" else 2)


# -- pressure ------------------------------------------------------------------------------------

def _idle_clients(path: Path, count: int) -> list[socket.socket]:
    """``count`` connections that never send a byte (an attacker's, or a hung script's)."""
    clients = []
    deadline = time.monotonic() + 10
    while len(clients) < count and time.monotonic() < deadline:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(5)
        try:
            client.connect(str(path))
        except BlockingIOError:   # the backlog is full for a moment: the server is accepting
            client.close()
            time.sleep(0.001)
            continue
        clients.append(client)
    assert len(clients) == count
    return clients


def test_a_flood_of_idle_connections_neither_holds_threads_nor_keeps_send_out(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    threads_before = threading.active_count()
    with serving(path, "unix") as server:
        flood = _idle_clients(path, 400)
        try:
            assert threading.active_count() <= threads_before + 2   # no thread per connection
            done = cli("send", "status", "--socket", str(path), "--timeout", "5")
            assert (done.returncode, done.stdout, done.stderr) == (0, "did status\n", "")
            assert server.evicted >= 400 - server.max_connections
        finally:
            for client in flood:
                client.close()


def test_one_deadline_per_connection_not_per_recv(short_dir: Path) -> None:
    """A client trickling a byte at a time is cut off at its deadline, whatever it sends."""
    path = short_dir / "control.sock"
    with serving(path, "unix", request_deadline_s=0.3):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(5)
        client.connect(str(path))
        started = time.monotonic()
        with contextlib.suppress(OSError):   # the server closing may break a send
            for _ in range(40):   # a byte every 50 ms never completes "status\n" in 0.3 s
                client.send(b"s")
                readable, _, _ = select.select([client], [], [], 0.05)
                if readable and client.recv(100) == b"":
                    break   # closed by the server
        closed_after = time.monotonic() - started
        client.close()
        assert closed_after < 1.5
        assert send_request(path, "status") == "ok did status"


def test_a_full_backlog_waits_within_the_timeout_then_gets_through_or_says_so(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)   # an instance that has stopped accepting for a moment
    filler: list[socket.socket] = []
    try:
        while True:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            try:
                client.connect(str(path))
            except BlockingIOError:
                client.close()
                break
            filler.append(client)
        started = time.monotonic()
        done = cli("send", "buy", "--socket", str(path), "--timeout", "0.5")
        elapsed = time.monotonic() - started
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == ("traytrader: traytrader is too busy to take a connection (waited 0.5 s); "
                               "nothing was sent.\n")
        assert 0.5 <= elapsed < 5

        def accept_later() -> None:   # the instance catches up: the waiting client gets in
            time.sleep(0.3)
            for client in filler:
                client.close()
            for _ in range(len(filler) + 1):
                conn, _ = listener.accept()
                conn.settimeout(2)
                with conn, contextlib.suppress(OSError):
                    if conn.recv(100).startswith(b"status"):
                        conn.sendall(b"ok caught up\n")
                        return

        helper = threading.Thread(target=accept_later)
        helper.start()
        try:
            assert send_request(path, "status", timeout=5) == "ok caught up"
        finally:
            helper.join(5)
    finally:
        for client in filler:
            client.close()
        listener.close()


EMFILE_SERVER = """
import logging, resource, sys, time
from pathlib import Path
from traytrader.ui.control_server import ControlServer
from traytrader.ui.control_wire import format_reply
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
server = ControlServer(Path(sys.argv[1]), lambda a, b: format_reply(True, "alive")).start()
import os
used = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 12, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""


def test_out_of_descriptors_is_logged_and_the_server_keeps_accepting(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    server = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    flood: list[socket.socket] = []
    try:
        flood = _idle_clients(path, 60)   # far more than the 12 descriptors the server has left
        for _ in range(3):   # while the flood still holds its connections
            assert send_request(path, "status", timeout=5) == "ok alive"
    finally:
        for client in flood:
            client.close()
        _, errors = server.communicate("", timeout=10)
    assert "Control socket: out of file descriptors (EMFILE)" in errors
    assert "Traceback" not in errors


def test_an_answer_that_never_comes_is_one_sentence_within_the_timeout(short_dir: Path) -> None:
    release = threading.Event()

    def stuck(_action: Action | None, _argument: str) -> str:
        release.wait(5)
        return format_reply(True, "too late")

    path = short_dir / "control.sock"
    with serving(path, "unix", stuck):
        started = time.monotonic()
        with pytest.raises(SendFailed) as info:
            send_request(path, "buy", timeout=0.4)
        release.set()
    assert 0.4 <= time.monotonic() - started < 3
    sentence = str(info.value)
    assert sentence.startswith("traytrader did not answer within 0.4 s;") and sentence.endswith(".")
    assert "\n" not in sentence


# -- what `traytrader send` costs ----------------------------------------------------------------

IMPORTS_PROBE = """
import sys
before = set(sys.modules)
from traytrader.cli import main
code = main(["send", "status", "--socket", sys.argv[1]])
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_send_imports_nothing_it_does_not_need(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    with serving(path, "unix"):
        done = subprocess.run([sys.executable, "-c", IMPORTS_PROBE, str(path)], capture_output=True,
                              text=True, timeout=20, cwd=ROOT)
    reply, modules = done.stdout.split("\n")[:2]
    assert reply == "did status", done.stderr
    imported = set(modules.split())
    heavy = {"argparse", "socket", "selectors", "pathlib", "typing", "logging", "enum", "platformdirs",
             "traytrader.core", "traytrader.core.errors", "traytrader.paths", "traytrader.ui.menu_model"}
    assert not imported & heavy, sorted(imported & heavy)
    assert {m for m in imported if m.startswith("traytrader")} == {
        "traytrader", "traytrader.cli", "traytrader.commands", "traytrader.commands.send_cmd",
        "traytrader.ui", "traytrader.ui.control_wire"}


@pytest.mark.parametrize("runtime", ["private", "missing", "shared"])
def test_send_finds_the_same_endpoint_as_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 runtime: str) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700 if runtime == "private" else 0o755)
    if runtime == "missing":
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    assert default_endpoint() == str(paths.control_socket_path())


def test_fast_path_and_argparse_agree(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    with serving(path, "unix"):
        for args in (["profile", "scalp", "--socket", str(path)], [f"--socket={path}", "profile", "scalp"],
                     ["profile", "scalp", "--timeout", "3", "--socket", str(path)]):
            done = cli("send", *args)
            assert (done.returncode, done.stdout) == (0, "did profile scalp\n"), done.stderr
    for args, words in ((["--help"], "usage: traytrader send"), (["yolo"], "invalid choice: 'yolo'"),
                        (["buy", "--bogus"], "unrecognized arguments: --bogus")):
        done = cli("send", *args)
        assert words in done.stdout + done.stderr and "Traceback" not in done.stderr
    bad = cli("send", "buy", "--timeout", "0", "--socket", str(path))
    assert (bad.returncode, bad.stderr) == (2, "traytrader: --timeout must be more than 0 seconds.\n")



def test_the_console_demo_takes_send_over_tcp_end_to_end(short_dir: Path) -> None:
    """What Windows gets (no AF_UNIX there), chosen here with TRAYTRADER_CONTROL=tcp: the same
    `traytrader send` reaches the real engine through the endpoint file, and the file goes at exit."""
    endpoint = short_dir / "control.sock"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {"TRAYTRADER_CONTROL": "tcp", "XDG_STATE_HOME": str(short_dir / "state"),
            "XDG_DATA_HOME": str(short_dir / "data")}
    command = [sys.executable, "-m", "traytrader", "demo", "--console", "--socket", str(endpoint)]
    app = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, cwd=ROOT)
    assert app.stdout is not None
    try:
        for line in app.stdout:
            if line.startswith("STATE") and "ready" in line:
                break
        assert read_endpoint(str(endpoint)) is not None
        bought = cli("send", "buy", "--socket", str(endpoint), env=env)
        assert bought.returncode == 0 and bought.stdout.startswith("Bought "), bought.stderr
    finally:
        out, err = app.communicate("quit\n", timeout=30)
    assert app.returncode == 0, err
    assert "FILL    Bought" in out and not endpoint.exists()


def test_an_endpoint_file_pointing_off_this_machine_is_not_followed(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    path.write_text("traytrader-control tcp 10.0.0.7 4444 " + "ab" * 32 + "\n")
    with pytest.raises(SendFailed, match="is neither traytrader's control socket nor its endpoint file"):
        send_request(path, "buy")
