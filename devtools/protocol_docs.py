"""The "Protocols" part of docs/pathways.md: every protocol's diseases and numbers, each with its source.

Usage::

    text = render_protocols(shipped_protocols())    # markdown, one section per protocol

Every number a protocol holds (windows, doses, infusions, washout, visits, deadlines,
escalation, safety reporting) is listed with the source it carries (``models/sources.py``),
for every file in ``protocols/``, not only each therapy's reference protocol. A number the
file leaves out shows the model's default and the default's source.

Limitations: the operational notification retry (not clinical, never scaled) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from devtools.safety_docs import AFTER_USUAL_WINDOW, safety_numbers
from models.durations import in_words
from models.protocol import Protocol
from models.sources import Source, Sourced, SourceKind

_KIND_WORDS = {
    SourceKind.RECOMMENDATIONS: "French recommendations (SFGM-TC/MATHEC, national protocol)",
    SourceKind.EBMT_ISCT: "EBMT/ISCT statement (Greco et al. 2024)",
    SourceKind.LABEL: "EU product information (SmPC)",
    SourceKind.REGULATION: "EU regulation (CTR 536/2014, ATMP 1394/2007)",
    SourceKind.ASSUMPTION: "no source found: a configurable assumption",
}

_INTRO = """\
## Protocols

Each protocol file in `protocols/` lists the diseases it is for and every number the pathway
uses, each with its source. A referral follows the protocol it names (`protocol_id`) or the
one protocol whose therapy is its own and whose diseases cover its ICD-10 code (by category:
`M32` covers `M32.1`) or ORPHA code; none or several matching is refused with the candidates.

Source kinds:
"""


def render_protocols(
    protocols: list[Protocol], *, more: Callable[[Protocol], list[str]] | None = None
) -> str:
    """The whole "Protocols" part, one section per protocol in the order given; ``more``
    adds a protocol's further tables (devtools/preparation_docs.py)."""
    lines = [_INTRO]
    lines += [f"- `{kind.value}`: {words}" for kind, words in _KIND_WORDS.items()]
    for protocol in protocols:
        lines += ["", *_protocol(protocol), *(more(protocol) if more else [])]
    return "\n".join(lines) + "\n"


def _protocol(protocol: Protocol) -> list[str]:
    lines = [
        f"### {protocol.title}",
        "",
        f"`protocols/{protocol.id}.yaml` · {protocol.therapy.value} · {protocol.product}",
        "",
        "| Disease | ICD-10 | ORPHA | Source |",
        "| --- | --- | --- | --- |",
    ]
    for disease in protocol.diseases:
        lines.append(
            markdown_row(
                disease.name,
                ", ".join(disease.icd10) or "—",
                ", ".join(disease.orpha) or "—",
                disease.source.text(),
            )
        )
    lines += ["", "| Number | Value | Source |", "| --- | --- | --- |"]
    lines += [markdown_row(what, value, source) for what, value, source in numbers(protocol)]
    return lines


