"""``cellpath sessions``: the sign-in service's open sessions, and ending one — a stolen
cookie or a copied session file stops working at once.

Usage::

    cellpath sessions list                     # open sessions, newest first
    cellpath sessions list --actor n.bernard --all --json
    cellpath sessions revoke SESSION-ID        # one session
    cellpath sessions revoke --actor n.bernard # every session of one person

Run it on the sign-in host, as the user who owns its state dir (``sessions.db`` is 0600):
who may read and write that file may end sessions. The list holds staff IDs and times only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from cli.app import State, console, fail, print_json
from models.settings import Settings
from signin.local import session_list

sessions_app = typer.Typer(
    help="Signed-in sessions: list them, end one (or all of a person's).",
    no_args_is_help=True,
)


@sessions_app.command("list")
def list_sessions(
    actor: Annotated[str | None, typer.Option(metavar="STAFF-ID", help="Only this person.")] = None,
    ended_too: Annotated[
        bool, typer.Option("--all", help="Also sessions ended in the last day.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The open sessions, newest first."""
    State.as_json = as_json
    now = datetime.now(UTC)
    found = session_list(Settings.from_env()).listed(now, actor=actor, ended_too=ended_too)
    if as_json:
        print_json([s.model_dump(mode="json") for s in found])
        return
    if not found:
        console.print("no open sessions." if not ended_too else "no sessions.")
        return
    table = Table(box=box.SIMPLE)
    for column in ("session", "staff ID", "signed in with", "opened", "ends", "state"):
        table.add_column(column)
    for s in found:
        state = "revoked" if s.revoked_at else ("expired" if s.expires_at <= now else "open")
        table.add_row(s.session_id, s.actor, s.via, f"{s.opened_at:%Y-%m-%d %H:%M}",
                      f"{s.expires_at:%H:%M} UTC", state)  # fmt: skip
    console.print(table)


@sessions_app.command("revoke")
def revoke(
    session_id: Annotated[
        str | None, typer.Argument(metavar="SESSION-ID", help="From `cellpath sessions list`.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option(metavar="STAFF-ID", help="End every session of this person.")
    ] = None,
) -> None:
    """End a session now (its cookie or cached token is refused from then on)."""
    sessions = session_list(Settings.from_env())
    if (session_id is None) == (actor is None):
        raise fail("give a SESSION-ID or --actor STAFF-ID (one of them)")
    if actor is not None:
        count = sessions.revoke_actor(actor)
        console.print(f"ended {count} session(s) of {actor}.", markup=False)
        return
    assert session_id is not None
    if not sessions.revoke(session_id):
        raise fail(f"no open session {session_id!r}: see `cellpath sessions list`")
    console.print(f"ended session {session_id}.", markup=False)
