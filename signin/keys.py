"""Signing keys: the sign-in service's Ed25519 private keys, and the public ring they give.

Usage::

    keys = ensure_dev_signing_keys(Path(".cellpath"))   # generated once, like the payload key
    token = keys.sign(ASSERTION_TYPE, claims)            # compact JWS with the current key
    keys.public_ring()                                   # what the worker verifies against

The private keys live in ``CELLPATH_SIGNIN_KEY_FILE`` (``kid:base64url-seed`` items, the
first is current; readable by the sign-in service only). To rotate: generate a key, put it
first, keep the old one after it until every assertion it signed has expired (minutes), and
publish the new public ring to the workers *before* the sign-in service starts using it.
The dev stack writes ``signin.keys`` (private, 0600) and ``actor-public.keys`` (public)
into its state dir. Nothing here does I/O at import time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.jwk import OKPKey

from models.actor import ALGORITHM
from models.actor_keys import (
    DEV_PUBLIC_KEY_FILE,
    ActorKeyConfigError,
    ActorKeyRing,
    b64url,
    parse_key_items,
)
from models.key_spec import read_key_file

#: the private key file the dev stack generates in its state dir
DEV_SIGNING_KEY_FILE = "signin.keys"


def public_key_of(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


@dataclasses.dataclass(frozen=True, repr=False)
class SigningKeys:
    """Key ID → 32-byte Ed25519 seed; ``current`` signs. ``repr`` shows key IDs only."""

    seeds: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.seeds:
            raise ActorKeyConfigError(f"the current key ID {self.current!r} is not in the ring")
        seed = self.seeds[self.current]
        jwk: dict[str, str | list[str]] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(public_key_of(seed)),
            "d": b64url(seed),
            "kid": self.current,
        }
        object.__setattr__(self, "_signer", OKPKey.import_key(jwk))

    def __repr__(self) -> str:
        return f"SigningKeys(current={self.current!r}, key_ids={list(self.seeds)!r})"

    @classmethod
    def generate(cls, key_id: str) -> SigningKeys:
        return cls({key_id: os.urandom(32)}, current=key_id)

    @classmethod
    def parse(cls, spec: str, *, source: str = "CELLPATH_SIGNIN_KEYS") -> SigningKeys:
        seeds = parse_key_items(spec, source)
        return cls(seeds, current=next(iter(seeds)))

    @classmethod
    def from_file(cls, path: Path) -> SigningKeys:
        text = read_key_file(path, "signing key file", error=ActorKeyConfigError)
        return cls.parse(text, source=str(path))

    def to_spec(self) -> str:
        """The private keys in the key file format (this *is* the secret)."""
        return ",".join(f"{kid}:{b64url(seed)}" for kid, seed in self.seeds.items())

    def public_ring(self) -> ActorKeyRing:
        """The public keys of every listed key, current first: what workers trust."""
        return ActorKeyRing(
            {kid: public_key_of(seed) for kid, seed in self.seeds.items()}, current=self.current
        )

    def sign(self, token_type: str, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` with the current key, its ``kid`` and ``typ``."""
        header = {"alg": ALGORITHM, "typ": token_type, "kid": self.current}
        payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
        signer: OKPKey = self._signer  # type: ignore[attr-defined]
        return jws.serialize_compact(header, payload, signer, algorithms=[ALGORITHM])


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def ensure_dev_signing_keys(state_dir: Path) -> SigningKeys:
    """The dev stack's signing keys in ``state_dir``, generated on first use.

    Writes ``signin.keys`` (private, 0600) and ``actor-public.keys`` (the public ring the
    worker finds through ``actor_key_ring_from_settings``). An existing key file is kept; the
    public file is rewritten from it, so the two never disagree.
    """
    private = state_dir / DEV_SIGNING_KEY_FILE
    if private.is_file():
        keys = SigningKeys.from_file(private)
    else:
        keys = SigningKeys.generate(f"signin-dev-{secrets.token_hex(3)}")
        write_private(
            private,
            "# cellpath dev-stack signing key (generated; this machine only, not for real "
            f"data)\n{keys.to_spec()}\n",
        )
    public = state_dir / DEV_PUBLIC_KEY_FILE
    public.write_text(
        "# public keys actor assertions are verified against (generated from signin.keys)\n"
        f"{keys.public_ring().to_spec()}\n",
        encoding="utf-8",
    )
    return keys
