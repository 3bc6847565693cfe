"""Which protocol a referral follows: the one it names, or the one its therapy and disease match.

Usage::

    protocol = choose_protocol(referral)        # raises a ProtocolChoiceRefused subclass
    check_protocol(referral, protocol)           # a protocol chosen elsewhere (demo, tests)

No silent default: a referral without ``protocol_id`` gets the single shipped protocol whose
therapy is the referral's and whose diseases cover its ICD-10 or ORPHA code. No match, or
several, is refused with the candidates named; so is a named protocol for another therapy or
another disease. A new referral must carry a disease code (``MissingDiseaseCode``); only
referrals recorded before codes existed lack one, and they are never chosen for again.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.disease_codes import DiseaseCodes
from models.protocol import Protocol, shipped_protocols
from models.referral import Referral
from models.refusals import Outcome, Refusal


class ProtocolChoiceRefused(Refusal):
    """The referral cannot be given a protocol: the message says why and what to send."""

    outcome = Outcome.BAD_INPUT


class MissingDiseaseCode(ProtocolChoiceRefused):
    pass


class UnknownProtocol(ProtocolChoiceRefused):
    pass


class ProtocolMismatch(ProtocolChoiceRefused):
    pass


class AmbiguousProtocol(ProtocolChoiceRefused):
    pass


class NoMatchingProtocol(ProtocolChoiceRefused):
    # Well-formed, but no protocol of the programme treats this disease with this therapy.
    outcome = Outcome.REFUSED


def describe(protocol: Protocol) -> str:
    """``cart-cd19-lupus (car-t: systemic sclerosis M34, ORPHA:90291; …)``."""
    diseases = "; ".join(f"{d.name} {d.codes_text()}" for d in protocol.diseases)
    return f"{protocol.id} ({protocol.therapy.value}: {diseases or 'no disease listed'})"


def require_disease_codes(referral: Referral) -> DiseaseCodes:
    codes = referral.disease_codes
    if codes is None:
        raise MissingDiseaseCode(
            f"The referral of {referral.pseudonym} gives no disease code: add the ICD-10 "
            "code (icd10, e.g. M32.1) and/or the ORPHA code (orpha, e.g. ORPHA:536) of "
            f"{referral.disease}."
        )
    return codes


def check_protocol(referral: Referral, protocol: Protocol) -> None:
    """Refuse a protocol whose therapy or diseases are not the referral's."""
    codes = require_disease_codes(referral)
    if protocol.therapy != referral.therapy:
        raise ProtocolMismatch(
            f"Protocol {protocol.id} is for {protocol.therapy.value}, the referral is for "
            f"{referral.therapy.value}."
        )
    if protocol.disease_for(codes) is None:
        raise ProtocolMismatch(
            f"Protocol {protocol.id} is not for {codes.text()} ({referral.disease}): it "
            f"covers {describe(protocol)}."
        )


def choose_protocol(referral: Referral, catalogue: Sequence[Protocol] | None = None) -> Protocol:
    """The protocol the referral names, or the single one matching its therapy and disease."""
    protocols = list(shipped_protocols() if catalogue is None else catalogue)
    codes = require_disease_codes(referral)
    if referral.protocol_id:
        named = next((p for p in protocols if p.id == referral.protocol_id), None)
        if named is None:
            raise UnknownProtocol(
                f"No protocol {referral.protocol_id!r}; the protocols are: "
                + ", ".join(p.id for p in protocols)
                + "."
            )
        check_protocol(referral, named)
        return named
    same_therapy = [p for p in protocols if p.therapy == referral.therapy]
    matching = [p for p in same_therapy if p.disease_for(codes) is not None]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise NoMatchingProtocol(
            f"No {referral.therapy.value} protocol is for {codes.text()} "
            f"({referral.disease}). The {referral.therapy.value} protocols are: "
            + ("; ".join(describe(p) for p in same_therapy) or "none")
            + ". Check the codes, or refer for another therapy."
        )
    raise AmbiguousProtocol(
        f"Several {referral.therapy.value} protocols are for {codes.text()} "
        f"({referral.disease}): "
        + "; ".join(describe(p) for p in matching)
        + ". Name one with protocol_id."
    )
