"""Held two-person actions (web/held_actions.py): only the session that held one may see or
take it, it is taken once, and it is gone when it expires."""

from __future__ import annotations

from datetime import UTC, datetime

from models.actor import StaffIdentity
from models.roles import Role
from web.held_actions import HeldAction, HeldActions


def held(session_id: str = "s-1") -> HeldAction:
    return HeldAction(
        session_id=session_id,
        pathway_id="pathway-centre-a-X-1",
        event="approve_at_mdtm",
        role="ard_specialist",
        data={"actor": "dr.martin"},
        update_id="u-1",
    )


def test_only_the_session_that_held_it_sees_or_takes_it_and_only_once() -> None:
    store = HeldActions()
    held_id = store.hold(held(), now=100.0, lasts=60)
    assert store.get(held_id, "s-2", now=101.0) is None
    assert store.take(held_id, "s-2", now=101.0) is None
    assert store.get(held_id, "s-1", now=101.0) is not None
    assert store.take(held_id, "s-1", now=101.0) is not None
    assert store.take(held_id, "s-1", now=101.0) is None
    assert store.get(None, "s-1", now=101.0) is None


def test_a_held_action_expires_and_the_second_persons_login_shortens_it() -> None:
    store = HeldActions()
    held_id = store.hold(held(), now=100.0, lasts=600)
    second = StaffIdentity(actor="dr.roux", roles=(Role.CELL_THERAPY_SPECIALIST,))
    store.cosigned(held_id, "id-token", second, datetime.now(UTC), until=400.0)
    found = store.get(held_id, "s-1", now=399.0)
    assert found is not None and found.cosigner == second and found.cosigner_token == "id-token"
    assert store.get(held_id, "s-1", now=400.0) is None
    other = store.hold(held(), now=100.0, lasts=600)
    assert store.take(other, "s-1", now=700.0) is None
