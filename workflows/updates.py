"""Reading the payload of a dynamic Update (one handler, many named staff actions).

Both the pathway and the centre workflows take their staff actions as Updates named after
the action, with one pydantic payload. ``decode`` turns the raw payload into that model or
raises the ``ApplicationError`` a validator must raise, so nothing malformed reaches history;
``rejection`` is how any ``Refusal`` travels to the caller (its ``rule`` as the type).

``decode_frozen`` is ``decode`` remembered by the payload's bytes, for payload models that
cannot change (frozen): a validator and then its handler decode the same bytes, and the
second reading is a lookup. Validators write no workflow state for it (they must not
mutate); the memo is a pure function's cache, the same for every workflow and on replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.refusals import Refusal
    from models.validation import readable

T = TypeVar("T")

# Payloads remembered: a handler runs in the activation of its validator, so a few suffice.
DECODED_PAYLOADS = 256


def current_update_id() -> str | None:
    """The ID of the Update being validated or handled: the idempotency key of a click."""
    update = workflow.current_update_info()
    return update.id if update else None


def rejection(refusal: Refusal, *, non_retryable: bool = False) -> ApplicationError:
    """The ``ApplicationError`` that carries ``refusal`` to the caller: its message, its
    ``rule`` as the type, and as details the event and state a pathway's refusal concerned."""
    event = getattr(refusal, "event", None)
    details = [{"event": event, "state": getattr(refusal, "state", None)}] if event else []
    return ApplicationError(
        refusal.message, *details, type=refusal.rule, non_retryable=non_retryable
    )


def decode(
    event: str,
    args: Sequence[RawValue],
    parse: Callable[[str, Any], T],
    *,
    what: str,
    malformed: Callable[[str], Refusal],
) -> T:
    """``parse(event, dict)`` on the single payload; ``what`` names it for people
    ("details", "evidence") and ``malformed`` makes the refusal of one that is not valid."""
    if len(args) != 1:
        raise rejection(malformed(f"'{event}' takes exactly one payload of {what}."))
    try:
        raw = workflow.payload_converter().from_payload(args[0].payload, dict)
        return parse(event, raw)
    except ValidationError as err:
        raise rejection(
            malformed(f"The {what} of '{event}' are not valid: {readable(err)}.")
        ) from None
    except Exception as err:  # an undecodable payload
        raise rejection(malformed(f"The {what} of '{event}' could not be read: {err}")) from None


def decode_frozen(
    event: str,
    args: Sequence[RawValue],
    parse: Callable[[str, Any], T],
    *,
    what: str,
    malformed: Callable[[str], Refusal],
) -> T:
    """``decode``, remembered by the payload's bytes: ``parse`` must return frozen models
    (the same object is handed to every caller of the same bytes)."""
    if len(args) != 1:
        return decode(event, args, parse, what=what, malformed=malformed)
    data = args[0].payload.SerializeToString(deterministic=True)
    return _decoded(event, data, parse, what, malformed)


@lru_cache(maxsize=DECODED_PAYLOADS)
def _decoded(
    event: str,
    data: bytes,
    parse: Callable[[str, Any], T],
    what: str,
    malformed: Callable[[str], Refusal],
) -> T:
    # A refusal is raised, not remembered: a malformed payload is read again when resent.
    return decode(
        event, [RawValue(Payload.FromString(data))], parse, what=what, malformed=malformed
    )
