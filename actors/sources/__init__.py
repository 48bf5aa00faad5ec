"""News and social source pollers: RSS/Atom feeds, CryptoPanic, Reddit and X, writing ``texts`` rows.

Each source is a pure parser module plus the shared :class:`~actors.sources.poller_core.PollerCore`
(cursor, dedup, rate limits); :mod:`actors.sources.poller` is the thin Ray shell.
"""

from actors.sources.config import CryptoPanicConfig, RedditConfig, RssConfig, SourcesConfig, XConfig, XStreamRule
from actors.sources.poller_core import PollerCore, build_sources

__all__ = ["CryptoPanicConfig", "PollerCore", "RedditConfig", "RssConfig", "SourcesConfig", "XConfig",
           "XStreamRule", "build_sources"]
