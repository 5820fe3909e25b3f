"""Every request the simulator serves, once, for both transports.

"WebSocket API and REST API are functionally equivalent: they provide the same features, accept the
same parameters, return the same status and error codes" (change-log 2024), so each endpoint is one
function of (exchange, account, params, now) and the tables below map WS API method names and REST
routes onto them, with their documented weights (protocol notes section 10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from traytrader.sim import batch, reads, views
from traytrader.sim.errors import SimError, err, missing
from traytrader.sim.exchange import Exchange
from traytrader.sim.payloads import at_least
from traytrader.sim.validation import text


@dataclass
class Ctx:
    ex: Exchange
    api_key: str
    params: dict
    now_ms: int
    sim: Any = None  # the running SimServer, for the reads that need its history and price paths


@dataclass(frozen=True)
class Endpoint:
    fn: Callable[[Ctx], Any]
    weight: int | Callable[[dict], int] = 1
    security: str = "signed"  # "none" | "key" | "signed"
    counts_order: bool = False

    def weight_for(self, params: dict) -> int:
        return self.weight(params) if callable(self.weight) else self.weight


def _symbol_opt(c: Ctx) -> str | None:
    sym = text(c.params, "symbol")
    if sym is not None and sym not in c.ex.specs:
        raise err(-1121)
    return sym


def _symbol_req(c: Ctx) -> str:
    sym = _symbol_opt(c)
    if sym is None:
        raise missing("symbol")
    return sym


def _per_symbol(fn: Callable[[Exchange, str], dict]) -> Callable[[Ctx], Any]:
    def run(c: Ctx) -> Any:
        sym = _symbol_opt(c)
        return fn(c.ex, sym) if sym else [fn(c.ex, s) for s in c.ex.specs]

    return run


def _with_or_without(one: int, many: int) -> Callable[[dict], int]:
    return lambda p: one if p.get("symbol") else many


def _listen_start(c: Ctx) -> dict:
    return {"listenKey": c.ex.start_listen_key(c.api_key, c.now_ms)}


def _listen_ping(c: Ctx) -> dict:
    return {"listenKey": c.ex.keepalive_listen_key(c.api_key, c.now_ms, text(c.params, "listenKey"))}


def _listen_stop(c: Ctx) -> dict:
    c.ex.close_listen_key(c.api_key, text(c.params, "listenKey"))
    return {}


def _premium(c: Ctx) -> Any:
    sym = _symbol_opt(c)
    if sym:
        return views.premium_index(c.ex, sym, c.now_ms)
    return [views.premium_index(c.ex, s, c.now_ms) for s in c.ex.specs]


def _depth_weight(p: dict) -> int:
    """Documented: limit 5, 10, 20, 50 -> 2; 100 -> 5; 500 -> 10; 1000 -> 20."""
    try:
        n = int(p.get("limit") or 500)
    except ValueError:
        n = 500
    return 2 if n <= 50 else 5 if n <= 100 else 10 if n <= 500 else 20


def _depth(c: Ctx) -> dict:
    sym = _symbol_req(c)
    q, pp = c.ex.quotes[sym], c.ex.specs[sym].price_precision
    limit = int(text(c.params, "limit") or 5)
    if limit not in (5, 10, 20, 50, 100, 500, 1000):
        raise SimError(-4021, f"{limit} is not valid depth limit")
    bids, asks = c.ex.depth(sym, limit)
    qp = c.ex.specs[sym].quantity_precision
    return {
        "lastUpdateId": q.update_id,
        "E": c.now_ms,
        "T": c.now_ms,
        # one price format with bookTicker: at least the symbol's pricePrecision ("76914.90")
        "bids": [[at_least(p, pp), views.fixed(n, qp)] for p, n in bids],
        "asks": [[at_least(p, pp), views.fixed(n, qp)] for p, n in asks],
    }


ENDPOINTS: dict[str, Endpoint] = {
    "time": Endpoint(lambda c: {"serverTime": c.now_ms}, 1, "none"),
    "ping": Endpoint(lambda c: {}, 1, "none"),
    "exchangeInfo": Endpoint(lambda c: c.ex.market.exchange_info(c.now_ms), 1, "none"),
    "premiumIndex": Endpoint(_premium, _with_or_without(1, 10), "none"),
    "depth": Endpoint(_depth, _depth_weight, "none"),
    "ticker.book": Endpoint(_per_symbol(views.book_ticker), _with_or_without(2, 5), "none"),
    "ticker.price": Endpoint(_per_symbol(views.price_ticker), _with_or_without(1, 2), "none"),
    # REST v1 answers the same fields in alphabetical order (production probe, 2026-09-15)
    "ticker.price.v1": Endpoint(
        _per_symbol(lambda ex, s: dict(sorted(views.price_ticker(ex, s).items()))),
        _with_or_without(1, 2),
        "none",
    ),
    "leverageBracket": Endpoint(lambda c: c.ex.market.leverage_brackets(_symbol_opt(c)), 1),
    "positionSide.get": Endpoint(lambda c: {"dualSidePosition": c.ex.accounts[c.api_key].hedge}, 30),
    "positionSide.set": Endpoint(lambda c: c.ex.set_position_mode(c.api_key, c.params), 1),
    "leverage": Endpoint(lambda c: c.ex.set_leverage(c.api_key, c.params, c.now_ms), 1),
    "marginType": Endpoint(lambda c: c.ex.set_margin_type(c.api_key, c.params, c.now_ms), 1),
    "userDataStream.start": Endpoint(_listen_start, 1, "key"),
    "userDataStream.ping": Endpoint(_listen_ping, 1, "key"),
    "userDataStream.stop": Endpoint(_listen_stop, 1, "key"),
    "order.place": Endpoint(lambda c: c.ex.place_order(c.api_key, c.params, c.now_ms), 0, counts_order=True),
    "order.modify": Endpoint(
        lambda c: c.ex.modify_order(c.api_key, c.params, c.now_ms), 0, counts_order=True
    ),
    "order.cancel": Endpoint(lambda c: c.ex.cancel_order(c.api_key, c.params, c.now_ms), 1),
    "order.status": Endpoint(lambda c: c.ex.query_order(c.api_key, c.params), 1),
    "openOrders": Endpoint(lambda c: c.ex.open_orders(c.api_key, _symbol_opt(c)), _with_or_without(1, 40)),
    "allOpenOrders.cancel": Endpoint(lambda c: c.ex.cancel_all(c.api_key, _symbol_req(c), c.now_ms), 1),
    # algoOrder.place: weight 0 on IP; counted on ORDERS like order.place (SDK 18.1.0 docstring;
    # the docs' example lists only REQUEST_WEIGHT: UNCONFIRMED, decided "counted").
    "algoOrder.place": Endpoint(
        lambda c: c.ex.place_algo(c.api_key, c.params, c.now_ms), 0, counts_order=True
    ),
    "algoOrder.cancel": Endpoint(lambda c: c.ex.cancel_algo(c.api_key, c.params, c.now_ms), 1),
    "algoOrder.status": Endpoint(lambda c: c.ex.query_algo(c.api_key, c.params), 1),
    "openAlgoOrders": Endpoint(lambda c: c.ex.open_algos(c.api_key, _symbol_opt(c)), _with_or_without(1, 40)),
    "algoOpenOrders.cancel": Endpoint(
        lambda c: c.ex.cancel_all_algos(c.api_key, _symbol_req(c), c.now_ms), 1
    ),
    "account.position": Endpoint(lambda c: views.position_risk(c.ex, c.api_key, _symbol_opt(c), 2), 5),
    "v2/account.position": Endpoint(lambda c: views.position_risk(c.ex, c.api_key, _symbol_opt(c), 3), 5),
    "account.status": Endpoint(lambda c: views.account_info(c.ex, c.api_key, 2), 5),
    "v2/account.status": Endpoint(lambda c: views.account_info(c.ex, c.api_key, 3), 5),
    "account.balance": Endpoint(lambda c: views.balances(c.ex, c.api_key), 5),
    # -- the reads real clients make (reads.py) and the multi-order writes (batch.py)
    "ticker.24hr": Endpoint(reads.ticker_24h_all, _with_or_without(1, 40), "none"),
    "klines": Endpoint(reads.klines, reads.klines_weight, "none"),
    "trades": Endpoint(reads.trades, 5, "none"),
    "aggTrades": Endpoint(reads.agg_trades, 20, "none"),
    "allOrders": Endpoint(reads.all_orders, 5),
    "allAlgoOrders": Endpoint(reads.all_algo_orders, 5),
    "openOrder": Endpoint(reads.open_order, 1),
    "userTrades": Endpoint(reads.user_trades, 5),
    "income": Endpoint(reads.income, 30),
    "commissionRate": Endpoint(reads.commission_rate, 20),
    "symbolConfig": Endpoint(reads.symbol_config, 5),
    "batchOrders.place": Endpoint(batch.place_batch, 5, counts_order=True),
    "batchOrders.modify": Endpoint(batch.modify_batch, 5, counts_order=True),
    "batchOrders.cancel": Endpoint(batch.cancel_batch, 1),
    "countdownCancelAll": Endpoint(batch.countdown, 10),
}
ENDPOINTS["v2/account.balance"] = ENDPOINTS["account.balance"]

#: WS API method -> endpoint (protocol notes 1.4). session.* are handled by the connection itself.
WS_METHODS: dict[str, str] = {
    m: m
    for m in (
        "order.place",
        "order.modify",
        "order.cancel",
        "order.status",
        "algoOrder.place",
        "algoOrder.cancel",
        "account.position",
        "v2/account.position",
        "account.status",
        "v2/account.status",
        "account.balance",
        "v2/account.balance",
        "ticker.price",
        "ticker.book",
        "userDataStream.start",
        "userDataStream.ping",
        "userDataStream.stop",
        "depth",
    )
}

#: REST route -> endpoint (same paths as Binance; ``/fapi/v3`` forms as ccxt uses them).
REST_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/fapi/v1/ping"): "ping",
    ("GET", "/fapi/v1/time"): "time",
    ("GET", "/fapi/v1/exchangeInfo"): "exchangeInfo",
    ("GET", "/fapi/v1/premiumIndex"): "premiumIndex",
    ("GET", "/fapi/v1/depth"): "depth",
    ("GET", "/fapi/v1/ticker/bookTicker"): "ticker.book",
    ("GET", "/fapi/v1/ticker/price"): "ticker.price.v1",
    ("GET", "/fapi/v2/ticker/price"): "ticker.price",
    ("GET", "/fapi/v1/leverageBracket"): "leverageBracket",
    ("GET", "/fapi/v1/positionSide/dual"): "positionSide.get",
    ("POST", "/fapi/v1/positionSide/dual"): "positionSide.set",
    ("POST", "/fapi/v1/leverage"): "leverage",
    ("POST", "/fapi/v1/marginType"): "marginType",
    ("POST", "/fapi/v1/listenKey"): "userDataStream.start",
    ("PUT", "/fapi/v1/listenKey"): "userDataStream.ping",
    ("DELETE", "/fapi/v1/listenKey"): "userDataStream.stop",
    ("POST", "/fapi/v1/order"): "order.place",
    ("PUT", "/fapi/v1/order"): "order.modify",
    ("GET", "/fapi/v1/order"): "order.status",
    ("DELETE", "/fapi/v1/order"): "order.cancel",
    ("GET", "/fapi/v1/openOrders"): "openOrders",
    ("DELETE", "/fapi/v1/allOpenOrders"): "allOpenOrders.cancel",
    ("POST", "/fapi/v1/algoOrder"): "algoOrder.place",
    ("GET", "/fapi/v1/algoOrder"): "algoOrder.status",
    ("DELETE", "/fapi/v1/algoOrder"): "algoOrder.cancel",
    ("GET", "/fapi/v1/openAlgoOrders"): "openAlgoOrders",
    ("DELETE", "/fapi/v1/algoOpenOrders"): "algoOpenOrders.cancel",
    ("GET", "/fapi/v2/positionRisk"): "account.position",
    ("GET", "/fapi/v3/positionRisk"): "v2/account.position",
    ("GET", "/fapi/v2/account"): "account.status",
    ("GET", "/fapi/v3/account"): "v2/account.status",
    ("GET", "/fapi/v2/balance"): "account.balance",
    ("GET", "/fapi/v3/balance"): "account.balance",
    ("GET", "/fapi/v1/ticker/24hr"): "ticker.24hr",
    ("GET", "/fapi/v1/klines"): "klines",
    ("GET", "/fapi/v1/trades"): "trades",
    ("GET", "/fapi/v1/aggTrades"): "aggTrades",
    ("GET", "/fapi/v1/allOrders"): "allOrders",
    ("GET", "/fapi/v1/allAlgoOrders"): "allAlgoOrders",
    ("GET", "/fapi/v1/openOrder"): "openOrder",
    ("GET", "/fapi/v1/userTrades"): "userTrades",
    ("GET", "/fapi/v1/income"): "income",
    ("GET", "/fapi/v1/commissionRate"): "commissionRate",
    ("GET", "/fapi/v1/symbolConfig"): "symbolConfig",
    ("POST", "/fapi/v1/batchOrders"): "batchOrders.place",
    ("PUT", "/fapi/v1/batchOrders"): "batchOrders.modify",
    ("DELETE", "/fapi/v1/batchOrders"): "batchOrders.cancel",
    ("POST", "/fapi/v1/countdownCancelAll"): "countdownCancelAll",
}
