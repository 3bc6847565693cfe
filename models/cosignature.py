"""Co-signatures: the second person of a two-person action proves they took part with a
signature of their own.

A two-person action (the MDTM decision, signed by the binôme; the bedside chain-of-identity
check at infusion, ``checked_by``) names two people. The person who sends it signs it with
their actor assertion (models/actor.py); the *other* person signs a co-signature: a compact
JWS of type ``cellpath-cosign+jwt`` from the same sign-in service, bound to the same pathway,
action and Update ID, meaning ``"verified"``, issued after they re-entered their password (or
logged in to the provider again). The payload carries it in ``cosignature``.

``COSIGNED`` says which actions need one (``required``) and which accept one (thaw and
receipt: no protocol asks for a second person there yet, but a second person may sign as
"verified"), and ``cosigner_roles`` which roles the second person must hold: for an MDTM
decision the other half of the binôme (the specialty of the slot that names them), for a
bedside check someone who may infuse (a nurse or a cell-therapy specialist), for thaw and
receipt someone who may do that step.

``verify_cosignature`` is pure (the validator passes ``workflow.now()``) and raises a
``CosignatureRefused`` (an ``AssertionRefused``) whose message a nurse understands.

Usage::

    if cosignature_rule("infuse") is not None:
        second = verify_cosignature(action, event, signer, ring, now=workflow.now())
        second.actor, second.meaning     # "verified"
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from models.actions import StaffAction, person_key
from models.actor import (
    COSIGNATURE_TYPE,
    LEEWAY,
    AssertionClaims,
    AssertionRefused,
    VerifiedActor,
    verify_signed,
)
from models.actor_keys import ActorKeyRing
from models.refusals import Outcome
from models.roles import Role, roles_allowed

#: what a co-signature means: the second person verified what the first one did
COSIGN_MEANING = "verified"
#: the fields of a staff action that prove who signed it, never recorded as its details
SIGNATURE_FIELDS = frozenset({"assertion", "cosignature"})
_COSIGNATURE = "The second person's signature (co-signature)"
_NOTHING = "nothing was changed"


@dataclass(frozen=True)
class CosignRule:
    """Whether ``event`` must be co-signed, and by whom."""

    required: bool
    #: the payload fields that name the two people (empty: anyone else holding the role)
    named_in: tuple[str, ...] = ()


_MDTM = CosignRule(required=True, named_in=("ard_specialist", "cell_therapy_specialist"))
#: the binôme's slot a person is named in, and the role that slot needs
_SLOT_ROLES = {
    "ard_specialist": Role.ARD_SPECIALIST,
    "cell_therapy_specialist": Role.CELL_THERAPY_SPECIALIST,
}

COSIGNED: dict[str, CosignRule] = {
    # MDTM decision: the binôme, two different specialists (states/guards.py)
    "approve_at_mdtm": _MDTM,
    "reject_at_mdtm": _MDTM,
    "defer_at_mdtm": _MDTM,
    # the bedside chain-of-identity check before infusion (guard_two_person_check)
    "infuse": CosignRule(required=True, named_in=("checked_by",)),
    # no two-person rule in the protocols: a second person may co-sign
    "thaw_product": CosignRule(required=False),
    "receive_product": CosignRule(required=False),
}


class CosignatureRefused(AssertionRefused):
    """The second person's signature is missing or does not prove what it must."""


class CosignatureMissing(CosignatureRefused):
    outcome = Outcome.BAD_INPUT


class CosignedBySigner(CosignatureRefused):
    """The co-signature is the signer's own: one person cannot be both."""


class CosignerNotNamed(CosignatureRefused):
    """The co-signer is not the other person the action names."""


class CosignerRoleNotHeld(CosignatureRefused):
    """The co-signer does not hold a role the second person must hold."""


class SignerMeaningReserved(CosignatureRefused):
    """The person who sends a co-signed action signed it as "verified", the second
    person's meaning: nobody would have signed for the decision itself."""


def cosignature_rule(event: str) -> CosignRule | None:
    """The co-signature rule of ``event``; ``None`` when it takes no co-signature."""
    return COSIGNED.get(event)


def _field(action: StaffAction | dict[str, object], name: str) -> object:
    return action.get(name) if isinstance(action, dict) else getattr(action, name, None)


