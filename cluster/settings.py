"""The root settings object: ``coinray.toml`` plus ``COINRAY_*`` environment variables.

Read once, in the CLI or a job entrypoint, and passed down as typed sub-configs. Defaults are
the embedded mode: local Ray, chdb under the data directory, a managed local Redis server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from cluster.errors import ConfigError
from pipelines.features import FeatureConfig

DEFAULT_CONFIG_FILE = "coinray.toml"
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/coinray`` on Linux)."""
    return Path(platformdirs.user_data_dir("coinray", appauthor=False))


class RayConfig(BaseModel):
    """How coinray reaches Ray."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(
        None, description="Ray cluster address (``auto``, ``ray://host:10001``); None starts a local Ray."
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray; None = all cores.")
    namespace: str = Field("coinray", description="Ray namespace of coinray's named actors.")
    include_dashboard: bool = Field(False, description="Start the Ray dashboard with a local Ray.")
    object_store_memory_mb: int | None = Field(
        None, ge=78, description="Object store size for a local Ray in MiB; None = Ray's default."
    )


class StoreConfig(BaseModel):
    """Storage settings (chdb embedded unless a ClickHouse URL is given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database: str = Field("coinray", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Database name.")
    insert_batch_rows: int = Field(200_000, ge=1, description="Rows per insert statement.")


class BusConfig(BaseModel):
    """Redis bus settings (a managed local server unless a Redis URL is given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_maxlen: int = Field(100_000, ge=10, description="Approximate MAXLEN of each Redis stream.")
    server_binary: str | None = Field(
        None, description="Path of a valkey-server/redis-server binary; None = the bundled valkey-server."
    )
    start_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the managed server.")


class RankingConfig(BaseModel):
    """Weights and windows of the transparent baseline score (see docs/ranking.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_bars: int = Field(30, ge=5, description="Bars for the return, volatility and liquidity factors.")
    min_bars: int = Field(60, ge=10, description="Symbols with fewer bars are not ranked.")
    weight_trend: float = Field(1.0, ge=0)
    weight_momentum: float = Field(1.0, ge=0)
    weight_volatility: float = Field(0.5, ge=0)
    weight_liquidity: float = Field(0.5, ge=0)


class DemoConfig(BaseModel):
    """What ``coinray demo`` runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field("binance", description="Exchange name the bundled files are stored under.")
    timeframe: str = Field("1d", description="Timeframe the ranking and report use.")
    feature_timeframes: tuple[str, ...] = Field(("1h", "1d"), min_length=1)
    top_n: int = Field(5, ge=1)

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        if value not in TIMEFRAMES:
            raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}")
        return value

    @field_validator("feature_timeframes")
    @classmethod
    def _known_timeframes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tf for tf in value if tf not in TIMEFRAMES]
        if bad:
            raise ValueError(f"unknown timeframe(s) {bad}; use {', '.join(TIMEFRAMES)}")
        return value


class CoinraySettings(BaseSettings):
    """Root configuration. Sources, highest first: arguments, ``COINRAY_*`` env vars, ``coinray.toml``.

    Nested keys use ``__`` in environment variables, e.g. ``COINRAY_RAY__NUM_CPUS=2``.
    """

    model_config = SettingsConfigDict(
        env_prefix="COINRAY_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        toml_file=DEFAULT_CONFIG_FILE,
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where coinray keeps its data.")
    clickhouse_url: SecretStr | None = Field(
        None, description="ClickHouse server URL (http[s]://user:pass@host:8123/db); None = embedded chdb."
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis/Valkey URL (redis://host:6379/0); None = a managed local server."
    )
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    ray: RayConfig = RayConfig()
    store: StoreConfig = StoreConfig()
    bus: BusConfig = BusConfig()
    ranking: RankingConfig = RankingConfig()
    demo: DemoConfig = DemoConfig()
    features: FeatureConfig = Field(
        default_factory=FeatureConfig, description="What `coinray features` computes (docs/features.md)."
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments beat environment variables, which beat the TOML file."""
        toml_path = os.environ.get("COINRAY_CONFIG", DEFAULT_CONFIG_FILE)
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def store_dir(self) -> Path:
        """The chdb session directory."""
        return self.data_dir / "chdb"

    @property
    def reports_dir(self) -> Path:
        """Where reports are written (``reports/<run_id>/``)."""
        return self.data_dir / "reports"

    @property
    def models_dir(self) -> Path:
        """Where model files live."""
        return self.data_dir / "models"

    @property
    def bus_dir(self) -> Path:
        """The managed Redis server's working directory."""
        return self.data_dir / "redis"


def load_settings(**overrides: Any) -> CoinraySettings:
    """Read the settings, turning validation errors into one clear :class:`ConfigError`.

    Parameters
    ----------
    overrides:
        Values that beat every other source (used by CLI options and tests).

    Raises
    ------
    ConfigError
        When the TOML file, an environment variable or an override is invalid.
    """
    toml_path = os.environ.get("COINRAY_CONFIG")
    if toml_path and not Path(toml_path).is_file():
        raise ConfigError(f"COINRAY_CONFIG points at {toml_path!r}, which is not a file")
    try:
        return CoinraySettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        source = toml_path or DEFAULT_CONFIG_FILE
        raise ConfigError(f"invalid coinray configuration ({source} / COINRAY_* env): {problems}") from exc
    except (OSError, ValueError) as exc:  # e.g. malformed TOML
        raise ConfigError(f"could not read coinray configuration: {exc}") from exc


def masked_settings(settings: CoinraySettings) -> dict[str, Any]:
    """The resolved settings as plain data, with secrets (and passwords inside URLs) masked."""
    data = settings.model_dump(mode="json")
    for key in ("clickhouse_url", "redis_url"):
        secret = getattr(settings, key)
        data[key] = mask_url(secret.get_secret_value()) if secret is not None else None
    return data


def mask_url(url: str) -> str:
    """Hide the password (and token-like query values) of a URL: ``redis://u:***@h:6379/0``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds else f"***@{host}"
    query = "&".join(
        f"{kv.split('=', 1)[0]}=***" if "=" in kv and kv.split("=", 1)[0].lower() in {"password", "token"}
        else kv
        for kv in parts.query.split("&")
    ) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
