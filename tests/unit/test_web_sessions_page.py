"""The web app's *Sessions* page: the programme lead sees who is signed in and ends a
session, which signs that person out at once; anyone else is refused (403) and nothing
ends. Without a browser or Temporal (the page never reaches Temporal)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.unit.test_web_session import app, clock, sign_in, token_of  # noqa: F401 (fixtures)


def session_ids(html: str) -> list[str]:
    return re.findall(r'name="session_id" value="([^"]+)"', html)


def browser(first: TestClient) -> TestClient:
    """Another person's browser on the same app: its own cookies."""
    return TestClient(first.app, follow_redirects=False)


def test_the_programme_lead_ends_a_nurses_session_and_she_is_signed_out(app) -> None:  # noqa: F811
    lead, passwords = app
    nurse = browser(lead)
    sign_in(nurse, passwords, "n.bernard")
    assert nurse.get("/refer").status_code == 200
    sign_in(lead, passwords, "dr.lefevre")
    listed = lead.get("/sessions")
    assert listed.status_code == 200 and "n.bernard" in listed.text and "(yours)" in listed.text
    assert 'href="/sessions"' in listed.text  # in the lead's menu

    ended = lead.post(
        "/sessions/end", data={"actor": "n.bernard", "csrf_token": token_of(listed.text)}
    )
    assert (ended.status_code, ended.headers["location"]) == (303, "/sessions")
    after = lead.get("/sessions").text
    assert "Ended 1 session(s) of n.bernard." in after
    assert "n.bernard" not in after.split("<table", 1)[1]  # no longer listed
    # her next page asks her to sign in again; the lead is still signed in
    gone = nurse.get("/refer")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/sign-in")
    assert lead.get("/sessions").status_code == 200


def test_one_session_is_ended_by_its_id(app) -> None:  # noqa: F811
    lead, passwords = app
    nurse = browser(lead)
    sign_in(nurse, passwords, "n.bernard")
    sign_in(lead, passwords, "dr.lefevre")
    page = lead.get("/sessions").text
    nurse_id = next(s for s in session_ids(page) if f"{s}</td><td>n.bernard" in page)
    ended = lead.post("/sessions/end", data={"session_id": nurse_id, "csrf_token": token_of(page)})
    assert ended.status_code == 303
    assert f"Ended session {nurse_id}." in lead.get("/sessions").text
    assert nurse.get("/refer").status_code == 303
    again = lead.post("/sessions/end", data={"session_id": nurse_id, "csrf_token": token_of(page)})
    assert again.status_code == 303
    assert "was not open: nothing ended" in lead.get("/sessions").text


def test_anyone_but_the_programme_lead_is_refused_and_nothing_ends(app) -> None:  # noqa: F811
    nurse, passwords = app
    lead = browser(nurse)
    sign_in(lead, passwords, "dr.lefevre")
    sign_in(nurse, passwords, "n.bernard")
    seen = nurse.get("/sessions")
    assert seen.status_code == 403 and "programme lead" in seen.text
    assert "dr.lefevre" not in seen.text and 'href="/sessions"' not in seen.text
    tried = nurse.post(
        "/sessions/end", data={"actor": "dr.lefevre", "csrf_token": token_of(seen.text)}
    )
    assert tried.status_code == 403
    assert lead.get("/sessions").status_code == 200  # still signed in
    # and without the form's token, refused before anything is read
    assert lead.post("/sessions/end", data={"actor": "n.bernard"}).status_code == 403
    assert nurse.get("/refer").status_code == 200
