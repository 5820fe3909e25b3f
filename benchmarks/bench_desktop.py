"""Desktop figures under a virtual display (Xvfb + D-Bus + trayer), with the real simulator and engine.

    .venv/bin/python benchmarks/bench_desktop.py [--samples N]

* keypress → order on the wire: ``xdotool key`` spawned → the engine wrote the order frame
  (split at the pynput callback and at the command's acceptance by the app);
* ``traytrader send`` added latency: socket client start → command accepted (vs. the hotkey
  path's callback → accepted), and a whole ``traytrader send status`` process;
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

from benchmarks._common import median_p99  # noqa: E402  (needs ROOT on sys.path)


def line(name: str, values: list[float], unit: str = "ms") -> str:
    median, p99 = median_p99(values)
    return f"{name:<56} median {median:8.2f} {unit}   p99 {p99:8.2f} {unit}   (n={len(values)})"


class Probe:
    """Timestamps from inside the app: pynput callback, command accepted, frame written, fill."""

    def __init__(self) -> None:
        self.callback_ns: int | None = None
        self.accepted_ns: int | None = None
        self.wire_ns: int | None = None
        self.filled = threading.Event()

    def reset(self) -> None:
        self.callback_ns = self.accepted_ns = self.wire_ns = None
        self.filled.clear()


def in_process_figures(desktop: Any, samples: int) -> list[str]:
    from traytrader.commands.demo_cmd import demo_config, demo_credentials
    from traytrader.engine.api import EngineState, OrderFilled
    from traytrader.sim import SimOptions, SimThread
    from traytrader.ui.app import DesktopApp
    from traytrader.ui.control_socket import send_request
    from traytrader.ui.tray_app import DesktopOptions, TrayApp, engine_factory

    probe = Probe()
    sim = SimThread(SimOptions(port=0, seed=11)).start()
    config = demo_config(sim.rest_url, sim.ws_api_url, sim.stream_url)
    # no cooldown and no rate cap: one order per sample, each waiting for its fill
    config = dataclasses.replace(config, safety=dataclasses.replace(config.safety, cooldown_ms=0,
                                                                      max_orders_per_minute=100_000))
    real_factory = engine_factory(config, desktop.tmp / "bench-journal.sqlite3")

    def factory(credentials: Any, profile: str) -> Any:
        engine = real_factory(credentials, profile)
        submit = engine.submit

        def timed_submit(command: Any) -> None:
            probe.accepted_ns = command.accepted_ns
            submit(command)

        def on_event(event: Any) -> None:
            if isinstance(event, OrderFilled) and probe.accepted_ns is not None:
                probe.wire_ns = probe.accepted_ns + int(event.to_wire_us * 1000)
                probe.filled.set()

        engine.submit = timed_submit
        engine.subscribe(on_event)
        return engine

    app = DesktopApp(config, factory, preset_credentials=demo_credentials(), demo=True)
    hotkey = app.hotkey

    def timed_hotkey(action: Any, combo: str, repeat: bool) -> None:
        probe.callback_ns = time.perf_counter_ns()
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
        key_to_wire, key_to_callback, callback_to_wire = [], [], []
        for i in range(samples):
            probe.reset()
            key = "ctrl+b" if i % 2 == 0 else "ctrl+s"
            started = time.perf_counter_ns()
            subprocess.run(["xdotool", "key", key], check=True)
            if not probe.filled.wait(5):
                raise RuntimeError(f"no fill for sample {i}: {app.refused[-1:]}")
            assert probe.wire_ns is not None and probe.callback_ns is not None
            key_to_wire.append((probe.wire_ns - started) / 1e6)
            key_to_callback.append((probe.callback_ns - started) / 1e6)
            callback_to_wire.append((probe.wire_ns - probe.callback_ns) / 1e6)
        results += [line("keypress → frame on the wire (xdotool spawned)", key_to_wire),
                    line("  of which xdotool + X + pynput → callback", key_to_callback),
                    line("  of which callback → frame written (app + engine)", callback_to_wire)]
        socket_to_accept, socket_round_trip = [], []
        for i in range(samples):
            probe.reset()
            started = time.perf_counter_ns()
            reply = send_request(socket_path, "buy" if i % 2 == 0 else "sell")
            ended = time.perf_counter_ns()
            if not reply.startswith("ok ") or probe.accepted_ns is None:
                raise RuntimeError(f"send failed: {reply}")
            socket_to_accept.append((probe.accepted_ns - started) / 1e6)
            socket_round_trip.append((ended - started) / 1e6)
        results += [line("send: socket connect → command accepted", socket_to_accept),
                    line("send: request → reply with the fill (in-process client)", socket_round_trip)]
        cli = []
        for _ in range(max(3, samples // 10)):
            started = time.perf_counter_ns()
            command = [sys.executable, "-m", "traytrader", "send", "status", "--socket", str(socket_path)]
            subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
            cli.append((time.perf_counter_ns() - started) / 1e6)
        results.append(line("`traytrader send status` whole process", cli))
    finally:
        tray_app.quit()
        runner.join(3)
        sim.stop()
    return results


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args(argv)
    from session import virtual_desktop

    with virtual_desktop() as desktop:
        results = in_process_figures(desktop, args.samples)
        results += demo_process_figures(args.startup_runs)
    print("\n".join(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
