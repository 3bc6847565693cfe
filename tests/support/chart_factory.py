"""Records, charts and staff-action payloads for the pure chart tests (no Temporal).

A ``Pathway`` bundles a record, its protocol, its live chart and a clock that only moves
when a test says so::

    pw = Pathway.new("cart-cd19-lupus")
    pw.send("record_work_up", completed_at=pw.now - timedelta(days=3))
    pw.advance(days=14)
    pw.send("approve_at_mdtm")

``payload(event, pw, **overrides)`` builds a valid payload for any event, through
``models.actions.parse_action``, from defaults that fit the pathway's record and protocol.
``next_step(pw)`` is what an uneventful pathway does next from wherever it stands (CAR-T:
thaw once the infusion window opens, infuse 20 minutes later, repeat lymphodepletion when
the window has passed; MSC: discard a bag thawed too long ago);
``Pathway.at(protocol_id, leaf)`` takes such steps until ``leaf`` is active, so a guard test
starts where the guard runs, and ``pw.run_until(leaf)`` continues after a detour.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from models.actions import StaffAction, parse_action
from models.protocol import PROTOCOL_DIR, Protocol, Therapy, load_protocol
from models.record import PathwayRecord
from models.referral import Binome, pathway_id
from models.roles import Role, roles_allowed
from models.safety_rules import CURRENT
from states.base import PathwayChart
from states.registry import CHARTS

CART = "cart-cd19-lupus"
MSC_SSC = "msc-systemic-sclerosis"
MSC_LUPUS = "msc-lupus-repeated"
MSC_OTHER = "msc-other-ard"

# A Monday morning, far from any DST change; tests move it explicitly.
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

ARD = "dr.martin"
CTS = "dr.roux"
COI = "COI-0042-LUP"
WRONG_COI = "COI-9999-XXX"
NURSES = ["nurse.bernard", "nurse.petit"]

PEOPLE: dict[Role, str] = {
    Role.REFERRING_PHYSICIAN: "dr.referrer",
    Role.ARD_SPECIALIST: ARD,
    Role.CELL_THERAPY_SPECIALIST: CTS,
    Role.CARE_COORDINATOR: "coord.leroy",
    Role.APHERESIS_NURSE: "nurse.apheresis",
    Role.CTU_TECHNICIAN: "tech.moreau",
    Role.PHARMACIST: "pharm.girard",
    Role.NURSE: NURSES[0],
    Role.PROGRAMME_LEAD: "lead.fournier",
    Role.PHARMACOVIGILANCE_OFFICER: "pv.lambert",
}


@cache
def protocol(protocol_id: str) -> Protocol:
    return load_protocol(PROTOCOL_DIR / f"{protocol_id}.yaml")


def new_record(proto: Protocol, *, pseudonym: str = "LUP-001", now: datetime = T0) -> PathwayRecord:
    centre = "centre-a"
    return PathwayRecord(
        pathway_id=pathway_id(centre, pseudonym),
        pseudonym=pseudonym,
        centre=centre,
        therapy=proto.therapy,
        disease="systemic lupus erythematosus",
        age_band="30-39",
        protocol_id=proto.id,
        binome=Binome(ard_specialist=ARD, cell_therapy_specialist=CTS),
        referred_at=now,
        safety_rules=CURRENT,
    )


def build_chart(record: PathwayRecord, proto: Protocol) -> PathwayChart:
    return CHARTS[proto.therapy](record, proto)


def default_role(event: str) -> Role:
    """A role the role matrix allows for ``event`` (the chart itself does not check roles)."""
    return sorted(roles_allowed(event))[0]


def default_data(event: str, pw: Pathway) -> dict[str, Any]:
    """A payload for ``event`` that passes every guard on an uneventful pathway."""
    role = default_role(event)
    base: dict[str, Any] = {"actor": PEOPLE[role], "role": role}
    now, proto, record = pw.now, pw.protocol, pw.record
    coi = record.product.coi_id or COI
    mdtm = {
        "ard_specialist": ARD,
        "cell_therapy_specialist": CTS,
        "meeting_id": "MDTM-2025-10",
        "meeting_at": now,
        "attendees": [
            {"person": ARD, "specialty": "autoimmune_disease"},
            {"person": CTS, "specialty": "cell_therapy"},
        ],
        "rationale": "refractory disease; work-up within limits",
    }
    specific: dict[str, dict[str, Any]] = {
        "record_work_up": {"completed_at": now, "lvef_percent": 60, "egfr": 90},
        "approve_at_mdtm": mdtm,
        "reject_at_mdtm": mdtm,
        "defer_at_mdtm": mdtm,
        "record_consent": {"trial_inclusion": True, "registry_consent": True},
        "record_washout": {"stopped": [], "treatments": ["none"], "prednisone_mg_per_day": 0},
        "book_apheresis": {"slot_at": now + timedelta(days=1)},
        "record_apheresis": {"coi_id": COI},
        "report_out_of_specification": {"finding": "viability below specification"},
        "declare_manufacturing_failure": {"reason": "second manufacturing failure"},
        "order_product": {"coi_id": COI, "doses": proto.infusions.count},
        "release_product": {"lot": "LOT-2025-0042"},
        "receive_product": {
            "bag_coi_id": coi,
            "temperature_log_ok": True,
            "storage_location": "LN2-TANK-2",
        },
        "quarantine_product": {"finding": "bag label unreadable"},
        "release_from_quarantine": {
            "bag_coi_id": coi,
            "storage_location": "LN2-TANK-2",
            "reason": "manufacturer assessed the finding: bag within specification",
        },
        "discard_quarantined_product": {"reason": "manufacturer advises against use"},
        "clear_for_treatment": {
            "active_infection": False,
            "cardiac_check_ok": True,
            "pregnancy_test": "negative",
            "lvef_percent": 60,
            "egfr": 90,
            "tocilizumab_doses_on_site": proto.tocilizumab_min_doses,
        },
        "record_fever": {"temperature_c": 38.6},
        "thaw_product": {"bag_coi_id": coi},
        "infuse": {"bag_coi_id": coi, "checked_by": list(NURSES)},
        "discard_thawed_product": {"reason": "thawed bag not infused within the window"},
        "record_adverse_event": {
            "kind": "CRS",
            "grade": 2,
            "hospitalised": False,
            "outcome": "recovering",
            "aware_at": now,
        },
        "report_adverse_event": {"adverse_event": 1, "report": "sponsor"},
        "record_visit": {"visit": proto.visits[0].label},
        "hold": {"reason": "intercurrent infection"},
        "withdraw": {"reason": "consent withdrawn by the patient"},
        "record_death": {"reason": "unrelated cause"},
        "declare_lost_to_follow_up": {"reason": "no contact for 12 months"},
        "refuse_long_term_follow_up": {"reason": "refuses any further follow-up"},
        "record_observation": {"crs": {"temperature_c": 37.0}},
        "record_task": {
            "task": "patient_information",
            "details": {"document": "PIS", "version": "v1"},
        },
        "submit_registry_form": {"form": "med-a", "reference": "EBMT-0001"},
    }
    return base | specific.get(event, {})


def payload(event: str, pw: Pathway, **overrides: Any) -> StaffAction:
    data = default_data(event, pw) | overrides
    if event == "record_washout" and "treatments" not in overrides:
        # The current treatments are the drugs stopped, or "none": a complete answer.
        drugs = [stop["drug"] for stop in data.get("stopped", [])]
        data["treatments"] = drugs or ["none"]
    return parse_action(event, data)


@dataclass
class Pathway:
    """A record, its chart and the test's clock."""

    protocol: Protocol
    record: PathwayRecord
    chart: PathwayChart
    now: datetime = T0

    @classmethod
    def new(cls, protocol_id: str, *, pseudonym: str = "LUP-001", now: datetime = T0) -> Pathway:
        proto = protocol(protocol_id)
        record = new_record(proto, pseudonym=pseudonym, now=now)
        return cls(proto, record, build_chart(record, proto), now)

    @classmethod
    def at(cls, protocol_id: str, leaf: str, **kwargs: Any) -> Pathway:
        """A pathway driven along the happy path until ``leaf`` is active."""
        pw = cls.new(protocol_id, **kwargs)
        pw.run_until(leaf)
        return pw

    # ----- clock -------------------------------------------------------------------------
    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.now += delta if delta is not None else timedelta(**kwargs)
        return self.now

    # ----- events ------------------------------------------------------------------------
    def action(self, event: str, **overrides: Any) -> StaffAction:
        return payload(event, self, **overrides)

    def check(self, event: str, **overrides: Any) -> None:
        self.chart.check(event, self.action(event, **overrides), self.now)

    def send(self, event: str, **overrides: Any) -> Pathway:
        self.chart.apply(event, self.action(event, **overrides), self.now)
        return self

    def rebuild(self) -> PathwayChart:
        """A new chart on the same record, as a new workflow run would build it."""
        self.chart = build_chart(self.record, self.protocol)
        return self.chart

    def play(self, step: Step) -> None:
        self.advance(step.wait(self))
        self.send(step.event, **step.data(self))

    def step(self) -> Step:
        """Take the next step of an uneventful pathway; return it."""
        step = next_step(self)
        self.play(step)
        return step

    def run_until(self, leaf: str, *, max_steps: int = 100) -> None:
        """Take uneventful steps until ``leaf`` is active."""
        for _ in range(max_steps):
            if leaf in self.chart.state_ids or self.chart.finished:
                break
            self.step()
        if leaf not in self.chart.state_ids:
            raise AssertionError(f"the happy path from here never reaches {leaf!r}")

    # ----- reading -----------------------------------------------------------------------
    @property
    def leaf(self) -> str:
        return self.chart.leaf

    def snapshot(self) -> tuple[dict[str, Any], list[str]]:
        return copy.deepcopy(self.record.model_dump()), list(self.chart.state_ids)


