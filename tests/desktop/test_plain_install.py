"""``pip install traytrader`` with no extras, then ``traytrader demo`` and ``traytrader run`` on a
Linux desktop: no PyGObject, no dbus-python, no dbus-fast. The app runs (pystray's Xlib icon,
hotkeys, notifications through notify-send), says in one sentence what to install for the full
tray menu, and never prints a traceback.

A fresh virtual environment (no system site-packages) gets a wheel built from this worktree and
its plain dependencies, offline: the dependencies are fetched once into a wheelhouse in
``.venv/`` (``pip wheel``), then installed with ``--no-index --find-links``. The wheel of the
worktree is rebuilt (the backend's ``build_wheel``, ~1 s) only when its source changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_lines import ProcessLines

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[2]
HINT = 'then pip install "traytrader[linux]"'


def wheelhouse() -> Path:
    """The plain dependencies (and the build backend) as wheels; fetched from the index once."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    digest = hashlib.sha256("\n".join(sorted(wanted)).encode()).hexdigest()[:12]
    house = ROOT / ".venv" / "wheelhouse-plain"
    stamp = house / f".complete-{digest}"
    if not stamp.exists():
        house.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(house), *wanted],
                       check=True, capture_output=True, timeout=600)
        stamp.touch()
    return house


def build_env(house: Path) -> Path:
    """A venv with the build backend (``[build-system] requires``) from the wheelhouse; its python."""
    python = house / "build-env" / "bin" / "python"
    if not python.exists():
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        subprocess.run([os.path.realpath(sys.executable), "-m", "venv", "--without-pip",
                        str(house / "build-env")], check=True, timeout=60)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                        "--find-links", str(house), *project["build-system"]["requires"]],
                       check=True, capture_output=True, timeout=300)
    return python


def traytrader_wheel(house: Path, tmp: Path) -> Path:
    """A wheel of this worktree, built by the real build backend; reused while the source is unchanged."""
    files = sorted(p for p in (ROOT / "traytrader").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in [ROOT / "pyproject.toml", ROOT / "README.md", *files]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    built = house / f"traytrader-{digest.hexdigest()[:16]}"
    if not list(built.glob("*.whl")):
        source = tmp / "src"
        source.mkdir()
        shutil.copy(ROOT / "pyproject.toml", source)
        shutil.copy(ROOT / "README.md", source)
        shutil.copytree(ROOT / "traytrader", source / "traytrader",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for old in house.glob("traytrader-*"):
            shutil.rmtree(old, ignore_errors=True)
        built.mkdir()
        # the PEP 517 call pip makes, in a build environment kept beside the wheelhouse (saves
        # installing setuptools into a fresh isolated environment on every source change)
        result = subprocess.run([str(build_env(house)), "-c", "import sys; from setuptools import "
                                 "build_meta; build_meta.build_wheel(sys.argv[1])", str(built)],
                                cwd=source, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    return next(built.glob("*.whl"))


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory) -> Iterator[Path]:
    """A fresh venv with ``pip install traytrader`` (no extras); yields its bin directory."""
    tmp = tmp_path_factory.mktemp("plain")
    house = wheelhouse()
    wheel = traytrader_wheel(house, tmp)
    venv = tmp / "venv"
    subprocess.run([os.path.realpath(sys.executable), "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                             "-q", "--no-compile", "--no-index", "--find-links", str(house), str(wheel)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    absent = subprocess.run([str(venv / "bin" / "python"), "-c",
                             "import importlib.util as u; print([m for m in ('gi', 'dbus', 'dbus_fast', "
                             "'dbus_next') if u.find_spec(m)])"], capture_output=True, text=True, timeout=30)
    assert absent.stdout.strip() == "[]", absent.stdout  # really a plain install
    yield venv / "bin"


class Process(ProcessLines):
    def __init__(self, argv: list[str], env: dict[str, str], stdin: str | None = None) -> None:
        super().__init__(argv, env, stdin=stdin)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def send(bin_dir: Path, env: dict[str, str], socket_path: Path, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "traytrader"), "send", *words, "--socket", str(socket_path)],
                          capture_output=True, text=True, env=env, timeout=30)


def orders(rest_url: str) -> list[dict]:
    with urllib.request.urlopen(rest_url + "/sim/state", timeout=5) as response:
        return [o for o in json.loads(response.read())["orders"] if o["kind"] == "order"]


def plain_env(desktop, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYSTRAY_BACKEND", "WAYLAND_DISPLAY",
                                                           "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(desktop.env, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_STATE_HOME=str(home / ".local/state"),
               PYTHONUNBUFFERED="1")
    return env


