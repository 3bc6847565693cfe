"""Electronic signatures: which staff actions are signatures, and what each signature means.

A critical action (MDTM decision, product release, receipt, thaw, infusion; the second
person of a two-person check signs the same action as "verified") is an electronic signature
in the sense of 21 CFR Part 11 §11.50 and §11.200: the person re-enters their password (or
re-authenticates with the identity provider) to sign, and the record keeps the meaning of
the signature. Other actions are recorded under the signed-in identity without re-asking.

Usage::

    meanings_for("infuse")          # ("administered", "verified"): the first is the default
    is_signature("record_consent")  # False
"""

from __future__ import annotations

from datetime import timedelta

#: how long after the password (or the provider's login) a signature may still be made
REAUTHENTICATION_WINDOW = timedelta(minutes=5)

_VERIFIED = "verified"  # the second person of a two-person check

SIGNATURE_MEANINGS: dict[str, tuple[str, ...]] = {
    # MDTM decision, co-signed by the binôme
    "approve_at_mdtm": ("approved", _VERIFIED),
    "reject_at_mdtm": ("rejected", _VERIFIED),
    "defer_at_mdtm": ("deferred", _VERIFIED),
    # product
    "release_product": ("released",),
    "release_from_quarantine": ("released",),
    "receive_product": ("received", _VERIFIED),
    "thaw_product": ("thawed", _VERIFIED),
    # bedside chain-of-identity check and infusion
    "infuse": ("administered", _VERIFIED),
}


def is_signature(action: str) -> bool:
    """Whether sending ``action`` is an electronic signature (re-authentication, meaning)."""
    return action in SIGNATURE_MEANINGS


def meanings_for(action: str) -> tuple[str, ...]:
    """The meanings a signature of ``action`` may carry (the first is the usual one); empty
    for an action that is not a signature."""
    return SIGNATURE_MEANINGS.get(action, ())