def numbers(protocol: Protocol) -> list[tuple[str, str, str]]:
    """(what, value, source) for every number of the protocol, in the file's order."""
    rows: list[tuple[str, str, str]] = []

    def add(what: str, part: Sourced, name: str, value: object | None = None) -> None:
        shown = getattr(part, name) if value is None else value
        rows.append((what, number_text(shown), source_text(part.source_of(name))))

    w = protocol.windows
    add("Work-up validity at MDTM", w, "work_up_validity")
    add("Thaw to infusion", w, "thaw_to_infusion")
    if protocol.therapy.value == "car-t":
        add("Infusion after lymphodepletion, from", w, "infusion_after_lymphodepletion_min")
        add("Infusion after lymphodepletion, until", w, "infusion_after_lymphodepletion_max")
        add(
            "Infusion after lymphodepletion, outer limit",
            w,
            "infusion_after_lymphodepletion_outer",
        )
        add(
            "Between the usual and the outer limit",
            w,
            "after_usual_window",
            AFTER_USUAL_WINDOW[w.after_usual_window],
        )
        add("Afebrile before infusion", w, "afebrile_before_infusion")
        add("Stay near the centre after infusion", w, "proximity_period")
        add("Irradiated blood products before apheresis", w, "irradiated_blood_before_apheresis")
        add("Irradiated blood products after infusion", w, "irradiated_blood_after_infusion")
        stay = w.monitoring_before_discharge
        add(
            "Monitoring after infusion before discharge",
            w,
            "monitoring_before_discharge",
            "not checked" if stay is None else f"≥ {number_text(stay)}",
        )
        add(
            "Prednisone-equivalent before apheresis",
            protocol,
            "prednisone_max_mg_per_day",
            f"≤ {protocol.prednisone_max_mg_per_day:g} mg/day",
        )
    add("Tocilizumab doses on site", protocol, "tocilizumab_min_doses")
    for what, value, found in safety_numbers(protocol):
        rows.append((what, str(value), source_text(found)))
    schedule = protocol.infusions
    add("Infusions", schedule, "count")
    if schedule.count > 1:
        add("Interval between infusions", schedule, "interval")
        add("Interval tolerance", schedule, "interval_tolerance")
    if protocol.therapy.value == "msc":
        watch = schedule.observation
        add(
            "Observation after each infusion",
            schedule,
            "observation",
            "none" if watch is None else f"≥ {number_text(watch)}",
        )
        if schedule.count > 1:
            add(
                "Fitness re-check before a further dose",
                schedule,
                "recheck_before_dose",
                "required" if schedule.recheck_before_dose else "not required",
            )
    for rule in protocol.washout:
        note = f" ({rule.note})" if rule.note else ""
        add(
            f"Washout: {rule.drug}{note}",
            rule,
            "stop_before",
            f"stop ≥ {number_text(rule.stop_before)}",
        )
    for visit in protocol.visits:
        add(f"Visit {visit.label}", visit, "at", f"D0 + {number_text(visit.at)}")
        add(
            f"Visit {visit.label} tolerance",
            visit,
            "tolerance",
            f"+ {number_text(visit.tolerance)}",
        )
    for deadline in protocol.deadlines:
        add(f"Deadline: {deadline.label} (`{deadline.key}`)", deadline, "within")
    for name, ladder in protocol.escalation.items():
        for step in ladder.steps:
            who = ", ".join(role.label for role in step.notify)
            when = "at the deadline" if not step.after else f"deadline + {number_text(step.after)}"
            add(f"Escalation `{name}`: {who}", step, "after", when)
    if protocol.withdrawal is not None:
        add(
            "Safety follow-up after withdrawal (once infused)",
            protocol.withdrawal,
            "safety_follow_up",
        )
    report = protocol.safety_reporting
    add("Serious adverse event to sponsor", report, "sponsor")
    add("Fatal or life-threatening SUSAR", report, "susar_fatal")
    add("Other SUSAR", report, "susar_other")
    return rows


_MONTH = timedelta(days=30.44)
_YEAR = timedelta(days=365.25)


def number_text(value: object) -> str:
    """A number as the protocol file writes it: ``3 months``, ``2 years``, ``42 days``."""
    if not isinstance(value, timedelta):
        return str(value)
    for size, word in ((_YEAR, "year"), (_MONTH, "month")):
        count = value / size
        if value >= size and abs(count - round(count)) < 1e-9:
            return f"{round(count)} {word}{'' if round(count) == 1 else 's'}"
    # 48 h reads as protocols and labels write it, not as 2 days.
    return in_words(value, unit="h" if value < timedelta(days=3) else None)


def source_text(found: Source | None) -> str:
    # Only a protocol recorded before source tags lacks one; shipped files cannot.
    return found.text() if found else "(no source recorded)"


def markdown_row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
