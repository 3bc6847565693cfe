"""The "Centre policy" part of docs/pathways.md: every rule of centres/policy.yaml beside its source.

Usage::

    text = render_centre_policy(load_centre_policy())   # markdown, one table per therapy
    rules(policy)        # [(what, value, source), …] for the centre-wide rules

Each rule the centre policy holds (which accreditation bodies count, how long before an
expiry to warn, whom to notify; per therapy the prerequisites, the roles that need a trained
person, the tocilizumab minimum and resupply time) is listed with the source it carries
(``models/sources.py``). A rule the file leaves out shows the model's default and the
default's source.

Limitations: the operational notification retry (not clinical, never scaled) is left out.
"""

from __future__ import annotations

from devtools.protocol_docs import markdown_row, number_text, source_text
from models.centre_policy import CentrePolicy, TherapyRequirements
from models.protocol import Therapy
from models.roles import Role
from models.sources import Sourced

_INTRO = """\
## Centre policy

`centres/policy.yaml` says what a centre must hold, per therapy, before it treats, and when
the centre workflow warns of an expiry. Treatment waits while a prerequisite is missing or
lapsed; each rule below carries its source (source kinds as in Protocols).
"""

Rule = tuple[str, str, str]


def render_centre_policy(policy: CentrePolicy) -> str:
    """The whole "Centre policy" part: centre-wide rules, then one table per therapy."""
    lines = [_INTRO, "| Rule | Value | Source |", "| --- | --- | --- |"]
    lines += [markdown_row(*rule) for rule in rules(policy)]
    for therapy, req in policy.requirements.items():
        lines += ["", f"### Centre prerequisites: {therapy.value}", ""]
        lines += ["| Rule | Value | Source |", "| --- | --- | --- |"]
        lines += [markdown_row(*rule) for rule in therapy_rules(therapy, req)]
    return "\n".join(lines) + "\n"


def rules(policy: CentrePolicy) -> list[Rule]:
    """(what, value, source) for every centre-wide rule of the policy."""
    return [
        _rule(
            "Accreditation bodies that count",
            policy,
            "accreditation_bodies",
            ", ".join(policy.accreditation_bodies),
        ),
        _rule("Warn before an expiry", policy, "warn_before", number_text(policy.warn_before)),
        _rule("Who hears of warnings and lapses", policy, "notify", _roles(policy.notify)),
    ]


def therapy_rules(therapy: Therapy, req: TherapyRequirements) -> list[Rule]:
    """(what, value, source) for every rule of one therapy's requirements."""
    found = [
        _rule(
            "Prerequisites",
            req,
            "prerequisites",
            "; ".join(p.label for p in req.prerequisites),
        ),
        _rule("Roles needing a trained person", req, "staff_roles", _roles(req.staff_roles)),
    ]
    within = req.tocilizumab_resupply_within
    found += [
        _rule(
            "Tocilizumab doses on site, at least",
            req,
            "tocilizumab_min_doses",
            str(req.tocilizumab_min_doses),
        ),
        _rule(
            "Tocilizumab resupply, at most",
            req,
            "tocilizumab_resupply_within",
            "not checked" if within is None else number_text(within),
        ),
    ]
    return found


def _rule(what: str, part: Sourced, name: str, value: str) -> Rule:
    return (what, value, source_text(part.source_of(name)))


def _roles(roles: list[Role]) -> str:
    return ", ".join(role.label for role in roles) or "none"
