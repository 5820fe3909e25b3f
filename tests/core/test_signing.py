"""Signing against every reproducible vector in the protocol notes (section 2.2 and Appendix A)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType
from traytrader.core.signing import (
    Ed25519Signer,
    HmacSigner,
    canonical_payload,
    load_ed25519_private_key,
    make_signer,
    param_text,
    percent_encode,
    rest_query,
    sign_rest,
)

SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SPOT_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
FUTURES_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"

# RFC 8032 section 7.1, TEST 1.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_EMPTY_SIG = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f05"
    "95bbe24655141438e7a100b"
)
RFC8032_PKCS8_BODY = "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
RFC8032_SPKI_BODY = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8032_PEM = f"-----BEGIN PRIVATE KEY-----\n{RFC8032_PKCS8_BODY}\n-----END PRIVATE KEY-----\n"


# --- HMAC: the payloads exactly as printed in the docs ---------------------------------------------------

HMAC_VECTORS = [
    pytest.param(  # H1 spot REST
        SPOT_SECRET,
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
        "&timestamp=1499827319559",
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", id="H1"),
    pytest.param(  # H2 spot REST, non-ASCII symbol percent-encoded
        SPOT_SECRET,
        "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
        "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3", id="H2"),
    pytest.param(SPOT_SECRET, "timestamp=1578963600000",  # H3 signature-examples README
                 "d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4", id="H3"),
    pytest.param(  # H4 spot WS, sorted
        SPOT_SECRET,
        f"apiKey={SPOT_API_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT"
        "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT",
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24", id="H4"),
    pytest.param(  # H5 spot WS, non-ASCII raw UTF-8
        SPOT_SECRET,
        f"apiKey={SPOT_API_KEY}&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=１２３４５６"
        "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT",
        "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd", id="H5"),
    pytest.param(  # H6 futures REST examples 1 and 2
        FUTURES_SECRET,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000"
        "&timestamp=1591702613943",
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9", id="H6"),
    pytest.param(  # H7 futures example 3, reproducible only with the doc's stray space after 'timestamp='
        FUTURES_SECRET,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000"
        "&timestamp= 1591702613943",
        "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2", id="H7-typo"),
    pytest.param(  # H8 futures WS session.logon example (an HMAC signature despite the Ed25519 note)
        SPOT_SECRET, f"apiKey={SPOT_API_KEY}&timestamp=1649729878532",
        "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed", id="H8"),
]


@pytest.mark.parametrize(("secret", "payload", "expected"), HMAC_VECTORS)
def test_hmac_vectors(secret: str, payload: str, expected: str) -> None:
    signer = HmacSigner(secret)
    assert signer.sign(payload) == expected
    assert signer.sign(payload) == expected  # the precomputed key object is copied, not consumed


def test_h7_without_the_typo_does_not_match() -> None:
    payload = ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000"
               "&timestamp=1591702613943")
    assert HmacSigner(FUTURES_SECRET).sign(payload) != (
        "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2")


# --- the canonical WS payload rebuilds the sorted vectors from unsorted params ---------------------------


def test_canonical_payload_h4_from_unsorted_params() -> None:
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532,
              "apiKey": SPOT_API_KEY, "signature": "ignored"}
    payload = canonical_payload(params)
    assert payload == HMAC_VECTORS[3].values[1]
    assert HmacSigner(SPOT_SECRET).sign(payload) == (
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24")


def test_canonical_payload_h5_non_ascii_is_raw_utf8() -> None:
    params = {"symbol": "１２３４５６", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "1.00000000", "price": "0.10000000", "recvWindow": 5000,
              "timestamp": 1645423376532, "apiKey": SPOT_API_KEY}
    assert HmacSigner(SPOT_SECRET).sign(canonical_payload(params)) == (
        "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd")


def test_canonical_payload_h8_logon() -> None:
    payload = canonical_payload({"timestamp": 1649729878532, "apiKey": SPOT_API_KEY})
    assert HmacSigner(SPOT_SECRET).sign(payload) == (
        "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed")


def test_canonical_payload_values_exactly_as_sent() -> None:
    payload = canonical_payload(
        {"reduceOnly": True, "b": False, "qty": Decimal("1E+1"), "id": "a:b/c", "n": 7})
    # sorted by name (ASCII: upper case before lower case), bools as true/false, no percent-encoding
    assert payload == "b=false&id=a:b/c&n=7&qty=10&reduceOnly=true"


def test_param_text_refuses_floats() -> None:
    with pytest.raises(TypeError):
        param_text(0.1)  # type: ignore[arg-type]


# --- REST: query + body in the order sent -----------------------------------------------------------------


def test_rest_query_h1_in_order_sent() -> None:
    params = {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
              "price": "0.1", "recvWindow": 5000, "timestamp": 1499827319559}
    query, body = sign_rest(HmacSigner(SPOT_SECRET), params)
    assert body == ""
    assert query == HMAC_VECTORS[0].values[1] + (
        "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


def test_rest_query_h2_percent_encodes_non_ascii() -> None:
    params = {"symbol": "１２３４５６", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
              "price": "0.1", "recvWindow": 5000, "timestamp": 1499827319559}
    assert rest_query(params) == HMAC_VECTORS[1].values[1]
    query, _ = sign_rest(HmacSigner(SPOT_SECRET), params)
    assert query.endswith("&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3")


def test_rest_h6_query_only() -> None:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "9000",
              "timeInForce": "GTC", "recvWindow": 5000, "timestamp": 1591702613943}
    query, _ = sign_rest(HmacSigner(FUTURES_SECRET), params)
    assert query.endswith("&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")


def test_rest_query_and_body_concatenate_with_nothing_between() -> None:
    signer = HmacSigner(FUTURES_SECRET)
    query_params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    body_params = {"quantity": "1", "price": "9000", "recvWindow": 5000, "timestamp": 1591702613943}
    query, body = sign_rest(signer, query_params, body_params)
    assert query == "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    total = ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000"
             "&timestamp=1591702613943")
    expected = hmac.new(FUTURES_SECRET.encode(), total.encode(), hashlib.sha256).hexdigest()
    assert body == f"quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943&signature={expected}"


def test_rest_ed25519_signature_is_percent_encoded_last() -> None:
    signer = Ed25519Signer(RFC8032_PEM)
    query, body = sign_rest(signer, {})
    raw = signer.sign("")
    assert body == ""
    assert query == "signature=" + raw.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def test_percent_encode_leaves_unreserved_alone() -> None:
    assert percent_encode("AZaz09-._~") == "AZaz09-._~"
    assert percent_encode("a b:c/d+é") == "a%20b%3Ac%2Fd%2B%C3%A9"


# --- Ed25519 ----------------------------------------------------------------------------------------------


def test_rfc8032_key_pem_loads_to_the_rfc_key() -> None:
    key = load_ed25519_private_key(RFC8032_PEM)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    assert raw == RFC8032_SEED
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public == RFC8032_PUBLIC


def test_rfc8032_empty_message() -> None:
    assert base64.b64decode(Ed25519Signer(RFC8032_PEM).sign("")).hex() == RFC8032_EMPTY_SIG


def test_rfc8032_public_key_pem() -> None:
    pem = Ed25519Signer(RFC8032_PEM).public_key_pem()
    assert pem.splitlines()[1] == RFC8032_SPKI_BODY


def test_self_generated_binance_format_vectors() -> None:
    signer = Ed25519Signer(RFC8032_PEM)
    logon = canonical_payload({"apiKey": SPOT_API_KEY, "timestamp": 1649729878532})
    assert signer.sign(logon) == (
        "763GJeFgG09B/06V/dq24cLu6f0R57whgDMyOCubDex4CTTElmDgPSIQqLdOsvW5TBxyaaFotVCI8tUmQMChAA==")
    order = canonical_payload({
        "apiKey": "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO", "price": "52000.00",
        "quantity": "0.01000000", "recvWindow": 100, "side": "SELL", "symbol": "BTCUSDT",
        "timeInForce": "GTC", "timestamp": 1645423376532, "type": "LIMIT"})
    assert signer.sign(order) == (
        "Ws+5m/CMnpkko0uBFxGTZ2+fjqqBXsUjRiaz173fPhXTkhoDBYNZ6wcYNeWItdrGn1pvG7vkwx2fhmJdAZ3KDQ==")


def test_ed25519_accepts_bare_base64_body() -> None:
    assert Ed25519Signer(RFC8032_PKCS8_BODY).sign("x") == Ed25519Signer(RFC8032_PEM).sign("x")


def test_ed25519_signature_verifies_with_public_key() -> None:
    payload = "apiKey=k&timestamp=1"
    signature = base64.b64decode(Ed25519Signer(RFC8032_PEM).sign(payload))
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(signature, payload.encode())


@pytest.mark.parametrize("bad", [
    "", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v"])
def test_bad_ed25519_keys_raise_vault_error_without_key_material(bad: str) -> None:
    with pytest.raises(VaultError) as info:
        Ed25519Signer(bad)
    if bad:
        assert bad not in str(info.value)


def test_non_ed25519_private_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(VaultError, match="not an Ed25519 key"):
        Ed25519Signer(pem)


def test_empty_hmac_secret_is_refused() -> None:
    with pytest.raises(VaultError):
        HmacSigner("")


def test_make_signer_picks_by_key_type_and_hides_secrets() -> None:
    hmac_signer = make_signer(ApiCredentials("a", KeyType.HMAC, SPOT_API_KEY, SPOT_SECRET))
    ed_signer = make_signer(ApiCredentials("b", KeyType.ED25519, SPOT_API_KEY, RFC8032_PEM))
    assert isinstance(hmac_signer, HmacSigner)
    assert isinstance(ed_signer, Ed25519Signer)
    assert SPOT_SECRET not in repr(hmac_signer)
    assert RFC8032_PKCS8_BODY not in repr(ed_signer)


def test_freshly_generated_key_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    signature = base64.b64decode(Ed25519Signer(pem).sign("a=1"))
    key.public_key().verify(signature, b"a=1")
