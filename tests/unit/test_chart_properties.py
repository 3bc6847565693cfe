"""Properties of the charts under random staff actions (hypothesis stateful tests).

Each step either takes the next step of an uneventful pathway (so runs get deep: infusion,
follow-up) or sends a random event, usually one allowed now, with a payload that is valid
in form but may break any guard (stale work-up, wrong bag, one-person check, fever…).
Whatever happens, the configuration stays well formed, refusals change nothing, final
states accept nothing, nobody is infused without approval, consent, a received product and
a matching bag, every infusion follows a thaw and falls inside its windows, safety events
never move the pathway and their reports are only those due, and a chart rebuilt from the
record is the same chart.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from models import actions as a
from models.actions import EVENT_PAYLOADS, StaffAction
from models.protocol import Therapy
from models.record import PathwayRecord
from states import errors as e
from tests.support.chart_factory import (
    ARD,
    CART,
    COI,
    CTS,
    MSC_LUPUS,
    MSC_SSC,
    NURSES,
    WASHOUT_DRUG,
    WRONG_COI,
    Pathway,
    build_chart,
    configuration_problems,
    next_step,
)

ALL_EVENTS = sorted(EVENT_PAYLOADS)
EXIT_EVENTS = {"withdraw", "record_death", "declare_lost_to_follow_up", "reject_at_mdtm"}
INFUSION_EVENTS = {"infuse", "thaw_product"}
# Recorded without leaving or entering any state.
TARGETLESS_EVENTS = {
    "record_adverse_event",
    "report_adverse_event",
    "record_task",
    "submit_registry_form",
}
# Side-steps off the uneventful path, by the leaf they are taken from: the pathway spends
# a single step in these leaves, so random actions alone seldom try them. (Safety events,
# allowed everywhere, are in every random pool already.)
DETOURS = {
    "out_of_specification": ["record_washout"],
    "awaiting_infusion": ["repeat_lymphodepletion", "record_fever"],
    "thawed": ["discard_thawed_product"],
}

MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
ADVANCES = st.sampled_from(
    [timedelta(0), 20 * MIN, HOUR, 47 * HOUR, 2 * DAY, 6 * DAY, 7 * DAY, 14 * DAY, 91 * DAY]
)
AGES = st.sampled_from([timedelta(0), DAY, 9 * DAY, 14 * DAY, 89 * DAY, 90 * DAY, 120 * DAY])


def variations(event: str, pw: Pathway) -> st.SearchStrategy[dict[str, Any]]:
    """Payload fields for ``event`` that may pass or break its guards."""
    now = pw.now
    coi = pw.record.product.coi_id or COI
    bags = st.sampled_from([coi, coi.lower(), WRONG_COI])
    signatures = st.sampled_from(
        [
            {"actor": ARD, "ard_specialist": ARD, "cell_therapy_specialist": CTS},
            {"actor": CTS, "ard_specialist": ARD, "cell_therapy_specialist": CTS},
            {"actor": ARD, "ard_specialist": ARD, "cell_therapy_specialist": ARD},
            {"actor": "dr.dupont", "ard_specialist": ARD, "cell_therapy_specialist": CTS},
        ]
    )
    drug_stop = st.fixed_dictionaries(
        {
            "drug": st.sampled_from([WASHOUT_DRUG, "rituximab", "cladribine", "voclosporin"]),
            "stopped_at": st.one_of(AGES.map(lambda a: now - a), st.just(now + DAY)),
        }
    )
    labels = [v.label for v in pw.protocol.visits]
    fields: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "record_work_up": st.fixed_dictionaries(
            {
                "completed_at": st.one_of(AGES.map(lambda a: now - a), st.just(now + DAY)),
                "missing": st.sampled_from([[], ["echocardiography"]]),
            }
        ),
        "approve_at_mdtm": signatures,
        "defer_at_mdtm": signatures,
        "reject_at_mdtm": signatures,
        "record_washout": st.fixed_dictionaries(
            {
                "stopped": st.lists(drug_stop, max_size=2),
                "prednisone_mg_per_day": st.sampled_from([0.0, 10.0, 20.0]),
            }
        ),
        "book_apheresis": st.fixed_dictionaries({"slot_at": AGES.map(lambda a: now + a)}),
        "record_apheresis": st.fixed_dictionaries(
            {"coi_id": st.sampled_from([COI, "COI-0043-LUP"])}
        ),
        "order_product": st.fixed_dictionaries({"coi_id": st.sampled_from([COI, "COI-0077-MSC"])}),
        "receive_product": st.fixed_dictionaries({"bag_coi_id": bags}),
        "release_from_quarantine": st.fixed_dictionaries({"bag_coi_id": bags}),
        "thaw_product": st.fixed_dictionaries({"bag_coi_id": bags}),
        "clear_for_treatment": st.fixed_dictionaries(
            {
                "active_infection": st.booleans(),
                "cardiac_check_ok": st.booleans(),
                "tocilizumab_doses_on_site": st.integers(0, 2),
            }
        ),
        "infuse": st.fixed_dictionaries(
            {
                "bag_coi_id": bags,
                "checked_by": st.sampled_from([list(NURSES), NURSES[:1]]),
                "thawed_at": st.sampled_from(
                    [None, now, now - 20 * MIN, now - 61 * MIN, now - 2 * HOUR, now + 5 * MIN]
                ),
            }
        ),
        "record_visit": st.fixed_dictionaries({"visit": st.sampled_from([*labels, "W3"])}),
        "record_adverse_event": st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["CRS", "ICANS", "infection", "flare", "malignancy"]),
                "grade": st.integers(1, 5),
                "serious": st.booleans(),
                "suspected_unexpected": st.booleans(),
                "life_threatening_or_fatal": st.booleans(),
                "ice_score": st.one_of(st.none(), st.integers(0, 10)),
            }
        ),
        "report_adverse_event": st.fixed_dictionaries(
            {
                # One past the last recorded event: an unknown number.
                "adverse_event": st.integers(1, len(pw.record.adverse_events) + 1),
                "report": st.sampled_from(["sponsor", "susar"]),
            }
        ),
        "discard_thawed_product": st.fixed_dictionaries(
            {"reason": st.just("thawed bag not infused in time")}
        ),
    }
    return fields.get(event, st.just({}))


class PathwayMachine(RuleBasedStateMachine):
    """Random staff actions on one pathway; invariants checked after every step."""

    protocol_id: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.pw = Pathway.new(self.protocol_id)
        # Accepted actions in order, with the patient's COI identifier at that moment.
        self.accepted: list[tuple[str, StaffAction, str | None]] = []

    def _apply(self, event: str, action: StaffAction) -> None:
        pw = self.pw
        before = pw.snapshot()
        record_before = pw.record.model_copy(deep=True)
        coi = pw.record.product.coi_id
        try:
            pw.chart.apply(event, action, pw.now)
        except e.PathwayError as err:
            assert pw.snapshot() == before, f"refused {event} changed the pathway"
            assert err.event == event
        else:
            self.accepted.append((event, action, coi))
            self._accepted_within_the_rules(event, action, record_before)

    def _accepted_within_the_rules(
        self, event: str, action: StaffAction, before: PathwayRecord
    ) -> None:
        """What an accepted action may do, judged against the record it was applied to."""
        pw, now, w = self.pw, self.pw.now, self.pw.protocol.windows
        if event in TARGETLESS_EVENTS:
            assert pw.record.configuration == before.configuration
            assert pw.record.history == before.history
            assert pw.record.held_from == before.held_from
        if event == "thaw_product" and pw.protocol.therapy is Therapy.CAR_T:
            ended = before.lymphodepletion_ended_at
            assert ended is not None
            assert w.infusion_after_lymphodepletion_min <= now - ended
            assert now - ended <= w.infusion_after_lymphodepletion_max
            fever = before.last_fever_at
            assert fever is None or now - fever >= w.afebrile_before_infusion
        if event == "infuse":
            assert isinstance(action, a.Infusion)
            thawed = action.thawed_at or before.product.thawed_at
            assert thawed is not None and timedelta(0) <= now - thawed <= w.thaw_to_infusion
            assert len({p.casefold() for p in action.checked_by}) >= 2
        if event == "report_adverse_event":
            assert isinstance(action, a.SafetyReport)
            ae = before.adverse_events[action.adverse_event - 1]
            assert action.report in ae.reports_due() and action.report not in ae.reports

    @rule()
    def uneventful_step(self) -> None:
        if self.pw.chart.finished:
            return
        step = next_step(self.pw)
        self.pw.advance(step.wait(self.pw))
        self._apply(step.event, self.pw.action(step.event, **step.data(self.pw)))

    @rule(data=st.data())
    def random_action(self, data: st.DataObject) -> None:
        pw = self.pw
        pw.advance(data.draw(ADVANCES, label="advance"))
        allowed = sorted(pw.chart.allowed_now())
        onward = [ev for ev in allowed if ev not in EXIT_EVENTS and ev != "hold"]
        pools = [pool for pool in (onward, onward, onward, allowed, ALL_EVENTS) if pool]
        pool = data.draw(st.sampled_from(pools), label="pool")
        event = data.draw(st.sampled_from(pool), label="event")
        fields = data.draw(variations(event, pw), label="fields")
        self._apply(event, pw.action(event, **fields))

    @precondition(lambda self: self.pw.leaf in DETOURS)
    @rule(data=st.data())
    def detour(self, data: st.DataObject) -> None:
        """A side-step where the pathway allows one (random actions seldom get there)."""
        pw = self.pw
        pw.advance(data.draw(ADVANCES, label="advance"))
        event = data.draw(st.sampled_from(DETOURS[pw.leaf]), label="event")
        fields = data.draw(variations(event, pw), label="fields")
        self._apply(event, pw.action(event, **fields))

    # ----- invariants ------------------------------------------------------------------------
    @invariant()
    def configuration_is_well_formed(self) -> None:
        chart = self.pw.chart
        assert list(configuration_problems(chart)) == []
        assert self.pw.record.configuration == chart.state_ids

    @invariant()
    def final_states_accept_nothing(self) -> None:
        chart = self.pw.chart
        if not chart.finished:
            return
        assert len(chart.state_ids) == 1 and chart.states_map[chart.leaf].final
        # Safety reports still due are the one thing a finished pathway accepts.
        expected = ["report_adverse_event"] if chart.reports_outstanding() else []
        assert chart.allowed_now() == expected
        for event in ALL_EVENTS:
            if event in expected:
                continue
            action = self.pw.action(event)
            try:
                chart.check(event, action, self.pw.now)
            except e.ActionNotAllowedNow:
                continue
            raise AssertionError(f"{event} accepted in final state {chart.leaf}")

    @invariant()
    def no_infusion_without_approval_consent_receipt_and_matching_bag(self) -> None:
        record = self.pw.record
        if not record.infusions:
            return
        assert record.mdtm_approved_at is not None
        assert record.consent_at is not None
        assert record.product.received_at is not None
        assert record.product.coi_id is not None
        events = [ev for ev, _, _ in self.accepted]
        first = events.index("infuse")
        assert "approve_at_mdtm" in events[:first]
        assert "record_consent" in events[:first]
        received = {"receive_product", "release_from_quarantine"}
        assert received & set(events[:first])
        for ev, action, coi in self.accepted:
            if ev in INFUSION_EVENTS:
                assert coi is not None
                assert action.bag_coi_id.upper() == coi.upper()  # type: ignore[attr-defined]
        assert len(record.infusions) <= self.pw.protocol.infusions.count

    @invariant()
    def every_infusion_follows_its_own_thaw(self) -> None:
        thawed = False
        for ev, _, _ in self.accepted:
            if ev == "thaw_product":
                assert not thawed, "a second bag thawed before the first was used"
                thawed = True
            elif ev == "discard_thawed_product":
                assert thawed
                thawed = False
            elif ev == "infuse":
                assert thawed, "infused without a thaw"
                thawed = False
        # A bag is thawed exactly while the pathway stands, or is held, in thawed.
        record = self.pw.record
        if not self.pw.chart.finished:
            where = record.held_from if self.pw.leaf == "held" else self.pw.leaf
            assert (where == "thawed") == thawed

    @invariant()
    def adverse_events_numbered_and_reports_due(self) -> None:
        events = self.pw.record.adverse_events
        assert [ae.seq for ae in events] == list(range(1, len(events) + 1))
        recorded = [ev for ev, _, _ in self.accepted if ev == "record_adverse_event"]
        assert len(recorded) == len(events)
        reports = [ev for ev, _, _ in self.accepted if ev == "report_adverse_event"]
        assert len(reports) == sum(len(ae.reports) for ae in events)
        for ae in events:
            assert set(ae.reports) <= set(ae.reports_due())

    @invariant()
    def rebuilt_chart_is_the_same(self) -> None:
        pw = self.pw
        copy = pw.record.model_copy(deep=True)
        rebuilt = build_chart(copy, pw.protocol)
        assert rebuilt.state_ids == pw.chart.state_ids
        assert sorted(rebuilt.allowed_now()) == sorted(pw.chart.allowed_now())
        assert copy.model_dump() == pw.record.model_dump()
        if rebuilt.leaf == "held":
            rebuilt.apply("resume", pw.action("resume"), pw.now)
            assert rebuilt.state_ids == ["pathway", *pw.record.history["h"]]
            assert rebuilt.leaf == pw.record.held_from


PROPERTY_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class CarTMachine(PathwayMachine):
    protocol_id = CART


class MscRepeatedMachine(PathwayMachine):
    protocol_id = MSC_LUPUS


class MscSingleMachine(PathwayMachine):
    protocol_id = MSC_SSC


TestCarTChartProperties = CarTMachine.TestCase
TestCarTChartProperties.settings = PROPERTY_SETTINGS
TestMscRepeatedChartProperties = MscRepeatedMachine.TestCase
TestMscRepeatedChartProperties.settings = PROPERTY_SETTINGS
TestMscSingleChartProperties = MscSingleMachine.TestCase
TestMscSingleChartProperties.settings = PROPERTY_SETTINGS
