"""Centre workflows on the real dev server: readiness, evidence updates, expiry timers on a
compressed clock, and the gating and alerts they bring to pathways.

Each test runs its own centres (unique IDs, so ``centre-<id>`` workflows never collide on
the shared server) from the demo files in ``centres/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from activities.centres import CentreActivities
from client import pathways as operations
from client.centres import centre_notice, record_evidence, start_centre
from models import contracts
from models.centre_files import load_centre, load_centre_policy
from models.centre_policy import CentrePolicy
from models.centre_record import AlertKind
from models.contracts import centre_workflow_id
from models.notifications import Escalation, NotificationReceipt
from models.protocol import Protocol, Therapy
from models.record import PathwayRecord
from tests.support.pathway_driver import APH, CTS, PHARMA, TECH, Driver, referral
from tests.support.waiting import at_rest, eventually
from workflows.centre import CentreWorkflow

pytestmark = pytest.mark.integration

LEAD = {"actor": "lead.dupont", "role": "programme_lead"}
POLICY = load_centre_policy()


class Inbox:
    """Captures ``notify_escalation``; the fallback must never be needed."""

    def __init__(self) -> None:
        self.sent: list[Escalation] = []

    @activity.defn(name=contracts.NOTIFY_ESCALATION)
    async def notify_escalation(self, escalation: Escalation) -> NotificationReceipt:
        self.sent.append(escalation)
        return NotificationReceipt(
            channel="test", key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
        )

    @activity.defn(name=contracts.NOTIFY_FALLBACK)
    async def notify_fallback(self, escalation: Escalation) -> NotificationReceipt:
        raise AssertionError("fallback must not be used when the channel works")


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def activities(client: Client, inbox: Inbox) -> list[Any]:
    return [
        inbox.notify_escalation,
        inbox.notify_fallback,
        CentreActivities(client).notify_centre_pathways,
    ]


def new_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def open_centre(
    client: Client, task_queue: str, demo: str, *, policy: CentrePolicy = POLICY
) -> str:
    """A copy of a demo centre under a fresh ID; returns the ID."""
    centre = load_centre(
        Path("centres") / f"{demo}.yaml", now=datetime.now(UTC), time_scale=policy.time_scale
    ).model_copy(update={"id": new_id()})
    assert await start_centre(client, centre, policy, task_queue=task_queue)
    return centre.id


async def details(client: Client, workflow_id: str) -> str:
    handle = client.get_workflow_handle(workflow_id)
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def terminate(client: Client, *workflow_ids: str) -> None:
    for workflow_id in workflow_ids:
        await client.get_workflow_handle(workflow_id).terminate("test over")


async def test_readiness_per_therapy_and_in_visibility(
    client: Client, task_queue: str, running_worker, activities: list[Any], inbox: Inbox
) -> None:
    async with running_worker(activities=activities):
        a = await open_centre(client, task_queue, "centre-a")
        b = await open_centre(client, task_queue, "centre-b")
        ready_a = await centre_notice(client, a)
        assert [(r.therapy.value, r.ready) for r in ready_a.readiness] == [
            ("car-t", True),
            ("msc", True),
        ]
        ready_b = await centre_notice(client, b)
        cart, msc = ready_b.for_therapy(Therapy.CAR_T), ready_b.for_therapy(Therapy.MSC)
        assert not cart.ready and [m.key for m in cart.missing] == ["icu_access"]
        assert msc.ready and [e.key for e in msc.expiring] == ["accreditation"]
        # The Web UI sees readiness per therapy as search attributes.
        query = (
            f'WorkflowType = "{contracts.CENTRE_WORKFLOW}" AND Centre = "{b}" '
            "AND CentreReadyCarT = false AND CentreReadyMsc = true"
        )

        async def listed() -> list[str]:
            return [w.id async for w in client.list_workflows(query)]

        assert await eventually(listed) == [centre_workflow_id(b)]
        # centre-b's accreditation is inside the warning window: the lead hears of it.
        warned = await eventually(lambda: [e for e in inbox.sent if e.centre == b])
        assert [(e.deadline_key, e.state, e.level) for e in warned] == [
            ("accreditation", "expiring", 1)
        ]
        assert [r.value for r in warned[0].notify] == ["programme_lead"]
        shown = await eventually(lambda: details(client, centre_workflow_id(b)))
        assert "**car-t:** NOT READY — ICU access agreement: none on file" in shown
        await terminate(client, centre_workflow_id(a), centre_workflow_id(b))


async def test_bad_evidence_is_refused_and_history_unchanged(
    client: Client, task_queue: str, running_worker, activities: list[Any]
) -> None:
    soon = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    icu = {"name": "Medical ICU B", "valid_until": soon}
    async with running_worker(activities=activities):
        b = await open_centre(client, task_queue, "centre-b")
        workflow_id = centre_workflow_id(b)
        handle = client.get_workflow_handle(workflow_id)

        async def settled() -> bool:
            # The opening warning and the first notice to pathways are done: history rests.
            return (await handle.query(CentreWorkflow.get_record)).told is not None

        await eventually(settled)
        before = await at_rest(client, workflow_id)
        record_before = await handle.query(CentreWorkflow.get_record)
        rejections: list[tuple[str, dict[str, Any], str]] = [
            (
                "record_icu_access",
                {"actor": "n.b", "role": "nurse", "evidence": icu},
                "RoleNotAllowed",
            ),
            ("record_icu_access", {**LEAD, "evidence": {"name": "ICU"}}, "MalformedEvidence"),
            (
                "record_icu_access",
                {**LEAD, "evidence": {**icu, "valid_until": past}},
                "EvidenceExpired",
            ),
            (
                "record_training",
                {
                    **LEAD,
                    "evidence": {
                        "person": "n.new",
                        "staff_role": "nurse",
                        "trained_on": future,
                        "valid_until": soon,
                    },
                },
                "EvidenceInconsistent",
            ),
            ("withdraw_evidence", {**LEAD, "item": "icu_access", "reason": "x"}, "UnknownEvidence"),
            ("record_helipad", {**LEAD, "evidence": icu}, "UnknownEvent"),
        ]
        kinds = []
        for event, data, _rule in rejections:
            with pytest.raises(operations.OperationError) as refused:
                await record_evidence(client, b, event, data)
            kinds.append(refused.value.kind)
        # A malformed payload is caught before sending (BadInput) or by the workflow.
        assert [k if k != "BadInput" else "MalformedEvidence" for k in kinds] == [
            r[2] for r in rejections
        ]
        # Sent anyway, a malformed payload is refused by the workflow's validator.
        with pytest.raises(Exception) as raw:
            await handle.execute_update("record_icu_access", {**LEAD, "evidence": {"name": "I"}})
        assert getattr(raw.value.__cause__, "type", None) == "MalformedEvidence"
        assert await at_rest(client, workflow_id) == before
        assert await handle.query(CentreWorkflow.get_record) == record_before
        # Accepted evidence is audited with who, role, why and the update ID, applied once.
        data = {**LEAD, "reason": "agreement signed", "evidence": icu}
        first = await record_evidence(client, b, "record_icu_access", data, update_id="icu-1")
        again = await record_evidence(client, b, "record_icu_access", data, update_id="icu-1")
        assert first.ready[Therapy.CAR_T] and again.seq == first.seq
        record = await handle.query(CentreWorkflow.get_record)
        entry = record.audit[-1]
        assert len(record.audit) == 1
        assert (entry.actor, entry.role.value, entry.reason, entry.update_id, entry.item) == (
            "lead.dupont",
            "programme_lead",
            "agreement signed",
            "icu-1",
            "icu_access",
        )
        await terminate(client, workflow_id)


async def test_referral_is_gated_by_centre_readiness(
    client: Client, task_queue: str, running_worker, activities: list[Any], cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker(activities=activities):
        b = await open_centre(client, task_queue, "centre-b")
        with pytest.raises(operations.ActionRefused) as refused:
            await operations.refer(
                client, referral("LUP-601", centre=b), task_queue=task_queue, protocol=protocol
            )
        assert refused.value.kind == "CentreNotReady"
        assert f"{b} is not ready for car-t" in refused.value.message
        assert "ICU access agreement: none on file" in refused.value.message
        msc = await operations.refer(
            client,
            referral("SSC-601", therapy="msc", centre=b, disease="systemic sclerosis"),
            task_queue=task_queue,
        )
        with pytest.raises(operations.BadInput) as unknown:
            await operations.refer(
                client, referral("LUP-602", centre=new_id()), task_queue=task_queue
            )
        assert unknown.value.kind == "UnknownCentre"
        await record_evidence(
            client,
            b,
            "record_icu_access",
            {**LEAD, "evidence": {"name": "ICU B", "valid_until": "2099-01-01"}},
        )
        # Ready by the centre policy (1 dose), but this protocol asks for 4: refused.
        older_label = protocol.model_copy(update={"tocilizumab_min_doses": 4})
        with pytest.raises(operations.ActionRefused) as short:
            await operations.refer(
                client, referral("LUP-601", centre=b), task_queue=task_queue, protocol=older_label
            )
        assert short.value.kind == "CentreNotReady"
        assert "2 dose(s)" in short.value.message and "at least 4" in short.value.message
        cart = await operations.refer(
            client, referral("LUP-601", centre=b), task_queue=task_queue, protocol=protocol
        )
        # The new pathway is handed the centre's readiness at referral.
        seen = await operations.record(client, cart.id)
        assert seen.centre_status is not None and seen.centre_status.ready
        assert seen.centre_status.tocilizumab_doses == 2 and seen.centre_alerts == []
        await terminate(client, cart.id, msc.id, centre_workflow_id(b))


async def test_car_t_infusion_needs_tocilizumab_on_site(
    client: Client,
    task_queue: str,
    running_worker,
    activities: list[Any],
    inbox: Inbox,
    cart_protocol: Protocol,
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    stock = {"valid_until": "2099-01-01", "resupply_within": "8h"}
    pharmacist = {"actor": "p.laurent", "role": "pharmacist"}
    async with running_worker(activities=activities):
        a = await open_centre(client, task_queue, "centre-a")
        handle = await operations.refer(
            client, referral("LUP-611", centre=a), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("record_washout", CTS, stopped=[])
        await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await go("record_apheresis", APH, coi_id="COI-LUP-611")
        await go("ship_to_manufacturer", TECH)
        await go("release_product", PHARMA)
        await go("ship_to_centre", PHARMA)
        await go("receive_product", TECH, bag_coi_id="COI-LUP-611")
        # The pharmacy counts no tocilizumab left: the pathway hears it from its centre.
        await record_evidence(
            client,
            a,
            "record_tocilizumab_stock",
            {**pharmacist, "evidence": {**stock, "doses_on_site": 0}},
        )

        async def stock_seen(doses: int) -> PathwayRecord | None:
            record = await operations.record(client, handle.id)
            status = record.centre_status
            return record if status and status.tocilizumab_doses == doses else None

        record = await eventually(lambda: stock_seen(0))
        assert [a.key for a in record.centre_alerts if a.open] == ["tocilizumab"]
        coordinator = await eventually(lambda: [e for e in inbox.sent if e.pathway_id == handle.id])
        assert [r.value for r in coordinator[0].notify] == ["care_coordinator"]
        assert coordinator[0].deadline_key == "centre:tocilizumab"
        before = await at_rest(client, handle.id)
        with pytest.raises(operations.ActionRefused) as refused:
            # Declared on the ward as 2, but the centre's count rules.
            await go(
                "clear_for_treatment", CTS, active_infection=False, tocilizumab_doses_on_site=2
            )
        assert refused.value.kind == "TocilizumabBelowMinimum"
        assert "0 dose(s) of tocilizumab" in refused.value.message
        # Nothing changed but the deviation log (the refused Update is in the history).
        assert await at_rest(client, handle.id) > before
        refused_record = await operations.record(client, handle.id)
        assert refused_record.state == "stored"
        assert [i.rule for i in refused_record.incidents] == ["TocilizumabBelowMinimum"]
        # Restocked: the alert clears and the pathway may proceed.
        await record_evidence(
            client,
            a,
            "record_tocilizumab_stock",
            {**pharmacist, "evidence": {**stock, "doses_on_site": 4}},
        )
        record = await eventually(lambda: stock_seen(4))
        assert record.centre_alerts, "the stock alert was raised"
        assert all(not a.open for a in record.centre_alerts)
        receipt = await go(
            "clear_for_treatment", CTS, active_infection=False, tocilizumab_doses_on_site=4
        )
        assert receipt.state == "cleared"
        await terminate(client, handle.id, centre_workflow_id(a))


async def test_expiry_warns_then_lapses_and_open_pathways_are_told(
    client: Client,
    task_queue: str,
    running_worker,
    activities: list[Any],
    inbox: Inbox,
    cart_protocol: Protocol,
    msc_protocol: Protocol,
) -> None:
    # One day = 0.1 s: the warning comes 30 days (3 s) ahead of an expiry.
    policy = POLICY.compressed(seconds_per_day=0.1)
    async with running_worker(activities=activities):
        a = await open_centre(client, task_queue, "centre-a", policy=policy)
        cart = await operations.refer(
            client,
            referral("LUP-621", centre=a),
            task_queue=task_queue,
            protocol=cart_protocol.compressed(seconds_per_day=60),
        )
        msc = await operations.refer(
            client,
            referral("SSC-621", therapy="msc", centre=a, disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=msc_protocol.compressed(seconds_per_day=60),
        )
        expires = datetime.now(UTC) + timedelta(seconds=4.5)
        await record_evidence(
            client,
            a,
            "record_icu_access",
            {**LEAD, "evidence": {"name": "ICU A", "valid_until": expires.isoformat()}},
        )

        def about_icu(kind: str) -> Callable[[], list[Escalation]]:
            return lambda: [
                e
                for e in inbox.sent
                if e.centre == a and e.deadline_key == "icu_access" and e.state == kind
            ]

        warning = (await eventually(about_icu("expiring"), timeout=5))[0]
        assert warning.level == 1 and "expires on" in warning.label
        assert datetime.now(UTC) < expires, "warned ahead of the expiry"
        lapse = (await eventually(about_icu("lapsed"), timeout=8))[0]
        assert lapse.level == 2 and datetime.now(UTC) >= expires
        # The open CAR-T pathway is told, shows it, and its care coordinator is notified.

        async def cart_alerted() -> PathwayRecord | None:
            record = await operations.record(client, cart.id)
            return record if any(x.open for x in record.centre_alerts) else None

        record = await eventually(cart_alerted)
        alert = record.centre_alerts[0]
        assert alert.key == "icu_access" and alert.reason.startswith("expired on")
        shown = await eventually(lambda: _contains(details(client, cart.id), "**Centre alert"))
        assert "ICU access agreement: expired on" in shown
        told = await eventually(lambda: [e for e in inbox.sent if e.pathway_id == cart.id])
        assert told[0].deadline_key == "centre:icu_access"
        assert [r.value for r in told[0].notify] == ["care_coordinator"]
        # MSC needs no ICU agreement: that pathway has nothing to show.
        assert (await operations.record(client, msc.id)).centre_alerts == []
        # The centre is flagged not ready for CAR-T in visibility.
        query = f'WorkflowId = "{centre_workflow_id(a)}" AND CentreReadyCarT = false'
        await eventually(lambda: _listed(client, query))
        # Renewed: the pathway's alert clears and the centre records the renewal.
        await record_evidence(
            client,
            a,
            "record_icu_access",
            {**LEAD, "evidence": {"name": "ICU A", "valid_until": "2099-01-01"}},
        )

        async def cleared() -> bool:
            record = await operations.record(client, cart.id)
            return bool(record.centre_alerts) and not record.centre_alerts[0].open

        await eventually(cleared)
        await eventually(lambda: _lacks(details(client, cart.id), "Centre alert"))
        centre = await client.get_workflow_handle(centre_workflow_id(a)).query(
            CentreWorkflow.get_record
        )
        kinds = [x.kind for x in centre.alerts if x.key == "icu_access"]
        assert kinds == [AlertKind.EXPIRING, AlertKind.LAPSED, AlertKind.RENEWED]
        await terminate(client, cart.id, msc.id, centre_workflow_id(a))


async def _listed(client: Client, query: str) -> list[str]:
    return [w.id async for w in client.list_workflows(query)]


async def _contains(text: Awaitable[str], part: str) -> str | None:
    value = await text
    return value if part in value else None


async def _lacks(text: Awaitable[str], part: str) -> bool:
    return part not in await text
