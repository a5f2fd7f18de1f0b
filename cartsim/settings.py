"""The one place cartsim reads its environment: every `CARTSIM_*` variable is a field here."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cartsim.errors import CartsimError

#: Why a command that needs Kafka cannot run, and what to do about it.
BOOTSTRAP_NOT_SET = (
    "CARTSIM_KAFKA_BOOTSTRAP is not set: start a broker with `cartsim broker`, "
    "or run the whole pipeline with `cartsim up`"
)


class Settings(BaseSettings):
    """Typed, validated configuration shared by the producer, the worker and the API."""

    model_config = SettingsConfigDict(env_prefix="CARTSIM_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; unset means `cartsim up` starts the embedded broker.",
    )
    topic: str = Field(default="cart-events", description="Topic that carries cart events.")
    partitions: int = Field(default=4, ge=1, le=64, description="Partitions of the events topic.")
    data_dir: Path = Field(
        default=Path("shared_data"),
        description="Root of share_data/ (catalog) and private_data/ (events).",
    )

    api_host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="When set, endpoints that change data require X-API-Key."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins.")
    ingest_interval_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the API looks for new segment bytes to ingest into DuckDB.",
    )
    query_threads: int = Field(
        default=4, ge=1, le=64, description="Threads that run the API's DuckDB queries."
    )
    checkpoint_after_rows: int = Field(
        default=100_000,
        ge=1,
        description="Rows ingested before the API checkpoints its DuckDB file (appended rows "
        "read slower until then).",
    )
    checkpoint_every_s: float = Field(
        default=10.0,
        ge=0,
        description="Least time between two checkpoints, so a fast stream pauses queries seldom.",
    )

    worker_id: str = Field(default="cartsim", description="Faust app id (the consumer group).")
    worker_host: str = Field(
        default="127.0.0.1", description="Address the worker's web server binds to."
    )
    worker_port: int = Field(default=6066, ge=1, le=65535, description="Worker web server port.")
    worker_advertised_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/]+$",
        description="URL the worker announces to the API (http://host:port, no path). Unset: "
        "http://<worker_host>:<worker_port>, with this machine's host name for 0.0.0.0 or ::.",
    )
    session_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="Consumer-group session timeout. The embedded broker takes half of it to let "
        "a worker join; Apache Kafka refuses less than its group.min.session.timeout.ms (6 s).",
    )
    heartbeat_interval_s: float = Field(default=0.5, gt=0)
    rebalance_timeout_s: float = Field(default=4.0, gt=0)

    segment_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Rotate a sink segment past this size."
    )
    segment_max_age_s: float = Field(
        default=60.0, gt=0, description="Rotate a sink segment this many seconds after it opened."
    )

    abandon_after_s: float = Field(
        default=1800, gt=0, description="Event-time idleness after which a cart is abandoned."
    )
    session_retention_s: float = Field(
        default=7200,
        gt=0,
        description="Event time a session stays in the table after its last event.",
    )
    abandoned_retention_s: float = Field(
        default=8 * 86400, gt=0, description="Event time an abandoned cart stays in its table."
    )
    window_retention_s: float = Field(
        default=86400, gt=0, description="Event time the per-minute windows are kept."
    )
    abandoned_topic: str = Field(
        default="cart-abandoned", description="Topic of abandoned (and recovered) carts."
    )
    dlq_topic: str = Field(
        default="cart-events-dlq",
        description="Dead-letter topic: records of the events topic that are not cart events.",
    )
    max_event_bytes: int = Field(
        default=64 * 1024, ge=1024, description="A larger record goes to the dead-letter topic."
    )
    allowed_lateness_s: float | None = Field(
        default=None,
        gt=0,
        description="Event time an event may lag its partition's newest and still be counted; "
        "later ones are counted as too late. Default and most: the session retention.",
    )
    dedup: bool = Field(
        default=True,
        description="Count an event_id once per session (a repeat is counted as a duplicate).",
    )

    tables_refresh_s: float = Field(
        default=0.25, gt=0, description="How often the API re-reads the workers' tables."
    )

    dashboard_interval_s: float = Field(
        default=1.0, ge=0.1, le=60, description="How often the dashboard's stream sends a frame."
    )

    rate: float = Field(default=20.0, gt=0, description="Live producer rate, events/s.")

    @property
    def worker_url(self) -> str:
        """Where other processes reach the worker's views: a wildcard bind address names no
        host, so the machine's host name stands in for it."""
        if self.worker_advertised_url is not None:
            return self.worker_advertised_url
        host = self.worker_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"  # an IPv6 literal
        return f"http://{host}:{self.worker_port}"

    def require_bootstrap(self) -> str:
        """The bootstrap servers, for work that cannot run without Kafka."""
        if not self.kafka_bootstrap:
            raise CartsimError(BOOTSTRAP_NOT_SET)
        return self.kafka_bootstrap


@lru_cache
def get_settings() -> Settings:
    """Settings are read once per process; tests that change the environment clear this cache."""
    return Settings()
