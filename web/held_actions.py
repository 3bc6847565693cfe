"""Two-person actions held on the server while the second person logs in at the hospital's
provider: bound to the signer's session, taken once, and gone after a short while.

The form's details may name a patient's care (PHI): they never travel in a URL or a cookie.
The browser keeps only the held action's random ID, in the signer's own session cookie.

Usage::

    held_id = context.held.hold(HeldAction(session_id=staff.session.session_id, ...),
                                now=context.clock(), lasts=600)
    held = context.held.get(held_id, staff.session.session_id, now=context.clock())
    context.held.cosigned(held_id, id_token, identity, when, until=...)  # 2nd person in
    held = context.held.take(held_id, staff.session.session_id, now=context.clock())

Limitations: held in this web process's memory — a restart drops them (the signer sends the
form again), and several web processes need sticky sessions.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from datetime import datetime
from typing import Any

from models.actor import StaffIdentity

#: a bound on what one web process holds: the oldest go first
MOST_HELD = 1000


@dataclasses.dataclass(frozen=True)
class HeldAction:
    """A two-person action the signer sent, waiting for the second person's login."""

    #: the signer's session (its ``jti``): no other session may finish it
    session_id: str
    pathway_id: str
    event: str
    role: str
    data: dict[str, Any] = dataclasses.field(repr=False)
    update_id: str
    meaning: str = ""
    #: the second person the signer named (the provider's ``login_hint``); "" anyone
    named: str = ""
    #: what was typed, to show the form again if it is refused (never a password)
    posted: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    #: the second person, once they logged in at the provider: their fresh ID token, who
    #: it names and when they logged in
    cosigner_token: str = dataclasses.field(default="", repr=False)
    cosigner: StaffIdentity | None = None
    cosigned_at: datetime | None = None
    #: seconds since the epoch (``WebContext.clock``)
    expires_at: float = 0.0


class HeldActions:
    """The held actions of this web process, by random ID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, HeldAction] = {}

    def hold(self, action: HeldAction, *, now: float, lasts: float) -> str:
        """Hold ``action`` for ``lasts`` seconds; its ID."""
        held_id = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired(now)
            while len(self._held) >= MOST_HELD:
                self._held.pop(next(iter(self._held)))
            self._held[held_id] = dataclasses.replace(action, expires_at=now + lasts)
        return held_id

    def get(self, held_id: object, session_id: str, *, now: float) -> HeldAction | None:
        """The held action, if it is this session's and has not expired."""
        with self._lock:
            self._drop_expired(now)
            held = self._held.get(held_id) if isinstance(held_id, str) else None
        return held if held is not None and held.session_id == session_id else None

    def cosigned(
        self,
        held_id: str,
        cosigner_token: str,
        cosigner: StaffIdentity,
        cosigned_at: datetime,
        *,
        until: float,
    ) -> None:
        """``cosigner`` logged in at ``cosigned_at`` (``cosigner_token``); the action now
        lasts at most ``until`` (as long as their login counts as fresh)."""
        with self._lock:
            held = self._held.get(held_id)
            if held is not None:
                self._held[held_id] = dataclasses.replace(
                    held,
                    cosigner_token=cosigner_token,
                    cosigner=cosigner,
                    cosigned_at=cosigned_at,
                    expires_at=min(held.expires_at, until),
                )

    def take(self, held_id: object, session_id: str, *, now: float) -> HeldAction | None:
        """The held action, removed: it is sent once, or refused once."""
        if not isinstance(held_id, str):
            return None
        with self._lock:
            self._drop_expired(now)
            held = self._held.get(held_id)
            if held is None or held.session_id != session_id:
                return None
            return self._held.pop(held_id)

    def _drop_expired(self, now: float) -> None:
        for held_id in [k for k, v in self._held.items() if v.expires_at <= now]:
            del self._held[held_id]
