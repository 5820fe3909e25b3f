"""WebSocket API frames parse back to JSON, carry the right fields, and their signatures verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from traytrader.core.frames import FrameBuilder, plain_frame
from traytrader.core.models import ApiCredentials, KeyType

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
PEM = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
       "-----END PRIVATE KEY-----\n")
PUBLIC = Ed25519PublicKey.from_public_bytes(
    bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
HMAC_KEY = ApiCredentials("h", KeyType.HMAC, API_KEY, SECRET)
ED_KEY = ApiCredentials("e", KeyType.ED25519, API_KEY, PEM)

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "52000",
         "timeInForce": "GTC", "newClientOrderId": "tt-mifgd3qt-ab12-1"}


def reference_payload(params: dict[str, object]) -> str:
    """Written independently of core.signing: sorted, k=v, '&', bools lower case."""
    def text(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)
    return "&".join(f"{k}={text(v)}" for k, v in sorted(params.items()) if k != "signature")


def hmac_ok(params: dict[str, object]) -> bool:
    expected = hmac.new(SECRET.encode(), reference_payload(params).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, str(params["signature"]).lower())


def ed_ok(params: dict[str, object]) -> bool:
    PUBLIC.verify(base64.b64decode(str(params["signature"])), reference_payload(params).encode())
    return True


def test_hmac_frame_parses_and_verifies() -> None:
    frame = FrameBuilder(HMAC_KEY, recv_window=5000).build("r1", "order.place", ORDER, 1700000000000)
    message = json.loads(frame)
    assert list(message) == ["id", "method", "params"]
    assert message["id"] == "r1"
    assert message["method"] == "order.place"
    params = message["params"]
    assert params["apiKey"] == API_KEY
    assert params["timestamp"] == 1700000000000  # a JSON integer, as Binance expects
    assert params["recvWindow"] == 5000
    assert {k: params[k] for k in ORDER} == ORDER
    assert list(params)[-1] == "signature"
    assert hmac_ok(params)


def test_hmac_keys_always_sign_even_if_marked_logged_on() -> None:
    builder = FrameBuilder(HMAC_KEY, logged_on=True)
    assert not builder.supports_logon
    assert builder.signs_each_request
    params = json.loads(builder.build("r", "order.place", ORDER, 1))["params"]
    assert "recvWindow" not in params
    assert hmac_ok(params)
    with pytest.raises(ValueError, match="Ed25519"):
        builder.logon_frame("l", 1)


def test_ed25519_before_logon_signs_each_request() -> None:
    builder = FrameBuilder(ED_KEY, recv_window=3000)
    assert builder.key_type is KeyType.ED25519
    params = json.loads(builder.build("r", "order.place", ORDER, 1700000000000))["params"]
    assert params["apiKey"] == API_KEY
    assert ed_ok(params)


def test_ed25519_after_logon_sends_only_timestamp() -> None:
    builder = FrameBuilder(ED_KEY, recv_window=3000, logged_on=True)
    assert not builder.signs_each_request
    params = json.loads(builder.build("r", "order.place", ORDER, 1700000000000))["params"]
    assert params == {**ORDER, "timestamp": 1700000000000, "recvWindow": 3000}
    builder.logged_on = False  # reconnect: back to signing every request
    assert "signature" in json.loads(builder.build("r", "order.place", ORDER, 1))["params"]


def test_logon_frame_matches_the_self_generated_vector() -> None:
    frame = json.loads(FrameBuilder(ED_KEY).logon_frame("logon-1", 1649729878532))
    assert frame == {"id": "logon-1", "method": "session.logon", "params": {
        "apiKey": API_KEY, "timestamp": 1649729878532,
        "signature": "763GJeFgG09B/06V/dq24cLu6f0R57whgDMyOCubDex4CTTElmDgPSIQqLdOsvW5TBxyaaFotVCI8tUmQMC"
                     "hAA=="}}


def test_logon_frame_with_recv_window_verifies() -> None:
    params = json.loads(FrameBuilder(ED_KEY, recv_window=5000).logon_frame("l", 5))["params"]
    assert params["recvWindow"] == 5000
    assert ed_ok(params)


def test_explicit_recv_window_param_wins() -> None:
    params = json.loads(FrameBuilder(HMAC_KEY, recv_window=5000).build(
        "r", "order.status", {"symbol": "BTCUSDT", "recvWindow": 100}, 9))["params"]
    assert params["recvWindow"] == 100
    assert hmac_ok(params)


@pytest.mark.parametrize("reserved", ["apiKey", "timestamp", "signature"])
def test_reserved_params_are_refused(reserved: str) -> None:
    with pytest.raises(ValueError, match=reserved):
        FrameBuilder(HMAC_KEY).build("r", "order.place", {reserved: "x"}, 1)


def test_int_bool_and_decimal_params() -> None:
    params = json.loads(FrameBuilder(HMAC_KEY).build(
        "r", "order.status", {"orderId": 325078477, "flag": True, "qty": Decimal("1E+1")}, 1))["params"]
    assert params["orderId"] == 325078477
    assert params["flag"] is True
    assert params["qty"] == "10"
    assert hmac_ok(params)


def test_keyed_and_plain_frames() -> None:
    builder = FrameBuilder(HMAC_KEY)
    assert json.loads(builder.build_keyed("k", "userDataStream.start")) == {
        "id": "k", "method": "userDataStream.start", "params": {"apiKey": API_KEY}}
    assert json.loads(plain_frame("p", "session.status")) == {"id": "p", "method": "session.status"}
    assert json.loads(plain_frame("p", "ticker.book", {"symbol": "BTCUSDT"})) == {
        "id": "p", "method": "ticker.book", "params": {"symbol": "BTCUSDT"}}


text_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@given(request_id=text_values, value=text_values, key_type=st.sampled_from([KeyType.HMAC, KeyType.ED25519]))
def test_any_string_survives_json_and_signature(request_id: str, value: str, key_type: KeyType) -> None:
    credentials = HMAC_KEY if key_type is KeyType.HMAC else ED_KEY
    message = json.loads(FrameBuilder(credentials).build(request_id, "order.place",
                                                          {"newClientOrderId": value, "symbol": "X"}, 7))
    assert message["id"] == request_id
    assert message["params"]["newClientOrderId"] == value
    assert hmac_ok(message["params"]) if key_type is KeyType.HMAC else ed_ok(message["params"])


def test_same_signature_as_the_official_sdk() -> None:
    """binance_common's websocket_api_signature (what the SDK sends) agrees for our alphabet."""
    from binance_common.utils import websocket_api_signature

    config = SimpleNamespace(api_key=API_KEY, api_secret=SECRET, private_key=None)
    sdk = websocket_api_signature(config, {**ORDER, "timestamp": 1700000000000})
    ours = json.loads(FrameBuilder(HMAC_KEY).build("r", "order.place", ORDER, 1700000000000))["params"]
    assert ours == dict(sdk)


@pytest.mark.parametrize("recv_window", [0, -1, 60001])
def test_recv_window_outside_binance_range_is_refused(recv_window: int) -> None:
    with pytest.raises(ValueError, match="recvWindow"):
        FrameBuilder(HMAC_KEY, recv_window=recv_window)


def test_signer_is_shared_for_rest() -> None:
    builder = FrameBuilder(HMAC_KEY, recv_window=60000)
    assert builder.signer.sign("timestamp=1578963600000") == (
        "d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4")
