"""*Pathway*: one pathway's page, its chart as a picture, and sending an action from it.
A closed pathway whose workflow has expired is read from the record store, and its page
says so and offers no action (web/pathway_view.py).

An action is sent through the one client layer (``client.pathways.act``) with the signed-in
person as its signer; a refusal shows the rule's message on the page (status 409, or 422 for
details that do not parse), and nothing changed. An electronic signature re-asks the
password (Part 11 §11.200). A repeated click on the same form carries the same Update ID and
is applied once. Where staff sign in with the hospital's provider, a two-person action's
form goes to ``web.routes.cosign`` instead: the second person logs in there.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from client import pathways
from client.diagrams import DiagramToolMissing, event_label, render
from client.pathways import iso
from client.records import read_record
from models.action_fields import fill_now
from models.actions import EVENT_PAYLOADS
from models.refusals import Outcome, Refusal
from models.roles import Role, roles_allowed
from models.signatures import is_signature
from models.validation import readable
from states.registry import chart_class
from web.context import context_of
from web.csrf import require_csrf
from web.forms import FormRefused, read_form
from web.pages import notice, page
from web.pathway_view import check_centre, pathway_view
from web.staff_session import FRESH_LOGIN, SecondPerson, StaffSession, current_staff

router = APIRouter()
log = structlog.get_logger("cellpath.web")
Staff = Annotated[StaffSession, Depends(current_staff)]


async def show(
    request: Request,
    staff: StaffSession,
    pathway_id: str,
    *,
    refusal: Refusal | None = None,
    posted: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = context_of(request)
    try:
        view = await pathway_view(
            context.client, context.records, pathway_id, staff.roles, staff.centres
        )
    except Refusal as err:
        status = {Outcome.NOT_FOUND: 404, Outcome.REFUSED: 403}.get(err.outcome, 503)
        return page(request, "refused.html", staff, status_code=status, title="Pathway",
                    message=err.message)  # fmt: skip
    return page(
        request,
        "pathway.html",
        staff,
        status_code=status_code,
        pathway_id=pathway_id,
        view=view,
        refusal=refusal,
        posted=posted or {},
        chart=shutil.which("dot") is not None,
    )


@router.get("/pathways/{pathway_id}")
async def pathway_page(request: Request, pathway_id: str, staff: Staff) -> Response:
    return await show(request, staff, pathway_id)


@router.get("/pathways/{pathway_id}/chart.svg")
async def chart_picture(request: Request, pathway_id: str, staff: Staff) -> Response:
    context = context_of(request)
    try:
        record, _ = await read_record(context.client, pathway_id, reader=context.records)
        check_centre(record, staff.centres)
        svg = render(chart_class(record.therapy.value), "svg", active=list(record.configuration))
    except (Refusal, DiagramToolMissing):
        return Response(status_code=404)
    return Response(svg, media_type="image/svg+xml")


class _Refused(Refusal):
    outcome = Outcome.BAD_INPUT


#: what a refused form shows again is what was typed, never a password
PASSWORD_FIELDS = frozenset({"signature_password", "cosigner_password"})


def _role_for(staff: StaffSession, event: str, sent: Any) -> Role:
    if event not in EVENT_PAYLOADS:
        raise _Refused(f"'{event}' is not an action of a pathway.", rule="UnknownAction")
    roles = [r for r in staff.roles if r in roles_allowed(event)]
    for role in roles:
        if role.value == sent:
            return role
    if roles:
        return roles[0]
    who = " or ".join(r.value for r in staff.roles)
    raise _Refused(f"A {who} may not send '{event}'.", rule="RoleNotAllowed")


def _details(event: str, form: Any) -> dict[str, Any]:
    model = EVENT_PAYLOADS[event]
    try:
        details = read_form(model, form)
    except FormRefused as err:
        raise _Refused(str(err), rule="MalformedAction") from None
    return fill_now(model, details, iso(datetime.now(UTC)) or "")


def update_id_of(sent: Any) -> str:
    """The form's Update ID (a repeated click is the same action), or a new one."""
    try:
        return str(uuid.UUID(str(sent)))
    except ValueError:
        return str(uuid.uuid4())


def read_action(staff: StaffSession, event: str, form: Any) -> tuple[Role, dict[str, Any]]:
    """The role ``staff`` sends ``event`` in, and its details from the posted ``form`` with
    the signer as actor; a ``Refusal`` for an unknown action, a role not held, or details
    that cannot be read."""
    role = _role_for(staff, event, form.get("role"))
    return role, {**_details(event, form), "actor": staff.actor, "role": role.value}


def malformed(event: str, err: ValidationError) -> Refusal:
    return _Refused(
        f"The details of '{event}' are not valid: {readable(err)}.", rule="MalformedAction"
    )


def typed(form: Any) -> dict[str, str]:
    """What was typed on ``form``, passwords left out: the refused form keeps it."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k not in PASSWORD_FIELDS}


def refusal_status(refusal: Refusal) -> int:
    return 422 if refusal.outcome is Outcome.BAD_INPUT else 409


@router.post("/pathways/{pathway_id}/act", dependencies=[Depends(require_csrf)])
async def act(request: Request, pathway_id: str, staff: Staff) -> Response:
    form = await request.form()
    event = str(form.get("event") or "")
    try:
        _, data = read_action(staff, event, form)
        check_centre(await pathways.record(context_of(request).client, pathway_id), staff.centres)
        signer = staff.signing(
            str(form.get("signature_password") or ""), str(form.get("meaning") or "")
        )
        if is_signature(event):
            request.session.pop(FRESH_LOGIN, None)  # a fresh provider login signs once
        second = str(form.get("cosigner_id") or "").strip()
        cosigner = (
            SecondPerson(
                staff.service,
                second,
                str(form.get("cosigner_password") or ""),
                address=request.client.host if request.client else None,
            )
            if second
            else None
        )
        receipt = await pathways.act(
            context_of(request).client,
            pathway_id,
            event,
            data,
            update_id=update_id_of(form.get("update_id")),
            signer=signer,
            cosigner=cosigner,
        )
    except ValidationError as err:
        refusal: Refusal = malformed(event, err)
    except Refusal as err:
        refusal = err
    else:
        log.info("action sent", pathway_id=pathway_id, action=event, actor=staff.actor)
        again = " (already recorded: this click was a repeat)" if receipt.duplicate else ""
        notice(request, f"Recorded: {event_label(event)}{again}.")
        return RedirectResponse(f"/pathways/{pathway_id}", status_code=303)
    # The event is typed by the browser: logged only when it names an action (no free text).
    shown = event if event in EVENT_PAYLOADS else "unknown"
    log.info("action refused", pathway_id=pathway_id, action=shown, rule=refusal.rule)
    # The refused form keeps what was typed (never the password): correct it, send again.
    return await show(request, staff, pathway_id, refusal=refusal, posted=typed(form),
                      status_code=refusal_status(refusal))  # fmt: skip
