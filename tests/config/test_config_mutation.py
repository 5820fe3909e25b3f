"""Property-based mutation of config.example.toml: every outcome is a valid config or one clear sentence.

Mutations: replace a value with another type, a huge or negative number, unicode text, a table
or list; delete a key; add an unknown (possibly secret-looking) key; duplicate a profile name.
Never another exception, never a multi-line message, always the file and a key named.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from traytrader.config import load_config_text
from traytrader.core.errors import ConfigError
from traytrader.core.models import AppConfig

EXAMPLE = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text(encoding="utf-8")
BASE: dict[str, Any] = tomllib.loads(EXAMPLE)
NAMES_A_KEY = re.compile(
    r"\b(exchange|hotkeys|safety|asl|profiles|default_profile)\b|is not a known key|secret")

Path_ = tuple[str | int, ...]


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key and list position in the document, parents before children."""
    found: list[Path_] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


PATHS = _paths(BASE)
def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


TABLE_PATHS = [()] + [p for p in PATHS if isinstance(_get(BASE, p), dict)]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "-1", "1e400", "NaN", "<ctrl>+b", "btc-100", "LIVE", "MARKET", "ü",
                     "\u2028", "🙂", "ＢＴＣＵＳＤＴ"]),
    st.booleans(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=8), scalars,
                                                                             max_size=2))
key_names = st.one_of(st.text(min_size=1, max_size=20),
                      st.sampled_from(["api_key", "secret", "private_key", "password", "token", "levrage",
                                       "symbol ", "Name", "tiers", "asl", "profiles"]))


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if kind == "duplicate":
            profiles = doc.get("profiles")
            if isinstance(profiles, list) and len(profiles) > 1 and \
                    all(isinstance(p, dict) for p in profiles):
                profiles[-1]["name"] = profiles[0].get("name", "x")
            continue
        if kind == "add":
            table = _get_or_none(doc, draw(st.sampled_from(TABLE_PATHS)))
            if isinstance(table, dict):
                table[draw(key_names)] = draw(values)
            continue
        path = draw(st.sampled_from(PATHS))
        parent = _get_or_none(doc, path[:-1])
        last = path[-1]
        present = (isinstance(parent, dict) and last in parent) or (
            isinstance(parent, list) and isinstance(last, int) and last < len(parent))
        if present:
            if kind == "delete":
                del parent[last]
            else:
                parent[last] = draw(values)
    return doc


def _get_or_none(doc: Any, path: Path_) -> Any:
    try:
        return _get(doc, path)
    except (KeyError, IndexError, TypeError):
        return None


def check(text: str) -> None:
    try:
        config = load_config_text(text, "mutant.toml")
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.endswith("."), message
        assert message.startswith("mutant.toml"), message
        assert NAMES_A_KEY.search(message) or "not valid TOML" in message or "digits" in message, message
        return
    assert isinstance(config, AppConfig)
    assert config.profiles
    for profile in config.profiles:
        assert 1 <= profile.leverage <= 125
        sizes = [x for x in (profile.notional_usdt, profile.quantity, profile.risk_usdt, profile.risk_pct)
                 if x is not None]
        assert len(sizes) == 1 and sizes[0] > 0   # exactly one way to size the order
    assert len({p.name.casefold() for p in config.profiles}) == len(config.profiles)


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_document_loads_or_fails_with_one_sentence(doc: dict[str, Any]) -> None:
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # e.g. nan/inf in a list tomli-w will not write
        return
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_text_lines_load_or_fail_with_one_sentence(data: st.DataObject) -> None:
    """Text-level edits keep the user's layout (comments, [[tables]]) so line lookup is exercised too."""
    lines = EXAMPLE.splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    edit = data.draw(st.sampled_from(["drop", "value", "dup", "garbage"]))
    line = lines[index]
    if edit == "drop":
        del lines[index]
    elif edit == "dup":
        lines.insert(index, line)
    elif edit == "value" and "=" in line and not line.lstrip().startswith("#"):
        key = line.split("=", 1)[0]
        literal = data.draw(st.sampled_from(["-1", "0", "1e999", "99999999999999999999", '"x"', "true", "[]",
                                             "{}", '"ü"', "nan", "-inf", '"1e-99999"', "1979-05-27"]))
        lines[index] = f"{key}= {literal}"
    else:
        lines[index] = data.draw(st.text(max_size=20))
    check("\n".join(lines) + "\n")
