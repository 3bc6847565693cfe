"""Signing in at the command line: ``cellpath login`` / ``logout``, and the signed identity
``cellpath act`` sends (one actor assertion per action, the password again for a signature).

Usage::

    cellpath login n.bernard            # asks the password; the session lasts 30 min
    cellpath login --provider           # the hospital login (device flow): open the URL shown,
                                        # enter the code; the default when CELLPATH_OIDC_* is set
    cellpath act PATHWAY start_lymphodepletion
    cellpath act PATHWAY infuse --data @infusion.json --cosigner dr.roux
    # asks your password again (a signature), then dr.roux's (the co-signature); signed in
    # with --provider: dr.roux logs in there (device flow), then you log in again there
    cellpath logout

Scripts and the demo sign in as service accounts (a local account with the one role it
needs) with the password in ``CELLPATH_PASSWORD`` instead of a prompt (the co-signer's in
``CELLPATH_COSIGNER_PASSWORD``). ``--by`` no longer says who acts: the signed-in person does
(docs/security.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from cli.app import State, console, err_console, fail, print_json, report
from client.signing import sign_action
from models.actor_keys import ActorKeyConfigError
from models.refusals import Refusal
from models.roles import Role
from models.settings import Settings
from models.signatures import is_signature, meanings_for
from signin.device_login import await_device_login, start_device_login
from signin.hospital_login import HospitalLogin
from signin.local import (
    cached_session,
    forget_session,
    hospital_login,
    local_sign_in,
    save_session,
)
from signin.provider_cosign import ProviderCosigner
from signin.service import VIA_DEVICE, AssertionService, Session

#: ``cellpath act --cosigner``: the second person of a two-person action
CosignerOption = Annotated[
    str | None,
    typer.Option(
        "--cosigner",
        metavar="STAFF-ID",
        help="The second person of a two-person action (MDTM decision, bedside check): "
        "their password is asked (or, signed in with --provider, they log in with the "
        "hospital login), and they co-sign it (verified).",
    ),
]

BY_REMOVED = (
    "--by no longer says who acts: sign in with `cellpath login YOUR-STAFF-ID`, then send "
    "the action; it is signed as you (choose among your roles with --role)"
)


def _password(settings: Settings, prompt: str) -> str:
    if settings.password is not None:
        return settings.password.get_secret_value()
    return str(typer.prompt(prompt, hide_input=True, err=True))


def login(
    user: Annotated[
        str | None,
        typer.Argument(metavar="STAFF-ID", help="Your staff ID (a local account)."),
    ] = None,
    provider: Annotated[
        bool,
        typer.Option(
            "--provider",
            help="Sign in with the hospital login (device flow); the default when "
            "CELLPATH_OIDC_ISSUER is set and no STAFF-ID is given.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sign in: the hospital login (device flow), or a local account (the password is
    asked, or CELLPATH_PASSWORD)."""
    State.as_json = as_json
    settings = Settings.from_env()
    try:
        service = local_sign_in(settings)
        hospital = hospital_login(settings)
        if provider or (user is None and hospital is not None):
            if hospital is None:
                raise fail(
                    "no hospital login is configured: set CELLPATH_OIDC_ISSUER, "
                    "CELLPATH_OIDC_CLIENT_ID and CELLPATH_OIDC_GROUPS (docs/security.md)",
                    kind="BadConfig",
                )
            grant = start_device_login(hospital)
            _show_grant(hospital, grant.verification_uri, grant.user_code,
                        grant.verification_uri_complete)  # fmt: skip
            identity, when, _ = await_device_login(hospital, grant)
            session = service.open_session(identity, authenticated_at=when, via=VIA_DEVICE)
        elif user is None:
            raise fail("give your staff ID: cellpath login YOUR-STAFF-ID")
        else:
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
    """Sign out: end the session in the sign-in service's list and forget it here."""
    settings = Settings.from_env()
    with contextlib.suppress(Refusal, ActorKeyConfigError, ValueError):
        service = local_sign_in(settings)
        service.sign_out(cached_session(settings, service).token)
    console.print("signed out." if forget_session(settings) else "you were not signed in.")


