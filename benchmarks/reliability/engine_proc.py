"""The engine in its own process, the way a user runs it: ``traytrader run --console`` with a real
config file and vault, keypresses written to its stdin and every outcome read from its console lines.

Why a process: the soak measures the engine's memory. In the harness's process the figure would
include the harness's own records; here ``/proc/<pid>`` of ``traytrader run`` is the product alone.

Why the console and not the control socket: ``run --console`` has no control socket (only the tray
opens one, and the tray needs a display); its stdin is the headless user's keyboard, and each command
is answered by exactly one terminal line (``FILL``, ``ACCEPT``, ``REJECT`` or ``DONE``) before the
console reads the next one, so a press and its answer pair up without ids.

The harness keeps only counters and a short tail of lines, so its own memory stays bounded however
long the soak runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reliability.runner import UNDETERMINED_WORDS, EngineOptions
from benchmarks.reliability.simctl import SimControl
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.sim import DEMO_API_KEY, DEMO_SECRET

ROOT = Path(__file__).resolve().parents[2]
TERMINAL_TAGS = frozenset({"FILL", "ACCEPT", "REJECT", "DONE"})
KEY_NAME = "rel"
VAULT_PASSWORD = "reliability soak password"  # a throwaway vault with the simulator's demo key
TRACEMALLOC_ENV = "TRAYTRADER_SOAK_TRACEMALLOC"
SETATTR_ENV = "TRAYTRADER_SOAK_SETATTR"  # engine_main.py: diagnosis only
_STATE = re.compile(r"Engine (\w+)")
TAIL = 200  # console lines kept for error messages
MAX_ORDERS_PER_MINUTE = 1200  # the config's ceiling (the soak presses ~4 keys/s, 240/min at most)


@dataclass(frozen=True)
class Line:
    at: float  # monotonic arrival time in the harness
    tag: str
    text: str


def config_text(sim: SimControl, options: EngineOptions) -> str:
    """The soak's config file: what the in-process harness sets on ``AppConfig``, as TOML."""
    o = options
    return f'''default_profile = "btc"
[exchange]
environment = "sim"
key = "{KEY_NAME}"
rest_url = "{sim.rest_url}"
ws_api_url = "{sim.ws_api_url}"
stream_url = "{sim.stream_url}"
recv_window_ms = {o.recv_window_ms}
request_timeout_ms = {o.request_timeout_ms}
[safety]
max_notional_usdt = {o.max_notional_usdt}
max_orders_per_minute = {min(o.max_orders_per_minute, MAX_ORDERS_PER_MINUTE)}
cooldown_ms = {o.cooldown_ms}
[asl]
grace_ms = {o.asl.grace_ms}
watchdog_ms = {o.asl.watchdog_ms}
[[profiles]]
name = "btc"
symbol = "BTCUSDT"
leverage = 5
notional_usdt = {o.notional_usdt}
'''


def write_vault(directory: Path) -> tuple[Path, Path]:
    """A vault holding the simulator's demo HMAC key (cheap KDF: a benchmark, not a secret) and the
    password file that unlocks it."""
    from traytrader.vault import Vault

    vault = Vault(directory / "vault.bin", iterations=1000)
    unlocked = vault.create(VAULT_PASSWORD)
    unlocked.add(ApiCredentials(KEY_NAME, KeyType.HMAC, DEMO_API_KEY, DEMO_SECRET))
    vault.save(unlocked, VAULT_PASSWORD)
    password_file = directory / "pw"
    password_file.write_text(VAULT_PASSWORD + "\n")
    password_file.chmod(0o600)
    return vault.path, password_file


