"""Supervised labels: forward returns over ``horizon`` bars and ATR triple-barrier outcomes, per symbol.

Every label row carries ``label_end_ts``: the open time of the last bar whose price the label
reads. A row may be used for training at decision time ``t`` only when ``label_end_ts < t``
(see :mod:`pipelines.models.splits`), which is how no training row sees the future.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cluster.schemas import require_columns

TB_TAKE_PROFIT = 1
TB_STOP = -1
TB_TIME = 0


def add_forward_returns(frame: pl.DataFrame, *, horizon: int) -> pl.DataFrame:
    """Append ``fwd_ret_{horizon}`` = close[t + h] / close[t] - 1 and ``label_end_ts`` per symbol.

    Requires columns: symbol, ts, close. The last ``horizon`` rows of each symbol get nulls
    (their future is unknown). Rows come back sorted by symbol, ts.

    >>> f = pl.DataFrame({"symbol": ["A"] * 3, "ts": [0, 1, 2], "close": [1.0, 2.0, 4.0]})
    >>> add_forward_returns(f, horizon=1).get_column("fwd_ret_1").to_list()
    [1.0, 1.0, None]
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, not {horizon}")
    require_columns(frame.columns, {"symbol", "ts", "close"})
    return frame.sort("symbol", "ts").with_columns(
        (pl.col("close").shift(-horizon) / pl.col("close") - 1).over("symbol").alias(f"fwd_ret_{horizon}"),
        pl.col("ts").shift(-horizon).over("symbol").alias("label_end_ts"),
    )


def triple_barrier(close: np.ndarray, high: np.ndarray, low: np.ndarray, atr: np.ndarray, *,
                   horizon: int, take_profit_atr: float, stop_atr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triple-barrier outcome of a long entry at each bar's close (one series, sorted by time).

    The upper barrier is ``close + take_profit_atr * atr``, the lower ``close - stop_atr * atr``,
    and the time barrier ``horizon`` bars ahead. Bars ``t+1 .. t+horizon`` are scanned in order;
    when one bar touches both barriers the stop is assumed first (conservative).

    Returns
    -------
    (label, ret, end_index)
        ``label`` in {1 take-profit, -1 stop, 0 time limit} (as float; NaN where ATR is
        undefined or fewer than ``horizon`` bars follow), the return realised at the barrier,
        and the index of the bar that closed the label (-1 when undefined).

    >>> c = np.array([10.0, 10.0, 12.0, 12.0]); a = np.array([1.0] * 4)
    >>> triple_barrier(c, c, c, a, horizon=2, take_profit_atr=1.5, stop_atr=1.0)[0].tolist()
    [1.0, 1.0, nan, nan]
    """
    n = close.shape[0]
    label = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    for i in range(n - horizon):
        a = atr[i]
        if not np.isfinite(a) or a <= 0:
            continue
        upper = close[i] + take_profit_atr * a
        lower = close[i] - stop_atr * a
        hi = high[i + 1:i + 1 + horizon]
        lo = low[i + 1:i + 1 + horizon]
        hit_stop = np.flatnonzero(lo <= lower)
        hit_tp = np.flatnonzero(hi >= upper)
        first_stop = hit_stop[0] if hit_stop.size else horizon
        first_tp = hit_tp[0] if hit_tp.size else horizon
        if first_stop < horizon and first_stop <= first_tp:
            label[i], ret[i], end[i] = TB_STOP, lower / close[i] - 1, i + 1 + first_stop
        elif first_tp < horizon:
            label[i], ret[i], end[i] = TB_TAKE_PROFIT, upper / close[i] - 1, i + 1 + first_tp
        else:
            label[i], ret[i], end[i] = TB_TIME, close[i + horizon] / close[i] - 1, i + horizon
    return label, ret, end


def add_triple_barrier(frame: pl.DataFrame, *, horizon: int, atr_column: str = "atr_14",
                       take_profit_atr: float = 2.0, stop_atr: float = 1.5) -> pl.DataFrame:
    """Append ``tb_label``, ``tb_ret`` and ``tb_end_ts`` (see :func:`triple_barrier`) per symbol.

    Requires columns: symbol, ts, close, high, low and ``atr_column``. ``label_end_ts`` (when
    absent) is set to the full horizon's end, which bounds ``tb_end_ts`` from above; purging uses
    that bound, so an early barrier never makes a row look older than its horizon.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, not {horizon}")
    require_columns(frame.columns, {"symbol", "ts", "close", "high", "low", atr_column})
    parts: list[pl.DataFrame] = []
    for group in frame.sort("symbol", "ts").partition_by("symbol", maintain_order=True):
        arr = {c: group.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy()
               for c in ("close", "high", "low", atr_column)}
        label, ret, end = triple_barrier(arr["close"], arr["high"], arr["low"], arr[atr_column],
                                         horizon=horizon, take_profit_atr=take_profit_atr, stop_atr=stop_atr)
        ts = group.get_column("ts").to_numpy()
        end_ts = np.where(end >= 0, ts[np.clip(end, 0, None)], -1)
        parts.append(group.with_columns(
            pl.Series("tb_label", label, nan_to_null=True),
            pl.Series("tb_ret", ret, nan_to_null=True),
            pl.Series("tb_end_ts", end_ts, dtype=pl.Int64).replace(-1, None),
        ))
    out = pl.concat(parts) if parts else frame.with_columns(
        tb_label=pl.lit(None, pl.Float64), tb_ret=pl.lit(None, pl.Float64), tb_end_ts=pl.lit(None, pl.Int64))
    if "label_end_ts" not in out.columns:
        out = out.with_columns(pl.col("ts").shift(-horizon).over("symbol").alias("label_end_ts"))
    return out
