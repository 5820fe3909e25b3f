"""Read-only views of the exchange: positionRisk, account, balance, tickers and ``/sim/state``."""

from __future__ import annotations

from decimal import Decimal

from traytrader.sim.exchange import TAKER_FEE, Exchange
from traytrader.sim.payloads import at_least, break_even, fixed, plain
from traytrader.sim.state import ZERO, Account, AlgoOrder, Order, Position


def _sides(acct: Account) -> tuple[str, ...]:
    return ("LONG", "SHORT") if acct.hedge else ("BOTH",)


def _positions(ex: Exchange, acct: Account, symbol: str | None, only_active: bool) -> list[Position]:
    out = []
    for sym in ex.specs:
        if symbol is not None and sym != symbol:
            continue
        for ps in _sides(acct):
            pos = acct.positions.get((sym, ps)) or Position(sym, ps)
            has_orders = any(o.symbol == sym for o in acct.open_orders.values())
            if only_active and not pos.amount and not has_orders:
                continue
            out.append(pos)
    return out


def position_risk(ex: Exchange, api_key: str, symbol: str | None, version: int) -> list[dict]:
    """``GET /fapi/v2/positionRisk`` (version 2, every symbol) or v3 (only active ones)."""
    acct = ex.accounts[api_key]
    rows = []
    for pos in _positions(ex, acct, symbol, only_active=version >= 3):
        spec, mark = ex.specs[pos.symbol], ex.quotes[pos.symbol].mark
        lev = acct.leverage.get(pos.symbol, 20)
        iso = acct.isolated.get(pos.symbol, False)
        notional = pos.amount * mark
        upnl = pos.amount * (mark - pos.entry)
        iw = abs(pos.amount) * pos.entry / lev if iso and pos.amount else ZERO
        common = {
            "symbol": pos.symbol,
            "positionSide": pos.position_side,
            "positionAmt": plain(pos.amount),
            "entryPrice": plain(pos.entry),
            "breakEvenPrice": plain(break_even(pos, TAKER_FEE)),
            "markPrice": fixed(mark, 8),
            "unRealizedProfit": fixed(upnl, 8),
            "liquidationPrice": "0",
            "isolatedMargin": fixed(iw + (upnl if iso else ZERO), 8),
            "notional": plain(notional),
            "isolatedWallet": plain(iw),
            "updateTime": pos.update_ms,
        }
        if version >= 3:
            im = abs(notional) / lev
            common.update(
                {
                    "marginAsset": "USDT",
                    "initialMargin": plain(im),
                    "maintMargin": plain(abs(notional) * spec.maint_ratio(abs(notional))),
                    "positionInitialMargin": plain(im),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                }
            )
        else:
            common.update(
                {
                    "marginType": "isolated" if iso else "cross",
                    "isAutoAddMargin": "false",
                    "leverage": str(lev),
                    "maxNotionalValue": plain(spec.max_notional_for(lev)),
                }
            )
        rows.append(common)
    return rows


