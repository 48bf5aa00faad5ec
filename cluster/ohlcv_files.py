"""Read OHLCV files (CSV, Parquet, Feather/Arrow IPC; freqtrade's download format included).

Columns: a time column named ``date``, ``timestamp`` or ``ts`` (ISO text, datetime, or epoch
seconds/milliseconds), ``open``, ``high``, ``low``, ``close``, ``volume``, and optionally
``symbol``. Without a ``symbol`` column the symbol comes from a ``BASE_QUOTE-TF.ext`` file name
(``BTC_USDT-1h.feather`` is BTC/USDT at 1h; freqtrade futures ``XRP_USDT_USDT-1h-futures``
is XRP/USDT:USDT). The timeframe comes from the file name, the caller, or the bar spacing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from cluster.errors import DataError, SchemaError
from cluster.schemas import CANDLES, DATA_QUALITY, TIMEFRAME_MS
from cluster.validation import VALUE_COLUMNS, validate_ohlcv

TIME_COLUMNS = ("date", "timestamp", "ts")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".feather": "ipc", ".arrow": "ipc",
            ".ipc": "ipc"}
_NAME_RE = re.compile(
    r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?-(?P<tf>\d+[mhdwM])"
    r"(?:-(?P<kind>[a-z_]+))?$"
)
_TF_RE = re.compile(r"-(?P<tf>\d+[mhdwM])(?:-(?P<kind>[a-z_]+))?$")
PRICE_KINDS = {None, "spot", "futures"}
EPOCH_MS_THRESHOLD = 100_000_000_000
ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d",
)  # numbers above this are epoch ms, below epoch s


@dataclass(frozen=True)
class FileResult:
    """What one file yielded: valid candles, rejects, and a file-level error if it was unusable."""

    file: str
    candles: pa.Table  # CANDLES schema
    rejects: pa.Table  # DATA_QUALITY schema
    rows_read: int
    rows_rejected: int
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def parse_file_name(path: Path) -> tuple[str | None, str | None, str | None]:
    """(symbol, timeframe, kind) from a freqtrade-style file name; parts it cannot tell are None.

    >>> parse_file_name(Path("BTC_USDT-1h.feather"))
    ('BTC/USDT', '1h', None)
    >>> parse_file_name(Path("XRP_USDT_USDT-5m-futures.feather"))
    ('XRP/USDT:USDT', '5m', 'futures')
    >>> parse_file_name(Path("ALL_136_USDT_PAIRS-1d.parquet"))
    (None, '1d', None)
    """
    stem = path.name.split(".")[0]
    m = _NAME_RE.match(stem)
    if m:
        symbol = f"{m['base']}/{m['quote']}" + (f":{m['settle']}" if m["settle"] else "")
        return symbol, m["tf"], m["kind"]
    t = _TF_RE.search(stem)
    return None, (t["tf"] if t else None), (t["kind"] if t else None)


def read_table(path: Path) -> pl.DataFrame:
    """Read a CSV/Parquet/Feather file into a frame (no validation)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .parquet or .feather")
    try:
        if kind == "csv":
            return pl.read_csv(path, infer_schema_length=10_000, try_parse_dates=False)
        if kind == "parquet":
            return pl.read_parquet(path)
        return pl.read_ipc(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"{path}: cannot read file: {exc}") from exc


