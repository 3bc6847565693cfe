"""The codec server: lets the Temporal Web UI and CLI show decrypted payloads to authorised
users, while the Temporal database holds only ciphertext.

Usage::

    cellpath codec-server                       # CELLPATH_CODEC_HOST:CELLPATH_CODEC_PORT
    temporal workflow show -w pathway-centre-a-LUP-002 \\
        --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer $CELLPATH_CODEC_TOKEN"

    app = create_app(codec, token="…", origins=["https://temporal.hospital.example"])

It speaks Temporal's remote codec contract: ``POST /encode`` and ``POST /decode`` take and
return ``{"payloads": [...]}`` (payloads in protobuf JSON, bytes as base64). Browsers get the
CORS answers the Web UI needs: its origin only, credentials allowed, and the headers it sends
(``Content-Type``, ``X-Namespace``, ``Authorization``, ``Authorization-Extras``).

Authorisation: ``Authorization: Bearer <CELLPATH_CODEC_TOKEN>``; anything else gets 401.
Only in dev mode, bound to a loopback address and with no token configured, are requests
accepted without one (the dev stack's UI runs on plain http, where the UI will not send a
token); then the ``Host`` must be a loopback name, against DNS rebinding. ``serve`` refuses
to start in any other configuration without a token.

Payloads that a worker claim-checked (a run's input, a store write: their protocol kept in
the record store, the rest compressed) are shown whole: the protocol is read back from the
configured record store (``CELLPATH_DATABASE_URL``, else the state dir's).

Limitations: one static token, not per-user identities: in production put the server behind
the hospital's authenticating HTTPS reverse proxy, which can inject the token and keep the
access log of who decoded what. ``X-Namespace`` is checked only when
``CELLPATH_CODEC_NAMESPACES`` is set.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from client.records import open_reader
from models.encryption import DecryptionError, codec_from_settings
from models.protocol_claim_check import ProtocolClaimCheck
from models.settings import Settings
from store.protocol_shelf import ReaderShelf

#: A request carries a batch of payloads; Temporal limits each payload to 2 MiB by default.
MAX_BODY_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = ["Authorization", "Authorization-Extras", "Content-Type", "X-Namespace"]


class CodecServerError(ValueError):
    """The codec server cannot start with this configuration (one line for the terminal)."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """The host name of a ``Host`` header (``[::1]:8081`` → ``::1``, ``a:8081`` → ``a``)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def create_app(
    codec: PayloadCodec,
    *,
    token: str | None,
    origins: Sequence[str],
    namespaces: Sequence[str] | None = None,
    allow_unauthenticated: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The ASGI app. ``allow_unauthenticated`` is for the loopback dev stack only."""
    if token is not None and not token.strip():
        raise CodecServerError("the codec server token is empty")
    expected = token.encode() if token else None
    allowed_origins = {o.rstrip("/") for o in origins}

    def refuse(request: Request) -> Response | None:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in allowed_origins:
            return _error(403, f"origin {origin} is not allowed")
        if expected is not None:
            scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected
            ):
                return _error(
                    401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"}
                )
        elif not allow_unauthenticated:
            return _error(
                401,
                "this codec server has no token configured (CELLPATH_CODEC_TOKEN)",
                **{"WWW-Authenticate": "Bearer"},
            )
        elif not is_loopback(_hostname(request.headers.get("host", ""))):
            return _error(403, "without a token, only loopback host names are served")
        namespace = request.headers.get("x-namespace")
        if namespaces is not None and namespace is not None and namespace not in namespaces:
            return _error(403, f"namespace {namespace!r} is not served by this codec server")
        return None

    async def convert(request: Request, decode: bool) -> Response:
        refused = refuse(request)
        if refused is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "send Content-Type: application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _error(413, f"body over {max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return _error(413, f"body over {max_body_bytes} bytes")
        try:
            payloads = json_format.Parse(bytes(body), Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as err:
            return _error(400, f'expected {{"payloads": [...]}}: {str(err)[:200]}')
        try:
            if decode:
                result = await codec.decode(list(payloads.payloads))
            else:
                result = await codec.encode(list(payloads.payloads))
        except DecryptionError as err:
            return _error(422, str(err))
        return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in result]})

    async def encode(request: Request) -> Response:
        return await convert(request, decode=False)

    async def decode(request: Request) -> Response:
        return await convert(request, decode=True)

    return Starlette(
        routes=[
            Route("/encode", encode, methods=["POST"]),
            Route("/decode", decode, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=sorted(allowed_origins),
                allow_methods=["POST"],
                allow_headers=ALLOWED_HEADERS,
                allow_credentials=True,
                max_age=600,
            )
        ],
    )


def app_from_settings(
    settings: Settings,
    *,
    host: str,
    dev: bool = False,
    codec: PayloadCodec | None = None,
    extra_origins: Sequence[str] = (),
) -> Starlette:
    """The app for ``settings``; refuses what would serve plaintext to anyone."""
    codec = codec or codec_from_settings(settings)
    if codec is None:
        raise CodecServerError(
            "no encryption key is configured: set CELLPATH_ENCRYPTION_KEYS or "
            "CELLPATH_ENCRYPTION_KEY_FILE (the same keys as the workers)"
        )
    # The protocols that workers keep out of history (models/protocol_claim_check.py), read
    # back from the record store; a payload whose protocol it cannot read is shown as it is.
    codec = ProtocolClaimCheck(ReaderShelf(open_reader(settings)), inner=codec, lenient=True)
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    if token is None and not (dev and is_loopback(host)):
        raise CodecServerError(
            "set CELLPATH_CODEC_TOKEN: without a token the codec server runs only with --dev "
            f"on a loopback address (not {host})"
        )
    return create_app(
        codec,
        token=token,
        origins=[*settings.ui_origins, *extra_origins],
        namespaces=settings.codec_namespace_list,
        allow_unauthenticated=token is None,
    )


def serve(
    settings: Settings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    dev: bool = False,
) -> None:
    """Run the codec server in the foreground until Ctrl-C (``cellpath codec-server``)."""
    settings = settings or Settings.from_env()
    host = host or settings.codec_host
    port = settings.codec_port if port is None else port
    app = app_from_settings(settings, host=host, dev=dev)
    if bool(settings.codec_tls_cert) != bool(settings.codec_tls_key):
        raise CodecServerError("set both CELLPATH_CODEC_TLS_CERT and CELLPATH_CODEC_TLS_KEY")
    uvicorn.run(
        app,
        host=host,
        port=port,
        server_header=False,
        ssl_certfile=str(settings.codec_tls_cert) if settings.codec_tls_cert else None,
        ssl_keyfile=str(settings.codec_tls_key) if settings.codec_tls_key else None,
    )


class _HostedServer(uvicorn.Server):
    """uvicorn inside an event loop that owns Ctrl-C and SIGTERM (the dev stack's)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def running(app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` in this event loop while the block runs; yields its base URL.

    Binds before returning, so a taken port fails here (``OSError``), not in the background.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    server = _HostedServer(
        uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise CodecServerError("the codec server stopped at start")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()