def test_plain_install_demo_runs_with_an_xlib_icon_and_one_sentence(desktop, plain_venv, tmp_path) -> None:
    env = plain_env(desktop, tmp_path)
    socket_path = tmp_path / "control.sock"
    demo = Process([str(plain_venv / "traytrader"), "demo", "--socket", str(socket_path)], env)
    try:
        banner = demo.wait_line(demo.out, "Ctrl\\+C here")
        assert banner == "Press Ctrl+C here to quit." and not [line for line in demo.out if "menu" in line]
        hint = demo.wait_line(demo.err, "PyGObject is not installed")
        assert HINT in hint and hint.endswith("Arch).")
        assert [line for line in demo.err if "PyGObject" in line] == [hint]  # said once
        # the app works: Ctrl+B through pynput becomes an order; the control socket answers
        rest_url = re.search(r"(http://[\d.:]+)", demo.wait_line(demo.out, "simulated exchange at")).group(1)
        # A fresh install compiles every module on its first start, and CI runs this among the
        # whole suite: the wait is for the engine's READY, so a generous deadline costs nothing.
        deadline = time.monotonic() + 60
        status = ""
        while not socket_path.exists() or "ready" not in (status := send(plain_venv, env, socket_path,
                                                                         "status").stdout):
            assert time.monotonic() < deadline, (status, demo.out, demo.err)
            time.sleep(0.05)  # polling the app's own status line until the engine is ready
        desktop.xdotool("key", "ctrl+b")
        while not orders(rest_url):
            assert time.monotonic() < deadline + 10, (demo.out, demo.err)
            time.sleep(0.02)
        assert orders(rest_url)[0]["side"] == "BUY"
    finally:
        code = demo.interrupt()
    stderr = "\n".join(demo.err)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "CRITICAL" not in stderr and "Warning" not in stderr, stderr


def test_plain_install_run_unlocks_and_quits_without_a_traceback(desktop, plain_venv, tmp_path) -> None:
    env = plain_env(desktop, tmp_path)
    password = tmp_path / "password"
    password.write_text("correct horse battery\n")
    vault = tmp_path / "vault.bin"
    tt = str(plain_venv / "traytrader")
    for argv, answers in (
            (["vault", "init", "--password-file", str(password), "--vault", str(vault),
              "--kdf-iterations", "1000"], None),
            (["vault", "add-key", "default", "--type", "hmac", "--password-file", str(password), "--vault",
              str(vault)], "SIMKEY\nSIMSECRET\n")):
        made = subprocess.run([tt, *argv], input=answers, capture_output=True, text=True, env=env, timeout=60)
        assert made.returncode == 0, made.stderr
    socket_path = tmp_path / "run.sock"
    run = Process([tt, "run", "--password-file", str(password), "--vault", str(vault), "--socket",
                   str(socket_path), "--journal", str(tmp_path / "journal.sqlite3")], env)
    try:
        run.wait_line(run.err, "PyGObject is not installed")
        deadline = time.monotonic() + 20
        while not socket_path.exists():  # the control socket opens once the tray is up
            assert run.proc.poll() is None and time.monotonic() < deadline, run.err
            time.sleep(0.02)
        status = send(plain_venv, env, socket_path, "status")
        assert status.returncode == 0, status.stderr
    finally:
        code = run.interrupt()
    stderr = "\n".join(run.err)
    assert code in (0, 130), stderr
    assert "Traceback" not in stderr, stderr


def test_plain_install_on_wayland_without_x_uses_the_console_and_says_why(desktop, plain_venv,
                                                                         tmp_path) -> None:
    env = plain_env(desktop, tmp_path)
    env.pop("DISPLAY")
    env["WAYLAND_DISPLAY"] = "wayland-none"
    demo = subprocess.run([str(plain_venv / "traytrader"), "demo"], input="status\nquit\n",
                          capture_output=True, text=True, env=env, timeout=60)
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr.startswith("traytrader: There is no tray icon without PyGObject on Wayland")
    assert HINT in demo.stderr and demo.stderr.count("\n") == 1 and "Traceback" not in demo.stderr
    assert "STATUS  state=" in demo.stdout  # the console front end answered


def test_plain_install_without_tk_says_how_to_unlock_instead(desktop, plain_venv, tmp_path) -> None:
    """python3-tk is installed on this machine, so a ``tkinter`` that fails to import stands in for
    its absence (the one stand-in in this file)."""
    shadow = tmp_path / "no-tk" / "tkinter"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'tkinter\'")\n')
    env = plain_env(desktop, tmp_path) | {"PYTHONPATH": str(shadow.parent)}
    run = Process([str(plain_venv / "traytrader"), "run", "--socket", str(tmp_path / "tk.sock")], env)
    try:
        sentence = run.wait_line(run.err, "needs Tk")
        assert sentence == ("The unlock dialog needs Tk, which could not start (No module named 'tkinter'); "
                            "install it (Debian/Ubuntu: sudo apt install python3-tk), or start with "
                            "traytrader run --password-file PATH.")
    finally:
        code = run.interrupt()
    stderr = "\n".join(run.err)
    assert code in (0, 130) and "Traceback" not in stderr, stderr
