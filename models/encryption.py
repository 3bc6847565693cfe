"""Payload encryption: an AES-256-GCM payload codec with a key ring, and the data converter
that carries cellpath's pydantic payloads through it.

Usage::

    ring = KeyRing.parse("k2026:BASE64KEY,k2025:OLDKEY")   # the first key is current
    converter = data_converter(EncryptionCodec(ring))
    client = await Client.connect(address, data_converter=converter)

    codec = codec_from_settings(Settings.from_env())       # None when no key is configured

Keys come from ``CELLPATH_ENCRYPTION_KEYS`` (``kid:base64key,kid:base64key``) or
``CELLPATH_ENCRYPTION_KEY_FILE`` (a file with the same content, one key a line allowed).
Every payload is encrypted with the current key and names it in its metadata
(``encryption-key-id``); decoding picks the key by that ID, so a rotated key stays readable
for as long as it is listed after the current one.

Limitations: only payloads are encrypted. Workflow IDs, search attributes, update, timer and
activity names, failure *types* and the server's own metadata stay in clear (see
docs/security.md). Payloads that are not encrypted (written before encryption was turned on)
are decoded as they are. Nothing here does I/O at import time; ``KeyRing.from_file`` and
``codec_from_settings`` read the key file when called.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from models.key_spec import parse_key_spec, read_key_file

if TYPE_CHECKING:
    from models.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12  # 96-bit random nonce, the size GCM is built for
KEY_BYTES = 32  # AES-256
#: the key file the dev stack generates in its state dir when no key is configured
DEV_KEY_FILE = "encryption.keys"

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class EncryptionError(ValueError):
    """A payload or a key could not be used; the message names key IDs, never key material."""


class KeyConfigError(EncryptionError):
    """The key configuration is malformed (bad ID, not base64, not 32 bytes, duplicates)."""


class DecryptionError(EncryptionError):
    """A payload could not be decrypted: unknown key ID, altered ciphertext, wrong key."""


class UnknownKeyError(DecryptionError):
    """The payload names a key ID that is not in the key ring."""


@dataclasses.dataclass(frozen=True, repr=False)
class KeyRing:
    """Key ID → 32-byte key; ``current`` encrypts, every key decrypts.

    ``repr`` shows key IDs only, so a ring can be logged without leaking keys.
    """

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("no encryption key given")
        if self.current not in self.keys:
            raise KeyConfigError(f"the current key ID {self.current!r} is not in the key ring")
        for kid, key in self.keys.items():
            if not _KEY_ID.match(kid):
                raise KeyConfigError(
                    f"invalid key ID {kid!r}: use letters, digits, '.', '_' or '-' (at most 64)"
                )
            if len(key) != KEY_BYTES:
                raise KeyConfigError(
                    f"key {kid!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
                    "(base64 of 32 random bytes)"
                )

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current!r}, key_ids={list(self.keys)!r})"

    @property
    def key_ids(self) -> list[str]:
        return list(self.keys)

    @classmethod
    def parse(cls, spec: str, *, source: str = "CELLPATH_ENCRYPTION_KEYS") -> KeyRing:
        """``kid:base64key`` items separated by commas or new lines; ``#`` starts a comment.

        The first key is current: to rotate, put the new key first and keep the old ones.
        """
        keys = parse_key_spec(
            spec, source, decode=_decode_key, error=KeyConfigError, expected="'key-id:base64-key'"
        )
        return cls(keys, current=next(iter(keys)))

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        text = read_key_file(path, "encryption key file", error=KeyConfigError)
        return cls.parse(text, source=str(path))

    @classmethod
    def generate(cls, key_id: str) -> KeyRing:
        """A ring with one fresh random key (dev stack, tests)."""
        return cls({key_id: os.urandom(KEY_BYTES)}, current=key_id)

    def to_spec(self) -> str:
        """The ring in the ``CELLPATH_ENCRYPTION_KEYS`` format (this *is* the secret)."""
        return ",".join(
            f"{kid}:{base64.b64encode(key).decode('ascii')}" for kid, key in self.keys.items()
        )


def _decode_key(kid: str, encoded: str, source: str) -> bytes:
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        altchars = b"-_" if ("-" in encoded or "_" in encoded) else None
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{source}: key {kid!r} is not valid base64") from None


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload (metadata and data), random nonce.

    The encrypted payload's data is ``nonce || ciphertext || tag``; the key ID is bound to
    the ciphertext as associated data, so a payload relabelled with another key ID fails.
    """

    def __init__(self, ring: KeyRing) -> None:
        super().__init__()
        self.ring = ring
        self._ciphers = {kid: AESGCM(key) for kid, key in ring.keys.items()}

    def __repr__(self) -> str:
        return f"EncryptionCodec({self.ring!r})"

    @property
    def current_key_id(self) -> str:
        return self.ring.current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self.ring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: kid.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        if not kid:
            raise DecryptionError(f"an encrypted payload has no {KEY_ID_METADATA} metadata")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKeyError(
                f"a payload is encrypted with key {kid!r}, which is not configured "
                f"(known: {', '.join(self.ring.key_ids)}); after a rotation keep the old key "
                "in CELLPATH_ENCRYPTION_KEYS, after the current one"
            )
        data = payload.data
        if len(data) <= NONCE_BYTES:
            raise DecryptionError(f"an encrypted payload (key {kid!r}) is truncated")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise DecryptionError(
                f"a payload encrypted with key {kid!r} failed authentication: it was altered, "
                f"or the key configured as {kid!r} is not the one it was encrypted with"
            ) from None
        return Payload.FromString(plain)


class MissingKeyCodec(PayloadCodec):
    """Without a configured key: payloads go out as they are, and an encrypted payload
    coming in fails with a clear message instead of an unknown-encoding error."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                kid = payload.metadata.get(KEY_ID_METADATA, b"?").decode("utf-8", "replace")
                raise DecryptionError(
                    f"these payloads are encrypted (key {kid!r}) and no encryption key is "
                    "configured: set CELLPATH_ENCRYPTION_KEYS or CELLPATH_ENCRYPTION_KEY_FILE"
                )
        return list(payloads)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic data converter, encrypting through ``codec`` when there is one.

    With a codec, failure messages and stack traces are moved into an encoded attribute
    (``DefaultFailureConverterWithEncodedAttributes``), so they are encrypted too. Without
    one, nothing is encrypted, and reading an encrypted payload says that a key is missing.
    """
    if codec is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=MissingKeyCodec())
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def key_ring_from_settings(settings: Settings) -> KeyRing | None:
    """The configured key ring: ``CELLPATH_ENCRYPTION_KEYS`` or ``CELLPATH_ENCRYPTION_KEY_FILE``;
    without either, the dev stack's key file in the state dir if it exists; else ``None``."""
    keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
    key_file = settings.encryption_key_file
    if keys and key_file:
        raise KeyConfigError(
            "set CELLPATH_ENCRYPTION_KEYS or CELLPATH_ENCRYPTION_KEY_FILE, not both"
        )
    if keys:
        return KeyRing.parse(keys)
    if key_file:
        return KeyRing.from_file(key_file)
    dev_file = settings.state_dir / DEV_KEY_FILE
    if dev_file.is_file():
        return KeyRing.from_file(dev_file)
    return None


def codec_from_settings(settings: Settings) -> EncryptionCodec | None:
    ring = key_ring_from_settings(settings)
    return EncryptionCodec(ring) if ring else None
