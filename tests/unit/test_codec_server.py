"""The codec server on Temporal's remote codec contract: what the Web UI sends, the CORS
answers it needs, and who is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from starlette.applications import Starlette
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

import store
from devtools.codec_server import CodecServerError, app_from_settings, create_app, running
from models.carried import ProtocolRef, content_hash, protocol_body
from models.encryption import ENCODING, EncryptionCodec, KeyRing
from models.pathway import PathwayInput
from models.protocol import Therapy, load_default_protocol
from models.protocol_claim_check import (
    PROTOCOL_HASH,
    ProtocolClaimCheck,
    ShelfOf,
    claim_checked,
)
from models.settings import Settings
from store.facts import ProtocolVersion
from tests.unit.test_lean_runs import stored_record

UI = "http://localhost:8233"
TOKEN = "s3cret-token-for-tests"


def as_json(*payloads: Payload) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def from_json(body: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in body["payloads"]]


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec(KeyRing.generate("k1"))


def client_for(
    app: Starlette, base_url: str = "http://codec.hospital.example"
) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def http(codec: EncryptionCodec) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(codec, token=TOKEN, origins=[UI], namespaces=["default"])
    async with client_for(app) as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}


class TestContract:
    """POST /encode and /decode take and return {"payloads": [...]} in protobuf JSON."""

    async def test_decode_what_the_worker_encrypted(
        self, http: httpx.AsyncClient, codec: EncryptionCodec
    ) -> None:
        sealed = await codec.encode([plain("LUP-002"), plain("grade 2")])
        response = await http.post("/decode", json=as_json(*sealed), headers=AUTH)
        assert response.status_code == 200
        assert from_json(response.json()) == [plain("LUP-002"), plain("grade 2")]

    async def test_encode_then_decode(
        self, http: httpx.AsyncClient, codec: EncryptionCodec
    ) -> None:
        response = await http.post("/encode", json=as_json(plain("signal input")), headers=AUTH)
        assert response.status_code == 200
        [sealed] = from_json(response.json())
        assert sealed.metadata["encoding"] == ENCODING
        assert await codec.decode([sealed]) == [plain("signal input")]

    async def test_empty_batch(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/decode", json={"payloads": []}, headers=AUTH)
        assert response.json() == {"payloads": []}

    async def test_unknown_key_is_a_clear_422(self, http: httpx.AsyncClient) -> None:
        other = EncryptionCodec(KeyRing.generate("retired"))
        sealed = other.encrypt(plain("x"))
        response = await http.post("/decode", json=as_json(sealed), headers=AUTH)
        assert response.status_code == 422
        assert "'retired'" in response.json()["error"]

    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            (b'{"payloads": [{"data": 5}]}', "application/json", 400),
            (b"not json", "application/json", 400),
            (b'{"payloads": []}', "text/plain", 415),
        ],
    )
    async def test_bad_requests(
        self, http: httpx.AsyncClient, body: bytes, content_type: str, status: int
    ) -> None:
        response = await http.post(
            "/decode", content=body, headers={**AUTH, "Content-Type": content_type}
        )
        assert response.status_code == status

    async def test_oversized_body(self, codec: EncryptionCodec) -> None:
        app = create_app(codec, token=TOKEN, origins=[UI], max_body_bytes=1000)
        async with client_for(app) as client:
            response = await client.post("/decode", json=as_json(plain("x" * 2000)), headers=AUTH)
        assert response.status_code == 413

    async def test_only_post(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/decode", headers=AUTH)).status_code == 405


class TestAuthorisation:
    """A bearer token is required; without a configured one, only the loopback dev mode
    answers."""

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"],
    )
    async def test_missing_or_wrong_token_is_401(
        self, http: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = await http.post("/decode", json={"payloads": []}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_scheme_is_case_insensitive(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/decode", json={"payloads": []}, headers={"Authorization": f"bearer {TOKEN}"}
        )
        assert response.status_code == 200

    async def test_other_namespace_is_403(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/decode", json={"payloads": []}, headers={**AUTH, "X-Namespace": "research"}
        )
        assert response.status_code == 403

    async def test_no_token_and_not_dev_refuses_everything(self, codec: EncryptionCodec) -> None:
        app = create_app(codec, token=None, origins=[UI])
        async with client_for(app, base_url="http://127.0.0.1:8081") as client:
            response = await client.post("/decode", json={"payloads": []})
        assert response.status_code == 401

    async def test_dev_mode_on_loopback_needs_no_token(self, codec: EncryptionCodec) -> None:
        app = app_from_settings(Settings(), host="127.0.0.1", dev=True, codec=codec)
        async with client_for(app, base_url="http://127.0.0.1:8081") as client:
            assert (await client.post("/decode", json={"payloads": []})).status_code == 200
            # DNS rebinding: a page on evil.example resolving to 127.0.0.1
            rebound = await client.post(
                "/decode", json={"payloads": []}, headers={"Host": "evil.example:8081"}
            )
            assert rebound.status_code == 403

    async def test_dev_mode_still_honours_a_configured_token(self, codec: EncryptionCodec) -> None:
        settings = Settings(codec_token=TOKEN)  # type: ignore[arg-type]
        app = app_from_settings(settings, host="127.0.0.1", dev=True, codec=codec)
        async with client_for(app, base_url="http://127.0.0.1:8081") as client:
            assert (await client.post("/decode", json={"payloads": []})).status_code == 401

    @pytest.mark.parametrize(("host", "dev"), [("0.0.0.0", True), ("127.0.0.1", False)])
    async def test_refuses_to_start_open(
        self, codec: EncryptionCodec, host: str, dev: bool
    ) -> None:
        with pytest.raises(CodecServerError, match="CELLPATH_CODEC_TOKEN"):
            app_from_settings(Settings(), host=host, dev=dev, codec=codec)

    async def test_refuses_to_start_without_a_key(self, tmp_path: Any) -> None:
        with pytest.raises(CodecServerError, match="no encryption key"):
            app_from_settings(Settings(state_dir=tmp_path), host="127.0.0.1", dev=True)


class TestCors:
    """The Web UI's origin, and only it, may call from the browser, with credentials and
    the headers the UI sends."""

    async def test_preflight_from_the_ui(self, http: httpx.AsyncClient) -> None:
        response = await http.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == UI
        assert response.headers["access-control-allow-credentials"] == "true"
        allowed = response.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "x-namespace"):
            assert header in allowed
        assert "POST" in response.headers["access-control-allow-methods"]

    async def test_preflight_from_elsewhere_is_refused(self, http: httpx.AsyncClient) -> None:
        response = await http.options(
            "/decode",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers

    async def test_post_from_the_ui_carries_cors_headers(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/decode", json={"payloads": []}, headers={**AUTH, "Origin": UI})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == UI

    async def test_post_from_elsewhere_is_403_even_with_the_token(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.post(
            "/decode", json={"payloads": []}, headers={**AUTH, "Origin": "https://evil.example"}
        )
        assert response.status_code == 403

    async def test_a_401_is_readable_by_the_ui(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/decode", json={"payloads": []}, headers={"Origin": UI})
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == UI


async def test_served_over_http_in_the_event_loop(codec: EncryptionCodec) -> None:
    """The embedded server (as the dev stack runs it) answers on a real socket."""
    app = create_app(codec, token=TOKEN, origins=[UI])
    sealed = codec.encrypt(plain("over the wire"))
    async with running(app, port=0) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/decode", json=as_json(sealed), headers=AUTH)
    assert from_json(response.json()) == [plain("over the wire")]


async def test_claim_checked_payloads_are_shown_whole(
    codec: EncryptionCodec, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload whose protocol a worker kept in the record store (the protocol claim
    check) is shown with its protocol, read back from the configured store; without the
    protocol there, as it is (its hash in the metadata)."""

    protocol = load_default_protocol(Therapy.CAR_T)
    carried = PathwayInput(
        protocol=protocol, protocol_ref=ProtocolRef.of(protocol), record=stored_record()
    )
    converter = pydantic_data_converter.payload_converter
    marked = claim_checked(carried, converter, "protocol").payload
    [sealed] = await ProtocolClaimCheck(ShelfOf(), inner=codec).encode([marked])
    url = f"sqlite:///{tmp_path / 'records.db'}"
    monkeypatch.setenv("CELLPATH_DATABASE_URL", url)
    store.upgrade(url)
    app = app_from_settings(Settings(state_dir=tmp_path), host="127.0.0.1", dev=True, codec=codec)
    async with client_for(app, base_url="http://127.0.0.1:8081") as http:
        response = await http.post("/decode", json=as_json(sealed))
        [shown] = from_json(response.json())
        assert shown.metadata[PROTOCOL_HASH].decode() == content_hash(protocol_body(protocol))
        records = store.RecordStore.open(url, codec=None)
        records.add_protocol(ProtocolVersion.of(protocol))
        records.dispose()
        response = await http.post("/decode", json=as_json(sealed))
        [whole] = from_json(response.json())
    assert converter.from_payloads([whole], [PathwayInput]) == [carried]
