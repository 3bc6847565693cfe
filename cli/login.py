"""Signing in at the command line: ``cellpath login`` / ``logout``, and the signed identity
``cellpath act`` sends (one actor assertion per action, the password again for a signature).

Usage::

    cellpath login n.bernard            # asks the password; the session lasts 30 min
    cellpath act PATHWAY start_lymphodepletion
    cellpath act PATHWAY infuse --data @infusion.json --cosigner dr.roux
    # asks your password again (a signature), then dr.roux's (the co-signature)
    cellpath logout

Scripts and the demo sign in as service accounts (a local account with the one role it
needs) with the password in ``CELLPATH_PASSWORD`` instead of a prompt (the co-signer's in
``CELLPATH_COSIGNER_PASSWORD``). ``--by`` no longer
says who acts: the signed-in person does (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from cli.app import State, console, fail, print_json, report
from models.actor_keys import ActorKeyConfigError
from models.refusals import Refusal
from models.roles import Role
from models.settings import Settings
from models.signatures import is_signature, meanings_for
from signin.local import cached_session, forget_session, local_sign_in, save_session
from signin.service import AssertionService, Session

BY_REMOVED = (
    "--by no longer says who acts: sign in with `cellpath login YOUR-STAFF-ID`, then send "
    "the action; it is signed as you (choose among your roles with --role)"
)


def _password(settings: Settings, prompt: str) -> str:
    if settings.password is not None:
        return settings.password.get_secret_value()
    return str(typer.prompt(prompt, hide_input=True, err=True))


def login(
    user: Annotated[str, typer.Argument(metavar="STAFF-ID", help="Your staff ID.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sign in with a local account (the password is asked, or CELLPATH_PASSWORD)."""
    State.as_json = as_json
    settings = Settings.from_env()
    try:
        service = local_sign_in(settings)
        session = service.sign_in(user, _password(settings, f"password for {user}"))
    except Refusal as err:
        raise report(err) from None
    except (ActorKeyConfigError, ValueError) as err:
        raise fail(str(err), kind="BadConfig") from None
    path = save_session(settings, session)
    identity = session.identity
    if as_json:
        print_json(
            {
                "actor": identity.actor,
                "roles": [r.value for r in identity.roles],
                "centres": list(identity.centres),
                "expires_at": session.expires_at.isoformat(),
            }
        )
        return
    console.print(
        f"signed in as [bold]{identity.actor}[/] ({', '.join(r.label for r in identity.roles)})"
        f" until {session.expires_at:%H:%M} UTC; session in {path}",
        highlight=False,
    )


def logout() -> None:
    """Sign out (forget the cached session)."""
    settings = Settings.from_env()
    console.print("signed out." if forget_session(settings) else "you were not signed in.")


@dataclass(frozen=True)
class SignedIn:
    """The person at this keyboard: who, in which role, and the session that signs for them."""

    service: AssertionService
    session: Session
    actor: str
    role: Role

    def sign(self, pathway: str, event: str, update_id: str) -> str:
        """The actor assertion for one action (the password asked again for an electronic
        signature); exits with the reason when it cannot be had."""
        credential = None
        try:
            if is_signature(event):
                meaning = meanings_for(event)[0]
                credential = _password(
                    Settings.from_env(),
                    f"'{event}' is an electronic signature ({meaning}): your password",
                )
            return self.service.assert_action(
                self.session.token,
                pathway_id=pathway,
                action=event,
                update_id=update_id,
                credential=credential,
            )
        except Refusal as err:
            raise report(err) from None

    def assertion_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        """``sign``, as the signer client/signing.py takes."""
        return self.sign(pathway_id, event, update_id)


@dataclass(frozen=True)
class SecondPerson:
    """The second person of a two-person action, at the same keyboard: their password is
    asked (or CELLPATH_COSIGNER_PASSWORD) and the sign-in service issues their co-signature."""

    service: AssertionService
    actor: str

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        settings = Settings.from_env()
        try:
            if settings.cosigner_password is not None:
                password = settings.cosigner_password.get_secret_value()
            else:
                password = str(
                    typer.prompt(
                        f"co-signature of '{event}' (verified) by {self.actor}: "
                        f"{self.actor}'s password",
                        hide_input=True,
                        err=True,
                    )
                )
            return self.service.cosign_with_password(
                self.actor, password, pathway_id=pathway_id, action=event, update_id=update_id
            )
        except Refusal as err:
            raise report(err) from None


def signed_in(role: Role | None) -> SignedIn:
    """The signed-in person acting in ``role`` (their only role when not given); exits 2
    when nobody is signed in or the role must be chosen."""
    settings = Settings.from_env()
    try:
        service = local_sign_in(settings)
        session = cached_session(settings, service)
    except Refusal as err:
        raise report(err) from None
    except (ActorKeyConfigError, ValueError) as err:
        raise fail(str(err), kind="BadConfig") from None
    roles = session.identity.roles
    if role is None:
        if len(roles) > 1:
            raise fail(
                f"you hold several roles ({', '.join(r.value for r in roles)}): "
                "choose one with --role"
            )
        role = roles[0]
    return SignedIn(service, session, session.identity.actor, role)