def _none(pw: Pathway) -> dict[str, Any]:
    return {}


def _no_wait(pw: Pathway) -> timedelta:
    return timedelta(0)


@dataclass(frozen=True)
class Step:
    """One staff action of an uneventful pathway: wait, then send ``event`` with ``data``."""

    event: str
    data: Callable[[Pathway], dict[str, Any]] = field(default=_none)
    wait: Callable[[Pathway], timedelta] = field(default=_no_wait)


def wait(delta: timedelta) -> Callable[[Pathway], timedelta]:
    return lambda pw: delta


def until(when: Callable[[Pathway], datetime]) -> Callable[[Pathway], timedelta]:
    return lambda pw: max(when(pw) - pw.now, timedelta(0))


WASHOUT_DRUG = "mycophenolate mofetil"
# Well inside every protocol's thaw-to-infusion window.
THAW_TO_INFUSION = timedelta(minutes=20)


def _washout(pw: Pathway) -> dict[str, Any]:
    return {
        "stopped": [{"drug": WASHOUT_DRUG, "stopped_at": pw.now - timedelta(days=2)}],
        "treatments": [WASHOUT_DRUG],
        "prednisone_mg_per_day": pw.protocol.prednisone_max_mg_per_day,
    }


def _slot(pw: Pathway) -> dict[str, Any]:
    """The first day after the washout ends, or tomorrow."""
    ends = [
        stop.stopped_at + rule.stop_before
        for stop in pw.record.washout
        if (rule := pw.protocol.washout_rule(stop.drug)) is not None
    ]
    return {"slot_at": max([pw.now, *ends]) + timedelta(days=1)}


