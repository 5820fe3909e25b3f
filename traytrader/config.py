"""The user's TOML config → validated ``core.models.AppConfig``.

The app reads the config and never writes it (tomli-w would drop the user's comments); what it
remembers between runs goes to ``state.py``. Every mistake raises ``ConfigError`` with one
sentence naming the file, line, dotted key and what is allowed (see ``config_toml.Reader``).

Sections: ``[exchange]``, ``[hotkeys]``, ``[safety]``, ``[asl]`` (with ``[[asl.tiers]]`` or
``tiers = [{...}]``), ``[[profiles]]`` (with optional ``[profiles.asl]`` merged over ``[asl]``),
and a top-level ``default_profile``. The reference is ``config.example.toml``.

The config decides where the API key and signed requests go, so it is trusted only as far as
its file is (see "Trust" below): a file or directory another user can change is refused, as ssh
refuses such a config, and a non-``sim`` environment must use TLS unless it points at this machine.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from traytrader.config_toml import Reader, Where, render, show
from traytrader.core.environments import ENVIRONMENTS
from traytrader.core.errors import ConfigError
from traytrader.core.models import (
    AppConfig,
    AslSettings,
    AslTier,
    Environment,
    ExchangeSettings,
    HotkeySettings,
    MarginType,
    OrderType,
    Profile,
    SafetySettings,
    TakeProfit,
    TimeInForce,
    WorkingType,
)

# Endpoints per environment: (REST, WS API, stream base), from the one table in
# core/environments.py (hosts, dates and sources). The engine appends /public, /market, /private.
ENDPOINTS: dict[Environment, tuple[str, str, str]] = {env: h.urls for env, h in ENVIRONMENTS.items()}

MAX_LEVERAGE = 125  # Binance's ceiling for USDⓈ-M (lower per symbol and notional bracket)
MAX_NOTIONAL = Decimal("1000000000")
MAX_QUANTITY = Decimal("1000000000")
MAX_PROFILE_NAME = 40

TOP_KEYS = ("exchange", "hotkeys", "safety", "asl", "profiles", "default_profile")
EXCHANGE_KEYS = ("environment", "key", "rest_url", "ws_api_url", "stream_url", "recv_window_ms",
                 "request_timeout_ms")
HOTKEY_ACTIONS = ("buy", "sell", "flatten", "close", "cycle_profile", "toggle_action_bar", "breakeven",
                  "add")
HOTKEY_KEYS = (*HOTKEY_ACTIONS, "armed_on_start")
CLOSE_PART_KEY = re.compile(r"close_([1-9][0-9]?)")   # close_25: close 25% of the position
SAFETY_KEYS = ("max_notional_usdt", "max_orders_per_minute", "cooldown_ms")
ASL_KEYS = tuple(f.name for f in dataclasses.fields(AslSettings))
TIER_KEYS = ("profit_pct", "callback_pct")
TAKE_PROFIT_KEYS = ("profit_pct", "close_fraction")
SIZE_KEYS = ("notional_usdt", "quantity", "risk_usdt", "risk_pct")
PROFILE_KEYS = ("name", "symbol", "leverage", "margin_type", *SIZE_KEYS, "order_type",
                "limit_offset_ticks", "time_in_force", "asl", "take_profit", "close_fractions",
                "add_fraction")

# pynput's named keys (pynput.keyboard.Key) we accept inside <...>; <123> (a virtual key code) too.
MODIFIERS = frozenset({"ctrl", "ctrl_l", "ctrl_r", "alt", "alt_l", "alt_r", "alt_gr", "shift", "shift_l",
                       "shift_r", "cmd", "cmd_l", "cmd_r"})
NAMED_KEYS = frozenset({
    "backspace", "caps_lock", "delete", "down", "end", "enter", "esc", "home", "insert", "left", "menu",
    "num_lock", "page_down", "page_up", "pause", "print_screen", "right", "scroll_lock", "space", "tab", "up",
    "media_play_pause", "media_volume_mute", "media_volume_down", "media_volume_up", "media_previous",
    "media_next", *(f"f{n}" for n in range(1, 21)),
})


def example_config_text() -> str:
    """The commented reference config shipped with the package (``traytrader/data/config.example.toml``)."""
    return resources.files("traytrader").joinpath("data/config.example.toml").read_text(encoding="utf-8")


def ensure_user_config(path: str | os.PathLike[str]) -> bool:
    """Write the example config to ``path`` when no file is there; True when one was written.

    The directory is created 0700 and the file 0600: only its owner may change where keys go."""
    from traytrader.file_guard import private_dir

    target = Path(path)
    if target.exists():
        return False
    private_dir(target.parent)
    # O_EXCL: never replace a user's file; 0600 from the first byte
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(example_config_text())
    return True


MAX_CONFIG_BYTES = 1 << 20  # the example is ~6 KB; a megabyte is not a config


def load_config(path: str | os.PathLike[str]) -> AppConfig:
    """Read and validate a config file; ``ConfigError`` (one sentence) on any problem."""
    from traytrader.file_guard import FileRefused, read_regular

    shown = str(path)
    try:
        data = read_regular(path, MAX_CONFIG_BYTES)
    except FileRefused as exc:
        raise ConfigError(f"Cannot read the config file {shown}: {exc.reason}.") from None
    except FileNotFoundError:
        raise ConfigError(f"There is no config file at {shown}.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {shown}: {exc.strerror or exc}.") from None
    refuse_untrusted_config(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown} is not UTF-8 text (bad byte at offset {exc.start}).") from None
    return load_config_text(text, shown)


def load_config_text(text: str, path: str = "<config>") -> AppConfig:
    """Validate config ``text``; ``path`` is only used to name the file in messages."""
    reader = Reader(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    except ValueError:  # tomllib lets int()'s digit limit escape for huge integer literals
        raise ConfigError(
            f"{path} has a number with more than 4300 digits; write a sensible number.") from None
    except RecursionError:  # tomllib recurses per nesting level: 5000 "[" exhaust the stack
        raise ConfigError(f"{path} nests arrays or tables too deeply to be a config.") from None
    except Exception as exc:  # any other parser failure is still one sentence, never a traceback
        raise ConfigError(f"{path} could not be read as TOML ({type(exc).__name__}).") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if "-----BEGIN" in line or "PRIVATE KEY" in line:
            raise ConfigError(f"{path}, line {lineno}: this looks like a private key; secrets belong in the"
                              " vault (traytrader vault add-key), never in the config file.")
    return _app_config(reader, doc)


def _app_config(r: Reader, doc: dict[str, Any]) -> AppConfig:
    r.check_keys(doc, (), TOP_KEYS)
    exchange = _exchange(r, r.table(doc.get("exchange", {}), ("exchange",), EXCHANGE_KEYS))
    raw_hotkeys = doc.get("hotkeys", {})
    parts = [k for k in raw_hotkeys if CLOSE_PART_KEY.fullmatch(k)] if isinstance(raw_hotkeys, dict) else []
    hotkeys = _hotkeys(r, r.table(raw_hotkeys, ("hotkeys",), (*HOTKEY_KEYS, *parts)))
    safety = _safety(r, r.table(doc.get("safety", {}), ("safety",), SAFETY_KEYS))
    asl = _asl(r, doc.get("asl", {}), ("asl",), AslSettings())
    if "profiles" not in doc:
        r.fail((), "the config has no [[profiles]]; add at least one (see config.example.toml)")
    raw_profiles = r.tables(doc["profiles"], ("profiles",))
    if not raw_profiles:
        r.fail(("profiles",), "profiles is empty; add at least one [[profiles]] table")
    profiles: list[Profile] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_profiles, 1):
        where: Where = ("profiles", index)
        profile = _profile(r, r.table(raw, where, PROFILE_KEYS), where, asl, safety)
        folded = profile.name.casefold()
        if folded in seen:
            r.fail((*where, "name"), f"{render((*where, 'name'))} {profile.name!r} is already the name of"
                   f" profiles[{seen[folded]}]; profile names must be unique")
        seen[folded] = index
        profiles.append(profile)
    default = ""
    if "default_profile" in doc:
        default = r.text_value(doc["default_profile"], ("default_profile",), "the name of a profile")
        if default.casefold() not in seen:
            names = ", ".join(p.name for p in profiles)
            r.fail(("default_profile",),
                   f"default_profile {default!r} is not a profile; the profiles are: {names}")
        default = profiles[seen[default.casefold()] - 1].name
    return AppConfig(r.path, exchange, hotkeys, safety, asl, tuple(profiles), default)


def _exchange(r: Reader, t: dict[str, Any]) -> ExchangeSettings:
    w: Where = ("exchange",)
    env = Environment.SIM  # live is never a default: it must be written explicitly
    if "environment" in t:
        env = r.enum(t["environment"], (*w, "environment"), Environment)
    key = "default"
    if "key" in t:
        allowed = "the name of a key in the vault (1 to 64 letters, digits, '-', '_' or '.')"
        key = r.text_value(t["key"], (*w, "key"), allowed)
        if not key or len(key) > 64 or not all(ch.isalnum() or ch in "-_." for ch in key):
            r.fail((*w, "key"), f"exchange.key must be {allowed}")  # the value is not echoed: it may be a key
    urls = list(ENDPOINTS[env])
    for i, (name, schemes) in enumerate((("rest_url", ("http://", "https://")),
                                         ("ws_api_url", ("ws://", "wss://")),
                                         ("stream_url", ("ws://", "wss://")))):
        if name in t:
            allowed = f"a URL starting with {' or '.join(schemes)}"
            url = r.text_value(t[name], (*w, name), allowed).strip()
            if not url.startswith(schemes) or len(url) <= len(schemes[-1]) or " " in url:
                r.fail((*w, name), f"exchange.{name} must be {allowed}, not {url[:60]!r}")
            urls[i] = url.rstrip("/")
    require_tls(r, env, t)
    recv = r.integer(t["recv_window_ms"], (*w, "recv_window_ms"), 1, 60000, unit=" ms") \
        if "recv_window_ms" in t else 5000
    timeout = r.integer(t["request_timeout_ms"], (*w, "request_timeout_ms"), 100, 120000, unit=" ms") \
        if "request_timeout_ms" in t else 5000
    return ExchangeSettings(env, key, urls[0], urls[1], urls[2], recv, timeout)


def parse_hotkey(spec: str) -> str | None:
    """Normalise a pynput hotkey such as ``<ctrl>+<shift>+b``; None when it is not one.

    Exactly one non-modifier key, any number of distinct modifiers. Letters are lower-cased,
    because pynput matches the character the key produces without Shift.
    """
    parts = spec.strip().split("+")
    if spec.strip().endswith("++"):  # "<ctrl>++" means Ctrl and the plus key
        parts = [*parts[:-2], "+"]
    normal: list[str] = []
    main = 0
    for part in parts:
        part = part.strip().lower()
        if part.startswith("<") and part.endswith(">") and len(part) > 2:
            name = part[1:-1]
            if name in MODIFIERS:
                pass
            elif name in NAMED_KEYS or name.isdigit():
                main += 1
            else:
                return None
        elif len(part) == 1 and part.isprintable() and not part.isspace():
            main += 1
        else:
            return None
        if part in normal:
            return None
        normal.append(part)
    return "+".join(normal) if main == 1 else None


def _hotkeys(r: Reader, t: dict[str, Any]) -> HotkeySettings:
    w: Where = ("hotkeys",)
    values: dict[str, Any] = {}
    used: dict[str, str] = {}
    allowed = 'a hotkey in pynput syntax such as "<ctrl>+<shift>+b" (one key plus modifiers), or "" for none'
    for action in HOTKEY_ACTIONS:
        spec = getattr(HotkeySettings, action) if action not in t else \
            r.text_value(t[action], (*w, action), allowed)
        if spec.strip():
            normal = parse_hotkey(spec)
            if normal is None:
                r.fail((*w, action), f"hotkeys.{action} must be {allowed}, not {spec[:40]!r}")
            if normal in used:
                r.fail((*w, action),
                       f"hotkeys.{action} {spec!r} is already the hotkey for hotkeys.{used[normal]}")
            used[normal] = action
            spec = normal
        values[action] = spec.strip()
    close_parts: list[tuple[int, str]] = []
    for key in t:
        match = CLOSE_PART_KEY.fullmatch(key)
        if match is None:
            continue
        spec = r.text_value(t[key], (*w, key), allowed).strip()
        if not spec:
            continue
        normal = parse_hotkey(spec)
        if normal is None:
            r.fail((*w, key), f"hotkeys.{key} must be {allowed}, not {spec[:40]!r}")
        if normal in used:
            r.fail((*w, key), f"hotkeys.{key} {spec!r} is already the hotkey for hotkeys.{used[normal]}")
        used[normal] = key
        close_parts.append((int(match.group(1)), normal))
    values["close_parts"] = tuple(sorted(close_parts))
    if "armed_on_start" in t:
        values["armed_on_start"] = r.boolean(t["armed_on_start"], (*w, "armed_on_start"))
    return HotkeySettings(**values)


def _safety(r: Reader, t: dict[str, Any]) -> SafetySettings:
    w: Where = ("safety",)
    base = SafetySettings()
    return SafetySettings(
        max_notional_usdt=r.decimal(t["max_notional_usdt"], (*w, "max_notional_usdt"), Decimal(0),
                                    MAX_NOTIONAL, unit=" USDT")
        if "max_notional_usdt" in t else base.max_notional_usdt,
        max_orders_per_minute=r.integer(t["max_orders_per_minute"], (*w, "max_orders_per_minute"), 1, 1200)
        if "max_orders_per_minute" in t else base.max_orders_per_minute,
        cooldown_ms=r.integer(t["cooldown_ms"], (*w, "cooldown_ms"), 0, 60000, unit=" ms")
        if "cooldown_ms" in t else base.cooldown_ms,
    )


def _asl(r: Reader, value: Any, w: Where, base: AslSettings) -> AslSettings:
    """Parse an ``[asl]`` table; keys it sets replace those of ``base`` (global defaults or ``[asl]``)."""
    t = r.table(value, w, ASL_KEYS)
    pct = Decimal(100)
    changes: dict[str, Any] = {}
    if "enabled" in t:
        changes["enabled"] = r.boolean(t["enabled"], (*w, "enabled"))
    if "protect_external_positions" in t:
        key = "protect_external_positions"
        changes[key] = r.boolean(t[key], (*w, key))
    for key in ("hard_stop_pct", "safety_stop_pct"):
        if key in t:
            changes[key] = r.decimal(t[key], (*w, key), Decimal(0), pct, unit=" percent")
            if changes[key] == pct:
                r.fail((*w, key), f"{render((*w, key))} must be below 100 percent")
    if "working_type" in t:
        changes["working_type"] = r.enum(t["working_type"], (*w, "working_type"), WorkingType)
    if "watchdog_ms" in t:
        changes["watchdog_ms"] = r.integer(t["watchdog_ms"], (*w, "watchdog_ms"), 50, 60000, unit=" ms")
    if "grace_ms" in t:
        changes["grace_ms"] = r.integer(t["grace_ms"], (*w, "grace_ms"), 0, 600000, unit=" ms")
    if "tiers" in t:
        changes["tiers"] = _tiers(r, t["tiers"], (*w, "tiers"))
    if "take_profit" in t:
        changes["take_profit"] = _take_profit(r, t["take_profit"], (*w, "take_profit"))
    return dataclasses.replace(base, **changes)


def _take_profit(r: Reader, value: Any, w: Where) -> tuple[TakeProfit, ...]:
    """``take_profit = [{ profit_pct = 2, close_fraction = 0.5 }, …]``: rising profits, fractions
    that together close at most the whole position."""
    targets: list[TakeProfit] = []
    for index, raw in enumerate(r.tables(value, w), 1):
        where = (*w, index)
        t = r.table(raw, where, TAKE_PROFIT_KEYS)
        for key in TAKE_PROFIT_KEYS:
            if key not in t:
                r.fail(where, f"{render(where)} needs {key} (take-profits are "
                       "{profit_pct = 2, close_fraction = 0.5})")
        profit = r.decimal(t["profit_pct"], (*where, "profit_pct"), Decimal(0), Decimal(1000),
                           unit=" percent")
        fraction = r.decimal(t["close_fraction"], (*where, "close_fraction"), Decimal(0), Decimal(1))
        if targets and profit <= targets[-1].profit_pct:
            r.fail((*where, "profit_pct"), f"{render((*where, 'profit_pct'))} must be above the previous"
                   f" take-profit's {targets[-1].profit_pct}; list them from the smallest profit up")
        if sum(x.close_fraction for x in targets) + fraction > 1:
            r.fail((*where, "close_fraction"), f"{render((*where, 'close_fraction'))} makes the take-profits"
                   " close more than the whole position; their close_fraction values must add up to at"
                   " most 1")
        targets.append(TakeProfit(profit, fraction))
    return tuple(targets)


def _tiers(r: Reader, value: Any, w: Where) -> tuple[AslTier, ...]:
    tiers: list[AslTier] = []
    for index, raw in enumerate(r.tables(value, w), 1):
        where = (*w, index)
        t = r.table(raw, where, TIER_KEYS)
        for key in TIER_KEYS:
            if key not in t:
                r.fail(where, f"{render(where)} needs {key} (tiers are {{profit_pct = 1, callback_pct = 2}})")
        profit = r.decimal(t["profit_pct"], (*where, "profit_pct"), Decimal(0), Decimal(1000),
                           unit=" percent")
        callback = r.decimal(t["callback_pct"], (*where, "callback_pct"), Decimal(0), Decimal(99),
                             unit=" percent")
        if tiers and profit <= tiers[-1].profit_pct:
            r.fail((*where, "profit_pct"), f"{render((*where, 'profit_pct'))} must be above the previous"
                   f" tier's {tiers[-1].profit_pct}; list tiers from the smallest profit up")
        tiers.append(AslTier(profit, callback))
    return tuple(tiers)


def _profile(r: Reader, t: dict[str, Any], w: Where, asl: AslSettings, safety: SafetySettings) -> Profile:
    for key in ("name", "symbol", "leverage"):
        if key not in t:
            r.fail(w, f"{render(w)} has no {key}; every profile needs name, symbol, leverage and one of"
                   " notional_usdt or quantity")
    name_allowed = f"a name of 1 to {MAX_PROFILE_NAME} characters"
    name = r.text_value(t["name"], (*w, "name"), name_allowed).strip()
    if not name or len(name) > MAX_PROFILE_NAME:
        r.fail((*w, "name"), f"{render((*w, 'name'))} must be {name_allowed}")
    symbol_allowed = 'a Binance USDⓈ-M symbol such as "BTCUSDT"'
    symbol = r.text_value(t["symbol"], (*w, "symbol"), symbol_allowed).strip().upper()
    if not (2 <= len(symbol) <= 20 and symbol.isascii() and symbol.isalnum()):
        r.fail((*w, "symbol"), f"{render((*w, 'symbol'))} must be {symbol_allowed}, not {t['symbol'][:30]!r}")
    leverage = r.integer(t["leverage"], (*w, "leverage"), 1, MAX_LEVERAGE)
    sizes = [key for key in SIZE_KEYS if key in t]
    if len(sizes) != 1:
        r.fail(w, f"{render(w)} ({name}) must set exactly one of notional_usdt (order size in USDT),"
               " quantity (in the base asset), risk_usdt or risk_pct (the loss accepted at the hard stop)")
    has_notional = sizes[0] == "notional_usdt"
    notional = quantity = risk_usdt = risk_pct = None
    if sizes[0] == "risk_usdt":
        risk_usdt = r.decimal(t["risk_usdt"], (*w, "risk_usdt"), Decimal(0), MAX_NOTIONAL, unit=" USDT")
    elif sizes[0] == "risk_pct":
        risk_pct = r.decimal(t["risk_pct"], (*w, "risk_pct"), Decimal(0), Decimal(100),
                             unit=" percent of the wallet balance")
    elif has_notional:
        notional = r.decimal(t["notional_usdt"], (*w, "notional_usdt"), Decimal(0), MAX_NOTIONAL,
                             unit=" USDT")
        if notional > safety.max_notional_usdt:
            r.fail((*w, "notional_usdt"), f"{render((*w, 'notional_usdt'))} {notional} is above"
                   f" safety.max_notional_usdt ({safety.max_notional_usdt}); every order would be refused")
    else:
        quantity = r.decimal(t["quantity"], (*w, "quantity"), Decimal(0), MAX_QUANTITY)
    close_fractions: tuple[Decimal, ...] = (Decimal("0.5"),)
    if "close_fractions" in t:
        where = (*w, "close_fractions")
        raw = t["close_fractions"]
        if not isinstance(raw, list) or not raw:
            r.fail(where, f"{render(where)} must be a list of fractions such as [0.25, 0.5], not {show(raw)}")
        close_fractions = tuple(sorted({r.decimal(v, (*where, i), Decimal(0), Decimal(1))
                                        for i, v in enumerate(raw, 1)}))
    add_fraction = None
    if "add_fraction" in t:
        add_fraction = r.decimal(t["add_fraction"], (*w, "add_fraction"), Decimal(0), Decimal(10))
    margin = r.enum(t["margin_type"], (*w, "margin_type"), MarginType) if "margin_type" in t \
        else MarginType.CROSSED
    order_type = r.enum(t["order_type"], (*w, "order_type"), OrderType) if "order_type" in t \
        else OrderType.MARKET
    if order_type is OrderType.MARKET:
        for key in ("limit_offset_ticks", "time_in_force"):
            if key in t:
                r.fail((*w, key), f"{render((*w, key))} only applies to LIMIT orders, and this profile's"
                       " order_type is MARKET")
    offset = r.integer(t["limit_offset_ticks"], (*w, "limit_offset_ticks"), 0, 10000, unit=" ticks") \
        if "limit_offset_ticks" in t else 0
    tif = r.enum(t["time_in_force"], (*w, "time_in_force"), TimeInForce) if "time_in_force" in t \
        else TimeInForce.GTC
    profile_asl = _asl(r, t["asl"], (*w, "asl"), asl) if "asl" in t else asl
    if "take_profit" in t:
        profile_asl = dataclasses.replace(profile_asl, take_profit=_take_profit(r, t["take_profit"],
                                                                               (*w, "take_profit")))
    if (risk_usdt is not None or risk_pct is not None) and not profile_asl.enabled:
        r.fail((*w, sizes[0]), f"{render((*w, sizes[0]))} sizes orders from the hard stop, and this profile's"
               " ASL is disabled (asl.enabled = false); use notional_usdt or quantity")
    return Profile(name=name, symbol=symbol, leverage=leverage, margin_type=margin, notional_usdt=notional,
                   quantity=quantity, order_type=order_type, limit_offset_ticks=offset, time_in_force=tif,
                   asl=profile_asl, risk_usdt=risk_usdt, risk_pct=risk_pct, close_fractions=close_fractions,
                   add_fraction=add_fraction)


# --- Trust: who may change the config, and where it may send the key --------------------------

URL_KEYS = ("rest_url", "ws_api_url", "stream_url")
_TLS_SCHEMES = ("https", "wss")


def refuse_untrusted_config(path: str | os.PathLike[str]) -> None:
    """``ConfigError`` when another user could change the config file or a directory above it.

    Such a user could point ``rest_url`` at a proxy and collect the API key and signed requests
    (an audit did exactly that while ``check`` said all was well), so, as ssh does, refuse.
    """
    from traytrader.file_guard import trust_problem

    problem = trust_problem(path, "config file")
    if problem:
        raise ConfigError(problem)


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` (and ``*.localhost``), 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tls(r: Reader, env: Environment, t: dict[str, Any]) -> None:
    """Refuse a URL the user wrote that would carry the API key unencrypted.

    ``sim`` may use anything (it is a local simulator); other environments need https:// or
    wss:// unless the host is this machine (a local proxy or simulator); ``live`` needs TLS always.
    """
    if env is Environment.SIM:
        return
    for name in URL_KEYS:
        if name not in t:
            continue
        parts = urlsplit(str(t[name]).strip())
        if parts.scheme.lower() in _TLS_SCHEMES:
            continue
        where: Where = ("exchange", name)
        secure = "https://" if name == "rest_url" else "wss://"
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if env is Environment.LIVE:
            r.fail(where, f"exchange.{name} must start with {secure} for the live environment;"
                   f" {parts.scheme}:// would send your API key and signed orders unencrypted")
        if not is_loopback_host(host):
            r.fail(where, f"exchange.{name} must start with {secure} (TLS) unless it points at this machine"
                   f" (localhost, 127.0.0.1 or ::1); {parts.scheme}:// to {host or 'that host'} would send"
                   " your API key unencrypted")
