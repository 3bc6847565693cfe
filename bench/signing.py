"""The bench signs like production: the demo staff as service accounts sign every action,
and the second person co-signs each two-person action; the cellpath worker verifies both.

Usage::

    signing = bench_sign_in(tmp / "sign-in")     # keys and demo accounts, made once
    worker = WorkerProcess(..., actor_key_file=signing.public_keys)
    update_id, data = signing.sign(pathway_id, event, data)   # before the action is timed

The accounts and keys are the dev stack's (``signin.dev_stack``), in the bench's temporary
directory, and signing goes through the one client layer (``client.signing``), as
``cellpath dev``'s demo does. Only the password hash is cheaper than production's Argon2id
profile: every electronic signature re-enters the password, and the clients share the
machine with the worker and the server they measure (a client's signing is not timed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from client.signing import ActionSigner, cosigner_among, sign_action
from models.actor_keys import DEV_PUBLIC_KEY_FILE
from signin.dev_stack import prepare_dev_sign_in

#: the accounts' password hash: Argon2id, cheap (the bench measures the worker, not sign-in)
BENCH_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@dataclass(frozen=True)
class BenchSigning:
    #: the demo staff's service accounts, by staff ID
    signers: dict[str, ActionSigner]
    #: the public keys the worker verifies assertions and co-signatures with
    public_keys: Path

    def sign(
        self, workflow_id: str, event: str, data: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The Update ID and the signed (and, for a two-person action, co-signed) payload."""
        signer = self.signers[str(data["actor"])]
        update_id, signed = sign_action(
            data,
            signer,
            workflow_id=workflow_id,
            event=event,
            cosigner=cosigner_among(event, data, self.signers),
        )
        assert update_id is not None
        return update_id, signed


def bench_sign_in(state_dir: Path) -> BenchSigning:
    """The dev stack's signing keys and demo accounts in ``state_dir``, signed in."""
    state_dir.mkdir(parents=True, exist_ok=True)
    dev = prepare_dev_sign_in(state_dir, hasher=BENCH_HASHER)
    return BenchSigning(dict(dev.demo_signers()), state_dir / DEV_PUBLIC_KEY_FILE)