def to_epoch_ms(column: pl.Series) -> pl.Series:
    """Convert a time column (datetime, epoch s/ms numbers, ISO text) to UTC epoch ms; bad values -> null."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        col = column if dtype.time_zone else column.dt.replace_time_zone("UTC")
        return col.dt.epoch("ms").alias("ts")
    if isinstance(dtype, pl.Date):
        return column.cast(pl.Datetime("ms")).dt.epoch("ms").alias("ts")
    if dtype.is_numeric():
        num = column.cast(pl.Float64)
        ms = pl.select(
            pl.when(num.abs() >= EPOCH_MS_THRESHOLD).then(num).otherwise(num * 1000).round(0).cast(pl.Int64)
        ).to_series()
        return ms.alias("ts")
    text = column.cast(pl.String).str.strip_chars()
    numeric = text.str.to_integer(strict=False)
    parsed = pl.select(
        pl.coalesce(
            pl.when(numeric.abs() >= EPOCH_MS_THRESHOLD).then(numeric).otherwise(numeric * 1000),
            *(text.str.to_datetime(format=fmt, strict=False, time_unit="ms", time_zone="UTC").dt.epoch("ms")
              for fmt in ISO_FORMATS),
        )
    ).to_series()
    return parsed.alias("ts")


def infer_timeframe(ts: pl.Series) -> str | None:
    """The known timeframe equal to the most common positive bar spacing, if any."""
    diffs = ts.drop_nulls().sort().diff().drop_nulls()
    diffs = diffs.filter(diffs > 0)
    if diffs.len() == 0:
        return None
    mode = int(diffs.mode().min())  # type: ignore[arg-type]
    return next((tf for tf, ms in TIMEFRAME_MS.items() if ms == mode), None)


def load_ohlcv_file(
    path: Path,
    *,
    exchange: str,
    run_id: str,
    now_ms: int,
    timeframe: str | None = None,
    symbol: str | None = None,
) -> FileResult:
    """Read, normalise and validate one OHLCV file.

    Never raises for bad content: a file that cannot be used at all comes back with ``error`` set
    and one ``data_quality`` row (row 0) saying why.
    """
    try:
        return _load(path, exchange=exchange, run_id=run_id, now_ms=now_ms, timeframe=timeframe, symbol=symbol)
    except DataError as exc:
        rule = "missing_columns" if isinstance(exc, SchemaError) else "unreadable_file"
        reject = _quality_table(
            pl.DataFrame({"row": [0], "rule": [rule], "detail": [str(exc)], "symbol": [None], "ts": [None]},
                         schema={"row": pl.Int64, "rule": pl.String, "detail": pl.String,
                                 "symbol": pl.String, "ts": pl.Int64}),
            file=str(path), run_id=run_id, now_ms=now_ms,
        )
        return FileResult(file=str(path), candles=CANDLES.empty_table(), rejects=reject, rows_read=0,
                          rows_rejected=0, error=str(exc))


def _load(
    path: Path, *, exchange: str, run_id: str, now_ms: int, timeframe: str | None, symbol: str | None
) -> FileResult:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    name_symbol, name_tf, kind = parse_file_name(path)
    if kind not in PRICE_KINDS:
        raise DataError(f"{path}: '{kind}' files are not price candles (only spot and futures OHLCV import)")
    raw = read_table(path)
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    time_col = next((c for c in TIME_COLUMNS if c in raw.columns), None)
    missing = [c for c in VALUE_COLUMNS if c not in raw.columns]
    if time_col is None or missing:
        need = ([] if time_col else ["date|timestamp|ts"]) + missing
        raise SchemaError(f"{path}: missing column(s) {', '.join(need)} (have {', '.join(raw.columns)})",
                          missing_columns=frozenset(need))
    if "symbol" in raw.columns:
        symbols = raw.get_column("symbol").cast(pl.String)
    elif symbol or name_symbol:
        symbols = pl.Series("symbol", [symbol or name_symbol] * raw.height, dtype=pl.String)
    else:
        raise SchemaError(f"{path}: no symbol column and the file name is not BASE_QUOTE-TF.ext; pass --symbol",
                          missing_columns=frozenset({"symbol"}))
    frame = pl.DataFrame(
        {
            "row": pl.int_range(1, raw.height + 1, eager=True, dtype=pl.Int64),
            "symbol": symbols,
            "ts": to_epoch_ms(raw.get_column(time_col)),
            **{c: raw.get_column(c).cast(pl.Float64, strict=False) for c in VALUE_COLUMNS},
        }
    )
    tf = timeframe or name_tf or infer_timeframe(frame.get_column("ts"))
    if tf is None:
        raise DataError(f"{path}: cannot tell the timeframe (not in the file name, spacing irregular); "
                        "pass --timeframe")
    if tf not in TIMEFRAME_MS:
        raise DataError(f"{path}: timeframe {tf!r} is not stored by coinray (use {', '.join(TIMEFRAME_MS)})")
    result = validate_ohlcv(frame, timeframe_ms=TIMEFRAME_MS[tf])
    good = result.accepted
    candles = pa.table(
        {
            "exchange": pa.array([exchange] * good.height, pa.string()),
            "symbol": good.get_column("symbol").to_arrow().cast(pa.string()),
            "timeframe": pa.array([tf] * good.height, pa.string()),
            "ts": good.get_column("ts").to_arrow().cast(pa.int64()),
            **{c: good.get_column(c).to_arrow().cast(pa.float64()) for c in VALUE_COLUMNS},
            "trades": pa.nulls(good.height, pa.uint64()),
            "source": pa.array(["file"] * good.height, pa.string()),
            "ingested_at": pa.array([now_ms] * good.height, pa.timestamp("ms", tz="UTC")),
        },
        schema=CANDLES,
    )
    return FileResult(
        file=str(path),
        candles=candles,
        rejects=_quality_table(result.rejects, file=str(path), run_id=run_id, now_ms=now_ms),
        rows_read=frame.height,
        rows_rejected=result.rows_rejected,
        symbols=tuple(sorted(set(good.get_column("symbol").to_list()))),
        timeframes=(tf,) if good.height else (),
    )


def _quality_table(rejects: pl.DataFrame, *, file: str, run_id: str, now_ms: int) -> pa.Table:
    n = rejects.height
    return pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "file": pa.array([file] * n, pa.string()),
            "row": rejects.get_column("row").to_arrow().cast(pa.int64()),
            "rule": rejects.get_column("rule").to_arrow().cast(pa.string()),
            "detail": rejects.get_column("detail").to_arrow().cast(pa.string()),
            "symbol": rejects.get_column("symbol").to_arrow().cast(pa.string()),
            "ts": rejects.get_column("ts").to_arrow().cast(pa.int64()),
            "checked_at": pa.array([now_ms] * n, pa.timestamp("ms", tz="UTC")),
        },
        schema=DATA_QUALITY,
    )
