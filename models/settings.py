"""Service configuration from the environment (prefix SMO_, plus DATABASE_URL) and `.smo/secrets.env`.

Secrets (codec keys, document keys, link and hashing secrets, codec tokens) come only
from here: never from code, never from workflow history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _home() -> Path:
    import os

    return Path(os.environ.get("SMO_HOME", ".smo")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMO_", extra="ignore")

    def __init__(self, **values: Any) -> None:
        # The secrets file lives in SMO_HOME, which is only known when settings are read.
        values.setdefault("_env_file", str(_home() / "secrets.env"))
        super().__init__(**values)

    home: Path = Field(default_factory=_home)
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "smo-cases"
    ui_port: int = 8233

    database_url: str = Field(default="", validation_alias=AliasChoices("DATABASE_URL", "SMO_DATABASE_URL"))
    storage_root: Path | None = None
    # Where the documents are kept (runtime/blobs.py): `s3://bucket[/prefix]?endpoint=…&region=…`
    # with the credentials in the usual AWS variables, or a directory. Unset: `storage_root`.
    storage_url: str = ""
    programs_dir: Path = PROJECT_ROOT / "programs"
    specialists_file: Path = PROJECT_ROOT / "data" / "specialists.yaml"
    policies_file: Path = PROJECT_ROOT / "data" / "policies.yaml"
    specialties_file: Path = PROJECT_ROOT / "data" / "specialties.yaml"
    holiday_overrides: Path | None = PROJECT_ROOT / "data" / "holiday-overrides.yaml"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "smo-desk@example.org"
    coordinator_email: str = "coordinators@example.org"
    supervisor_email: str = "supervisors@example.org"
    # Where translation tasks go (the translation agency's or the translator's desk address).
    translator_email: str = "translators@example.org"
    # The desk as members reach it (SMO_DESK_EMAIL, SMO_DESK_PHONE): shown on the portal's
    # sign-in help and error pages, so that a member who cannot get in knows whom to ask.
    desk_email: str = "smo-desk@example.org"
    desk_phone: str = "+855 23 000 000"

    web_host: str = "127.0.0.1"
    web_port: int = 8081
    public_base_url: str = ""
    # Seconds a request body may go without a byte while the server waits for it; then the
    # request is answered 408 and its connection closed (web/transport.py).
    body_read_timeout: float = Field(default=60.0, gt=0)
    ui_origin: str = ""
    link_ttl_hours: int = 72
    # Every case waits before assignment for the member's consent to send records abroad.
    # SMO_CONSENT_REQUIRED=false turns it off for desk-opened cases of a deployment whose
    # programs never cross a border; self-service requests always ask for it.
    consent_required: bool = True
    # The portal's limits. Per client address only a coarse flood guard, high enough for many
    # members behind one carrier address (one public address for a whole mobile network); what
    # protects a member is counted per sign-in link, email address, policy number and case, in
    # the case DB that every `smo web` process shares (web/portal/ratelimit.py).
    portal_flood_limit: int = Field(default=2000, ge=1)  # requests per client address per 5 minutes
    # The proxies in front of `smo web` whose X-Forwarded-For names the client (comma-separated
    # addresses or networks). Empty: the header is ignored, the connecting peer is the client.
    trusted_proxies: str = ""

    codec_keys: SecretStr = SecretStr("")
    document_keys: SecretStr = SecretStr("")
    link_secret: SecretStr = SecretStr("")
    hash_key: SecretStr = SecretStr("")
    codec_tokens: SecretStr = SecretStr("")

    # Prometheus /metrics of the worker's SDK runtime (runtime/metrics.py); 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    stage_gauge_seconds: float = 30.0

    log_format: str = "auto"
    log_level: str = "INFO"
    user: str = ""

    # The worker (worker.py): its memory budget sizes the sticky cache (all processes together),
    # and the workflow runner: "off" (unsandboxed, guarded by tests/test_determinism_lint.py and
    # the replay tests), "passthrough" (sandbox, no re-import) or "full". See docs/performance.md.
    worker_memory_mb: int = Field(default=256, ge=64)
    worker_sandbox: str = Field(default="off", pattern="^(off|passthrough|full)$")
    worker_processes: int = Field(default=1, ge=1, le=64)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'cases.db'}"

    @property
    def store_root(self) -> Path:
        return self.storage_root or self.home / "storage"

    @property
    def store_url(self) -> str:
        return self.storage_url or str(self.store_root)

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def ui_origins(self) -> list[str]:
        if self.ui_origin:
            return [o.strip() for o in self.ui_origin.split(",") if o.strip()]
        return [f"http://localhost:{self.ui_port}", f"http://127.0.0.1:{self.ui_port}"]

    def codec_token_map(self) -> dict[str, str]:
        """`user:token,user2:token2` → {token: user}."""
        pairs = [p for p in self.codec_tokens.get_secret_value().split(",") if p.strip()]
        out: dict[str, str] = {}
        for pair in pairs:
            user, _, token = pair.strip().partition(":")
            if not user or not token:
                raise ValueError("SMO_CODEC_TOKENS must look like 'user:token,user2:token2'")
            out[token] = user
        return out
