"""Centre prerequisites as data: readiness per therapy, expiry watches, evidence checks and
the demo centre files. Pure: no Temporal, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.centre_actions import (
    CentreRefusal,
    RecordTraining,
    WithdrawEvidence,
    check_evidence,
    parse_centre_action,
)
from models.centre_files import CentreFileError, centre_files, load_centre, load_centre_policy
from models.centre_notice import CentreAlert, follow_notice, notice
from models.centre_record import AlertKind, CentreRecord
from models.evidence import Centre, Prerequisite, TocilizumabStock
from models.protocol import Therapy, load_default_protocol
from models.readiness import MissingItem, TherapyReadiness, readiness
from models.refusals import Outcome, Refusal
from models.roles import Role

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = load_centre_policy()
LEAD = {"actor": "lead.dupont", "role": "programme_lead"}


def demo(name: str, *, now: datetime = NOW, time_scale: float = 1.0) -> Centre:
    return load_centre(Path("centres") / f"{name}.yaml", now=now, time_scale=time_scale)


def missing_keys(r: TherapyReadiness) -> list[str]:
    return [m.key for m in r.missing]


class TestDemoCentres:
    """centre-a is ready for CAR-T and MSC; centre-b lacks an ICU agreement (not ready for
    CAR-T), treats MSC, and its accreditation expires within the warning window."""

    def test_both_demo_centres_are_found(self) -> None:
        assert [p.stem for p in centre_files()] == ["centre-a", "centre-b"]

    def test_centre_a_is_ready_for_both_therapies(self) -> None:
        centre = demo("centre-a")
        for therapy in Therapy:
            r = readiness(centre, POLICY, therapy, NOW)
            assert r.ready and r.missing == [] and r.expiring == [], therapy

    def test_centre_b_is_not_ready_for_car_t_for_want_of_icu_access(self) -> None:
        r = readiness(demo("centre-b"), POLICY, Therapy.CAR_T, NOW)
        assert not r.ready
        assert missing_keys(r) == ["icu_access"]
        assert r.missing[0].reason == "none on file"
        assert "ICU access agreement" in r.missing_text()

    def test_centre_b_treats_msc_with_its_accreditation_expiring_soon(self) -> None:
        r = readiness(demo("centre-b"), POLICY, Therapy.MSC, NOW)
        assert r.ready
        assert [e.key for e in r.expiring] == ["accreditation"]
        assert r.expiring[0].valid_until == NOW + timedelta(days=25)

    def test_the_tocilizumab_rule_comes_from_the_protocol(self) -> None:
        cart = POLICY.requirements[Therapy.CAR_T]
        assert (
            cart.tocilizumab_min_doses == load_default_protocol(Therapy.CAR_T).tocilizumab_min_doses
        )
        assert cart.tocilizumab_min_doses >= 1
        assert POLICY.requirements[Therapy.MSC].tocilizumab_min_doses == 0
        assert Prerequisite.TOCILIZUMAB not in POLICY.requirements[Therapy.MSC].prerequisites


class TestReadinessRules:
    """Each prerequisite refuses with a reason: expired, out of scope, short of stock,
    nobody trained for a role, no current trial."""

    def test_lapsed_evidence_is_missing_from_its_expiry(self) -> None:
        centre = demo("centre-a")
        later = NOW + timedelta(days=365 * 3 + 1)
        r = readiness(centre, POLICY, Therapy.MSC, later)
        assert "accreditation" in missing_keys(r)
        accreditation = next(m for m in r.missing if m.key == "accreditation")
        assert accreditation.reason.startswith("expired on") and accreditation.since is not None

    def test_accreditation_scope_must_cover_the_therapy(self) -> None:
        centre = demo("centre-a")
        assert centre.accreditation is not None
        centre.accreditation = centre.accreditation.model_copy(update={"scope": [Therapy.MSC]})
        r = readiness(centre, POLICY, Therapy.CAR_T, NOW)
        assert missing_keys(r) == ["accreditation"]
        assert "does not cover car-t" in r.missing[0].reason
        assert readiness(centre, POLICY, Therapy.MSC, NOW).ready

    def test_tocilizumab_below_the_rule_blocks_car_t_only(self) -> None:
        centre = demo("centre-a")
        centre.tocilizumab = TocilizumabStock(doses_on_site=0, valid_until=NOW + timedelta(days=9))
        r = readiness(centre, POLICY, Therapy.CAR_T, NOW)
        assert missing_keys(r) == ["tocilizumab"]
        assert "0 dose(s) on site" in r.missing[0].reason
        assert readiness(centre, POLICY, Therapy.MSC, NOW).ready

    def test_each_role_needs_a_currently_trained_person(self) -> None:
        centre = demo("centre-a")
        centre.staff = [s for s in centre.staff if s.staff_role is not Role.APHERESIS_NURSE]
        r = readiness(centre, POLICY, Therapy.CAR_T, NOW)
        assert missing_keys(r) == ["trained_staff:apheresis_nurse"]
        assert readiness(centre, POLICY, Therapy.MSC, NOW).ready, "MSC needs no apheresis nurse"

    def test_a_therapy_needs_a_current_trial_of_its_own(self) -> None:
        centre = demo("centre-a")
        centre.trials = [t for t in centre.trials if t.therapy is Therapy.CAR_T]
        assert missing_keys(readiness(centre, POLICY, Therapy.MSC, NOW)) == [
            "sponsor_qualification"
        ]

    def test_a_notice_carries_every_therapy_and_the_stock(self) -> None:
        n = notice(demo("centre-b"), POLICY, 3, NOW)
        assert n.version == 3 and n.tocilizumab_doses == 2
        assert not n.for_therapy(Therapy.CAR_T).ready and n.for_therapy(Therapy.MSC).ready


class TestExpiryWatch:
    """A warning ``warn_before`` ahead of each expiry and the lapse on the day, each once;
    renewing starts the watch afresh."""

    def test_warning_then_lapse_on_a_compressed_clock(self) -> None:
        policy = POLICY.compressed(seconds_per_day=1.0)  # warn 30 s ahead
        centre = demo("centre-b", time_scale=policy.time_scale)  # accreditation +25 s
        record = CentreRecord(centre=centre, opened_at=NOW)
        record.sync_watches(policy, NOW)
        first = record.due_alerts(policy, NOW)
        assert [(a.kind, a.key) for a in first] == [(AlertKind.EXPIRING, "accreditation")]
        assert record.due_alerts(policy, NOW + timedelta(seconds=1)) == [], "warned once"
        nxt = record.next_wake(policy)
        assert nxt is not None and nxt.key == "accreditation"
        assert nxt.wakes_at(policy) == NOW + timedelta(seconds=25)
        lapse = record.due_alerts(policy, NOW + timedelta(seconds=25))
        assert [(a.kind, a.key) for a in lapse] == [(AlertKind.LAPSED, "accreditation")]
        assert lapse[0].therapies == [Therapy.CAR_T, Therapy.MSC]
        assert "lapsed on" in lapse[0].text(policy)

    def test_renewal_restarts_the_watch(self) -> None:
        policy = POLICY.compressed(seconds_per_day=1.0)
        centre = demo("centre-b", time_scale=policy.time_scale)
        record = CentreRecord(centre=centre, opened_at=NOW)
        record.sync_watches(policy, NOW)
        record.due_alerts(policy, NOW + timedelta(seconds=30))
        assert centre.accreditation is not None
        centre.accreditation = centre.accreditation.model_copy(
            update={"valid_until": NOW + timedelta(days=3)}
        )
        renewed = record.sync_watches(policy, NOW + timedelta(seconds=31))
        assert [(a.kind, a.key) for a in renewed] == [(AlertKind.RENEWED, "accreditation")]
        assert record.watches["accreditation"].lapsed_at is None

    def test_withdrawn_items_are_no_longer_watched(self) -> None:
        centre = demo("centre-a")
        record = CentreRecord(centre=centre, opened_at=NOW)
        record.sync_watches(POLICY, NOW)
        centre.withdraw("icu_access")
        centre.withdraw("staff:n.petit:apheresis_nurse")
        centre.withdraw("trial:CARLUP-01")
        record.sync_watches(POLICY, NOW)
        gone = {"icu_access", "staff:n.petit:apheresis_nurse", "trial:CARLUP-01"}
        assert not gone & set(record.watches)
        assert set(missing_keys(readiness(centre, POLICY, Therapy.CAR_T, NOW))) == {
            "icu_access",
            "trained_staff:apheresis_nurse",
            "sponsor_qualification",
        }


class TestEvidenceChecks:
    """Evidence already out of date, dated in the future, or naming nothing on file is
    refused with a rule the caller can branch on."""

    def test_expired_evidence_is_refused(self) -> None:
        action = parse_centre_action(
            "record_icu_access",
            {**LEAD, "evidence": {"name": "ICU", "valid_until": NOW - timedelta(days=1)}},
        )
        with pytest.raises(CentreRefusal) as refused:
            check_evidence(demo("centre-b"), "record_icu_access", action, NOW)
        assert refused.value.rule == "EvidenceExpired"
        # One refusal tree: the CLI and web page map its outcome like any other refusal.
        assert isinstance(refused.value, Refusal)
        assert refused.value.outcome is Outcome.REFUSED

    def test_training_dated_in_the_future_is_refused(self) -> None:
        action = RecordTraining.model_validate(
            {
                **LEAD,
                "evidence": {
                    "person": "n.new",
                    "staff_role": "nurse",
                    "trained_on": NOW + timedelta(days=2),
                    "valid_until": NOW + timedelta(days=700),
                },
            }
        )
        with pytest.raises(CentreRefusal) as refused:
            check_evidence(demo("centre-a"), "record_training", action, NOW)
        assert refused.value.rule == "EvidenceInconsistent"

    def test_withdrawing_what_is_not_on_file_is_refused(self) -> None:
        action = WithdrawEvidence(item="icu_access", reason="agreement ended", **LEAD)  # type: ignore[arg-type]
        with pytest.raises(CentreRefusal) as refused:
            check_evidence(demo("centre-b"), "withdraw_evidence", action, NOW)
        assert refused.value.rule == "UnknownEvidence"
        check_evidence(demo("centre-a"), "withdraw_evidence", action, NOW)

    def test_naive_dates_are_taken_as_utc(self) -> None:
        action = parse_centre_action(
            "record_neurology", {**LEAD, "evidence": {"name": "N", "valid_until": "2030-01-01"}}
        )
        evidence = action.evidence  # type: ignore[attr-defined]
        assert evidence.valid_until == datetime(2030, 1, 1, tzinfo=UTC)


class TestPathwayAlerts:
    """A pathway raises one alert per newly missing item and clears it when restored."""

    def test_raise_then_clear(self) -> None:
        alerts: list[CentreAlert] = []
        icu = MissingItem(
            key="icu_access",
            prerequisite=Prerequisite.ICU_ACCESS,
            label="ICU access agreement",
            reason="expired",
        )
        lapsed = TherapyReadiness(therapy=Therapy.CAR_T, ready=False, missing=[icu])
        raised, cleared = follow_notice(alerts, lapsed, NOW)
        assert [a.key for a in raised] == ["icu_access"] and cleared == []
        assert follow_notice(alerts, lapsed, NOW) == ([], []), "told twice, raised once"
        ready = TherapyReadiness(therapy=Therapy.CAR_T, ready=True)
        raised, cleared = follow_notice(alerts, ready, NOW + timedelta(hours=1))
        assert raised == [] and [a.key for a in cleared] == ["icu_access"]
        assert not alerts[0].open


class TestCentreFiles:
    """Relative dates follow the clock they are loaded on; a bad file names itself and the
    field at fault."""

    def test_relative_dates_follow_a_compressed_clock(self) -> None:
        centre = demo("centre-b", time_scale=6 / 86400)  # one day = 6 s, as in the demo
        assert centre.accreditation is not None
        assert centre.accreditation.valid_until == NOW + timedelta(seconds=25 * 6)

    def test_a_bad_file_names_the_file_and_field(self, tmp_path: Path) -> None:
        bad = tmp_path / "centre-x.yaml"
        bad.write_text(
            "id: centre-x\nname: X\ntocilizumab: {doses_on_site: -1, valid_until: +1d}\n"
        )
        with pytest.raises(CentreFileError) as err:
            load_centre(bad, now=NOW)
        assert "centre-x.yaml" in str(err.value) and "doses_on_site" in str(err.value)

    def test_policy_compression_scales_the_warning(self) -> None:
        fast = POLICY.compressed(seconds_per_day=0.1)
        assert fast.warn_before == timedelta(seconds=3)
        assert fast.days(timedelta(seconds=3)) == pytest.approx(30)
