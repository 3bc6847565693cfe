"""Inputs, results and views of the pathway workflow.

``PathwayInput`` starts a run: either a new ``Referral`` or the ``PathwayRecord`` carried by
continue-as-new, and the ``Protocol`` the pathway follows (so the workflow never reads a
file) or, for a lean run, its ``ProtocolRef`` (ID and content hash: the run fetches that
version from the record store, workflows/lean_runs.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    WrapSerializer,
    field_serializer,
    field_validator,
    model_validator,
)

from models.carried import ProtocolRef, pack, unpack
from models.protocol import Protocol, protocol_from_input
from models.record import AuditEntry, Deadline, PathwayRecord
from models.referral import Referral
from models.roles import Role

#: a protocol object's packed form (shared protocols: one a worker), not to pack it again for
#: every run that hands it on (~35 KB of JSON, compressed; the codec keeps it out of history)
_PACKED: dict[int, tuple[Protocol, str]] = {}
_PACKED_MAX = 64


def _packed_protocol(value: Protocol | None, handler: SerializerFunctionWrapHandler) -> Any:
    if value is None:
        return None
    found = _PACKED.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(_PACKED) >= _PACKED_MAX:
        _PACKED.clear()
    packed = pack(handler(value))
    _PACKED[id(value)] = (value, packed)
    return packed


class PathwayInput(BaseModel):
    #: packed in history (~26 KB → ~6 KB); an input written before still loads
    protocol: Annotated[Protocol | None, WrapSerializer(_packed_protocol, when_used="json")] = None
    referral: Referral | None = None
    record: PathwayRecord | None = None
    #: a lean run's protocol, by reference (instead of ``protocol``)
    protocol_ref: ProtocolRef | None = None

    @field_validator("protocol", mode="wrap")
    @classmethod
    def _shared(cls, value: Any, validate: ValidatorFunctionWrapHandler) -> Protocol | None:
        # Every run of every pathway decodes its protocol; a worker keeps one copy of each.
        return None if value is None else protocol_from_input(unpack(value), validate)

    @field_validator("record", mode="before")
    @classmethod
    def _unpacked(cls, value: Any) -> Any:
        return unpack(value)

    @field_serializer("record", mode="wrap")
    def _compact(self, record: PathwayRecord | None, handler: SerializerFunctionWrapHandler) -> Any:
        # A lean run's record is packed without its defaults (~9 KB → ~2 KB of history
        # twice per run; `cellpath show` reads it); inputs of other runs are unchanged.
        if record is None or self.protocol_ref is None:
            return handler(record)
        return pack(record.model_dump(mode="json", exclude_defaults=True))

    @model_validator(mode="after")
    def _one_source(self) -> PathwayInput:
        if (self.referral is None) == (self.record is None):
            raise ValueError("give either a referral or a carried record")
        # Both: a lean run since lean2-protocol-claim-check, handed the protocol it names
        # (kept out of history by the worker's codec, models/protocol_claim_check.py).
        if self.protocol is None and self.protocol_ref is None:
            raise ValueError("give a protocol or a protocol reference")
        if self.protocol_ref is not None and self.record is None:
            raise ValueError("a protocol reference continues a carried record")
        return self


class PathwayOutcome(BaseModel):
    pathway_id: str
    outcome: str
    state: str
    finished_at: datetime


class ActionReceipt(BaseModel):
    """What a staff member gets back from an accepted action."""

    pathway_id: str
    event: str
    seq: int
    from_state: str
    state: str
    at: datetime
    duplicate: bool = False
    allowed_next: list[str] = []


class DeadlineView(BaseModel):
    key: str
    label: str
    state: str
    status: str
    due_at: datetime
    seconds_left: float = Field(description="at as_of: the workflow's last activation")
    as_of: datetime | None = None
    level: int
    waiting_on: Role

    @classmethod
    def of(cls, deadline: Deadline, now: datetime) -> DeadlineView:
        return cls(
            key=deadline.key,
            label=deadline.label,
            state=deadline.state,
            status=deadline.status.value,
            due_at=deadline.due_at,
            seconds_left=(deadline.due_at - now).total_seconds(),
            as_of=now,
            level=deadline.level,
            waiting_on=deadline.waiting_on,
        )


class AllowedActions(BaseModel):
    role: Role | None
    state: str
    events: list[str]


class Timeline(BaseModel):
    entries: list[AuditEntry]
