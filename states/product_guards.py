"""Product integrity under the explicit safety rules (models/safety_rules.py).

- A bag received with a temperature excursion goes to quarantine, never to storage
  (``temperature_excursion`` routes ``receive_product``); from there the binôme releases it
  on a recorded assessment (``release_from_quarantine`` with a reason) or discards it
  (``discard_quarantined_product``: re-apheresis or exit for CAR-T, a new order for MSC).
- The temperature-log answer at receipt and the release lot are required.
- Past the usual lymphodepletion-to-infusion window and up to the protocol's outer limit,
  the protocol says whether the binôme may proceed with a recorded justification
  (``late_justification`` of ``thaw_product``) or must repeat lymphodepletion; beyond the
  outer limit, lymphodepletion is repeated.

Pathways under the legacy rules keep the old behaviour: every guard here returns at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from models import actions as a
from models.protocol import Protocol
from models.record import PathwayRecord
from models.safety_rules import EXPLICIT
from states import errors as e
from states import safety_refusals as s

TEMPERATURE_EXCURSION = "temperature excursion at receipt"


class ProductGuards:
    """Guards and routes of product integrity (mixed into ``PathwayChart``)."""

    record: PathwayRecord
    protocol: Protocol

    if TYPE_CHECKING:

        def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn: ...

        def days(self, delta: timedelta) -> str: ...

    def temperature_excursion(self, action: a.ProductReceipt) -> bool:
        """Route of ``receive_product``: the shipper's log shows an excursion."""
        return self.record.safety_rules >= EXPLICIT and action.temperature_log_ok is False

    def guard_receipt_answered(self, action: a.ProductReceipt, now: datetime) -> None:
        if self.record.safety_rules >= EXPLICIT and action.temperature_log_ok is None:
            self.refuse(
                s.AnswerMissing,
                "Say whether the shipper's temperature log is within range "
                "(temperature_log_ok: true or false); an excursion sends the bag to quarantine.",
            )

    def guard_release_lot(self, action: a.ProductRelease, now: datetime) -> None:
        if self.record.safety_rules >= EXPLICIT and action.lot is None:
            self.refuse(
                s.AnswerMissing,
                "The release needs the product's lot number (lot), as on the certificate.",
            )

    def guard_quarantine_assessed(self, action: a.ProductReceipt, now: datetime) -> None:
        if self.record.safety_rules >= EXPLICIT and not (action.reason or "").strip():
            finding = self.record.product.quarantine_finding or "the quarantine finding"
            self.refuse(
                s.AnswerMissing,
                f"Say on which assessment the bag is released ({finding}): the reason is "
                "required, or discard the bag (discard_quarantined_product).",
            )

    def beyond_usual_window(self, action: a.Thaw, since: timedelta) -> bool:
        """Whether thawing ``since`` after lymphodepletion, past the usual maximum, may
        proceed: refuses (repeat lymphodepletion, or give a justification) otherwise."""
        if self.record.safety_rules < EXPLICIT:
            return False
        w = self.protocol.windows
        ago = self.days(since)
        if since > w.infusion_after_lymphodepletion_outer or w.after_usual_window == "repeat":
            limit = max(
                w.infusion_after_lymphodepletion_outer, w.infusion_after_lymphodepletion_max
            )
            self.refuse(
                e.OutsideWindow,
                f"Lymphodepletion ended {ago} ago, beyond the {self.days(limit)} this protocol "
                "allows: the binôme repeats lymphodepletion (repeat_lymphodepletion).",
            )
        if not (action.late_justification or "").strip():
            self.refuse(
                e.OutsideWindow,
                f"Lymphodepletion ended {ago} ago, past the usual "
                f"{self.days(w.infusion_after_lymphodepletion_max)}: the binôme may proceed up "
                f"to {self.days(w.infusion_after_lymphodepletion_outer)} with a recorded "
                "justification (late_justification), or repeat lymphodepletion "
                "(repeat_lymphodepletion).",
            )
        return True
