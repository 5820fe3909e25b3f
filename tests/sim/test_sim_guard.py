"""The simulator against a hostile neighbour: a web page the user opens, DNS rebinding, oversized and
deeply nested bodies, slow-header floods, and a SIGTERM during a ``delay`` fault. Each attack is made
the way the neighbour would make it (raw requests on a real socket), and the state is read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import aiohttp
import pytest
from simkit import control

from traytrader.sim import DEMO_API_KEY, Sim, SimOptions, start_sim
from traytrader.sim.guard import exposure_warning, host_allowed, origin_allowed

EVIL = "http://evil.example"


async def btc_last(http: aiohttp.ClientSession, sim: Sim) -> str:
    return (await control(http, sim, "GET", "state"))[1]["quotes"]["BTCUSDT"]["last"]


async def test_blind_cross_origin_writes_are_refused(sim: Sim, http: aiohttp.ClientSession) -> None:
    before = await btc_last(http, sim)
    body = json.dumps({"symbol": "BTCUSDT", "price": "1000"})
    # What <form enctype="text/plain"> or fetch(no-cors) sends: no preflight, foreign Origin.
    async with http.post(f"{sim.control_url}/price", data=body,
                         headers={"Content-Type": "text/plain", "Origin": EVIL}) as r:
        assert r.status == 403
    # Without an Origin (a non-browser tool), text/plain is still not JSON.
    async with http.post(f"{sim.control_url}/price", data=body, headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415 and "application/json" in (await r.json())["error"]
    for method, route in (("POST", "restart"), ("POST", "fault"), ("DELETE", "fault")):
        async with http.request(method, f"{sim.control_url}/{route}", headers={"Origin": EVIL}) as r:
            assert r.status == 403
    # JSON with a foreign Origin: a preflighted fetch() would carry one; refused too.
    async with http.post(f"{sim.control_url}/price", json={"symbol": "BTCUSDT", "price": "1000"},
                         headers={"Origin": EVIL}) as r:
        assert r.status == 403
    assert await btc_last(http, sim) == before
    # The simulator's own origin and plain JSON clients keep working.
    async with http.post(f"{sim.control_url}/price", json={"symbol": "BTCUSDT", "price": "64000"},
                         headers={"Origin": sim.rest_url}) as r:
        assert r.status == 200
    assert await btc_last(http, sim) == "64000"


async def test_dns_rebinding_host_is_refused(sim: Sim, http: aiohttp.ClientSession) -> None:
    """A page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example."""
    for path in ("/sim/state", "/fapi/v1/time", "/fapi/v1/exchangeInfo"):
        async with http.get(sim.rest_url + path, headers={"Host": f"evil.example:{sim.port}"}) as r:
            text = await r.text()
            assert r.status == 403 and DEMO_API_KEY not in text
    for host in (f"localhost:{sim.port}", f"127.0.0.1:{sim.port}", f"[::1]:{sim.port}"):
        async with http.get(sim.rest_url + "/sim/state", headers={"Host": host}) as r:
            assert r.status == 200


@pytest.mark.parametrize("path", ["/ws-fapi/v1", "/public/ws/btcusdt@bookTicker", "/market/stream"])
async def test_websocket_upgrades_from_web_pages_are_refused(
    sim: Sim, http: aiohttp.ClientSession, path: str
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(sim.stream_url + path, origin=EVIL)
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(sim.stream_url + path, headers={"Host": "rebound.example"})
    async with http.ws_connect(sim.stream_url + path) as ws:  # a program (no Origin) is served
        assert not ws.closed


async def test_ten_megabyte_body_is_413(sim: Sim, http: aiohttp.ClientSession) -> None:
    big = b'{"symbol":"' + b"A" * (10 << 20) + b'"}'
    async with http.post(f"{sim.control_url}/price", data=big,
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413 and (await r.json())["error"].endswith(".")
    async with http.post(sim.rest_url + "/fapi/v1/order", data=b"x=" + b"1" * (10 << 20),
                         headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
        assert r.status == 413
    assert (await control(http, sim, "GET", "state"))[0] == 200  # still serving


async def test_deeply_nested_json_is_400(sim: Sim, http: aiohttp.ClientSession) -> None:
    deep = "[" * 20_000 + "]" * 20_000  # 40 kB: under every frame limit, far past any recursion limit
    async with http.post(f"{sim.control_url}/fault", data=deep,
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and "JSON" in (await r.json())["error"]
    async with http.ws_connect(sim.ws_api_url) as ws:
        await ws.send_str(deep)
        reply = json.loads((await ws.receive(timeout=5)).data)
        assert reply["status"] == 400
        await ws.send_str(json.dumps({"id": 1, "method": "time"}))  # the connection survived
        assert json.loads((await ws.receive(timeout=5)).data)["id"] == 1
    async with http.ws_connect(sim.stream_url + "/public/ws") as ws:
        await ws.send_str(deep)
        assert "error" in json.loads((await ws.receive(timeout=5)).data)


async def test_slow_header_connections_are_closed() -> None:
    sim = await start_sim(SimOptions(seed=1, header_timeout_s=0.5))
    try:
        conns = [await asyncio.open_connection("127.0.0.1", sim.port) for _ in range(50)]
        for _, w in conns:
            w.write(b"GET /sim/state HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and never the end
        t0 = time.monotonic()
        for r, _ in conns:
            assert await asyncio.wait_for(r.read(), 5) == b""  # closed by the server
        assert time.monotonic() - t0 < 3
        for _, w in conns:
            w.close()
        # a client that completes its request on time is served as usual
        async with aiohttp.ClientSession() as http, http.get(sim.rest_url + "/fapi/v1/time") as r:
            assert r.status == 200
    finally:
        await sim.stop()


def test_first_sigterm_stops_the_simulator_during_a_delay_fault() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "traytrader", "sim", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        rest = ""
        while not rest:
            line = proc.stdout.readline()
            assert line, "the simulator exited early"
            rest = line.split()[-1] if line.startswith("REST:") else ""
        fault = json.dumps({"kind": "delay", "method": "GET /fapi/v1/time", "ms": 60_000}).encode()
        urllib.request.urlopen(urllib.request.Request(
            rest + "/sim/fault", data=fault, method="POST", headers={"Content-Type": "application/json"}),
            timeout=5).close()
        threading.Thread(target=lambda: _swallow(rest + "/fapi/v1/time"), daemon=True).start()
        deadline = time.monotonic() + 5
        while json.loads(urllib.request.urlopen(rest + "/sim/state?orders=0", timeout=5).read())["faults"]:
            assert time.monotonic() < deadline, "the delayed request never arrived"
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 4 and proc.returncode == 0 and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


def _swallow(url: str) -> None:
    with contextlib.suppress(OSError):  # the request dies with the simulator, as it should
        urllib.request.urlopen(url, timeout=30).close()


def test_host_and_origin_rules() -> None:
    assert host_allowed("127.0.0.1:5", "127.0.0.1", control=True)
    assert host_allowed("localhost", "127.0.0.1", control=True)
    assert not host_allowed("127.0.0.1.evil.example", "127.0.0.1", control=True)
    assert not host_allowed(None, "127.0.0.1", control=False)
    assert host_allowed("192.168.1.5:80", "192.168.1.5", control=False)      # --host chosen by the user
    assert not host_allowed("192.168.1.5:80", "192.168.1.5", control=True)   # but never for /sim/
    assert origin_allowed(None, "127.0.0.1:5")
    assert origin_allowed("http://127.0.0.1:5", "127.0.0.1:5")
    assert not origin_allowed("http://127.0.0.1:6", "127.0.0.1:5")          # another local page
    assert not origin_allowed("null", "127.0.0.1:5")
    assert exposure_warning("127.0.0.1") is None and exposure_warning("::1") is None
    assert "not loopback" in (exposure_warning("0.0.0.0") or "")


def test_existing_control_clients_still_work() -> None:
    """The engine tests' and the reliability bench's control helpers, unchanged, still drive it."""
    import importlib.util
    from pathlib import Path

    from benchmarks.reliability.simctl import SimControl as BenchControl

    spec = importlib.util.spec_from_file_location(
        "engine_kit_for_guard", Path(__file__).parents[1] / "engine" / "engine_kit.py"
    )
    assert spec is not None and spec.loader is not None
    engine_kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(engine_kit)
    bench = BenchControl(SimOptions(seed=2))
    try:
        assert bench.thread is not None
        kit = engine_kit.SimControl(bench.thread)
        assert kit.set_price("BTCUSDT", "61000")["paused"] is True
        kit.fault("delay", "order.place", 1, 10)
        assert kit.state()["faults"] and kit.clear_faults() == {"faults": []}
        assert bench.restart() == {"restarted": True}
        bench.set_price("ETHUSDT", "2500")
        assert bench.state(orders=False)["quotes"]["ETHUSDT"]["last"] == "2500"
    finally:
        bench.stop()
