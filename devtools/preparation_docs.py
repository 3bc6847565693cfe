"""The preparation tasks, registry forms and visit content of a protocol, for docs/pathways.md.

Usage (by ``devtools.docs``, through ``render_protocols(…, more=preparation_tables)``)::

    lines += preparation_tables(protocol)    # markdown tables, each rule beside its source

Every task with its milestone, deadline, the steps it gates, the details it asks and its
source; every registry form with its anchor, due time and source; every visit item.
"""

from __future__ import annotations

from devtools.protocol_docs import markdown_row, number_text, source_text
from models.protocol import Protocol


def preparation_tables(protocol: Protocol) -> list[str]:
    lines: list[str] = []
    if protocol.preparation:
        lines += [
            "",
            "Preparation tasks (recorded with `record_task`; a gated step is refused while "
            "the task is not recorded):",
            "",
            "| Task | What | Opened on entering | Due | Gates | Details | Source |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for task in protocol.preparation:
            details = ", ".join(
                f + (f" ∈ {{{', '.join(task.accept[f])}}}" if f in task.accept else "")
                for f in task.fields
            )
            if task.met_by:
                details = f"recorded by `{task.met_by}`"
            if task.flag is not None:
                details = (details + "; " if details else "") + (
                    f"flag until D0 + {_n(task.flag.until)} ({_src(task.flag.source_of('until'))})"
                )
            lines.append(
                _row(
                    f"`{task.key}`",
                    task.label,
                    ", ".join(f"`{s}`" for s in task.armed_on),
                    f"+ {_n(task.within)} ({task.waiting_on.label})",
                    ", ".join(f"`{g}`" for g in task.gates) or "—",
                    details or "—",
                    _src(task.source_of("within")),
                )
            )
    plan = protocol.registry
    if plan is not None:
        alternative = f"; alternative: {plan.alternative}" if plan.alternative else ""
        lines += [
            "",
            f"Registry forms ({plan.name}{alternative}; submitted with `submit_registry_form`):",
            "",
            "| Form | What | Due | Submit within | Repeats | Source |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for form in plan.forms:
            anchor = "MDTM decision" if form.anchor == "decision" else "D0"
            repeat = (
                f"every {_n(form.repeat.every)} to {_n(form.repeat.until)} "
                f"({_src(form.repeat.source_of('every'))})"
                if form.repeat
                else "—"
            )
            lines.append(
                _row(
                    f"`{form.key}`",
                    form.label + (" (CRS/ICANS fields)" if form.crs_icans else ""),
                    f"{anchor} + {_n(form.at)}" if form.at else f"at the {anchor}",
                    _n(form.within),
                    repeat,
                    _src(form.source_of("at")),
                )
            )
    if protocol.visit_content:
        lines += [
            "",
            "Visit content (each visit records the items it names, with `record_visit`):",
            "",
            "| Item | What | Visits | Source |",
            "| --- | --- | --- | --- |",
        ]
        for item in protocol.visit_content:
            lines.append(
                _row(f"`{item.key}`", item.label, ", ".join(item.visits), item.source.text())
            )
    return lines


_n = number_text
_src = source_text
_row = markdown_row
