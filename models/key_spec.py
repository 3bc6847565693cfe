"""The key-ring text both key rings read: ``kid:key`` items, first one current.

Payload encryption keys (``CELLPATH_ENCRYPTION_KEYS``), trusted actor keys
(``CELLPATH_ACTOR_KEYS``) and sign-in keys are written the same way: items separated by
commas or new lines, ``#`` starts a comment, the first key is the current one. Each ring keeps
its own error type, wording and key decoding; this module only reads the items, in order.

Usage::

    keys = parse_key_spec(text, "CELLPATH_ACTOR_KEYS", decode=b64url_decode,
                          error=ActorKeyConfigError, expected="'key-id:key'")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def parse_key_spec(
    spec: str,
    source: str,
    *,
    decode: Callable[[str, str, str], bytes],
    error: type[Exception],
    expected: str,
    check_id: Callable[[str], None] | None = None,
) -> dict[str, bytes]:
    """Key ID → decoded key, in the order written; ``error`` names ``source`` and the item."""
    keys: dict[str, bytes] = {}
    items = (
        item.strip() for line in spec.splitlines() for item in line.split("#", 1)[0].split(",")
    )
    for item in items:
        if not item:
            continue
        kid, sep, encoded = (part.strip() for part in item.partition(":"))
        if not sep or not kid or not encoded:
            raise error(f"{source}: expected {expected} items separated by commas")
        if check_id is not None:
            check_id(kid)
        if kid in keys:
            raise error(f"{source}: key ID {kid!r} is given twice")
        keys[kid] = decode(kid, encoded, source)
    if not keys:
        raise error(f"{source}: no key in it")
    return keys


def read_key_file(path: Path, what: str, *, error: type[Exception]) -> str:
    """The text of a key file, or ``error`` saying which file (``what``) could not be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise error(f"cannot read the {what} {path}: {err.strerror}") from None
