"""The ladder's phases and its literal transition table (h11's ``_state.py`` is the model).

``TRANSITIONS[(phase, input type)]`` is the set of phases the ladder may be in after that input.
Every (phase, input) pair is in the table: every input is valid in every phase and is always
applied. A phase outside the set is not an error that drops the input; the ladder keeps what it
learnt and reconciles with a fresh snapshot of the open stops (``Ladder.handle``).

The per-stop table (``STOP_TABLE``) does the same for each of our stops: its status, an event
about it, and the status after; pairs marked unexpected also reconcile.
"""

from __future__ import annotations

from enum import StrEnum

from traytrader.core.asl_io import (
    AlgoUpdate,
    CancelResult,
    CloseResult,
    Floor,
    MarkPrice,
    OpenStops,
    PlaceResult,
    PositionUpdate,
    Recover,
    Tick,
)


class StopPhase(StrEnum):
    IDLE = "idle"                      # nothing to protect (retired stops may still be cancelling)
    PLACING = "placing"                # position, no confirmed stop, a placement in flight
    UNPROTECTED = "unprotected"        # position, no confirmed stop, waiting for a retry
    PROTECTED = "protected"            # one confirmed stop, nothing in flight
    REPLACING = "replacing"            # confirmed stop, a replacement in flight
    CANCELLING_OLD = "cancelling_old"  # replacement confirmed, the old one's cancel outstanding
    CLOSING = "closing"                # safety stop would trigger: reduce-only market close in flight



_P = StopPhase
_ANY = frozenset(StopPhase)
_PLAN_FROM = {  # what the plan step alone can reach from each phase (mark prices, ticks)
    _P.IDLE: {_P.IDLE},
    _P.PLACING: {_P.PLACING},
    _P.UNPROTECTED: {_P.UNPROTECTED, _P.PLACING},
    _P.PROTECTED: {_P.PROTECTED, _P.REPLACING},
    _P.REPLACING: {_P.REPLACING},
    _P.CANCELLING_OLD: {_P.CANCELLING_OLD},
    _P.CLOSING: {_P.CLOSING},
}
_OUTCOME_FROM = {  # a confirmation, a loss or a rejection (results, ALGO_UPDATEs, snapshots)
    _P.IDLE: {_P.IDLE},
    _P.PLACING: {_P.PLACING, _P.UNPROTECTED, _P.PROTECTED, _P.REPLACING, _P.CANCELLING_OLD},
    _P.UNPROTECTED: {_P.UNPROTECTED, _P.PLACING},
    _P.PROTECTED: {_P.PROTECTED, _P.REPLACING, _P.UNPROTECTED, _P.PLACING},
    _P.REPLACING: {_P.REPLACING, _P.CANCELLING_OLD, _P.PROTECTED, _P.PLACING, _P.UNPROTECTED},
    _P.CANCELLING_OLD: {_P.CANCELLING_OLD, _P.PROTECTED, _P.REPLACING, _P.PLACING, _P.UNPROTECTED},
    _P.CLOSING: {_P.CLOSING},
}
_SNAPSHOT_FROM = {  # as outcomes, plus an unknown stop of ours turning up (adopted or cancelled)
    **_OUTCOME_FROM,
    _P.UNPROTECTED: {_P.UNPROTECTED, _P.PLACING, _P.PROTECTED, _P.REPLACING, _P.CANCELLING_OLD},
    _P.PROTECTED: {_P.PROTECTED, _P.REPLACING, _P.UNPROTECTED, _P.PLACING, _P.CANCELLING_OLD},
}
_POSITION_FROM = {  # open, resize, reverse, close
    _P.IDLE: {_P.IDLE, _P.PLACING},
    _P.PLACING: {_P.PLACING, _P.IDLE},
    _P.UNPROTECTED: {_P.UNPROTECTED, _P.PLACING, _P.IDLE},
    _P.PROTECTED: {_P.PROTECTED, _P.REPLACING, _P.PLACING, _P.IDLE},
    _P.REPLACING: {_P.REPLACING, _P.PLACING, _P.IDLE},
    _P.CANCELLING_OLD: {_P.CANCELLING_OLD, _P.PLACING, _P.IDLE},
    _P.CLOSING: {_P.CLOSING, _P.PLACING, _P.IDLE},
}