def _slot_time(pw: Pathway) -> datetime:
    assert pw.record.apheresis_slot_at is not None
    return pw.record.apheresis_slot_at


def _infusion_window_opens(pw: Pathway) -> datetime:
    ended = pw.record.lymphodepletion_ended_at
    assert ended is not None
    opens = ended + pw.protocol.windows.infusion_after_lymphodepletion_min
    fever = pw.record.last_fever_at
    if fever is not None:
        opens = max(opens, fever + pw.protocol.windows.afebrile_before_infusion)
    return opens


def _lymphodepletion_expired(pw: Pathway) -> bool:
    """Thawing (now, or once afebrile) would fall beyond the lymphodepletion window."""
    ended = pw.record.lymphodepletion_ended_at
    assert ended is not None
    latest = ended + pw.protocol.windows.infusion_after_lymphodepletion_max
    return max(pw.now, _infusion_window_opens(pw)) > latest


def _thaw_expired(pw: Pathway) -> bool:
    thawed = pw.record.product.thawed_at
    assert thawed is not None
    return pw.now + THAW_TO_INFUSION - thawed > pw.protocol.windows.thaw_to_infusion


def _next_thaw(pw: Pathway) -> datetime:
    return pw.record.infusions[-1] + pw.protocol.infusions.interval - THAW_TO_INFUSION


def _next_visit(pw: Pathway, *, long_term: bool) -> Step | None:
    d0 = pw.record.d0
    assert d0 is not None
    due = [v for v in pw.protocol.visits if v.long_term == long_term]
    visit = next((v for v in due if v.label not in pw.record.visits), None)
    if visit is None:
        return None
    return Step("record_visit", lambda pw: {"visit": visit.label}, until(lambda pw: d0 + visit.at))


_SELECTION = {
    "referred": Step(
        "record_work_up",
        lambda pw: {"completed_at": pw.now - timedelta(days=7), "lvef_percent": 60, "egfr": 90},
    ),
    "awaiting_mdtm": Step("approve_at_mdtm", wait=wait(timedelta(days=14))),
    "awaiting_consent": Step("record_consent", wait=wait(timedelta(days=3))),
    "stored": Step("clear_for_treatment", wait=wait(timedelta(days=2))),
    "quarantined": Step("release_from_quarantine", wait=wait(timedelta(days=1))),
    "held": Step("resume", wait=wait(timedelta(days=7))),
}

