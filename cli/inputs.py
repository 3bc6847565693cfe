"""What staff type or hand the CLI: referral and ``--data`` files, JSON/YAML mappings,
pathway IDs; each refused (exit 2) with what is wrong and where, before anything travels.

Usage::

    raw = load_mapping(read_text("referral.yaml", "the referral file"), "the referral file")
    check_pathway_id("pathway-centre-a-LUP-001")
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml

from cli.app import fail
from models.referral import PATHWAY_ID

# What a message quotes of what was typed.
ECHO_LIMIT = 80
# A referral or an action's details are a few KB. Past this a file, stdin or --data is
# refused before it is parsed (a stray 10 MB file took ~5 s to parse, then was refused).
MAX_INPUT_BYTES = 1_000_000
DETAILS_FIT = "a referral or an action's details fit in a few KB"


def echo(text: str) -> str:
    """What was typed, quoted and shortened: a message never repeats a huge argument."""
    head = text[:ECHO_LIMIT]
    # ascii() spells out a look-alike letter (Cyrillic "а" as \u0430) or a control character.
    shown = head if head.isascii() and head.isprintable() else ascii(head)[1:-1]
    return f"'{shown}{'…' if len(text) > ECHO_LIMIT else ''}'"


def check_pathway_id(pathway: str) -> None:
    """Exit 2 unless ``pathway`` reads pathway-<centre>-<pseudonym>."""
    if not PATHWAY_ID.fullmatch(pathway):
        raise fail(
            f"{echo(pathway)} is not a pathway ID: they read pathway-<centre>-<pseudonym>, "
            "e.g. pathway-centre-a-LUP-001, in Latin letters (`cellpath list` shows them)"
        )


def yaml_problem(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def too_large(what: str, fits: str) -> typer.Exit:
    return fail(f"{what} is larger than {MAX_INPUT_BYTES // 1_000_000} MB: {fits}", kind="BadInput")


def read_text(path: str, what: str, fits: str = DETAILS_FIT) -> str:
    """A file (or stdin for ``-``) of at most ``MAX_INPUT_BYTES``, or exit 2 saying why not."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        elif Path(path).stat().st_size > MAX_INPUT_BYTES:
            raise too_large(f"{what} {path}", fits)
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot read {what} {path}: {err.strerror}", kind="BadInput") from None
    except UnicodeDecodeError:
        raise fail(f"{what} {path} is not UTF-8 text", kind="BadInput") from None
    if len(text) > MAX_INPUT_BYTES:
        raise too_large(what if path == "-" else f"{what} {path}", fits)
    return text


def load_mapping(
    text: str, what: str, fits: str = DETAILS_FIT, example: str = '{"visit": "M3"}'
) -> dict[str, Any]:
    """A JSON or YAML object, or exit 2 saying what is wrong and where."""
    if not text.strip():
        raise fail(f"{what} is empty", kind="BadInput")
    if len(text) > MAX_INPUT_BYTES:
        raise too_large(what, fits)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise fail(
            f"{what} is not valid JSON or YAML: {yaml_problem(err)}", kind="BadInput"
        ) from None
    except RecursionError:
        # The YAML parser recurses once per level: thousands of nested brackets overflow it.
        raise fail(
            f"{what} is nested too deeply to be an action's details", kind="BadInput"
        ) from None
    if not isinstance(data, dict):
        raise fail(
            f"{what} must be a JSON or YAML object (mapping), e.g. {example}",
            kind="BadInput",
        )
    return data
