"""WebSocket API frames, built and signed on the hot path: ``{"id","method","params"}`` as text.

Which requests carry what (protocol notes 1.5, 1.6):

* HMAC keys cannot ``session.logon``; every signed request carries ``apiKey``, ``timestamp`` and
  ``signature`` (plus ``recvWindow`` when configured).
* Ed25519 keys log on once per connection; after that a signed request carries only
  ``timestamp`` (and ``recvWindow``). Before logon they sign each request like HMAC keys.

The frame is assembled by hand (one sort, one join, C-level JSON string escaping) because this is
the step between a keypress and the socket. Strings are JSON-escaped, ints (``timestamp``,
``recvWindow``) are JSON integers as Binance expects, DECIMALs arrive as canonical strings.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Callable, Mapping

from traytrader.core.models import ApiCredentials, KeyType
from traytrader.core.signing import Ed25519Signer, HmacSigner, ParamValue, make_signer, param_text

_escape: Callable[[str], str] = json.encoder.encode_basestring  # C-accelerated JSON string quoting

_RESERVED = ("apiKey", "timestamp", "signature")

# Futures does not document a maximum recvWindow; spot and spot's session.logon cap it at 60000
# (protocol notes 1.7), so we never send more.
MAX_RECV_WINDOW_MS = 60_000


_KEY_JSON: dict[str, str] = {}   # param name -> its JSON text; names are few and fixed


def _key_json(key: str) -> str:
    text = _escape(key)
    if len(_KEY_JSON) < 256:
        _KEY_JSON[key] = text
    return text


def _json_value(value: ParamValue) -> str:
    if type(value) is str:
        return _escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _escape(param_text(value))


class FrameBuilder:
    """Builds signed WebSocket API frames for one API key on one connection.

    ``logged_on`` is the connection's state: set it to True after a successful ``session.logon``
    (Ed25519 only) and back to False on reconnect. For HMAC keys it is ignored: they always sign.
    """

    __slots__ = ("_api_key", "_escaped_key", "_signer", "logged_on", "recv_window")

    def __init__(self, credentials: ApiCredentials, recv_window: int | None = None,
                 logged_on: bool = False) -> None:
        if recv_window is not None and not 0 < recv_window <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recvWindow must be 1..{MAX_RECV_WINDOW_MS} ms, not {recv_window}.")
        self._signer = make_signer(credentials)
        self._api_key = credentials.api_key
        self._escaped_key = _escape(credentials.api_key)
        self.recv_window = recv_window
        self.logged_on = logged_on

    @property
    def signer(self) -> HmacSigner | Ed25519Signer:
        """The key's signer, for REST requests on the same key (``signing.sign_rest``)."""
        return self._signer

    @property
    def key_type(self) -> KeyType:
        return self._signer.key_type

    @property
    def supports_logon(self) -> bool:
        """Binance allows ``session.logon`` for Ed25519 keys only."""
        return self._signer.key_type is KeyType.ED25519

    @property
    def signs_each_request(self) -> bool:
        return not (self.logged_on and self.supports_logon)

    def build(self, request_id: str, method: str, params: Mapping[str, ParamValue], timestamp_ms: int) -> str:
        """A signed request (TRADE / USER_DATA methods such as ``order.place``)."""
        if "timestamp" in params or "apiKey" in params or "signature" in params:
            for name in _RESERVED:
                if name in params:
                    raise ValueError(f"{name!r} is added by the frame builder; do not pass it in params.")
        items = dict(params)
        items["timestamp"] = timestamp_ms
        if self.recv_window is not None and "recvWindow" not in items:
            items["recvWindow"] = self.recv_window
        keys = _KEY_JSON
        if not (self.logged_on and self._signer.key_type is KeyType.ED25519):
            items["apiKey"] = self._api_key
            # One pass over the sorted params builds both the signed query text and the JSON body.
            query: list[str] = []
            body: list[str] = []
            for key in sorted(items):
                value = items[key]
                if type(value) is str:   # nearly every value: skip two calls per param
                    query.append(key + "=" + value)
                    body.append((keys.get(key) or _key_json(key)) + ":" + _escape(value))
                else:
                    query.append(key + "=" + param_text(value))
                    body.append((keys.get(key) or _key_json(key)) + ":" + _json_value(value))
            signature = self._signer.sign("&".join(query))
            return (f'{{"id":{_escape(request_id)},"method":{_escape(method)},"params":{{{",".join(body)},'
                    f'"signature":"{signature}"}}}}')
        body_text = ",".join([f"{keys.get(key) or _key_json(key)}:{_json_value(value)}"
                              for key, value in items.items()])
        return f'{{"id":{_escape(request_id)},"method":{_escape(method)},"params":{{{body_text}}}}}'

    def template(self, method: str, fixed: Mapping[str, str], slots: tuple[str, ...]) -> FrameTemplate:
        """A frame for ``method`` whose ``fixed`` params are written in once; per request only the
        ``slots`` (string values, in this order), the id and the timestamp are filled in."""
        return FrameTemplate(self, method, fixed, slots)

    def logon_frame(self, request_id: str, timestamp_ms: int) -> str:
        """``session.logon``: signs ``apiKey``, ``timestamp`` (and ``recvWindow``). Ed25519 only."""
        if not self.supports_logon:
            raise ValueError("session.logon needs an Ed25519 key; HMAC keys sign every request instead.")
        items: dict[str, ParamValue] = {"apiKey": self._api_key, "timestamp": timestamp_ms}
        if self.recv_window is not None:
            items["recvWindow"] = self.recv_window
        ordered = sorted(items.items())
        signature = self._signer.sign("&".join(f"{key}={param_text(value)}" for key, value in ordered))
        body = ",".join(f"{_escape(key)}:{_json_value(value)}" for key, value in ordered)
        return (f'{{"id":{_escape(request_id)},"method":"session.logon","params":{{{body},'
                f'"signature":"{signature}"}}}}')

    def build_keyed(self, request_id: str, method: str,
                    params: Mapping[str, ParamValue] | None = None) -> str:
        """A request that needs the API key but no signature (``userDataStream.start/ping/stop``)."""
        items = dict(params or {})
        items["apiKey"] = self._api_key
        return plain_frame(request_id, method, items)


