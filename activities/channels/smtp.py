"""The SMTP channel: each escalation e-mailed to the addresses of the roles it names.

Usage::

    channel = SmtpChannel(
        "smtp.hospital.example",
        sender="cellpath@hospital.example",
        recipients_by_role={Role.PROGRAMME_LEAD: ["lead@hospital.example"]},
    )
    await channel.deliver(escalation)

The ``Message-ID`` is derived from the escalation's idempotency key, so a receiving system
can deduplicate across workers. smtplib blocks, so sending runs in a thread; cancelling the
activity does not recall a message already sent (``timeout`` bounds it).
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate

import structlog

from activities.channels import NO_RECIPIENTS, one_line, rejected, undelivered
from models.notifications import Escalation
from models.roles import Role

log = structlog.get_logger("cellpath.notifications")

_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
# Folding a long header with no spaces (the idempotency key) would give it a leading space
# on the receiving side; RFC 5322 allows lines up to 998 characters.
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)


def mail_address(value: object, where: str) -> str:
    """``value`` as one e-mail address (``name@host``), or a ValueError naming ``where``."""
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
        self.sender = mail_address(sender, "SMTP sender")
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
            found = [mail_address(a, f"SMTP recipients for {role.value}") for a in addresses]
            if found:
                self.recipients_by_role[role] = found
        self.default_to = [mail_address(a, "SMTP default recipient") for a in default_to]
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
        msg["Subject"] = one_line(
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
            text = f"{server} answered {err.smtp_code} {one_line(said)[:200]}"
            raise (rejected(text) if err.smtp_code >= 500 else undelivered(text)) from None
        except ssl.SSLCertVerificationError as err:
            raise rejected(f"{server}: certificate not trusted ({err.verify_message})") from None
        except (smtplib.SMTPException, OSError) as err:
            raise undelivered(
                f"{server} unreachable: {one_line(str(err)) or type(err).__name__}"
            ) from err
