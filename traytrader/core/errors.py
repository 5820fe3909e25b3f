"""Errors, organised by who must act.

    TraytraderError                 base; ``str(exc)`` is one sentence for the user
    ├── ConfigError                 a human must fix the config file
    ├── VaultError                  a human must fix the vault or the password
    ├── InvalidOrder                our own validation refused the order (names the filter)
    ├── CommandRefused              a safety rule refused a command (locked, disarmed, cooldown, caps)
    ├── ExchangeRejected            Binance (or the simulator) refused it: carries ``code`` and ``msg``
    └── TransportError              the connection failed; ``retryable`` says whether to try again
        └── OutcomeUnknown          a request was sent and no answer came: resolve before resending

Foreign exceptions and ``{code, msg}`` bodies are converted once, at the edge (``exchange/``).
Messages never contain secrets: callers pass names and values, never key material.
"""

from __future__ import annotations

from traytrader.core.codes import BinanceCode


class TraytraderError(Exception):
    """Base of every error we raise on purpose; its text is shown to the user as is."""

    exit_code = 1


class ConfigError(TraytraderError):
    exit_code = 2


class VaultError(TraytraderError):
    exit_code = 3


class InvalidOrder(TraytraderError):
    """Our own checks refused an order before anything was signed or sent."""

    def __init__(self, message: str, *, filter_name: str = "") -> None:
        super().__init__(message)
        self.filter_name = filter_name


class CommandRefused(TraytraderError):
    """A safety rule refused a command; nothing was sent and nothing was queued."""


class ExchangeRejected(TraytraderError):
    """The exchange answered with an error body ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str, *, http_status: int = 400, explanation: str = "",
                 retry_until_ms: int | None = None) -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.explanation = explanation
        self.retry_until_ms = retry_until_ms  # 429/418: when the exchange allows requests again
        super().__init__(explanation or f"The exchange refused the request: {msg} (code {code}).")

    @property
    def binance_code(self) -> BinanceCode | None:
        try:
            return BinanceCode(self.code)
        except ValueError:
            return None


class TransportError(TraytraderError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class OutcomeUnknown(TransportError):
    """The request left this machine but no answer came back; it may or may not have executed."""
