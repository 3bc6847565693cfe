"""``cellpath act ... --cosigner ID`` in a session opened with ``cellpath login --provider``:
the second person logs in with the hospital login too (the device flow, RFC 8628) against a
small real OIDC provider on a loopback port; their co-signature is issued only when the
login is theirs — the person named, not the signer, holding a role the second person must
hold — and a local account still co-signs with a password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from cli.login import SignedIn
from models.actor import COSIGNATURE_TYPE, verify_assertion, verify_signed
from models.cosignature import COSIGN_MEANING
from models.roles import Role
from models.settings import Settings
from signin.dev_stack import prepare_dev_sign_in
from signin.device_login import await_device_login, start_device_login
from signin.local import local_sign_in
from signin.service import VIA_DEVICE, AssertionService
from tests.support.hospital_login import provider_env
from tests.support.oidc_provider import (
    LoopbackProvider,
    serving_provider,
)

PATHWAY, EVENT = "pathway-centre-a-CLI-1", "approve_at_mdtm"
#: the binôme the decision names: dr.martin signs, dr.roux co-signs
DECISION = {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.roux"}
ARD, CTS = ["CELLPATH-ARD-A"], ["CELLPATH-CTS-A"]


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with serving_provider() as provider:
        yield provider


@pytest.fixture
def service(
    idp: LoopbackProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AssertionService:
    for name, value in provider_env(idp, tmp_path).items():
        monkeypatch.setenv(name, value)
    idp.next_logins, idp.device_polls_pending, idp.device_denied = [], 1, False
    return local_sign_in(Settings.from_env())


def signed_in_with_provider(service: AssertionService, idp: LoopbackProvider) -> SignedIn:
    """dr.martin, signed in with ``cellpath login --provider`` (the device flow)."""
    idp.next_logins = [("dr.martin", ARD)]
    hospital = service.provider
    identity, when, _ = await_device_login(
        hospital,  # type: ignore[arg-type]
        start_device_login(hospital),  # type: ignore[arg-type]
    )
    session = service.open_session(identity, authenticated_at=when, via=VIA_DEVICE)
    return SignedIn(service, session, "dr.martin", Role.ARD_SPECIALIST)


def test_the_named_second_person_logs_in_with_the_device_flow_and_co_signs(
    service: AssertionService, idp: LoopbackProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = signed_in_with_provider(service, idp)
    # dr.roux logs in to co-sign, then dr.martin logs in again to sign: his assertion, valid
    # 2 minutes, is issued last, however long her device login took
    idp.next_logins = [("dr.roux", CTS), ("dr.martin", ARD)]
    update_id, data = signed.signed(dict(DECISION), PATHWAY, EVENT, None, "dr.roux")
    shown = capsys.readouterr().err
    assert "dr.roux logs in with Test Hospital" in shown and "WDJB-MJHT" in shown
    assert shown.index("dr.roux logs in") < shown.index("electronic signature: log in again")
    assert f"{idp.issuer}/activate" in shown
    ring, now = service.keys.public_ring(), datetime.now(UTC)
    where = {"pathway_id": PATHWAY, "action": EVENT, "update_id": update_id}
    signer = verify_assertion(data["assertion"], ring, now=now, **where)
    second = verify_signed(
        data["cosignature"], ring, now=now, typ=COSIGNATURE_TYPE, meanings=(COSIGN_MEANING,),
        **where,
    )  # fmt: skip
    assert (signer.actor, signer.meaning) == ("dr.martin", "approved")
    assert (second.actor, second.meaning) == ("dr.roux", COSIGN_MEANING)
    assert second.roles == (Role.CELL_THERAPY_SPECIALIST,) and second.authenticated_at
    assert idp.next_logins == []


@pytest.mark.parametrize(
    ("login", "words"),
    [
        (("t.moreau", CTS), "The hospital login was for t.moreau, not dr.roux"),
        (("dr.roux", ["CELLPATH-NURSES-A"]), "is not a cell-therapy specialist"),
    ],
    ids=["someone-else", "role-not-held"],
)
def test_a_login_that_is_not_the_named_second_persons_is_refused(
    service: AssertionService,
    idp: LoopbackProvider,
    capsys: pytest.CaptureFixture[str],
    login: tuple[str, list[str]],
    words: str,
) -> None:
    signed = signed_in_with_provider(service, idp)
    idp.next_logins = [login]
    with pytest.raises(typer.Exit) as refused:
        signed.signed(dict(DECISION), PATHWAY, EVENT, None, "dr.roux")
    assert refused.value.exit_code != 0
    shown = " ".join(capsys.readouterr().err.split())
    assert words in shown and "nothing was changed" in shown
    assert "log in again" not in shown  # refused before the signer is asked to sign


def test_the_signer_cannot_co_sign_his_own_decision(
    service: AssertionService, idp: LoopbackProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = signed_in_with_provider(service, idp)
    idp.next_logins = [("dr.martin", ARD)]
    with pytest.raises(typer.Exit):
        signed.signed(dict(DECISION), PATHWAY, EVENT, None, "dr.martin")
    shown = " ".join(capsys.readouterr().err.split())
    assert "signed this action and co-signed it too" in shown


def test_a_local_account_still_co_signs_with_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = prepare_dev_sign_in(tmp_path, hasher=PasswordHasher.from_parameters(CHEAPEST))
    monkeypatch.setenv("CELLPATH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CELLPATH_PASSWORD", dev.passwords["dr.martin"])
    monkeypatch.setenv("CELLPATH_COSIGNER_PASSWORD", dev.passwords["dr.roux"])
    service = dev.service()
    session = service.sign_in("dr.martin", dev.passwords["dr.martin"])
    signed = SignedIn(service, session, "dr.martin", Role.ARD_SPECIALIST)
    update_id, data = signed.signed(dict(DECISION), PATHWAY, EVENT, None, "dr.roux")
    second = verify_signed(
        data["cosignature"], service.keys.public_ring(), now=datetime.now(UTC),
        pathway_id=PATHWAY, action=EVENT, update_id=update_id, typ=COSIGNATURE_TYPE,
        meanings=(COSIGN_MEANING,),
    )  # fmt: skip
    assert second.actor == "dr.roux"
