"""Sign-in rate limiting: too many wrong passwords for one account, or from one client
address, within the policy's window, and password sign-in is refused until it passes.

Usage::

    throttle = SignInThrottle(SignInPolicy(), path=state_dir / "sessions.db")
    throttle.check("n.bernard", "10.0.0.7")     # SignInThrottled: says until when
    throttle.failed("n.bernard", "10.0.0.7")    # after a wrong password
    throttle.succeeded("n.bernard")             # the account's count starts again

An unknown staff ID counts like a known one, so the answer never tells which exist. While an
account is paused even its right password is refused: that is what stops guessing.

The counts live in the sign-in host's SQLite file beside its session list (``sessions.db``,
table ``failed_sign_ins``): the web app's processes and the CLI of that host share them, and
a restart forgets nothing. Rows older than the window are deleted as failures come in. They
hold staff IDs, client addresses and times; nothing about patients. Without a path (tests,
tools) the counts live in an in-memory database of this process.

Limitations: one file per sign-in host; sign-in hosts behind a load balancer each count
their own (the identity provider's lockout is the shared one).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from models.actions import person_key
from models.refusals import Refusal
from models.signin_policy import SignInPolicy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_sign_ins (
    kind TEXT NOT NULL,          -- 'account' (a staff ID's person key) or 'address'
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failed_sign_ins_key ON failed_sign_ins (kind, key, at);
"""


class SignInThrottled(Refusal):
    """Too many failed sign-ins: paused for a while."""


class SignInThrottle:
    """Failed password sign-ins per account and per client address, over a sliding window."""

    def __init__(
        self,
        policy: SignInPolicy | None = None,
        *,
        path: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy or SignInPolicy()
        self.clock = clock
        self.path = path
        self._lock = threading.Lock()
        self._memory = None if path else sqlite3.connect(":memory:", check_same_thread=False)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._memory or sqlite3.connect(self.path or ":memory:", timeout=10)
            try:
                with db:  # one transaction, committed on leaving
                    yield db
            finally:
                if db is not self._memory:
                    db.close()

    def _paused_until(
        self, db: sqlite3.Connection, kind: str, key: str, most: int, now: datetime
    ) -> datetime | None:
        since = (now - self.policy.failure_window).timestamp()
        count, first = db.execute(
            "SELECT count(*), min(at) FROM failed_sign_ins WHERE kind = ? AND key = ? AND at > ?",
            (kind, key, since),
        ).fetchone()
        if count < most:
            return None
        return datetime.fromtimestamp(first, UTC) + self.policy.failure_window

    def check(self, actor: str, address: str | None) -> None:
        """Refuse (``SignInThrottled``) when ``actor`` or ``address`` failed too often."""
        now = self.clock()
        policy = self.policy
        with self._db() as db:
            account = self._paused_until(
                db, "account", person_key(actor), policy.max_failures_per_account, now
            )
            place = address and self._paused_until(
                db, "address", address, policy.max_failures_per_address, now
            )
        if account:
            raise SignInThrottled(
                f"Too many wrong passwords for this staff ID: sign-in is paused until "
                f"{account:%H:%M} UTC. If it was not you, tell the programme lead."
            )
        if place:
            raise SignInThrottled(
                f"Too many failed sign-ins from this computer: try again after {place:%H:%M} UTC."
            )

    def failed(self, actor: str, address: str | None) -> None:
        now = self.clock()
        rows = [("account", person_key(actor), now.timestamp())]
        if address:
            rows.append(("address", address, now.timestamp()))
        with self._db() as db:
            # What the window has passed counts no more: a guesser of many IDs fills nothing.
            db.execute(
                "DELETE FROM failed_sign_ins WHERE at <= ?",
                ((now - self.policy.failure_window).timestamp(),),
            )
            db.executemany("INSERT INTO failed_sign_ins VALUES (?, ?, ?)", rows)

    def succeeded(self, actor: str) -> None:
        with self._db() as db:
            db.execute(
                "DELETE FROM failed_sign_ins WHERE kind = 'account' AND key = ?",
                (person_key(actor),),
            )
