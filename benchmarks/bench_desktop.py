"""Desktop figures under a virtual display (Xvfb + D-Bus + trayer), with the real simulator and engine.

    .venv/bin/python benchmarks/bench_desktop.py [--samples N] [--only keys|send|startup]

* keypress → order on the wire: ``xdotool key`` spawned → the engine wrote the order frame, split
  at the pynput callback; pynput callback → frame written (µs), split at the command's acceptance
  (gate passed, submitted), at the command starting to run (on the listener thread, borrowing the
  idle engine loop, or on the loop after a hop: ``engine/loop_borrow.py``; how many of each is
  printed) and at the write; beside it what a bare hop from the same callback to a callback on the
  engine loop costs on this machine while ``xdotool`` and Xvfb deliver the key (the simulator runs
  in its own process). ``xdotool key ctrl+b`` presses Ctrl ~6 ms before B, so the engine walks the
  key path in between, as it does for a trader's slower Ctrl (``EntryArming.prime_key_path``);
* ``traytrader send``: an in-process client's connect → command accepted; and the console script
  as a compositor starts it, a process per key: exec → command accepted, and whole process, beside
  a bare interpreter start (``python -c pass``) of the same interpreter, interleaved; in this
  editable dev venv and in a fresh venv with ``pip install .`` (built here, ~10 s);
* startup to tray ready: process start → the demo's banner (printed from the tray's ready callback;
  excludes unlock, includes the interpreter, imports and the embedded simulator);
* idle CPU and memory of the whole ``traytrader demo`` process (simulator included) over 10 s.

Medians and p99 are printed; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))  # the virtual desktop session helper
sys.path.insert(0, str(ROOT))

from benchmarks._common import SimProcess, median_p99  # noqa: E402  (needs ROOT on sys.path)

SETTLE_S = 0.3   # between `send` samples: a trader's keys are seconds apart


def line(name: str, values: list[float], unit: str = "ms") -> str:
    median, p99 = median_p99(values)
    return f"{name:<62} median {median:8.2f} {unit}   p99 {p99:8.2f} {unit}   (n={len(values)})"


class Probe:
    """Timestamps from inside the app (``perf_counter_ns``, one clock for every process here)."""

    def __init__(self) -> None:
        self.callback_ns: int | None = None   # pynput called the app
        self.accepted_ns: int | None = None   # the command was made (gate passed) and submitted
        self.loop_ns: int | None = None       # the command began to run (borrowed loop, or after a hop)
        self.ready_ns: int | None = None      # the checks were done, the write began
        self.wire_ns: int | None = None       # the order frame was written
        self.on_listener = False              # it ran on the thread that had the key
        self.filled = threading.Event()
        self.ping_only = False   # the floor: the bare hop to the engine loop, no app, no command

    def reset(self) -> None:
        self.callback_ns = self.accepted_ns = self.loop_ns = self.ready_ns = self.wire_ns = None
        self.on_listener = False
        self.filled.clear()


def bare_hop(loop: Any, probe: Probe) -> None:
    """What any pynput callback pays to run anything on the engine's loop (one
    ``call_soon_threadsafe``), with nothing of ours: the floor of the key path's thread → loop hop on
    this machine, at the moment a key arrives."""
    def woke() -> None:
        probe.wire_ns = time.perf_counter_ns()
        probe.filled.set()

    loop.call_soon_threadsafe(woke)


def in_process_figures(desktop: Any, samples: int, parts: set[str]) -> list[str]:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.engine.api import EngineState, OrderFilled
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.control_socket import send_request
    from traytrader.ui.tray_app import DesktopOptions, TrayApp, engine_factory

    probe = Probe()
    # the simulator in its own process, as the exchange is: it shares no GIL with the app measured
    sim = SimProcess()
    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    # no cooldown and no rate cap: one order per sample, each waiting for its fill
    config = dataclasses.replace(config, safety=dataclasses.replace(config.safety, cooldown_ms=0,
                                                                      max_orders_per_minute=100_000))
    real_factory = engine_factory(config, desktop.tmp / "bench-journal.sqlite3")

    def factory(credentials: Any, profile: str) -> Any:
        engine = real_factory(credentials, profile)
        submit, on_command = engine.submit, engine._on_command

        def timed_submit(command: Any) -> None:
            probe.accepted_ns = command.accepted_ns
            submit(command)

        def timed_on_command(command: Any) -> None:
            probe.loop_ns = time.perf_counter_ns()
            probe.on_listener = threading.current_thread().name != "traytrader-engine"
            on_command(command)

        def on_event(event: Any) -> None:
            if isinstance(event, OrderFilled) and probe.accepted_ns is not None:
                probe.wire_ns = probe.accepted_ns + int(event.to_wire_us * 1000)
                probe.ready_ns = engine.dispatcher.frame_ready_ns
                probe.filled.set()

        engine.submit = timed_submit
        engine._on_command = timed_on_command
        engine.subscribe(on_event)
        return engine

    app = DesktopApp(config, factory, preset_credentials=demo_credentials(), demo=True)
    hotkey = app.hotkey

    def timed_hotkey(action: Any, combo: str, repeat: bool) -> None:
        probe.callback_ns = time.perf_counter_ns()
        if probe.ping_only:
            bare_hop(app.engine._loop, probe)
        else:
            hotkey(action, combo, repeat)

    app.hotkey = timed_hotkey  # type: ignore[method-assign]
    socket_path = desktop.tmp / "bench" / "control.sock"
    tray_app = TrayApp(app, DesktopOptions(backend="gtk", socket_path=socket_path,
                                           send=lambda note: None))
    runner = threading.Thread(target=tray_app.run, name="bench-tray")
    runner.start()
    results: list[str] = []
    try:
        assert tray_app.ready.wait(10)
        deadline = time.monotonic() + 15
        while app.ui.status.state is not EngineState.READY and time.monotonic() < deadline:
            time.sleep(0.01)
        if "keys" in parts:
            results += key_figures(probe, app, samples)
        if "send" in parts:
            results += socket_figures(probe, socket_path, samples, send_request)
            results += process_figures(probe, socket_path, max(10, samples // 2), desktop.tmp)
    finally:
        tray_app.quit()
        runner.join(3)
        sim.stop()
    return results


def key_figures(probe: Probe, app: Any, samples: int) -> list[str]:
    key_to_wire, key_to_callback, callback_to_wire = [], [], []
    callback_to_accepted, accepted_to_loop, loop_to_ready, ready_to_wire = [], [], [], []
    on_listener = 0
    for i in range(samples):
        probe.reset()
        key = "ctrl+b" if i % 2 == 0 else "ctrl+s"
        started = time.perf_counter_ns()
        # Not subprocess.run: a thread waking at xdotool's exit would compete for the GIL with the
        # very path measured, which no real key press does. Reap it after the fill.
        xdotool = subprocess.Popen(["xdotool", "key", key])
        filled = probe.filled.wait(5)
        if xdotool.wait(5) != 0 or not filled:
            raise RuntimeError(f"no fill for sample {i}: {app.refused[-1:]}")
        stamps = (probe.wire_ns, probe.callback_ns, probe.accepted_ns, probe.loop_ns, probe.ready_ns)
        assert None not in stamps
        wire, callback, accepted, loop, ready = stamps
        on_listener += probe.on_listener
        key_to_wire.append((wire - started) / 1e6)  # type: ignore[operator]
        key_to_callback.append((callback - started) / 1e6)  # type: ignore[operator]
        callback_to_wire.append((wire - callback) / 1e3)  # type: ignore[operator]
        callback_to_accepted.append((accepted - callback) / 1e3)  # type: ignore[operator]
        accepted_to_loop.append((loop - accepted) / 1e3)  # type: ignore[operator]
        loop_to_ready.append((ready - loop) / 1e3)  # type: ignore[operator]
        ready_to_wire.append((wire - ready) / 1e3)  # type: ignore[operator]
    floor = []
    probe.ping_only = True
    try:
        for _ in range(samples):
            probe.reset()
            xdotool = subprocess.Popen(["xdotool", "key", "ctrl+b"])
            if not probe.filled.wait(5) or xdotool.wait(5) != 0:
                raise RuntimeError("the bare hop did not complete")
            floor.append((probe.wire_ns - probe.callback_ns) / 1e3)  # type: ignore[operator]
    finally:
        probe.ping_only = False
    return [line("keypress → frame on the wire (xdotool spawned)", key_to_wire),
            line("  of which xdotool + X + pynput → callback", key_to_callback),
            line("  of which pynput callback → frame written", callback_to_wire, "µs"),
            line("    callback → command accepted (chord, gate, submit)", callback_to_accepted, "µs"),
            line("    accepted → the command runs (borrowed loop, or hop)", accepted_to_loop, "µs"),
            line("    the command's checks (admission, armed entry, caps)", loop_to_ready, "µs"),
            line("    the write (transport → kernel, to the simulator's process)", ready_to_wire, "µs"),
            f"  ran on the listener thread (borrowed loop): {on_listener} of {samples}; the others hopped",
            line("  beside it: pynput callback → a callback on the engine loop (a bare hop)", floor, "µs")]


def socket_figures(probe: Probe, socket_path: Path, samples: int, send_request: Any) -> list[str]:
    socket_to_accept, socket_round_trip = [], []
    for i in range(samples):
        time.sleep(SETTLE_S)
        probe.reset()
        started = time.perf_counter_ns()
        reply = send_request(socket_path, "buy" if i % 2 == 0 else "sell")
        ended = time.perf_counter_ns()
        if not reply.startswith("ok ") or probe.accepted_ns is None:
            raise RuntimeError(f"send failed: {reply}")
        socket_to_accept.append((probe.accepted_ns - started) / 1e6)
        socket_round_trip.append((ended - started) / 1e6)
    return [line("send: socket connect → command accepted (in-process client)", socket_to_accept),
            line("send: request → reply with the fill (in-process client)", socket_round_trip)]


def process_figures(probe: Probe, socket_path: Path, runs: int, scratch: Path) -> list[str]:
    """``traytrader send`` as a compositor runs it (the console script, a process per key), beside a
    bare start of the same interpreter, interleaved so that both see the same machine load; in this
    development venv (an editable install, whose import hook every start of its interpreter pays)
    and in a fresh venv with ``pip install .`` (no extras), as a user has it.

    Bytecode caches are allowed (an installed package has them), whatever PYTHONDONTWRITEBYTECODE
    the caller's shell sets; one warm-up run of each writes them."""
    results: list[str] = []
    for where, python in (("dev venv", Path(sys.executable)), ("installed", installed_venv(scratch))):
        if python is None:
            results.append(f"{where}: skipped (`pip install .` into a fresh venv failed)")
            continue
        results += send_process_figures(probe, socket_path, runs, python, where)
    return results


