"""The pathway record: the single source of truth carried by a pathway workflow.

The chart's configuration lives here (``configuration``, ``history``), so a run restores its
chart from the record. Continue-as-new carries it whole, or (a lean run, models/carried.py)
without what earlier runs wrote to the record store: ``earlier`` then holds the audit
chain's head and the number of incidents stored, and ``audit``/``incidents`` only the
recent ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from models.audit import chain_entry, genesis_hash
from models.carried import EarlierRuns
from models.centre_notice import CentreAlert, CentreView
from models.eligibility import EligibilityFacts
from models.grading_record import GradingRecord
from models.incident import Incident
from models.preparation import PreparationRecord
from models.protocol import Therapy
from models.referral import Binome
from models.registry_forms import RegistryRecord
from models.roles import Role
from models.withdrawal import WithdrawalNote


class AuditEntry(BaseModel):
    """One accepted action: who, in which role, when, why, and the update that carried it.

    ``prev_hash``/``hash`` link it into the pathway's hash chain (models/audit.py); they are
    empty on entries recorded before the chain existed, so old records still load.
    """

    seq: int
    at: datetime
    event: str
    actor: str
    role: Role
    reason: str | None = None
    update_id: str | None = None
    from_state: str
    to_state: str
    data: dict[str, Any] = {}
    prev_hash: str = ""
    hash: str = ""
    #: what an electronic signature meant ("approved", "verified", "administered"...),
    #: from the verified actor assertion (models/signatures.py); None for other actions
    meaning: str | None = None
    #: the second person of a two-person action, from their co-signature
    #: (models/cosignature.py): staff ID, the role they co-signed in, and its meaning
    cosigner: str | None = None
    cosigner_role: Role | None = None
    cosigner_meaning: str | None = None
    #: the audit chain version that sealed this entry (models/audit.py): 1 hashes neither
    #: meanings nor co-signer; 2 (entries written since the co-signature) hashes both
    chain: int = 1


class DeadlineStatus(StrEnum):
    ARMED = "armed"
    OVERDUE = "overdue"
    MET = "met"
    SUSPENDED = "suspended"


class Deadline(BaseModel):
    key: str
    label: str
    state: str
    waiting_on: Role
    ladder: str
    armed_at: datetime
    due_at: datetime
    status: DeadlineStatus = DeadlineStatus.ARMED
    level: int = Field(default=0, description="escalation steps already taken")
    next_escalation_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status in (DeadlineStatus.ARMED, DeadlineStatus.OVERDUE)

    def wakes_at(self) -> datetime | None:
        if not self.open:
            return None
        if self.status is DeadlineStatus.ARMED:
            return self.due_at
        return self.next_escalation_at


class DrugStopRecord(BaseModel):
    drug: str
    stopped_at: datetime


class ProductChain(BaseModel):
    """Chain of identity of the product, from collection or order to the bedside."""

    coi_id: str | None = None
    collections: int = 0
    released_at: datetime | None = None
    received_at: datetime | None = None
    storage_location: str | None = None
    quarantined: bool = False
    # why the bag is in quarantine ("temperature excursion at receipt", a finding)
    quarantine_finding: str | None = None
    lot: str | None = None
    # the binôme's reason to thaw past the usual lymphodepletion-to-infusion window
    late_justification: str | None = None
    thawed_at: datetime | None = None
    doses_ordered: int = 0
    discarded: int = 0


class AdverseEventRecord(BaseModel):
    seq: int = 0
    at: datetime
    kind: str
    grade: int
    serious: bool
    suspected_unexpected: bool = False
    life_threatening_or_fatal: bool = False
    ice_score: int | None = None
    hospitalised: bool | None = None
    outcome: str | None = None
    # when the site became aware (explicit safety rules): the reporting clock starts there
    aware_at: datetime | None = None
    reports: dict[str, datetime] = {}

    def reports_due(self) -> list[str]:
        """Reports this event calls for (EU CTR 536/2014): sponsor for a serious event,
        SUSAR when it is also suspected and unexpected."""
        due = []
        if self.serious:
            due.append("sponsor")
            if self.suspected_unexpected:
                due.append("susar")
        return due


class StoredMark(BaseModel):
    """How far the record store holds a pathway (models/record_writes.py): its audit chain
    up to ``audit_seq``, its first ``adverse_events`` adverse events and ``incidents``."""

    audit_seq: int = 0
    adverse_events: int = 0
    incidents: int = 0


class PathwayRecord(BaseModel):
    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Therapy
    disease: str
    age_band: str | None = None
    protocol_id: str
    binome: Binome
    referred_at: datetime
    # chart: the version of the therapy's chart that wrote the configuration (records from
    # before the field existed are version 1; states/migrations.py maps older ones)
    chart_version: int = 1
    # the safety rules the pathway was referred under (models/safety_rules.py): records
    # from before the field existed follow the legacy rules
    safety_rules: int = 1
    configuration: list[str] = []
    history: dict[str, list[str]] = {}
    held_from: str | None = None
    outcome: str | None = None
    # clinical facts the guards read
    work_up_completed_at: datetime | None = None
    work_up_missing: list[str] = []
    # organ-function values of the last work-up (lvef_percent, egfr), as given
    work_up_values: dict[str, float] = {}
    # eligibility: activity score, reference treatments tried, exclusion checklist answers
    eligibility: EligibilityFacts = EligibilityFacts()
    mdtm_approved_at: datetime | None = None
    mdtm_deferrals: int = 0
    # the meeting of the last MDTM decision (explicit safety rules): its ID and date
    mdtm_meeting_id: str | None = None
    mdtm_meeting_at: datetime | None = None
    consent_at: datetime | None = None
    # the consent elements answered yes (None: recorded before the elements were read)
    consent_given: list[str] | None = None
    washout: list[DrugStopRecord] = []
    washout_recorded: bool = False
    current_treatments: list[str] | None = None
    prednisone_mg_per_day: float = 0
    apheresis_slot_at: datetime | None = None
    product: ProductChain = ProductChain()
    cleared_at: datetime | None = None
    lymphodepletion_started_at: datetime | None = None
    lymphodepletion_ended_at: datetime | None = None
    lymphodepletion_repeats: int = 0
    last_fever_at: datetime | None = None
    infusions: list[datetime] = []
    icu_transfers: int = 0
    discharged_at: datetime | None = None
    adverse_events: list[AdverseEventRecord] = []
    # post-infusion observations with their computed CRS/ICANS grades (models/grading_record.py)
    grading: GradingRecord = GradingRecord()
    visits: dict[str, datetime] = {}
    # withdrawal from the study, and an explicit refusal of the safety follow-up after it
    study_withdrawal: WithdrawalNote | None = None
    follow_up_refusal: WithdrawalNote | None = None
    # operations
    deadlines: list[Deadline] = []
    audit: list[AuditEntry] = []
    run: int = 1
    # what the pathway last heard from its centre (signal ``centre_notice``), and the
    # centre prerequisites that lapsed while it was open
    centre_status: CentreView | None = None
    centre_alerts: list[CentreAlert] = []
    # what the record store holds already; None until the first write (docs/records.md)
    stored: StoredMark | None = None
    # the deviation log (models/incident.py): refusals on safety rules, product deviations
    incidents: list[Incident] = []
    # preparation tasks done and registry forms submitted (models/preparation.py,
    # models/registry_forms.py); None on a pathway started before each was tracked
    preparation: PreparationRecord | None = None
    registry: RegistryRecord | None = None
    # what earlier runs left in the record store and this record does not carry (lean
    # runs, models/carried.py); None: the audit trail and the incidents are whole here
    earlier: EarlierRuns | None = None

    @property
    def d0(self) -> datetime | None:
        return self.infusions[0] if self.infusions else None

    @property
    def state(self) -> str:
        """The innermost active state (what staff call "where the patient is")."""
        return self.configuration[-1] if self.configuration else "unknown"

    def open_deadlines(self) -> list[Deadline]:
        return [d for d in self.deadlines if d.open]

    def next_wake(self) -> datetime | None:
        times = [t for d in self.deadlines if (t := d.wakes_at()) is not None]
        return min(times) if times else None

    def next_deadline(self) -> Deadline | None:
        armed = [d for d in self.deadlines if d.open]
        return min(armed, key=lambda d: d.due_at) if armed else None

    @property
    def escalation_level(self) -> int:
        return max((d.level for d in self.deadlines if d.open), default=0)

    @property
    def overdue(self) -> bool:
        return any(d.status is DeadlineStatus.OVERDUE for d in self.deadlines)

    @property
    def audit_seq(self) -> int:
        """The seq of the trail's last entry, carried or left in the store (0: none)."""
        if self.audit:
            return self.audit[-1].seq
        return self.earlier.audit_seq if self.earlier else 0

    @property
    def audit_head(self) -> str:
        """The hash the next entry links to (the genesis hash before the first entry)."""
        if self.audit:
            return self.audit[-1].hash
        return self.earlier.audit_hash if self.earlier else genesis_hash(self.pathway_id)

    @property
    def incident_count(self) -> int:
        """How many incidents the deviation log holds, carried or left in the store."""
        return (self.earlier.incidents if self.earlier else 0) + len(self.incidents)

    def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Link ``entry`` to the last entry of the trail (hash chain), then append it."""
        entry.prev_hash = self.audit_head
        entry.hash = chain_entry(entry.prev_hash, entry)
        self.audit.append(entry)
        return entry

    def entry_for_update(self, update_id: str | None) -> AuditEntry | None:
        """The entry an Update with this ID already wrote (a retried click), if any."""
        if not update_id:
            return None
        return next((e for e in self.audit if e.update_id == update_id), None)

    def incident_for_update(self, update_id: str | None) -> Incident | None:
        """The refusal an Update with this ID already left in the deviation log, if any."""
        if not update_id:
            return None
        return next(
            (i for i in self.incidents if i.update_id == update_id and i.kind == "refused"), None
        )


def protocol_days(delta: timedelta, time_scale: float) -> float:
    """A duration measured on a (possibly compressed) clock, in the protocol's days."""
    return delta.total_seconds() / (86400.0 * time_scale)
