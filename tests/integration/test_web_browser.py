"""The staff web app in a real headless Chromium, against the real Temporal dev server, a
worker and the app itself: a nurse signs in, sees *My work*, records an action, sees the
rule's refusal for an out-of-order one (nothing changed), and signs out; a page without a
session sends the browser to sign-in, and a form posted without its CSRF token is refused.

``CELLPATH_WEB_SCREENSHOTS=docs/web`` also writes the screenshots of the README's
walk-through.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import ATTENDEES, CONSENTED, FIT
from devtools.demo_answers import SIGNED as DEMO_SIGNED
from devtools.demo_eligibility import no_exclusions
from models.protocol import Protocol
from tests.support.browser import NO_CHROMIUM, chromium, chromium_path, sign_in, web_app
from tests.support.pathway_driver import APH, ARD, CTS, PHARMA, TECH, Driver, ago, referral
from tests.support.waiting import at_rest, eventually
from web.work_items import centre_query

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM),
]

SHOTS = os.environ.get("CELLPATH_WEB_SCREENSHOTS")


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def cleared_for_treatment(
    client: Client, task_queue: str, protocol: Protocol, pseudonym: str
) -> str:
    """A CAR-T pathway walked to 'cleared for treatment': the nurse's turn."""
    handle = await operations.refer(
        client, referral(pseudonym), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    coi = f"COI-{pseudonym}"
    await go.prepare()  # the protocol's preparation tasks, so that no step waits on one
    await go("record_work_up", ARD, completed_at=ago(protocol, 10), lvef_percent=60, egfr=90)
    await go("approve_at_mdtm", ARD, **DEMO_SIGNED)
    await go("record_consent", ARD, **CONSENTED)
    await go("record_washout", CTS, stopped=[], treatments=["none"])
    await go("book_apheresis", CTS, slot_at="2026-01-01T09:00:00+00:00")
    await go("record_apheresis", APH, coi_id=coi)
    await go("ship_to_manufacturer", TECH)
    await go("release_product", PHARMA, lot="LOT-2026-0042")
    await go("ship_to_centre", PHARMA)
    await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
    await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
    return handle.id


async def listed(client: Client, pathway_id: str, state: str) -> None:
    """Until Temporal's visibility lists the pathway in ``state`` (what My work reads)."""

    async def there() -> bool:
        rows = await operations.list_pathways(client, centre_query(["centre-a"]))
        return any(r["pathway_id"] == pathway_id and r["state"] == state for r in rows)

    await eventually(there, timeout=30, what=f"{pathway_id} listed at {state}")


async def test_a_nurse_signs_in_acts_is_refused_out_of_order_and_signs_out(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, tmp_path: Path
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with (
        running_worker(),
        web_app(client, task_queue, tmp_path) as app,
        chromium() as browser,
    ):
        pid = await cleared_for_treatment(client, task_queue, protocol, "WEB-101")
        await listed(client, pid, "cleared")
        context = await browser.new_context()
        page = await context.new_page()

        await sign_in(page, app, "n.bernard")
        await expect(page.locator("h1")).to_have_text("My work")
        mine = page.locator(f"a[href='/pathways/{pid}']")
        await expect(mine.first).to_be_visible()
        await shot(page, "my-work")

        await mine.first.click()
        await expect(page.locator("h1")).to_have_text(pid)
        # A colleague's screen, opened at the same moment: its form is about to go stale.
        stale = await context.new_page()
        await stale.goto(page.url)
        await shot(page, "pathway")

        form = page.locator("form:has(input[name=event][value=start_lymphodepletion])")
        await form.locator("button[type=submit]").click()
        await expect(page.locator(".notice")).to_contain_text("Recorded: Start lymphodepletion")
        shown = await operations.record(client, pid)
        assert [e.event for e in shown.audit][-1] == "start_lymphodepletion"
        assert shown.audit[-1].actor == "n.bernard" and shown.audit[-1].role.value == "nurse"
        length = await at_rest(client, pid)

        # The stale form sends start_lymphodepletion again: out of order now.
        with pytest.raises(operations.ActionRefused) as direct:
            await operations.act(client, pid, "start_lymphodepletion",
                                 {"actor": "n.bernard", "role": "nurse"})  # fmt: skip
        await stale.locator(
            "form:has(input[name=event][value=start_lymphodepletion]) button[type=submit]"
        ).click()
        refusal = stale.locator(".refusal")
        await expect(refusal).to_contain_text(direct.value.message)
        await expect(refusal).to_contain_text("Nothing was changed")
        await shot(stale, "refusal")
        assert await at_rest(client, pid) == length
        assert len((await operations.record(client, pid)).audit) == len(shown.audit)

        await page.locator("form[action='/sign-out'] button").click()
        await expect(page.locator("h1")).to_have_text("Sign in")
        await shot(page, "sign-in")
        await page.goto(f"{app.url}/")
        assert page.url.endswith("/sign-in")
        await context.close()


async def test_no_session_redirects_to_sign_in_and_a_form_without_csrf_is_refused(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, tmp_path: Path
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with (
        running_worker(),
        web_app(client, task_queue, tmp_path) as app,
        chromium() as browser,
    ):
        handle = await operations.refer(
            client, referral("WEB-102"), task_queue=task_queue, protocol=protocol
        )
        await listed(client, handle.id, "referred")
        context = await browser.new_context()
        page = await context.new_page()
        for path in ("/", f"/pathways/{handle.id}", "/refer", "/centres", "/incidents"):
            response = await page.goto(f"{app.url}{path}")
            assert response is not None
            assert page.url == f"{app.url}/sign-in", path
            csp = (await response.all_headers())["content-security-policy"]
            assert "script-src 'none'" in csp

        await sign_in(page, app, "dr.martin")
        await expect(page.locator("h1")).to_have_text("My work")
        # The new referral's work-up is due, and it waits on an ARD specialist: on her list.
        due = page.locator(f"table.due tr:has(a[href='/pathways/{handle.id}'])")
        await expect(due).to_contain_text("Work-up due")
        await expect(due).to_contain_text("in ")
        cookie = next(c for c in await context.cookies() if c["name"] == "cellpath_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        for path, heading in (("/centres", "Centres"), ("/incidents", "Incidents"),
                              ("/refer", "Refer a patient")):  # fmt: skip
            response = await page.goto(f"{app.url}{path}")
            assert response is not None and response.status == 200, path
            await expect(page.locator("h1")).to_have_text(heading)
            await shot(page, path.strip("/"))
        await expect(page.locator("select[name=centre] option[value=centre-a]")).to_have_count(1)

        # Refer a patient from the form; the same referral again is refused on the page.
        for attempt in ("first", "again"):
            await page.goto(f"{app.url}/refer")
            await page.fill("input[name=pseudonym]", "WEB-103")
            await page.select_option("select[name=centre]", "centre-a")
            await page.select_option("select[name=therapy]", "car-t")
            await page.fill("input[name=disease]", "systemic lupus erythematosus")
            await page.fill("input[name=icd10]", "M32.1")
            await page.fill("input[name='binome.ard_specialist']", "dr.martin")
            await page.fill("input[name='binome.cell_therapy_specialist']", "dr.roux")
            await page.locator("form[action='/refer'] button[type=submit]").click()
            if attempt == "first":
                await expect(page.locator("h1")).to_have_text("pathway-centre-a-WEB-103")
                await expect(page.locator(".notice")).to_contain_text("Referred")
        await expect(page.locator(".refusal")).to_contain_text("already has an open pathway")
        referred = await operations.record(client, "pathway-centre-a-WEB-103")
        assert referred.binome.ard_specialist == "dr.martin"
        await page.goto(f"{app.url}/pathways/{handle.id}")
        length = await at_rest(client, handle.id)

        details = {"event": "record_work_up", "role": "ard_specialist", "completed_at": "now"}
        for token in ({}, {"csrf_token": "forged"}):
            sent = await page.request.post(
                f"{app.url}/pathways/{handle.id}/act", form={**details, **token}
            )
            assert sent.status == 403, token
            assert (
                "security token" in await sent.text() and "Nothing was changed" in await sent.text()
            )
        assert await at_rest(client, handle.id) == length
        assert (await operations.record(client, handle.id)).audit == []

        # The same form from the page itself, with its token, is accepted (the exclusion
        # checklist answered, as the MDTM approval below needs).
        work_up = "form:has(input[name=event][value=record_work_up])"
        await page.fill(f"{work_up} [name=lvef_percent]", "60")
        await page.fill(f"{work_up} [name=egfr]", "90")
        await page.fill(f"{work_up} textarea[name=exclusions]", json.dumps(no_exclusions(protocol)))
        await page.locator(f"{work_up} button[type=submit]").click()
        await expect(page.locator(".notice")).to_contain_text("Recorded: Record work-up")

        # An electronic signature (Part 11 §11.200) re-asks the password: a wrong one is
        # refused on the page and changes nothing; the right one signs.
        length = await at_rest(client, handle.id)
        mdtm = "form:has(input[name=event][value=approve_at_mdtm])"
        await shot(page, "signature")
        for password in ("not-my-password", app.passwords["dr.martin"]):
            await page.fill(f"{mdtm} input[name=ard_specialist]", "dr.martin")
            await page.fill(f"{mdtm} input[name=cell_therapy_specialist]", "dr.roux")
            # The MDTM as a record (states/mdtm_record.py): meeting, attendees, rationale.
            await page.fill(f"{mdtm} [name=meeting_id]", "MDTM-WEB-01")
            await page.fill(f"{mdtm} [name=meeting_at]", "now")
            await page.fill(f"{mdtm} [name=attendees]", json.dumps(ATTENDEES))
            await page.fill(f"{mdtm} [name=rationale]", "refractory disease")
            await page.fill(f"{mdtm} input[name=signature_password]", password)
            # dr.roux, the other half of the binôme, co-signs on the same form
            await page.fill(f"{mdtm} input[name=cosigner_id]", "dr.roux")
            await page.fill(f"{mdtm} input[name=cosigner_password]", app.passwords["dr.roux"])
            await page.locator(f"{mdtm} button[type=submit]").click()
            if password == "not-my-password":
                await expect(page.locator(".refusal")).to_contain_text("Wrong staff ID or password")
                assert password not in await page.content()
                # The refused form keeps what was typed, never the password.
                kept = page.locator(f"{mdtm} input[name=cell_therapy_specialist]")
                await expect(kept).to_have_value("dr.roux")
                await expect(page.locator(f"{mdtm} input[name=signature_password]")).to_have_value(
                    ""
                )
                assert await at_rest(client, handle.id) == length
        await expect(page.locator(".notice")).to_contain_text("Recorded: Approve at MDTM")
        shown = await operations.record(client, handle.id)
        assert [e.event for e in shown.audit] == ["record_work_up", "approve_at_mdtm"]
        decision = shown.audit[-1]
        assert (decision.actor, decision.meaning) == ("dr.martin", "approved")
        assert (decision.cosigner, decision.cosigner_meaning) == ("dr.roux", "verified")
        await context.close()