class EngineProcess:
    """``traytrader run --console`` against ``sim``; ``press`` a word, read the answer line.

    Counters (under ``cond``): lines per tag, orders the user was told about (``FILL``/``ACCEPT``),
    lines with an undetermined sentence outside a press's answer, WS-API outages (``STATE`` leaving
    ready → ready again) in ms."""

    def __init__(self, sim: SimControl, options: EngineOptions, workdir: Path,
                 *, tracemalloc_path: Path | None = None) -> None:
        self.workdir = workdir
        self.config_path = workdir / "config.toml"
        self.config_path.write_text(config_text(sim, options))
        self.vault_path, self.password_file = write_vault(workdir)
        self.journal_path = workdir / "journal.sqlite3"
        self.stderr_path = workdir / "engine.stderr"
        self.tracemalloc_path = tracemalloc_path
        self.cond = threading.Condition()
        self.tags: Counter[str] = Counter()
        self.terminal = 0                      # terminal lines so far
        self.last_terminal: Line | None = None
        self.last_status: Line | None = None
        self.tail: deque[Line] = deque(maxlen=TAIL)
        self.stray_undetermined: list[str] = []  # capped: the count is in ``stray_undetermined_count``
        self.stray_undetermined_count = 0
        self.state = "locked"
        self.outage_ms: list[float] = []
        self._down_at: float | None = None
        self._pressing = False
        self.closed = False
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def command(self) -> list[str]:
        diagnosis = self.tracemalloc_path is not None or bool(os.environ.get(SETATTR_ENV))
        module = "benchmarks.reliability.engine_main" if diagnosis else "traytrader"
        return [sys.executable, "-m", module, "run", "--console", "--config", str(self.config_path),
                "--vault", str(self.vault_path), "--password-file", str(self.password_file),
                "--journal", str(self.journal_path)]

    def start(self, timeout: float = 30.0) -> EngineProcess:
        home = self.workdir / "home"
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "cfg"),
                   XDG_DATA_HOME=str(home / "data"), XDG_STATE_HOME=str(home / "state"),
                   PYTHONUNBUFFERED="1")
        for name in ("DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(name, None)
        if self.tracemalloc_path is not None:
            env[TRACEMALLOC_ENV] = str(self.tracemalloc_path)
        with open(self.stderr_path, "w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=stderr, text=True, encoding="utf-8", bufsize=1,
                                            cwd=ROOT, env=env)
        self._reader = threading.Thread(target=self._read, name="engine-stdout", daemon=True)
        self._reader.start()
        with self.cond:
            self.cond.wait_for(lambda: self.state in ("ready", "error", "stopped") or self.closed, timeout)
            if self.state != "ready":
                raise RuntimeError(f"the engine process did not become ready ({self.state}): "
                                   f"{self.stderr_tail() or self.tail_text()}")
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """``quit`` and wait; the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        try:
            self._write("quit")
            assert self.process.stdin is not None
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return None
        finally:
            if self._reader is not None:
                self._reader.join(5)

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def tail_text(self, lines: int = 20) -> str:
        with self.cond:
            return "\n".join(f"{line.tag} {line.text}" for line in list(self.tail)[-lines:])

    # -- console protocol --------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            tag, _, text = raw.rstrip("\n").partition(" ")
            self._on_line(Line(time.monotonic(), tag, text.strip()))
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _on_line(self, line: Line) -> None:
        with self.cond:
            self.tags[line.tag] += 1
            self.tail.append(line)
            if line.tag in TERMINAL_TAGS:
                self.terminal += 1
                self.last_terminal = line
            elif line.tag == "STATUS":
                self.last_status = line
            elif line.tag == "STATE":
                self._on_state(line)
            if line.tag not in TERMINAL_TAGS and undetermined(line.text):
                self.stray_undetermined_count += 1
                if len(self.stray_undetermined) < 10:
                    self.stray_undetermined.append(f"{line.tag} {line.text}")
            self.cond.notify_all()

    def _on_state(self, line: Line) -> None:
        match = _STATE.match(line.text)
        if match is None:
            return
        self.state = match.group(1).lower()
        if self.state == "ready":
            if self._down_at is not None:
                self.outage_ms.append((line.at - self._down_at) * 1000)
            self._down_at = None
        elif self.state in ("connecting", "disconnected") and self._down_at is None:
            self._down_at = line.at

    def _write(self, word: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def press(self, word: str, timeout: float = 40.0) -> Line | None:
        """Write one command and wait for its terminal line (None: no answer within ``timeout``).

        The console answers each command before it reads the next, so the next terminal line is
        this command's answer."""
        with self.cond:
            before = self.terminal
        self._write(word)
        with self.cond:
            answered = self.cond.wait_for(lambda: self.terminal > before or self.closed, timeout)
            return self.last_terminal if answered and self.terminal > before else None

    def status(self, timeout: float = 40.0) -> str:
        """The engine's ``STATUS`` line (after every command before it has been answered)."""
        with self.cond:
            before = self.tags["STATUS"]
        self._write("status")
        with self.cond:
            self.cond.wait_for(lambda: self.tags["STATUS"] > before or self.closed, timeout)
            return self.last_status.text if self.last_status is not None else ""

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Until the engine says it is ready (its state line, then its status)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            if not self.cond.wait_for(lambda: self.state == "ready" or self.closed, timeout):
                return False
        while time.monotonic() < deadline and not self.closed:
            if "state=ready" in self.status(max(0.1, deadline - time.monotonic())):
                return True
            with self.cond:
                self.cond.wait(0.05)
        return False


def undetermined(text: str) -> bool:
    lowered = text.lower()
    return any(words in lowered for words in UNDETERMINED_WORDS)
