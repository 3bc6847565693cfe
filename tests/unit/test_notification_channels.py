"""Notification channels against loopback receivers (no Temporal): what is sent, what fails
and how (retryable or not), configuration from the environment, and idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.channels import NO_RECIPIENTS, REJECTED, UNDELIVERED
from activities.channels.configuration import channel_from_env
from activities.channels.log import LogChannel
from activities.channels.smtp import SmtpChannel
from activities.channels.webhook import WebhookChannel
from activities.notifications import Notifications
from models.roles import Role
from tests.support.notification_sinks import (
    SmtpSink,
    WebhookSink,
    closed_port,
    escalation,
    smtp_sink,
    webhook_sink,
)
from tests.support.waiting import eventually


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    with webhook_sink() as sink:
        yield sink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


def mail_channel(sink: SmtpSink, **kw: object) -> SmtpChannel:
    options: dict[str, object] = {
        "sender": "cellpath@hospital.example",
        "recipients_by_role": {Role.PROGRAMME_LEAD: ["lead@hospital.example"]},
        "starttls": False,
        "timeout": 5.0,
        **kw,
    }
    return SmtpChannel(sink.host, sink.port, **options)  # type: ignore[arg-type]


class TestWebhook:
    """The escalation is POSTed as JSON; the answer decides between retry and fallback."""

    async def test_posts_the_escalation_as_json_with_its_key(self, webhook: WebhookSink) -> None:
        esc = escalation()
        channel = WebhookChannel(webhook.url, timeout=5, token="s3cret", headers={"X-Team": "ct"})
        await channel.deliver(esc)
        [posted] = webhook.received
        assert posted.path == "/hooks/cellpath-secret"
        assert posted.headers["Content-Type"] == "application/json"
        assert posted.headers["Idempotency-Key"] == esc.idempotency_key
        assert posted.headers["Authorization"] == "Bearer s3cret"
        assert posted.headers["X-Team"] == "ct"
        assert posted.json() == {
            **esc.model_dump(mode="json"),
            "text": esc.text(),
            "idempotency_key": esc.idempotency_key,
        }

    @pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
    async def test_server_errors_are_retried(self, webhook: WebhookSink, status: int) -> None:
        webhook.status = status
        with pytest.raises(ApplicationError) as failed:
            await WebhookChannel(webhook.url, timeout=5).deliver(escalation())
        assert failed.value.type == UNDELIVERED
        assert not failed.value.non_retryable
        assert f"answered {status}" in failed.value.message
        assert "cellpath-secret" not in failed.value.message, "the URL path may be a secret"

    async def test_retry_after_is_honoured_within_a_cap(self, webhook: WebhookSink) -> None:
        webhook.status = 429
        webhook.headers = {"Retry-After": "3"}
        with pytest.raises(ApplicationError) as polite:
            await WebhookChannel(webhook.url, timeout=5).deliver(escalation())
        assert polite.value.next_retry_delay == timedelta(seconds=3)
        webhook.headers = {"Retry-After": "86400"}
        with pytest.raises(ApplicationError) as capped:
            await WebhookChannel(webhook.url, timeout=5).deliver(escalation())
        assert capped.value.next_retry_delay == timedelta(minutes=5)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
    async def test_a_refused_request_is_not_retried(
        self, webhook: WebhookSink, status: int
    ) -> None:
        webhook.status = status
        with pytest.raises(ApplicationError) as refused:
            await WebhookChannel(webhook.url, timeout=5).deliver(escalation())
        assert refused.value.non_retryable
        assert refused.value.type == REJECTED
        assert f"answered {status}" in refused.value.message
        assert "not retried" in refused.value.message

    async def test_a_redirect_is_refused_not_followed(self, webhook: WebhookSink) -> None:
        webhook.status = 302
        webhook.headers = {"Location": "http://127.0.0.1:9/elsewhere?token=x"}
        with pytest.raises(ApplicationError) as moved:
            await WebhookChannel(webhook.url, timeout=5).deliver(escalation())
        assert moved.value.non_retryable
        assert "not followed" in moved.value.message
        assert "token" not in moved.value.message
        assert len(webhook.received) == 1

    async def test_an_unreachable_receiver_is_retried(self) -> None:
        with closed_port() as port:
            channel = WebhookChannel(f"http://127.0.0.1:{port}/hooks/secret", timeout=2)
            with pytest.raises(ApplicationError) as down:
                await channel.deliver(escalation())
        assert down.value.type == UNDELIVERED and not down.value.non_retryable
        assert "unreachable" in down.value.message
        assert "secret" not in down.value.message

    async def test_a_slow_receiver_times_out_and_is_retried(self, webhook: WebhookSink) -> None:
        webhook.hold()
        with pytest.raises(ApplicationError) as slow:
            await WebhookChannel(webhook.url, timeout=0.2).deliver(escalation())
        webhook.release()
        assert slow.value.type == UNDELIVERED and not slow.value.non_retryable
        assert len(webhook.received) == 1, "the request reached the receiver, then timed out"

    @pytest.mark.parametrize(
        ("url", "options"),
        [
            ("ftp://example.org/hook", {}),
            ("not a url", {}),
            ("https://example.org/hook", {"timeout": 0}),
            ("https://example.org/hook", {"headers": {"X-A": "b\r\nX-Injected: 1"}}),
        ],
    )
    def test_bad_settings_are_refused_up_front(self, url: str, options: dict) -> None:
        with pytest.raises(ValueError):
            WebhookChannel(url, **options)


class TestSmtp:
    """Mail goes to the addresses of the roles named; a role without one is never dropped."""

    async def test_mails_each_role_its_addresses(self, smtp: SmtpSink) -> None:
        esc = escalation(level=2, notify=[Role.ARD_SPECIALIST, Role.CELL_THERAPY_SPECIALIST])
        channel = mail_channel(
            smtp,
            recipients_by_role={
                Role.ARD_SPECIALIST: ["ard@hospital.example"],
                Role.CELL_THERAPY_SPECIALIST: ["cts@hospital.example", "ard@hospital.example"],
                Role.PROGRAMME_LEAD: ["lead@hospital.example"],
            },
            default_to=["shared@hospital.example"],
        )
        await channel.deliver(esc)
        [mail] = smtp.mails
        assert mail.sender == "cellpath@hospital.example"
        assert mail.recipients == ["ard@hospital.example", "cts@hospital.example"]
        msg = mail.message
        assert esc.pathway_id in msg["Subject"]
        assert "Work-up due" in msg["Subject"] and "level 2" in msg["Subject"]
        assert msg["To"] == "ard@hospital.example, cts@hospital.example"
        assert msg["X-Cellpath-Idempotency-Key"] == esc.idempotency_key
        assert msg["Message-ID"] == channel.message_id(esc)
        assert msg["Message-ID"].endswith("@hospital.example>")
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg.get_content().strip() == esc.text()

    async def test_a_role_without_address_goes_to_the_default(self, smtp: SmtpSink) -> None:
        esc = escalation(notify=[Role.CARE_COORDINATOR, Role.PROGRAMME_LEAD])
        channel = mail_channel(smtp, default_to=["shared@hospital.example"])
        await channel.deliver(esc)
        [mail] = smtp.mails
        assert mail.recipients == ["lead@hospital.example", "shared@hospital.example"]
        body = mail.message.get_content()
        assert body.startswith(esc.text())
        assert "No e-mail address is configured for: care coordinator" in body

    async def test_no_address_at_all_is_refused_naming_the_roles(self, smtp: SmtpSink) -> None:
        esc = escalation(notify=[Role.CARE_COORDINATOR, Role.PHARMACIST])
        channel = mail_channel(smtp)
        with pytest.raises(ApplicationError) as nobody:
            await channel.deliver(esc)
        assert nobody.value.type == NO_RECIPIENTS and nobody.value.non_retryable
        assert "care_coordinator, pharmacist" in nobody.value.message
        assert "CELLPATH_SMTP_RECIPIENTS" in nobody.value.message
        assert smtp.mails == []

    async def test_mail_server_down_is_retried(self) -> None:
        with closed_port() as port:
            channel = SmtpChannel(
                "127.0.0.1",
                port,
                sender="cellpath@hospital.example",
                default_to=["shared@hospital.example"],
                starttls=False,
                timeout=2,
            )
            with pytest.raises(ApplicationError) as down:
                await channel.deliver(escalation())
        assert down.value.type == UNDELIVERED and not down.value.non_retryable
        assert "unreachable" in down.value.message

    @pytest.mark.parametrize(
        ("reply", "retryable"), [("451 4.3.0 try later", True), ("554 5.6.0 rejected", False)]
    )
    async def test_temporary_and_permanent_refusals(
        self, smtp: SmtpSink, reply: str, retryable: bool
    ) -> None:
        smtp.data_reply = reply
        with pytest.raises(ApplicationError) as refused:
            await mail_channel(smtp).deliver(escalation())
        assert refused.value.non_retryable is not retryable
        assert reply.split()[0] in refused.value.message

    async def test_every_recipient_refused_is_not_retried(self, smtp: SmtpSink) -> None:
        smtp.refuse = {"lead@hospital.example"}
        with pytest.raises(ApplicationError) as refused:
            await mail_channel(smtp).deliver(escalation())
        assert refused.value.non_retryable
        assert "lead@hospital.example" in refused.value.message

    async def test_some_recipients_refused_still_delivers_to_the_others(
        self, smtp: SmtpSink
    ) -> None:
        smtp.refuse = {"gone@hospital.example"}
        channel = mail_channel(
            smtp,
            recipients_by_role={
                Role.PROGRAMME_LEAD: ["gone@hospital.example", "lead@hospital.example"]
            },
        )
        await channel.deliver(escalation())
        assert [m.recipients for m in smtp.mails] == [["lead@hospital.example"]]

    async def test_starttls_required_but_not_offered_is_not_retried(self, smtp: SmtpSink) -> None:
        with pytest.raises(ApplicationError) as plain:
            await mail_channel(smtp, starttls=True).deliver(escalation())
        assert plain.value.non_retryable
        assert "STARTTLS" in plain.value.message
        assert smtp.mails == []

    @pytest.mark.parametrize(
        "options",
        [
            {"sender": "not-an-address"},
            {"recipients_by_role": {}, "default_to": []},
            {"recipients_by_role": {"chief": ["a@b.example"]}},
            {"default_to": ["a@b.example\r\nBcc: x@y.example"]},
            {"username": "cellpath", "password": "pw"},
            {"username": "cellpath", "starttls": True},
        ],
    )
    def test_bad_settings_are_refused_up_front(self, smtp: SmtpSink, options: dict) -> None:
        with pytest.raises(ValueError):
            mail_channel(smtp, **options)


SMTP_OK = {
    "CELLPATH_NOTIFY_CHANNEL": "smtp",
    "CELLPATH_SMTP_HOST": "mail.hospital.example",
    "CELLPATH_SMTP_FROM": "cellpath@hospital.example",
    "CELLPATH_SMTP_RECIPIENTS": '{"programme_lead": ["lead@hospital.example"]}',
}


class TestChannelFromEnv:
    """Configuration errors stop the worker at start and name the variable to fix."""

    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({"CELLPATH_NOTIFY_CHANNEL": "pager"}, "CELLPATH_NOTIFY_CHANNEL"),
            ({"CELLPATH_NOTIFY_CHANNEL": "webhook"}, "CELLPATH_WEBHOOK_URL"),
            (
                {"CELLPATH_NOTIFY_CHANNEL": "webhook", "CELLPATH_WEBHOOK_URL": "hook.example"},
                "CELLPATH_WEBHOOK_URL",
            ),
            ({**SMTP_OK, "CELLPATH_SMTP_HOST": ""}, "CELLPATH_SMTP_HOST"),
            ({**SMTP_OK, "CELLPATH_SMTP_FROM": " "}, "CELLPATH_SMTP_FROM"),
            ({**SMTP_OK, "CELLPATH_SMTP_FROM": "cellpath"}, "CELLPATH_SMTP_FROM"),
            ({**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": ""}, "CELLPATH_SMTP_RECIPIENTS"),
            (
                {**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": '{"programme_lead": []}'},
                "CELLPATH_SMTP_DEFAULT_TO",
            ),
            ({**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": "{lead: x}"}, "CELLPATH_SMTP_RECIPIENTS"),
            (
                {**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": '["a@b.example"]'},
                "CELLPATH_SMTP_RECIPIENTS",
            ),
            ({**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": '{"chief": ["a@b.example"]}'}, "'chief'"),
            (
                {**SMTP_OK, "CELLPATH_SMTP_RECIPIENTS": '{"nurse": ["n"]}'},
                "CELLPATH_SMTP_RECIPIENTS",
            ),
            (
                {**SMTP_OK, "CELLPATH_SMTP_DEFAULT_TO": "a@b.example, oops"},
                "CELLPATH_SMTP_DEFAULT_TO",
            ),
            ({**SMTP_OK, "CELLPATH_SMTP_PORT": "smtp"}, "CELLPATH_SMTP_PORT"),
            ({**SMTP_OK, "CELLPATH_SMTP_PORT": "70000"}, "CELLPATH_SMTP_PORT"),
            ({**SMTP_OK, "CELLPATH_SMTP_STARTTLS": "maybe"}, "CELLPATH_SMTP_STARTTLS"),
            ({**SMTP_OK, "CELLPATH_SMTP_USER": "cellpath"}, "CELLPATH_SMTP_PASSWORD"),
            ({**SMTP_OK, "CELLPATH_SMTP_PASSWORD": "pw"}, "CELLPATH_SMTP_USER"),
            (
                {
                    **SMTP_OK,
                    "CELLPATH_SMTP_USER": "cellpath",
                    "CELLPATH_SMTP_PASSWORD": "pw",
                    "CELLPATH_SMTP_STARTTLS": "false",
                },
                "CELLPATH_SMTP_STARTTLS",
            ),
        ],
    )
    def test_a_missing_or_bad_setting_is_named(self, env: dict, variable: str) -> None:
        with pytest.raises(ValueError) as bad:
            channel_from_env(env)
        assert variable in str(bad.value)

    def test_password_is_never_in_an_error(self) -> None:
        env = {**SMTP_OK, "CELLPATH_SMTP_PASSWORD": "hunter2", "CELLPATH_SMTP_USER": ""}
        with pytest.raises(ValueError) as bad:
            channel_from_env(env)
        assert "hunter2" not in str(bad.value)

    def test_log_is_the_default(self) -> None:
        assert isinstance(channel_from_env({}), LogChannel)
        assert isinstance(channel_from_env({"CELLPATH_NOTIFY_CHANNEL": "LOG"}), LogChannel)

    async def test_webhook_from_env(self, webhook: WebhookSink) -> None:
        channel = channel_from_env(
            {
                "CELLPATH_NOTIFY_CHANNEL": "webhook",
                "CELLPATH_WEBHOOK_URL": webhook.url,
                "CELLPATH_WEBHOOK_TOKEN": "t0ken",
            }
        )
        assert isinstance(channel, WebhookChannel)
        await channel.deliver(escalation())
        assert webhook.received[0].headers["Authorization"] == "Bearer t0ken"

    def test_smtp_defaults(self) -> None:
        channel = channel_from_env(SMTP_OK)
        assert isinstance(channel, SmtpChannel)
        assert (channel.port, channel.starttls) == (587, True)
        assert channel.recipients_by_role == {Role.PROGRAMME_LEAD: ["lead@hospital.example"]}
        plain = channel_from_env({**SMTP_OK, "CELLPATH_SMTP_STARTTLS": "no"})
        assert isinstance(plain, SmtpChannel) and plain.port == 25

    async def test_smtp_from_env_delivers(self, smtp: SmtpSink) -> None:
        channel = channel_from_env(
            {
                **SMTP_OK,
                "CELLPATH_SMTP_HOST": smtp.host,
                "CELLPATH_SMTP_PORT": str(smtp.port),
                "CELLPATH_SMTP_STARTTLS": "false",
                "CELLPATH_SMTP_RECIPIENTS": '{"programme_lead": "lead@hospital.example"}',
                "CELLPATH_SMTP_DEFAULT_TO": "shared@hospital.example, ops@hospital.example",
            }
        )
        await channel.deliver(escalation(notify=[Role.PROGRAMME_LEAD, Role.PHARMACIST]))
        [mail] = smtp.mails
        assert mail.recipients == [
            "lead@hospital.example",
            "shared@hospital.example",
            "ops@hospital.example",
        ]


class TestIdempotency:
    """The same escalation is delivered once per channel instance; a failure is not
    remembered, so the retry delivers."""

    async def test_webhook_twice_posts_once(self, webhook: WebhookSink) -> None:
        notifications = Notifications(WebhookChannel(webhook.url, timeout=5))
        first = await notifications.notify_escalation(escalation())
        again = await notifications.notify_escalation(escalation())
        assert first.key == again.key and first.channel == "webhook"
        assert len(webhook.received) == 1
        await notifications.notify_escalation(escalation(level=2))
        assert len(webhook.received) == 2, "another level is another escalation"

    async def test_smtp_twice_mails_once(self, smtp: SmtpSink) -> None:
        notifications = Notifications(mail_channel(smtp))
        await notifications.notify_escalation(escalation())
        await notifications.notify_escalation(escalation())
        assert len(smtp.mails) == 1

    async def test_concurrent_attempts_deliver_once(self, webhook: WebhookSink) -> None:
        webhook.hold()
        notifications = Notifications(WebhookChannel(webhook.url, timeout=5))
        attempts = asyncio.gather(
            *(notifications.notify_escalation(escalation()) for _ in range(3))
        )
        # The first delivery is in flight (held by the receiver) while the others start.
        await eventually(lambda: webhook.received, what="the first delivery in flight")
        webhook.release()
        await attempts
        assert len(webhook.received) == 1

    async def test_a_failed_delivery_is_retried_then_remembered(self, webhook: WebhookSink) -> None:
        webhook.statuses = [503]
        notifications = Notifications(WebhookChannel(webhook.url, timeout=5))
        with pytest.raises(ApplicationError):
            await notifications.notify_escalation(escalation())
        await notifications.notify_escalation(escalation())
        await notifications.notify_escalation(escalation())
        assert len(webhook.received) == 2

    async def test_fallback_is_a_separate_channel(self, webhook: WebhookSink) -> None:
        webhook.status = 500
        fallback = WebhookChannel(webhook.url, timeout=5)
        notifications = Notifications(LogChannel(), fallback=fallback)
        await notifications.notify_escalation(escalation())
        assert webhook.received == []
        with pytest.raises(ApplicationError):
            await notifications.notify_fallback(escalation())
        assert len(webhook.received) == 1
