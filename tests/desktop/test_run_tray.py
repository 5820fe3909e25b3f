"""`traytrader run` with a display: the tray, a real vault (password from a file), the user's
config pointed at the simulator, the control socket at its default path, the state file written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "tray test password"


def test_run_unlocks_from_a_password_file_trades_and_remembers(desktop, tmp_path: Path) -> None:
    from traytrader.commands.demo_cmd import demo_credentials
    from traytrader.config import example_config_text
    from traytrader.sim import SimOptions, SimThread
    from traytrader.state import load_state
    from traytrader.vault import Vault

    vault_path = tmp_path / "vault.bin"
    vault = Vault(vault_path, iterations=100_000)
    keys = vault.create(PASSWORD)
    keys.add(demo_credentials())
    vault.save(keys, PASSWORD)
    (tmp_path / "password").write_text(PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYSTRAY_BACKEND"} | {  # the default: appindicator
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    with SimThread(SimOptions(port=0, seed=9)) as sim:
        text = example_config_text().replace('key = "default"', 'key = "demo"')
        text = text.replace('# rest_url = "http://127.0.0.1:8765"', f'rest_url = "{sim.rest_url}"')
        text = text.replace('# ws_api_url = "ws://127.0.0.1:8765/ws-fapi/v1"',
                            f'ws_api_url = "{sim.ws_api_url}"')
        text = text.replace('# stream_url = "ws://127.0.0.1:8765"', f'stream_url = "{sim.stream_url}"')
        config = tmp_path / "config.toml"
        config.write_text(text)
        proc = subprocess.Popen(
            [sys.executable, "-m", "traytrader", "run", "--config", str(config), "--vault", str(vault_path),
             "--password-file", str(tmp_path / "password"), "--profile", "sol-qty"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)

        def send(*words: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "traytrader", "send", *words], capture_output=True,
                                  text=True, timeout=20, cwd=ROOT, env=env)

        try:
            deadline = time.monotonic() + 30
            while True:  # the default socket path answers once the app runs; then wait for READY
                status = send("status")
                if status.returncode == 0 and status.stdout.startswith("sim ready"):
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, status.stdout + status.stderr
                time.sleep(0.1)
            assert "profile sol-qty" in status.stdout and "armed" in status.stdout
            bought = send("buy")
            assert bought.returncode == 0 and "SOLUSDT filled" in bought.stdout, bought.stderr
            proc.send_signal(signal.SIGINT)
            assert proc.wait(5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert PASSWORD not in stderr and demo_credentials().secret not in stderr
    # Ctrl+C with the SOLUSDT position open: the terminal says it stays, with its stop
    assert "1 open position (SOLUSDT long " in stderr, stderr
    assert "stays on the exchange with its stop" in stderr, stderr
    assert load_state(tmp_path / "state" / "traytrader" / "state.toml").active_profile == "sol-qty"
