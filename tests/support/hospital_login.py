"""cellpath configured against the loopback provider (tests/support/oidc_provider.py): as
objects for a web app built in the test, or as the settings a CLI call reads.

    config = hospital_config(idp, tmp_path)        # ProviderConfig, groups mapped
    env = provider_env(idp, tmp_path)              # CELLPATH_OIDC_*; dev sign-in seeded too
"""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from signin.dev_stack import prepare_dev_sign_in
from signin.hospital_login import ProviderConfig
from signin.oidc import GroupMapping
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, MAPPING, LoopbackProvider

NAME = "Test Hospital"


def groups_file(tmp_path: Path) -> Path:
    """The test mapping of provider groups to cellpath roles, written to ``tmp_path``."""
    path = tmp_path / "groups.yaml"
    path.write_text(MAPPING)
    return path


def hospital_config(idp: LoopbackProvider, tmp_path: Path) -> ProviderConfig:
    return ProviderConfig(
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        mapping=GroupMapping.load(groups_file(tmp_path)),
        name=NAME,
    )


def provider_env(idp: LoopbackProvider, tmp_path: Path) -> dict[str, str]:
    """The settings of a sign-in host in ``tmp_path`` that logs in with ``idp``; its local
    accounts (the dev stack's, cheaply hashed) are seeded too."""
    groups = groups_file(tmp_path)
    prepare_dev_sign_in(tmp_path, hasher=PasswordHasher.from_parameters(CHEAPEST))
    return {
        "CELLPATH_STATE_DIR": str(tmp_path),
        "CELLPATH_OIDC_ISSUER": idp.issuer,
        "CELLPATH_OIDC_CLIENT_ID": CLIENT_ID,
        "CELLPATH_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "CELLPATH_OIDC_GROUPS": str(groups),
        "CELLPATH_OIDC_NAME": NAME,
    }
