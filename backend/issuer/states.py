"""The states an issue passes, and which moves between them are allowed.

detected -> awaiting_approval (semi_auto) -> approved -> signing -> signed -> submitted
         -> approved (auto)                                                 -> confirmed
awaiting_approval -> rejected
signing/signed/submitted -> approved   only when the chain proves the tx can never land
                                       (its sequence was consumed and its hash is absent)
signing/signed/submitted -> failed     after repeated refusals; an operator retries it
failed -> signing/signed (retry the same tx) or approved (never signed, or proven dead)
"""

from __future__ import annotations

from enum import StrEnum


class IssueState(StrEnum):
    DETECTED = "detected"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SIGNING = "signing"
    SIGNED = "signed"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    FAILED = "failed"


S = IssueState

ALL_STATES: tuple[str, ...] = tuple(s.value for s in IssueState)
IN_FLIGHT = frozenset({S.SIGNING, S.SIGNED, S.SUBMITTED})
# Not yet on the chain and not given up on: counted as "pending" in totals.
PENDING = frozenset({S.DETECTED, S.AWAITING_APPROVAL, S.APPROVED, *IN_FLIGHT, S.FAILED})
FINAL = frozenset({S.CONFIRMED, S.REJECTED})

TRANSITIONS: dict[IssueState, frozenset[IssueState]] = {
    S.DETECTED: frozenset({S.AWAITING_APPROVAL, S.APPROVED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.SIGNING}),
    S.SIGNING: frozenset({S.SIGNED, S.APPROVED, S.FAILED, S.CONFIRMED}),
    S.SIGNED: frozenset({S.SUBMITTED, S.CONFIRMED, S.APPROVED, S.FAILED}),
    S.SUBMITTED: frozenset({S.CONFIRMED, S.APPROVED, S.FAILED}),
    S.FAILED: frozenset({S.APPROVED, S.SIGNING, S.SIGNED}),
    S.CONFIRMED: frozenset(),
    S.REJECTED: frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return IssueState(target) in TRANSITIONS[IssueState(current)]
