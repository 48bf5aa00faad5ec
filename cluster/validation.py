"""Validation rules for imported OHLCV rows. Pure functions: a frame in, accepted and rejected rows out.

Rules (each rejected row is reported with every rule it breaks):

=========================  ==============================================================
rule                       meaning
=========================  ==============================================================
``bad_timestamp``          the time column is missing or cannot be parsed
``nan_value``              open, high, low, close or volume is missing or NaN
``non_positive_price``     a price is zero or negative
``negative_volume``        volume is below zero
``high_below_open_close``  high < max(open, close)
``low_above_open_close``   low > min(open, close)
``off_grid``               ts is not a multiple of the timeframe (UTC-aligned)
``duplicate_ts``           the same symbol and ts appeared earlier in the file
``not_sorted``             ts is earlier than a previous row's ts for the same symbol
=========================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

RULES: tuple[str, ...] = (
    "bad_timestamp",
    "nan_value",
    "non_positive_price",
    "negative_volume",
    "high_below_open_close",
    "low_above_open_close",
    "off_grid",
    "duplicate_ts",
    "not_sorted",
)
PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")


@dataclass(frozen=True)
class ValidationResult:
    """Accepted rows (columns ``row, symbol, ts, open..volume``) and one row per broken rule."""

    accepted: pl.DataFrame
    rejects: pl.DataFrame  # columns: row, rule, detail, symbol, ts

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rejected input rows."""
        return self.rejects.get_column("row").n_unique() if self.rejects.height else 0


def validate_ohlcv(frame: pl.DataFrame, *, timeframe_ms: int) -> ValidationResult:
    """Split ``frame`` into valid and rejected rows.

    Parameters
    ----------
    frame:
        Columns ``row`` (1-based input row number), ``symbol``, ``ts`` (UTC epoch ms, null when
        unparseable), ``open``, ``high``, ``low``, ``close``, ``volume`` (Float64, may hold NaN/null).
    timeframe_ms:
        Bar length; timestamps must be multiples of it.

    Returns
    -------
    ValidationResult
        ``accepted`` keeps the input order; ``rejects`` lists (row, rule, detail, symbol, ts).
    """
    value_missing = pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in VALUE_COLUMNS])
    checks = frame.with_columns(
        ts_ok=pl.col("ts").is_not_null(),
        missing_cols=pl.concat_str(
            [pl.when(pl.col(c).is_null() | pl.col(c).is_nan()).then(pl.lit(c)) for c in VALUE_COLUMNS],
            separator=",",
            ignore_nulls=True,
        ),
        value_missing=value_missing,
    )
    ordered = checks.filter(pl.col("ts_ok")).select(
        "row",
        first=pl.col("ts").is_first_distinct().over("symbol"),
        prev_max=pl.col("ts").cum_max().shift(1).over("symbol"),
    )
    checks = checks.join(ordered, on="row", how="left")
    flags = {
        "bad_timestamp": ~pl.col("ts_ok"),
        "nan_value": pl.col("value_missing"),
        "non_positive_price": ~pl.col("value_missing")
        & pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS]),
        "negative_volume": ~pl.col("value_missing") & (pl.col("volume") < 0),
        "high_below_open_close": ~pl.col("value_missing")
        & (pl.col("high") < pl.max_horizontal("open", "close")),
        "low_above_open_close": ~pl.col("value_missing")
        & (pl.col("low") > pl.min_horizontal("open", "close")),
        "off_grid": pl.col("ts_ok") & (pl.col("ts") % timeframe_ms != 0),
        "duplicate_ts": pl.col("ts_ok") & ~pl.col("first").fill_null(True),
        "not_sorted": pl.col("ts_ok") & pl.col("first").fill_null(True)
        & (pl.col("ts") < pl.col("prev_max")).fill_null(False),
    }
    details = {
        "bad_timestamp": pl.lit("time value missing or not a date/epoch"),
        "nan_value": pl.format("missing or NaN: {}", pl.col("missing_cols")),
        "non_positive_price": pl.format(
            "open={} high={} low={} close={}", "open", "high", "low", "close"
        ),
        "negative_volume": pl.format("volume={}", "volume"),
        "high_below_open_close": pl.format("high={} < max(open={}, close={})", "high", "open", "close"),
        "low_above_open_close": pl.format("low={} > min(open={}, close={})", "low", "open", "close"),
        "off_grid": pl.format("ts={} is not a multiple of {} ms", "ts", pl.lit(timeframe_ms)),
        "duplicate_ts": pl.format("ts={} already seen for {}", "ts", "symbol"),
        "not_sorted": pl.format("ts={} comes after ts={}", "ts", "prev_max"),
    }
    flagged = checks.with_columns(**{f"bad_{rule}": flags[rule] for rule in RULES})
    rejects = pl.concat(
        [
            flagged.filter(pl.col(f"bad_{rule}")).select(
                "row",
                rule=pl.lit(rule),
                detail=details[rule].cast(pl.String),
                symbol=pl.col("symbol"),
                ts=pl.col("ts"),
            )
            for rule in RULES
        ],
        how="vertical",
    ).sort("row", "rule")
    any_bad = pl.any_horizontal([pl.col(f"bad_{rule}") for rule in RULES])
    accepted = flagged.filter(~any_bad).select("row", "symbol", "ts", *VALUE_COLUMNS)
    return ValidationResult(accepted=accepted, rejects=rejects)
