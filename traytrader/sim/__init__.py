"""``traytrader sim``: a local Binance USDⓈ-M futures exchange on loopback.

It speaks the documented protocol (REST ``/fapi``, the WebSocket API ``/ws-fapi/v1``, market streams
under ``/public`` and ``/market``, user data under ``/private``) on ONE port, so real Binance clients
work against it unchanged apart from the base URL. ``docs/sim.md`` is the full reference, including
the ``/sim/`` test-control API.

In-process use (tests)::

    from traytrader.sim import SimOptions, start_sim, DEMO_API_KEY, DEMO_SECRET
    sim = await start_sim(SimOptions(host="127.0.0.1", port=0, seed=1))
    sim.rest_url      # "http://127.0.0.1:PORT"
    sim.ws_api_url    # "ws://127.0.0.1:PORT/ws-fapi/v1"
    sim.stream_url    # "ws://127.0.0.1:PORT" + /public/ws/btcusdt@bookTicker, /private/ws/<key>
    sim.control_url   # "http://127.0.0.1:PORT/sim"
    sim.exchange      # the pure state (prefer GET /sim/state over HTTP)
    await sim.stop()

From synchronous code (demo, desktop tests) the simulator runs on its own thread and loop::

    with SimThread(SimOptions()) as sim:      # or sim = SimThread(opts).start(); ...; sim.stop()
        print(sim.rest_url)

Accounts: without ``accounts_file`` there are two DEMO-ONLY accounts, 10000 USDT, one-way mode:
HMAC (``DEMO_API_KEY``/``DEMO_SECRET``) and Ed25519 (``DEMO_ED25519_API_KEY`` with the published
``DEMO_ED25519_PRIVATE_KEY_PEM``). They open nothing but this simulator.
"""

from traytrader.sim.accounts import (
    DEMO_API_KEY,
    DEMO_ED25519_API_KEY,
    DEMO_ED25519_PRIVATE_KEY_PEM,
    DEMO_ED25519_PUBLIC_KEY_PEM,
    DEMO_SECRET,
)
from traytrader.sim.options import SimOptions, market_like
from traytrader.sim.runner import Sim, SimThread, run_sim, start_sim

__all__ = [
    "DEMO_API_KEY",
    "DEMO_ED25519_API_KEY",
    "DEMO_ED25519_PRIVATE_KEY_PEM",
    "DEMO_ED25519_PUBLIC_KEY_PEM",
    "DEMO_SECRET",
    "Sim",
    "SimOptions",
    "SimThread",
    "market_like",
    "run_sim",
    "start_sim",
]
