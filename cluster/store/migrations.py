"""Versioned, idempotent schema migrations shared by both store backends.

Each migration is a list of statements with ``{db}`` standing for the database name. Every
statement is written to be safe to re-run (``IF NOT EXISTS``), so a migration interrupted half
way is simply applied again. Applied versions are recorded in ``schema_migrations``.
Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.schemas import ROLLUP_TIMEFRAMES, TIMEFRAME_MS


@dataclass(frozen=True)
class Migration:
    """One schema step: a version number, a name and its statements."""

    version: int
    name: str
    statements: tuple[str, ...]


_CANDLES = """
CREATE TABLE IF NOT EXISTS {db}.candles (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64 COMMENT 'open time, UTC epoch ms',
    open Float64, high Float64, low Float64, close Float64,
    volume Float64 COMMENT 'base-asset volume',
    trades Nullable(UInt64),
    source LowCardinality(String) COMMENT 'rest|ws|trades|file',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (exchange, symbol, timeframe, ts)
"""

_TRADES = """
CREATE TABLE IF NOT EXISTS {db}.trades (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    ts Int64,
    trade_id String,
    price Float64,
    amount Float64,
    side LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (exchange, symbol, trade_id)
"""

_DATA_GAPS = """
CREATE TABLE IF NOT EXISTS {db}.data_gaps (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    from_ts Int64,
    to_ts Int64,
    detected_at DateTime64(3, 'UTC'),
    repaired_at Nullable(DateTime64(3, 'UTC')),
    method LowCardinality(String)
) ENGINE = ReplacingMergeTree(detected_at)
ORDER BY (exchange, symbol, timeframe, from_ts)
"""

_DATA_QUALITY = """
CREATE TABLE IF NOT EXISTS {db}.data_quality (
    run_id String,
    file String,
    row Int64 COMMENT '1-based data row of the file; 0 = the whole file',
    rule LowCardinality(String),
    detail String,
    symbol Nullable(String),
    ts Nullable(Int64),
    checked_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (checked_at, file, row)
"""

_RANKINGS = """
CREATE TABLE IF NOT EXISTS {db}.rankings (
    run_id String,
    ts Int64 COMMENT 'open time of the bar the ranking is as of',
    exchange LowCardinality(String),
    timeframe LowCardinality(String),
    symbol LowCardinality(String),
    rank Int32,
    score Float64,
    factors Map(String, Float64),
    contributions Map(String, Float64),
    rationale String,
    created_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(created_at)
ORDER BY (run_id, rank)
"""

# Rollups keep every 1m row (with its ingest time) in an idempotent aggregate state, so re-ingesting
# the same minute never double counts, and a corrected minute replaces the old one when read.
_ROLLUP_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.candles_rollup (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64,
    minutes AggregateFunction(groupUniqArray, Tuple(Int64, Int64, Float64, Float64, Float64, Float64, Float64))
) ENGINE = AggregatingMergeTree
ORDER BY (exchange, symbol, timeframe, ts)
"""

_ROLLUP_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_candles_1m_to_%(tf)s TO {db}.candles_rollup AS
SELECT c.exchange AS exchange, c.symbol AS symbol, '%(tf)s' AS timeframe,
       intDiv(c.ts, %(ms)d) * %(ms)d AS ts,
       groupUniqArrayState(tuple(c.ts, toUnixTimestamp64Milli(c.ingested_at),
                                 c.open, c.high, c.low, c.close, c.volume)) AS minutes
FROM {db}.candles AS c
WHERE c.timeframe = '1m'
GROUP BY exchange, symbol, ts
"""

_ROLLUP_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.candles_rollup_v AS
SELECT exchange, symbol, timeframe, ts,
       arraySort(x -> (x.1, -x.2), groupUniqArrayMerge(minutes)) AS sorted_rows,
       arrayFilter((x, i) -> i = 1 OR sorted_rows[i - 1].1 != x.1,
                   sorted_rows, arrayEnumerate(sorted_rows)) AS latest,
       latest[1].3 AS open,
       arrayMax(x -> x.4, latest) AS high,
       arrayMin(x -> x.5, latest) AS low,
       latest[-1].6 AS close,
       arraySum(x -> x.7, latest) AS volume,
       toUInt32(length(latest)) AS minutes_present,
       toUInt32(multiIf(timeframe = '5m', 5, timeframe = '15m', 15, timeframe = '1h', 60,
                        timeframe = '4h', 240, 1440)) AS minutes_expected
FROM {db}.candles_rollup
GROUP BY exchange, symbol, timeframe, ts
"""


def _rollup_mvs() -> tuple[str, ...]:
    return tuple(_ROLLUP_MV % {"tf": tf, "ms": TIMEFRAME_MS[tf]} for tf in ROLLUP_TIMEFRAMES)


CORE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables: candles, trades, data_gaps, data_quality", (_CANDLES, _TRADES, _DATA_GAPS,
                                                                          _DATA_QUALITY)),
    Migration(2, "candle rollups 1m -> 5m,15m,1h,4h,1d", (_ROLLUP_TABLE, *_rollup_mvs(), _ROLLUP_VIEW)),
    Migration(3, "rankings", (_RANKINGS,)),
)


def collect_migrations() -> tuple[Migration, ...]:
    """Core migrations plus those of every ``cluster.store.schema_*`` module, sorted by version.

    Each feature area keeps its tables in its own ``schema_<area>.py`` (a ``MIGRATIONS`` tuple in
    its own version range: analytics 100-199, sentiment 200-299, backtest 300-399, ingestion
    400-499, execution 500-599, ranking/serve 600-699, learning 700-799, dashboard 800-899).

    Raises
    ------
    ValueError
        When two migrations share a version number.
    """
    import importlib
    import pkgutil

    import cluster.store as package

    found = list(CORE_MIGRATIONS)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("schema_"):
            module = importlib.import_module(f"cluster.store.{info.name}")
            found.extend(module.MIGRATIONS)
    versions = [m.version for m in found]
    dupes = sorted({v for v in versions if versions.count(v) > 1})
    if dupes:
        raise ValueError(f"duplicate migration version(s): {dupes}")
    return tuple(sorted(found, key=lambda m: m.version))


MIGRATIONS: tuple[Migration, ...] = collect_migrations()

SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


def latest_version() -> int:
    """The highest migration version this code knows."""
    return MIGRATIONS[-1].version
