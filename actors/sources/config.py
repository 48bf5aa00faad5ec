"""Typed configs of the source pollers; credentials come from the environment via :func:`SourcesConfig.from_env`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_FEEDS: tuple[str, ...] = (
    "https://cointelegraph.com/rss",
    "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "https://decrypt.co/feed",
    "https://bitcoinmagazine.com/.rss/full/",
    "https://cryptonews.com/news/feed/",
    "https://cryptopotato.com/feed/",
    "https://www.theblock.co/rss.xml",
)
"""Default crypto outlets (RSS/Atom)."""

ENV_CRYPTOPANIC = "CRYPTOPANIC_API_TOKEN"
ENV_REDDIT_ID = "REDDIT_CLIENT_ID"
ENV_REDDIT_SECRET = "REDDIT_CLIENT_SECRET"
ENV_X_BEARER = "X_BEARER_TOKEN"


class RssConfig(BaseModel):
    """RSS/Atom feeds to poll (no credentials needed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    feeds: tuple[str, ...] = Field(DEFAULT_FEEDS, description="Feed URLs.")


class CryptoPanicConfig(BaseModel):
    """CryptoPanic posts API (``/api/v1/posts/``); needs an auth token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "https://cryptopanic.com/api/v1"
    token: SecretStr | None = Field(None, description=f"Auth token; from {ENV_CRYPTOPANIC}.")
    filter: str | None = Field(None, description="CryptoPanic filter (rising|hot|bullish|...); None = all.")


class RedditConfig(BaseModel):
    """Reddit official OAuth API (application-only client credentials)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auth_url: str = "https://www.reddit.com/api/v1/access_token"
    api_url: str = "https://oauth.reddit.com"
    client_id: SecretStr | None = Field(None, description=f"From {ENV_REDDIT_ID}.")
    client_secret: SecretStr | None = Field(None, description=f"From {ENV_REDDIT_SECRET}.")
    user_agent: str = "coinray/0.1 (sentiment poller)"
    subreddits: tuple[str, ...] = ("CryptoCurrency", "Bitcoin", "ethereum", "CryptoMarkets")
    limit: int = Field(100, ge=1, le=100)


class XStreamRule(BaseModel):
    """One filtered-stream rule: a query (``value``) and an optional ``tag`` echoed in ``matching_rules``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(min_length=1, max_length=1024, description="Rule query, e.g. ``($BTC OR bitcoin) lang:en``.")
    tag: str | None = Field(None, description="Label X returns with each matching post.")


class XConfig(BaseModel):
    """X/Twitter API v2: recent search (polled) and the filtered stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str = "https://api.twitter.com/2"
    bearer_token: SecretStr | None = Field(None, description=f"From {ENV_X_BEARER}.")
    query: str = "(bitcoin OR ethereum OR crypto OR $BTC OR $ETH) lang:en -is:retweet"
    max_results: int = Field(100, ge=10, le=100)
    stream_rules: tuple[XStreamRule, ...] | None = Field(
        None, description="Filtered-stream rules to make active; None = built from the tracked symbols.")
    stream_rule_max_chars: int = Field(512, ge=64, le=1024,
                                       description="Longest rule X accepts on the account's tier (512 on Basic).")
    stream_rule_suffix: str = Field("lang:en -is:retweet", description="Appended to every generated rule.")
    stream_stall_s: float = Field(21.0, gt=0, description="Reconnect when nothing (not even the 20 s keep-alive) "
                                                          "arrives for this long.")
    stream_rate_limit_max_s: float = Field(960.0, gt=0, description="Cap of the 429 backoff (1 min, doubling).")
    stream_max_retries: int | None = Field(None, ge=0, description="Failed connects in a row before giving up; "
                                                                   "None = retry forever.")
    stream_flush_every: int = Field(100, ge=1, description="Hand on streamed posts in batches of this many "
                                                           "(and on every disconnect and keep-alive).")


class SourcesConfig(BaseModel):
    """All sources, where their cursors live and how often to poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path = Field(Path("sources"), description="Cursor/dedup state files (one JSON per source).")
    interval_s: float = Field(300.0, gt=0, description="Seconds between polls when run on a schedule.")
    timeout_s: float = Field(20.0, gt=0, description="HTTP timeout.")
    dedup_memory: int = Field(20_000, ge=100, description="Ids and text hashes remembered per source.")
    rss: RssConfig = RssConfig()
    cryptopanic: CryptoPanicConfig = CryptoPanicConfig()
    reddit: RedditConfig = RedditConfig()
    x: XConfig = XConfig()

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> SourcesConfig:
        """Fill the credentials from ``env`` (read once, at the CLI boundary)."""
        def secret(key: str) -> SecretStr | None:
            value = env.get(key, "").strip()
            return SecretStr(value) if value else None

        base = cls(**overrides)  # type: ignore[arg-type]
        return base.model_copy(update={
            "cryptopanic": base.cryptopanic.model_copy(update={"token": secret(ENV_CRYPTOPANIC)}),
            "reddit": base.reddit.model_copy(update={"client_id": secret(ENV_REDDIT_ID),
                                                     "client_secret": secret(ENV_REDDIT_SECRET)}),
            "x": base.x.model_copy(update={"bearer_token": secret(ENV_X_BEARER)}),
        })
