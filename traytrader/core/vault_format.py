"""The vault file format: a small authenticated header, then AES-256-GCM ciphertext of the key set.

Pure: bytes and passwords in, bytes and ``ApiCredentials`` out; no files, no clock, no randomness
of its own (the caller passes salt and nonce, fresh on every save).

Layout of version 1 (integers big-endian)::

    magic       7   b"TTVAULT"
    version     1   u8 = 1
    kdf_len     1   u8
    kdf         n   ASCII, "pbkdf2-sha256"
    iterations  4   u32
    salt       16
    nonce      12
    ct_len      4   u32, length of the ciphertext including the 16-byte GCM tag
    check       8   first 8 bytes of SHA-256 of everything above
    ciphertext  ct_len

The whole header is the GCM associated data, so it cannot be altered without the tag failing.
``check`` and ``ct_len`` are not security features: they let us tell a damaged or truncated file
from a wrong password *before* running 1,000,000 PBKDF2 iterations (a flipped bit in
``iterations`` could otherwise make an unlock take hours).
"""

from __future__ import annotations

import hashlib
import json
import struct
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType

MAGIC = b"TTVAULT"
VERSION = 1
KDF_NAME = "pbkdf2-sha256"
DEFAULT_ITERATIONS = 1_000_000
# Bounds on the stored count: below MIN is no protection, above MAX an unlock takes minutes.
MIN_ITERATIONS = 1
MAX_ITERATIONS = 50_000_000
# Below this a stolen vault falls to a password guesser quickly: OWASP's 2023 figure for
# PBKDF2-HMAC-SHA256. Such a count (``vault init --kdf-iterations``, for tests) is warned about
# and replaced by DEFAULT_ITERATIONS at the next save unless that save asks for it again.
MIN_SAFE_ITERATIONS = 600_000
SALT_LEN = 16
NONCE_LEN = 12
TAG_LEN = 16
CHECK_LEN = 8
KEY_LEN = 32  # AES-256

KeySet = dict[str, ApiCredentials]


class VaultFormatError(VaultError):
    """The blob cannot be opened; ``reason`` is a clause such as "the file is truncated"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The vault cannot be opened: {reason}.")
        self.reason = reason


@dataclass(frozen=True)
class Header:
    version: int
    kdf: str
    iterations: int
    salt: bytes
    nonce: bytes
    ciphertext_len: int
    raw: bytes  # the exact header bytes, used as associated data


def _header_bytes(iterations: int, salt: bytes, nonce: bytes, ciphertext_len: int) -> bytes:
    kdf = KDF_NAME.encode("ascii")
    body = (MAGIC + struct.pack(">BB", VERSION, len(kdf)) + kdf
            + struct.pack(">I", iterations) + salt + nonce + struct.pack(">I", ciphertext_len))
    return body + hashlib.sha256(body).digest()[:CHECK_LEN]


def parse_header(blob: bytes) -> Header:
    """Read and check the header without the password; raise ``VaultFormatError`` when it is unusable."""
    if len(blob) < len(MAGIC):
        if MAGIC.startswith(blob):
            raise VaultFormatError(f"the file is truncated ({len(blob)} bytes)")
        raise VaultFormatError("it is not a traytrader vault (the file does not start with TTVAULT)")
    if not blob.startswith(MAGIC):
        raise VaultFormatError("it is not a traytrader vault (the file does not start with TTVAULT)")
    pos = len(MAGIC)
    if len(blob) < pos + 2:
        raise VaultFormatError(f"the file is truncated ({len(blob)} bytes)")
    version, kdf_len = struct.unpack_from(">BB", blob, pos)
    if version != VERSION:
        raise VaultFormatError(
            f"it has format version {version}, and this traytrader reads only version {VERSION}"
            " (a newer traytrader wrote it, or the file is damaged)")
    pos += 2
    fixed = kdf_len + 4 + SALT_LEN + NONCE_LEN + 4 + CHECK_LEN
    if len(blob) < pos + fixed:
        raise VaultFormatError(
            f"the file is truncated ({len(blob)} bytes, the header alone needs {pos + fixed})")
    kdf_raw = blob[pos:pos + kdf_len]
    pos += kdf_len
    (iterations,) = struct.unpack_from(">I", blob, pos)
    pos += 4
    salt = blob[pos:pos + SALT_LEN]
    pos += SALT_LEN
    nonce = blob[pos:pos + NONCE_LEN]
    pos += NONCE_LEN
    (ciphertext_len,) = struct.unpack_from(">I", blob, pos)
    pos += 4
    check = blob[pos:pos + CHECK_LEN]
    if hashlib.sha256(blob[:pos]).digest()[:CHECK_LEN] != check:
        raise VaultFormatError("the file is damaged (its header checksum does not match)")
    pos += CHECK_LEN
    kdf = kdf_raw.decode("ascii", errors="replace")
    if kdf != KDF_NAME:
        raise VaultFormatError(
            f"it uses key derivation {kdf!r}, and this traytrader supports only {KDF_NAME}")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise VaultFormatError(
            f"its iteration count {iterations} is outside {MIN_ITERATIONS}..{MAX_ITERATIONS}")
    if ciphertext_len < TAG_LEN:
        raise VaultFormatError("the file is damaged (its ciphertext length is impossible)")
    total = pos + ciphertext_len
    if len(blob) < total:
        raise VaultFormatError(f"the file is truncated ({len(blob)} of {total} bytes)")
    if len(blob) > total:
        raise VaultFormatError(f"the file is damaged ({len(blob) - total} unexpected bytes at its end)")
    return Header(version, kdf, iterations, salt, nonce, ciphertext_len, blob[:pos])


def weak_iterations_warning(iterations: int) -> str | None:
    """A clause when ``iterations`` is below the safe minimum, else None."""
    if iterations >= MIN_SAFE_ITERATIONS:
        return None
    return (f"{iterations:,} PBKDF2 rounds is below the safe minimum of {MIN_SAFE_ITERATIONS:,}: a stolen"
            " vault would fall to password guessing quickly")


def iterations_for_save(stored: int | None, requested: int | None) -> int:
    """The count a save uses: the one asked for, else the file's own when it is safe, else the default.

    So a weak count chosen once (``vault init --kdf-iterations 1``) is not kept forever: the next
    change raises it, unless that change asks for a weak count again (and is warned).
    """
    if requested is not None:
        return requested
    if stored is not None and stored >= MIN_SAFE_ITERATIONS:
        return stored
    return DEFAULT_ITERATIONS


def derive_key(password: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA256. The password is NFC-normalised so that the same typed text always works."""
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    # cryptography's bundled OpenSSL derives about twice as fast as hashlib's system OpenSSL
    # here (benchmarks/bench_vault_unlock.py), and the result is the same standard PBKDF2.
    return PBKDF2HMAC(hashes.SHA256(), KEY_LEN, salt, iterations).derive(secret)


