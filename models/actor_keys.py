"""The trusted key ring: the Ed25519 public keys that actor assertions are verified against.

Usage::

    ring = ActorKeyRing.parse("signin-2026:BASE64URL_X,signin-2025:OLD_X")  # first is current
    ring = actor_key_ring_from_settings(Settings.from_env())  # None when nothing is configured

Keys come from ``CELLPATH_ACTOR_KEYS`` (``kid:x,kid:x``, where ``x`` is the public key as
in a JWK: 32 bytes, base64url) or ``CELLPATH_ACTOR_KEY_FILE`` (the same, one a line allowed);
without either, the dev stack's public key file in the state dir (``actor-public.keys``,
written by ``signin.keys.ensure_dev_signing_keys``). Rotation works like the payload key
ring: the sign-in service signs with the first (current) key; every listed key verifies, so
a retired key stays trusted for as long as it is listed after the current one, and an
assertion signed by a key removed from the list is refused as forged.

These are public keys: the file is not a secret, but whoever can edit it can make the
workflow trust any signer, so it is protected like configuration. Nothing here does I/O at
import time.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joserfc.jwk import OKPKey

from models.key_spec import parse_key_spec, read_key_file

if TYPE_CHECKING:
    from models.settings import Settings

#: the public key file the dev stack writes in its state dir
DEV_PUBLIC_KEY_FILE = "actor-public.keys"
ED25519_KEY_BYTES = 32

KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ActorKeyConfigError(ValueError):
    """The trusted key configuration is malformed (bad ID, not base64url, not 32 bytes)."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(kid: str, encoded: str, source: str) -> bytes:
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ActorKeyConfigError(f"{source}: key {kid!r} is not valid base64url") from None
    if len(raw) != ED25519_KEY_BYTES:
        raise ActorKeyConfigError(
            f"{source}: key {kid!r} is {len(raw)} bytes; an Ed25519 key is {ED25519_KEY_BYTES}"
        )
    return raw


def parse_key_items(spec: str, source: str) -> dict[str, bytes]:
    """``kid:base64url`` items separated by commas or new lines (``#`` starts a comment),
    in order: the first is current."""

    def check_id(kid: str) -> None:
        if not KEY_ID.match(kid):
            raise ActorKeyConfigError(
                f"{source}: invalid key ID {kid!r}: use letters, digits, '.', '_' or '-'"
            )

    return parse_key_spec(
        spec,
        source,
        decode=b64url_decode,
        error=ActorKeyConfigError,
        expected="'key-id:key'",
        check_id=check_id,
    )


@dataclasses.dataclass(frozen=True, repr=False)
class ActorKeyRing:
    """Key ID → raw Ed25519 public key; every key verifies, ``current`` is the newest."""

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ActorKeyConfigError(f"the current key ID {self.current!r} is not in the ring")
        # One joserfc key object per ID, built once: verifying is then a dictionary lookup.
        jwks = {kid: OKPKey.import_key(self.jwk(kid)) for kid in self.keys}
        object.__setattr__(self, "_jwks", jwks)

    def __repr__(self) -> str:
        return f"ActorKeyRing(current={self.current!r}, key_ids={list(self.keys)!r})"

    @property
    def key_ids(self) -> list[str]:
        return list(self.keys)

    def jwk(self, kid: str) -> dict[str, Any]:
        """The public key ``kid`` as a JWK (RFC 8037)."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.keys[kid]), "kid": kid}

    def verification_key(self, kid: str) -> OKPKey | None:
        return self._jwks.get(kid)  # type: ignore[attr-defined,no-any-return]

    def to_jwks(self) -> dict[str, Any]:
        """The ring as a JSON Web Key Set, for tools that read one."""
        return {"keys": [self.jwk(kid) for kid in self.keys]}

    def to_spec(self) -> str:
        """The ring in the ``CELLPATH_ACTOR_KEYS`` format."""
        return ",".join(f"{kid}:{b64url(key)}" for kid, key in self.keys.items())

    @classmethod
    def parse(cls, spec: str, *, source: str = "CELLPATH_ACTOR_KEYS") -> ActorKeyRing:
        keys = parse_key_items(spec, source)
        return cls(keys, current=next(iter(keys)))

    @classmethod
    def from_file(cls, path: Path) -> ActorKeyRing:
        text = read_key_file(path, "actor key file", error=ActorKeyConfigError)
        return cls.parse(text, source=str(path))


def actor_key_ring_from_settings(settings: Settings) -> ActorKeyRing | None:
    """``CELLPATH_ACTOR_KEYS`` or ``CELLPATH_ACTOR_KEY_FILE``; without either, the dev
    stack's public key file in the state dir if it exists; else ``None``."""
    spec, key_file = settings.actor_keys, settings.actor_key_file
    if spec and key_file:
        raise ActorKeyConfigError("set CELLPATH_ACTOR_KEYS or CELLPATH_ACTOR_KEY_FILE, not both")
    if spec:
        return ActorKeyRing.parse(spec)
    if key_file:
        return ActorKeyRing.from_file(key_file)
    dev_file = settings.state_dir / DEV_PUBLIC_KEY_FILE
    if dev_file.is_file():
        return ActorKeyRing.from_file(dev_file)
    return None
