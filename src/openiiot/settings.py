"""Settings: the only module that reads the environment. One validated object, built on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of OpenIIoT, read from `OPENIIOT_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="OPENIIOT_", extra="ignore")

    data_dir: Path = Field(
        Path("./var"), description="Where embedded mode keeps its SQLite, DuckDB and secrets"
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on")
    http_port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP API and device HTTP API")
    mqtt_host: str = Field("127.0.0.1", description="Address the embedded MQTT broker listens on")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="Port of the embedded MQTT broker")
    database_url: str | None = Field(
        None, description="Metadata database URL; unset = SQLite file in the data directory"
    )
    mqtt_url: str | None = Field(
        None,
        description="External broker mqtt://USER:PASSWORD@HOST:PORT (the platform's own user); "
        "unset = embedded amqtt broker",
    )
    worker_name: str = Field(
        "1",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Stable name of this process among several of one role: an ingest worker's persistent "
        "MQTT session is named after it, so a restarted worker picks up what arrived while it was away",
    )
    telemetry_timescale: Literal["auto", "require", "off"] = Field(
        "auto",
        description="TimescaleDB for PostgreSQL telemetry: auto = used when the extension is installed, "
        "native partitions otherwise; require = refuse to start without it; off = native partitions",
    )
    mqtt_shared_subscription: bool = Field(
        True,
        description="Ingest workers split the device topics through the shared subscription "
        "$share/openiiot-ingest/...; false = a plain persistent subscription for exactly one ingest process, "
        "which Mosquitto 2.0 restores after its own restart (it does not restore shared ones)",
    )
    mqtt_auth: Literal["dynsec", "http"] = Field(
        "dynsec",
        description="How the external broker checks devices: dynsec = the platform manages Mosquitto "
        "dynamic-security clients; http = the broker asks /api/v1/device/broker/* (EMQX, VerneMQ)",
    )
    jwt_secret: str | None = Field(
        None,
        description="Secret signing user tokens; unset in embedded mode = generated once in the data dir",
    )
    jwt_ttl_s: int = Field(900, ge=60, le=86400, description="Lifetime of an access token")
    max_payload_bytes: int = Field(65536, ge=256, le=16 * 1024 * 1024, description="Largest accepted payload")
    max_future_skew_s: int = Field(3600, ge=0, description="How far ahead of now a timestamp may be")
    max_past_age_days: int = Field(3650, ge=1, description="How far back a timestamp may be")
    ingest_queue_size: int = Field(20000, ge=10, description="Messages held before backpressure applies")
    ingest_batch_max: int = Field(2000, ge=1, description="Most messages decoded and committed together")
    ingest_batch_wait_ms: int = Field(50, ge=0, le=5000, description="Longest wait to fill a batch")
    gateway_max_children: int = Field(
        1000, ge=0, le=1_000_000, description="Most child devices a gateway may create by naming them"
    )
    admin_password: str | None = Field(
        None, description="Password of the first platform admin `admin`; unset = generated and printed once"
    )
    demo_password: str | None = Field(
        None, description="Admin password for `openiiot demo`; unset = generated"
    )
    log_level: str = Field("INFO", description="Python logging level")
    smtp_host: str | None = Field(None, description="SMTP relay for email notifications; unset = no email")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP relay (587 with STARTTLS)")
    smtp_from: str | None = Field(None, description="Sender address of notification emails")
    smtp_username: str | None = Field(None, description="SMTP login; unset = no authentication")
    smtp_password: str | None = Field(None, description="SMTP password, used with smtp_username")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS before login")
    notification_max_attempts: int = Field(
        5, ge=1, le=50, description="Delivery attempts before a notification becomes a dead letter"
    )
    connectivity_event_retention_days: int = Field(
        90, ge=1, le=36500, description="How long connectivity events (connected, inactive, ...) are kept"
    )
    condition_interval_s: float = Field(
        60.0, ge=0.2, le=3600, description="How often condition monitoring processes new waveform bursts"
    )
    alarm_topic_prefix: str | None = Field(
        None,
        description="MQTT topic prefix of alarm notifications; unset = platform/alarms (embedded broker) "
        "or $platform/alarms (external broker)",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @property
    def embedded(self) -> bool:
        """True when no external database or broker is configured."""
        return self.database_url is None and self.mqtt_url is None

    @property
    def sqlite_path(self) -> Path:
        """The metadata database file in embedded mode."""
        return self.data_dir / "metadata.sqlite"

    @property
    def duckdb_path(self) -> Path:
        """The telemetry database file in embedded mode."""
        return self.data_dir / "telemetry.duckdb"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides (tests, CLI options)."""
    return Settings(**overrides)  # type: ignore[arg-type]
