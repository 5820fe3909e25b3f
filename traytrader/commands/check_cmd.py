"""``traytrader check``: is the config usable, and does the vault open and hold the configured key?

Exit 0 only when both are usable. Offline checks live here; connectivity checks belong to the
engine and plug in through one hook (see ``ONLINE_CHECKS_MODULE``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Any

from traytrader.commands.common import (
    add_config_option,
    add_password_options,
    load_app_config,
    notify,
    read_password,
    unlock_credentials,
    vault_path,
)
from traytrader.core.display import plural
from traytrader.core.errors import TraytraderError
from traytrader.core.models import ApiCredentials, AppConfig, Environment

# --- hook for the engine engineer -------------------------------------------------------------
# When this module exists, ``check`` calls, after the offline checks passed:
#     run_online_checks(config: AppConfig, credentials: ApiCredentials,
#                       report: Callable[[str], None]) -> bool
# ``report`` prints one line each (e.g. "ok    exchange time offset 12 ms"); return False when
# anything failed (``check`` then exits 1). ``--offline`` skips it.
ONLINE_CHECKS_MODULE = "traytrader.engine.preflight"
# ----------------------------------------------------------------------------------------------

# What Ctrl+<letter> does in most desktop applications (pynput listens without swallowing keys,
# so the focused application still gets the press).
COMMON_SHORTCUTS = {
    "a": "select all", "b": "bold", "c": "copy", "f": "find", "n": "new window", "o": "open", "p": "print",
    "q": "quit", "s": "save", "t": "new tab", "v": "paste", "w": "close the tab or window", "x": "cut",
    "z": "undo",
}
_CTRL = {"<ctrl>", "<ctrl_l>", "<ctrl_r>", "<cmd>", "<cmd_l>", "<cmd_r>"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="validate the config and the vault now",
        description="Validate the config file and open the vault now; exit 0 only when both are usable."
                    " Then, unless --offline, check the connection to the exchange.")
    add_config_option(parser)
    add_password_options(parser)
    parser.add_argument("--offline", action="store_true", help="skip the connectivity checks")
    parser.set_defaults(func=handler)


def hotkey_warnings(config: AppConfig) -> list[str]:
    """Hotkeys that are also everyday shortcuts (the application in front still receives them)."""
    from traytrader.config import HOTKEY_ACTIONS

    warnings = []
    for action in HOTKEY_ACTIONS:
        spec = getattr(config.hotkeys, action)
        parts = spec.split("+") if spec else []
        if len(parts) == 2 and parts[0] in _CTRL and parts[1] in COMMON_SHORTCUTS:
            meaning = COMMON_SHORTCUTS[parts[1]]
            warnings.append(f"hotkeys.{action} {spec} is also '{meaning}' in most applications, which still"
                            " receive the keypress")
    return warnings


def hotkey_backend_lines(config: AppConfig) -> list[str]:
    """Which hotkey backend `traytrader run` would use here, and what to do for unkeyed actions."""
    import os

    from traytrader.ui.hotkey_backends import Backend, choose_backend, report_lines

    problem = ""
    if choose_backend(sys.platform, os.environ) is Backend.PORTAL:
        from traytrader.ui.portal_shortcuts import probe

        problem = probe()
    from traytrader.ui.tray_app import traytrader_executable

    return report_lines(config.hotkeys, sys.platform, os.environ, problem, traytrader_executable())


def run_offline_checks(args: argparse.Namespace, report: Any = print) -> tuple[
        AppConfig | None, ApiCredentials | None, list[str]]:
    """Check config, then vault; print one line per result. Returns (config, credentials, problems)."""
    from traytrader.vault import Vault, fingerprint

    problems: list[str] = []
    config: AppConfig | None = None
    credentials: ApiCredentials | None = None
    try:
        config = load_app_config(args)
    except TraytraderError as exc:
        problems.append(str(exc))
        report(f"FAIL  config: {exc}")
    if config is not None:
        env = config.exchange.environment
        report(f"ok    config {config.path}: {plural(len(config.profiles), 'profile')}, "
               f"environment {env.value}, vault key {config.exchange.key!r}")
        if env is Environment.LIVE:
            report("note  environment is live: real money; hotkeys start disarmed every run")
        for warning in hotkey_warnings(config):
            report(f"warn  {warning}")
        for line in hotkey_backend_lines(config):
            report(line)
    vault = Vault(vault_path(args))
    if config is not None:
        try:
            credentials = unlock_credentials(args, config, vault)
        except TraytraderError as exc:
            problems.append(str(exc))
            report(f"FAIL  vault: {exc}")
    if config is None:  # no key name to look for, but the vault can still be checked
        try:
            with vault.unlock(read_password(args), progress=notify) as unlocked:
                report(f"ok    vault {vault.path} opens: {plural(len(unlocked), 'key')}")
            _report_weak_kdf(vault, report)
        except TraytraderError as exc:
            problems.append(str(exc))
            report(f"FAIL  vault: {exc}")
    if credentials is not None:
        weak = _report_weak_kdf(vault, lambda line: None)  # a weak count is not part of an "ok" line
        rounds = "" if weak else f" ({vault.stored_iterations:,} PBKDF2 rounds)"
        report(f"ok    vault {vault.path}: key {credentials.name!r} ({credentials.key_type.value},"
               f" fingerprint {fingerprint(credentials)}), unlocked in {vault.last_unlock_seconds or 0:.2f} s"
               f"{rounds}")
        _report_weak_kdf(vault, report)
    problem = vault.permission_problem()
    if problem:
        report(f"warn  {problem}")
    return config, credentials, problems


def _report_weak_kdf(vault: Any, report: Any) -> bool:
    """A ``warn`` line when the vault's PBKDF2 count is below the safe minimum (security); True then."""
    from traytrader.core.vault_format import DEFAULT_ITERATIONS, weak_iterations_warning

    warning = weak_iterations_warning(vault.stored_iterations) if vault.stored_iterations else None
    if warning:
        report(f"warn  vault {vault.path}: {warning}; the next change raises it to {DEFAULT_ITERATIONS:,}"
               " (for example: traytrader vault passwd)")
    return warning is not None


def handler(args: argparse.Namespace) -> int:
    config, credentials, problems = run_offline_checks(args)
    if problems or config is None or credentials is None:
        print(f"{plural(len(problems), 'problem')}; fix them and run traytrader check again.",
              file=sys.stderr)
        return 1
    if not args.offline and importlib.util.find_spec(ONLINE_CHECKS_MODULE) is not None:
        online = importlib.import_module(ONLINE_CHECKS_MODULE)
        if not online.run_online_checks(config, credentials, print):
            print("The connectivity checks failed.", file=sys.stderr)
            return 1
    print("All checks passed.")
    return 0
