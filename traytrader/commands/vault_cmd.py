"""``traytrader vault ...``: create the encrypted key file and manage the API keys in it.

    vault init                      create an empty vault
    vault add-key NAME --type hmac|ed25519 [--key-file FILE] [--replace]
    vault gen-ed25519 NAME [--api-key-file FILE]
                                    make a key pair here, print the public key PEM to register on
                                    Binance; Binance then shows the API key: store it with
    vault set-api-key NAME [--api-key-file FILE]
    vault list                      names, types, fingerprints (never secrets)
    vault passwd [--new-password-file FILE]
    vault remove NAME

``--key-file`` is TOML: ``api_key`` plus ``secret`` (HMAC) or ``private_key_pem`` (Ed25519).
Secrets are never printed; only ``gen-ed25519`` prints a *public* key.

Every command that changes the vault holds its writer lock from reading the file to renaming
the new one (``Vault.writing``), so concurrent changes are serialised, never lost. A save
keeps the file's PBKDF2 count when it is safe and raises a weak one to the default, unless
``--kdf-iterations`` asks for a count again (then it is warned about).
"""

from __future__ import annotations

import argparse
import contextlib
import tomllib
from argparse import RawDescriptionHelpFormatter as Raw
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traytrader.commands.common import (
    add_password_options,
    ask,
    notify,
    open_vault,
    read_password,
    vault_path,
)
from traytrader.core.errors import VaultError
from traytrader.core.models import ApiCredentials, KeyType

if TYPE_CHECKING:
    from traytrader.vault import UnlockedVault, Vault

DESCRIPTION = """\
Manage the encrypted file that holds your Binance API keys (AES-256-GCM, PBKDF2 1,000,000 rounds).

  vault init                              create an empty vault
  vault add-key NAME --type hmac          add an HMAC key (prompts for API key and secret)
  vault add-key NAME --type ed25519       add an Ed25519 key (prompts for API key and PEM file)
  vault gen-ed25519 NAME                  make a key pair here and print the public key to register
                                          on Binance; then store the API key Binance shows with:
  vault set-api-key NAME
  vault list                              names, types and fingerprints (never secrets)
  vault passwd                            change the password
  vault remove NAME

For scripts: --key-file FILE (TOML with api_key and secret, or api_key and private_key_pem),
--password-file PATH or --password-stdin (further answers are read as the next stdin lines).
"""

