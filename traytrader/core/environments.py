"""Every environment's hosts, in one table: REST, WebSocket API and stream base, with where and
when each was taken from.

``config.py`` fills ``[exchange]`` from this table when the config names only an environment; the
README shows the same table ("Environments"). The engine appends ``/public``, ``/market`` and
``/private`` to the stream base (Binance split the streams that way on 2026-04-23).

Testnet and demo trading are two different Binance environments with their own accounts: an API
key made on one is unknown to the other (and to live), which the exchange answers with -2015.
Each has exactly one consistent set of hosts here; mixing them (a demo REST host with a testnet
WebSocket API) makes REST and the WS API disagree about the key, which ``traytrader selftest``
reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from traytrader.core.models import Environment


@dataclass(frozen=True)
class Hosts:
    """One environment's endpoints and their provenance."""

    environment: Environment
    rest_url: str
    ws_api_url: str
    stream_url: str
    source: str  # the page or file each host was taken from
    taken: str  # the date it was read (YYYY-MM-DD)
    where_keys: str  # where a user makes an API key for it
    note: str = ""  # what is not confirmed

    @property
    def urls(self) -> tuple[str, str, str]:
        return self.rest_url, self.ws_api_url, self.stream_url


_CONNECTOR = (
    "binance/binance-connector-python common/src/binance_common/constants.py"
    " (commit 0705b59), the official SDK's DERIVATIVES_TRADING_USDS_FUTURES_* constants"
)
_GENERAL_INFO = (
    "developers.binance.com/docs/derivatives/usds-margined-futures/general-info and"
    " .../websocket-api-general-info (base endpoints); change log 2026-04-23 (stream split)"
)

ENVIRONMENTS: dict[Environment, Hosts] = {
    Environment.SIM: Hosts(
        Environment.SIM,
        "http://127.0.0.1:8765",
        "ws://127.0.0.1:8765/ws-fapi/v1",
        "ws://127.0.0.1:8765",
        source="traytrader sim (this repository)",
        taken="2026-12-04",
        where_keys="the simulator's accounts (its DEMO-ONLY keys, or --accounts FILE)",
    ),
    Environment.TESTNET: Hosts(
        Environment.TESTNET,
        "https://testnet.binancefuture.com",
        "wss://testnet.binancefuture.com/ws-fapi/v1",
        "wss://fstream.binancefuture.com",
        source=f"{_CONNECTOR}: *_TESTNET_URL; {_GENERAL_INFO}",
        taken="2026-12-04",
        where_keys="testnet.binancefuture.com (log in, API Key tab)",
    ),
    Environment.DEMO: Hosts(
        Environment.DEMO,
        "https://demo-fapi.binance.com",
        "wss://demo-ws-fapi.binance.com/ws-fapi/v1",
        "wss://demo-fstream.binance.com",
        source=f"{_CONNECTOR}: REST_API_DEMO_URL; stream host: nautilus_trader"
        " crates/adapters/binance/src/common/consts.rs BINANCE_FUTURES_USD_DEMO_WS_URL",
        taken="2026-12-04",
        where_keys="binance.com > Demo Trading > API Management",
        note="the official SDK names no demo WS API host; demo-ws-fapi.binance.com follows the spot demo's"
        " pattern (demo-ws-api.binance.com) and is UNCONFIRMED: if traytrader selftest cannot"
        " connect, set exchange.ws_api_url",
    ),
    Environment.LIVE: Hosts(
        Environment.LIVE,
        "https://fapi.binance.com",
        "wss://ws-fapi.binance.com/ws-fapi/v1",
        "wss://fstream.binance.com",
        source=f"{_CONNECTOR}: *_PROD_URL; {_GENERAL_INFO}",
        taken="2026-12-04",
        where_keys="binance.com > API Management (enable Futures)",
    ),
}


def hosts(environment: Environment) -> Hosts:
    return ENVIRONMENTS[environment]


def environment_of(rest_url: str, ws_api_url: str, stream_url: str) -> dict[str, Environment | None]:
    """Which known environment each URL's host belongs to (None: a host not in the table, such as a
    simulator on another port). Used to say when REST, WS API and streams point at different ones."""

    def host(url: str) -> str:
        rest = url.split("://", 1)[-1]
        return rest.split("/", 1)[0].lower()

    found: dict[str, Environment | None] = {}
    for name, url in (("REST", rest_url), ("WS API", ws_api_url), ("streams", stream_url)):
        match = None
        for env, h in ENVIRONMENTS.items():
            if env is Environment.SIM:
                continue
            if host(url) in (host(h.rest_url), host(h.ws_api_url), host(h.stream_url)):
                match = env
        found[name] = match
    return found


def key_mismatch_sentence(environment: Environment) -> str:
    """The one sentence for a key the exchange does not know (-2015 on the first keyed request)."""
    where = ENVIRONMENTS[environment].where_keys
    return (
        f"testnet and demo-trading keys are not interchangeable, and neither works on live: use a key from"
        f" {where} for environment {environment.value!r}, or set exchange.environment to where the key"
        " was made"
    )
