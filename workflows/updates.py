"""Reading the payload of a dynamic Update (one handler, many named staff actions).

Both the pathway and the centre workflows take their staff actions as Updates named after
the action, with one pydantic payload. ``decode`` turns the raw payload into that model or
raises the ``ApplicationError`` a validator must raise, so nothing malformed reaches history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.validation import readable

T = TypeVar("T")


def current_update_id() -> str | None:
    """The ID of the Update being validated or handled: the idempotency key of a click."""
    update = workflow.current_update_info()
    return update.id if update else None


def decode(
    event: str,
    args: Sequence[RawValue],
    parse: Callable[[str, Any], T],
    *,
    what: str,
    malformed: str,
) -> T:
    """``parse(event, dict)`` on the single payload; ``what`` names it for people
    ("details", "evidence") and ``malformed`` is the error type."""
    if len(args) != 1:
        raise ApplicationError(f"'{event}' takes exactly one payload of {what}.", type=malformed)
    try:
        raw = workflow.payload_converter().from_payload(args[0].payload, dict)
        return parse(event, raw)
    except ValidationError as err:
        raise ApplicationError(
            f"The {what} of '{event}' are not valid: {readable(err)}.", type=malformed
        ) from None
    except Exception as err:  # an undecodable payload
        raise ApplicationError(
            f"The {what} of '{event}' could not be read: {err}", type=malformed
        ) from None
