"""Channel configuration: the notification channel the worker's environment names.

Usage (worker)::

    channel = channel_from_env()     # reads CELLPATH_NOTIFY_CHANNEL and its settings

A missing or malformed setting is refused at worker start with a ``ValueError`` naming the
variable, rather than at the first missed deadline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from activities.channels import Channel
from activities.channels.log import LogChannel
from activities.channels.smtp import SmtpChannel, mail_address
from activities.channels.webhook import WebhookChannel
from models.roles import Role

CHANNELS = ("log", "webhook", "smtp")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_RECIPIENTS_EXAMPLE = '{"programme_lead": ["lead@hospital.example"]}'


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
    sender = mail_address(_required(env, "CELLPATH_SMTP_FROM", "smtp"), "CELLPATH_SMTP_FROM")
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
        mail_address(a, "CELLPATH_SMTP_DEFAULT_TO")
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
            recipients[role] = [mail_address(a, f"{key}[{name}]") for a in addresses]
    return recipients
