"""What a centre workflow says in the Temporal Web UI: its current details (Markdown) and
the summary of a broadcast to its open pathways. Pure: the workflow passes what it holds.
"""

from __future__ import annotations

from models.centre_notice import CentreNotice
from models.centre_policy import CentrePolicy
from models.centre_record import CentreRecord
from models.evidence import when_text
from models.protocol import Therapy
from models.readiness import TherapyReadiness


def centre_details(
    record: CentreRecord, policy: CentrePolicy, ready: dict[Therapy, TherapyReadiness]
) -> str:
    """Markdown for the Web UI (absolute times only: it is set on each change)."""
    centre = record.centre
    lines = [f"**Centre:** {centre.id} · {centre.name}"]
    for therapy, r in ready.items():
        if r.ready:
            lines.append(f"**{therapy.value}:** ready")
        else:
            lines.append(f"**{therapy.value}:** NOT READY — {r.missing_text()}")
    expiring = {e.key: e for r in ready.values() for e in r.expiring}
    for e in sorted(expiring.values(), key=lambda e: e.valid_until)[:6]:
        lines.append(f"- expiring: {e.label} on {when_text(e.valid_until)}")
    if centre.tocilizumab is not None:
        lines.append(f"**Tocilizumab on site:** {centre.tocilizumab.doses_on_site} dose(s)")
    for alert in record.alerts[-3:]:
        lines.append(f"- {alert.at:%Y-%m-%d %H:%M} {alert.kind.value}: {alert.text(policy)}")
    return "\n".join(lines)


def broadcast_summary(
    current: CentreNotice,
    before: dict[str, list[str]] | None,
    therapies: list[Therapy],
) -> str:
    """The broadcast's summary: which therapies are told, what went missing or came back."""
    names = ", ".join(t.value for t in therapies)
    lapsed: list[str] = []
    restored: list[str] = []
    for r in current.readiness:
        if r.therapy not in therapies:
            continue
        old = set((before or {}).get(r.therapy.value, []))
        lapsed += [m.label for m in r.missing if m.key not in old]
        restored += sorted(old - {m.key for m in r.missing})
    parts = []
    if lapsed:
        parts.append("missing " + ", ".join(dict.fromkeys(lapsed)))
    if restored:
        parts.append("restored " + ", ".join(dict.fromkeys(restored)))
    if not parts:
        parts.append(f"tocilizumab stock {current.tocilizumab_doses}")
    return f"Tell open {names} pathways: {'; '.join(parts)}"[:200]
