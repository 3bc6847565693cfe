"""The log channel: each escalation written to the structured log (default and fallback)."""

from __future__ import annotations

import structlog

from models.notifications import Escalation

log = structlog.get_logger("cellpath.notifications")


class LogChannel:
    """Writes each escalation to the structured log (the default, and the fallback)."""

    name = "log"

    async def deliver(self, escalation: Escalation) -> None:
        log.warning(
            "deadline escalation",
            pathway_id=escalation.pathway_id,
            centre=escalation.centre,
            deadline=escalation.deadline_key,
            level=escalation.level,
            notify=[r.value for r in escalation.notify],
            text=escalation.text(),
        )
