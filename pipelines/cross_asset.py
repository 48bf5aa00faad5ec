"""Cross-asset analytics per (exchange, timeframe): rolling correlation and beta to a reference, and
the universe's return correlation matrix.

Returns are the 1-bar log returns (``log_ret_1``), aligned on ``ts``; a bar where either series
lacks a return is left out of the window (pairwise-complete).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import require_columns


class CrossAssetConfig(BaseModel):
    """Reference symbol and window of the cross-asset statistics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str = Field("BTC/USDT", description="Symbol the corr/beta columns are measured against.")
    window: int = Field(30, ge=3, description="Bars in the rolling correlation and beta.")


def cross_asset_columns(cfg: CrossAssetConfig) -> list[str]:
    """Names of the columns :func:`add_cross_asset` appends.

    >>> cross_asset_columns(CrossAssetConfig())
    ['corr_ref_30', 'beta_ref_30']
    """
    return [f"corr_ref_{cfg.window}", f"beta_ref_{cfg.window}"]


def reference_returns(candles: pl.DataFrame, cfg: CrossAssetConfig) -> pl.DataFrame:
    """The reference symbol's 1-bar log returns per (exchange,) timeframe: columns (exchange,) timeframe, ts, r_ref.

    Requires columns: symbol, timeframe, ts, close (``exchange`` optional). Empty when the
    reference is not in ``candles``.
    """
    require_columns(candles.columns, {"symbol", "timeframe", "ts", "close"})
    group = [c for c in ("exchange", "timeframe") if c in candles.columns]
    return (
        candles.filter(pl.col("symbol") == cfg.reference)
        .sort(*group, "ts")
        .select(*group, "ts", r_ref=(pl.col("close").log() - pl.col("close").log().shift(1)).over(group))
    )


def add_cross_asset(frame: pl.DataFrame, cfg: CrossAssetConfig, *,
                    reference: pl.DataFrame | None = None) -> pl.DataFrame:
    """Append ``corr_ref_<w>`` and ``beta_ref_<w>`` (vs ``cfg.reference``) per (exchange, timeframe).

    Requires columns: symbol, timeframe, ts, log_ret_1 (``exchange`` optional). At bar ``t``:
    ``corr = corr(r_sym, r_ref)`` and ``beta = cov(r_sym, r_ref) / var(r_ref)`` (ddof=1) over the
    ``window`` bars of the series ending at ``t``; null unless both returns exist on all of them
    (so null everywhere when the reference is missing). Rows keep their order.

    ``reference`` is :func:`reference_returns` of the full universe; by default it is taken from
    ``frame`` itself (then ``frame`` needs the reference's rows and a ``close`` column).
    """
    require_columns(frame.columns, {"symbol", "timeframe", "ts", "log_ret_1"})
    corr_col, beta_col = cross_asset_columns(cfg)
    group = [c for c in ("exchange", "timeframe") if c in frame.columns]
    ref = reference if reference is not None else reference_returns(frame, cfg)
    ref = ref.select(*group, "ts", "r_ref")
    w = cfg.window
    joined = frame.with_row_index("_row").join(ref, on=[*group, "ts"], how="left")
    keys = [*group, "symbol"]
    x, y = pl.col("log_ret_1"), pl.col("r_ref")
    both = (x.is_not_null() & y.is_not_null() & x.is_not_nan() & y.is_not_nan()).fill_null(False)
    xs, ys = pl.when(both).then(x), pl.when(both).then(y)
    # rolling sums over the pairwise-complete bars, computed per series in ts order
    ordered = joined.sort(*keys, "ts").with_columns(
        _n=both.cast(pl.Float64).rolling_sum(w, min_samples=1).over(keys),
        _sx=xs.fill_null(0).rolling_sum(w, min_samples=1).over(keys),
        _sy=ys.fill_null(0).rolling_sum(w, min_samples=1).over(keys),
        _sxy=(xs * ys).fill_null(0).rolling_sum(w, min_samples=1).over(keys),
        _sxx=(xs * xs).fill_null(0).rolling_sum(w, min_samples=1).over(keys),
        _syy=(ys * ys).fill_null(0).rolling_sum(w, min_samples=1).over(keys),
    )
    n = pl.col("_n")
    cov = (pl.col("_sxy") - pl.col("_sx") * pl.col("_sy") / n) / (n - 1)
    vx = (pl.col("_sxx") - pl.col("_sx") ** 2 / n) / (n - 1)
    vy = (pl.col("_syy") - pl.col("_sy") ** 2 / n) / (n - 1)
    full = n >= w
    out = ordered.with_columns(
        pl.when(full & (vx > 0) & (vy > 0)).then(cov / (vx * vy).sqrt()).alias(corr_col),
        pl.when(full & (vy > 0)).then(cov / vy).alias(beta_col),
    )
    return out.sort("_row").drop("_row", "r_ref", "_n", "_sx", "_sy", "_sxy", "_sxx", "_syy")


def correlation_matrix(frame: pl.DataFrame, *, window: int, as_of: int | None = None) -> pl.DataFrame:
    """Pairwise return correlations of every symbol over the ``window`` bars ending at ``as_of``.

    Requires columns: symbol, ts, log_ret_1, and rows of a single exchange and timeframe.
    ``as_of`` defaults to the newest ts in ``frame``. Returns long format: symbol_a, symbol_b,
    corr, n (pairwise-complete bars), both orders of each pair plus the diagonal, sorted.
    """
    require_columns(frame.columns, {"symbol", "ts", "log_ret_1"})
    if frame.height == 0:
        return pl.DataFrame(schema={"symbol_a": pl.String, "symbol_b": pl.String, "corr": pl.Float64,
                                    "n": pl.UInt32})
    end = as_of if as_of is not None else int(frame.get_column("ts").max())  # type: ignore[arg-type]
    stamps = frame.filter(pl.col("ts") <= end).get_column("ts").unique().sort().tail(window)
    wide = (
        frame.filter(pl.col("ts").is_in(stamps.implode()))
        .select("ts", "symbol", pl.col("log_ret_1").fill_nan(None))
        .pivot(on="symbol", index="ts", values="log_ret_1")
    )
    symbols = sorted(c for c in wide.columns if c != "ts")
    values = wide.select(symbols).to_numpy().astype(np.float64)
    rows = []
    for i, a in enumerate(symbols):
        for j, b in enumerate(symbols):
            mask = np.isfinite(values[:, i]) & np.isfinite(values[:, j])
            n = int(mask.sum())
            corr = None
            if n >= 3:
                x, y = values[mask, i], values[mask, j]
                sx, sy = x.std(), y.std()
                corr = float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy)) if sx > 0 and sy > 0 else None
            rows.append((a, b, corr, n))
    return pl.DataFrame(rows, schema={"symbol_a": pl.String, "symbol_b": pl.String, "corr": pl.Float64,
                                      "n": pl.UInt32}, orient="row")