def _encode_keyset(keyset: KeySet) -> bytes:
    keys = {name: {"type": c.key_type.value, "api_key": c.api_key, "secret": c.secret}
            for name, c in sorted(keyset.items())}
    return json.dumps({"keys": keys}, separators=(",", ":")).encode("utf-8")


def _decode_keyset(payload: bytes) -> KeySet:
    damaged = VaultFormatError("the file is damaged (its decrypted content is not a key set)")
    try:
        doc: Any = json.loads(payload.decode("utf-8"))
        keys = doc["keys"]
        result: KeySet = {}
        for name, entry in keys.items():
            if not (isinstance(name, str) and isinstance(entry["api_key"], str)
                    and isinstance(entry["secret"], str)):
                raise damaged
            result[name] = ApiCredentials(name, KeyType(entry["type"]), entry["api_key"], entry["secret"])
        return result
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise damaged from None


def seal(keyset: KeySet, password: str, iterations: int, salt: bytes, nonce: bytes) -> bytes:
    """Encrypt ``keyset`` into a complete vault file image."""
    if len(salt) != SALT_LEN or len(nonce) != NONCE_LEN:
        raise ValueError("salt must be 16 bytes and nonce 12 bytes")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be within {MIN_ITERATIONS}..{MAX_ITERATIONS}")
    payload = _encode_keyset(keyset)
    header = _header_bytes(iterations, salt, nonce, len(payload) + TAG_LEN)
    key = derive_key(password, salt, iterations)
    return header + AESGCM(key).encrypt(nonce, payload, header)


def open_sealed(blob: bytes, password: str) -> KeySet:
    """Decrypt a vault file image; ``VaultFormatError`` names what is wrong in one clause."""
    header = parse_header(blob)
    key = derive_key(password, header.salt, header.iterations)
    try:
        payload = AESGCM(key).decrypt(header.nonce, blob[len(header.raw):], header.raw)
    except InvalidTag:
        # GCM cannot tell a wrong key from altered ciphertext: both fail the same tag check.
        raise VaultFormatError("wrong password, or the file is damaged") from None
    return _decode_keyset(payload)


def validate_credentials(credentials: ApiCredentials, *, allow_pending: bool = False) -> None:
    """Refuse credentials that cannot sign: raise ``VaultError`` naming the key, never its material.

    ``allow_pending`` accepts an Ed25519 key whose API key is not known yet (generated here,
    not yet registered on Binance).
    """
    name = credentials.name
    if not credentials.api_key.strip() and not (allow_pending and credentials.key_type is KeyType.ED25519):
        raise VaultError(f"The key {name!r} has an empty API key.")
    if credentials.api_key != credentials.api_key.strip() or any(ch.isspace() for ch in credentials.api_key):
        raise VaultError(
            f"The API key of {name!r} contains spaces or line breaks; paste it again as one word.")
    if credentials.key_type is KeyType.HMAC:
        if not credentials.secret.strip():
            raise VaultError(f"The key {name!r} has an empty HMAC secret.")
        return
    try:
        key = serialization.load_pem_private_key(credentials.secret.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise VaultError(
            f"The private key of {name!r} is not an unencrypted PEM private key"
            " (expected -----BEGIN PRIVATE KEY----- ... in PKCS#8)."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise VaultError(f"The private key of {name!r} is not an Ed25519 key.")


def public_key_pem(credentials: ApiCredentials) -> str:
    """The SPKI public key PEM of an Ed25519 key: what the user registers on Binance."""
    key = serialization.load_pem_private_key(credentials.secret.encode("utf-8"), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise VaultError(f"The private key of {credentials.name!r} is not an Ed25519 key.")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(credentials: ApiCredentials) -> str:
    """First 12 hex digits of SHA-256 of the API key: enough to tell keys apart, reveals nothing."""
    if not credentials.api_key:
        return "(pending)"
    return hashlib.sha256(credentials.api_key.encode("utf-8")).hexdigest()[:12]
