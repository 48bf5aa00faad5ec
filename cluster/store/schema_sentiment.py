"""Sentiment tables (migrations 200-299): texts, text_symbols, sentiment and the ``sentiment_agg`` view.

``sentiment_agg`` is fed by a materialized view on inserts into ``sentiment``, joined with
``text_symbols`` (so map symbols before storing scores). Each bucket keeps the distinct
``(text_id, ts, score, engagement)`` items in an aggregate state, so re-scoring a text never
double counts; the view merges the states and computes the statistics.
"""

from __future__ import annotations

from cluster.schemas import TIMEFRAME_MS
from cluster.store.migrations import Migration

_TEXTS = """
CREATE TABLE IF NOT EXISTS {db}.texts (
    id String COMMENT 'source:native id, unique across sources',
    source LowCardinality(String),
    ts Int64 COMMENT 'publication time, UTC epoch ms',
    author String,
    title String,
    body String,
    url String,
    engagement Float64 COMMENT 'score/likes/comments, source specific, >= 0',
    lang LowCardinality(String) COMMENT 'en|other|und',
    text_hash UInt64 COMMENT 'near-duplicate hash of the normalised text',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY id
"""

_TEXT_SYMBOLS = """
CREATE TABLE IF NOT EXISTS {db}.text_symbols (
    text_id String,
    symbol LowCardinality(String) COMMENT 'ccxt unified, BTC/USDT',
    confidence Float32,
    rule LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (text_id, symbol)
"""

_SENTIMENT = """
CREATE TABLE IF NOT EXISTS {db}.sentiment (
    text_id String,
    model_version LowCardinality(String),
    label LowCardinality(String) COMMENT 'negative|neutral|positive',
    p_neg Float32, p_neu Float32, p_pos Float32,
    score Float32 COMMENT 'p_pos - p_neg',
    ts Int64 COMMENT 'the text publication time (copied from texts)',
    engagement Float64 COMMENT 'copied from texts',
    lang LowCardinality(String),
    scored_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(scored_at)
ORDER BY (text_id, model_version)
"""

_AGG_STATE = """
CREATE TABLE IF NOT EXISTS {db}.sentiment_agg_state (
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64 COMMENT 'bucket open time, UTC epoch ms',
    model_version LowCardinality(String),
    items AggregateFunction(groupUniqArray, Tuple(String, Int64, Float32, Float64))
) ENGINE = AggregatingMergeTree
ORDER BY (symbol, timeframe, model_version, ts)
"""

_TF_ARRAY = "[" + ", ".join(f"('{tf}', {ms})" for tf, ms in TIMEFRAME_MS.items()) + "]"

_AGG_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_sentiment_agg TO {db}.sentiment_agg_state AS
SELECT m.symbol AS symbol, tf.1 AS timeframe, intDiv(s.ts, tf.2) * tf.2 AS ts,
       s.model_version AS model_version,
       groupUniqArrayState(tuple(s.text_id, s.ts, s.score, s.engagement)) AS items
FROM {db}.sentiment AS s
INNER JOIN {db}.text_symbols AS m ON m.text_id = s.text_id
ARRAY JOIN __TFS__ AS tf
GROUP BY symbol, timeframe, ts, model_version
""".replace("__TFS__", _TF_ARRAY)

# Weights (same maths as pipelines.sentiment.aggregation): engagement weight 1 + ln(1 + engagement);
# time decay 2^(-(bucket close - ts) / half-life) with half-life = half the bucket.
_AGG_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.sentiment_agg AS
SELECT symbol, timeframe, ts, model_version,
       arraySort(x -> (x.1, x.2), groupUniqArrayMerge(items)) AS sorted_items,
       arrayFilter((x, i) -> i = 1 OR sorted_items[i - 1].1 != x.1,
                   sorted_items, arrayEnumerate(sorted_items)) AS uniq,
       toUInt64(length(uniq)) AS n,
       arrayAvg(x -> toFloat64(x.3), uniq) AS mean_score,
       arraySum(x -> x.3 * (1 + log1p(x.4)), uniq) / arraySum(x -> 1 + log1p(x.4), uniq) AS engagement_score,
       multiIf(__MS__) AS bucket_ms,
       arraySum(x -> x.3 * pow(2, -(ts + bucket_ms - x.2) / (bucket_ms / 2)), uniq)
         / arraySum(x -> pow(2, -(ts + bucket_ms - x.2) / (bucket_ms / 2)), uniq) AS decayed_score
FROM {db}.sentiment_agg_state
GROUP BY symbol, timeframe, ts, model_version
""".replace("__MS__", ", ".join(f"timeframe = '{tf}', {ms}" for tf, ms in TIMEFRAME_MS.items()) + ", 0")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(200, "sentiment: texts, text_symbols, sentiment", (_TEXTS, _TEXT_SYMBOLS, _SENTIMENT)),
    Migration(201, "sentiment: sentiment_agg materialized view", (_AGG_STATE, _AGG_MV, _AGG_VIEW)),
)
