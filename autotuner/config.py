"""Settings: the one place that reads the environment (prefix ``AUTOTUNER_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings.

    The run mode follows from what is configured: with ``redis_url`` set, the API
    only enqueues and the event transport is Redis (distributed mode); without it,
    the worker runs inside ``autotuner serve`` and events stay in process.
    """

    model_config = SettingsConfigDict(env_prefix="AUTOTUNER_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where SQLite, logs and runs live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite+aiosqlite in data_dir. "
        "postgresql:// URLs are used with asyncpg.",
    )
    redis_url: str | None = Field(default=None, description="Redis URL: enables distributed mode")
    redis_namespace: str = Field(
        default="autotuner",
        description="Prefix of every Redis key and channel: deployments sharing one Redis "
        "need distinct namespaces (pub/sub channels ignore the database number)",
        min_length=1,
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Fan-out: how many events may wait for one slow WebSocket client before it is cut off.
    ws_send_buffer: int = Field(default=1024, ge=1)
    # ... and how many bytes of them.
    ws_send_buffer_bytes: int = Field(default=16 << 20, ge=1)
    # How long one send to a WebSocket client (replay or live) may wait for the client
    # to read before it is cut off with 4429 (it resumes with last_event_id).
    ws_send_timeout: float = Field(default=20.0, gt=0)
    ws_ping_interval: float = Field(default=20.0, gt=0)
    # Write live event frames straight to uvicorn's transport when it can take them
    # (api/_uvicorn.py); off: every frame goes through ASGI (to compare, or to rule it out).
    ws_direct_writes: bool = True
    # How long a killed worker's task may look "running" before it is taken over.
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_stale_seconds: float = Field(default=30.0, gt=0)
    max_concurrent_tasks: int = Field(default=1, ge=1)
    # Largest HTTP request body accepted (413 beyond); task specs are far smaller.
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    auth_secret: SecretStr | None = Field(
        default=None, description="Require JWTs signed with this secret on /api (HS256)"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host header values served besides localhost, 127.0.0.1 and ::1 (always), "
        "comma-separated ('*' for any; '*.example.com' for its subdomains); default the bound "
        "host (any when bound to 0.0.0.0 or ::)",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port], comma-separated, '*' for any) allowed to "
        "write and open WebSockets besides the server's own origin",
    )
    allow_custom_engines: bool = Field(
        default=False,
        description="Let tasks give their own engine command template (engine.command) and "
        "code-loading environment variables (LD_PRELOAD, PYTHONPATH, ...): anyone who may "
        "create tasks can then run any command on the workers. Off by default",
    )
    frontend_dir: Path | None = Field(
        default=None, description="Built UI to serve at /; default the packaged or repo build"
    )

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to connect to."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'autotuner.db').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        if url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        return url

    @property
    def queue_name(self) -> str:
        """The ARQ queue: one per namespace."""
        return f"{self.redis_namespace}:queue"

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"
