"""A virtual desktop session: Xvfb (with RECORD, for pynput), a session D-Bus, a notification
server that records every Notify call, and trayer (an XEmbed tray host). Used by the desktop
tests' session fixture and by ``benchmarks/bench_desktop.py``.

``DISPLAY``, ``DBUS_SESSION_BUS_ADDRESS`` and ``XDG_RUNTIME_DIR`` are set in ``os.environ`` (and
restored afterwards) before anything imports pynput, tkinter, gi or plyer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from notify_server import NotificationServer

NEEDED = ("Xvfb", "dbus-daemon", "trayer", "xdotool", "import")


class DesktopMissing(RuntimeError):
    """A tool or service of the virtual desktop is missing or did not start."""


@dataclass
class Desktop:
    display: str
    bus_address: str
    notifications: NotificationServer | None
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)  # what this desktop puts in os.environ

    def xdotool(self, *args: str, timeout: float = 15.0) -> str:
        result = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=timeout,
                                env=os.environ.copy())
        if result.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def screenshot(self, path: Path) -> None:
        subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=10,
                       env=os.environ.copy())


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp",
         "+extension", "RECORD"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise DesktopMissing("Xvfb did not report a display number")
    return proc, f":{number}"


def _start_bus(tmp: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:tmpdir={tmp}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        raise DesktopMissing("dbus-daemon did not print its address")
    return proc, address


def _wait_window(name_class: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--class", name_class], capture_output=True, text=True)
        if found.stdout.strip():
            return
        time.sleep(0.02)  # polling a condition (the window exists), not sleeping instead of waiting
    raise DesktopMissing(f"no {name_class} window appeared within {timeout} s")


@contextlib.contextmanager
def virtual_desktop(record_notifications: bool = True) -> Iterator[Desktop]:
    """``record_notifications=False`` leaves org.freedesktop.Notifications free (for dunst)."""
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        raise DesktopMissing(f"the virtual desktop needs {', '.join(missing)} "
                             "(Debian: xvfb dbus trayer xdotool imagemagick)")
    names = ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PYSTRAY_BACKEND", "XDG_RUNTIME_DIR", "WAYLAND_DISPLAY")
    saved = {k: os.environ.get(k) for k in names}
    tmp = Path(tempfile.mkdtemp(prefix="tt-desk-"))
    procs: list[subprocess.Popen] = []
    server = None
    try:
        xvfb, display = _start_xvfb()
        procs.append(xvfb)
        os.environ["DISPLAY"] = display
        os.environ.pop("WAYLAND_DISPLAY", None)
        runtime = tmp / "run"
        runtime.mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        bus, address = _start_bus(tmp)
        procs.append(bus)
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        server = NotificationServer(address).start() if record_notifications else None
        trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                   "--height", "32", "--SetDockType", "true", "--transparent", "false"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        procs.append(trayer)
        _wait_window("trayer")
        env = {k: os.environ[k] for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
        yield Desktop(display, address, server, tmp, env)
    finally:
        if server is not None:
            server.stop()
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)
