"""Signing actions for a signed-in session: the ``ActionSigner`` of a person at a keyboard
(``cellpath act``) or of a service account (the demo, scripts).

A ``SessionSigner`` holds a session token from the sign-in service and asks it for one actor
assertion per action. For an electronic signature (models/signatures.py) it needs the
person's password again: an interactive caller passes ``reauthenticate`` (asks for it); a
service account keeps its own password in memory and signs in again when its session ends.

Usage::

    signer = service_account(service, "n.bernard", password)    # a service account
    await pathways.act(client, pathway_id, "infuse", data, signer=signer)
    # dr.roux's account co-signs the bedside check she took part in (models/cosignature.py)
    await pathways.act(client, pathway_id, "infuse", data, signer=nurse, cosigner=roux)

A service account is a local account like any other, with the one role it needs: it can do
no more than a person holding that role (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from models.actor import ReauthenticationRequired
from models.signatures import is_signature
from signin.service import AssertionService, Session

#: a session this close to its end is renewed before an assertion is asked for
RENEW_BEFORE = timedelta(minutes=2)


class SessionSigner:
    """Asks ``service`` for one assertion per action under ``session``."""

    def __init__(
        self,
        service: AssertionService,
        session: Session,
        *,
        reauthenticate: Callable[[str], str] | None = None,
        renew: Callable[[], Session] | None = None,
    ) -> None:
        self.service = service
        self.session = session
        #: the credential for an electronic signature, asked for the action named
        self.reauthenticate = reauthenticate
        self.renew = renew

    @property
    def actor(self) -> str:
        return self.session.identity.actor

    def assertion_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        if self.renew is not None and self.service.clock() >= (
            self.session.expires_at - RENEW_BEFORE
        ):
            self.session = self.renew()
        credential = None
        if is_signature(event) and self.reauthenticate is not None:
            credential = self.reauthenticate(event)
        return self.service.assert_action(
            self.session.token,
            pathway_id=pathway_id,
            action=event,
            update_id=update_id,
            credential=credential,
        )

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        """This person's co-signature ("verified") of a two-person action another sends:
        their password again (or the provider's login), like any signature."""
        if self.reauthenticate is None:
            raise ReauthenticationRequired(
                f"{self.actor} must enter their password again to co-sign '{event}'."
            )
        if self.renew is not None and self.service.clock() >= (
            self.session.expires_at - RENEW_BEFORE
        ):
            self.session = self.renew()
        return self.service.cosign_session(
            self.session.token,
            self.reauthenticate(event),
            pathway_id=pathway_id,
            action=event,
            update_id=update_id,
        )


def service_account(service: AssertionService, actor: str, password: str) -> SessionSigner:
    """A signer for the local account ``actor``, which signs in (and again, when its session
    ends) with ``password`` and gives it again for each electronic signature."""
    return SessionSigner(
        service,
        service.sign_in(actor, password),
        reauthenticate=lambda _event: password,
        renew=lambda: service.sign_in(actor, password),
    )
