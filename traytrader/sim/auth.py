"""Signature and timestamp checks, written independently of ``core.signing``.

Rules (docs/binance-usdm-protocol.md sections 1.5-1.7 and 2.1):

* WS API: payload = every param except ``signature``, sorted by name, ``k=v`` joined by ``&`` with the
  values as sent. The official SDK percent-encodes the values (``urlencode``); the docs' sample does
  not. Both forms are accepted (UNCONFIRMED which one Binance verifies; see the protocol notes).
* REST: payload = query string + request body exactly as sent, minus the trailing ``signature``.
* HMAC-SHA256 hex, compared case-insensitively; Ed25519 base64 of the 64-byte signature.
* ``timestamp < now + 1000`` and ``now - timestamp <= recvWindow`` (default 5000). recvWindow above
  60000 is refused with -1130 (the futures maximum is UNCONFIRMED; spot's is 60000).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from decimal import Decimal
from urllib.parse import quote, unquote, urlencode

from cryptography.exceptions import InvalidSignature

from traytrader.sim.accounts import AccountSpec
from traytrader.sim.errors import SimError, err, missing

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000


def _text(v: object, python_bools: bool = False) -> str:
    if isinstance(v, bool):
        return ("True" if v else "False") if python_bools else ("true" if v else "false")
    if v is None:
        return ""
    return str(v)


def ws_payloads(params: dict) -> Iterator[str]:
    """The signed-payload strings a client may have produced for these WS params, best guess first.

    A generator: ``verify`` stops at the first match, so the usual raw form costs one join and the
    percent-encoded variants are built only for a signature that did not match it.
    """
    items = sorted((k, v) for k, v in params.items() if k != "signature")
    raw = "&".join(f"{k}={_text(v)}" for k, v in items)
    yield raw
    enc = urlencode([(k, _text(v)) for k, v in items])
    if enc != raw:
        yield enc
    if any(isinstance(v, bool) for _, v in items):
        yield urlencode([(k, _text(v, True)) for k, v in items])


def split_rest_signature(query: str, body: str) -> tuple[list[str], str | None]:
    """Payload candidates and the signature from a REST request's raw query string and body."""
    sig = None
    parts_q = [p for p in query.split("&") if p] if query else []
    parts_b = [p for p in body.split("&") if p] if body else []
    for parts in (parts_q, parts_b):
        for i, p in enumerate(parts):
            if p.startswith("signature="):
                sig = unquote(p[len("signature=") :])
                del parts[i]
                break
    q, b = "&".join(parts_q), "&".join(parts_b)
    cands = [q + b] if not (q and b) else [q + b, q + "&" + b]
    more = [unquote(c) for c in cands if unquote(c) != c]
    return cands + more, sig


def verify(account: AccountSpec, payloads: Iterable[str], signature: str) -> bool:
    """True when ``signature`` signs any of ``payloads`` with the account's key."""
    if account.hmac_secret is not None:
        key = account.hmac_secret.encode()
        sig = signature.lower()
        return any(
            hmac.compare_digest(hmac.new(key, p.encode(), hashlib.sha256).hexdigest(), sig) for p in payloads
        )
    pub = account.ed25519_public_key
    if pub is None:
        return False
    try:
        raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        return False
    for p in payloads:
        try:
            pub.verify(raw, p.encode())
            return True
        except InvalidSignature:
            continue
    return False


def to_int(value: object, name: str) -> int:
    """An INT parameter: a JSON integer or a string of digits; anything else is -1102."""
    if isinstance(value, bool):
        raise missing(name)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise missing(name)


def check_timestamp(params: dict, now_ms: int) -> None:
    """Raise -1102/-1130/-1021 unless ``timestamp``/``recvWindow`` pass Binance's timing rule."""
    if params.get("timestamp") in (None, ""):
        raise missing("timestamp")
    ts = to_int(params["timestamp"], "timestamp")
    rw = DEFAULT_RECV_WINDOW
    if params.get("recvWindow") not in (None, ""):
        try:
            rw = to_int(params["recvWindow"], "recvWindow")
        except SimError:
            raise err(-1130, "recvWindow") from None
        if rw <= 0 or rw > MAX_RECV_WINDOW:
            raise err(-1130, "recvWindow")
    if ts >= now_ms + 1000:
        raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - ts > rw:
        raise err(-1021)


def quote_value(v: str) -> str:
    return quote(v, safe="")
