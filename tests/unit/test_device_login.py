"""``cellpath login --provider``: the device flow (RFC 8628) against a small real OIDC
provider on a loopback port — polling at the provider's interval, slower after
``slow_down``, giving up on ``expired_token`` and ``access_denied`` — and a provider
session re-authenticated with a fresh ID token to sign."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from models.actor import ReauthenticationRequired, verify_assertion
from models.roles import Role
from models.settings import Settings
from signin.device_login import (
    DeviceAuthorization,
    DeviceLoginRefused,
    await_device_login,
    start_device_login,
)
from signin.hospital_login import HospitalLogin, ProviderConfig
from signin.local import cached_session, local_sign_in
from signin.oidc import GroupMapping, IdTokenRefused
from signin.provider_http import ProviderUnavailable
from signin.service import VIA_DEVICE
from tests.support.hospital_login import provider_env
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAPPING,
    LoopbackProvider,
    serving_provider,
)


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with serving_provider() as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh_knobs(idp: LoopbackProvider) -> None:
    idp.groups = ["CELLPATH-CTU"]
    idp.device_polls_pending, idp.device_slow_down, idp.device_denied = 1, False, False


@pytest.fixture
def env(idp: LoopbackProvider, tmp_path: Path) -> dict[str, str]:
    return provider_env(idp, tmp_path)


@pytest.fixture
def hospital(idp: LoopbackProvider, tmp_path: Path) -> HospitalLogin:
    (tmp_path / "groups.yaml").write_text(MAPPING)
    mapping = GroupMapping.load(tmp_path / "groups.yaml")
    return HospitalLogin(ProviderConfig(idp.issuer, CLIENT_ID, CLIENT_SECRET, mapping))


class Waits:
    """The poller's sleeps, recorded instead of slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_the_poller_waits_the_interval_and_slows_down_when_told(
    hospital: HospitalLogin, idp: LoopbackProvider
) -> None:
    idp.device_slow_down, idp.device_interval = True, 2
    try:
        grant = start_device_login(hospital)
    finally:
        idp.device_interval = 0
    waits = Waits()
    identity, _, id_token = await_device_login(hospital, grant, sleep=waits)
    # slow_down (+5 s), then authorization_pending, then the tokens
    assert waits.slept == [2, 7, 7]
    assert identity.actor == "n.bernard" and identity.roles == (Role.CTU_TECHNICIAN,)
    assert identity.centres == ("centre-a", "centre-b") and id_token.count(".") == 2


def test_a_declined_or_expired_code_is_refused(hospital: HospitalLogin, idp: LoopbackProvider):
    idp.device_denied = True
    with pytest.raises(DeviceLoginRefused, match="declined"):
        await_device_login(hospital, start_device_login(hospital), sleep=Waits())
    unknown = DeviceAuthorization(
        device_code="gone", user_code="X", verification_uri="https://x", expires_in=60
    )
    with pytest.raises(DeviceLoginRefused, match="expired"):
        await_device_login(hospital, unknown, sleep=Waits())
    idp.device_denied, idp.device_polls_pending = False, 1_000
    clock = iter([0.0, 10.0, 700.0])
    with pytest.raises(DeviceLoginRefused, match="expired"):
        await_device_login(
            hospital, start_device_login(hospital), sleep=Waits(), monotonic=lambda: next(clock)
        )


