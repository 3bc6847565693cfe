"""Running the real ``cellpath`` CLI from async tests, and the schemas of its ``--json``.

The CLI calls ``asyncio.run`` itself, which cannot run inside the test's event loop (where
the worker runs), so ``Cli`` invokes it through typer's ``CliRunner`` in a thread; ``process``
runs it as a child process (``python -m cli.main``) for what only a real process shows
(tracebacks, signals).

The pydantic models below are the ``--json`` schemas of docs/cli.md, field for field
(``extra="forbid"``): a field added to the CLI and not here, or here and not in the docs,
fails a test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict
from typer.testing import CliRunner

from cli.main import app
from models.roles import Role
from tests.support.signing import cli_sign_in_env, ensure_account

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "cli.md"
EXAMPLE_REFERRAL = ROOT / "docs" / "examples" / "referral.yaml"

# Settings a developer's shell may hold that must not leak into a test's CLI call.
_CLEARED = (
    "CELLPATH_USER",
    "CELLPATH_ROLE",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_API_KEY",
    "CELLPATH_ENCRYPTION_KEYS",
    "CELLPATH_ENCRYPTION_KEY_FILE",
)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # what a failed assertion shows
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def cli_env(
    address: str,
    task_queue: str,
    state_dir: Path,
    *,
    keys: str | None = None,
    **extra: str | None,
) -> dict[str, Any]:
    """The environment of one CLI call: this test's server, queue and payload keys
    (``KeyRing.to_spec()``), nobody's identity."""
    env: dict[str, str | None] = dict.fromkeys(_CLEARED)
    env.update(
        TEMPORAL_ADDRESS=address,
        CELLPATH_TASK_QUEUE=task_queue,
        CELLPATH_ENCRYPTION_KEYS=keys,
        # Not a developer's .cellpath/ (its dev key): the state of this test only.
        CELLPATH_STATE_DIR=str(state_dir),
        CELLPATH_LOG_FORMAT="json",
        COLUMNS="200",
    )
    env.update(cli_sign_in_env(state_dir))
    env.update(extra)
    return env


class Cli:
    """``await cli("act", pathway, "hold", "--reason", "…")`` → ``Outcome``."""

    def __init__(self, env: dict[str, Any]):
        self.env = env

    def with_env(self, **extra: str | None) -> Cli:
        return Cli({**self.env, **extra})

    async def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Outcome:
        return await asyncio.to_thread(self.invoke, list(args), input, env)

    def invoke(self, args: list[str], input: str | None, env: dict[str, str | None]) -> Outcome:
        args = self.signed_in(args, {**self.env, **env})
        result = CliRunner().invoke(app, args, input=input, env={**self.env, **env})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a bug in the CLI: show its traceback
        return Outcome(result.exit_code, result.stdout, result.stderr)

    @staticmethod
    def signed_in(args: list[str], env: dict[str, str | None]) -> list[str]:
        """``act … --by USER --role ROLE`` (how the tests say who acts) becomes
        ``cellpath login USER`` (an account holding ROLE) and then ``act … --role ROLE``.
        The old ``CELLPATH_USER``/``CELLPATH_ROLE`` variables are read the same way."""
        if not {"act", "record"} & set(args[:3]) or "--help-events" in args:
            return args
        actor, role, rest = env.get("CELLPATH_USER"), env.get("CELLPATH_ROLE"), args
        if "--by" in args:
            at = args.index("--by")
            actor, rest = args[at + 1], [*args[:at], *args[at + 2 :]]
        if "--role" in args:
            role = args[args.index("--role") + 1]
        if not actor or not role or role not in set(Role):
            return args  # the CLI refuses it (--by alone, or an unknown role)
        self_dir = env["CELLPATH_STATE_DIR"]
        ensure_account(Path(str(self_dir)), actor, role)
        # Signed in with the account's password, whatever the call itself is given.
        result = CliRunner().invoke(
            app, ["login", actor], env={**env, **cli_sign_in_env(Path(str(self_dir)))}
        )
        assert result.exit_code == 0, result.stderr
        return rest


