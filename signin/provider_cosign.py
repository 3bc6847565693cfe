"""The second person of a two-person action co-signs with a fresh login at the hospital's
provider, where staff sign in there and have no cellpath password.

The web app sends the browser to the provider with ``prompt=login`` (``web.routes.cosign``);
``cellpath act --cosigner`` runs the device flow for them (``cli.login``). Either way the
provider's fresh ID token is the second person's proof: it is verified (signature, issuer,
audience, and a login moments ago, not an open session), its groups are mapped to roles
with the deployment's mapping, and the person is refused — before anything is sent — when
they are not the one the signer named, are the signer, are not a person the action names,
or hold no role the second person must hold (``models.cosignature.refuse_second_person``,
the workflow's own check). Then the sign-in service issues their co-signature.

Usage::

    second = ProviderCosigner(service, hospital, fresh_id_token, signer="dr.martin",
                              details=data, expected="dr.roux")
    second.verified("approve_at_mdtm")              # (identity, authenticated_at) or refused
    await pathways.act(client, pid, event, data, signer=..., cosigner=second)

Nothing of the second person is kept: no session is opened for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from models.actions import person_key
from models.actor import StaffIdentity
from models.cosignature import CosignerNotNamed, refuse_second_person
from signin.service import AssertionService


class FreshLogins(Protocol):
    """The provider that says who logged in moments ago (``signin.hospital_login``)."""

    def fresh_login(self, credential: str, now: datetime) -> tuple[StaffIdentity, datetime]: ...


@dataclasses.dataclass(frozen=True)
class ProviderCosigner:
    """The second person, proved by a fresh provider login (``id_token``); a ``CoSigner``
    (client/signing.py) for the action ``details`` that ``signer`` sends."""

    service: AssertionService
    provider: FreshLogins
    id_token: str = dataclasses.field(repr=False)
    signer: str
    details: Mapping[str, object]
    #: the person the signer named (the form's staff ID, ``--cosigner``); None: anyone
    expected: str | None = None

    def verified(self, event: str) -> tuple[StaffIdentity, datetime]:
        """Who the login names and when they logged in; a ``Refusal`` with the rule when
        they may not co-sign ``event`` (nothing was sent)."""
        identity, when = self.provider.fresh_login(self.id_token, self.service.clock())
        if self.expected and person_key(identity.actor) != person_key(self.expected):
            raise CosignerNotNamed(
                f"The hospital login was for {identity.actor}, not {self.expected}: "
                f"{self.expected} must log in to co-sign; nothing was changed."
            )
        refuse_second_person(event, dict(self.details), self.signer, identity.actor,
                             identity.roles)  # fmt: skip
        return identity, when

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        identity, when = self.verified(event)
        return self.service.cosign(
            identity,
            authenticated_at=when,
            pathway_id=pathway_id,
            action=event,
            update_id=update_id,
        )