# (phase, input type) -> phases the ladder may be in afterwards.
TRANSITIONS: dict[tuple[StopPhase, type], frozenset[StopPhase]] = {}
for _phase in StopPhase:
    TRANSITIONS[(_phase, MarkPrice)] = frozenset(_PLAN_FROM[_phase])
    TRANSITIONS[(_phase, Tick)] = frozenset(_PLAN_FROM[_phase])
    TRANSITIONS[(_phase, Floor)] = frozenset(_PLAN_FROM[_phase])   # breakeven: a better stop to place
    TRANSITIONS[(_phase, PositionUpdate)] = frozenset(_POSITION_FROM[_phase])
    TRANSITIONS[(_phase, Recover)] = _ANY
    for _kind in (PlaceResult, AlgoUpdate, CancelResult):
        TRANSITIONS[(_phase, _kind)] = frozenset(_OUTCOME_FROM[_phase])
    TRANSITIONS[(_phase, OpenStops)] = frozenset(_SNAPSHOT_FROM[_phase])
    TRANSITIONS[(_phase, CloseResult)] = frozenset(_PLAN_FROM[_phase])
# Only a placement result can start a close (safety stop refused with -2021); a failed close
# resumes the watchdog.
for _phase in (_P.PLACING, _P.REPLACING):
    TRANSITIONS[(_phase, PlaceResult)] = TRANSITIONS[(_phase, PlaceResult)] | {_P.CLOSING}
# A close that went through or failed: back to whatever protects the position meanwhile (an older
# stop may cover part of it: a stop that would have fired at once closes even then).
TRANSITIONS[(_P.CLOSING, CloseResult)] = frozenset({_P.CLOSING, _P.UNPROTECTED, _P.PLACING, _P.PROTECTED,
                                                     _P.REPLACING, _P.CANCELLING_OLD})


class StopStatus(StrEnum):
    """Where one of our stops stands on the exchange, as far as the ladder knows."""

    PLACING = "placing"                    # sent, no answer yet
    UNCERTAIN = "uncertain"                # placement outcome unknown: reconciling by clientAlgoId
    LIVE = "live"                          # confirmed (answer, ALGO_UPDATE NEW, a snapshot)
    FIRING = "firing"                      # TRIGGERING/TRIGGERED: the exchange is closing the position
    CANCELLING = "cancelling"              # our cancel is on its way
    CANCEL_UNCERTAIN = "cancel_uncertain"  # the cancel failed or its outcome is unknown: reconciling


class StopEvent(StrEnum):
    """What can happen to one of our stops short of its end. Its end (rejected, cancelled,
    finished, expired, or gone from a snapshot) removes it from the ladder in any status."""

    CONFIRMED = "confirmed"            # placement answered OK, or ALGO_UPDATE NEW
    PLACE_UNKNOWN = "place_unknown"    # the placement's outcome is unknown
    CANCEL_SENT = "cancel_sent"
    CANCEL_UNKNOWN = "cancel_unknown"  # the cancel failed or its outcome is unknown
    FIRING = "firing"                  # ALGO_UPDATE TRIGGERING / TRIGGERED
    LISTED = "listed"                  # a snapshot of the open stops lists it


