"""Shared helpers of the reliability tests: the repo root on ``sys.path`` (for ``benchmarks``), known
secrets with every obvious encoding, and a scanner for them."""

from __future__ import annotations

import base64
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from traytrader.core.models import ApiCredentials, KeyType  # noqa: E402

WINDOW = 20  # any 20 consecutive characters of a secret count as a leak


@dataclass(frozen=True)
class KnownSecrets:
    hmac: ApiCredentials
    ed25519: ApiCredentials
    ed25519_public_pem: str
    needles: tuple[str, ...]  # whole encodings
    windows: tuple[str, ...]  # WINDOW-long slices of the raw material

    def accounts_toml(self) -> str:
        return (
            f'[[account]]\napi_key = "{self.hmac.api_key}"\nhmac_secret = "{self.hmac.secret}"\n\n'
            f'[[account]]\napi_key = "{self.ed25519.api_key}"\n'
            f'ed25519_public_key = """{self.ed25519_public_pem}"""\n'
        )


def _b64(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def make_secrets() -> KnownSecrets:
    hmac_secret = "relHmacSecret" + secrets.token_hex(26)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    needles = [
        hmac_secret,
        hmac_secret.encode().hex(),
        *_b64(hmac_secret.encode()),
        pem,
        body,
        raw.hex(),
        raw.hex().upper(),
        der.hex(),
        *_b64(raw),
        *_b64(der),
    ]
    windows = []
    for material in (hmac_secret, body, raw.hex(), base64.b64encode(raw).decode()):
        windows += [material[i : i + WINDOW] for i in range(len(material) - WINDOW + 1)]
    return KnownSecrets(
        hmac=ApiCredentials("rel-hmac", KeyType.HMAC, "relKeyHmac" + secrets.token_hex(16), hmac_secret),
        ed25519=ApiCredentials("rel-ed", KeyType.ED25519, "relKeyEd" + secrets.token_hex(16), pem),
        ed25519_public_pem=public,
        needles=tuple(dict.fromkeys(n for n in needles if len(n) >= 16)),
        windows=tuple(dict.fromkeys(windows)),
    )


def leaks(text: str, known: KnownSecrets) -> list[str]:
    """Which encodings or slices of the secrets occur in ``text`` (shown shortened, never whole)."""
    found = [n for n in known.needles if n in text]
    found += [w for w in known.windows if w in text]
    return [f"{f[:4]}…({len(f)} chars)" for f in dict.fromkeys(found)]


def leaks_in_bytes(data: bytes, known: KnownSecrets) -> list[str]:
    wide = [data[i:].decode("utf-16-le", "ignore") for i in (0, 1)]  # either byte alignment
    return leaks(data.decode("latin-1"), known) + leaks("\n".join(wide), known)
