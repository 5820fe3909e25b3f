"""A private, headless KDE Plasma 5.27 Wayland session with the GlobalShortcuts portal, for tests.

A Python port of the verified ``start_stack.sh`` (full mode) described in ``PROVENANCE.md``:

    dbus-daemon (private session bus)
    kwin_wayland --virtual   (a real compositor with no screen; hosts org.kde.kglobalaccel)
    xdg-desktop-portal-kde   (the GlobalShortcuts backend)
    xdg-desktop-portal 1.16  (the frontend apps talk to)

ready in about half a second. ``press("LEFTCTRL", "B")`` injects a real key chord into the
compositor through KWin's ``org_kde_kwin_fake_input`` protocol (``fakekey.py``), which reaches the
portal exactly as a keyboard would.

Gotchas it handles (all found the hard way, see PROVENANCE.md):
* ``/usr/bin/kwin_wayland`` carries a file capability containers cannot grant: run a plain copy;
* the environment (``WAYLAND_DISPLAY``, ``XDG_CURRENT_DESKTOP=KDE``, ``QT_QPA_PLATFORM=wayland``)
  is in place *before* the bus starts, or bus-activated portal helpers abort;
* fake input is granted only to an executable named by a ``.desktop`` file with
  ``X-KDE-Wayland-Interfaces=org_kde_kwin_fake_input`` (after ``kbuildsycoca5``), so a private copy
  of the Python interpreter runs ``fakekey.py``;
* ``xdg-open`` is replaced by a logger (KDE's BindShortcuts opens System Settings through it).
Every process is stopped by its PID, including the helpers the bus started on demand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
KDE_PORTAL = "/usr/lib/x86_64-linux-gnu/libexec/xdg-desktop-portal-kde"
PORTAL = "/usr/libexec/xdg-desktop-portal"
NEEDED = ("dbus-daemon", "dbus-send", "kwin_wayland", "kbuildsycoca5", KDE_PORTAL, PORTAL)
SOCKET = "wayland-tt"


class StackMissing(RuntimeError):
    """A package of the Wayland stack is missing or a daemon did not start."""


@dataclass
class WaylandStack:
    state: Path
    bus_address: str
    env: dict[str, str]           # what a client of this session needs (bus, runtime dir, display)
    started_in_s: float
    fakekey_python: Path

    def press(self, *keys: str, timeout: float = 10.0) -> None:
        """Press the keys in order, release them in reverse (evdev names: LEFTCTRL, B, ...)."""
        result = subprocess.run([str(self.fakekey_python), str(HERE / "fakekey.py"), *keys],
                                env={**os.environ, **self.env}, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"fakekey {' '.join(keys)} failed ({result.returncode}): "
                                 f"{result.stderr.strip()}")


def _has_name(bus: str, name: str) -> bool:
    result = subprocess.run(
        ["dbus-send", f"--bus={bus}", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.NameHasOwner", f"string:{name}"], capture_output=True, text=True)
    return "boolean true" in result.stdout


def _wait(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise StackMissing(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise StackMissing(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)  # polling an outside condition (a bus name, a socket)


def _bus_daemon_pids(bus: str) -> list[int]:
    """PIDs of the daemons on the private bus (includes the ones the bus activated itself)."""
    listed = subprocess.run(["dbus-send", f"--bus={bus}", "--print-reply", "--dest=org.freedesktop.DBus",
                             "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
                            capture_output=True, text=True, timeout=5).stdout
    pids = []
    for line in listed.splitlines():
        line = line.strip()
        if not line.startswith('string ":'):
            continue
        name = line.split('"')[1]
        reply = subprocess.run(["dbus-send", f"--bus={bus}", "--print-reply", "--dest=org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus.GetConnectionUnixProcessID",
                                f"string:{name}"], capture_output=True, text=True, timeout=5).stdout
        words = reply.split()
        if "uint32" in words:
            pid = int(words[words.index("uint32") + 1])
            with contextlib.suppress(OSError):
                exe = os.readlink(f"/proc/{pid}/exe")
                if exe.startswith(("/usr/libexec/", "/usr/lib/")) or exe.endswith("kwin_wayland"):
                    pids.append(pid)
    return pids


def _gone(pid: int) -> bool:
    """Exited, or a zombie waiting for dbus-daemon (its parent) to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
    deadline = time.monotonic() + 3
    for pid in pids:
        while not _gone(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                break
            time.sleep(0.01)


@contextlib.contextmanager
def wayland_stack(portal: bool = True, desktop: str = "KDE") -> Iterator[WaylandStack]:
    """The stack; ``portal=False`` gives just a session bus of a desktop (``desktop``) whose
    xdg-desktop-portal has no GlobalShortcuts backend (what sway or Cinnamon users get)."""
    missing = [tool for tool in NEEDED if shutil.which(tool) is None and not os.path.exists(tool)]
    if missing:
        raise StackMissing(f"the Wayland test stack needs {', '.join(missing)} (Debian: kwin-wayland "
                           "qtwayland5 xdg-desktop-portal xdg-desktop-portal-kde libkf5service-bin)")
    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="tt-wl-"))
    run, home, shim, log = state / "run", state / "home", state / "shim", state / "log"
    run.mkdir(mode=0o700)
    for directory in (home / ".local/share/applications", shim, log, state / "bin"):
        directory.mkdir(parents=True)
    (shim / "xdg-open").write_text(f'#!/bin/sh\necho "$@" >> {log}/xdg-open.log\n')
    (shim / "xdg-open").chmod(0o755)
    fakekey_python = state / "bin" / "fakekey-python"
    shutil.copy(os.path.realpath(sys.executable), fakekey_python)  # the interpreter, not a venv link
    (home / ".local/share/applications/tt-fakekey.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=traytrader test key injector\n"
        f"Exec={fakekey_python}\nNoDisplay=true\nX-KDE-Wayland-Interfaces=org_kde_kwin_fake_input\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_SOCKET", "SESSION_MANAGER", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(run), XDG_CURRENT_DESKTOP=desktop,
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CACHE_HOME=str(home / ".cache"), PATH=f"{shim}:{os.environ.get('PATH', '')}",
               KWIN_COMPOSE="Q", WAYLAND_DISPLAY=SOCKET, QT_QPA_PLATFORM="wayland",
               XDG_SESSION_TYPE="wayland")
    if not portal:  # a frontend with no backend at all: no GlobalShortcuts interface, nothing to abort
        (state / "portals").mkdir()
        env["XDG_DESKTOP_PORTAL_DIR"] = str(state / "portals")
    bus = f"unix:path={run}/bus"
    procs: list[subprocess.Popen] = []

    def spawn(*argv: str, name: str) -> subprocess.Popen:
        out = open(log / f"{name}.log", "wb")  # noqa: SIM115 (the daemon keeps it)
        proc = subprocess.Popen(list(argv), env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out.close()
        procs.append(proc)
        return proc

    try:
        daemon = spawn("dbus-daemon", "--session", f"--address={bus}", "--nofork", "--nopidfile", name="dbus")
        _wait(lambda: (run / "bus").exists(), "the session bus", daemon)
        env["DBUS_SESSION_BUS_ADDRESS"] = bus
        if portal:
            subprocess.run(["kbuildsycoca5", "--noincremental"], env=env, capture_output=True, timeout=30)
            kwin = state / "bin" / "kwin_wayland"
            shutil.copy(shutil.which("kwin_wayland") or "/usr/bin/kwin_wayland", kwin)  # drops the capability
            proc = spawn(str(kwin), "--virtual", "--no-lockscreen", "--no-kactivities", "--socket", SOCKET,
                         "--width", "1024", "--height", "768", name="kwin")
            _wait(lambda: _has_name(bus, "org.kde.kglobalaccel"), "KWin's kglobalaccel", proc)
            _wait(lambda: (run / SOCKET).exists(), "KWin's Wayland socket", proc)
            proc = spawn(KDE_PORTAL, name="xdpk")
            _wait(lambda: _has_name(bus, "org.freedesktop.impl.portal.desktop.kde"), "the KDE portal", proc)
        proc = spawn(PORTAL, "--verbose", name="xdp")
        _wait(lambda: _has_name(bus, "org.freedesktop.portal.Desktop"), "xdg-desktop-portal", proc)
        client_env = {"DBUS_SESSION_BUS_ADDRESS": bus, "XDG_RUNTIME_DIR": str(run), "WAYLAND_DISPLAY": SOCKET,
                      "XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": desktop}
        yield WaylandStack(state, bus, client_env, time.monotonic() - started, fakekey_python)
    finally:
        with contextlib.suppress(Exception):
            extra = _bus_daemon_pids(bus)
            _stop([pid for pid in extra if pid not in {p.pid for p in procs}])
        for proc in reversed(procs[1:]):
            proc.terminate()
        for proc in reversed(procs):
            if proc is procs[0]:
                proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(state, ignore_errors=True)
