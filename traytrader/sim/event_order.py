"""In which order a fill's user-data events go out, and whether the WS API reply precedes them.

A client must not depend on one order: Binance does not document it and live captures differ. Each
order (an ``ORDER_TRADE_UPDATE x=NEW`` followed by fills) gets one of the orders below, chosen from
the seed per order when the mode is ``random``; each fill then sends its three events in that order.

=============  ======================================================  ==================================
name           events of an order filled at once                       where it was seen
=============  ======================================================  ==================================
classic        OTU NEW, TRADE_LITE, ACCOUNT_UPDATE, OTU TRADE          the simulator's order before
                                                                       issue 13 (TRADE_LITE, the
                                                                       low-latency event, ahead of the
                                                                       full update it abbreviates)
lite-first     TRADE_LITE, OTU NEW, ACCOUNT_UPDATE, OTU TRADE          production capture of 2026-02-23
                                                                       (SOLUSDT MARKET: TRADE_LITE,
                                                                       then NEW, then ACCOUNT_UPDATE,
                                                                       all with the same E)
trade-first    OTU NEW, OTU TRADE, TRADE_LITE, ACCOUNT_UPDATE          capture of 2025-03-21 (BTCUSDT
                                                                       MARKET: TRADE/FILLED, then
                                                                       TRADE_LITE, then ACCOUNT_UPDATE)
=============  ======================================================  ==================================

A later fill of a resting order (no NEW in the same burst) sends its three events in the same
relative order. Reply order: ``before`` (the WS API reply, then the events), ``after`` (the events,
then the reply) or ``random`` (seeded per request). Over ``--latency`` the two travel on different
connections and may swap regardless.
"""

from __future__ import annotations

import random

#: Per fill: the order of (TRADE_LITE, ACCOUNT_UPDATE, ORDER_TRADE_UPDATE TRADE); "lite-first" also
#: puts the first fill's TRADE_LITE ahead of the order's NEW.
FILL_ORDERS: dict[str, tuple[str, str, str]] = {
    "classic": ("TRADE_LITE", "ACCOUNT_UPDATE", "TRADE"),
    "lite-first": ("TRADE_LITE", "ACCOUNT_UPDATE", "TRADE"),
    "trade-first": ("TRADE", "TRADE_LITE", "ACCOUNT_UPDATE"),
}
EVENT_ORDER_MODES = (*FILL_ORDERS, "random")
REPLY_ORDER_MODES = ("before", "after", "random")


class EventOrder:
    """Seeded choices of event order (per order) and reply order (per request)."""

    def __init__(self, events: str = "classic", reply: str = "before", seed: int = 0) -> None:
        if events not in EVENT_ORDER_MODES:
            raise ValueError(f"event order must be one of {', '.join(EVENT_ORDER_MODES)}.")
        if reply not in REPLY_ORDER_MODES:
            raise ValueError(f"reply order must be one of {', '.join(REPLY_ORDER_MODES)}.")
        self.events = events
        self.reply = reply
        self._rng = random.Random(seed * 4099 + 5)
        self._names = tuple(FILL_ORDERS)

    def pick(self) -> str:
        """The event order of one new order."""
        if self.events != "random":
            return self.events
        return self._names[self._rng.randrange(len(self._names))]

    def reply_first(self) -> bool:
        """Whether this request's WS API reply goes out before the events it caused."""
        if self.reply != "random":
            return self.reply == "before"
        return self._rng.random() < 0.5
