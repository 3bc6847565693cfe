"""The centre's tamper-evident audit trail: a SHA-256 hash chain over its evidence entries.

Usage::

    digest = chain_centre_entry(prev_hash, entry)      # in CentreRecord.append_audit
    problems = verify_centre_chain(entries, "centre-b")  # [] when the trail is intact

The same construction as a pathway's chain (models/audit.py), with its own version tag and
fields (a centre entry names the evidence ``item``, not states): ``hash`` is
``sha256(version + prev_hash + canonical JSON of the chained fields)``, the first entry links
to ``centre_genesis(centre_id)``. A centre workflow carries only the head (seq and hash)
through continue-as-new; the entries of earlier runs are in the record store, and the whole
trail, read back from both, must verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from models.audit import ChainProblem, canonical_json, chain_genesis, linked_hash

if TYPE_CHECKING:
    from models.centre_record import CentreAuditEntry

CENTRE_CHAIN_VERSION = "cellpath-centre-audit-v1"
#: The fields an entry's hash covers (fixed: a new field needs a new chain version).
CENTRE_CHAINED_FIELDS = (
    "seq",
    "at",
    "event",
    "actor",
    "role",
    "reason",
    "update_id",
    "item",
    "data",
)


def centre_genesis(centre_id: str) -> str:
    """What the first entry of a centre links to: the chain is bound to its centre."""
    return chain_genesis(CENTRE_CHAIN_VERSION, centre_id)


def chain_centre_entry(prev_hash: str, entry: CentreAuditEntry) -> str:
    """The hash of ``entry`` linked to ``prev_hash`` (hex SHA-256)."""
    fields: dict[str, Any] = entry.model_dump(mode="json", include=set(CENTRE_CHAINED_FIELDS))
    for name in ("reason", "update_id"):
        fields[name] = fields.get(name) or None
    return linked_hash(CENTRE_CHAIN_VERSION, prev_hash, canonical_json(fields))


def verify_centre_chain(entries: Sequence[CentreAuditEntry], centre_id: str) -> list[ChainProblem]:
    """Every problem in a centre's trail, in order; ``[]`` when it is intact."""
    problems: list[ChainProblem] = []
    prev_hash, prev_seq = centre_genesis(centre_id), 0
    for position, entry in enumerate(entries, start=1):
        found: list[tuple[str, str]] = []
        if entry.seq != prev_seq + 1:
            found.append(("sequence", f"follows #{prev_seq} (an entry missing or repeated?)"))
        if entry.prev_hash != prev_hash:
            found.append(("link", "does not link to the entry before it"))
        if chain_centre_entry(entry.prev_hash, entry) != entry.hash:
            found.append(("edited", "its content does not match its hash (edited)"))
        where = f"centre entry #{entry.seq} (position {position})"
        problems += [ChainProblem(position, entry.seq, k, f"{where}: {m}") for k, m in found]
        prev_hash, prev_seq = entry.hash, entry.seq
    return problems
