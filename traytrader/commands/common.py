"""CLI helpers shared by the sub-commands: config and vault options, passwords, unlocking.

Passwords come from an interactive prompt, ``--password-file PATH`` or ``--password-stdin``;
never from argv or the environment (both are visible to other processes). When standard input
is not a terminal, every further question (``vault passwd``'s new password, ``add-key``'s API
key and secret) is read as the next line of standard input, so scripts can pipe answers in.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from traytrader import paths
from traytrader.core.errors import ConfigError, VaultError
from traytrader.core.models import ApiCredentials, AppConfig

if TYPE_CHECKING:   # cryptography and the config parser load only for commands that use them
    from traytrader.vault import UnlockedVault, Vault


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", type=Path,
                        help=f"config file (default: {paths.config_path()})")


def add_password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vault", metavar="PATH", type=Path,
                        help=f"vault file (default: {paths.vault_path()})")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--password-file", metavar="PATH", type=Path,
                        help="read the vault password from the first line of this file")
    source.add_argument("--password-stdin", action="store_true",
                        help="read the vault password from the first line of standard input")


def vault_path(args: argparse.Namespace) -> Path:
    return getattr(args, "vault", None) or paths.vault_path()


def notify(message: str) -> None:
    """A progress or status line for the person at the terminal (stderr keeps stdout clean)."""
    print(message, file=sys.stderr, flush=True)


def _stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise VaultError(f"Expected the {what} on standard input, but it ended.")
    return line.rstrip("\r\n")


def ask(prompt: str, what: str, *, secret: bool = True) -> str:
    """One answer: from the terminal (hidden when ``secret``), else the next line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    return _stdin_line(what)


def read_password(args: argparse.Namespace, prompt: str = "Vault password: ", confirm: bool = False) -> str:
    """The vault password from ``--password-file``, ``--password-stdin`` or the terminal."""
    password_file: Path | None = getattr(args, "password_file", None)
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise VaultError(f"Cannot read the password file {password_file}: {reason}.") from None
        password = text.splitlines()[0] if text else ""
    elif getattr(args, "password_stdin", False):
        password = _stdin_line("vault password")
    else:
        if sys.stdin is None or not sys.stdin.isatty():
            raise VaultError("There is no terminal to ask for the vault password; use --password-file PATH"
                             " or --password-stdin.")
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat the password: ") != password:
            raise VaultError("The two passwords differ; nothing was changed.")
    if not password:
        raise VaultError("The vault password is empty; nothing was changed.")
    return password


def load_app_config(args: argparse.Namespace) -> AppConfig:
    """Load ``--config`` or the user's config; a first run gets a copy of the example config."""
    from traytrader.config import ensure_user_config, load_config

    given: Path | None = getattr(args, "config", None)
    if given is not None:
        return load_config(given)
    path = paths.config_path()
    if not path.exists():
        try:
            ensure_user_config(path)
        except OSError as exc:
            raise ConfigError(f"There is no config at {path}, and writing the example there failed"
                              f" ({exc.strerror or exc}); copy config.example.toml there yourself.") from None
        notify(f"traytrader: created {path} from the example config (simulator environment); edit it"
               " to your needs.")
    return load_config(path)


def open_vault(args: argparse.Namespace) -> tuple[Vault, UnlockedVault, str]:
    """Ask for the password and unlock; returns the vault, its keys and the password (to save again)."""
    from traytrader.vault import Vault

    vault = Vault(vault_path(args))
    if not vault.exists():
        raise VaultError(f"There is no vault at {vault.path}; create one with: traytrader vault init.")
    password = read_password(args)
    return vault, vault.unlock(password, progress=notify), password


def unlock_credentials(args: argparse.Namespace, config: AppConfig,
                       vault: Vault | None = None) -> ApiCredentials:
    """The credentials named by ``config.exchange.key``; the rest of the key set is locked again.

    Pass ``vault`` to read its ``last_unlock_seconds`` afterwards.
    """
    from traytrader.vault import Vault

    name = config.exchange.key
    vault = vault or Vault(vault_path(args))
    if not vault.exists():
        raise VaultError(f"There is no vault at {vault.path}; create one with: traytrader vault init, then"
                         f" traytrader vault add-key {name} --type hmac.")
    with vault.unlock(read_password(args), progress=notify) as unlocked:
        if name not in unlocked:
            raise VaultError(f"The vault has no key named {name!r}; add it with: traytrader vault add-key"
                             f" {name} --type hmac.")
        credentials = unlocked.get(name)
    if not credentials.api_key:
        raise VaultError(f"The key {name!r} has no API key yet; register its public key on Binance, then run:"
                         f" traytrader vault set-api-key {name}.")
    return credentials