def _format_literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class FrameTemplate:
    """``FrameBuilder.build`` for one method and one set of param names, precomputed as two format
    strings (the signed query and the JSON body), so a request costs two ``str.format`` calls, the
    value escapes and the signature. Signed exactly as ``build`` signs: same sorted query, same
    text; the body lists the params in sorted order. Follows the builder's logon state at fill time.
    """

    __slots__ = ("_builder", "_plain", "_query", "_signed", "slots")

    def __init__(self, builder: FrameBuilder, method: str, fixed: Mapping[str, str],
                 slots: tuple[str, ...]) -> None:
        for name in (*fixed, *slots):
            if name in _RESERVED or name == "recvWindow":
                raise ValueError(f"{name!r} is added by the frame builder; do not pass it.")
        if set(fixed) & set(slots) or len(set(slots)) != len(slots):
            raise ValueError("A template param is either fixed or a slot, once.")
        self._builder = builder
        self.slots = slots
        # Format fields: {0} request id, {1..n} slots, {n+1} timestamp, {n+2} signature.
        count = len(slots)
        query_fields = {name: _format_literal(f"{name}={value}") for name, value in fixed.items()}
        body_fields = {name: _format_literal(f"{_key_json(name)}:{_escape(value)}")
                       for name, value in fixed.items()}
        for index, name in enumerate(slots):
            # The query takes the raw value ({index}); the body its JSON text ({index + 1}).
            query_fields[name] = _format_literal(f"{name}=") + f"{{{index}}}"
            body_fields[name] = _format_literal(f"{_key_json(name)}:") + f"{{{index + 1}}}"
        query_fields["timestamp"] = f"timestamp={{{count}}}"
        body_fields["timestamp"] = _format_literal(f"{_key_json('timestamp')}:") + f"{{{count + 1}}}"
        if builder.recv_window is not None:
            query_fields["recvWindow"] = f"recvWindow={builder.recv_window}"
            body_fields["recvWindow"] = _format_literal(f"{_key_json('recvWindow')}:{builder.recv_window}")
        plain_body = ",".join(body_fields[name] for name in sorted(body_fields))
        query_fields["apiKey"] = _format_literal(f"apiKey={builder._api_key}")
        body_fields["apiKey"] = _format_literal(f"{_key_json('apiKey')}:{builder._escaped_key}")
        names = sorted(query_fields)
        self._query = "&".join(query_fields[name] for name in names)
        head = _format_literal('{"id":') + "{0}" + _format_literal(f',"method":{_escape(method)},"params":{{')
        self._signed = (head + ",".join(body_fields[name] for name in names)
                        + _format_literal(',"signature":"') + f"{{{count + 2}}}" + _format_literal('"}}'))
        self._plain = head + plain_body + _format_literal("}}")

    def fill(self, request_id: str, values: tuple[str, ...], timestamp_ms: int) -> str:
        """The frame for these slot ``values`` (JSON-escaped here), signed unless logged on."""
        builder = self._builder
        if builder.logged_on and builder._signer.key_type is KeyType.ED25519:
            return self._plain.format(_escape(request_id), *map(_escape, values), timestamp_ms)
        signature = builder._signer.sign(self._query.format(*values, timestamp_ms))
        return self._signed.format(_escape(request_id), *map(_escape, values), timestamp_ms, signature)


def plain_frame(request_id: str, method: str, params: Mapping[str, ParamValue] | None = None) -> str:
    """An unsigned request (``ticker.book``, ``session.status``, ``depth``): no key, no signature."""
    if not params:
        return f'{{"id":{_escape(request_id)},"method":{_escape(method)}}}'
    body = ",".join(f"{_escape(key)}:{_json_value(value)}" for key, value in params.items())
    return f'{{"id":{_escape(request_id)},"method":{_escape(method)},"params":{{{body}}}}}'
