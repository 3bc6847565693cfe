"""The sign-in policy: how many wrong passwords are tolerated, and for how long; how long a
provider login may take and how often its keys are fetched again; how long ended sessions
stay listed — each number with its source.

Usage::

    policy = SignInPolicy()                        # the defaults below
    policy.max_failures_per_account                # 5
    policy.source_of("failure_window").text()      # "assumption: 15 minutes, …"

The sign-in service (``signin.throttle``) refuses a password sign-in once an account, or a
client address, has failed this many times within the window; the refusal says when to try
again. Identity-provider sign-ins are not counted: lock-out there is the provider's policy.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from models.durations import Duration
from models.sources import Sourced, source


class SignInPolicy(Sourced):
    """Limits on failed password sign-ins (local accounts and service accounts)."""

    NUMBERS = (
        "max_failures_per_account",
        "max_failures_per_address",
        "failure_window",
        "provider_login_within",
        "provider_keys_refetch_after",
        "ended_sessions_kept",
    )
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "max_failures_per_account": source(
            "assumption: NIST SP 800-63B §5.2.2 asks for a limit (at most 100); 5, as banks "
            "and most hospital systems use"
        ),
        "max_failures_per_address": source(
            "assumption: a ward computer is shared by a team; 20 failures from one address "
            "is a guessing script, not a team"
        ),
        "failure_window": source(
            "assumption: 15 minutes, the web app's idle timeout; long enough to stop guessing"
        ),
        "provider_login_within": source(
            "assumption: time to type a password and a second factor at the provider"
        ),
        "provider_keys_refetch_after": source(
            "assumption: a rotation is picked up within a minute; forged tokens cannot make "
            "cellpath hammer the provider"
        ),
        "ended_sessions_kept": source(
            "assumption: a day, to see who was signed out or revoked today; no longer needed"
        ),
    }

    max_failures_per_account: int = Field(default=5, ge=1, le=100)
    max_failures_per_address: int = Field(default=20, ge=1, le=10_000)
    failure_window: Duration = Field(default=timedelta(minutes=15))
    provider_login_within: Duration = Field(default=timedelta(minutes=10))
    provider_keys_refetch_after: Duration = Field(default=timedelta(minutes=1))
    ended_sessions_kept: Duration = Field(default=timedelta(days=1))
