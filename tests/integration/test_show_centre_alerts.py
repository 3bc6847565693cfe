"""A lapse of the pathway's centre reaches ``cellpath show`` (JSON and text), as it reaches
the Web UI's details: the open alert, with what lapsed, why and since when; a restored
prerequisite leaves the list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from client import pathways as operations
from models.centre_notice import CentreNotice
from models.encryption import EncryptionCodec
from models.protocol import Protocol, Therapy
from models.readiness import MissingItem, Prerequisite, TherapyReadiness
from tests.support.cli_support import Cli, ShowDoc, cli_env
from tests.support.pathway_driver import referral
from tests.support.waiting import eventually
from workflows.pathway import PathwayWorkflow

pytestmark = pytest.mark.integration

LAPSED = MissingItem(
    key="accreditation",
    prerequisite=Prerequisite.ACCREDITATION,
    label="JACIE accreditation",
    reason="expired on 2026-11-30",
)


def told(centre: str, version: int, *missing: MissingItem) -> CentreNotice:
    return CentreNotice(
        centre=centre,
        version=version,
        as_of=datetime.now(UTC),
        readiness=[TherapyReadiness(therapy=Therapy.CAR_T, ready=not missing, missing=[*missing])],
        tocilizumab_doses=4,
    )


async def test_show_lists_the_centres_open_alerts(
    client: Client,
    dev_server: Any,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    tmp_path: Path,
) -> None:
    keys = encryption_codec.ring.to_spec()
    cli = Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))
    async with running_worker():
        handle = await operations.refer(
            client, referral("ALR-101"), task_queue=task_queue, protocol=cart_protocol
        )
        quiet = ShowDoc.model_validate((await cli("show", handle.id, "--json")).json())
        assert quiet.centre_alerts == []

        await handle.signal(PathwayWorkflow.centre_notice, told("centre-a", 10_000, LAPSED))

        async def alerted() -> ShowDoc | None:
            out = await cli("show", handle.id, "--json")
            assert out.code == 0, out
            doc = ShowDoc.model_validate(out.json())
            return doc if doc.centre_alerts else None

        doc = await eventually(alerted, what="the centre alert in show")
        (alert,) = doc.centre_alerts
        assert (alert.key, alert.label, alert.reason) == (
            "accreditation",
            "JACIE accreditation",
            "expired on 2026-11-30",
        )
        text = await cli("show", handle.id)
        assert text.code == 0, text
        assert "centre alert (centre-a): JACIE accreditation: expired on 2026-11-30" in text.stdout

        # Restored: the alert leaves the list (the record keeps it, cleared).
        await handle.signal(PathwayWorkflow.centre_notice, told("centre-a", 10_001))

        async def cleared() -> bool:
            out = await cli("show", handle.id, "--json")
            return ShowDoc.model_validate(out.json()).centre_alerts == []

        await eventually(cleared, what="the alert cleared from show")
        await handle.terminate("test over")
