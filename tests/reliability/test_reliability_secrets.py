"""Secrets never leave the vault: fault scenarios run with KNOWN secrets (an HMAC secret and an
Ed25519 private key made for this test), and every output is scanned for them and their obvious
encodings (hex and base64 of the raw bytes, the PEM body, any 20-character slice):

* every log record at DEBUG, from every logger (engine, exchange, simulator, websockets, aiohttp),
  with tracebacks;
* every event the engine emitted (its text and its repr), including rejections and exceptions;
* the journal's SQLite files (database, WAL and shared memory) byte for byte, and its rows;
* stdout and stderr of real CLI subprocesses (``order``, ``check``, ``journal --data``,
  ``run --console``, a wrong password), and every file they left under the user's directories
  (config, data, state; the vault itself must hold no plaintext).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from relkit import ROOT, KnownSecrets, leaks, leaks_in_bytes, make_secrets

from benchmarks.reliability.runner import EngineOptions, Harness
from benchmarks.reliability.scenarios import SCENARIOS
from traytrader.engine.api import CommandKind
from traytrader.engine.journal import read_journal
from traytrader.sim import SimOptions
from traytrader.vault import Vault

PASSWORD = "reliability secrets test password"
SCENARIO_NAMES = (
    "b-drop-before-reply",
    "c-drop-after-reply",
    "unknown-503",
    "server-restart",
    "clock-skew",
    "listenkey-expiry",
    "a-drop-before-send",
)


class Capture(logging.Handler):
    """Every record, formatted with its traceback, from every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # a record that cannot even be formatted is itself worth seeing
            self.lines.append(f"unformattable record: {exc!r}")


@pytest.fixture
def known() -> KnownSecrets:
    return make_secrets()


@pytest.fixture
def capture() -> Iterator[Capture]:
    root = logging.getLogger()
    handler = Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _accounts(tmp_path: Path, known: KnownSecrets) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(known.accounts_toml())
    return path


@pytest.mark.parametrize("key", ["hmac", "ed25519"])
def test_fault_scenarios_leak_no_secret(
    tmp_path: Path, known: KnownSecrets, capture: Capture, key: str
) -> None:
    credentials = known.hmac if key == "hmac" else known.ed25519
    sim = SimOptions(seed=3, accounts_file=str(_accounts(tmp_path, known)))
    harness = Harness(sim, EngineOptions(), seed=3, workdir=tmp_path, credentials=credentials)
    try:
        harness.start()
        for scenario in SCENARIOS:
            if scenario.name in SCENARIO_NAMES:
                harness.run_once(
                    scenario.act,
                    scenario.prepare,
                    scenario.cleanup,
                    hold_s=0.5,
                    after_clear=scenario.after_clear,
                )
        # An exchange rejection (-2019) and a refusal before signing travel through exception texts.
        harness.sim.request("POST", "/sim/balance", {"apiKey": credentials.api_key, "balance": "1"})
        rejected = harness.press(CommandKind.BUY)
        assert rejected.event is not None and "margin" in rejected.event.text.lower()
    finally:
        harness.close()
    events = [f"{event.text}\n{event!r}" for _, event in harness.recorder.events]
    assert len(events) > 20 and len(capture.lines) > 50, "the scan must have something to scan"
    assert leaks("\n".join(events), known) == []
    assert leaks("\n".join(capture.lines), known) == []
    assert leaks(repr(credentials) + str(credentials), known) == []
    journal_files = [p for p in tmp_path.iterdir() if p.name.startswith("journal.sqlite3")]
    assert journal_files
    for path in journal_files:
        assert leaks_in_bytes(path.read_bytes(), known) == [], path.name
    rows = read_journal(tmp_path / "journal.sqlite3")
    assert len(rows) > 20
    assert leaks("\n".join(f"{r.text} {r.data}" for r in rows), known) == []


def _cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "cfg"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_RUNTIME_DIR=str(home / "run"),
    )
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "traytrader", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_cli_outputs_and_files_leak_no_secret(tmp_path: Path, known: KnownSecrets) -> None:
    from benchmarks.reliability.simctl import SimControl

    home = tmp_path / "home"
    (home / "run").mkdir(parents=True, mode=0o700)
    vault_path = home / "data" / "traytrader" / "vault.bin"
    vault_path.parent.mkdir(parents=True)
    vault = Vault(vault_path, iterations=1000)
    unlocked = vault.create(PASSWORD)
    unlocked.add(known.hmac)
    unlocked.add(known.ed25519)
    vault.save(unlocked, PASSWORD)
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("not the password\n")
    sim = SimControl(SimOptions(seed=5, accounts_file=str(_accounts(tmp_path, known))))
    try:
        configs = {}
        for name in (known.hmac.name, known.ed25519.name):
            config = home / f"{name}.toml"
            config.write_text(
                f'default_profile = "btc"\n[exchange]\nenvironment = "sim"\nkey = "{name}"\n'
                f'rest_url = "{sim.rest_url}"\nws_api_url = "{sim.ws_api_url}"\n'
                f'stream_url = "{sim.stream_url}"\n'
                "recv_window_ms = 2000\nrequest_timeout_ms = 2000\n[safety]\ncooldown_ms = 0\n"
                '[[profiles]]\nname = "btc"\nsymbol = "BTCUSDT"\nleverage = 5\nnotional_usdt = 200\n'
            )
            configs[name] = ["--config", str(config), "--password-file", str(password_file)]
        journal = ["--journal", str(home / "data" / "traytrader" / "journal.sqlite3")]
        runs = []
        for common in configs.values():
            sim.fault("drop_before_reply", "order.place")
            runs.append(_cli(home, "order", "buy", "-v", *common, *journal))
            runs.append(_cli(home, "order", "close", "-v", *common, *journal))
            runs.append(_cli(home, "check", *common))
            runs.append(_cli(home, "run", "--console", *common, *journal, stdin="buy\nflatten\nquit\n"))
            assert runs[-4].returncode == 0, runs[-4].stderr
        runs.append(_cli(home, "journal", "--last", "0", "--data", *journal))
        runs.append(
            _cli(
                home,
                "order",
                "buy",
                "--config",
                str(home / f"{known.hmac.name}.toml"),
                "--password-file",
                str(wrong_file),
            )
        )
        assert runs[-1].returncode != 0 and "Traceback" not in runs[-1].stderr
        assert len(runs[-2].stdout.splitlines()) > 20
    finally:
        sim.stop()
    for run in runs:
        assert leaks(run.stdout + run.stderr, known) == [], run.args
    scanned = 0
    for path in home.rglob("*"):
        if path.is_file() and path.parent != home:  # the configs are ours; scan what the app wrote
            assert leaks_in_bytes(path.read_bytes(), known) == [], path
            scanned += 1
    assert scanned >= 2 and vault_path.exists()


def test_the_scanner_finds_every_encoding_and_slice(known: KnownSecrets) -> None:
    for needle in known.needles:
        assert leaks(f"prefix {needle} suffix", known), needle[:4]
    assert leaks("…" + known.hmac.secret[5:25] + "…", known)
    assert leaks_in_bytes(b"\x00" + known.hmac.secret.encode("utf-16-le") + b"\x00", known)
    assert leaks("nothing secret here: " + known.hmac.api_key + known.ed25519_public_pem, known) == []
