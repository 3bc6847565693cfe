"""The web app's action and referral forms are generated from the pydantic models and read
back into the details the models take."""

from __future__ import annotations

import pytest

from models.actions import EVENT_PAYLOADS, parse_action
from models.referral import Referral
from web.forms import FormRefused, form_fields, read_form


def by_name(model) -> dict:
    return {f.name: f for f in form_fields(model)}


class TestFormFields:
    """One field per model field; who acts comes from the session, never the form."""

    def test_every_action_has_a_form_without_actor_role_or_signatures(self) -> None:
        session = {"actor", "role", "assertion", "cosignature"}
        for event, model in EVENT_PAYLOADS.items():
            names = {f.name for f in form_fields(model)}
            assert not names & session, event
            # A nested part (an observation's CRS findings) is flattened: crs.temperature_c.
            parts = {name.split(".")[0] for name in names}
            assert parts == set(model.model_fields) - session, event

    def test_an_observation_form_has_optional_parts_with_nothing_preselected(self) -> None:
        fields = by_name(EVENT_PAYLOADS["record_observation"])
        assert {"crs.temperature_c", "icans.ice_score", "icans.consciousness"} <= set(fields)
        assert not any(f.required or f.default for f in fields.values())
        posted = {"icans.ice_score": "5", "crs.hypotension": ""}
        assert read_form(EVENT_PAYLOADS["record_observation"], posted) == {
            "icans": {"ice_score": "5"}
        }

    def test_the_exclusion_checklist_and_treatments_are_json(self) -> None:
        fields = by_name(EVENT_PAYLOADS["record_work_up"])
        assert (
            fields["exclusions"].kind == "json" and "active_infection" in fields["exclusions"].help
        )
        # Blank, not "[]": an empty list would replace the referral's treatments.
        assert (
            fields["prior_treatments"].kind == "json" and fields["prior_treatments"].default == ""
        )
        assert fields["severity.score"].kind == "text" and not fields["severity.score"].required

    def test_a_fitness_answer_without_default_has_no_preselected_answer(self) -> None:
        infection = by_name(EVENT_PAYLOADS["clear_for_treatment"])["active_infection"]
        assert infection.kind == "choice" and infection.required and infection.default == ""
        cardiac = by_name(EVENT_PAYLOADS["clear_for_treatment"])["cardiac_check_ok"]
        # No safety default (models/safety_rules.py): nothing preselected, the chart requires it.
        assert cardiac.default == ""

    def test_help_text_comes_from_the_model(self) -> None:
        coi = by_name(EVENT_PAYLOADS["record_apheresis"])["coi_id"]
        assert coi.required and "chain-of-identity" in coi.help

    def test_required_fields_come_first_and_the_reason_last(self) -> None:
        fields = form_fields(EVENT_PAYLOADS["record_work_up"])
        assert fields[0].name == "completed_at" and fields[0].default == "now"
        assert fields[-1].name == "reason"

    def test_nested_models_are_flattened(self) -> None:
        names = by_name(Referral)
        assert "binome.ard_specialist" in names and names["therapy"].kind == "choice"


class TestReadForm:
    """Blank fields are left to the model; lists and JSON are read; bad JSON is refused."""

    def test_an_unanswered_question_is_refused_by_the_model(self) -> None:
        details = read_form(EVENT_PAYLOADS["clear_for_treatment"], {"active_infection": ""})
        assert "active_infection" not in details
        with pytest.raises(ValueError, match="active_infection"):
            parse_action(
                "clear_for_treatment",
                {"actor": "dr.roux", "role": "cell_therapy_specialist", **details},
            )

    def test_values_are_read_as_the_model_takes_them(self) -> None:
        form = {"completed_at": "2026-03-02T09:30:00+01:00", "lvef_percent": "61",
                "missing": "echo\n\n ECG \n", "reason": "  "}  # fmt: skip
        details = read_form(EVENT_PAYLOADS["record_work_up"], form)
        assert details == {"completed_at": "2026-03-02T09:30:00+01:00", "lvef_percent": "61",
                           "missing": ["echo", "ECG"]}  # fmt: skip
        action = parse_action(
            "record_work_up", {"actor": "dr.martin", "role": "ard_specialist", **details}
        )
        assert action.lvef_percent == 61

    def test_a_list_of_records_is_json(self) -> None:
        form = {"stopped": '[{"drug": "rituximab", "stopped_at": "2026-01-01T00:00:00Z"}]'}
        assert (
            read_form(EVENT_PAYLOADS["record_washout"], form)["stopped"][0]["drug"] == "rituximab"
        )
        with pytest.raises(FormRefused, match="not valid JSON"):
            read_form(EVENT_PAYLOADS["record_washout"], {"stopped": "[{"})

    def test_a_referral_is_read_with_its_binome(self) -> None:
        form = {"pseudonym": "LUP-900", "centre": "centre-a", "therapy": "car-t",
                "disease": "systemic lupus erythematosus", "icd10": "M32.1",
                "binome.ard_specialist": "dr.martin", "binome.cell_therapy_specialist": "dr.roux"}  # fmt: skip
        referral = Referral.model_validate(
            {**read_form(Referral, form), "referred_by": "dr.martin"}
        )
        assert referral.binome.cell_therapy_specialist == "dr.roux"


def test_my_work_lists_the_overdue_first_then_by_due_time() -> None:
    from datetime import UTC, datetime, timedelta

    from models.roles import Role
    from web.work_items import DueItem, due_first

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def item(name: str, hours: float, overdue: bool) -> DueItem:
        due = now + timedelta(hours=hours)
        return DueItem(name, "s", name, due, overdue, 0, Role.NURSE)

    items = [item("soon", 2, False), item("late", -1, True), item("later", 5, False),
             item("latest", -30, True)]  # fmt: skip
    assert [i.pathway_id for i in due_first(items)] == ["latest", "late", "soon", "later"]