def installed_venv(scratch: Path) -> Path | None:
    """A fresh venv with this checkout installed the way a user installs it (no editable hook)."""
    venv = scratch / "installed-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                           "--no-deps", str(ROOT)], capture_output=True, text=True)
    return python if done.returncode == 0 else None


def send_process_figures(probe: Probe, socket_path: Path, runs: int, python: Path, where: str) -> list[str]:
    script = python.parent / "traytrader"
    send = [str(script), "send", "buy", "--socket", str(socket_path)]
    status = [str(script), "send", "status", "--socket", str(socket_path)]
    bare = [str(python), "-c", "pass"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in (bare, status):
        subprocess.run(command, check=True, capture_output=True, cwd="/", env=env)
    bare_ms, accepted_ms, send_ms, status_ms = [], [], [], []
    for i in range(runs):
        started = time.perf_counter_ns()
        subprocess.run(bare, check=True, capture_output=True, cwd="/", env=env)
        bare_ms.append((time.perf_counter_ns() - started) / 1e6)
        time.sleep(SETTLE_S)
        probe.reset()
        send[2] = "buy" if i % 2 == 0 else "sell"
        started = time.perf_counter_ns()
        subprocess.run(send, check=True, capture_output=True, cwd="/", env=env)
        send_ms.append((time.perf_counter_ns() - started) / 1e6)
        if probe.accepted_ns is None:
            raise RuntimeError("`traytrader send` returned before its command was accepted")
        accepted_ms.append((probe.accepted_ns - started) / 1e6)
        started = time.perf_counter_ns()
        subprocess.run(status, check=True, capture_output=True, cwd="/", env=env)
        status_ms.append((time.perf_counter_ns() - started) / 1e6)
    return [line(f"{where}: bare interpreter start (`python -c pass`)", bare_ms),
            line(f"{where}: `traytrader send buy`, exec → command accepted", accepted_ms),
            line(f"{where}: `traytrader send buy`, whole process (to the fill)", send_ms),
            line(f"{where}: `traytrader send status`, whole process", status_ms)]


def demo_process_figures(runs: int) -> list[str]:
    startup: list[float] = []
    cpu_pct: list[float] = []
    rss_mb: list[float] = []
    ticks = os.sysconf("SC_CLK_TCK")
    for run in range(runs):
        env = os.environ.copy() | {"PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "traytrader", "demo", "--socket",
                                 str(Path(env["XDG_RUNTIME_DIR"]) / f"bench-demo-{run}.sock")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                                env=env)
        assert proc.stdout is not None
        try:
            for out in proc.stdout:
                if "Quit from the tray menu" in out:
                    break
            startup.append((time.perf_counter() - started) * 1000)
            if run == runs - 1:  # idle figures once, after the app has settled
                time.sleep(2)
                before = _cpu_ticks(proc.pid)
                window = 10.0
                time.sleep(window)
                cpu_pct.append((_cpu_ticks(proc.pid) - before) / ticks / window * 100)
                rss_mb.append(_rss_kb(proc.pid) / 1024)
        finally:
            proc.send_signal(2)
            proc.wait(5)
    return [line("startup → tray ready (`traytrader demo`, whole process)", startup),
            line("idle CPU of `traytrader demo` (10 s window)", cpu_pct, "%"),
            line("memory (RSS) of `traytrader demo`", rss_mb, "MB")]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_kb(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


PARTS = ("keys", "send", "startup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    args = parser.parse_args(argv)
    parts = set(args.only or PARTS)
    from session import virtual_desktop

    with virtual_desktop() as desktop:
        results = in_process_figures(desktop, args.samples, parts) if parts & {"keys", "send"} else []
        if "startup" in parts:
            results += demo_process_figures(args.startup_runs)
    print("\n".join(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