_CART = {
    "apheresis_booked": Step("record_apheresis", wait=until(_slot_time)),
    "out_of_specification": Step("book_apheresis", _slot, wait(timedelta(days=2))),
    "collected": Step("ship_to_manufacturer", wait=wait(timedelta(hours=4))),
    "manufacturing": Step("release_product", wait=wait(timedelta(days=24))),
    "released": Step("ship_to_centre", wait=wait(timedelta(days=1))),
    "in_transit": Step("receive_product", wait=wait(timedelta(days=1))),
    "cleared": Step("start_lymphodepletion", wait=wait(timedelta(hours=2))),
    "lymphodepletion": Step("complete_lymphodepletion", wait=wait(timedelta(days=3))),
    "awaiting_infusion": Step("thaw_product", wait=until(_infusion_window_opens)),
    "thawed": Step("infuse", wait=wait(THAW_TO_INFUSION)),
    "inpatient": Step("discharge", wait=wait(timedelta(days=10))),
    "icu": Step("return_from_icu", wait=wait(timedelta(days=3))),
}

_MSC = {
    "to_order": Step("order_product", wait=wait(timedelta(days=1))),
    "ordered": Step("receive_product", wait=wait(timedelta(days=5))),
    "cleared": Step("thaw_product", wait=wait(timedelta(days=1))),
    "thawed": Step("infuse", wait=wait(THAW_TO_INFUSION)),
    "observation": Step("end_observation", wait=wait(timedelta(hours=3))),
    "between_infusions": Step("thaw_product", wait=until(_next_thaw)),
}


def _recheck_due(pw: Pathway) -> bool:
    """A further dose waits for fitness checked again since the last infusion."""
    record = pw.record
    if not pw.protocol.infusions.recheck_before_dose or not record.infusions:
        return False
    return record.cleared_at is None or record.cleared_at < record.infusions[-1]


def next_step(pw: Pathway) -> Step:
    """What an uneventful pathway does next from wherever it stands."""
    leaf = pw.leaf
    if leaf == "washout":
        if pw.record.washout_recorded:
            return Step("book_apheresis", _slot, wait(timedelta(days=1)))
        return Step("record_washout", _washout)
    if leaf in ("short_term", "long_term"):
        visit = _next_visit(pw, long_term=leaf == "long_term")
        if visit is not None:
            return visit
        if leaf == "short_term":
            return Step("start_long_term_follow_up")
        return Step("complete_follow_up", wait=wait(timedelta(days=1)))
    cart = pw.protocol.therapy is Therapy.CAR_T
    if cart and leaf == "awaiting_infusion" and _lymphodepletion_expired(pw):
        # Past the window (e.g. a long fever): the binôme repeats lymphodepletion.
        return Step("repeat_lymphodepletion", wait=wait(timedelta(days=1)))
    if not cart and leaf == "thawed" and _thaw_expired(pw):
        return Step("discard_thawed_product")
    if not cart and leaf == "between_infusions" and _recheck_due(pw):
        return Step("clear_for_treatment", wait=wait(timedelta(days=1)))
    specific = _CART if cart else _MSC
    step = specific.get(leaf) or _SELECTION.get(leaf)
    if step is None:
        raise AssertionError(f"no happy-path step from {leaf!r}")
    return step


def configuration_problems(chart: PathwayChart) -> Iterator[str]:
    """Every way the active configuration breaks the chart's declared structure."""
    ids = chart.state_ids
    states = chart.states_map
    if not ids:
        yield "empty configuration"
        return
    for sid in ids:
        if sid not in states:
            yield f"{sid!r} is not a declared state"
    if len(set(ids)) != len(ids):
        yield f"duplicate state in {ids}"
    active = {states[s] for s in ids if s in states}
    roots = [s for s in active if s.parent is None]
    if len(roots) != 1:
        yield f"{len(roots)} active top-level states: {sorted(s.id for s in roots)}"
    for s in active:
        if s.parent is not None and s.parent not in active:
            yield f"{s.id!r} is active but its parent {s.parent.id!r} is not"
        children = [c for c in s.states if c in active]
        if s.states and len(children) != 1:
            yield f"compound {s.id!r} has {len(children)} active children"
    if not any(not s.states for s in active):
        yield "no active leaf"