def _show_grant(login: HospitalLogin, uri: str, code: str, complete: str | None) -> None:
    # stderr: with --json, stdout carries exactly one JSON document
    err_console.print(
        f"To sign in, open {uri} and enter the code {code}"
        + (f"\n  (or open {complete})" if complete else "")
        + f"\nWaiting for {login.name}…",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _fresh_hospital_login(event: str) -> str:
    """A signature by someone signed in with the hospital login: log in there again (the
    device flow once more); its ID token is the credential."""
    hospital = hospital_login(Settings.from_env())
    if hospital is None:
        raise fail("no hospital login is configured to sign with", kind="BadConfig")
    err_console.print(f"'{event}' is an electronic signature: log in again.", markup=False)
    grant = start_device_login(hospital)
    _show_grant(hospital, grant.verification_uri, grant.user_code,
                grant.verification_uri_complete)  # fmt: skip
    return await_device_login(hospital, grant)[2]


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
            if is_signature(event) and self.session.via == VIA_DEVICE:
                credential = _fresh_hospital_login(event)
            elif is_signature(event):
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

    def signed(
        self,
        payload: dict[str, Any],
        pathway: str,
        event: str,
        update_id: str | None,
        cosigner: str | None,
    ) -> tuple[str, dict[str, Any]]:
        """The Update ID and ``payload`` signed by this person (the password again for a
        signature), and co-signed by ``cosigner`` (their password asked, or their login with
        the hospital login for a provider session) if given."""
        second = None
        if cosigner:
            second = SecondPerson(self.service, cosigner, signer=self.actor, details=payload)
            if self.session.via == VIA_DEVICE:
                # Their login first: a device login may take minutes, and the signer's
                # assertion, valid 2 min, is issued last, just before the action is sent.
                second = second.logged_in(event)
        key, signed = sign_action(
            payload, self, workflow_id=pathway, event=event, update_id=update_id, cosigner=second
        )
        assert key is not None  # made by sign_action: there is a signer
        return key, signed


@dataclass(frozen=True)
class SecondPerson:
    """The second person of a two-person action, at the same keyboard: their password is
    asked (or CELLPATH_COSIGNER_PASSWORD) and the sign-in service issues their co-signature;
    when the signer signed in with the hospital login, the second person logs in there
    (``logged_in``: the device flow) instead, and must be ``actor``."""

    service: AssertionService
    actor: str
    #: who sends the action, and its details: the second person is checked against them
    signer: str = ""
    details: dict[str, Any] = field(default_factory=dict, repr=False)
    #: their fresh login with the hospital login (``logged_in``), instead of a password
    login: ProviderCosigner | None = None

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        settings = Settings.from_env()
        try:
            if self.login is not None:
                return self.login.cosignature_for(
                    pathway_id=pathway_id, event=event, update_id=update_id
                )
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

    def logged_in(self, event: str) -> SecondPerson:
        """The same person, who logged in just now with the hospital login (the device
        flow) to co-sign ``event``; exits with the reason when the login is not theirs, or
        they may not co-sign it."""
        hospital = hospital_login(Settings.from_env())
        if hospital is None:
            raise fail("no hospital login is configured to co-sign with", kind="BadConfig")
        err_console.print(
            f"co-signature of '{event}' (verified): {self.actor} logs in with {hospital.name}.",
            markup=False,
        )
        try:
            grant = start_device_login(hospital)
            _show_grant(hospital, grant.verification_uri, grant.user_code,
                        grant.verification_uri_complete)  # fmt: skip
            _, _, id_token = await_device_login(hospital, grant)
            login = ProviderCosigner(self.service, hospital, id_token, signer=self.signer,
                                     details=self.details, expected=self.actor)  # fmt: skip
            login.verified(event)  # refused now, before the signer logs in again
        except Refusal as err:
            raise report(err) from None
        return dataclasses.replace(self, login=login)


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