def account_info(ex: Exchange, api_key: str, version: int) -> dict:
    """``GET /fapi/v2|v3/account`` and ``account.status``."""
    acct = ex.accounts[api_key]
    m = ex.margin(acct)
    wb = acct.wallet
    f8 = lambda d: fixed(d, 8)  # noqa: E731
    asset = {
        "asset": "USDT",
        "walletBalance": f8(wb),
        "unrealizedProfit": f8(m["upnl"]),
        "marginBalance": f8(wb + m["upnl"]),
        "maintMargin": f8(m["maint"]),
        "initialMargin": f8(m["pos_im"] + m["ord_im"]),
        "positionInitialMargin": f8(m["pos_im"]),
        "openOrderInitialMargin": f8(m["ord_im"]),
        "maxWithdrawAmount": f8(m["available"]),
        "crossWalletBalance": f8(wb),
        "crossUnPnl": f8(m["upnl"]),
        "availableBalance": f8(m["available"]),
        "marginAvailable": True,
        "updateTime": acct.update_ms,
    }
    positions = []
    for pos in _positions(ex, acct, None, only_active=version >= 3):
        mark = ex.quotes[pos.symbol].mark
        lev = acct.leverage.get(pos.symbol, 20)
        notional = pos.amount * mark
        row = {
            "symbol": pos.symbol,
            "positionSide": pos.position_side,
            "positionAmt": plain(pos.amount),
            "unrealizedProfit": f8(pos.amount * (mark - pos.entry)),
            "isolatedMargin": "0",
            "notional": plain(notional),
            "isolatedWallet": "0",
            "initialMargin": plain(abs(notional) / lev),
            "maintMargin": "0",
            "updateTime": pos.update_ms,
        }
        if version < 3:
            row.update(
                {
                    "positionInitialMargin": plain(abs(notional) / lev),
                    "openOrderInitialMargin": "0",
                    "leverage": str(lev),
                    "isolated": acct.isolated.get(pos.symbol, False),
                    "entryPrice": plain(pos.entry),
                    "breakEvenPrice": plain(break_even(pos, TAKER_FEE)),
                    "maxNotional": plain(ex.specs[pos.symbol].max_notional_for(lev)),
                    "bidNotional": "0",
                    "askNotional": "0",
                }
            )
        positions.append(row)
    body: dict = {}
    if version < 3:
        body.update(
            {
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "feeBurn": True,
                "tradeGroupId": -1,
                "updateTime": 0,
                "multiAssetsMargin": False,
            }
        )
    body.update(
        {
            "totalInitialMargin": f8(m["pos_im"] + m["ord_im"]),
            "totalMaintMargin": f8(m["maint"]),
            "totalWalletBalance": f8(wb),
            "totalUnrealizedProfit": f8(m["upnl"]),
            "totalMarginBalance": f8(wb + m["upnl"]),
            "totalPositionInitialMargin": f8(m["pos_im"]),
            "totalOpenOrderInitialMargin": f8(m["ord_im"]),
            "totalCrossWalletBalance": f8(wb),
            "totalCrossUnPnl": f8(m["upnl"]),
            "availableBalance": f8(m["available"]),
            "maxWithdrawAmount": f8(m["available"]),
            "assets": [asset],
            "positions": positions,
        }
    )
    return body


def balances(ex: Exchange, api_key: str) -> list[dict]:
    acct = ex.accounts[api_key]
    m = ex.margin(acct)
    return [
        {
            "accountAlias": "SimAccount",
            "asset": "USDT",
            "balance": fixed(acct.wallet, 8),
            "crossWalletBalance": fixed(acct.wallet, 8),
            "crossUnPnl": fixed(m["upnl"], 8),
            "availableBalance": fixed(m["available"], 8),
            "maxWithdrawAmount": fixed(m["available"], 8),
            "marginAvailable": True,
            "updateTime": acct.update_ms,
        }
    ]


def book_ticker(ex: Exchange, symbol: str) -> dict:
    q, spec = ex.quotes[symbol], ex.specs[symbol]
    pp = spec.price_precision
    bid_qty, ask_qty = ex.touch_qty(symbol)
    return {
        "symbol": symbol,
        "bidPrice": at_least(q.bid, pp),
        "bidQty": fixed(bid_qty, spec.quantity_precision),
        "askPrice": at_least(q.ask, pp),
        "askQty": fixed(ask_qty, spec.quantity_precision),
        "time": q.time_ms,
        "lastUpdateId": q.update_id,
    }


def price_ticker(ex: Exchange, symbol: str) -> dict:
    q = ex.quotes[symbol]
    return {"symbol": symbol, "price": at_least(q.last, ex.specs[symbol].price_precision), "time": q.time_ms}


