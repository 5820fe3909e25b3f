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
TRANSITIONS[(_P.CLOSING, CloseResult)] = frozenset({_P.CLOSING, _P.UNPROTECTED, _P.PLACING})
