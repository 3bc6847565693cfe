"""Source tags: where each number of a protocol comes from.

Usage (in a protocol file)::

    windows:
      work_up_validity: {value: 90d, source: "recommendations: Castilla-Llorente 2025 (MDTM)"}
    washout:
      - {drug: azathioprine, stop_before: 2w, source: "EBMT-ISCT: Greco 2024, washout"}

A source is ``"<kind>: <short citation>"``, the kind one of ``SourceKind``. A part of a
protocol whose numbers need sources subclasses ``Sourced`` and lists them in ``NUMBERS``: a
number is written ``{value: …, source: …}``, or a row (a washout drug, a visit, a deadline)
has one ``source:`` for all its numbers. In the model the value stays a plain field and its
source goes to the part's ``sources`` map, so code reads ``windows.work_up_validity`` as
before.

A protocol *file* must tag every number it states (``load_protocol`` validates with
``FROM_FILE``); a number the file leaves out takes the model's default with the default's
own source (``DEFAULT_SOURCES``). A protocol recorded in a workflow input before source tags
existed has no ``sources``: it still loads, as recorded.

The centre policy (``models/centre_policy.py``, ``centres/policy.yaml``) tags its rules the
same way and is validated with the same ``FROM_FILE``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_serializer,
    model_validator,
)

# Validation context of a protocol read from its file: every stated number needs a source.
FROM_FILE: dict[str, Any] = {"protocol_file": True}


class SourceKind(StrEnum):
    RECOMMENDATIONS = "recommendations"  # SFGM-TC/MATHEC, French national protocol (PNDS)
    EBMT_ISCT = "EBMT-ISCT"  # Greco et al. 2024 statement
    LABEL = "label"  # EU product information (SmPC)
    REGULATION = "regulation"  # EU CTR 536/2014, Regulation 1394/2007
    ASSUMPTION = "assumption"  # no source found: the citation says why the value was chosen


class Source(BaseModel):
    """``label: EU SmPC of licensed CD19 CAR-T``: a kind and a short citation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SourceKind
    cite: str = Field(min_length=3, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            kind, sep, cite = data.partition(":")
            if not sep:
                raise ValueError(
                    f"a source reads '<kind>: <citation>' with kind one of {kinds()}; "
                    f"got {data[:60]!r}"
                )
            return {"kind": kind.strip(), "cite": cite.strip()}
        return data

    @model_serializer
    def _as_text(self) -> str:
        return self.text()

    def text(self) -> str:
        return f"{self.kind.value}: {self.cite}"


def kinds() -> str:
    return ", ".join(k.value for k in SourceKind)


def source(text: str) -> Source:
    """A source written as in a protocol file: ``source("regulation: EU CTR 536/2014")``."""
    return Source.model_validate(text)


def _is_tagged(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"value", "source"}


class Sourced(BaseModel):
    """A part of a protocol whose ``NUMBERS`` each carry a source (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    NUMBERS: ClassVar[tuple[str, ...]] = ()
    # A row's own ``source:`` tags every number of the row that has no tag of its own.
    ROW_SOURCE: ClassVar[bool] = True
    DEFAULT_SOURCES: ClassVar[dict[str, Source]] = {}

    sources: dict[str, Source] = {}

    @model_validator(mode="before")
    @classmethod
    def _split_sources(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sources: dict[str, Any] = dict(data.pop("sources", None) or {})
        row = data.pop("source", None) if cls.ROW_SOURCE else None
        for name in cls.NUMBERS:
            value = data.get(name)
            if _is_tagged(value):
                data[name] = value["value"]
                sources[name] = value["source"]
            elif name in data and row is not None:
                sources.setdefault(name, row)
        for name in cls.NUMBERS:
            if name not in data and name in cls.DEFAULT_SOURCES:
                sources.setdefault(name, cls.DEFAULT_SOURCES[name])
        if (info.context or {}).get("protocol_file"):
            # A required number left out is pydantic's "field required", not a missing source.
            untagged = [
                n
                for n in cls.NUMBERS
                if n not in sources and (n in data or not cls.model_fields[n].is_required())
            ]
            if untagged:
                stated = [n for n in untagged if n in data]
                hint = (
                    "write each as {value: …, source: '<kind>: <citation>'}"
                    if not cls.ROW_SOURCE
                    else "give the row a source: '<kind>: <citation>'"
                )
                raise ValueError(
                    f"{', '.join(untagged)} "
                    + ("has" if len(untagged) == 1 else "have")
                    + " no source ("
                    + (hint if stated else "state the value in the file with its source")
                    + f"; kinds: {kinds()})"
                )
        data["sources"] = sources
        return data

    @model_validator(mode="after")
    def _sources_name_numbers(self) -> Sourced:
        unknown = sorted(set(self.sources) - set(self.NUMBERS))
        if unknown:
            raise ValueError(f"sources given for {', '.join(unknown)}, which take no source")
        return self

    def source_of(self, name: str) -> Source | None:
        return self.sources.get(name)