def premium_index(ex: Exchange, symbol: str, now_ms: int) -> dict:
    q = ex.quotes[symbol]
    eight_h = 8 * 3600 * 1000
    index = ex.index_price(symbol)
    return {
        "symbol": symbol,
        "markPrice": fixed(q.mark, 8),
        "indexPrice": fixed(index, 8),
        "estimatedSettlePrice": fixed(index, 8),
        "lastFundingRate": fixed(ex.funding_rate(symbol), 8),
        "interestRate": "0.00010000",
        "nextFundingTime": ex.next_funding_ms or (now_ms // eight_h + 1) * eight_h,
        "time": now_ms,
    }


def _dec(d: Decimal | None) -> str | None:
    return None if d is None else plain(d)


def state(ex: Exchange, api_key: str | None = None, since_ms: int = 0, with_orders: bool = True) -> dict:
    """The ``GET /sim/state`` document (see docs/sim.md); ``orders`` filtered by account and age."""
    accounts = []
    for acct in ex.accounts.values():
        m = ex.margin(acct)
        accounts.append(
            {
                "apiKey": acct.api_key,
                "positionMode": "hedge" if acct.hedge else "one-way",
                "walletBalance": plain(acct.wallet),
                "availableBalance": plain(m["available"]),
                "unrealizedProfit": plain(m["upnl"]),
                "leverage": dict(acct.leverage),
                "marginType": {s: "ISOLATED" for s, v in acct.isolated.items() if v},
                "positions": [
                    {
                        "symbol": p.symbol,
                        "positionSide": p.position_side,
                        "positionAmt": plain(p.amount),
                        "entryPrice": plain(p.entry),
                        "realizedPnl": plain(p.realized),
                    }
                    for p in acct.positions.values()
                    if p.amount
                ],
                "openOrders": sorted(acct.open_orders),
                "openAlgoOrders": sorted(acct.open_algos),
            }
        )
    orders: list[dict] = []

    def wanted(rec: Order | AlgoOrder) -> bool:
        return with_orders and rec.create_ms >= since_ms and api_key in (None, rec.api_key)

    for o in filter(wanted, ex.orders.values()):
        orders.append(
            {
                "kind": "order",
                "apiKey": o.api_key,
                "orderId": o.order_id,
                "clientOrderId": o.client_id,
                "symbol": o.symbol,
                "side": o.side,
                "positionSide": o.position_side,
                "type": o.type,
                "quantity": plain(o.quantity),
                "price": plain(o.price),
                "status": o.status,
                "executedQty": plain(o.executed),
                "avgPrice": plain(o.avg_price),
                "reduceOnly": o.reduce_only,
                "algoId": o.algo_id,
                "createTime": o.create_ms,
                "updateTime": o.update_ms,
            }
        )
    for a in filter(wanted, ex.algos.values()):
        orders.append(
            {
                "kind": "algo",
                "apiKey": a.api_key,
                "algoId": a.algo_id,
                "clientAlgoId": a.client_id,
                "symbol": a.symbol,
                "side": a.side,
                "positionSide": a.position_side,
                "type": a.type,
                "quantity": _dec(a.quantity),
                "price": plain(a.price),
                "triggerPrice": plain(a.trigger_price),
                "activatePrice": _dec(a.activate_price),
                "callbackRate": _dec(a.callback_rate),
                "workingType": a.working_type,
                "closePosition": a.close_position,
                "reduceOnly": a.reduce_only,
                "status": a.status,
                "activated": a.activated,
                "actualOrderId": a.actual_order_id,
                "createTime": a.create_ms,
                "updateTime": a.update_ms,
                "triggerTime": a.trigger_ms,
            }
        )
    orders.sort(key=lambda r: (r["createTime"], r.get("orderId") or 0, r.get("algoId") or 0))
    quotes = {
        s: {"last": plain(q.last), "mark": plain(q.mark), "bid": plain(q.bid), "ask": plain(q.ask)}
        for s, q in ex.quotes.items()
    }
    return {"accounts": accounts, "quotes": quotes, "orders": orders, "acceptedOrders": ex.accepted_orders}
