"""Analytics tables (``features``, ``anomalies``, ``confidence``): migrations 100-199 and Arrow row shapers.

The ``features`` table has one column per feature of the default feature set (docs/features.md);
features of a non-default configuration (other periods) go into its ``extra`` map, so the table
never changes shape with the configuration.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cluster.schemas import conform
from cluster.store.migrations import Migration

KEY_COLUMNS: tuple[str, ...] = ("exchange", "symbol", "timeframe", "ts")
OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PATTERN_COLUMNS: tuple[str, ...] = (
    "cdl_2crows", "cdl_3blackcrows", "cdl_3inside", "cdl_3linestrike", "cdl_3outside", "cdl_3starsinsouth",
    "cdl_3whitesoldiers", "cdl_abandonedbaby", "cdl_advanceblock", "cdl_belthold", "cdl_breakaway",
    "cdl_closingmarubozu", "cdl_concealbabyswall", "cdl_counterattack", "cdl_darkcloudcover", "cdl_doji",
    "cdl_dojistar", "cdl_dragonflydoji", "cdl_engulfing", "cdl_eveningdojistar", "cdl_eveningstar",
    "cdl_gapsidesidewhite", "cdl_gravestonedoji", "cdl_hammer", "cdl_hangingman", "cdl_harami",
    "cdl_haramicross", "cdl_highwave", "cdl_hikkake", "cdl_hikkakemod", "cdl_homingpigeon",
    "cdl_identical3crows", "cdl_inneck", "cdl_invertedhammer", "cdl_kicking", "cdl_kickingbylength",
    "cdl_ladderbottom", "cdl_longleggeddoji", "cdl_longline", "cdl_marubozu", "cdl_matchinglow",
    "cdl_mathold", "cdl_morningdojistar", "cdl_morningstar", "cdl_onneck", "cdl_piercing", "cdl_rickshawman",
    "cdl_risefall3methods", "cdl_separatinglines", "cdl_shootingstar", "cdl_shortline", "cdl_spinningtop",
    "cdl_stalledpattern", "cdl_sticksandwich", "cdl_takuri", "cdl_tasukigap", "cdl_thrusting", "cdl_tristar",
    "cdl_unique3river", "cdl_upsidegap2crows", "cdl_xsidegap3methods",
)
FLOAT_FEATURES: tuple[str, ...] = (
    "log_ret_1", "ema_20", "ema_50", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9",
    "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "bb_pctb_20_2", "bb_width_20_2", "atr_14", "atr_pct_14",
    "adx_14", "plus_di_14", "minus_di_14", "obv", "vwap_1d", "vwap_roll_20", "twap_1d", "twap_roll_20",
    "pattern_bull", "pattern_bear", "pattern_score", "trend_slope_30", "trend_tstat_30", "trend_r2_30",
    "vol_cc_30", "vol_parkinson_30", "vol_gk_30", "dollar_vol_30", "amihud_30", "ret_rz_50", "volume_rz_50",
    "volume_spike_50", "gap_pct", "corr_ref_30", "beta_ref_30",
)
INT_FEATURES: tuple[str, ...] = (*PATTERN_COLUMNS, "pattern_hits")

FEATURES = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        *(pa.field(c, pa.float64(), nullable=False) for c in OHLCV_COLUMNS),
        *(pa.field(c, pa.float64()) for c in FLOAT_FEATURES),
        *(pa.field(c, pa.int16()) for c in INT_FEATURES),
        pa.field("extra", pa.map_(pa.string(), pa.float64()), nullable=False),
        pa.field("computed_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)
ANOMALIES = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("explanation", pa.string(), nullable=False),
        pa.field("detected_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)
CONFIDENCE = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("factor", pa.string(), nullable=False),
        pa.field("signal", pa.float64(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("computed_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)

_FEATURES_DDL = (
    "CREATE TABLE IF NOT EXISTS {db}.features (\n"
    "    exchange LowCardinality(String),\n    symbol LowCardinality(String),\n"
    "    timeframe LowCardinality(String),\n    ts Int64 COMMENT 'bar open time, UTC epoch ms',\n"
    + "".join(f"    {c} Float64,\n" for c in OHLCV_COLUMNS)
    + "".join(f"    {c} Nullable(Float64),\n" for c in FLOAT_FEATURES)
    + "".join(f"    {c} Nullable(Int16),\n" for c in INT_FEATURES)
    + "    extra Map(String, Float64) COMMENT 'features of non-default configurations',\n"
    "    computed_at DateTime64(3, 'UTC')\n"
    ") ENGINE = ReplacingMergeTree(computed_at)\nORDER BY (exchange, symbol, timeframe, ts)\n"
)
_ANOMALIES_DDL = """
CREATE TABLE IF NOT EXISTS {db}.anomalies (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64,
    kind LowCardinality(String) COMMENT 'return_outlier|volume_outlier|volume_spike|price_gap|exchange_divergence',
    score Float64,
    explanation String,
    detected_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(detected_at)
ORDER BY (exchange, symbol, timeframe, ts, kind)
"""
_CONFIDENCE_DDL = """
CREATE TABLE IF NOT EXISTS {db}.confidence (
    run_id String,
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64 COMMENT 'as-of bar open time',
    factor LowCardinality(String),
    signal Float64 COMMENT 'in [-1, 1]',
    confidence Float64 COMMENT 'in [0, 1]',
    weight Float64,
    detail String,
    computed_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (run_id, exchange, timeframe, symbol, factor)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(100, "analytics: features, anomalies, confidence", (_FEATURES_DDL, _ANOMALIES_DDL, _CONFIDENCE_DDL)),
)


def _with(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def features_rows(table: pa.Table, *, computed_at_ms: int) -> pa.Table:
    """Shape a feature table into the ``FEATURES`` schema.

    Missing default feature columns become nulls, ``exchange`` defaults to ``""``, and numeric
    columns the table schema does not know go into ``extra`` (nulls and NaNs are left out).
    """
    n = table.num_rows
    if "exchange" not in table.column_names:
        table = table.append_column("exchange", pa.array([""] * n, pa.string()))
    skip = set(FEATURES.names) | {"trades", "source", "ingested_at"}
    extras = [c for c in table.column_names if c not in skip
              and (pa.types.is_floating(table.schema.field(c).type) or pa.types.is_integer(table.schema.field(c).type))]
    maps: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    for c in extras:
        for i, v in enumerate(table.column(c).to_pylist()):
            if v is not None and v == v:
                maps[i].append((c, float(v)))
    for field in FEATURES:
        if field.name in ("extra", "computed_at") or field.name in table.column_names:
            continue
        table = table.append_column(field.name, pa.nulls(n, field.type))
    for c in FLOAT_FEATURES:
        table = _with(table, c, pc.if_else(pc.is_nan(table.column(c).cast(pa.float64())), None,
                                           table.column(c).cast(pa.float64())))
    table = _with(table, "extra", pa.array(maps, pa.map_(pa.string(), pa.float64())))
    table = _with(table, "computed_at", pa.array([computed_at_ms] * n, pa.timestamp("ms", tz="UTC")))
    return conform(table, FEATURES)


def anomalies_rows(table: pa.Table, *, detected_at_ms: int) -> pa.Table:
    """Shape ``detect_anomalies`` output into the ``ANOMALIES`` schema."""
    table = _with(table, "detected_at", pa.array([detected_at_ms] * table.num_rows, pa.timestamp("ms", tz="UTC")))
    return conform(table, ANOMALIES)


def confidence_rows(table: pa.Table, *, run_id: str, computed_at_ms: int) -> pa.Table:
    """Shape a confidence matrix into the ``CONFIDENCE`` schema."""
    n = table.num_rows
    table = _with(table, "run_id", pa.array([run_id] * n, pa.string()))
    table = _with(table, "computed_at", pa.array([computed_at_ms] * n, pa.timestamp("ms", tz="UTC")))
    return conform(table, CONFIDENCE)
