"""*Co-signing with the hospital login*: where staff sign in with the provider, the second
person of a two-person action (MDTM decision, bedside check) logs in there, in the same
browser, and the signer then signs and sends.

1. ``POST /pathways/{id}/cosign``: the signer's form (CSRF checked, details read and checked
   as for ``/act``) is held on the server (``web.held_actions``: bound to the signer's
   session, single use, minutes long; its ID in the signer's session cookie, nothing in a
   URL) and the browser goes on to the provider with ``prompt=login`` (``login_hint``: the
   person named on the form, else the one other person the action names) by a page that moves on by itself: a redirect answering a form
   would break the content security policy's ``form-action 'self'``.
2. The provider's callback (``web.routes.provider_signin``) checks state, PKCE and nonce and
   opens no session: the signer's cookie session stays theirs; the login is bound to the
   held action's ID, so it co-signs no other form.
3. ``GET /cosign/verified``: the second person's ID token is verified again — a login moments
   ago, mapped to roles by the group mapping — and refused, with the rule on the pathway's
   page and nothing changed, when it is not the person named, is the signer, or holds no
   role the second person must (``signin.provider_cosign``).
4. ``GET /cosign``: what will be sent and who verified it; the signer logs in again to sign
   (``/sign-in/reauthenticate``, as for any signature) and ``POST /cosign`` signs, co-signs
   (``AssertionService.cosign``) and sends it through the client layer, once.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from client import pathways
from client.diagrams import event_label
from models.actions import parse_action
from models.cosignature import (
    CosignatureRefused,
    cosignature_rule,
    named_others,
    refuse_second_person,
)
from models.refusals import Refusal
from models.roles import Role
from models.signatures import REAUTHENTICATION_WINDOW, is_signature, meanings_for
from signin.hospital_login import HospitalLogin
from signin.provider_cosign import ProviderCosigner
from web.context import WebContext, context_of
from web.csrf import require_csrf
from web.held_actions import HeldAction
from web.pages import notice, page
from web.pathway_view import check_centre
from web.routes.pathway import (
    malformed,
    read_action,
    refusal_status,
    show,
    typed,
    update_id_of,
)
from web.routes.provider_signin import COSIGNER, forget, kept, start_login
from web.staff_session import FRESH_LOGIN, StaffSession, current_staff

router = APIRouter()
log = structlog.get_logger("cellpath.web")
Staff = Annotated[StaffSession, Depends(current_staff)]

#: the session cookie's key for the held action's ID
HELD = "held_action"
_STALE = (
    "This co-signature was not started here, or it took too long: send the form again "
    "(nothing was changed)."
)


def _provider_staff(request: Request, staff: StaffSession) -> HospitalLogin:
    hospital = context_of(request).hospital
    if hospital is None or not staff.via_provider:
        raise HTTPException(404)  # local accounts co-sign with a password on the form
    return hospital


def _held(request: Request, staff: StaffSession) -> HeldAction | None:
    context = context_of(request)
    return context.held.get(
        request.session.get(HELD), staff.session.session_id, now=context.clock()
    )


def _stale(request: Request, staff: StaffSession) -> Response:
    request.session.pop(HELD, None)
    return page(request, "refused.html", staff, status_code=400, title="Co-signature",
                message=_STALE)  # fmt: skip


def _cosigner(
    context: WebContext, held: HeldAction, staff: StaffSession, token: str
) -> ProviderCosigner:
    assert context.hospital is not None
    return ProviderCosigner(
        context.signin,
        context.hospital,
        token,
        signer=staff.actor,
        details=held.data,
        expected=held.named or None,
    )


async def _refused(
    request: Request, staff: StaffSession, held: HeldAction, refusal: Refusal
) -> Response:
    """The held action is dropped (single use) and its form shown again with the rule."""
    context = context_of(request)
    context.held.take(request.session.pop(HELD, None), staff.session.session_id,
                      now=context.clock())  # fmt: skip
    log.info("co-signature refused", pathway_id=held.pathway_id, action=held.event,
             rule=refusal.rule)  # fmt: skip
    return await show(request, staff, held.pathway_id, refusal=refusal, posted=held.posted,
                      status_code=refusal_status(refusal))  # fmt: skip


@router.post("/pathways/{pathway_id}/cosign", dependencies=[Depends(require_csrf)])
async def send_for_cosigning(request: Request, pathway_id: str, staff: Staff) -> Response:
    hospital = _provider_staff(request, staff)
    context = context_of(request)
    form = await request.form()
    event = str(form.get("event") or "")
    named = str(form.get("cosigner_id") or "").strip()
    try:
        role, data = read_action(staff, event, form)
        if cosignature_rule(event) is None:
            raise CosignatureRefused(
                f"'{event}' is not a two-person action: send it without a second person; "
                "nothing was changed."
            )
        parse_action(event, data)  # refused now, not after the second person logged in
        check_centre(await pathways.record(context.client, pathway_id), staff.centres)
        if named:  # the signer, or someone the action does not name: refused before the trip
            refuse_second_person(event, data, staff.actor, named, tuple(Role))
    except ValidationError as err:
        refusal: Refusal = malformed(event, err)
    except Refusal as err:
        refusal = err
    else:
        held = HeldAction(
            session_id=staff.session.session_id,
            pathway_id=pathway_id,
            event=event,
            role=role.value,
            data=data,
            update_id=update_id_of(form.get("update_id")),
            meaning=str(form.get("meaning") or ""),
            named=named,
            posted=typed(form),
        )
        lasts = hospital.policy.provider_login_within.total_seconds()
        held_id = context.held.hold(held, now=context.clock(), lasts=lasts)
        request.session[HELD] = held_id
        log.info("held for co-signature", pathway_id=pathway_id, action=event)
        # Unnamed on the form, the one other person the action names is whom to ask for.
        others = named_others(event, data, staff.actor)
        hint = named or (others[0] if len(others) == 1 else None)
        return await start_login(request, reauthenticate=True, back=f"/pathways/{pathway_id}",
                                 cosign=held_id, login_hint=hint, from_form=True)  # fmt: skip
    return await show(request, staff, pathway_id, refusal=refusal, posted=typed(form),
                      status_code=refusal_status(refusal))  # fmt: skip


@router.get("/cosign/verified")
async def second_person_verified(request: Request, staff: Staff) -> Response:
    _provider_staff(request, staff)
    context = context_of(request)
    login = kept(request, COSIGNER) or {}
    held = _held(request, staff)
    if held is None or login.get("held") != request.session.get(HELD):
        # not this session's, expired, or a login for another form held since: send again
        return forget(_stale(request, staff), request)
    token = login.get("id_token")
    try:
        if not isinstance(token, str):
            raise CosignatureRefused(
                str(login.get("refused") or _STALE), rule=str(login.get("rule") or "StaleLogin")
            )
        second = _cosigner(context, held, staff, token)
        identity, when = await asyncio.to_thread(second.verified, held.event)
    except Refusal as err:
        return forget(await _refused(request, staff, held, err), request)
    until = (when + REAUTHENTICATION_WINDOW).timestamp()
    context.held.cosigned(str(request.session[HELD]), token, identity, when, until=until)
    log.info("second person verified", pathway_id=held.pathway_id, action=held.event)
    return forget(RedirectResponse("/cosign", status_code=303), request)


async def _confirm(
    request: Request, staff: StaffSession, held: HeldAction, *, refusal: Refusal | None = None
) -> Response:
    return page(
        request,
        "cosign.html",
        staff,
        status_code=refusal_status(refusal) if refusal else 200,
        held=held,
        label=event_label(held.event),
        signature=is_signature(held.event),
        meaning=held.meaning or (meanings_for(held.event) or ("",))[0],
        refusal=refusal,
    )


@router.get("/cosign")
async def confirm(request: Request, staff: Staff) -> Response:
    _provider_staff(request, staff)
    held = _held(request, staff)
    if held is None or held.cosigner is None:
        return _stale(request, staff)
    return await _confirm(request, staff, held)


@router.post("/cosign", dependencies=[Depends(require_csrf)])
async def sign_and_send(request: Request, staff: Staff) -> Response:
    _provider_staff(request, staff)
    context = context_of(request)
    held = _held(request, staff)
    if held is None or held.cosigner is None:
        return _stale(request, staff)
    signer = staff.signing(None, held.meaning)
    try:
        assertion = signer.assertion_for(
            pathway_id=held.pathway_id, event=held.event, update_id=held.update_id
        )
    except Refusal as err:  # the signer's own login is missing or old: log in again, retry
        request.session.pop(FRESH_LOGIN, None)
        return await _confirm(request, staff, held, refusal=err)
    request.session.pop(FRESH_LOGIN, None)  # a fresh provider login signs once
    if context.held.take(request.session.pop(HELD, None), staff.session.session_id,
                         now=context.clock()) is None:  # fmt: skip
        return _stale(request, staff)
    try:
        cosignature = _cosigner(context, held, staff, held.cosigner_token).cosignature_for(
            pathway_id=held.pathway_id, event=held.event, update_id=held.update_id
        )
        data = {**held.data, "assertion": assertion, "cosignature": cosignature}
        receipt = await pathways.act(
            context.client, held.pathway_id, held.event, data, update_id=held.update_id
        )
    except ValidationError as err:
        refusal: Refusal = malformed(held.event, err)
    except Refusal as err:
        refusal = err
    else:
        log.info("action sent", pathway_id=held.pathway_id, action=held.event,
                 actor=staff.actor, cosigned=True)  # fmt: skip
        again = " (already recorded: this click was a repeat)" if receipt.duplicate else ""
        notice(request, f"Recorded: {event_label(held.event)}, co-signed by "
                        f"{held.cosigner.actor}{again}.")  # fmt: skip
        return RedirectResponse(f"/pathways/{held.pathway_id}", status_code=303)
    log.info("action refused", pathway_id=held.pathway_id, action=held.event, rule=refusal.rule)
    return await show(request, staff, held.pathway_id, refusal=refusal, posted=held.posted,
                      status_code=refusal_status(refusal))  # fmt: skip


@router.post("/cosign/cancel", dependencies=[Depends(require_csrf)])
async def cancel(request: Request, staff: Staff) -> Response:
    _provider_staff(request, staff)
    context = context_of(request)
    held = context.held.take(request.session.pop(HELD, None), staff.session.session_id,
                             now=context.clock())  # fmt: skip
    if held is None:
        return RedirectResponse("/", status_code=303)
    notice(request, f"Not sent: {event_label(held.event)}. Nothing was changed.")
    return RedirectResponse(f"/pathways/{held.pathway_id}", status_code=303)
