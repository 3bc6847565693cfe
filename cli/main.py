"""The ``cellpath`` command's wiring: each command, from the module that holds it, onto the
one typer app (``cli.app``), under the help panel it is listed in.

Usage::

    cellpath refer docs/examples/referral.yaml
    cellpath act PATHWAY --help-events --role ard_specialist
    cellpath list --overdue --json
    cellpath incidents PATHWAY
    python -m cli.main show PATHWAY

Exit codes: 0 done; 1 anything else (no worker answered, dev stack failed…); 2 bad usage or
input; 3 action refused; 4 no such pathway; 5 Temporal unreachable. ``--debug`` shows
tracebacks. With ``--json`` every call writes exactly one JSON document on stdout, an
``{"error": …}`` document when it fails (docs/cli.md lists every field).
"""

from __future__ import annotations

from cli import incidents, login, pathways, services
from cli.app import app
from cli.audit import audit_app
from cli.centres import centres_app
from cli.records import db_app, trace
from cli.registry import registry_app
from cli.sessions import sessions_app

PATHWAYS = "Pathways"
RUNNING = "Running cellpath"
CENTRES_AND_AUDIT = "Centres and audit"

app.command(rich_help_panel=PATHWAYS)(pathways.refer)
app.command(rich_help_panel=PATHWAYS)(login.login)
app.command(rich_help_panel=PATHWAYS)(login.logout)
app.command(rich_help_panel=PATHWAYS)(pathways.act)
app.command(rich_help_panel=PATHWAYS)(pathways.show)
app.command("list", rich_help_panel=PATHWAYS)(pathways.list_pathways)
app.command(rich_help_panel=PATHWAYS)(incidents.incidents)
app.command(rich_help_panel=RUNNING)(services.worker)
app.command("codec-server", rich_help_panel=RUNNING)(services.codec_server)
app.command(rich_help_panel=RUNNING)(services.dev)
app.command(rich_help_panel=RUNNING)(services.web)
app.command(rich_help_panel=PATHWAYS)(pathways.diagram)
app.command(rich_help_panel=RUNNING)(services.docs)
app.add_typer(centres_app, name="centres", rich_help_panel=CENTRES_AND_AUDIT)
app.add_typer(audit_app, name="audit", rich_help_panel=CENTRES_AND_AUDIT)
app.command(rich_help_panel=CENTRES_AND_AUDIT)(trace)
app.add_typer(db_app, name="db", rich_help_panel=RUNNING)
app.add_typer(registry_app, name="registry", rich_help_panel=PATHWAYS)
app.add_typer(sessions_app, name="sessions", rich_help_panel=RUNNING)

__all__ = ["app"]

if __name__ == "__main__":
    app()
