"""Which signers a worker trusts: the actor key ring each task queue's workflows verify with.

A workflow cannot read configuration (no I/O), and its validators need the public keys that
actor assertions are checked against. The worker registers its ring here when it is built
(``worker.build_worker``); this module is passed through the workflow sandbox, so every run
on that queue sees the same ring without re-reading it.

Usage::

    trust_signers("cellpath", ring)          # worker start; ``None`` switches checking off
    ring = trusted_signers(workflow.info().task_queue)   # in an update validator

A queue with a ring *requires* a valid assertion on every staff action; a queue without one
takes the actor and role as typed (the behaviour before sign-in existed: docs/security.md).
Only validators read this: a replayed handler never depends on keys that may have rotated.

Limitations: one ring per task queue per process; two workers on the same queue in one
process with different rings share the last one registered.
"""

from __future__ import annotations

from models.actor_keys import ActorKeyRing

_RINGS: dict[str, ActorKeyRing] = {}


def trust_signers(task_queue: str, ring: ActorKeyRing | None) -> None:
    """Verify actor assertions on ``task_queue`` against ``ring`` (``None``: do not)."""
    if ring is None:
        _RINGS.pop(task_queue, None)
    else:
        _RINGS[task_queue] = ring


def trusted_signers(task_queue: str) -> ActorKeyRing | None:
    """The ring actions on ``task_queue`` are verified against, or ``None`` if unchecked."""
    return _RINGS.get(task_queue)
