"""Where the worker and the CLI find Temporal, from the environment.

Connection settings (address, namespace, TLS, API key) come from ``temporalio.envconfig``:
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``,
``TEMPORAL_PROFILE`` and ``TEMPORAL_CONFIG_FILE`` work exactly as for the ``temporal`` CLI,
so one worker serves the dev server, a self-hosted cluster or Temporal Cloud.
cellpath's own settings use the ``CELLPATH_`` prefix.

Encryption (docs/security.md): ``CELLPATH_ENCRYPTION_KEYS`` (``kid:base64key,…``, the first is
current) or ``CELLPATH_ENCRYPTION_KEY_FILE``; the codec server: ``CELLPATH_CODEC_TOKEN``,
``CELLPATH_CODEC_HOST``/``CELLPATH_CODEC_PORT``, ``CELLPATH_UI_ORIGIN`` (comma-separated),
``CELLPATH_CODEC_NAMESPACES``, ``CELLPATH_CODEC_TLS_CERT``/``CELLPATH_CODEC_TLS_KEY``.

Identity (docs/security.md): ``CELLPATH_ACTOR_KEYS`` (``kid:x,…``, Ed25519 public keys that
actor assertions are verified against) or ``CELLPATH_ACTOR_KEY_FILE``; the local sign-in of
the CLI: ``CELLPATH_SIGNIN_KEY_FILE`` (private signing keys), ``CELLPATH_ACCOUNTS_FILE``
(local accounts) and, for service accounts in scripts only, ``CELLPATH_PASSWORD``.
Staff web app (``cellpath web``): ``CELLPATH_WEB_HOST``/``CELLPATH_WEB_PORT``,
``CELLPATH_WEB_SECRET_KEY`` (signs the session cookies; without it, a key kept in the state
dir), ``CELLPATH_WEB_IDLE_MINUTES``, ``CELLPATH_WEB_SECURE_COOKIES`` (behind HTTPS: true).
The hospital's identity provider (OpenID Connect): ``CELLPATH_OIDC_ISSUER``,
``CELLPATH_OIDC_CLIENT_ID``, ``CELLPATH_OIDC_CLIENT_SECRET``, ``CELLPATH_OIDC_GROUPS`` (the
group mapping file), ``CELLPATH_OIDC_NAME`` (shown as "Sign in with …") and
``CELLPATH_OIDC_REDIRECT_URI`` (the web app's ``/sign-in/callback`` as registered).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from models.contracts import DEFAULT_TASK_QUEUE

# Pathways a worker keeps in memory between their workflow tasks (Temporal's default is
# 1,000). A cached pathway costs the worker ~0.25-0.35 MB; one that is not cached replays its
# current run when next touched (a follow-up year: a few ms; the first run, up to ~180
# events: ~60 ms). A programme's pathways are touched days apart, a few dozen in a day:
# 250 keeps every active one cached, and 10,000 open pathways cost the worker ~90 MB
# (docs/performance.md, "At rest").
DEFAULT_WORKFLOW_CACHE = 250


class Settings(BaseModel):
    task_queue: str = DEFAULT_TASK_QUEUE
    workflow_cache: int = Field(default=DEFAULT_WORKFLOW_CACHE, ge=1, le=100_000)
    state_dir: Path = Path(".cellpath")
    dev_port: int = 7233
    dev_ui_port: int = 8233
    demo_seconds_per_day: float = 6.0
    # how long the dev stack's Temporal keeps a closed workflow (the record store keeps it after)
    dev_retention_days: float = Field(default=7.0, ge=1.0, le=3650.0)
    log_format: str = "auto"
    # payload encryption and the codec server
    encryption_keys: SecretStr | None = None
    encryption_key_file: Path | None = None
    codec_token: SecretStr | None = None
    codec_host: str = "127.0.0.1"
    codec_port: int = 8081
    ui_origin: str = "http://localhost:8233"
    codec_namespaces: str | None = None
    codec_tls_cert: Path | None = None
    codec_tls_key: Path | None = None
    # the public keys staff actions' signed actor assertions are verified against
    actor_keys: str | None = None
    actor_key_file: Path | None = None
    # the CLI's local sign-in (signin/local.py): defaults are the dev stack's files
    signin_key_file: Path | None = None
    accounts_file: Path | None = None
    password: SecretStr | None = None
    #: the second person's password for a co-signature (``cellpath act --cosigner``)
    cosigner_password: SecretStr | None = None
    # the staff web app (web/, docs/security.md "The staff web app")
    web_host: str = "127.0.0.1"
    web_port: int = 8090
    web_secret_key: SecretStr | None = None
    web_idle_minutes: float = Field(default=15, gt=0, le=480)
    web_secure_cookies: bool = False
    # the hospital's identity provider (signin/hospital_login.py, docs/security.md)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_groups: Path | None = None
    oidc_name: str = "the hospital login"
    oidc_redirect_uri: str | None = None

    @field_validator(
        "encryption_keys",
        "encryption_key_file",
        "codec_token",
        "codec_namespaces",
        "codec_tls_cert",
        "codec_tls_key",
        "actor_keys",
        "actor_key_file",
        "signin_key_file",
        "accounts_file",
        "password",
        "cosigner_password",
        "web_secret_key",
        "oidc_issuer",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_groups",
        "oidc_redirect_uri",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `export CELLPATH_CODEC_TOKEN=` means "no token", not "the empty token".
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def ui_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.ui_origin.split(",") if o.strip()]

    @property
    def codec_namespace_list(self) -> list[str] | None:
        if not self.codec_namespaces:
            return None
        return [n.strip() for n in self.codec_namespaces.split(",") if n.strip()]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        values: dict[str, str] = {}
        for field in cls.model_fields:
            key = f"CELLPATH_{field.upper()}"
            if key in env:
                values[field] = env[key]
        return cls.model_validate(values)
