"""Honest receipts: what an Update ID already recorded on a pathway, and whether a request
sent again under that ID is a true repeat or another action.

An Update ID is the idempotency key of a click. Sent again with the same action and the same
details, it is a repeat: the original receipt comes back, marked ``duplicate``. Sent with
another action, or other details, it is refused (``UpdateIdReused``) naming the action the
ID recorded, and nothing is done. Used by the workflow's validator (a repeat reaching a later
run, after continue-as-new) and by the client (within a run the Temporal server answers a
completed Update ID with its stored result, without asking the workflow).

Usage::

    entry = record.entry_for_update(update_id)
    if entry is not None:
        check_repeat(entry, event, action)     # raises UpdateIdReused unless a true repeat

Pure: no temporalio, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from models.actions import StaffAction, parse_action
from models.cosignature import SIGNATURE_FIELDS
from models.pathway import ActionReceipt
from models.record import AuditEntry
from states.errors import UpdateIdReused


def recorded_details(entry: AuditEntry) -> dict[str, Any]:
    """The details the entry's action was sent with (who, role, reason and its data)."""
    fields: dict[str, Any] = {"actor": entry.actor, "role": entry.role.value, **entry.data}
    if entry.reason is not None:
        fields["reason"] = entry.reason
    return fields


def same_action(entry: AuditEntry, event: str, action: StaffAction) -> bool:
    """Whether ``event`` with ``action`` is the action ``entry`` recorded: same event, and
    details equal once read (a time written in another zone is the same instant)."""
    if entry.event != event:
        return False
    try:
        return parse_action(event, recorded_details(entry)) == action.model_copy(
            update={"assertion": None, "cosignature": None}
        )
    except (KeyError, ValidationError):
        # Recorded under an older payload schema: compare what each says, as JSON.
        recorded = {k: v for k, v in recorded_details(entry).items() if v is not None}
        return recorded == action.model_dump(
            mode="json", exclude_none=True, exclude=set(SIGNATURE_FIELDS)
        )


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reuse_refusal(
    update_id: str, event: str, *, used_for: str, seq: int, at: datetime, state: str
) -> UpdateIdReused:
    """The refusal of ``event`` sent under an Update ID that recorded ``used_for``."""
    what = f"'{event}' with other details" if used_for == event else f"'{used_for}'"
    return UpdateIdReused(
        f"Update ID {update_id} was already used for {what} (action #{seq}, recorded at "
        f"{_utc(at)}); '{event}' was not done and nothing changed. Send it with a new "
        "update ID.",
        event=event,
        state=state,
    )


def check_repeat(
    entry: AuditEntry, event: str, action: StaffAction, *, update_id: str, state: str
) -> None:
    """Return if ``event``/``action`` repeats ``entry``; raise ``UpdateIdReused`` if not."""
    if not same_action(entry, event, action):
        raise reuse_refusal(
            update_id, event, used_for=entry.event, seq=entry.seq, at=entry.at, state=state
        )


def receipt(
    pathway_id: str,
    entry: AuditEntry,
    state: str,
    allowed_next: list[str],
    *,
    duplicate: bool = False,
) -> ActionReceipt:
    """The receipt of the action ``entry`` recorded, with where the pathway is now."""
    return ActionReceipt(
        pathway_id=pathway_id,
        event=entry.event,
        seq=entry.seq,
        from_state=entry.from_state,
        state=state,
        at=entry.at,
        duplicate=duplicate,
        allowed_next=allowed_next,
    )