async def process(
    *args: str, env: dict[str, Any], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m cli.main ARGS`` in a child process."""
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_process(*args: str, env: dict[str, Any], log: Path) -> subprocess.Popen[str]:
    """``python -m cli.main ARGS`` running in the background, output to ``log``."""
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=full,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


# ----- the --json schemas (docs/cli.md) ---------------------------------------------------
def _utc(value: str) -> str:
    if not value.endswith("Z"):
        raise ValueError(f"{value!r}: times are UTC with a Z suffix")
    datetime.fromisoformat(value)
    return value


def _role(value: str) -> str:
    Role(value)  # a ValueError names the unknown role
    return value


UtcTime = Annotated[str, AfterValidator(_utc)]
RoleName = Annotated[str, AfterValidator(_role)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorBody(Strict):
    exit_code: int
    kind: str
    message: str
    allowed_now: list[str] | None


class ErrorDoc(Strict):
    error: ErrorBody


class ReferDoc(Strict):
    pathway_id: str
    state: Literal["referred"]
    protocol_id: str
    seconds_per_day: float | None


class ActDoc(Strict):
    pathway_id: str
    event: str
    seq: int
    from_state: str
    state: str
    at: UtcTime
    duplicate: bool
    allowed_next: list[str]


class HelpAction(Strict):
    event: str
    roles: list[RoleName]
    required: list[str]
    optional: list[str]


class HelpEventsDoc(Strict):
    pathway_id: str
    state: str
    role: RoleName | None
    actions: list[HelpAction]


class BinomeDoc(Strict):
    ard_specialist: str
    cell_therapy_specialist: str


class DatesDoc(Strict):
    referred_at: UtcTime
    work_up_completed_at: UtcTime | None
    mdtm_approved_at: UtcTime | None
    consent_at: UtcTime | None
    apheresis_slot_at: UtcTime | None
    product_released_at: UtcTime | None
    product_received_at: UtcTime | None
    cleared_at: UtcTime | None
    lymphodepletion_started_at: UtcTime | None
    lymphodepletion_ended_at: UtcTime | None
    thawed_at: UtcTime | None
    d0: UtcTime | None
    infusions: list[UtcTime]
    discharged_at: UtcTime | None
    visits: dict[str, UtcTime]


class ProductDoc(Strict):
    coi_id: str | None
    storage_location: str | None
    quarantined: bool


class DeadlineDoc(Strict):
    key: str
    label: str
    state: str
    status: Literal["armed", "overdue"]
    due_at: UtcTime
    seconds_left: float
    level: int
    waiting_on: RoleName


class AuditDoc(Strict):
    seq: int
    at: UtcTime
    event: str
    actor: str
    role: RoleName
    reason: str | None
    update_id: str | None
    from_state: str
    to_state: str
    data: dict[str, Any]
    meaning: str | None
    cosigner: str | None
    cosigner_meaning: str | None


class CentreAlertDoc(Strict):
    key: str
    label: str
    reason: str
    raised_at: UtcTime


class EligibilityDoc(Strict):
    disease: str | None
    severity: dict[str, Any] | None
    prior_treatments: list[dict[str, Any]]
    exclusions: dict[str, bool]


class CourseDoc(Strict):
    highest: int
    highest_at: UtcTime | None
    onset_at: UtcTime | None
    resolved_at: UtcTime | None
    episode_at: UtcTime | None


class GradingDoc(Strict):
    observations: int
    crs: CourseDoc
    icans: CourseDoc


class NoteDoc(Strict):
    at: UtcTime
    by: str
    role: str
    reason: str | None


class WithdrawalDoc(Strict):
    from_study: NoteDoc | None
    follow_up_refused: NoteDoc | None


class IncidentDoc(Strict):
    pathway_id: str
    seq: int
    at: UtcTime
    kind: Literal["refused", "product"]
    event: str
    actor: str
    role: RoleName
    rule: str
    message: str
    state: str
    update_id: str | None
    presented: dict[str, Any]


class IncidentsDoc(Strict):
    pathway_id: str | None
    pathways: int
    incidents: list[IncidentDoc]
    unreadable: dict[str, str]


class TaskDoc(Strict):
    key: str
    label: str
    phase: str
    status: Literal["open", "due later", "done"]
    due_at: UtcTime | None
    overdue: bool
    gates: list[str]
    waiting_on: RoleName
    done_at: UtcTime | None


class ShowDoc(Strict):
    pathway_id: str
    pseudonym: str
    status: str | None
    state: str
    state_name: str
    therapy: Literal["car-t", "msc"]
    disease: str
    centre: str
    age_band: str | None
    protocol_id: str
    binome: BinomeDoc
    outcome: str | None
    held_from: str | None
    escalation_level: int
    overdue: bool
    dates: DatesDoc
    product: ProductDoc
    centre_alerts: list[CentreAlertDoc]
    eligibility: EligibilityDoc
    grading: GradingDoc
    withdrawal: WithdrawalDoc
    deadlines: list[DeadlineDoc]
    allowed: list[str]
    audit: list[AuditDoc]
    audit_total: int
    source: Literal["temporal", "temporal+store", "store"]
    incidents: list[IncidentDoc]
    preparation: list[TaskDoc]


class ListRow(Strict):
    pathway_id: str
    status: str | None
    state: str | None
    therapy: str | None
    centre: str | None
    disease: str | None
    next_deadline: UtcTime | None
    escalation_level: int
    overdue: bool


class ListDoc(Strict):
    query: str
    pathways: list[ListRow]


class TraceEvent(Strict):
    kind: str
    at: UtcTime
    coi_id: str | None
    bag_id: str | None
    lot: str | None


class TracePathway(Strict):
    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Literal["car-t", "msc"]
    first_at: UtcTime
    last_at: UtcTime
    events: list[TraceEvent]


class TraceDoc(Strict):
    identifier: str
    pathways: list[TracePathway]


class ClosedRow(Strict):
    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Literal["car-t", "msc"]
    outcome: str
    closed_at: UtcTime


class ClosedListDoc(Strict):
    source: Literal["store"]
    pathways: list[ClosedRow]


#: docs/cli.md's ``<!-- json: NAME -->`` tables, and the model each describes
SCHEMAS: dict[str, type[BaseModel]] = {
    "error": ErrorDoc,
    "refer": ReferDoc,
    "act": ActDoc,
    "help-events": HelpEventsDoc,
    "show": ShowDoc,
    "list": ListDoc,
    "list-closed": ClosedListDoc,
    "trace": TraceDoc,
    "incidents": IncidentsDoc,
}


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """``{"binome.ard_specialist", "deadlines[].key", …}``: the leaves of a schema."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= field_paths(annotation, f"{prefix}{name}.")
        elif (
            typing.get_origin(annotation) is list
            and inner
            and isinstance(inner[0], type)
            and issubclass(inner[0], BaseModel)
        ):
            paths |= field_paths(inner[0], f"{prefix}{name}[].")
        else:
            paths.add(prefix + name)
    return paths


def documented_fields(text: str, name: str) -> set[str]:
    """The field names in the first column of the table after ``<!-- json: name -->``."""
    marker = f"<!-- json: {name} -->"
    if marker not in text:
        raise AssertionError(f"docs/cli.md has no {marker} table")
    rows = text.split(marker, 1)[1].lstrip("\n").splitlines()
    fields = set()
    for row in rows:
        if not row.startswith("|"):
            break
        match = re.match(r"\|\s*`([^`]+)`\s*\|", row)
        if match:
            fields.add(match.group(1))
    return fields
