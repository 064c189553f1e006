"""One typed settings object, read from the environment at each part's edge."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration shared by every part; field names map to DESIGN.md's env vars."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    database_url: str = Field(default="sqlite+aiosqlite:///telering.db", validation_alias="DATABASE_URL")
    telering_keys_file: Path = Field(default=Path("telering.keys"), validation_alias="TELERING_KEYS_FILE")
    telering_grant_keys: SecretStr | None = Field(default=None, validation_alias="TELERING_GRANT_KEYS")
    web_node_host: str = Field(default="127.0.0.1", validation_alias="WEB_NODE_HOST")
    web_node_port: int = Field(default=8080, ge=0, le=65535, validation_alias="WEB_NODE_PORT")
    web_node_url: str = Field(default="http://127.0.0.1:8080", validation_alias="WEB_NODE_URL")
    readings_partitions: int = Field(default=4, ge=1, le=1024, validation_alias="READINGS_PARTITIONS")
    grant_ttl_s: float = Field(default=5.0, gt=0, le=600, validation_alias="GRANT_TTL_S")

    # Beyond DESIGN.md's table: names that let tests and several deployments share a broker.
    topic_prefix: str = Field(default="", validation_alias="TELERING_TOPIC_PREFIX")
    app_id: str = Field(default="telering", validation_alias="TELERING_APP_ID")
    batch_max_readings: int = Field(default=5000, ge=1, le=100_000, validation_alias="BATCH_MAX_READINGS")
    receiver_buffer_max: int = Field(default=50_000, ge=1, validation_alias="RECEIVER_BUFFER_MAX")
    topic_replication: int = Field(default=1, ge=1, le=5, validation_alias="TOPIC_REPLICATION")
    check_partition: bool = Field(default=True, validation_alias="WEB_NODE_CHECK_PARTITION")
    # The worker's own web server (Faust's): GET /healthz and /metrics.
    worker_web_host: str = Field(default="127.0.0.1", validation_alias="WORKER_WEB_HOST")
    worker_web_port: int = Field(default=6066, ge=1, le=65535, validation_alias="WORKER_WEB_PORT")
