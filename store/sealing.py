"""Sealing a record's sensitive fields with the payload codec's key ring, as Temporal does.

Usage::

    sealer = Sealer(codec_from_settings(settings))   # None: no key configured, kept in clear
    blob = sealer.seal({"reason": "rescheduled"})    # bytes for a ``*_sealed`` column
    sealer.unseal(blob)                              # {"reason": "rescheduled"}

A sealed value is a Temporal ``Payload`` in its wire form: the pydantic payload converter
turns the value into JSON, and ``EncryptionCodec`` encrypts it (AES-256-GCM, key ID in the
metadata). The store therefore writes exactly what the Temporal database holds, a rotated
key stays readable while the ring lists it, and no crypto is written here.

Limitations: without a key ring values are stored in clear JSON, as Temporal stores
payloads without a codec; reading an encrypted value then fails with a clear message.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from models.encryption import ENCODING, KEY_ID_METADATA, DecryptionError, EncryptionCodec


class Sealer:
    def __init__(self, codec: EncryptionCodec | None) -> None:
        self.codec = codec

    def __repr__(self) -> str:
        return f"Sealer({self.codec!r})"

    def seal(self, value: Any) -> bytes:
        payload = pydantic_data_converter.payload_converter.to_payload(value)
        if self.codec is not None:
            payload = self.codec.encrypt(payload)
        return payload.SerializeToString()

    def unseal(self, blob: bytes, type_hint: Any = None) -> Any:
        payload = Payload.FromString(blob)
        if payload.metadata.get("encoding") == ENCODING:
            if self.codec is None:
                kid = payload.metadata.get(KEY_ID_METADATA, b"?").decode("utf-8", "replace")
                raise DecryptionError(
                    f"the record store holds values encrypted with key {kid!r} and no "
                    "encryption key is configured: set CELLPATH_ENCRYPTION_KEYS or "
                    "CELLPATH_ENCRYPTION_KEY_FILE"
                )
            payload = self.codec.decrypt(payload)
        return pydantic_data_converter.payload_converter.from_payload(payload, type_hint)
