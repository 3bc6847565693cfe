"""The staff action as its verified signer sends it: the typed actor and role must be the
signed-in person's, and what the audit keeps of the signature.

``verify_assertion`` (models/actor.py) proves who signed; this module ties that proof to the
payload. The payload still names an ``actor`` and a ``role`` (old clients, the audit trail's
shape), so a signed action whose typed actor is someone else, or whose role the person does
not hold, is refused rather than silently corrected: the two-person rules and the role matrix
then read names that the signature proved.

``signed_claims`` reads the claims of an assertion *without* checking its signature. It is
for an Update handler only: the validator verified the same token before the Update entered
history, and in a replay (validators do not run) the handler must reach the same result from
history alone, even after the key that signed it was retired (docs/security.md).

Usage::

    verified = verify_assertion(action.assertion, ring, ...)     # validator
    check_sender(action, verified)              # raises SignedForSomeoneElse, RoleNotHeld
    check_signer_named(action, verified)        # after the chart's own checks
    claims = signed_claims(action.assertion)                      # handler (replay-safe)
"""

from __future__ import annotations

import base64
import binascii
import json

from pydantic import ValidationError

from models.actions import StaffAction, person_key
from models.actor import AssertionClaims, AssertionRefused, VerifiedActor

_SIGN_IN_AS_YOURSELF = "sign in as yourself and send it again; nothing was changed"


class SignedForSomeoneElse(AssertionRefused):
    """The action names another person than the one who signed it."""


class RoleNotHeld(AssertionRefused):
    """The action is sent in a role the signed-in person does not hold."""


class SignerNotNamed(AssertionRefused):
    """A two-person action signed by someone who is not one of the people it names."""


def check_sender(action: StaffAction, verified: VerifiedActor) -> None:
    """Refuse ``action`` unless its typed actor and role are the signer's."""
    if person_key(action.actor) != person_key(verified.actor):
        raise SignedForSomeoneElse(
            f"This action names {action.actor}, but it was signed by {verified.actor}: "
            f"{_SIGN_IN_AS_YOURSELF}."
        )
    if action.role not in verified.roles:
        held = ", ".join(role.label for role in verified.roles)
        raise RoleNotHeld(
            f"{verified.actor} is signed in as {held}, not as {action.role.label}: choose one "
            "of your roles, or ask someone who holds it; nothing was changed."
        )


def check_signer_named(action: StaffAction, verified: VerifiedActor) -> None:
    """Refuse a two-person action (MDTM decision, bedside check) signed by someone who is
    not one of the people it names: the signature must be one of the two."""
    named = named_people(action)
    if named and person_key(verified.actor) not in {person_key(p) for p in named}:
        raise SignerNotNamed(
            f"{verified.actor} signed this action but is not one of the people it names "
            f"({', '.join(named)}): the person who signs must be one of them; nothing was "
            "changed."
        )


def named_people(action: StaffAction) -> list[str]:
    """The people a two-person action names (empty for other actions)."""
    mdtm = [getattr(action, f, None) for f in ("ard_specialist", "cell_therapy_specialist")]
    if all(isinstance(p, str) for p in mdtm):
        return [p for p in mdtm if isinstance(p, str)]
    checked = getattr(action, "checked_by", None)
    return list(checked) if isinstance(checked, list) else []


def signed_claims(token: str | None) -> AssertionClaims | None:
    """The claims of ``token``, read without checking its signature (handlers only: the
    validator verified it); ``None`` when there is no token or it cannot be read."""
    if not token:
        return None
    try:
        payload = token.strip().split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return AssertionClaims.model_validate(json.loads(raw))
    except (IndexError, ValueError, binascii.Error, UnicodeError, ValidationError):
        return None
