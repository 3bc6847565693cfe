"""Encryption on the real dev server: what Temporal stores is ciphertext, the codec's clients
read it, clients without the key do not, and a SQLite file that ran pathways holds no
plaintext record field, clinical value or free-text reason."""

from __future__ import annotations

import json
import secrets as secrets_module
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from client import pathways as operations
from devtools.demo_answers import AE_FACTS, CONSENTED, FIT, SIGNED
from devtools.devserver import DevServer, free_port
from models.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    DecryptionError,
    EncryptionCodec,
    data_converter,
)
from models.protocol import Protocol
from models.safety_rules import RULES_PATCH
from tests.support.pathway_driver import APH, ARD, CTS, NURSE, PHARMA, TECH, Driver, ago, referral
from tests.support.pathway_driver import fast as whole_pathway
from worker import build_worker
from workflows import search
from workflows.centre import CENTRE_LEAN_PATCH
from workflows.centre_gate import CENTRE_GATE_PATCH
from workflows.identity import COSIGN_PATCH, SIGNER_PATCH
from workflows.incidents import PRODUCT_PATCH, REFUSAL_PATCH
from workflows.lean_runs import LEAN_PATCH
from workflows.patches import CARRIED_ATTRIBUTES, PROTOCOL_CLAIM_CHECK, ROLLUP_PATCH
from workflows.preparation import PREPARATION_PATCH, REGISTRY_PATCH
from workflows.rules_in_force import RULE_PATCHES

pytestmark = pytest.mark.integration

# Patch markers are written in plain text by Temporal (their IDs name a code change, no data).
PATCHES = {
    PREPARATION_PATCH,
    REGISTRY_PATCH,
    SIGNER_PATCH,
    COSIGN_PATCH,
    CENTRE_GATE_PATCH,
    REFUSAL_PATCH,
    PRODUCT_PATCH,
    RULES_PATCH,
    LEAN_PATCH,
    CENTRE_LEAN_PATCH,
    *RULE_PATCHES,
    # lean2: the rollup's marker, and the changes it covers (asked alone by a run that
    # started on older code)
    ROLLUP_PATCH,
    PROTOCOL_CLAIM_CHECK,
    CARRIED_ATTRIBUTES,
}


def fast(protocol: Protocol) -> Protocol:
    """Compressed, but with the 90-day work-up validity (18 s) well above the test's run."""
    return whole_pathway(protocol, seconds_per_day=0.2)


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}.{field.name}"
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for item in value.values():
                    yield from payloads_in(item, where)
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item, where)
        else:
            yield from payloads_in(value, where)


def only_in_workflow_ids(blob: bytes, pseudonym: str, workflow_id: str) -> list[int]:
    """Offsets where the pseudonym appears other than inside the workflow ID."""
    prefix = workflow_id[: -len(pseudonym)].encode()
    found, start = [], 0
    while (at := blob.find(pseudonym.encode(), start)) != -1:
        if blob[max(0, at - len(prefix)) : at] != prefix:
            found.append(at)
        start = at + 1
    return found


