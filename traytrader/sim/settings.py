"""Account settings and listen keys of the pure exchange: leverage, margin type, position mode.

Rules and texts from the protocol notes section 6 (REST-only settings) and section 8 (listenKey:
valid 60 minutes, extended by keepalive; POST returns the active key).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from traytrader.sim import payloads as P
from traytrader.sim.errors import err, missing
from traytrader.sim.market import SymbolSpec
from traytrader.sim.state import Account
from traytrader.sim.validation import boolean, known_symbol, text

LISTEN_KEY_MS = 60 * 60 * 1000


class SettingsMixin:
    """Mixed into :class:`~traytrader.sim.exchange.Exchange`, which provides these attributes."""

    accounts: dict[str, Account]
    specs: dict[str, SymbolSpec]
    listen_keys: dict[str, tuple[str, int]]
    _rng: random.Random

    _emit: Callable[[Account, dict], None]

    def set_leverage(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        sym = known_symbol(p, self.specs)
        raw = text(p, "leverage")
        if raw is None:
            raise missing("leverage")
        spec = self.specs[sym]
        if not raw.isdigit() or not 1 <= int(raw) <= spec.max_leverage:
            raise err(-4028, raw)
        lev = int(raw)
        acct.leverage[sym] = lev
        self._emit(acct, {"e": "ACCOUNT_CONFIG_UPDATE", "E": now_ms, "T": now_ms, "ac": {"s": sym, "l": lev}})
        return {"leverage": lev, "maxNotionalValue": P.plain(spec.max_notional_for(lev)), "symbol": sym}

    def set_margin_type(self, api_key: str, p: dict, now_ms: int) -> dict:
        acct = self.accounts[api_key]
        sym = known_symbol(p, self.specs)
        mt = text(p, "marginType")
        if mt is None:
            raise missing("marginType")
        mt = mt.upper()
        if mt not in ("ISOLATED", "CROSSED"):
            raise err(-1130, "marginType")
        if acct.isolated.get(sym, False) == (mt == "ISOLATED"):
            raise err(-4046)
        if any(o.symbol == sym for o in acct.open_orders.values()) or any(
            a.symbol == sym for a in acct.open_algos.values()
        ):
            raise err(-4047)
        if any(pos.symbol == sym and pos.amount for pos in acct.positions.values()):
            raise err(-4048)
        acct.isolated[sym] = mt == "ISOLATED"
        return {"code": 200, "msg": "success"}

    def set_position_mode(self, api_key: str, p: dict) -> dict:
        acct = self.accounts[api_key]
        if p.get("dualSidePosition") in (None, ""):
            raise missing("dualSidePosition")
        hedge = boolean(p, "dualSidePosition")
        if hedge == acct.hedge:
            raise err(-4059)
        if acct.open_orders or acct.open_algos:
            raise err(-4067)
        if any(pos.amount for pos in acct.positions.values()):
            raise err(-4068)
        acct.hedge = bool(hedge)
        return {"code": 200, "msg": "success"}

    # ----------------------------------------------------------------------------- listen keys
    def start_listen_key(self, api_key: str, now_ms: int) -> str:
        """The account's active listenKey, extended by 60 min, or a new one."""
        for key, (owner, exp) in self.listen_keys.items():
            if owner == api_key and exp > now_ms:
                self.listen_keys[key] = (owner, now_ms + LISTEN_KEY_MS)
                return key
        key = "".join(self._rng.choices(string.ascii_letters + string.digits, k=64))
        self.listen_keys[key] = (api_key, now_ms + LISTEN_KEY_MS)
        return key

    def keepalive_listen_key(self, api_key: str, now_ms: int, key: str | None = None) -> str:
        for k, (owner, exp) in self.listen_keys.items():
            if owner == api_key and exp > now_ms and (key is None or key == k):
                self.listen_keys[k] = (owner, now_ms + LISTEN_KEY_MS)
                return k
        raise err(-1125)

    def close_listen_key(self, api_key: str, key: str | None = None) -> None:
        for k in [k for k, (owner, _) in self.listen_keys.items() if owner == api_key and key in (None, k)]:
            del self.listen_keys[k]

    def listen_key_owner(self, key: str, now_ms: int) -> str | None:
        owner, exp = self.listen_keys.get(key, ("", 0))
        return owner if exp > now_ms else None

    def expire_listen_keys(self, now_ms: int, force: bool = False) -> list[str]:
        """Drop lapsed keys (all keys when ``force``); return them."""
        gone = [k for k, (_, exp) in self.listen_keys.items() if force or exp <= now_ms]
        for k in gone:
            del self.listen_keys[k]
        return gone
