"""Sign-in rate limiting: too many wrong passwords for one account, or from one client
address, within the policy's window, and password sign-in is refused until it passes.

Usage::

    throttle = SignInThrottle(SignInPolicy())
    throttle.check("n.bernard", "10.0.0.7")     # SignInThrottled: says until when
    throttle.failed("n.bernard", "10.0.0.7")    # after a wrong password
    throttle.succeeded("n.bernard")             # the account's count starts again

An unknown staff ID counts like a known one, so the answer never tells which exist. While an
account is paused even its right password is refused: that is what stops guessing.

Limitations: the counts live in the sign-in service's memory (the web app's process); a
restart forgets them. The CLI of the dev stack holds the keys itself, so it is not limited.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime

from models.actions import person_key
from models.refusals import Refusal
from models.signin_policy import SignInPolicy

#: past this many counted accounts and addresses, the ones without recent failures are dropped
_FORGET_AFTER = 10_000


class SignInThrottled(Refusal):
    """Too many failed sign-ins: paused for a while."""


class SignInThrottle:
    """Failed password sign-ins per account and per client address, over a sliding window."""

    def __init__(
        self,
        policy: SignInPolicy | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy or SignInPolicy()
        self.clock = clock
        self._lock = threading.Lock()
        self._by_account: defaultdict[str, deque[datetime]] = defaultdict(deque)
        self._by_address: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def _recent(self, failures: deque[datetime], now: datetime) -> deque[datetime]:
        while failures and now - failures[0] >= self.policy.failure_window:
            failures.popleft()
        return failures

    def check(self, actor: str, address: str | None) -> None:
        """Refuse (``SignInThrottled``) when ``actor`` or ``address`` failed too often."""
        now = self.clock()
        with self._lock:
            account = self._recent(self._by_account[person_key(actor)], now)
            if len(account) >= self.policy.max_failures_per_account:
                until = account[0] + self.policy.failure_window
                raise SignInThrottled(
                    f"Too many wrong passwords for this staff ID: sign-in is paused until "
                    f"{until:%H:%M} UTC. If it was not you, tell the programme lead."
                )
            if address:
                place = self._recent(self._by_address[address], now)
                if len(place) >= self.policy.max_failures_per_address:
                    until = place[0] + self.policy.failure_window
                    raise SignInThrottled(
                        "Too many failed sign-ins from this computer: try again after "
                        f"{until:%H:%M} UTC."
                    )

    def failed(self, actor: str, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            if len(self._by_account) + len(self._by_address) > _FORGET_AFTER:
                self._forget_old(now)
            self._by_account[person_key(actor)].append(now)
            if address:
                self._by_address[address].append(now)

    def _forget_old(self, now: datetime) -> None:
        """Drop the counts whose window has passed (a guesser of many IDs fills memory)."""
        for counts in (self._by_account, self._by_address):
            for key in [k for k, failures in counts.items() if not self._recent(failures, now)]:
                del counts[key]

    def succeeded(self, actor: str) -> None:
        with self._lock:
            self._by_account.pop(person_key(actor), None)