_S, _E = StopStatus, StopEvent
#: (status, event) -> (status after, expected). Every pair is here; an unexpected one still moves
#: the stop as written (what the exchange said wins) and makes the ladder reconcile.
STOP_TABLE: dict[tuple[StopStatus, StopEvent], tuple[StopStatus, bool]] = {
    (_S.PLACING, _E.CONFIRMED): (_S.LIVE, True),
    (_S.PLACING, _E.PLACE_UNKNOWN): (_S.UNCERTAIN, True),
    (_S.PLACING, _E.CANCEL_SENT): (_S.PLACING, False),          # never cancel what is not there yet
    (_S.PLACING, _E.CANCEL_UNKNOWN): (_S.PLACING, False),
    (_S.PLACING, _E.FIRING): (_S.FIRING, True),                 # placed and fired before its answer
    (_S.PLACING, _E.LISTED): (_S.LIVE, True),

    (_S.UNCERTAIN, _E.CONFIRMED): (_S.LIVE, True),
    (_S.UNCERTAIN, _E.PLACE_UNKNOWN): (_S.UNCERTAIN, True),
    (_S.UNCERTAIN, _E.CANCEL_SENT): (_S.CANCELLING, True),      # retired: cancel in case it exists
    (_S.UNCERTAIN, _E.CANCEL_UNKNOWN): (_S.UNCERTAIN, False),
    (_S.UNCERTAIN, _E.FIRING): (_S.FIRING, True),
    (_S.UNCERTAIN, _E.LISTED): (_S.LIVE, True),

    (_S.LIVE, _E.CONFIRMED): (_S.LIVE, True),                   # a duplicate or late report
    (_S.LIVE, _E.PLACE_UNKNOWN): (_S.LIVE, True),
    (_S.LIVE, _E.CANCEL_SENT): (_S.CANCELLING, True),
    (_S.LIVE, _E.CANCEL_UNKNOWN): (_S.CANCEL_UNCERTAIN, False),
    (_S.LIVE, _E.FIRING): (_S.FIRING, True),
    (_S.LIVE, _E.LISTED): (_S.LIVE, True),

    (_S.FIRING, _E.CONFIRMED): (_S.FIRING, True),
    (_S.FIRING, _E.PLACE_UNKNOWN): (_S.FIRING, True),
    (_S.FIRING, _E.CANCEL_SENT): (_S.FIRING, False),            # a firing stop is never cancelled
    (_S.FIRING, _E.CANCEL_UNKNOWN): (_S.FIRING, True),
    (_S.FIRING, _E.FIRING): (_S.FIRING, True),
    (_S.FIRING, _E.LISTED): (_S.FIRING, True),

    (_S.CANCELLING, _E.CONFIRMED): (_S.CANCELLING, True),
    (_S.CANCELLING, _E.PLACE_UNKNOWN): (_S.CANCELLING, True),
    (_S.CANCELLING, _E.CANCEL_SENT): (_S.CANCELLING, True),
    (_S.CANCELLING, _E.CANCEL_UNKNOWN): (_S.CANCEL_UNCERTAIN, True),
    (_S.CANCELLING, _E.FIRING): (_S.FIRING, True),              # it fired before the cancel landed
    (_S.CANCELLING, _E.LISTED): (_S.CANCELLING, True),

    (_S.CANCEL_UNCERTAIN, _E.CONFIRMED): (_S.CANCEL_UNCERTAIN, True),
    (_S.CANCEL_UNCERTAIN, _E.PLACE_UNKNOWN): (_S.CANCEL_UNCERTAIN, True),
    (_S.CANCEL_UNCERTAIN, _E.CANCEL_SENT): (_S.CANCELLING, True),   # listed again: cancel again
    (_S.CANCEL_UNCERTAIN, _E.CANCEL_UNKNOWN): (_S.CANCEL_UNCERTAIN, True),
    (_S.CANCEL_UNCERTAIN, _E.FIRING): (_S.FIRING, True),
    (_S.CANCEL_UNCERTAIN, _E.LISTED): (_S.CANCEL_UNCERTAIN, True),
}
#: Statuses in which the stop is known (or, cancelling, taken) to exist on the exchange.
EXISTING = frozenset({_S.LIVE, _S.FIRING, _S.CANCELLING, _S.CANCEL_UNCERTAIN})
