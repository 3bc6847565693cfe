"""The deviation log outside the workflow: what the Web UI details and the audit export show
of a pathway's incidents, and which accepted actions are product deviations."""

from __future__ import annotations

from datetime import UTC, datetime

from client.audit import ExportFormat, read_trail, render, verify_trail
from models.incident import Incident, IncidentKind
from models.protocol import Therapy
from models.record import AuditEntry, PathwayRecord
from models.referral import Binome
from models.roles import Role
from workflows.details import current_details
from workflows.incidents import product_deviation

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def record_with_incident() -> PathwayRecord:
    record = PathwayRecord(
        pathway_id="pathway-centre-a-INC-001",
        pseudonym="INC-001",
        centre="centre-a",
        therapy=Therapy.MSC,
        disease="systemic sclerosis",
        protocol_id="msc-systemic-sclerosis",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=AT,
        configuration=["pathway", "product", "ordered"],
    )
    record.incidents.append(
        Incident(
            seq=1,
            at=AT,
            kind=IncidentKind.REFUSED,
            event="receive_product",
            actor="t.moreau",
            role=Role.CTU_TECHNICIAN,
            rule="IdentityMismatch",
            message="The bag identifier COI-X does not match.",
            state="ordered",
            update_id="u-1",
            presented={"bag_coi_id": "COI-X"},
        )
    )
    return record


class TestIncidentsShown:
    """The Web UI details and both export formats carry the incidents."""

    def test_details_name_the_last_incident(self) -> None:
        text = current_details(record_with_incident())
        assert "Deviation log:** 1 incident(s)" in text
        assert "IdentityMismatch" in text and "t.moreau" in text

    def test_export_carries_incidents_apart_from_the_chain(self) -> None:
        record = record_with_incident()
        for fmt in ExportFormat:
            text = render(record, fmt)
            assert "COI-X" in text and "IdentityMismatch" in text
            trail = read_trail(text, fmt)
            assert trail.incidents == 1 and trail.entries == []
            assert verify_trail(trail) == []


class TestProductDeviations:
    """Quarantine, out-of-specification, discard and a bad temperature log are incidents."""

    def entry(self, event: str, **data: object) -> AuditEntry:
        return AuditEntry(
            seq=1,
            at=AT,
            event=event,
            actor="t.moreau",
            role=Role.CTU_TECHNICIAN,
            from_state="a",
            to_state="b",
            data=data,
        )

    def test_which_are_deviations(self) -> None:
        assert product_deviation(self.entry("quarantine_product", finding="warm"))
        assert product_deviation(self.entry("discard_thawed_product"))
        assert product_deviation(self.entry("report_out_of_specification", finding="low"))
        excursion = self.entry("receive_product", bag_coi_id="C", temperature_log_ok=False)
        assert product_deviation(excursion) == (
            "TemperatureExcursion",
            "The shipper's temperature log was not satisfactory at receive product (bag C).",
        )
        assert product_deviation(self.entry("receive_product", temperature_log_ok=True)) is None
        assert product_deviation(self.entry("record_consent")) is None
