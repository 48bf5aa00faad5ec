"""Statistical scores per bar: momentum, trend-following and mean reversion, z-scored across symbols.

All inputs are causal (values at ``ts`` use rows with ``ts`` or earlier); the cross-sectional
z-score at ``ts`` uses only the symbols' values at that same ``ts``.

=============  ===========================================  ====
score          raw value at ``ts``                          sign
=============  ===========================================  ====
momentum       close / close ``momentum_bars`` earlier - 1  +
trend          close / EMA(``ema_column``) - 1              +
mean_reversion 0.5 - Bollinger %b                           +
=============  ===========================================  ====

``stat_score`` = sum(weight x robust_z(raw)) / sum(weight), robust_z = (x - median) / (1.4826 MAD)
clipped to +-3 at each ``ts``.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import require_columns

STAT_COMPONENTS: tuple[str, ...] = ("momentum", "trend", "mean_reversion")
MAD_TO_SIGMA = 1.4826
Z_CLIP = 3.0


class StatConfig(BaseModel):
    """Windows and weights of the statistical scores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    momentum_bars: int = Field(20, ge=2, description="Bars of the momentum return.")
    ema_column: str = Field("ema_50", description="EMA column the trend is measured against.")
    pctb_column: str = Field("bb_pctb_20_2", description="Bollinger %b column for mean reversion.")
    weight_momentum: float = Field(1.0, ge=0)
    weight_trend: float = Field(1.0, ge=0)
    weight_mean_reversion: float = Field(0.5, ge=0)

    def weights(self) -> dict[str, float]:
        """Component -> weight."""
        return {c: float(getattr(self, f"weight_{c}")) for c in STAT_COMPONENTS}


def cross_sectional_z(column: str) -> pl.Expr:
    """Robust z-score of ``column`` across the symbols at each ``ts`` (0 where undefined)."""
    x = pl.col(column)
    med = x.median().over("ts")
    mad = (x - med).abs().median().over("ts")
    std = x.std(ddof=0).over("ts")
    scale = pl.when(mad > 0).then(MAD_TO_SIGMA * mad).otherwise(std)
    z = pl.when(scale > 0).then((x - med) / scale).otherwise(0.0)
    return z.clip(-Z_CLIP, Z_CLIP).fill_nan(None)


def add_statistical_scores(frame: pl.DataFrame, cfg: StatConfig) -> pl.DataFrame:
    """Append ``raw_<c>``, ``z_<c>`` for each component and ``stat_score``.

    Requires columns: symbol, ts, close, ``cfg.ema_column``, ``cfg.pctb_column``.
    """
    require_columns(frame.columns, {"symbol", "ts", "close", cfg.ema_column, cfg.pctb_column})
    weights = cfg.weights()
    total = sum(weights.values()) or 1.0
    out = frame.sort("symbol", "ts").with_columns(
        (pl.col("close") / pl.col("close").shift(cfg.momentum_bars).over("symbol") - 1).alias("raw_momentum"),
        (pl.col("close") / pl.col(cfg.ema_column) - 1).alias("raw_trend"),
        (0.5 - pl.col(cfg.pctb_column)).alias("raw_mean_reversion"),
    )
    out = out.with_columns(cross_sectional_z(f"raw_{c}").alias(f"z_{c}") for c in STAT_COMPONENTS)
    return out.with_columns(
        (pl.sum_horizontal([pl.col(f"z_{c}").fill_null(0.0) * weights[c] for c in STAT_COMPONENTS]) / total)
        .alias("stat_score")
    )