KEY_FILE_FIELDS = {KeyType.HMAC: ("api_key", "secret"), KeyType.ED25519: ("api_key", "private_key_pem")}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("vault", help="manage the encrypted API-key vault",
                                   description=DESCRIPTION, formatter_class=Raw)
    actions = parser.add_subparsers(dest="vault_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, handler: Any, *, writes: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        add_password_options(sub)
        if writes:
            sub.add_argument("--kdf-iterations", type=int, default=None, metavar="N",
                             help="PBKDF2 rounds for the saved file (default: the file's own count when it is"
                                  f" at least {SAFE_ROUNDS}, else 1,000,000; lower only for tests)")
        sub.set_defaults(func=handler)
        return sub

    action("init", "create an empty vault", _init)
    add = action("add-key", "add an API key (HMAC or Ed25519)", _add_key)
    add.add_argument("name")
    add.add_argument("--type", required=True, choices=[t.value for t in KeyType], dest="key_type")
    add.add_argument("--key-file", type=Path, metavar="FILE",
                     help="TOML with api_key and secret (hmac) or private_key_pem (ed25519)")
    add.add_argument("--replace", action="store_true", help="replace a key of the same name")
    gen = action("gen-ed25519", "generate an Ed25519 key pair and print the public key to register", _gen)
    gen.add_argument("name")
    gen.add_argument("--api-key-file", type=Path, metavar="FILE",
                     help="the API key Binance gave for this public key, if you already have it")
    set_key = action("set-api-key", "store the API key Binance gave for a generated key", _set_api_key)
    set_key.add_argument("name")
    set_key.add_argument("--api-key-file", type=Path, metavar="FILE", help="read the API key from this file")
    action("list", "list key names, types and fingerprints", _list, writes=False)
    passwd = action("passwd", "change the vault password", _passwd)
    passwd.add_argument("--new-password-file", type=Path, metavar="FILE",
                        help="read the new password from this file")
    remove = action("remove", "remove a key", _remove)
    remove.add_argument("name")


SAFE_ROUNDS = "600,000"  # core.vault_format.MIN_SAFE_ITERATIONS, spelled here so --help loads no crypto


def _requested_iterations(args: argparse.Namespace) -> int | None:
    """``--kdf-iterations`` checked, or None when not given."""
    from traytrader.core.vault_format import MAX_ITERATIONS

    value: int | None = getattr(args, "kdf_iterations", None)
    if value is not None and not 1 <= value <= MAX_ITERATIONS:
        raise VaultError(f"--kdf-iterations must be from 1 to {MAX_ITERATIONS}.")
    return value


@contextlib.contextmanager
def _changing(args: argparse.Namespace) -> Iterator[tuple[Vault, UnlockedVault, str]]:
    """Lock the vault against other writers, then unlock it; the lock is held until the caller's
    save has renamed the new file into place, so no concurrent change can be lost."""
    from traytrader.vault import Vault

    path = vault_path(args)
    if not Vault(path).exists():
        raise VaultError(f"There is no vault at {path}; create one with: traytrader vault init.")
    with Vault(path).writing():
        vault, unlocked, password = open_vault(args)
        with unlocked:
            yield vault, unlocked, password


def _init(args: argparse.Namespace) -> int:
    from traytrader.core.vault_format import iterations_for_save
    from traytrader.vault import Vault

    vault = Vault(vault_path(args), iterations=iterations_for_save(None, _requested_iterations(args)))
    if vault.exists():
        raise VaultError(f"A vault already exists at {vault.path}; it was left as it is.")
    password = read_password(args, "New vault password: ", confirm=True)
    with vault.writing():
        vault.create(password)  # create() looks again under the lock: two inits cannot both win
    _warn_if_weak(vault.iterations)
    notify(f"Created an empty vault at {vault.path}.")
    notify("Next: traytrader vault add-key default --type hmac   (or: traytrader vault gen-ed25519 default)")
    return 0


def _warn_if_weak(iterations: int) -> None:
    from traytrader.core.vault_format import weak_iterations_warning

    warning = weak_iterations_warning(iterations)
    if warning:
        notify(f"Warning: {warning}; the next change to the vault raises it to the default unless it asks"
               " for --kdf-iterations again.")


def _save(vault: Vault, unlocked: UnlockedVault, password: str, args: argparse.Namespace) -> None:
    """Save with the count ``iterations_for_save`` picks: the file's own when safe, a weak one raised."""
    from traytrader.core.vault_format import iterations_for_save

    stored = vault.stored_iterations
    requested = _requested_iterations(args)
    vault.iterations = iterations_for_save(stored, requested)
    vault.save(unlocked, password)
    _warn_if_weak(vault.iterations)
    if stored is not None and requested is None and vault.iterations > stored:
        notify(f"Raised the vault's key derivation from {stored:,} to {vault.iterations:,} PBKDF2 rounds.")


MAX_KEY_FILE_BYTES = 64 * 1024


def _read_small_file(path: Path, what: str) -> str:
    """A key, PEM or API-key file the user named, read up to 64 KiB. A pipe is fine here (the
    user may pass ``--key-file <(pass show binance)`` to keep the secret off the disk)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
        if len(data) > MAX_KEY_FILE_BYTES:
            raise VaultError(f"The {what} {path} is larger than 64 KiB; that is not a key file.")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise VaultError(f"Cannot read the {what} {path}: {reason}.") from None


def _from_key_file(path: Path, name: str, key_type: KeyType) -> ApiCredentials:
    try:
        doc = tomllib.loads(_read_small_file(path, "key file"))
    except (tomllib.TOMLDecodeError, RecursionError):
        # The parser's message may quote the line, which may hold a secret: say only where to look.
        raise VaultError(
            f"The key file {path} is not valid TOML (expected api_key = \"...\" lines).") from None
    fields = KEY_FILE_FIELDS[key_type]
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise VaultError(f"The key file {path} has unexpected keys ({', '.join(unknown)}); a {key_type.value}"
                         f" key file holds {' and '.join(fields)}.")
    for field in fields:
        if not isinstance(doc.get(field), str):
            raise VaultError(f"The key file {path} needs {field} as text in quotes.")
    return ApiCredentials(name, key_type, doc["api_key"].strip(), doc[fields[1]].strip() + (
        "\n" if key_type is KeyType.ED25519 else ""))


def _from_prompts(name: str, key_type: KeyType) -> ApiCredentials:
    api_key = ask(f"API key for {name!r}: ", "API key").strip()
    if key_type is KeyType.HMAC:
        return ApiCredentials(name, key_type, api_key, ask("API secret: ", "API secret").strip())
    pem_path = Path(ask("Path of the Ed25519 private key PEM file: ", "private key file path", secret=False))
    pem = _read_small_file(pem_path.expanduser(), "private key file")
    return ApiCredentials(name, key_type, api_key, pem)


def _add_key(args: argparse.Namespace) -> int:
    from traytrader.vault import fingerprint

    key_type = KeyType(args.key_type)
    with _changing(args) as (vault, unlocked, password):
        if args.name in unlocked and not args.replace:
            raise VaultError(f"The vault already has a key named {args.name!r}; use --replace to replace it.")
        credentials = _from_key_file(args.key_file, args.name, key_type) if args.key_file \
            else _from_prompts(args.name, key_type)
        unlocked.add(credentials, replace=args.replace)
        _save(vault, unlocked, password, args)
        notify(f"Added {key_type.value} key {args.name!r} (fingerprint {fingerprint(credentials)})"
               f" to {vault.path}.")
    return 0


def _read_api_key(path: Path | None, name: str) -> str:
    if path is None:
        return ask(f"API key Binance shows for {name!r}: ", "API key").strip()
    lines = _read_small_file(path, "API key file").split()
    if len(lines) != 1:
        raise VaultError(f"The API key file {path} must hold exactly one API key.")
    return lines[0]


def _gen(args: argparse.Namespace) -> int:
    from traytrader.vault import generate_ed25519, public_key_pem

    with _changing(args) as (vault, unlocked, password):
        if args.name in unlocked:
            raise VaultError(f"The vault already has a key named {args.name!r}; remove it first.")
        key = generate_ed25519(args.name)
        if args.api_key_file is not None:
            api_key = _read_api_key(args.api_key_file, args.name)
            key = ApiCredentials(key.name, key.key_type, api_key, key.secret)
        unlocked.add(key, allow_pending=True)
        _save(vault, unlocked, password, args)
        print(public_key_pem(key), end="")
    notify(f"Generated Ed25519 key {args.name!r} in {vault.path}; the private key never leaves the vault.")
    if not key.api_key:
        notify("Register the public key above on Binance (API Management, 'Self-generated' Ed25519 key), then"
               f" run: traytrader vault set-api-key {args.name}")
    return 0


def _set_api_key(args: argparse.Namespace) -> int:
    from traytrader.vault import fingerprint

    with _changing(args) as (vault, unlocked, password):
        old = unlocked.get(args.name)
        new = ApiCredentials(old.name, old.key_type, _read_api_key(args.api_key_file, args.name), old.secret)
        unlocked.add(new, replace=True)
        _save(vault, unlocked, password, args)
        notify(f"Stored the API key of {args.name!r} (fingerprint {fingerprint(new)}).")
    return 0


def _list(args: argparse.Namespace) -> int:
    from traytrader.vault import fingerprint

    vault, unlocked, _ = open_vault(args)
    with unlocked:
        if not len(unlocked):
            notify(f"The vault {vault.path} holds no keys; add one with:"
                   " traytrader vault add-key NAME --type hmac")
        for key in unlocked:
            pending = "   (no API key yet: traytrader vault set-api-key)" if not key.api_key else ""
            print(f"{key.name}\t{key.key_type.value}\t{fingerprint(key)}{pending}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    with _changing(args) as (vault, unlocked, _):
        if args.new_password_file is not None:
            new = read_password(argparse.Namespace(password_file=args.new_password_file))
        elif args.password_stdin or args.password_file is not None:
            new = ask("New vault password: ", "new vault password")
        else:
            new = read_password(argparse.Namespace(), "New vault password: ", confirm=True)
        if not new:
            raise VaultError("The new vault password is empty; nothing was changed.")
        _save(vault, unlocked, new, args)
    notify(f"Changed the password of {vault.path}.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _changing(args) as (vault, unlocked, password):
        unlocked.remove(args.name)
        _save(vault, unlocked, password, args)
    notify(f"Removed the key {args.name!r} from {vault.path}.")
    return 0