def test_cellpath_login_with_the_provider_caches_a_session(
    env: dict[str, str], idp: LoopbackProvider
) -> None:
    result = CliRunner().invoke(app, ["login", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "WDJB-MJHT" in result.output and f"{idp.issuer}/activate" in result.output
    settings = Settings(state_dir=Path(env["CELLPATH_STATE_DIR"]))
    session = cached_session(settings, local_sign_in(settings))
    assert session.identity.actor == "n.bernard" and session.via == VIA_DEVICE
    listed = CliRunner().invoke(app, ["sessions", "list", "--json"], env=env)
    assert '"via": "device"' in listed.output and session.session_id in listed.output
    ended = CliRunner().invoke(app, ["sessions", "revoke", session.session_id], env=env)
    assert ended.exit_code == 0, ended.output
    refused = CliRunner().invoke(app, ["sessions", "revoke", session.session_id], env=env)
    assert refused.exit_code == 2 and "no open session" in refused.output
    # logging out ends the session in the list too, not only the cached file
    assert CliRunner().invoke(app, ["login", "--provider"], env=env).exit_code == 0
    assert CliRunner().invoke(app, ["logout"], env=env).exit_code == 0
    listed = CliRunner().invoke(app, ["sessions", "list", "--json"], env=env)
    assert listed.output.strip() == "[]"


def test_an_unmapped_person_gets_no_cli_session(env: dict[str, str], idp: LoopbackProvider):
    idp.groups = ["Everyone"]
    result = CliRunner().invoke(app, ["login", "--provider"], env=env)
    assert result.exit_code != 0 and "none of your groups gives a role" in result.output
    listed = CliRunner().invoke(app, ["sessions", "list", "--json"], env=env)
    assert listed.output.strip() == "[]"


def test_a_provider_session_signs_with_a_fresh_id_token_only(
    env: dict[str, str], hospital: HospitalLogin
) -> None:
    settings = Settings.from_env(env)
    service = local_sign_in(settings)
    identity, when, first = await_device_login(
        hospital, start_device_login(hospital), sleep=Waits()
    )
    session = service.open_session(identity, authenticated_at=when, via=VIA_DEVICE)
    args = {"pathway_id": "pathway-centre-a-X-1", "action": "thaw_product", "update_id": "u-1"}
    token = service.assert_action(session.token, credential=first, **args)
    signer = verify_assertion(token, service.keys.public_ring(), now=datetime.now(UTC), **args)
    assert signer.meaning and signer.actor == "n.bernard"
    with pytest.raises(ReauthenticationRequired):
        service.assert_action(session.token, **args)
    with pytest.raises(IdTokenRefused):
        service.assert_action(session.token, credential="a typed password", **args)


def test_a_half_configured_or_plain_http_provider_is_refused_clearly(tmp_path: Path) -> None:
    assert ProviderConfig.from_settings(Settings()) is None
    with pytest.raises(ValueError, match="needs CELLPATH_OIDC_CLIENT_ID"):
        ProviderConfig.from_settings(Settings(oidc_issuer="https://idp.test"))
    (tmp_path / "groups.yaml").write_text(MAPPING)
    mapping = GroupMapping.load(tmp_path / "groups.yaml")
    remote = HospitalLogin(ProviderConfig("http://idp.example.org", CLIENT_ID, None, mapping))
    with pytest.raises(ProviderUnavailable, match="not https"):
        remote.metadata()


def test_the_documented_mapping_file_loads_and_gives_every_role() -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "signin-groups.yaml"
    mapping = GroupMapping.load(example)
    granted = {role for grant in mapping.groups.values() for role in grant.roles}
    assert granted == set(Role)


def test_a_cli_signature_in_a_provider_session_logs_in_there_again(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.login import SignedIn

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    service = local_sign_in(settings)
    identity, when, _ = await_device_login(
        service.provider,  # type: ignore[arg-type]
        start_device_login(service.provider),  # type: ignore[arg-type]
        sleep=Waits(),
    )
    session = service.open_session(identity, authenticated_at=when, via=VIA_DEVICE)
    signed = SignedIn(service, session, "n.bernard", Role.CTU_TECHNICIAN)
    token = signed.sign("pathway-centre-a-X-1", "thaw_product", "u-2")
    assert "log in again" in capsys.readouterr().err
    signer = verify_assertion(
        token,
        service.keys.public_ring(),
        now=datetime.now(UTC),
        pathway_id="pathway-centre-a-X-1",
        action="thaw_product",
        update_id="u-2",
    )
    assert signer.actor == "n.bernard" and signer.meaning
