"""Exchange drift on purpose: the simulator made to differ from what traytrader assumes, the way
Binance has changed under clients before, so that ``traytrader selftest`` can be shown to catch it.

Control (``/sim/drift``, same JSON conventions as the other ``/sim/`` routes):

* ``GET /sim/drift``: the drifts in force.
* ``POST /sim/drift {"kind": ...}`` adds one; ``DELETE /sim/drift`` removes them all.

Kinds:

``algo_field``  ``{"rename": {"caid": "clientAlgoId"}}`` (that rename is the default): ALGO_UPDATE's
                ``o`` object carries the field under another name, as when Binance renames a field.
``no_algo``     the exchange as it was before the Algo Service migration of 2025-12-09, from the
                client's side: ``algoOrder.*`` and the ``/fapi/v1/algoOrder``, ``openAlgoOrders``,
                ``algoOpenOrders`` routes do not exist (unknown method, HTTP 404). Before the
                migration the order endpoint took conditional orders; the simulator does not model
                that and keeps answering -4120 there, which changes nothing for a client that
                places stops only on the Algo Service (traytrader never sends a stop to order.place).
``no_stream``   ``{"group": "public" | "market" | "private"}``: that stream group answers HTTP 404,
                as every group did before the 2026-04-23 split, or as a host that lacks it would.
``foreign_key`` every request that needs the API key is answered -2015, as Binance answers a key
                made in another environment (a testnet key on demo trading, or the other way round).
``hmac_logon``  ``session.logon`` is refused with -1022, as Binance refuses a logon whose API key is
                registered as an HMAC key (only Ed25519 keys may log on), though the key itself is known.

Hooks elsewhere are one line each: ``server.py`` (user events, stream groups, REST routes and key
checks), ``wsapi.py`` (methods and logon) and ``control.py`` (the route). Nothing here changes the
exchange's state: the account a drifted run trades on stays consistent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from traytrader.sim.errors import SimError, err

KINDS = ("algo_field", "no_algo", "no_stream", "foreign_key", "hmac_logon")
GROUPS = ("public", "market", "private")
_ALGO_ROUTES = (
    "algoOrder.place",
    "algoOrder.cancel",
    "algoOrder.status",
    "openAlgoOrders",
    "algoOpenOrders.cancel",
)


class BadDrift(Exception):
    """A control request that does not describe a drift (answered HTTP 400 with this sentence)."""


@dataclass
class Drift:
    renamed: dict[str, str] = field(default_factory=dict)  # ALGO_UPDATE.o field -> new name
    no_algo: bool = False
    missing_groups: set[str] = field(default_factory=set)
    foreign_key: bool = False
    hmac_logon: bool = False

    # -- control ----------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "algo_field": dict(self.renamed),
            "no_algo": self.no_algo,
            "no_stream": sorted(self.missing_groups),
            "foreign_key": self.foreign_key,
            "hmac_logon": self.hmac_logon,
        }

    def clear(self) -> None:
        self.renamed.clear()
        self.missing_groups.clear()
        self.no_algo = self.foreign_key = self.hmac_logon = False

    def add(self, body: Mapping[str, Any]) -> None:
        kind = body.get("kind")
        if kind not in KINDS:
            raise BadDrift(f"Unknown drift kind {kind!r}; use one of {', '.join(KINDS)}.")
        if kind == "algo_field":
            rename = body.get("rename", {"caid": "clientAlgoId"})
            if (
                not isinstance(rename, dict)
                or not rename
                or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in rename.items())
            ):
                raise BadDrift("'rename' must map field names to new names, e.g. {'caid': 'clientAlgoId'}.")
            self.renamed.update(rename)
        elif kind == "no_stream":
            group = body.get("group")
            if group not in GROUPS:
                raise BadDrift(f"'group' must be one of {', '.join(GROUPS)}.")
            self.missing_groups.add(str(group))
        else:
            setattr(self, kind, True)

    # -- hooks ------------------------------------------------------------------------------------
    def user_event(self, payload: Any) -> Any:
        """A user-data event as the drifted exchange sends it (a copy; the original is untouched)."""
        if not self.renamed or not isinstance(payload, dict) or payload.get("e") != "ALGO_UPDATE":
            return payload
        order = payload.get("o")
        if not isinstance(order, dict):
            return payload
        return {**payload, "o": {self.renamed.get(k, k): v for k, v in order.items()}}

    def refuses_group(self, group: str | None) -> bool:
        return group in self.missing_groups

    def hides_route(self, name: str | None) -> bool:
        """True for an endpoint the drifted exchange does not have (REST routes and WS methods)."""
        return self.no_algo and name in _ALGO_ROUTES

    def check_key(self, security: str) -> None:
        """Raise -2015 for a keyed request while the key is "from another environment"."""
        if self.foreign_key and security != "none":
            raise err(-2015, http_status=401)

    def check_logon(self) -> None:
        if self.foreign_key:
            raise err(-2015, http_status=401)
        if self.hmac_logon:
            raise err(-1022)

    def ws_refusal(self, method: str, security: str) -> SimError | None:
        """The refusal of one WS API request, or None (``security`` of its endpoint)."""
        if self.hides_route(method):
            return SimError(-1000, f"Unknown method '{method}'.")
        try:
            self.check_key(security)
        except SimError as exc:
            return exc
        return None


def control(drift: Drift, method: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``/sim/drift``: GET describes, POST adds one, DELETE clears. Raises ``BadDrift``."""
    if method == "POST":
        drift.add(body)
    elif method == "DELETE":
        drift.clear()
    elif method != "GET":
        raise BadDrift(f"/sim/drift takes GET, POST or DELETE, not {method}.")
    return {"drift": drift.describe()}
