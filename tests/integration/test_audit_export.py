"""``cellpath audit export`` and ``verify --live`` on a real pathway: the workflow chains
every accepted action, the export carries the chain, and a tampered export is caught."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from typer.testing import CliRunner, Result

from cli.audit import audit_app
from client import pathways as operations
from devtools.demo_answers import CONSENTED
from devtools.devserver import DevServer
from models.audit import genesis_hash, verify_chain
from models.encryption import EncryptionCodec
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, CTS, SIGNED, Driver, ago, referral

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    dev_server: DevServer,
    encryption_codec: EncryptionCodec,
    client: Client,
) -> None:
    """The CLI finds the test server (ready: ``client`` waited for it) and the test key the
    way staff configure it."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    monkeypatch.setenv("CELLPATH_ENCRYPTION_KEYS", encryption_codec.ring.to_spec())
    monkeypatch.setenv("CELLPATH_STATE_DIR", str(tmp_path / "state"))


async def cli(*args: str) -> Result:
    # The command runs its own event loop (asyncio.run): give it a thread.
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(audit_app, list(args)))


async def test_export_and_verify_a_live_trail(
    client: Client,
    task_queue: str,
    running_worker: Any,
    cart_protocol: Protocol,
    cli_env: None,
    tmp_path: Path,
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=0.2)
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("AUD-100001"),
            task_queue=task_queue,
            protocol=protocol,
            check_centre=False,
        )
        go = Driver(client, handle.id, protocol)
        await go(
            "record_work_up",
            ARD,
            completed_at=ago(protocol, 5),
            lvef_percent=60,
            egfr=90,
            reason="=1+1 first visit",
        )
        await go("approve_at_mdtm", ARD, **SIGNED, reason='binôme agreed, "unanimous"\nok')
        await go("record_consent", ARD, **CONSENTED)
        await go("hold", CTS, reason="patient travelling, back in 2 weeks")
        record = await operations.record(client, handle.id)
        assert [e.seq for e in record.audit] == [1, 2, 3, 4]
        assert record.audit[0].prev_hash == genesis_hash(handle.id)
        assert verify_chain(record.audit, handle.id) == []
        head = record.audit[-1].hash

        for fmt in ("jsonl", "csv"):
            path = tmp_path / f"trail.{fmt}"
            exported = await cli("export", handle.id, "--format", fmt, "-o", str(path))
            assert exported.exit_code == 0, exported.output
            assert head in exported.output.replace("\n", "")
            for extra in ([], ["--head", head], ["--live"]):
                checked = await cli("verify", str(path), "--json", *extra)
                assert checked.exit_code == 0, checked.output
                assert json.loads(checked.stdout)["intact"] is True

            tampered = tmp_path / f"tampered.{fmt}"
            tampered.write_text(
                path.read_text(encoding="utf-8").replace("back in 2 weeks", "back in 2 days"),
                encoding="utf-8",
            )
            checked = await cli("verify", str(tampered), "--live", "--json")
            assert checked.exit_code == 1
            kinds = {p["kind"] for p in json.loads(checked.stdout)["problems"]}
            assert kinds == {"edited", "live"}

        # Actions after the export: the old export still verifies, and --live says so.
        await go("resume", CTS)
        checked = await cli("verify", str(tmp_path / "trail.jsonl"), "--live", "--json")
        assert checked.exit_code == 0
        assert json.loads(checked.stdout)["live_entries_after_file"] == 1

        stdout = await cli("export", handle.id)
        lines = [json.loads(line) for line in stdout.stdout.splitlines()]
        assert [row["seq"] for row in lines] == [1, 2, 3, 4, 5]
        await handle.terminate("test over")


async def test_export_of_an_unknown_pathway(cli_env: None) -> None:
    result = await cli("export", "pathway-centre-a-NOPE-000000")
    assert result.exit_code == 4


async def test_export_refuses_what_is_not_a_pathway_id(cli_env: None) -> None:
    result = await cli("export", "[/x]")
    assert result.exit_code == 2
    assert "'[/x]' is not a pathway ID" in result.output


@pytest.mark.parametrize("name", ["[/x]", "[bold]trail[/bold].csv"])
async def test_verify_names_the_file_as_typed(cli_env: None, name: str) -> None:
    # A file name is text, never console markup: shown as typed, and no traceback.
    result = await cli("verify", name)
    assert result.exit_code == 2
    assert f"cannot read {name}" in result.output
