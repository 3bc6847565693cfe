"""What an Update ID recorded, compared with a request sent again under it
(workflows/receipts.py): a true repeat is the same event with the same details, read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.actions import parse_action
from models.record import AuditEntry
from states import errors as e
from workflows.receipts import check_repeat, recorded_details, same_action

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WORK_UP = {
    "actor": "dr.martin",
    "role": "ard_specialist",
    "completed_at": "2026-11-20T09:00:00+01:00",
    "lvef_percent": 61,
}


def recorded(event: str, fields: dict[str, object]) -> AuditEntry:
    """The audit entry the pathway writes for ``event`` sent with ``fields``."""
    action = parse_action(event, fields)
    return AuditEntry(
        seq=1,
        at=AT,
        event=event,
        actor=action.actor,
        role=action.role,
        reason=action.reason,
        update_id="u-1",
        from_state="referred",
        to_state="awaiting_mdtm",
        data=action.model_dump(mode="json", exclude={"actor", "role", "reason", "assertion"}),
    )


class TestSameAction:
    def test_the_same_details_are_a_repeat(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        assert same_action(entry, "record_work_up", parse_action("record_work_up", WORK_UP))

    def test_the_same_instant_in_another_zone_is_a_repeat(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        utc = {**WORK_UP, "completed_at": "2026-11-20T08:00:00Z"}
        assert same_action(entry, "record_work_up", parse_action("record_work_up", utc))

    def test_other_details_are_not(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        other = parse_action("record_work_up", {**WORK_UP, "lvef_percent": 40})
        assert not same_action(entry, "record_work_up", other)

    def test_a_reason_given_only_once_is_not(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        other = parse_action("record_work_up", {**WORK_UP, "reason": "repeat echo"})
        assert not same_action(entry, "record_work_up", other)

    def test_recorded_details_read_back_as_sent(self) -> None:
        entry = recorded("record_work_up", {**WORK_UP, "reason": "routine"})
        assert parse_action("record_work_up", recorded_details(entry)) == parse_action(
            "record_work_up", {**WORK_UP, "reason": "routine"}
        )


class TestReuseRefusal:
    def test_another_action_names_the_one_recorded(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        approve = parse_action(
            "approve_at_mdtm",
            {
                "actor": "dr.martin",
                "role": "ard_specialist",
                "ard_specialist": "dr.martin",
                "cell_therapy_specialist": "dr.roux",
            },
        )
        with pytest.raises(e.UpdateIdReused) as reused:
            check_repeat(entry, "approve_at_mdtm", approve, update_id="u-1", state="awaiting_mdtm")
        message = reused.value.message
        assert "Update ID u-1 was already used for 'record_work_up'" in message
        assert "'approve_at_mdtm' was not done" in message and "2026-12-01 09:00:00 UTC" in message
        assert reused.value.rule == "UpdateIdReused" and reused.value.outcome == "refused"

    def test_a_true_repeat_passes(self) -> None:
        entry = recorded("record_work_up", WORK_UP)
        action = parse_action("record_work_up", WORK_UP)
        check_repeat(entry, "record_work_up", action, update_id="u-1", state="awaiting_mdtm")
