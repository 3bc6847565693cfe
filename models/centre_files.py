"""Centre files: the centre and policy YAML files, read and validated with readable errors.

Usage::

    policy = load_centre_policy()                        # centres/policy.yaml
    centre = load_centre("centres/centre-b.yaml", now=now)
    [load_centre(p, now=now) for p in centre_files()]    # every centre but the policy

Dates in a centre file may be relative to when it is loaded (``"+20d"``, ``"-2y"``), so the
demo centres stay "expiring soon" whenever they are loaded. A file that cannot be used raises
``CentreFileError`` naming the file and each field at fault.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models import yaml_files
from models.centre_policy import CentrePolicy
from models.durations import parse_duration
from models.evidence import Centre
from models.protocol import Therapy, load_default_protocol
from models.sources import FROM_FILE
from models.validation import readable

CENTRE_DIR = Path(__file__).resolve().parent.parent / "centres"
POLICY_FILE = "policy.yaml"


class CentreFileError(ValueError):
    """A centre or policy file that cannot be used, with the file and each field at fault."""


_RELATIVE = re.compile(r"^\s*([+-])\s*(\d+(?:\.\d+)?\s*(?:s|min|h|d|w|mo|y))\s*$")


def resolve_relative(value: Any, *, now: datetime, time_scale: float = 1.0) -> Any:
    """Turn ``"+20d"`` / ``"-2y"`` into ``now`` ± that many days on the (compressed)
    clock, so demo centres stay "expiring soon" whenever they are loaded."""
    if isinstance(value, str):
        match = _RELATIVE.match(value)
        if match:
            delta = parse_duration(match.group(2).replace(" ", "")) * time_scale
            return (now + delta if match.group(1) == "+" else now - delta).isoformat()
        return value
    if isinstance(value, dict):
        return {k: resolve_relative(v, now=now, time_scale=time_scale) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_relative(v, now=now, time_scale=time_scale) for v in value]
    return value


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CentreFileError(f"{path}: cannot read the {what} file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise CentreFileError(f"{path}: not valid YAML or JSON ({err})") from err
    if not isinstance(raw, dict):
        raise CentreFileError(f"{path}: a {what} file must hold a mapping of fields")
    return raw


def load_centre(path: str | Path, *, now: datetime, time_scale: float = 1.0) -> Centre:
    """A centre file; relative dates (``+20d``) are resolved against ``now``."""
    path = Path(path)
    raw = resolve_relative(_read_yaml(path, "centre"), now=now, time_scale=time_scale)
    try:
        return Centre.model_validate(raw)
    except ValidationError as err:
        raise CentreFileError(f"{path}: {readable(err)}") from err


def load_centre_policy(path: str | Path | None = None) -> CentrePolicy:
    """The centre policy, every stated rule with its source; a therapy's
    ``tocilizumab_min_doses`` defaults to its protocol's, with the protocol's source."""
    path = Path(path) if path else CENTRE_DIR / POLICY_FILE
    raw = _read_yaml(path, "centre policy")
    requirements = raw.get("requirements")
    if isinstance(requirements, dict):
        for therapy, req in requirements.items():
            if isinstance(req, dict) and "tocilizumab_min_doses" not in req:
                try:
                    protocol = load_default_protocol(Therapy(therapy))
                except ValueError:
                    continue  # an unknown therapy is reported by validation below
                found = protocol.source_of("tocilizumab_min_doses")
                req["tocilizumab_min_doses"] = {
                    "value": protocol.tocilizumab_min_doses,
                    "source": found.text() if found else f"assumption: protocol {protocol.id}",
                }
    try:
        # Every rule the file states needs its source (models/sources.py).
        return CentrePolicy.model_validate(raw, context=FROM_FILE)
    except ValidationError as err:
        raise CentreFileError(f"{path}: {readable(err)}") from err


def centre_files(directory: str | Path | None = None) -> list[Path]:
    directory = Path(directory) if directory else CENTRE_DIR
    return sorted(p for p in directory.glob("*.yaml") if p.name != POLICY_FILE)
