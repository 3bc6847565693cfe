"""The ``cellpath`` CLI end to end: every command and exit code, against the real dev server.

Pathways are walked by the CLI itself (``typer`` ``CliRunner`` in a thread, or a child
process) while the worker runs in the test's event loop; every ``--json`` document is checked
against the schemas of tests/support/cli_support.py, which must match docs/cli.md field for field.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from devtools.demo_answers import ATTENDEES, CONSENTED, FIT, ORGANS
from devtools.devserver import DevServer, free_port
from devtools.retention import retention
from models.encryption import EncryptionCodec
from models.roles import Role
from models.settings import Settings
from store.migrate import current_revision, head_revision
from tests.support.cli_support import (
    DOCS,
    EXAMPLE_REFERRAL,
    SCHEMAS,
    ActDoc,
    Cli,
    ClosedListDoc,
    ErrorDoc,
    HelpEventsDoc,
    ListDoc,
    ReferDoc,
    ShowDoc,
    cli_env,
    documented_fields,
    field_paths,
    process,
    start_process,
)
from tests.support.signing import ensure_account
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ARD = ("--by", "dr.martin", "--role", "ard_specialist")
CTS = ("--by", "dr.roux", "--role", "cell_therapy_specialist")
NURSE = ("--by", "n.bernard", "--role", "nurse")
APH = ("--by", "n.petit", "--role", "apheresis_nurse")
TECH = ("--by", "t.moreau", "--role", "ctu_technician")
PHARMA = ("--by", "p.laurent", "--role", "pharmacist")
SIGNED = {
    "ard_specialist": "dr.martin",
    "cell_therapy_specialist": "dr.roux",
    "meeting_id": "MDTM-CLI-01",
    "meeting_at": "now",
    "attendees": ATTENDEES,
    "rationale": "refractory disease",
}

# The demo centres (tests/conftest.py `demo_centres`): centre-a is ready for CAR-T and MSC,
# centre-b not for CAR-T. This module's patients are CLI-nnn, so no other test's.
CENTRE = "centre-a"


@pytest.fixture
def cli(
    dev_server: DevServer,
    client: Client,
    encryption_codec: EncryptionCodec,
    demo_centres: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> Cli:
    """The CLI on this test's queue, with the session's payload key; `client` waits until
    the server answers, `demo_centres` runs the centres that referrals are checked against."""
    keys = encryption_codec.ring.to_spec()
    return Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))


def referral_yaml(pseudonym: str, **changes: Any) -> str:
    """docs/examples/referral.yaml for another patient."""
    data = yaml.safe_load(EXAMPLE_REFERRAL.read_text(encoding="utf-8"))
    data.update({"pseudonym": pseudonym, "centre": CENTRE, **changes})
    return yaml.safe_dump(data)


async def refer(cli: Cli, pseudonym: str, *options: str, **changes: Any) -> str:
    out = await cli("refer", "-", "--json", *options, input=referral_yaml(pseudonym, **changes))
    assert out.code == 0, out
    return ReferDoc.model_validate(out.json()).pathway_id


async def act(cli: Cli, pathway: str, event: str, who: tuple[str, ...], **data: Any) -> ActDoc:
    args = ["act", pathway, event, *who, "--json"]
    if data:
        args += ["--data", json.dumps(data)]
    out = await cli(*args)
    assert out.code == 0, out
    receipt = ActDoc.model_validate(out.json())
    assert receipt.event == event and receipt.pathway_id == pathway
    return receipt


def refusal(out: Any, code: int, kind: str) -> ErrorDoc:
    """A failed ``--json`` call: exit code, one error document on stdout, message on stderr."""
    assert out.code == code, out
    doc = ErrorDoc.model_validate(out.json())
    assert doc.error.exit_code == code and doc.error.kind == kind, out
    assert doc.error.message.split()[0] in out.stderr
    assert "Traceback" not in out.stderr
    return doc


def ago(days: float, seconds_per_day: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=days * seconds_per_day)).isoformat()


class TestDocumentedSchemas:
    """docs/cli.md lists exactly the fields of each --json schema."""

    @pytest.mark.parametrize("name", sorted(SCHEMAS))
    def test_docs_table_matches_schema(self, name: str) -> None:
        text = DOCS.read_text(encoding="utf-8")
        assert documented_fields(text, name) == field_paths(SCHEMAS[name])

    def test_example_referral_is_valid(self) -> None:
        from models.referral import Referral

        Referral.model_validate(yaml.safe_load(EXAMPLE_REFERRAL.read_text(encoding="utf-8")))


# README's walk records these tasks before the steps they gate (protocols/cart-cd19-lupus.yaml).
PREPARED = [
    ("irradiated_blood", {}),
    ("fertility_counselling", {}),
    ("vaccination_review", {}),
    ("contraception", {}),
    ("pregnancy_test", {"result": "negative"}),
    ("caregiver_and_stay", {}),
]


async def test_a_referral_walked_to_infusion_by_the_right_roles(
    cli: Cli, running_worker, tmp_path: Path
) -> None:
    """README's walk: refer (file), each step by its role, a refusal explained, infusion."""
    # One protocol day lasts 5 s: thawing waits 10 s after lymphodepletion, time for the two
    # early thaws below to be refused even on a loaded machine (at 3 s a day the second one
    # came after the window had opened: the suite under load), and the discharge review
    # (21 days) stays ahead of the last `show` even when each CLI call takes seconds.
    spd = 5.0
    path = tmp_path / "referral.yaml"
    path.write_text(referral_yaml("CLI-101"), encoding="utf-8")
    me = cli.with_env(CELLPATH_USER="dr.martin", CELLPATH_ROLE="ard_specialist")
    async with running_worker():
        out = await cli("refer", str(path), "--seconds-per-day", str(spd), "--json")
        assert out.code == 0, out
        referred = ReferDoc.model_validate(out.json())
        assert referred.seconds_per_day == spd and referred.protocol_id == "cart-cd19-lupus"
        p = referred.pathway_id
        assert p == f"pathway-{CENTRE}-CLI-101"
        # Identity from CELLPATH_USER / CELLPATH_ROLE; "now" for a date-time.
        # The README's work-up file: the date and the exclusion checklist.
        work_up = yaml.safe_load((DOCS.parent / "examples" / "work-up.yaml").read_text())
        await act(me, p, "record_work_up", (), **work_up)
        # dr.roux, the other half of the binôme, co-signs with her own password
        ensure_account(Path(cli.env["CELLPATH_STATE_DIR"]), "dr.roux", "cell_therapy_specialist")
        await act(me, p, "approve_at_mdtm", ("--cosigner", "dr.roux"), **SIGNED)
        await act(me, p, "record_consent", (), **CONSENTED)
        # The preparation tasks that gate leukapheresis and lymphodepletion (README's walk).
        for task, details in PREPARED:
            await act(me, p, "record_task", (), task=task, details=details)
        await act(cli, p, "record_washout", CTS, stopped=[], treatments=["none"])
        await act(cli, p, "book_apheresis", CTS, slot_at="now")
        await act(cli, p, "record_apheresis", APH, coi_id="COI-CLI-101")
        await act(cli, p, "ship_to_manufacturer", TECH)
        await act(cli, p, "release_product", PHARMA, lot="LOT-2026-0042")
        await act(cli, p, "ship_to_centre", PHARMA)
        await act(
            cli, p, "receive_product", TECH, bag_coi_id="COI-CLI-101", temperature_log_ok=True
        )
        await act(cli, p, "clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
        await act(cli, p, "start_lymphodepletion", NURSE)
        ended = await act(cli, p, "complete_lymphodepletion", NURSE)
        assert ended.state == "awaiting_infusion" and "thaw_product" in ended.allowed_next
        bag = json.dumps({"bag_coi_id": "COI-CLI-101"})
        # Too early: refused with the rule and what the technician may send now.
        early = await cli("act", p, "thaw_product", *TECH, "--data", bag, "--json")
        doc = refusal(early, 3, "OutsideWindow")
        assert doc.error.allowed_now == ["thaw_product"]
        assert "possible from 2 days after it" in early.stderr
        assert "rule: OutsideWindow" in early.stderr
        text = await cli("act", p, "thaw_product", *TECH, "--data", bag)
        assert text.code == 3 and text.stdout == "", text

        async def thawed() -> bool:
            out = await cli("act", p, "thaw_product", *TECH, "--data", bag, "--json")
            if out.code != 0:
                refusal(out, 3, "OutsideWindow")  # the window is still closed: nothing else
            return out.code == 0

        await eventually(thawed, timeout=2 * spd + 10, what="thaw window open")
        infused = await act(
            cli,
            p,
            "infuse",
            (*NURSE, "--cosigner", "dr.roux"),
            bag_coi_id="COI-CLI-101",
            checked_by=["n.bernard", "dr.roux"],
        )
        assert infused.state == "inpatient" and infused.seq == 15 + len(PREPARED)

        out = await cli("show", p, "--json")
        assert out.code == 0, out
        shown = ShowDoc.model_validate(out.json())
        assert (shown.state, shown.status, shown.therapy) == ("inpatient", "RUNNING", "car-t")
        assert shown.dates.d0 is not None and shown.dates.infusions == [shown.dates.d0]
        assert shown.dates.mdtm_approved_at and shown.dates.consent_at
        assert shown.product.coi_id == "COI-CLI-101"
        assert shown.binome.ard_specialist == "dr.martin"
        total = 15 + len(PREPARED)
        assert shown.audit_total == total
        assert [a.seq for a in shown.audit] == list(range(total - 9, total + 1))
        assert shown.audit[-1].actor == "n.bernard" and shown.audit[-1].role == "nurse"
        # Signed as the person signed in; signatures keep their meaning, other actions none.
        meanings = {a.event: a.meaning for a in shown.audit}
        assert meanings["infuse"] == "administered" and meanings["thaw_product"] == "thawed"
        assert meanings["receive_product"] == "received"
        infusion = next(a for a in shown.audit if a.event == "infuse")
        assert (infusion.cosigner, infusion.cosigner_meaning) == ("dr.roux", "verified")
        assert meanings["start_lymphodepletion"] is None
        assert "discharge" in shown.allowed
        discharge = [d for d in shown.deadlines if d.key == "discharge"]
        assert discharge and 0 < discharge[0].seconds_left <= 21 * spd

        text = await cli("show", p)
        assert text.code == 0, text
        for expected in ("inpatient", "D0 (infusion)", "Discharge review due", "possible now"):
            assert expected in text.stdout
        # What the coordinator still has open: the milestones' tasks, nothing already done.
        status = {t.key: t.status for t in shown.preparation}
        assert {key: status[key] for key, _ in PREPARED} == dict.fromkeys(
            (key for key, _ in PREPARED), "done"
        )
        assert status["patient_information"] == status["alert_card"] == "open"
        assert status["consent_recorded"] == "done" and status["revaccination_plan"] == "due later"
        alert = next(t for t in shown.preparation if t.key == "alert_card")
        assert alert.gates == ["discharge"] and alert.due_at is not None
        assert "record_task alert_card" in text.stdout and "preparation:" in text.stdout


async def test_refusals_bad_input_and_missing_pathways(
    cli: Cli, running_worker, tmp_path: Path, client: Client
) -> None:
    spd = 60.0
    async with running_worker():
        p = await refer(cli, "CLI-102", "--seconds-per-day", str(spd))
        # The work-up is 100 protocol days old: the MDTM refuses it.
        await act(cli, p, "record_work_up", ARD, completed_at=ago(100, spd), **ORGANS)
        stale = await cli("act", p, "approve_at_mdtm", *ARD, "--data", json.dumps(SIGNED), "--json")
        doc = refusal(stale, 3, "StaleWorkUp")
        assert "at the MDTM it must be less than 90 days old" in doc.error.message
        assert doc.error.allowed_now and "defer_at_mdtm" in doc.error.allowed_now
        assert "rule: StaleWorkUp; an autoimmune-disease specialist may now send:" in stale.stderr

        wrong = await cli("act", p, "approve_at_mdtm", *NURSE, "--data", json.dumps(SIGNED))
        assert wrong.code == 3 and "It needs: autoimmune-disease specialist" in wrong.stderr
        assert "rule: RoleNotAllowed; a nurse may now send:" in wrong.stderr

        typo = await cli("act", p, "aprove_at_mdtm", *ARD, "--json")
        refusal(typo, 3, "UnknownEvent")
        assert "did you mean approve_at_mdtm?" in typo.stderr

        # Details that do not fit the action: exit 2, nothing sent.
        for data, words in [
            ('{"ard_specialist": "dr.martin"}', "cell_therapy_specialist: field required"),
            ("{not json", "not valid JSON or YAML"),
            ('["a list"]', "must be a JSON or YAML object"),
            ("@/nonexistent/data.json", "cannot read the --data file"),
        ]:
            bad = await cli("act", p, "approve_at_mdtm", *ARD, "--data", data, "--json")
            assert bad.code == 2, bad
            assert words in ErrorDoc.model_validate(bad.json()).error.message
        naive = await cli(
            "act", p, "record_work_up", *ARD, "--data", '{"completed_at": "2026-01-10T09:00:00"}'
        )
        assert naive.code == 2 and "give the time zone" in naive.stderr, naive

        # Usage: who acts, and the list of roles for an unknown one (flag or environment).
        # Who acts is the signed-in person: none after logout; --by is refused.
        assert (await cli("logout")).code == 0
        nobody = await cli("act", p, "record_consent", "--role", "ard_specialist")
        assert nobody.code == 2 and "cellpath login" in nobody.stderr, nobody
        typed = await cli("act", p, "record_consent", "--by", "dr.martin", CELLPATH_USER=None)
        assert typed.code == 2 and "--by no longer says who acts" in typed.stderr, typed
        for unknown in (
            await cli("act", p, "record_consent", "--by", "x.y", "--role", "doctor"),
            await cli("act", p, "--help-events", CELLPATH_ROLE="doctor"),
        ):
            assert unknown.code == 2, unknown
            assert all(r.value in unknown.stderr for r in Role)
        assert (await cli("act", p, *ARD)).code == 2  # no EVENT

        # What each role may do now, with the details each action takes.
        out = await cli("act", p, "--help-events", "--role", "ard_specialist", "--json")
        assert out.code == 0, out
        menu = HelpEventsDoc.model_validate(out.json())
        assert (menu.state, menu.role) == ("awaiting_mdtm", "ard_specialist")
        approve = next(a for a in menu.actions if a.event == "approve_at_mdtm")
        assert approve.required == ["ard_specialist", "cell_therapy_specialist"]
        assert "ard_specialist" in approve.roles and "meeting_id" in approve.optional
        nurse = await cli("act", p, "--help-events", "--json", CELLPATH_ROLE="nurse")
        nurse_events = {a.event for a in HelpEventsDoc.model_validate(nurse.json()).actions}
        assert "approve_at_mdtm" not in nurse_events and "record_adverse_event" in nurse_events
        text = await cli("act", p, "--help-events", "--role", "ard_specialist")
        assert "approve_at_mdtm" in text.stdout
        assert "--data ard_specialist, cell_therapy_specialist" in text.stdout

        # --data @FILE, --reason, --update-id applied once.
        held = tmp_path / "hold.json"
        held.write_text("{}", encoding="utf-8")
        args = ("act", p, "hold", *ARD, "--data", f"@{held}", "--reason", "infection")
        first = await cli(*args, "--update-id", "hold-1", "--json")
        again = await cli(*args, "--update-id", "hold-1", "--json")
        assert first.code == again.code == 0, again
        assert ActDoc.model_validate(again.json()).seq == ActDoc.model_validate(first.json()).seq
        shown = ShowDoc.model_validate((await cli("show", p, "--json")).json())
        assert shown.state == "held" and shown.held_from == "awaiting_mdtm"
        assert shown.audit_total == 2 and shown.audit[-1].reason == "infection"

        # The diagram of a pathway marks where it is.
        drawn = await cli("diagram", p)
        assert drawn.code == 0 and "held:::active" in drawn.stdout, drawn

        # Payloads are encrypted: without the key the CLI says where the key should be.
        keyless = await cli.with_env(CELLPATH_ENCRYPTION_KEYS=None)("show", p, "--json")
        refusal(keyless, 2, "EncryptionKey")
        assert "CELLPATH_STATE_DIR" in keyless.stderr

        # A pathway that has ended takes no more actions.
        await act(cli, p, "withdraw", ARD, reason="consent withdrawn")
        # Closed once its records are written to the store (one activity after the action).
        await client.get_workflow_handle(p).result()
        late = await cli("act", p, "resume", *ARD, "--json")
        refusal(late, 3, "PathwayEnded")

    missing = f"pathway-{CENTRE}-NOPE-001"
    for call in (
        ("show", missing, "--json"),
        ("act", missing, "record_consent", *ARD, "--json"),
        ("act", missing, "--help-events", "--json"),
        ("diagram", missing),
    ):
        out = await cli(*call)
        assert out.code == 4, out
        assert f"No pathway {missing}" in out.stderr
    refusal(await cli("show", missing, "--json"), 4, "PathwayNotFound")


async def test_referral_files_and_duplicates(cli: Cli, tmp_path: Path) -> None:
    """refer: JSON, YAML or stdin; malformed files exit 2; a second referral exits 3."""
    as_json = tmp_path / "referral.json"
    as_json.write_text(json.dumps(yaml.safe_load(referral_yaml("CLI-203"))), encoding="utf-8")
    # No worker needed to start a pathway.
    out = await cli("refer", str(as_json))
    assert out.code == 0 and out.stdout.strip() == f"pathway-{CENTRE}-CLI-203", out
    assert "--help-events" in out.stderr  # what to do next
    again = await cli("refer", "-", "--json", input=as_json.read_text(encoding="utf-8"))
    doc = refusal(again, 3, "DuplicateReferral")
    assert "already has an open pathway" in doc.error.message
    # Referrals go to a centre ready for the therapy, and a known one.
    not_ready = await cli("refer", "-", "--json", input=referral_yaml("CLI-204", centre="centre-b"))
    assert "not ready for car-t" in refusal(not_ready, 3, "CentreNotReady").error.message
    unknown = await cli("refer", "-", "--json", input=referral_yaml("CLI-205", centre="centre-z"))
    assert "No centre centre-z" in refusal(unknown, 2, "UnknownCentre").error.message

    broken = tmp_path / "broken.yaml"
    broken.write_text("pseudonym: CLI-104\ncentre: [unclosed\n", encoding="utf-8")
    for args, stdin, words in [
        (("refer", str(broken)), None, "line 3"),
        (("refer", "-"), "pseudonym: Bob\n", "pseudonym"),
        (("refer", "-"), "", "is empty"),
        (("refer", "-"), "[1, 2]", "must be a JSON or YAML object"),
        (("refer", str(tmp_path / "missing.yaml")), None, "cannot read"),
        (("refer", "-"), referral_yaml("CLI-105", therapy="gene-therapy"), "therapy"),
    ]:
        out = await cli(*args, "--json", input=stdin)
        refusal(out, 2, "BadInput")
        assert words in out.stderr, out


async def test_referral_follows_the_protocol_for_its_disease(cli: Cli) -> None:
    """refer without protocol_id: therapy and disease codes choose; no silent default."""
    # Issue 12: an MSC lupus referral got the systemic-sclerosis protocol (one infusion).
    lupus = await cli("refer", "-", "--json", input=referral_yaml("CLI-306", therapy="msc"))
    assert lupus.code == 0, lupus
    assert ReferDoc.model_validate(lupus.json()).protocol_id == "msc-lupus-repeated"
    sclerosis = await cli(
        "refer",
        "-",
        "--json",
        "--icd10",
        "M34.0",
        "--orpha",
        "ORPHA:90291",
        input=referral_yaml("CLI-307", therapy="msc", disease="systemic sclerosis"),
    )
    assert ReferDoc.model_validate(sclerosis.json()).protocol_id == "msc-systemic-sclerosis"
    sjogren = await cli(
        "refer",
        "-",
        "--json",
        "--icd10",
        "M35.0",
        input=referral_yaml("CLI-308", therapy="msc", disease="Sjogren syndrome", orpha=None),
    )
    doc = refusal(sjogren, 3, "NoMatchingProtocol")
    for candidate in ("msc-lupus-repeated", "msc-other-ard", "msc-systemic-sclerosis"):
        assert candidate in doc.error.message
    named = await cli(
        "refer",
        "-",
        "--json",
        "--protocol",
        "msc-systemic-sclerosis",
        input=referral_yaml("CLI-309", therapy="msc"),
    )
    assert "is not for M32.1" in refusal(named, 2, "ProtocolMismatch").error.message
    for refused in ("CLI-308", "CLI-309"):
        shown = await cli("show", f"pathway-{CENTRE}-{refused}", "--json")
        assert shown.code == 4, shown  # nothing was started


async def test_list_filters_from_visibility(cli: Cli, running_worker) -> None:
    async with running_worker():
        cart = await refer(cli, "CLI-106", "--seconds-per-day", "60")
        msc = await refer(
            cli,
            "CLI-206",
            "--seconds-per-day",
            "60",
            therapy="msc",
            disease="systemic sclerosis",
        )
        await act(cli, msc, "record_work_up", ARD, completed_at="now", **ORGANS)

        async def listed(*args: str) -> ListDoc:
            out = await cli("list", "--centre", CENTRE, "--json", *args)
            assert out.code == 0, out
            return ListDoc.model_validate(out.json())

        # Visibility is eventually consistent: wait for the work-up to show.
        async def shown_both() -> dict[str, Any] | None:
            rows = {r.pathway_id: r for r in (await listed()).pathways}
            msc_row, cart_row = rows.get(msc), rows.get(cart)
            ready = (
                msc_row is not None
                and msc_row.state == "awaiting_mdtm"
                and msc_row.next_deadline is not None
                and cart_row is not None
            )
            return rows if ready else None

        rows = await eventually(shown_both, what="both pathways listed")
        assert {cart, msc} <= set(rows)
        assert rows[cart].state == "referred" and rows[cart].therapy == "car-t"
        assert rows[msc].next_deadline is not None and rows[msc].status == "RUNNING"
        assert f'Centre = "{CENTRE}"' in (await listed()).query
        # Other tests of the session may have pathways at this centre: look at ours only.
        ours = {cart, msc}

        async def ids(*args: str) -> set[str]:
            return {r.pathway_id for r in (await listed(*args)).pathways} & ours

        assert await ids("--therapy", "msc") == {msc}
        assert await ids("--therapy", "cart") == {cart}
        assert await ids("--state", "awaiting_mdtm") == {msc}
        assert await ids("--overdue") == set()
        table = await cli("list", "--centre", CENTRE)
        assert table.code == 0 and cart in table.stdout and "pathway(s)" in table.stdout

    for args, words in [
        (("--therapy", "gene"), "--therapy must be one of car-t, msc"),
        (("--state", "awaiting_mtdm"), "did you mean awaiting_mdtm"),
        (("--centre", 'a" OR true'), "invalid centre"),
    ]:
        out = await cli("list", *args, "--json")
        refusal(out, 2, "BadUsage")
        assert words in out.stderr


async def test_unreachable_temporal_is_exit_5_naming_the_address(cli: Cli) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    down = cli.with_env(TEMPORAL_ADDRESS=address)
    for args in (
        ("list", "--json"),
        ("show", "pathway-centre-a-LUP-001", "--json"),
        ("act", "pathway-centre-a-LUP-001", "record_consent", *ARD, "--json"),
        ("refer", str(EXAMPLE_REFERRAL), "--json"),
        ("diagram", "pathway-centre-a-LUP-001"),
    ):
        out = await down(*args)
        assert out.code == 5, out
        assert f"Cannot reach Temporal at {address}" in out.stderr
        if "--json" in args:
            refusal(out, 5, "TemporalUnreachable")
    # The real entry point: one line, no traceback; --debug shows it.
    env = {**down.env, "COLUMNS": "80"}
    quiet = await process("list", env=env)
    assert quiet.returncode == 5 and "Traceback" not in quiet.stderr, quiet.stderr
    assert address in quiet.stderr
    loud = await process("--debug", "list", env=env)
    assert (
        loud.returncode == 1
        and "Traceback" in loud.stderr
        and "TemporalUnreachable" in (loud.stderr)
    )


async def test_no_worker_is_exit_1_after_the_timeout(cli: Cli) -> None:
    """Nothing polls the pathway's queue: show and act stop after --timeout, saying why."""
    idle = cli.with_env(CELLPATH_TASK_QUEUE=f"idle-{uuid.uuid4()}")
    p = await refer(idle, "CLI-107")
    out = await cli("--timeout", "1", "show", p, "--json")
    refusal(out, 1, "NoAnswer")
    assert f"task queue '{idle.env['CELLPATH_TASK_QUEUE']}'" in out.stderr
    sent = await cli("--timeout", "1", "act", p, "withdraw", *ARD, "--reason", "test")
    assert sent.code == 1 and "--update-id" in sent.stderr, sent


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_worker_command_serves_pathways_and_stops_cleanly(
    stop: signal.Signals, cli: Cli, client: Client, tmp_path: Path
) -> None:
    worker = start_process("worker", env=cli.env, log=tmp_path / "worker.log")
    try:
        p = await refer(cli, f"CLI-{180 + stop.value}")
        receipt = await act(cli, p, "record_work_up", ARD, completed_at="now", **ORGANS)
        assert receipt.state == "awaiting_mdtm"
    finally:
        worker.send_signal(stop)
        code = await asyncio.to_thread(worker.wait, 20)
    assert code == 0, (tmp_path / "worker.log").read_text()
    await client.get_workflow_handle(p).terminate("test over")


async def test_dev_command_starts_the_stack_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(
        f"127.0.0.1:{port}",
        "cellpath-pathways",
        tmp_path / "state",
        CELLPATH_DEV_PORT=str(port),
        CELLPATH_DEV_UI_PORT=str(free_port()),
        CELLPATH_CODEC_PORT=str(free_port()),
        # The stack's own record store, in its state dir, upgraded by the stack itself.
        CELLPATH_DATABASE_URL=None,
        # The stack's own sign-in: its keys and demo accounts in the state dir.
        CELLPATH_ACTOR_KEYS=None,
        CELLPATH_SIGNIN_KEY_FILE=None,
        CELLPATH_ACCOUNTS_FILE=None,
        CELLPATH_PASSWORD=None,
    )
    log = tmp_path / "dev.log"
    stack = start_process("dev", env=env, log=log)
    try:

        def serving() -> bool:
            assert stack.poll() is None, log.read_text()
            return "Web UI:" in log.read_text()

        await eventually(
            serving, timeout=90, what="dev stack serving"
        )  # 22 s alone, >40 s in the suite
        out = await Cli(env)("list", "--json")
        assert out.code == 0 and ListDoc.model_validate(out.json()).pathways == [], out
        assert (tmp_path / "state" / "temporal.db").exists()
        records_url = f"sqlite:///{tmp_path / 'state' / 'records.db'}"
        assert current_revision(records_url) == head_revision()
        closed = await Cli(env)("list", "--closed", "--json")
        assert closed.code == 0 and ClosedListDoc.model_validate(closed.json()).pathways == []
        stated = await retention(await Client.connect(f"127.0.0.1:{port}"))
        assert stated == timedelta(days=Settings().dev_retention_days)
        # It says where the demo staff's passwords are; with one, a person signs in and acts.
        passwords = tmp_path / "state" / "demo-passwords.txt"
        assert str(passwords) in " ".join(log.read_text().split()), log.read_text()
        pairs = [line.split() for line in passwords.read_text().splitlines()[1:]]
        password = dict(pairs)["dr.martin"]
        wrong = await Cli(env)("login", "dr.martin", CELLPATH_PASSWORD="not-it")
        assert wrong.code == 3 and "Wrong staff ID or password" in wrong.stderr, wrong
        login = await Cli(env)("login", "dr.martin", "--json", CELLPATH_PASSWORD=password)
        assert login.code == 0 and login.json()["roles"] == ["ard_specialist"], login
        sent = await Cli(env)("act", "pathway-centre-a-NONE-001", "record_consent", "--json")
        assert sent.code == 4, sent  # signed, sent, and told the pathway does not exist
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(stack.wait, 30)
        except subprocess.TimeoutExpired:
            stack.kill()
            raise
    assert code == 0, log.read_text()


async def test_diagram_and_docs_commands(cli: Cli, tmp_path: Path) -> None:
    for chart in ("cart", "msc"):
        out = await cli("diagram", chart)
        assert out.code == 0 and out.stdout.startswith("stateDiagram-v2"), out
    assert (await cli("diagram", "car-t", "--format", "jpeg")).code == 2
    assert (await cli("diagram", "gene")).code == 2
    written = tmp_path / "cart.mmd"
    assert (await cli("diagram", "cart", "-o", str(written))).code == 0
    assert written.read_text().startswith("stateDiagram-v2")

    docs = cli.with_env(CELLPATH_ROOT=str(tmp_path))
    assert (await docs("docs", "--check")).code == 1  # nothing generated there yet
    assert (await docs("docs")).code == 0
    assert (await docs("docs", "--check")).code == 0
