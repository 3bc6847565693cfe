"""The tamper-evident audit trail: a SHA-256 hash chain over a pathway's audit entries.

Usage::

    record.append_audit(entry)                     # in the workflow: link, then append
    problems = verify_chain(entries, pathway_id)   # [] when the chain is intact
    problems = verify_chain(entries, pathway_id, head="3f2a…")  # and it ends where expected

Each entry's ``hash`` is ``sha256(version + "\\n" + prev_hash + "\\n" + canonical JSON of
its chained fields)``; ``prev_hash`` is the hash of the entry before it, and the first entry links to
``genesis_hash(pathway_id)``. An edited entry no longer matches its hash; a removed, inserted
or reordered one breaks a link or the ``seq`` numbering.

Two chain versions link into one chain: an entry says which sealed it (``AuditEntry.chain``).
Version 1 covers ``CHAINED_FIELDS``; version 2 (entries written since the co-signature,
patch ``cosign-verified-second-person``) also covers ``chain`` itself, the signature's
``meaning`` and the co-signer (``cosigner``, ``cosigner_role``, ``cosigner_meaning``): a
meaning changed from "verified" to "approved" no longer matches its hash. Version-1 entries
verify as before; an entry relabelled as version 1 no longer matches its version-2 hash.

Limitations: a chain has no secret. Someone who rewrites an entry *and every hash after it*,
or cuts entries off the end, leaves a consistent chain: compare the head with an anchor kept
elsewhere (the live pathway in Temporal, or the head hash noted when the trail was exported).
Entries recorded before the chain existed have no hash and are reported as unsealed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.record import AuditEntry

CHAIN_VERSION = "cellpath-audit-v1"
#: the chain version new entries are sealed with
CURRENT_CHAIN = 2
#: The fields an entry's hash covers. Fixed, so a field added to AuditEntry later does not
#: change the hashes of entries already recorded (a new field needs a new chain version).
CHAINED_FIELDS = (
    "seq",
    "at",
    "event",
    "actor",
    "role",
    "reason",
    "update_id",
    "from_state",
    "to_state",
    "data",
)
#: What version 2 adds: who signed as what, and the second person of a two-person action.
SIGNATURE_FIELDS = ("chain", "meaning", "cosigner", "cosigner_role", "cosigner_meaning")
_VERSIONS = {
    1: (CHAIN_VERSION, CHAINED_FIELDS),
    2: ("cellpath-audit-v2", CHAINED_FIELDS + SIGNATURE_FIELDS),
}


def chain_genesis(version: str, owner: str) -> str:
    """What the first entry of ``owner``'s chain links to: the chain is bound to its owner
    (a pathway here, a centre in models/centre_audit.py)."""
    return hashlib.sha256(f"{version}\ngenesis\n{owner}".encode()).hexdigest()


def canonical_json(fields: dict[str, Any]) -> bytes:
    """Fields as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def linked_hash(version: str, prev_hash: str, body: bytes) -> str:
    """``sha256(version + prev_hash + body)`` (hex): one link of a chain."""
    digest = hashlib.sha256()
    digest.update(f"{version}\n{prev_hash}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def genesis_hash(pathway_id: str) -> str:
    """What the first entry of a pathway links to: the chain is bound to its pathway."""
    return chain_genesis(CHAIN_VERSION, pathway_id)


def canonical(entry: AuditEntry) -> bytes:
    """The chained fields of the entry's chain version as canonical JSON (sorted keys, no
    spaces, UTF-8)."""
    _, chained = _VERSIONS.get(entry.chain, _VERSIONS[1])
    fields: dict[str, Any] = entry.model_dump(mode="json", include=set(chained))
    # An export through CSV cannot tell an empty text from a missing one: hash them alike.
    for name in ("reason", "update_id", *SIGNATURE_FIELDS[1:]):
        if name in fields:
            fields[name] = fields.get(name) or None
    return canonical_json(fields)


def chain_entry(prev_hash: str, entry: AuditEntry) -> str:
    """The hash of ``entry`` linked to ``prev_hash`` (hex SHA-256), by its chain version."""
    if entry.chain not in _VERSIONS:
        # An unknown version seals nothing: such an entry always shows as edited.
        return ""
    version, _ = _VERSIONS[entry.chain]
    return linked_hash(version, prev_hash, canonical(entry))


def head_hash(entries: Sequence[AuditEntry], pathway_id: str) -> str:
    """The hash the trail ends at (the genesis hash when it is empty)."""
    return entries[-1].hash if entries else genesis_hash(pathway_id)


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with a trail: where (1-based position, entry ``seq``) and what.

    ``kind``: ``edited`` (content does not match its hash), ``link`` (does not follow the
    entry before it), ``sequence`` (a gap, a repeat or a step back in ``seq``),
    ``unsealed`` (no hash), ``head`` (does not end at the expected head).
    """

    position: int
    seq: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


def verify_chain(
    entries: Sequence[AuditEntry], pathway_id: str, *, head: str | None = None
) -> list[ChainProblem]:
    """Every problem in the trail of ``pathway_id``, in order; ``[]`` when it is intact."""
    problems: list[ChainProblem] = []
    prev_hash = genesis_hash(pathway_id)
    prev_seq = 0
    for position, entry in enumerate(entries, start=1):
        found: list[tuple[str, str]] = []
        if entry.seq > prev_seq + 1:
            gap = f"#{prev_seq + 1}" + (f"–#{entry.seq - 1}" if entry.seq > prev_seq + 2 else "")
            found.append(("sequence", f"{gap} missing before it (removed?)"))
        elif entry.seq <= prev_seq:
            found.append(("sequence", f"follows #{prev_seq} (inserted, repeated or reordered?)"))
        if not entry.hash:
            found.append(("unsealed", "has no hash (recorded before the audit chain?)"))
        else:
            if entry.prev_hash != prev_hash:
                found.append(
                    (
                        "link",
                        "does not link to the entry before it (an entry was removed, inserted "
                        "or reordered, or the one before it was edited)",
                    )
                )
            if chain_entry(entry.prev_hash, entry) != entry.hash:
                found.append(("edited", "its content does not match its hash (edited)"))
        where = f"entry #{entry.seq} (position {position})"
        problems += [ChainProblem(position, entry.seq, k, f"{where}: {m}") for k, m in found]
        prev_hash = entry.hash
        prev_seq = entry.seq
    if head is not None and head_hash(entries, pathway_id) != head:
        last = entries[-1].seq if entries else None
        problems.append(
            ChainProblem(
                len(entries),
                last,
                "head",
                f"the trail does not end at the expected head {head[:12]}…: entries were "
                "removed from its end, or added after it",
            )
        )
    return problems
