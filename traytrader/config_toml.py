"""Reading helpers for ``config.py``: typed getters over parsed TOML that fail with one sentence.

Every failure names the file, the line when it can be found, the dotted key
(``profiles[2].leverage``; list positions count from 1, as a person counts) and what is
allowed. TOML parsers do not keep positions, so ``locate`` finds the line by scanning the
text for table headers and ``key =`` lines.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from traytrader.core.errors import ConfigError

Where = tuple[str | int, ...]
E = TypeVar("E", bound=StrEnum)

# Key names that mean someone is about to paste a secret into a plain-text file.
SECRET_KEY_RE = re.compile(
    r"api[_-]?key|apikey|secret|private[_-]?key|passw(or)?d|passphrase|token|mnemonic|seed", re.IGNORECASE)

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_BARE_OR_QUOTED = r""""[^"]*"|'[^']*'|[A-Za-z0-9_-]+"""
_KEY_RE = re.compile(rf"^\s*((?:{_BARE_OR_QUOTED})(?:\s*\.\s*(?:{_BARE_OR_QUOTED}))*)\s*=")
_BARE_RE = re.compile(r"[A-Za-z0-9_-]+")
_PART_RE = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def render(where: Where) -> str:
    """``("profiles", 2, "leverage")`` → ``profiles[2].leverage``."""
    out = ""
    for part in where:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_RE.fullmatch(part) else _quote(part)
            out += f".{name}" if out else name
    return out


def _quote(key: str) -> str:
    """A TOML quoted key, with anything unprintable escaped so the message stays on one line."""
    inner = "".join(
        "\\\\" if ch == "\\" else '\\"' if ch == '"' else ch if ch.isprintable() else f"\\u{ord(ch):04x}"
        for ch in key)
    return f'"{inner}"'


def _split_dotted(text: str) -> list[str]:
    return [m.group(1) or m.group(2) or m.group(3) or "" for m in _PART_RE.finditer(text)]


def locate(text: str, where: Where) -> int | None:
    """The 1-based line that defines ``where`` (or its nearest enclosing key or table), if any."""
    best_line: int | None = None
    best_len = 0
    current: Where = ()
    counts: dict[Where, int] = {}

    def resolve(names: list[str]) -> Where:
        path: Where = ()
        for name in names:
            path += (name,)
            if path in counts:  # an array of tables: step into its latest element
                path += (counts[path],)
        return path

    for lineno, raw in enumerate(text.splitlines(), 1):
        header = _HEADER_RE.match(raw)
        if header:
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                base = (*resolve(names[:-1]), names[-1])
                counts[base] = counts.get(base, 0) + 1
                current = (*base, counts[base])
            else:
                current = resolve(names)
            path = current
        else:
            key = _KEY_RE.match(raw)
            if not key:
                continue
            path = current + tuple(_split_dotted(key.group(1)))
        if len(path) > best_len and where[:len(path)] == path:
            best_line, best_len = lineno, len(path)
    return best_line


def show(value: Any) -> str:
    """A short, safe description of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, int) and value.bit_length() > 128:
        return "a number with more than 38 digits"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Reader:
    """Typed access to one parsed file; ``fail`` raises the one-sentence ``ConfigError``."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, where: Where, message: str) -> NoReturn:
        line = locate(self.text, where) if where else None
        place = f"{self.path}, line {line}" if line else self.path
        raise ConfigError(f"{place}: {message}.")

    def check_keys(self, table: Mapping[str, Any], where: Where, allowed: Iterable[str]) -> None:
        """Refuse secret-looking keys first (whatever else is wrong), then unknown keys."""
        allowed = list(allowed)
        for key in table:
            if SECRET_KEY_RE.search(key):
                self.fail((*where, key), f"{render((*where, key))} looks like a secret; secrets belong in the"
                          " vault (traytrader vault add-key), never in the config file")
        for key in table:
            if key not in allowed:
                guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"(perhaps you meant {guess[0]}) " if guess else ""
                self.fail((*where, key), f"{render((*where, key))} is not a known key {hint}and"
                          f" the keys allowed here are: {', '.join(allowed)}")

    def table(self, value: Any, where: Where, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"{render(where)} must be a table, not {show(value)}")
        self.check_keys(value, where, allowed)
        return value

    def tables(self, value: Any, where: Where) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(where,
                      f"{render(where)} must be a list of tables ([[{render(where)}]]), not {show(value)}")
        return value

    def text_value(self, value: Any, where: Where, allowed: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"{render(where)} must be {allowed}, not {show(value)}")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            self.fail(where, f"{render(where)} must be {allowed}, without control characters")
        return value

    def boolean(self, value: Any, where: Where) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"{render(where)} must be true or false, not {show(value)}")
        return value

    def enum(self, value: Any, where: Where, cls: type[E]) -> E:
        choices = ", ".join(m.value for m in cls)
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.strip().lower():
                    return member
        self.fail(where, f"{render(where)} must be one of {choices}, not {show(value)}")

    def decimal(self, value: Any, where: Where, low: Decimal, high: Decimal, *,
                low_open: bool = True, unit: str = "") -> Decimal:
        """A number written as TOML int, float or string, converted with ``str()`` (never float maths)."""
        low_word = "above" if low_open else "at least"
        allowed = f"a number {low_word} {low} and at most {high}{unit}"
        number = _to_decimal(value)
        if number is None:
            self.fail(where, f"{render(where)} must be {allowed}, not {show(value)}")
        if (number <= low if low_open else number < low) or number > high:
            self.fail(where, f"{render(where)} must be {allowed}, not {show(value)}")
        return number

    def integer(self, value: Any, where: Where, low: int, high: int, *, unit: str = "") -> int:
        allowed = f"a whole number from {low} to {high}{unit}"
        number = _to_decimal(value)
        if number is None or number != number.to_integral_value() or not low <= number <= high:
            self.fail(where, f"{render(where)} must be {allowed}, not {show(value)}")
        return int(number)


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None
