"""Loopback receivers for notification tests: a webhook endpoint and a minimal SMTP server.

Both listen on 127.0.0.1 on a free port, in a daemon thread, record what they receive and
answer as told (a status code, an SMTP reply). Reads are bounded in size and time, so a
broken client cannot hang a test run.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from models.notifications import Escalation
from models.roles import Role

MAX_BODY = 1_000_000
IO_TIMEOUT = 5.0


def escalation(level: int = 3, notify: list[Role] | None = None, **kw: Any) -> Escalation:
    return Escalation(
        pathway_id=kw.pop("pathway_id", "pathway-centre-a-LUP-201"),
        centre="centre-a",
        therapy="car-t",
        state="awaiting_mdtm",
        deadline_key=kw.pop("deadline_key", "work_up"),
        label=kw.pop("label", "Work-up due"),
        due_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        level=level,
        notify=notify if notify is not None else [Role.PROGRAMME_LEAD],
        waiting_on=Role.ARD_SPECIALIST,
        **kw,
    )


# ----- webhook --------------------------------------------------------------------------


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookSink:
    """``status`` answers every request; ``statuses`` (consumed first) answer the next ones.

    After ``hold()``, each request is recorded and then kept unanswered until ``release()``
    (a receiver that is slow for as long as the test needs, with no clock involved)."""

    url: str = ""
    status: int = 200
    statuses: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    held: threading.Event | None = None
    received: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self) -> None:
        self.held = threading.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()

    def keys(self) -> list[str]:
        return [p.headers.get("Idempotency-Key", "") for p in self.received]


@contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Serve ``server`` on a thread while the block runs; yields its port."""
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(IO_TIMEOUT)


@contextmanager
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()

    class Handler(BaseHTTPRequestHandler):
        timeout = IO_TIMEOUT

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length", 0)), MAX_BODY)
            body = self.rfile.read(length)
            with sink.lock:
                sink.received.append(Posted(self.path, dict(self.headers.items()), body))
                status = sink.statuses.pop(0) if sink.statuses else sink.status
            if sink.held is not None:
                sink.held.wait(IO_TIMEOUT)  # a forgotten release costs seconds, not a hang
            reply = json.dumps({"status": status}).encode()
            self.send_response(status)
            for key, value in sink.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        sink.url = f"http://127.0.0.1:{port}/hooks/cellpath-secret"
        try:
            yield sink
        finally:
            sink.release()


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# ----- smtp -----------------------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    """Speaks just enough ESMTP for smtplib (no STARTTLS, no AUTH).

    ``refuse`` lists recipients answered 550; ``data_reply`` answers the end of DATA."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse: set[str] = field(default_factory=set)
    data_reply: str = "250 2.0.0 queued"
    mails: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _address(argument: str) -> str:
    return argument.split(":", 1)[1].strip().split(" ", 1)[0].strip("<>")


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()

    class Handler(socketserver.StreamRequestHandler):
        timeout = IO_TIMEOUT

        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def read_data(self) -> bytes | None:
            lines: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(MAX_BODY)
                if not line:
                    return None
                if line in (b".\r\n", b".\n"):
                    return b"".join(lines)
                size += len(line)
                if size > MAX_BODY:
                    return None
                lines.append(line[1:] if line.startswith(b"..") else line)

        def handle(self) -> None:
            sender = ""
            recipients: list[str] = []
            self.reply("220 sink.test ESMTP")
            while True:
                raw = self.rfile.readline(1000)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-sink.test")
                    self.reply("250 8BITMIME")
                elif verb == "HELO":
                    self.reply("250 sink.test")
                elif verb == "MAIL":
                    sender, recipients = _address(line), []
                    self.reply("250 2.1.0 ok")
                elif verb == "RCPT":
                    address = _address(line)
                    if address in sink.refuse:
                        self.reply("550 5.1.1 no such user")
                    else:
                        recipients.append(address)
                        self.reply("250 2.1.5 ok")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    data = self.read_data()
                    if data is None:
                        return
                    if sink.data_reply.startswith("250"):
                        message = email.message_from_bytes(data, policy=email.policy.default)
                        assert isinstance(message, EmailMessage)
                        with sink.lock:
                            sink.mails.append(Mail(sender, recipients, message))
                    self.reply(sink.data_reply)
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 ok")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 5.5.2 not implemented")

    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)) as port:
        sink.port = port
        yield sink
