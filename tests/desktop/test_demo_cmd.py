"""`traytrader demo` as a newcomer runs it: a real process, the tray under Xvfb, `traytrader send`
from a second process, and Ctrl+C (SIGINT) ending everything cleanly within a second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[2]


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    """Lines of stdout up to and including the one containing ``marker`` (a reader thread, no polling)."""
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert found.wait(timeout), f"{marker!r} not printed within {timeout} s; got {lines}"
    return lines


def test_demo_tray_send_and_ctrl_c(desktop) -> None:
    socket_path = desktop.tmp / "demo" / "control.sock"
    env = os.environ.copy() | {"PYTHONUNBUFFERED": "1", "PYSTRAY_BACKEND": "gtk"}
    proc = subprocess.Popen([sys.executable, "-m", "traytrader", "demo", "--socket", str(socket_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        lines = read_until(proc, "Quit from the tray menu", timeout=15)
        assert any("DEMO credentials (not a Binance account)" in line for line in lines)
        status = subprocess.run(
            [sys.executable, "-m", "traytrader", "send", "status", "--socket", str(socket_path)],
            capture_output=True, text=True, timeout=20, cwd=ROOT, env=env)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("sim ")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() - started < 1.5  # < 1 s of shutdown plus the interpreter's exit
        assert not socket_path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_send_without_a_running_instance_says_so(desktop) -> None:
    result = subprocess.run([sys.executable, "-m", "traytrader", "send", "buy", "--socket",
                             str(desktop.tmp / "nobody" / "control.sock")],
                            capture_output=True, text=True, timeout=20, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.startswith("traytrader: No traytrader is running")
    assert "Traceback" not in result.stderr
