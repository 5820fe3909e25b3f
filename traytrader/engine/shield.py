"""The error shield's actions: what the engine does for each row of ``core/shield_table.py``.

``react`` performs the row's reaction (resync the clock, re-read the position mode, refresh the
filters, hold orders after 429/-1003/-1015, stop sending after 418) and returns whether the
request should be rebuilt and sent once more, plus the sentence for the user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from traytrader.core.decimals import format_decimal
from traytrader.core.errors import ExchangeRejected
from traytrader.core.shield_table import Reaction, explain, row_for
from traytrader.engine.api import EngineState
from traytrader.engine.session import Session
from traytrader.engine.warmup import load_exchange_info, load_position_mode

# Retries are allowed once per request for these reactions (issue 5: "retry once", "rebuild once").
_RETRYABLE = (Reaction.RESYNC_CLOCK_RETRY, Reaction.REREAD_MODE_REBUILD, Reaction.REFRESH_FILTERS_REBUILD)
DEFAULT_HOLD_S = 60.0


@dataclass(frozen=True)
class ShieldVerdict:
    retry: bool
    text: str
    reaction: Reaction | None


def _clock_text(epoch_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch_ms / 1000))


class Shield:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def react(self, exc: ExchangeRejected, *, symbol: str = "", retried: bool = False) -> ShieldVerdict:
        """Perform the reaction for ``exc``; ``retried``: this request was already sent twice."""
        session = self.session
        row = row_for(exc.code, exc.http_status)
        reaction = row.reaction if row else None
        context: dict[str, object] = {"symbol": symbol or None}
        retry = False
        if reaction in _RETRYABLE and not retried:
            try:
                if reaction is Reaction.RESYNC_CLOCK_RETRY:
                    await session.clock.sync(session.rest)
                elif reaction is Reaction.REREAD_MODE_REBUILD:
                    await load_position_mode(session)
                else:
                    await load_exchange_info(session)
                retry = True
            except Exception as error:  # the reaction itself failed: explain the original error
                session.notice(f"Could not recover from code {exc.code}: {error}", "warning")
        elif reaction in (Reaction.BACKOFF_HOLD, Reaction.BANNED):
            return ShieldVerdict(False, self.hold(exc, symbol) or "", reaction)
        if exc.code == -4164 and symbol and session.info is not None and symbol in session.info:
            minimum = session.info.symbol(symbol).min_notional
            context["min_notional"] = format_decimal(minimum) if minimum is not None else None
        text = explain(exc.code, exc.msg, http_status=exc.http_status, retried=retry, **context)
        return ShieldVerdict(retry, text, reaction)

    def hold(self, exc: ExchangeRejected, symbol: str = "") -> str | None:
        """For a 429/-1003/-1015 or 418 answer (WS API or REST alike: the limits are shared):
        hold new orders until its ``retryAfter``/``Retry-After`` and return the sentence saying
        until when; a ban also sets ERROR until it ends. ``None`` for any other answer."""
        row = row_for(exc.code, exc.http_status)
        if row is None or row.reaction not in (Reaction.BACKOFF_HOLD, Reaction.BANNED):
            return None
        session = self.session
        until = exc.retry_until_ms or session.clock.now_ms() + int(DEFAULT_HOLD_S * 1000)
        text = explain(exc.code, exc.msg, http_status=exc.http_status, symbol=symbol or None,
                       until=_clock_text(until - session.clock.offset_ms))
        session.limiter.hold_until(until, text)
        session.note_rate_limit(exc)   # no reconnect or resync before then either
        if row.reaction is Reaction.BANNED:
            session.set_state(EngineState.ERROR, text)
            session.spawn(self._lift_ban(until), "ban-timer")
        return text

    async def _lift_ban(self, until_ms: int) -> None:
        await asyncio.sleep(max(0.0, (until_ms - self.session.clock.now_ms()) / 1000))
        if self.session.state is EngineState.ERROR and self.session.ws is not None:
            self.session.set_state(EngineState.READY)
