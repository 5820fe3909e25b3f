"""Request signing for Binance USDⓈ-M: the canonical payloads and the two signers.

WebSocket API (protocol notes 1.5, 1.6): the signed payload is every parameter except
``signature``, sorted by name, ``k=v`` joined by ``&``, values exactly as sent and *not*
percent-encoded (the docs' sample code says "no percent encoding here!"; the official SDK
percent-encodes, which only differs for characters we never send, see ``orders.new_client_id``).
Non-ASCII values are signed as raw UTF-8 (vector H5).

REST (protocol notes 2.1): ``totalParams`` is the query string concatenated with the request body,
both exactly as sent (percent-encoded, in the order sent, no sorting); ``signature`` is appended as
the last parameter.

HMAC-SHA256 signatures are lowercase hex, Ed25519 signatures base64 of the 64-byte signature.
Signers are built once per key and reused: the HMAC key schedule is precomputed and copied per
signature, the Ed25519 key is parsed once. Neither ever shows its secret in ``repr`` or errors.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from traytrader.core.decimals import format_decimal
from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType

ParamValue = str | int | bool | Decimal


class Signer(Protocol):
    """Anything that turns a payload into Binance's signature text."""

    key_type: KeyType

    def sign(self, payload: str) -> str: ...


def param_text(value: ParamValue) -> str:
    """A parameter value as it appears on the wire and in the signed payload.

    Booleans are ``true``/``false`` (Binance's STRING booleans), ints are decimal digits, Decimals
    go through ``format_decimal``. Floats are refused: their text is not what the user meant.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    raise TypeError(f"Parameter values must be str, int, bool or Decimal, not {type(value).__name__}.")


def canonical_payload(params: Mapping[str, ParamValue]) -> str:
    """The WebSocket API signature payload: all params but ``signature``, sorted by name."""
    return "&".join(
        f"{key}={param_text(value)}" for key, value in sorted(params.items()) if key != "signature"
    )


_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class HmacSigner:
    """HMAC-SHA256, lowercase hex. Binance compares case-insensitively (general-info.md)."""

    key_type = KeyType.HMAC

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: str) -> None:
        if not secret:
            raise VaultError("The HMAC secret is empty.")
        # RFC 2104 with the padded key's two SHA-256 states absorbed once: a sign is then two
        # hash-state copies (0.6 µs) instead of an OpenSSL HMAC context copy (1.0 µs, more when
        # the caches are cold after the loop slept). Checked against ``hmac`` in the tests.
        key = secret.encode("utf-8")
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def sign(self, payload: str) -> str:
        inner = self._inner.copy()
        inner.update(payload.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(<secret hidden>)"


class Ed25519Signer:
    """Ed25519 over the UTF-8 payload, base64 (standard alphabet, padded)."""

    key_type = KeyType.ED25519

    __slots__ = ("_key",)

    def __init__(self, private_key_pem: str) -> None:
        self._key = load_ed25519_private_key(private_key_pem)

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode("utf-8"))).decode("ascii")

    def public_key_pem(self) -> str:
        """The SPKI PEM to register on Binance (public: safe to print)."""
        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def __repr__(self) -> str:
        return "Ed25519Signer(<private key hidden>)"


def load_ed25519_private_key(text: str) -> Ed25519PrivateKey:
    """Parse an unencrypted PKCS#8 Ed25519 private key, as PEM or as the bare base64 body.

    Errors name the problem, never the key material.
    """
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
        else:
            der = base64.b64decode("".join(stripped.split()), validate=True)
            key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise VaultError(
            "The Ed25519 private key could not be read; expected an unencrypted PKCS#8 PEM."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise VaultError("The private key is not an Ed25519 key; Binance Ed25519 API keys need one.")
    return key


def make_signer(credentials: ApiCredentials) -> HmacSigner | Ed25519Signer:
    """The signer for an unlocked vault key."""
    if credentials.key_type is KeyType.HMAC:
        return HmacSigner(credentials.secret)
    return Ed25519Signer(credentials.secret)


# --- REST -----------------------------------------------------------------------------------------

# RFC 3986 unreserved characters pass through; everything else is %XX of its UTF-8 bytes, uppercase
# hex, matching the form Binance shows for non-ASCII symbols (vector H2). Written here because
# core/ does not import urllib.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def percent_encode(text: str) -> str:
    """UTF-8 percent-encoding of everything but RFC 3986 unreserved characters."""
    if text.isascii() and all(ord(ch) in _UNRESERVED for ch in text):
        return text
    return "".join(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8"))


def rest_query(params: Mapping[str, ParamValue]) -> str:
    """A query string (or form body) in the order given, values percent-encoded as sent."""
    return "&".join(f"{percent_encode(key)}={percent_encode(param_text(v))}" for key, v in params.items())


def sign_rest(
    signer: Signer,
    query_params: Mapping[str, ParamValue],
    body_params: Mapping[str, ParamValue] | None = None,
) -> tuple[str, str]:
    """Sign a REST request; returns ``(query, body)`` exactly as they must be sent.

    ``totalParams`` = query string + body, concatenated with nothing between (general-info.md,
    "Example 3"). ``signature`` goes last: at the end of the body when there is one, else of the
    query. Base64 signatures are percent-encoded (``+``, ``/`` and ``=`` are not unreserved).
    """
    query = rest_query(query_params)
    body = rest_query(body_params) if body_params else ""
    signature = percent_encode(signer.sign(query + body))
    if body:
        return query, f"{body}&signature={signature}"
    return (f"{query}&signature={signature}" if query else f"signature={signature}"), ""
