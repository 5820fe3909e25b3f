"""The control channel ``traytrader send`` talks to: one line in, one line out.

Why: Wayland gives pynput no global keys, so compositor shortcuts, window-manager bindings or a
macro pad run ``traytrader send buy`` and reach the same warm engine path as a hotkey.

This module is what the app imports; the parts live in
* ``control_wire``: the protocol, the endpoint file and the client (light: ``send`` imports only it);
* ``control_server``: the server, both transports (Unix socket with peer-uid check; loopback TCP
  with a per-user token), with its caps and deadlines.
See those modules for the protocol and the security rules.
"""

from __future__ import annotations

from pathlib import Path

from traytrader.core.errors import CommandRefused
from traytrader.ui import control_wire
from traytrader.ui.control_server import (
    ACTIONS,
    ControlServer,
    Handler,
    default_transport,
    peer_uid,
    prepare_path,
)
from traytrader.ui.control_server import parse_request as _parse_request
from traytrader.ui.control_wire import MAX_LINE, format_reply, reply_ok
from traytrader.ui.menu_model import Action

__all__ = [
    "MAX_LINE",
    "WORDS",
    "ControlServer",
    "Handler",
    "NoInstance",
    "default_transport",
    "format_reply",
    "parse_request",
    "peer_uid",
    "prepare_path",
    "reply_ok",
    "send_request",
]

# request word → (action, takes an argument)
WORDS: dict[str, tuple[Action | None, bool]] = {
    word: (ACTIONS[word], takes_argument) for word, takes_argument in control_wire.REQUEST_WORDS.items()
}
Request = tuple[Action | None, str]  # (None, "") is "status"


def parse_request(line: str) -> Request:
    """``"profile scalp"`` → ``(Action.SELECT_PROFILE, "scalp")``; bad input raises CommandRefused."""
    try:
        return _parse_request(line)
    except control_wire.BadRequest as exc:
        raise CommandRefused(str(exc)) from None


class NoInstance(CommandRefused):
    """Nothing listens on the control channel."""


def send_request(path: Path, line: str, timeout: float = control_wire.DEFAULT_TIMEOUT_S) -> str:
    """Client side: send one request line, return the reply line (without the newline)."""
    try:
        return control_wire.send_request(path, line, timeout)
    except control_wire.NoListener as exc:
        raise NoInstance(str(exc)) from exc
    except control_wire.SendFailed as exc:
        raise CommandRefused(str(exc)) from exc
