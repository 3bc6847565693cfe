"""The record store's tables, as SQLAlchemy Core metadata (the shape migrations must reach).

Every table is append-only: facts are added, never changed (a correction is a new entry),
and the migration installs triggers that refuse UPDATE and DELETE on both engines. Columns
named ``*_sealed`` hold a Temporal ``Payload`` in its wire form, encrypted with the payload
codec's key ring when one is configured (store/sealing.py); pseudonyms, centre IDs, codes,
identifiers (COI, bag, lot) and hashes stay in clear, so trace and list can query them.

Write keys: an audit entry is unique per (pathway, seq), the chain's own numbering; the other
facts are unique per (pathway, run, seq), the position the workflow gave them. A retried or
replayed activity therefore writes nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both engines.

    SQLite keeps no offset, so a time comes back naive; an audit entry's hash covers its
    ``at`` as JSON, and a naive time would serialise differently and break the chain.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the store keeps aware times only, got a naive {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

HASH = String(64)
ID = String(120)

protocol_versions = Table(
    "protocol_versions",
    metadata,
    Column("content_hash", HASH, primary_key=True),
    Column("protocol_id", ID, nullable=False),
    Column("version", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

pathways = Table(
    "pathways",
    metadata,
    Column("pathway_id", ID, primary_key=True),
    Column("pseudonym", String(20), nullable=False, index=True),
    Column("centre", String(40), nullable=False, index=True),
    Column("therapy", String(20), nullable=False),
    Column("age_band", String(10)),
    Column("disease_sealed", LargeBinary, nullable=False),
    Column("binome_sealed", LargeBinary, nullable=False),
    Column("protocol_id", ID, nullable=False),
    Column("protocol_version", String(40), nullable=False),
    Column("protocol_hash", HASH, ForeignKey("protocol_versions.content_hash"), nullable=False),
    Column("referred_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
)


def _pathway_fk() -> Column[str]:
    return Column("pathway_id", ID, ForeignKey("pathways.pathway_id"), primary_key=True)


audit_entries = Table(
    "audit_entries",
    metadata,
    _pathway_fk(),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(80), nullable=False),
    Column("role", String(40), nullable=False),
    Column("from_state", String(80), nullable=False),
    Column("to_state", String(80), nullable=False),
    Column("actor_sealed", LargeBinary, nullable=False),
    Column("reason_sealed", LargeBinary, nullable=False),
    Column("update_id_sealed", LargeBinary, nullable=False),
    Column("data_sealed", LargeBinary, nullable=False),
    Column("prev_hash", HASH, nullable=False),
    Column("hash", HASH, nullable=False),
    # what an electronic signature meant (migration 0003); None for other actions
    Column("meaning", String(40)),
    # the second person of a two-person action and the audit chain version (migration
    # 0004, models/cosignature.py, models/audit.py); None on rows written before: version 1
    Column("cosigner_sealed", LargeBinary),
    Column("cosigner_role", String(40)),
    Column("cosigner_meaning", String(40)),
    Column("chain", Integer),
)

incidents = Table(
    "incidents",
    metadata,
    _pathway_fk(),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("summary_sealed", LargeBinary, nullable=False),
    Column("data_sealed", LargeBinary, nullable=False),
)

product_events = Table(
    "product_events",
    metadata,
    _pathway_fk(),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("coi_id", ID, index=True),
    Column("bag_id", ID, index=True),
    Column("lot", ID, index=True),
    Column("manufacturer", ID),
    Column("storage_location", ID),
)

visits = Table(
    "visits",
    metadata,
    _pathway_fk(),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("visit", String(80), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

adverse_events = Table(
    "adverse_events",
    metadata,
    _pathway_fk(),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("grade", Integer, nullable=False),
    Column("serious", Boolean, nullable=False),
    Column("suspected_unexpected", Boolean, nullable=False),
    Column("life_threatening_or_fatal", Boolean, nullable=False),
    Column("ice_score", Integer),
    Column("detail_sealed", LargeBinary, nullable=False),
)

outcomes = Table(
    "outcomes",
    metadata,
    _pathway_fk(),
    Column("run", Integer, nullable=False),
    Column("closed_at", UTCDateTime, nullable=False, index=True),
    Column("outcome", String(40), nullable=False),
    Column("final_state", String(80), nullable=False),
    Column("audit_head_seq", Integer, nullable=False),
    Column("audit_head_hash", HASH, nullable=False),
)

#: the pathway's record as it stood when it closed, its audit trail apart (audit_entries
#: holds it): what ``cellpath show`` reads once the closed workflow has expired
closing_records = Table(
    "closing_records",
    metadata,
    _pathway_fk(),
    Column("run", Integer, nullable=False),
    Column("record_sealed", LargeBinary, nullable=False),
)

#: a centre's audit trail (the centre workflow's evidence entries, a hash chain per centre),
#: written before each continue-as-new (migration 0005): unique per (centre, seq)
centre_audit_entries = Table(
    "centre_audit_entries",
    metadata,
    Column("centre", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(80), nullable=False),
    Column("role", String(40), nullable=False),
    Column("item", ID, nullable=False),
    Column("actor_sealed", LargeBinary, nullable=False),
    Column("reason_sealed", LargeBinary, nullable=False),
    Column("update_id_sealed", LargeBinary, nullable=False),
    Column("data_sealed", LargeBinary, nullable=False),
    Column("prev_hash", HASH, nullable=False),
    Column("hash", HASH, nullable=False),
)

#: a centre's alerts (expiring, lapsed, renewed, withdrawn), numbered per centre
centre_alerts = Table(
    "centre_alerts",
    metadata,
    Column("centre", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("item", ID, nullable=False),
    Column("valid_until", UTCDateTime),
    Column("therapies", String(80), nullable=False),
    Column("label_sealed", LargeBinary, nullable=False),
)

#: every table, in the order rows may be inserted (parents first)
APPEND_ONLY_TABLES = (
    "protocol_versions",
    "pathways",
    "audit_entries",
    "incidents",
    "product_events",
    "visits",
    "adverse_events",
    "outcomes",
    "closing_records",
    "centre_audit_entries",
    "centre_alerts",
)
