"""*Refer a patient*: the referral form (from the ``Referral`` model), sent through the
client layer, which checks the protocol and the centre's readiness first."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from client import pathways
from models.referral import Referral
from models.refusals import Outcome, Refusal
from models.validation import readable
from web.context import context_of
from web.csrf import require_csrf
from web.forms import FormField, FormRefused, form_fields, read_form
from web.pages import notice, page
from web.staff_session import StaffSession, current_staff

router = APIRouter()
log = structlog.get_logger("cellpath.web")
Staff = Annotated[StaffSession, Depends(current_staff)]


def referral_fields(staff: StaffSession) -> list[FormField]:
    """The referral form: the centre among the person's own, the referrer is them."""
    out = []
    for f in form_fields(Referral):
        if f.name == "referred_by":
            continue
        if f.name == "centre":
            f = dataclasses.replace(f, kind="choice", choices=tuple((c, c) for c in staff.centres))
        out.append(f)
    return out


@router.get("/refer")
async def referral_page(request: Request, staff: Staff) -> Response:
    return page(request, "refer.html", staff, fields=referral_fields(staff), values={})


@router.post("/refer", dependencies=[Depends(require_csrf)])
async def refer(request: Request, staff: Staff) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        details = read_form(Referral, form)
        if details.get("centre") not in staff.centres:
            raise ValueError("choose one of your centres")
        referral = Referral.model_validate({**details, "referred_by": staff.actor})
        handle = await pathways.refer(
            context_of(request).client, referral, task_queue=context_of(request).task_queue
        )
    except ValidationError as err:
        error, rule, status = (
            f"The referral is not valid: {readable(err)}.",
            "MalformedReferral",
            422,
        )
    except (FormRefused, ValueError) as err:
        error, rule, status = f"The referral is not valid: {err}.", "MalformedReferral", 422
    except Refusal as err:
        error, rule = err.message, err.rule
        status = 422 if err.outcome is Outcome.BAD_INPUT else 409
    else:
        log.info("referred", pathway_id=handle.id, actor=staff.actor)
        notice(request, f"Referred: {handle.id} is started.")
        return RedirectResponse(f"/pathways/{handle.id}", status_code=303)
    log.info("referral refused", rule=rule)
    return page(request, "refer.html", staff, fields=referral_fields(staff), values=values,
                error=error, rule=rule, status_code=status)  # fmt: skip
