"""The sign-in service's list of open sessions: each session token names a session ID kept
here, so signing out, or a programme lead, can end a session before it expires — a stolen
cookie or a copied ``session.jwt`` stops working at once.

A small SQLite file beside the signing keys (``sessions.db``, 0600): the web app and the CLI
of the same sign-in host share it. It holds staff IDs, how they signed in and times; no
token, no password, nothing about patients.

Usage::

    sessions = SessionList(state_dir / "sessions.db")
    sessions.open(OpenSession(session_id=jti, actor="n.bernard", via="password",
                              opened_at=now, expires_at=now + lifetime))
    sessions.is_open(jti, now)          # False once revoked, expired, or never listed
    sessions.revoke(jti); sessions.revoke_actor("n.bernard")
    sessions.listed(now)                # the open ones, newest first
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from models.actions import person_key
from models.signin_policy import SignInPolicy

SESSIONS_FILE = "sessions.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    person TEXT NOT NULL,
    via TEXT NOT NULL,
    opened_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS sessions_person ON sessions (person);
"""


class OpenSession(BaseModel):
    """One session as the list keeps it."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    actor: str
    #: how the person signed in: ``password``, ``provider`` (browser) or ``device`` (CLI)
    via: str
    opened_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


def _ts(when: datetime) -> float:
    return when.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class SessionList:
    """Open sessions by ID, in a SQLite file shared by the processes of one sign-in host."""

    def __init__(self, path: Path, *, policy: SignInPolicy | None = None) -> None:
        self.path = path
        #: ended sessions stay for ``cellpath sessions list --all`` this long, then go
        self.keep_ended = (policy or SignInPolicy()).ended_sessions_kept
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:  # one transaction, committed on leaving
                yield db
        finally:
            db.close()

    def open(self, session: OpenSession) -> None:
        with self._db() as db:
            db.execute(
                "DELETE FROM sessions WHERE expires_at < ?",
                (_ts(session.opened_at - self.keep_ended),),
            )
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (
                    session.session_id,
                    session.actor,
                    person_key(session.actor),
                    session.via,
                    _ts(session.opened_at),
                    _ts(session.expires_at),
                ),
            )

    def is_open(self, session_id: str, now: datetime) -> bool:
        """Listed, not revoked and not expired."""
        with self._db() as db:
            row = db.execute(
                "SELECT 1 FROM sessions WHERE session_id = ? AND revoked_at IS NULL "
                "AND expires_at > ?",
                (session_id, _ts(now)),
            ).fetchone()
        return row is not None

    def revoke(self, session_id: str, now: datetime | None = None) -> bool:
        """End one session; whether it was open."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
                (_ts(now or datetime.now(UTC)), session_id),
            )
        return cursor.rowcount > 0

    def revoke_actor(self, actor: str, now: datetime | None = None) -> int:
        """End every open session of one person; how many."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE person = ? AND revoked_at IS NULL",
                (_ts(now or datetime.now(UTC)), person_key(actor)),
            )
        return cursor.rowcount

    def listed(
        self, now: datetime, *, actor: str | None = None, ended_too: bool = False
    ) -> list[OpenSession]:
        """Sessions, newest first: the open ones (and the recently ended, ``ended_too``)."""
        query = "SELECT * FROM sessions WHERE 1 = 1"
        args: list[object] = []
        if actor is not None:
            query += " AND person = ?"
            args.append(person_key(actor))
        if not ended_too:
            query += " AND revoked_at IS NULL AND expires_at > ?"
            args.append(_ts(now))
        with self._db() as db:
            rows = db.execute(query + " ORDER BY opened_at DESC", args).fetchall()
        return [
            OpenSession(
                session_id=row[0],
                actor=row[1],
                via=row[3],
                opened_at=datetime.fromtimestamp(row[4], UTC),
                expires_at=datetime.fromtimestamp(row[5], UTC),
                revoked_at=_dt(row[6]),
            )
            for row in rows
        ]