async def test_history_is_ciphertext_and_only_the_codec_reads_it(
    client: Client,
    dev_server: DevServer,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    running_worker: Any,
    cart_protocol: Protocol,
) -> None:
    protocol = fast(cart_protocol)
    pseudonym = f"ENC-{uuid.uuid4().int % 10**6:06d}"
    reason = f"patient asked to wait, canary {uuid.uuid4().hex}"
    plain = await Client.connect(dev_server.address)  # no codec, no key
    async with running_worker():
        handle = await operations.refer(
            client,
            referral(pseudonym),
            task_queue=task_queue,
            protocol=protocol,
            check_centre=False,
        )
        go = Driver(client, handle.id, protocol)
        await go(
            "record_work_up",
            ARD,
            completed_at=ago(protocol, 5),
            lvef_percent=47.125,
            egfr=90,
            reason=reason,
        )
        # The same refusal, through a client with the key and one without.
        same_person = {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.martin"}
        with pytest.raises(operations.ActionRefused) as refused:
            await go("approve_at_mdtm", ARD, **same_person)
        message = refused.value.message
        assert "two different people" in message
        with pytest.raises(Exception) as hidden:  # noqa: B017 - what fails depends on the SDK
            await plain.get_workflow_handle(handle.id).execute_update(
                "approve_at_mdtm", {**ARD, **same_person}
            )
        assert "two different people" not in str(hidden.value)

        # With the key: the whole record.
        record = await operations.record(client, handle.id)
        assert record.pseudonym == pseudonym and record.audit[0].reason == reason

        # Without it: ciphertext everywhere but in the search attributes.
        history = await plain.get_workflow_handle(handle.id).fetch_history()
        found = [(p, payload) for e in history.events for p, payload in payloads_in(e)]
        encrypted = [p for p, payload in found if "search_attributes" not in p]
        assert any(p.startswith(".workflow_execution_started") for p in encrypted)
        assert any("user_metadata" in p for p in encrypted)  # summary, details, timer labels
        assert any("workflow_execution_update_accepted" in p for p in encrypted)
        for path, payload in found:
            if "search_attributes" in path:
                assert payload.metadata["encoding"] == b"json/plain", path
            elif "marker_recorded_event_attributes" in path:
                # A patch marker (written by the SDK's core, past the codec) holds the patch
                # ID only: a name of the code, never data of the patient.
                assert payload.metadata["encoding"] == b"json/plain", path
                assert json.loads(payload.data) in [
                    {"id": patch, "deprecated": False} for patch in PATCHES
                ], payload.data
            else:
                assert payload.metadata["encoding"] == ENCODING, path
                key_id = payload.metadata[KEY_ID_METADATA].decode()
                assert key_id == encryption_codec.current_key_id, path
        for event in history.events:
            blob = event.SerializeToString()
            assert only_in_workflow_ids(blob, pseudonym, handle.id) == [], event.event_type
            for secret in (reason, "47.125", "lvef_percent", "dr.martin"):
                assert secret.encode() not in blob, (secret, event.event_type)
        keyless = await Client.connect(dev_server.address, data_converter=data_converter(None))
        with pytest.raises(DecryptionError, match="no encryption key is configured"):
            await keyless.get_workflow_handle(handle.id).query("get_record")

        # Search attributes: readable without the key, and not identifying.
        described = await plain.get_workflow_handle(handle.id).describe()
        values = [str(v) for _, v in described.typed_search_attributes]
        assert search.CENTRE.name in {k.name for k, _ in described.typed_search_attributes}
        assert not any(pseudonym in v for v in values)
        await handle.terminate("test over")


def db_bytes(db_file: Path) -> bytes:
    """The SQLite database and its -wal/-shm/-journal files as they are on disk, then every
    cell of every table as SQLite reads it (a value can straddle overflow pages on disk)."""
    raw = b"".join(p.read_bytes() for p in sorted(db_file.parent.glob(db_file.name + "*")))
    cells = []
    with closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                cells += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    return raw + b"\0".join(cells)


def canary_number(low: int, high: int) -> float:
    """A clinical value that cannot occur in the database by chance: eleven random decimals.

    A short value ("7.375") once matched by chance: a run's files hold ~500 timestamps
    ("23:49:03.217581"), each with one d.ddd string, so any given one turns up about one run
    in twenty (measured 2026-12-01). Timestamps carry at most nine decimals; eleven random
    ones occur nowhere else by chance."""
    whole = low + secrets_module.randbelow(high - low)
    return float(f"{whole}.{secrets_module.randbelow(9 * 10**10) + 10**10}")


async def test_sqlite_file_holds_no_plaintext(tmp_path: Path, cart_protocol: Protocol) -> None:
    """The issue's test: after a pathway ran with encryption from referral to infusion and an
    adverse event, the bytes of the dev server's
    SQLite files (db, -wal, -shm) hold no record field, clinical value, free-text reason or
    staff name, and the pseudonym only inside the workflow ID. Then a control pathway run
    without encryption shows that the same scan does see plaintext."""
    from models.encryption import KeyRing

    protocol = fast(cart_protocol)
    db_file = tmp_path / "temporal.db"
    server = DevServer(port=free_port(), db_file=db_file, log_file=tmp_path / "server.log")
    server.start()
    # Canaries that cannot collide with other bytes: a full UUID in every text, eleven
    # random decimals in every number (their repr is what a plaintext payload would hold).
    tag = uuid.uuid4().hex
    number = uuid.uuid4().int % 10**6
    pseudonym, control = f"SCAN-{number:06d}", f"CTRL-{number:06d}"
    lvef, egfr, prednisone = canary_number(46, 70), canary_number(60, 110), canary_number(1, 9)
    control_lvef = canary_number(40, 70)
    secrets = {
        "reason": f"free text reason canary {tag}",
        "adverse event narrative": f"adverse event narrative canary {tag}",
        "lvef": repr(lvef),
        "egfr": repr(egfr),
        "prednisone": repr(prednisone),
        "staff": "dr.roux",
        "chain of identity": f"COI-{tag.upper()}",
        "storage": f"LN2-TANK-{tag.upper()}",
    }
    # Field names that a plaintext history holds (referral, actions, protocol).
    field_names = [
        "lvef_percent",
        "prednisone_mg_per_day",
        "cell_therapy_specialist",
        "age_band",
        "completed_at",
        "mycophenolate mofetil",  # the protocol's washout list, inside the workflow input
    ]
    try:
        await server.wait_ready()
        codec = EncryptionCodec(KeyRing.generate("k"))
        sealed = await Client.connect(server.address, data_converter=data_converter(codec))
        queue = f"tq-{uuid.uuid4()}"
        async with build_worker(sealed, queue):
            handle = await operations.refer(
                sealed, referral(pseudonym), task_queue=queue, protocol=protocol, check_centre=False
            )
            go = Driver(sealed, handle.id, protocol)
            await go(
                "record_work_up",
                ARD,
                completed_at=ago(protocol, 5),
                lvef_percent=lvef,
                egfr=egfr,
                reason=secrets["reason"],
            )
            await go(
                "approve_at_mdtm",
                ARD,
                **SIGNED,
                reason=secrets["reason"],
            )
            await go("record_consent", ARD, **CONSENTED)
            await go.prepare()
            await go(
                "record_washout",
                CTS,
                stopped=[{"drug": "mycophenolate mofetil", "stopped_at": ago(protocol, 30)}],
                treatments=["mycophenolate mofetil"],
                prednisone_mg_per_day=prednisone,
            )
            coi = secrets["chain of identity"]
            await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
            await go("record_apheresis", APH, coi_id=coi)
            await go("ship_to_manufacturer", TECH)
            await go("release_product", PHARMA, lot="LOT-2026-0042")
            await go("ship_to_centre", PHARMA)
            await go(
                "receive_product",
                TECH,
                bag_coi_id=coi,
                storage_location=secrets["storage"],
                temperature_log_ok=True,
            )
            await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
            await go("start_lymphodepletion", NURSE)
            await go("complete_lymphodepletion", NURSE)
            await go.thaw(coi)
            await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
            await go(
                "record_adverse_event",
                CTS,
                kind="CRS",
                grade=2,
                ice_score=7,
                description=secrets["adverse event narrative"],
                **AE_FACTS,
            )
            await go("hold", CTS, reason=secrets["reason"])
            await go("resume", CTS)
            described = await sealed.get_workflow_handle(handle.id).describe()
            values = [str(v) for _, v in described.typed_search_attributes]
            assert values and not any(pseudonym in v for v in values), values
            await handle.terminate()

        blob = db_bytes(db_file)
        assert handle.id.encode() in blob  # meant to be in clear: workflow ID...
        assert b"systemic lupus erythematosus" in blob  # ...and search attribute values
        for name, secret in {**secrets, **{f: f for f in field_names}}.items():
            assert secret.encode() not in blob, name
        assert only_in_workflow_ids(blob, pseudonym, handle.id) == []

        # Control: the same scan finds a pathway written without encryption.
        clear = await Client.connect(server.address, data_converter=pydantic_data_converter)
        async with build_worker(clear, queue):
            other = await operations.refer(
                clear, referral(control), task_queue=queue, protocol=protocol, check_centre=False
            )
            await Driver(clear, other.id, protocol)(
                "record_work_up",
                ARD,
                completed_at=ago(protocol, 5),
                lvef_percent=control_lvef,
                egfr=90,
                reason=f"control {tag}",
            )
            await other.terminate()
        blob = db_bytes(db_file)
        assert f"control {tag}".encode() in blob
        # The numeric canary's form is what a plaintext payload holds: the scan would see it.
        assert repr(control_lvef).encode() in blob
        for name in field_names:
            if name != "prednisone_mg_per_day":  # the control records no washout
                assert name.encode() in blob, name
    finally:
        server.stop()
    blob = db_bytes(db_file)  # after the server closed its files
    for name, secret in secrets.items():
        if name != "staff":  # the control pathway has the same binôme, in clear
            assert secret.encode() not in blob, name
    assert only_in_workflow_ids(blob, pseudonym, handle.id) == []
