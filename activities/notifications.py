"""Notification activities: tell the right people that a deadline was missed.

A ``Channel`` delivers one escalation: ``LogChannel`` (the structured log; the default and
the fallback), ``WebhookChannel`` (a JSON POST) or ``SmtpChannel`` (e-mail to the addresses
of the roles on the ladder). ``channel_from_env`` builds one from ``CELLPATH_NOTIFY_*``
settings and refuses a missing or malformed one at worker start, naming the variable.

Usage (worker)::

    notifications = Notifications(channel_from_env())
    Worker(..., activities=[notifications.notify_escalation, notifications.notify_fallback])

Failures are ``ApplicationError``s that the workflow's retry policy understands: type
``NotificationUndelivered`` (retried: network error, timeout, HTTP 5xx/408/429, SMTP 4xx)
or ``NotificationRejected`` / ``NoRecipients`` (non-retryable: a request the receiver will
never accept, or no address for anyone). When retries run out, or at once for a
non-retryable error, the workflow sends the escalation through ``notify_fallback``.

Limitations: deliveries are idempotent per channel instance (one worker process, the last
10,000 keys). Across workers the receiver must deduplicate: webhooks get an
``Idempotency-Key`` header, e-mails a ``Message-ID`` derived from the same key. urllib and
smtplib block, so they run in a thread; cancelling an activity does not recall a request
already sent (the channel's timeout bounds it).
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import http.client
import json
import os
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Protocol

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.notifications import Escalation, NotificationReceipt
from models.roles import Role

log = structlog.get_logger("cellpath.notifications")

UNDELIVERED = "NotificationUndelivered"
REJECTED = "NotificationRejected"
NO_RECIPIENTS = "NoRecipients"

CHANNELS = ("log", "webhook", "smtp")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
# Folding a long header with no spaces (the idempotency key) would give it a leading space
# on the receiving side; RFC 5322 allows lines up to 998 characters.
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)
_RECIPIENTS_EXAMPLE = '{"programme_lead": ["lead@hospital.example"]}'


class Channel(Protocol):
    name: str

    async def deliver(self, escalation: Escalation) -> None: ...


def undelivered(message: str, *, retry_after: timedelta | None = None) -> ApplicationError:
    return ApplicationError(message, type=UNDELIVERED, next_retry_delay=retry_after)


def rejected(message: str, *, type: str = REJECTED) -> ApplicationError:
    return ApplicationError(message, type=type, non_retryable=True)


def _attempt() -> dict[str, Any]:
    if not activity.in_activity():
        return {}
    info = activity.info()
    return {"attempt": info.attempt, "workflow_id": info.workflow_id}


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----- log ------------------------------------------------------------------------------


class LogChannel:
    """Writes each escalation to the structured log (the default, and the fallback)."""

    name = "log"

    async def deliver(self, escalation: Escalation) -> None:
        log.warning(
            "deadline escalation",
            pathway_id=escalation.pathway_id,
            centre=escalation.centre,
            deadline=escalation.deadline_key,
            level=escalation.level,
            notify=[r.value for r in escalation.notify],
            text=escalation.text(),
        )


# ----- webhook --------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body: a "success" that
    # delivered nothing. A redirect is refused instead, and reported.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookChannel:
    """POSTs each escalation as JSON to one URL (chat bridge, paging service, ticketing).

    The body is the escalation (``model_dump(mode="json")``) plus ``text`` and
    ``idempotency_key``; the key is also sent as the ``Idempotency-Key`` header. Any 2xx
    is delivered. Redirects are not followed; 4xx other than 408/429 is not retried.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook URL must look like https://host/path")
        if timeout <= 0:
            raise ValueError(f"webhook timeout must be positive, got {timeout}")
        extra = dict(headers or {})
        for key, value in extra.items():
            if any(c in key + value for c in "\r\n") or not key.strip():
                raise ValueError(f"webhook header {key!r} is empty or contains a line break")
        self.url = url
        self.timeout = timeout
        # Webhook paths and queries often carry a secret: messages and logs show the origin.
        self.target = _origin(url)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, */*;q=0.5",
            "User-Agent": "cellpath-notifications",
            **extra,
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(_NoRedirect())
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            log.warning("webhook URL is not https; escalations travel in clear", target=self.target)

    @staticmethod
    def body(escalation: Escalation) -> dict[str, Any]:
        body = escalation.model_dump(mode="json")
        body["text"] = escalation.text()
        body["idempotency_key"] = escalation.idempotency_key
        return body

    async def deliver(self, escalation: Escalation) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.body(escalation)).encode(),
            headers={**self._headers, "Idempotency-Key": escalation.idempotency_key},
            method="POST",
        )
        await asyncio.to_thread(self._post, request, _retry_after_cap())

    def _post(self, request: urllib.request.Request, cap: timedelta) -> None:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(64 * 1024)
        except urllib.error.HTTPError as err:
            try:
                raise self._refusal(err, cap) from None
            finally:
                err.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise undelivered(
                f"webhook {self.target} unreachable: {_one_line(str(reason)) or type(reason).__name__}"
            ) from err

    def _refusal(self, err: urllib.error.HTTPError, cap: timedelta) -> ApplicationError:
        status = err.code
        try:
            said = _one_line(err.read(1024).decode("utf-8", "replace"))[:200]
        except (OSError, http.client.HTTPException):
            said = ""
        answer = f"webhook {self.target} answered {status} {err.reason}" + (
            f": {said}" if said else ""
        )
        if 300 <= status < 400:
            where = _origin(_header(err, "Location") or "") or "elsewhere"
            return rejected(f"{answer} (redirect to {where} not followed: configure the final URL)")
        if 400 <= status < 500 and status not in (408, 429):
            return rejected(
                f"{answer}; a refused request is not retried: check the webhook URL, token "
                "and the receiver's expected payload"
            )
        return undelivered(answer, retry_after=_retry_after(_header(err, "Retry-After"), cap))


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _header(err: urllib.error.HTTPError, name: str) -> str | None:
    return err.headers.get(name) if err.headers is not None else None


def _retry_after_cap() -> timedelta:
    # A receiver asking for an hour's pause must not hold an escalation past the protocol's
    # own retry ceiling.
    if activity.in_activity():
        policy = activity.info().retry_policy
        if policy and policy.maximum_interval:
            return policy.maximum_interval
    return timedelta(minutes=5)


def _retry_after(value: str | None, cap: timedelta) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), cap)


# ----- smtp -----------------------------------------------------------------------------


def _address(value: object, where: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        raise ValueError(f"{where}: {value!r} is not an e-mail address like name@host")
    return value.strip()


class SmtpChannel:
    """E-mails each escalation to the addresses of the roles it names.

    Roles without an address are covered by ``default_to`` (a shared mailbox); with no
    address for any role the delivery fails non-retryably, naming the roles, so the
    workflow falls back rather than dropping it. The ``Message-ID`` is derived from the
    escalation's idempotency key, so a receiving system can deduplicate across workers.
    Credentials are only sent over STARTTLS.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        recipients_by_role: Mapping[Role, Sequence[str]] | None = None,
        default_to: Sequence[str] = (),
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not host.strip():
            raise ValueError("SMTP host is required")
        if not 0 < port < 65536:
            raise ValueError(f"SMTP port must be 1-65535, got {port}")
        if timeout <= 0:
            raise ValueError(f"SMTP timeout must be positive, got {timeout}")
        if bool(username) != bool(password):
            raise ValueError("SMTP username and password go together")
        if username and not starttls:
            raise ValueError("SMTP credentials need STARTTLS (they would travel in clear)")
        self.host = host.strip()
        self.port = port
        self.sender = _address(sender, "SMTP sender")
        self.recipients_by_role: dict[Role, list[str]] = {}
        for key, addresses in (recipients_by_role or {}).items():
            try:
                role = Role(key)
            except ValueError:
                raise ValueError(
                    f"unknown role {key!r} in SMTP recipients; roles: {', '.join(Role)}"
                ) from None
            if isinstance(addresses, str):
                addresses = [addresses]
            found = [_address(a, f"SMTP recipients for {role.value}") for a in addresses]
            if found:
                self.recipients_by_role[role] = found
        self.default_to = [_address(a, "SMTP default recipient") for a in default_to]
        if not self.recipients_by_role and not self.default_to:
            raise ValueError("SMTP channel needs recipients by role or a default recipient")
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.domain = self.sender.rsplit("@", 1)[1]

    def recipients(self, escalation: Escalation) -> tuple[list[str], list[Role]]:
        """The addresses to write to, and the roles that had none of their own."""
        addresses: list[str] = []
        unaddressed: list[Role] = []
        for role in escalation.notify:
            found = self.recipients_by_role.get(role, [])
            addresses += found
            if not found:
                unaddressed.append(role)
        if unaddressed or not escalation.notify:
            addresses += self.default_to
        return list(dict.fromkeys(addresses)), unaddressed

    def message_id(self, escalation: Escalation) -> str:
        digest = hashlib.sha256(escalation.idempotency_key.encode()).hexdigest()[:32]
        return f"<cellpath.{digest}@{self.domain}>"

    def message(self, escalation: Escalation) -> tuple[EmailMessage, list[str]]:
        addresses, unaddressed = self.recipients(escalation)
        if not addresses:
            roles = ", ".join(r.value for r in unaddressed) or "(none named)"
            raise rejected(
                f"no e-mail address for the roles of {escalation.pathway_id} "
                f"{escalation.deadline_key} level {escalation.level}: {roles}; add them to "
                "CELLPATH_SMTP_RECIPIENTS or set CELLPATH_SMTP_DEFAULT_TO",
                type=NO_RECIPIENTS,
            )
        if unaddressed:
            log.warning(
                "no e-mail address for some roles",
                pathway_id=escalation.pathway_id,
                deadline=escalation.deadline_key,
                roles=[r.value for r in unaddressed],
                default_to=bool(self.default_to),
            )
        body = escalation.text()
        if unaddressed:
            who = ", ".join(r.label for r in unaddressed)
            body += f"\n\nNo e-mail address is configured for: {who}. Please pass this on."
        msg = EmailMessage(policy=_MAIL_POLICY)
        msg["Subject"] = _one_line(
            f"[cellpath] {escalation.pathway_id}: {escalation.label} "
            f"- escalation level {escalation.level}"
        )
        msg["From"] = self.sender
        msg["To"] = ", ".join(addresses)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = self.message_id(escalation)
        # RFC 3834: an automatic message; vacation responders stay quiet.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Cellpath-Idempotency-Key"] = escalation.idempotency_key
        msg["X-Cellpath-Pathway"] = escalation.pathway_id
        msg["X-Cellpath-Escalation-Level"] = str(escalation.level)
        msg.set_content(body)
        return msg, addresses

    async def deliver(self, escalation: Escalation) -> None:
        msg, addresses = self.message(escalation)
        refused = await asyncio.to_thread(self._send, msg, addresses)
        if refused:
            log.warning(
                "mail server refused some recipients",
                pathway_id=escalation.pathway_id,
                refused={a: code for a, (code, _) in refused.items()},
            )

    def _send(self, msg: EmailMessage, addresses: list[str]) -> dict[str, tuple[int, bytes]]:
        server = f"SMTP {self.host}:{self.port}"
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                return smtp.send_message(msg, from_addr=self.sender, to_addrs=addresses)
            finally:
                # Not `with`: a bad reply to QUIT after an accepted message would raise,
                # and the retry would send the message twice.
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPRecipientsRefused as err:
            codes = {a: code for a, (code, _) in err.recipients.items()}
            text = f"{server} refused every recipient: {codes}"
            permanent = all(c >= 500 for c in codes.values())
            raise (rejected(text) if permanent else undelivered(text)) from None
        except smtplib.SMTPNotSupportedError as err:
            raise rejected(f"{server}: {err} (STARTTLS required by configuration)") from None
        except smtplib.SMTPAuthenticationError as err:
            # Repeating a wrong password can lock the account: fall back at once.
            raise rejected(f"{server} refused the credentials ({err.smtp_code})") from None
        except smtplib.SMTPResponseException as err:
            said = (
                err.smtp_error.decode("utf-8", "replace")
                if isinstance(err.smtp_error, bytes)
                else str(err.smtp_error)
            )
            text = f"{server} answered {err.smtp_code} {_one_line(said)[:200]}"
            raise (rejected(text) if err.smtp_code >= 500 else undelivered(text)) from None
        except ssl.SSLCertVerificationError as err:
            raise rejected(f"{server}: certificate not trusted ({err.verify_message})") from None
        except (smtplib.SMTPException, OSError) as err:
            raise undelivered(
                f"{server} unreachable: {_one_line(str(err)) or type(err).__name__}"
            ) from err


# ----- configuration --------------------------------------------------------------------


def channel_from_env(env: Mapping[str, str] | None = None) -> Channel:
    """The channel that ``CELLPATH_NOTIFY_CHANNEL`` names, from its settings.

    ``log`` (default): no settings.
    ``webhook``: ``CELLPATH_WEBHOOK_URL`` (required), ``CELLPATH_WEBHOOK_TOKEN`` (sent as
    ``Authorization: Bearer``).
    ``smtp``: ``CELLPATH_SMTP_HOST`` and ``CELLPATH_SMTP_FROM`` (required),
    ``CELLPATH_SMTP_STARTTLS`` (default true), ``CELLPATH_SMTP_PORT`` (default 587 with
    STARTTLS, else 25), ``CELLPATH_SMTP_USER`` / ``CELLPATH_SMTP_PASSWORD``,
    ``CELLPATH_SMTP_RECIPIENTS`` (JSON, role → addresses) and ``CELLPATH_SMTP_DEFAULT_TO``
    (comma-separated, for roles without addresses): at least one of these two.
    """
    env = os.environ if env is None else env
    name = env.get("CELLPATH_NOTIFY_CHANNEL", "").strip().lower() or "log"
    if name == "log":
        return LogChannel()
    if name == "webhook":
        url = _required(env, "CELLPATH_WEBHOOK_URL", name)
        try:
            return WebhookChannel(url, token=env.get("CELLPATH_WEBHOOK_TOKEN", "").strip() or None)
        except ValueError as err:
            raise ValueError(f"CELLPATH_WEBHOOK_URL: {err}") from None
    if name == "smtp":
        return _smtp_from_env(env)
    raise ValueError(
        f"unknown notification channel {name!r} (CELLPATH_NOTIFY_CHANNEL); use one of: "
        + ", ".join(CHANNELS)
    )


def _required(env: Mapping[str, str], key: str, channel: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise ValueError(f"{key} is required when CELLPATH_NOTIFY_CHANNEL={channel}")
    return value


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = env.get(key, "").strip().lower()
    if not value:
        return default
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValueError(f"{key} must be true or false, got {value!r}")


def _smtp_from_env(env: Mapping[str, str]) -> SmtpChannel:
    host = _required(env, "CELLPATH_SMTP_HOST", "smtp")
    sender = _address(_required(env, "CELLPATH_SMTP_FROM", "smtp"), "CELLPATH_SMTP_FROM")
    starttls = _flag(env, "CELLPATH_SMTP_STARTTLS", default=True)
    raw_port = env.get("CELLPATH_SMTP_PORT", "").strip()
    try:
        port = int(raw_port) if raw_port else (587 if starttls else 25)
    except ValueError:
        raise ValueError(f"CELLPATH_SMTP_PORT must be a number, got {raw_port!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"CELLPATH_SMTP_PORT must be 1-65535, got {port}")
    username = env.get("CELLPATH_SMTP_USER", "").strip() or None
    password = env.get("CELLPATH_SMTP_PASSWORD") or None
    if username and not password:
        raise ValueError("CELLPATH_SMTP_PASSWORD is required when CELLPATH_SMTP_USER is set")
    if password and not username:
        raise ValueError("CELLPATH_SMTP_USER is required when CELLPATH_SMTP_PASSWORD is set")
    if username and not starttls:
        raise ValueError(
            "CELLPATH_SMTP_STARTTLS must be true when CELLPATH_SMTP_USER is set "
            "(credentials would travel in clear)"
        )
    recipients = _recipients_from_json(env.get("CELLPATH_SMTP_RECIPIENTS", "").strip())
    default_to = [
        _address(a, "CELLPATH_SMTP_DEFAULT_TO")
        for a in env.get("CELLPATH_SMTP_DEFAULT_TO", "").split(",")
        if a.strip()
    ]
    if not recipients and not default_to:
        raise ValueError(
            "CELLPATH_SMTP_RECIPIENTS or CELLPATH_SMTP_DEFAULT_TO is required when "
            f"CELLPATH_NOTIFY_CHANNEL=smtp (e.g. CELLPATH_SMTP_RECIPIENTS='{_RECIPIENTS_EXAMPLE}')"
        )
    return SmtpChannel(
        host,
        port,
        sender=sender,
        recipients_by_role=recipients,
        default_to=default_to,
        starttls=starttls,
        username=username,
        password=password,
    )


def _recipients_from_json(raw: str) -> dict[Role, list[str]]:
    key = "CELLPATH_SMTP_RECIPIENTS"
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{key} is not valid JSON ({err.msg} at character {err.pos}); "
            f"expected e.g. {_RECIPIENTS_EXAMPLE}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{key} must be a JSON object of role to addresses, e.g. {_RECIPIENTS_EXAMPLE}"
        )
    recipients: dict[Role, list[str]] = {}
    for name, addresses in data.items():
        try:
            role = Role(name)
        except ValueError:
            raise ValueError(f"{key}: unknown role {name!r}; roles: {', '.join(Role)}") from None
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list):
            raise ValueError(f"{key}[{name}] must be a list of addresses")
        if addresses:
            recipients[role] = [_address(a, f"{key}[{name}]") for a in addresses]
    return recipients


# ----- activities -----------------------------------------------------------------------


class _Once:
    """Delivers each key once: remembers the last ``limit`` delivered keys, and makes a
    concurrent attempt for a key in flight wait for that delivery instead of repeating it."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._done: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def run(self, key: str, deliver: Callable[[], Awaitable[None]]) -> bool:
        """True if this call delivered, False if the key was already delivered."""
        if key in self._done:
            return False
        task = self._inflight.get(key)
        mine = task is None
        if task is None:
            task = asyncio.ensure_future(deliver())
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        # A cancelled activity (worker shutdown, timeout) leaves a delivery that has started
        # to finish, so that it is recorded and not repeated by the next attempt.
        await asyncio.shield(task)
        return mine

    def _finished(self, key: str, task: asyncio.Future[None]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[key] = None
        while len(self._done) > self.limit:
            self._done.popitem(last=False)


class Notifications:
    """The two notification activities over a primary channel and a fallback (log)."""

    def __init__(self, channel: Channel, fallback: Channel | None = None):
        self.channel = channel
        self.fallback = fallback or LogChannel()
        self._once: dict[int, _Once] = {id(self.channel): _Once()}
        self._once.setdefault(id(self.fallback), _Once())

    async def _send(self, channel: Channel, escalation: Escalation) -> NotificationReceipt:
        key = escalation.idempotency_key
        fields = {
            "channel": channel.name,
            "pathway_id": escalation.pathway_id,
            "deadline": escalation.deadline_key,
            "level": escalation.level,
            **_attempt(),
        }
        try:
            sent = await self._once[id(channel)].run(key, lambda: channel.deliver(escalation))
        except Exception as err:
            retry = not (isinstance(err, ApplicationError) and err.non_retryable)
            log.warning("notification not delivered", error=str(err), retry=retry, **fields)
            raise
        log.info("notification delivered" if sent else "notification already delivered", **fields)
        return NotificationReceipt(channel=channel.name, key=key, delivered_at=datetime.now(UTC))

    @activity.defn(name="notify_escalation")
    async def notify_escalation(self, escalation: Escalation) -> NotificationReceipt:
        return await self._send(self.channel, escalation)

    @activity.defn(name="notify_fallback")
    async def notify_fallback(self, escalation: Escalation) -> NotificationReceipt:
        log.error(
            "primary notification channel failed; escalation sent through fallback",
            primary=self.channel.name,
            pathway_id=escalation.pathway_id,
            deadline=escalation.deadline_key,
        )
        return await self._send(self.fallback, escalation)