def named_others(event: str, action: StaffAction | dict[str, object], signer: str) -> list[str]:
    """The people ``action`` names besides ``signer``: who may co-sign it (empty when the
    action names nobody, and anyone holding the role may)."""
    rule = cosignature_rule(event)
    if rule is None:
        return []
    people: list[str] = []
    for name in rule.named_in:
        value = _field(action, name)
        if isinstance(value, str):
            people.append(value)
        elif isinstance(value, list):
            people += [p for p in value if isinstance(p, str)]
    seen: set[str] = {person_key(signer)}
    others = []
    for person in people:
        if person_key(person) not in seen:
            seen.add(person_key(person))
            others.append(person)
    return others


def cosigner_roles(event: str, action: StaffAction | dict[str, object], cosigner: str) -> set[Role]:
    """The roles of which ``cosigner`` must hold one to co-sign ``action``: the binôme slot
    that names them, else any role that may send ``event``."""
    rule = cosignature_rule(event)
    if rule is None:
        return set()
    slots = set()
    for slot, role in _SLOT_ROLES.items():
        value = _field(action, slot) if slot in rule.named_in else None
        if isinstance(value, str) and person_key(value) == person_key(cosigner):
            slots.add(role)
    return slots or set(roles_allowed(event))


def cosigned_role(event: str, action: StaffAction, claims: AssertionClaims) -> Role | None:
    """The role in which ``claims``' person co-signed: the first they hold of those needed."""
    needed = cosigner_roles(event, action, claims.sub)
    return next((role for role in claims.roles if role in needed), None)


def verify_cosignature(
    action: StaffAction,
    event: str,
    signer: VerifiedActor,
    ring: ActorKeyRing,
    *,
    now: datetime,
) -> VerifiedActor | None:
    """The second person that ``action.cosignature`` proves, for the pathway, action and
    Update ID ``signer`` signed; ``None`` for an action that takes none and has none."""
    rule = cosignature_rule(event)
    token = action.cosignature
    if rule is None:
        if token:
            raise CosignatureRefused(
                f"'{event}' is not a two-person action and takes no co-signature: send it "
                f"without one; {_NOTHING}."
            )
        return None
    others = named_others(event, action, signer.actor)
    if not token or not token.strip():
        if not rule.required:
            return None
        who = " or ".join(others) if others else "the second person"
        raise CosignatureMissing(
            f"'{event}' is a two-person action: {who} must co-sign it with their own "
            f"password (the second person's staff ID and password on the form, or "
            f"--cosigner with cellpath act); {_NOTHING}."
        )
    if signer.meaning == COSIGN_MEANING:
        raise SignerMeaningReserved(
            f"{signer.actor} sends '{event}' and signs it as what it decides, not as "
            f"'{COSIGN_MEANING}': that is the second person's co-signature; sign it again; "
            f"{_NOTHING}."
        )
    second = verify_signed(
        token,
        ring,
        pathway_id=signer.pathway_id,
        action=event,
        update_id=signer.update_id,
        now=now,
        leeway=LEEWAY,
        typ=COSIGNATURE_TYPE,
        what=_COSIGNATURE,
        meanings=(COSIGN_MEANING,),
    )
    refuse_second_person(event, action, signer.actor, second.actor, second.roles)
    return second


def refuse_second_person(
    event: str,
    action: StaffAction | dict[str, object],
    signer: str,
    second: str,
    roles: Iterable[Role],
) -> None:
    """Refuse ``second`` (holding ``roles``) as the co-signer of ``action`` sent by
    ``signer``: the signer themself, someone the action does not name, or someone without a
    role the second person must hold. The workflow's check (``verify_cosignature``), and the
    web app's and CLI's before a co-signature is issued, so that the words are the same."""
    rule = cosignature_rule(event)
    if rule is None:
        return
    others = named_others(event, action, signer)
    if person_key(second) == person_key(signer):
        raise CosignedBySigner(
            f"{signer} signed this action and co-signed it too: the second person must "
            f"be someone else, with their own password or hospital login; {_NOTHING}."
        )
    if rule.named_in and person_key(second) not in {person_key(p) for p in others}:
        named = ", ".join(others) or "nobody else"
        raise CosignerNotNamed(
            f"{second} co-signed this action but is not the other person it names "
            f"({named}): the person named must co-sign it; {_NOTHING}."
        )
    needed = cosigner_roles(event, action, second)
    if not needed & set(roles):
        labels = " or ".join(sorted(role.label for role in needed))
        raise CosignerRoleNotHeld(
            f"{second} co-signed this action but is not a {labels}: the second person "
            f"must be; {_NOTHING}."
        )
