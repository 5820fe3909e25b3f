"""Simulator accounts: the built-in demo accounts and the ``--accounts FILE`` TOML format.

An accounts file holds ``[[account]]`` tables::

    [[account]]
    api_key = "my-sim-key"
    hmac_secret = "my-sim-secret"          # or: ed25519_public_key = "-----BEGIN PUBLIC KEY-----..."
    balance_usdt = "10000"                 # default 10000
    position_mode = "one-way"              # or "hedge"

Without a file the simulator has two demo accounts (one HMAC, one Ed25519). Their keys are
published here on purpose: they are DEMO-ONLY and open nothing but this local simulator.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from traytrader.core.errors import ConfigError

#: DEMO-ONLY HMAC key pair of the built-in demo account (never a real Binance key).
DEMO_API_KEY = "traytraderDemoKeyHMAC0000000000000000000000000000000000000000000"
DEMO_SECRET = "traytraderDemoSecret000000000000000000000000000000000000000000000"

#: DEMO-ONLY Ed25519 account: the private key is RFC 8032 section 7.1 TEST 1, public on purpose.
DEMO_ED25519_API_KEY = "traytraderDemoKeyEd25519000000000000000000000000000000000000000"
DEMO_ED25519_PRIVATE_KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n"
)
DEMO_ED25519_PUBLIC_KEY_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n"
)
DEFAULT_BALANCE = Decimal("10000")


@dataclass(frozen=True)
class AccountSpec:
    """How one account authenticates and starts. Exactly one of the two key kinds is set."""

    api_key: str
    hmac_secret: str | None = None
    ed25519_public_key: Ed25519PublicKey | None = None
    balance_usdt: Decimal = DEFAULT_BALANCE
    hedge_mode: bool = False

    @property
    def is_ed25519(self) -> bool:
        return self.ed25519_public_key is not None


def demo_accounts() -> list[AccountSpec]:
    priv = load_pem_private_key(DEMO_ED25519_PRIVATE_KEY_PEM.encode(), password=None)
    pub = priv.public_key()
    assert isinstance(pub, Ed25519PublicKey)
    return [
        AccountSpec(api_key=DEMO_API_KEY, hmac_secret=DEMO_SECRET),
        AccountSpec(api_key=DEMO_ED25519_API_KEY, ed25519_public_key=pub),
    ]


def parse_accounts(text: str, source: str = "accounts file") -> list[AccountSpec]:
    """Parse the TOML accounts format; raise :class:`ConfigError` naming the bad entry."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The {source} is not valid TOML ({exc}).") from None
    tables = doc.get("account")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"The {source} has no [[account]] tables.")
    out: list[AccountSpec] = []
    seen: set[str] = set()
    for n, t in enumerate(tables, 1):
        where = f"account #{n} in the {source}"
        key = t.get("api_key")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"The {where} has no api_key.")
        if key in seen:
            raise ConfigError(f"The {where} repeats api_key {key!r}.")
        seen.add(key)
        secret, pem = t.get("hmac_secret"), t.get("ed25519_public_key")
        if (secret is None) == (pem is None):
            raise ConfigError(f"The {where} needs exactly one of hmac_secret and ed25519_public_key.")
        pub = None
        if pem is not None:
            try:
                loaded = load_pem_public_key(str(pem).encode())
            except ValueError:
                raise ConfigError(f"The {where} has an ed25519_public_key that is not a PEM key.") from None
            if not isinstance(loaded, Ed25519PublicKey):
                raise ConfigError(f"The {where} has a public key that is not Ed25519.")
            pub = loaded
        try:
            balance = Decimal(str(t.get("balance_usdt", DEFAULT_BALANCE)))
        except InvalidOperation:
            raise ConfigError(f"The {where} has a balance_usdt that is not a number.") from None
        if not balance.is_finite() or balance < 0:
            raise ConfigError(f"The {where} has a negative or invalid balance_usdt.")
        mode = t.get("position_mode", "one-way")
        if mode not in ("one-way", "hedge"):
            raise ConfigError(f"The {where} has position_mode {mode!r}; use 'one-way' or 'hedge'.")
        out.append(AccountSpec(key, secret if secret is None else str(secret), pub, balance, mode == "hedge"))
    return out


def load_accounts(path: str | Path | None) -> list[AccountSpec]:
    """The accounts of ``path``, or the demo accounts when ``path`` is None."""
    if path is None:
        return demo_accounts()
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the accounts file {p} ({exc.strerror}).") from None
    return parse_accounts(text, f"accounts file {p}")
