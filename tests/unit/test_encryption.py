"""The payload codec and its key configuration, without Temporal: round trip, rotation,
tampering, unknown keys, failure messages, and where keys come from."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from models.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    DecryptionError,
    EncryptionCodec,
    KeyConfigError,
    KeyRing,
    UnknownKeyError,
    codec_from_settings,
    data_converter,
)
from models.record import AuditEntry
from models.settings import Settings


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate("k1")


class TestRoundTrip:
    """Encrypt then decrypt gives the payload back; the stored form shows nothing of it."""

    async def test_payload_round_trip(self, ring: KeyRing) -> None:
        codec = EncryptionCodec(ring)
        original = plain("LUP-002 work-up 105 days old")
        [sealed] = await codec.encode([original])
        assert sealed.metadata["encoding"] == ENCODING
        assert sealed.metadata[KEY_ID_METADATA] == b"k1"
        assert b"LUP-002" not in sealed.data and b"json/plain" not in sealed.data
        assert await codec.decode([sealed]) == [original]

    async def test_each_encryption_uses_a_fresh_nonce(self, ring: KeyRing) -> None:
        codec = EncryptionCodec(ring)
        first, second = await codec.encode([plain("same"), plain("same")])
        assert first.data[:12] != second.data[:12]
        assert first.data != second.data

    async def test_unencrypted_payloads_pass_through(self, ring: KeyRing) -> None:
        codec = EncryptionCodec(ring)
        old = plain("written before encryption was turned on")
        assert await codec.decode([old]) == [old]

    async def test_pydantic_models_through_the_data_converter(self, ring: KeyRing) -> None:
        converter = data_converter(EncryptionCodec(ring))
        entry = AuditEntry(
            seq=1,
            at=datetime(2026, 1, 2, tzinfo=UTC),
            event="record_work_up",
            actor="dr.martin",
            role="ard_specialist",  # type: ignore[arg-type]
            reason="LVEF 47 %",
            from_state="referred",
            to_state="awaiting_mdtm",
        )
        [payload] = await converter.encode([entry])
        assert payload.metadata["encoding"] == ENCODING
        assert b"dr.martin" not in payload.SerializeToString()
        assert await converter.decode([payload], [AuditEntry]) == [entry]

    async def test_without_a_key_nothing_is_encrypted(self, ring: KeyRing) -> None:
        converter = data_converter(None)
        [payload] = await converter.encode(["plain"])
        assert payload.metadata["encoding"] == b"json/plain"
        assert await converter.decode([payload], [str]) == ["plain"]

    async def test_without_a_key_encrypted_payloads_say_so(self, ring: KeyRing) -> None:
        [sealed] = await data_converter(EncryptionCodec(ring)).encode(["secret"])
        with pytest.raises(DecryptionError, match="'k1'.*no encryption key is configured"):
            await data_converter(None).decode([sealed], [str])


class TestRotation:
    """A new current key encrypts; old keys listed after it still decrypt."""

    async def test_old_payloads_stay_readable_after_rotation(self) -> None:
        old = KeyRing.generate("k2025")
        [sealed_old] = await EncryptionCodec(old).encode([plain("before rotation")])
        new_key = os.urandom(32)
        rotated = KeyRing.parse(f"k2026:{b64(new_key)},k2025:{b64(old.keys['k2025'])}")
        codec = EncryptionCodec(rotated)
        assert codec.current_key_id == "k2026"
        [sealed_new] = await codec.encode([plain("after rotation")])
        assert sealed_new.metadata[KEY_ID_METADATA] == b"k2026"
        assert await codec.decode([sealed_old, sealed_new]) == [
            plain("before rotation"),
            plain("after rotation"),
        ]

    async def test_dropping_the_old_key_names_it(self) -> None:
        old = KeyRing.generate("k2025")
        [sealed] = await EncryptionCodec(old).encode([plain("x")])
        with pytest.raises(UnknownKeyError, match="'k2025'.*known: k2026"):
            await EncryptionCodec(KeyRing.generate("k2026")).decode([sealed])


class TestTampering:
    """Altered ciphertext, relabelled key IDs and wrong keys are refused, never misread."""

    async def test_flipped_byte_fails_authentication(self, ring: KeyRing) -> None:
        codec = EncryptionCodec(ring)
        [sealed] = await codec.encode([plain("grade 3 CRS")])
        data = bytearray(sealed.data)
        data[20] ^= 0x01
        tampered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
        with pytest.raises(DecryptionError, match="failed authentication"):
            await codec.decode([tampered])

    async def test_key_id_is_bound_to_the_ciphertext(self) -> None:
        key = os.urandom(32)
        ring = KeyRing.parse(f"a:{b64(key)},b:{b64(key)}")
        codec = EncryptionCodec(ring)
        [sealed] = await codec.encode([plain("x")])
        relabelled = Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: b"b"}, data=sealed.data
        )
        with pytest.raises(DecryptionError, match="'b' failed authentication"):
            await codec.decode([relabelled])

    async def test_same_key_id_different_key(self) -> None:
        [sealed] = await EncryptionCodec(KeyRing.generate("k1")).encode([plain("x")])
        with pytest.raises(DecryptionError, match="not the one it was encrypted with"):
            await EncryptionCodec(KeyRing.generate("k1")).decode([sealed])

    @pytest.mark.parametrize(
        ("metadata", "data", "message"),
        [
            ({"encoding": ENCODING}, b"x" * 40, "no encryption-key-id"),
            ({"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, b"short", "truncated"),
        ],
    )
    async def test_malformed_encrypted_payloads(
        self, ring: KeyRing, metadata: dict[str, bytes], data: bytes, message: str
    ) -> None:
        with pytest.raises(DecryptionError, match=message):
            await EncryptionCodec(ring).decode([Payload(metadata=metadata, data=data)])


class TestFailures:
    """Failure messages and stack traces travel encrypted, and come back readable."""

    async def test_failure_message_is_encrypted(self, ring: KeyRing) -> None:
        converter = data_converter(EncryptionCodec(ring))
        failure = Failure()
        converter.failure_converter.to_failure(
            ApplicationError("The work-up is 105 days old", type="StaleWorkUp"),
            converter.payload_converter,
            failure,
        )
        await converter.payload_codec.encode_failure(failure)  # type: ignore[union-attr]
        assert failure.message == "Encoded failure"
        assert failure.application_failure_info.type == "StaleWorkUp"
        assert failure.encoded_attributes.metadata["encoding"] == ENCODING
        assert b"105 days" not in failure.SerializeToString()
        error = await converter.decode_failure(failure)
        assert isinstance(error, ApplicationError)
        assert error.message == "The work-up is 105 days old"


class TestKeyConfiguration:
    """Keys come from CELLPATH_ENCRYPTION_KEYS or a key file; mistakes say what is wrong
    without showing key material."""

    def test_parse_ring_first_is_current(self) -> None:
        k1, k2 = os.urandom(32), os.urandom(32)
        ring = KeyRing.parse(f" new:{b64(k1)} , old:{b64(k2)} ")
        assert ring.current == "new"
        assert ring.keys == {"new": k1, "old": k2}
        assert b64(k1) not in repr(ring) and "new" in repr(ring)

    def test_urlsafe_and_unpadded_base64(self) -> None:
        key = b"\xfb" * 32
        encoded = base64.urlsafe_b64encode(key).decode().rstrip("=")
        assert KeyRing.parse(f"k:{encoded}").keys["k"] == key

    def test_to_spec_round_trips(self, ring: KeyRing) -> None:
        assert KeyRing.parse(ring.to_spec()).keys == ring.keys

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("", "no key"),
            ("justakey", "expected 'key-id:base64-key'"),
            ("k1:not base64!!", "not valid base64"),
            (f"k1:{b64(os.urandom(16))}", "16 bytes; AES-256 needs 32"),
            (f"k1:{b64(os.urandom(32))},k1:{b64(os.urandom(32))}", "given twice"),
            (f"bad id:{b64(os.urandom(32))}", "invalid key ID"),
        ],
        # Random keys must not name the cases: parallel workers collect the same IDs.
        ids=["empty", "no-separator", "not-base64", "16-bytes", "given-twice", "bad-id"],
    )
    def test_bad_specs(self, spec: str, message: str) -> None:
        with pytest.raises(KeyConfigError, match=message):
            KeyRing.parse(spec)

    def test_errors_do_not_show_the_key(self) -> None:
        short = b64(os.urandom(16))
        with pytest.raises(KeyConfigError) as err:
            KeyRing.parse(f"k1:{short}")
        assert short not in str(err.value)

    def test_key_file_with_comments_and_lines(self, tmp_path: Path) -> None:
        k1, k2 = os.urandom(32), os.urandom(32)
        path = tmp_path / "keys"
        path.write_text(f"# rotated 2026-01, old key kept\nk2:{b64(k2)}\nk1:{b64(k1)}  # old\n")
        ring = codec_from_settings(Settings(encryption_key_file=path))
        assert ring is not None and ring.ring.current == "k2" and ring.ring.keys["k1"] == k1

    def test_missing_key_file(self, tmp_path: Path) -> None:
        with pytest.raises(KeyConfigError, match="cannot read the encryption key file"):
            codec_from_settings(Settings(encryption_key_file=tmp_path / "nope"))

    def test_keys_from_the_environment(self, tmp_path: Path) -> None:
        spec = KeyRing.generate("env1").to_spec()
        settings = Settings.from_env(
            {"CELLPATH_ENCRYPTION_KEYS": spec, "CELLPATH_STATE_DIR": str(tmp_path)}
        )
        codec = codec_from_settings(settings)
        assert codec is not None and codec.current_key_id == "env1"
        assert spec not in repr(settings)

    def test_both_sources_is_an_error(self, tmp_path: Path) -> None:
        settings = Settings(
            encryption_keys=KeyRing.generate("a").to_spec(),  # type: ignore[arg-type]
            encryption_key_file=tmp_path / "keys",
        )
        with pytest.raises(KeyConfigError, match="not both"):
            codec_from_settings(settings)

    def test_nothing_configured_means_no_encryption(self, tmp_path: Path) -> None:
        env = {"CELLPATH_STATE_DIR": str(tmp_path), "CELLPATH_ENCRYPTION_KEYS": ""}
        assert codec_from_settings(Settings.from_env(env)) is None

    def test_the_dev_stack_key_file_is_found_in_the_state_dir(self, tmp_path: Path) -> None:
        from devtools.stack import write_dev_key

        ring = write_dev_key(tmp_path / "encryption.keys")
        assert (tmp_path / "encryption.keys").stat().st_mode & 0o077 == 0
        codec = codec_from_settings(Settings(state_dir=tmp_path))
        assert codec is not None and codec.ring.keys == ring.keys
        with pytest.raises(FileExistsError):
            write_dev_key(tmp_path / "encryption.keys")
