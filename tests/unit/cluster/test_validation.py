"""Every OHLCV rejection rule, exercised with real bad files written to disk."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cluster.ohlcv_files import load_ohlcv_file, parse_file_name, to_epoch_ms
from cluster.validation import RULES

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

GOOD = [
    # ts, open, high, low, close, volume
    (T0 + 0 * H, 100.0, 110.0, 95.0, 105.0, 10.0),
    (T0 + 1 * H, 105.0, 108.0, 101.0, 107.0, 12.0),
    (T0 + 2 * H, 107.0, 109.0, 100.0, 101.0, 9.0),
]


def write_csv(path: Path, rows: list[tuple[object, ...]], header: str = "date,open,high,low,close,volume") -> Path:
    lines = [header] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def load(path: Path, **kwargs: object):
    return load_ohlcv_file(path, exchange="binance", run_id="t", now_ms=1, **kwargs)  # type: ignore[arg-type]


def rules_by_row(result) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for row in result.rejects.to_pylist():
        out.setdefault(row["row"], set()).add(row["rule"])
    return out


def test_clean_file_imports_every_row(tmp_path: Path) -> None:
    result = load(write_csv(tmp_path / "BTC_USDT-1h.csv", GOOD))
    assert result.error is None
    assert result.candles.num_rows == 3
    assert result.rows_rejected == 0
    assert result.symbols == ("BTC/USDT",)
    assert result.timeframes == ("1h",)
    assert result.candles.column("ts").to_pylist() == [r[0] for r in GOOD]


@pytest.mark.parametrize(
    ("bad_row", "rule"),
    [
        (("not-a-date", 100.0, 110.0, 95.0, 105.0, 1.0), "bad_timestamp"),
        ((T0 + 3 * H, 100.0, None, 95.0, 105.0, 1.0), "nan_value"),
        ((T0 + 3 * H, 100.0, 110.0, 95.0, 105.0, "nan"), "nan_value"),
        ((T0 + 3 * H, 100.0, 110.0, 95.0, 105.0, -1.0), "negative_volume"),
        ((T0 + 3 * H, 0.0, 110.0, 0.0, 105.0, 1.0), "non_positive_price"),
        ((T0 + 3 * H, 100.0, 104.0, 95.0, 105.0, 1.0), "high_below_open_close"),
        ((T0 + 3 * H, 100.0, 110.0, 101.0, 105.0, 1.0), "low_above_open_close"),
        ((T0 + 3 * H + 60_000, 100.0, 110.0, 95.0, 105.0, 1.0), "off_grid"),
        ((T0 + 1 * H, 100.0, 110.0, 95.0, 105.0, 1.0), "duplicate_ts"),
    ],
)
def test_each_rule_rejects_and_records_the_row(tmp_path: Path, bad_row: tuple[object, ...], rule: str) -> None:
    rows = [*GOOD, bad_row]
    result = load(write_csv(tmp_path / "ETH_USDT-1h.csv", rows))
    assert rules_by_row(result) == {4: {rule}} if rule != "non_positive_price" else rule in rules_by_row(result)[4]
    assert result.rows_rejected == 1
    assert result.candles.num_rows == 3  # the good rows still import
    rec = next(r for r in result.rejects.to_pylist() if r["rule"] == rule)
    assert rec["file"].endswith("ETH_USDT-1h.csv")
    assert rec["detail"]


def test_not_sorted_row_is_rejected_and_later_rows_kept(tmp_path: Path) -> None:
    rows = [GOOD[0], GOOD[2], GOOD[1], (T0 + 3 * H, 101.0, 102.0, 100.0, 101.5, 3.0)]
    result = load(write_csv(tmp_path / "BTC_USDT-1h.csv", rows))
    assert rules_by_row(result) == {3: {"not_sorted"}}
    assert result.candles.column("ts").to_pylist() == [T0, T0 + 2 * H, T0 + 3 * H]


def test_row_breaking_several_rules_is_counted_once(tmp_path: Path) -> None:
    rows = [*GOOD, (T0 + 3 * H + 1, 100.0, 99.0, 101.0, 100.0, -5.0)]
    result = load(write_csv(tmp_path / "BTC_USDT-1h.csv", rows))
    assert rules_by_row(result)[4] == {"off_grid", "negative_volume", "high_below_open_close",
                                       "low_above_open_close"}
    assert result.rows_rejected == 1


def test_all_rules_are_documented() -> None:
    import cluster.validation as v

    for rule in RULES:
        assert f"``{rule}``" in (v.__doc__ or "")


def test_missing_columns_fail_the_file_clearly(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "BTC_USDT-1h.csv", [(T0, 1.0, 2.0, 0.5, 1.5)], header="date,open,high,low,close")
    result = load(path)
    assert result.error is not None and "volume" in result.error
    assert result.candles.num_rows == 0
    assert result.rejects.to_pylist()[0]["rule"] == "missing_columns"
    assert result.rejects.to_pylist()[0]["row"] == 0


def test_unsupported_type_and_unknown_symbol(tmp_path: Path) -> None:
    txt = tmp_path / "BTC_USDT-1h.txt"
    txt.write_text("x")
    assert "unsupported file type" in (load(txt).error or "")
    anon = write_csv(tmp_path / "prices.csv", GOOD)
    assert "--symbol" in (load(anon).error or "")
    ok = load(anon, symbol="SOL/USDT")
    assert ok.symbols == ("SOL/USDT",) and ok.timeframes == ("1h",)  # timeframe inferred from spacing


def test_timeframe_not_stored_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "BTC_USDT-30m.csv", GOOD)
    assert "30m" in (load(path).error or "")


def test_symbol_column_and_epoch_seconds(tmp_path: Path) -> None:
    rows = [("BTC/USDT", r[0] // 1000, *r[1:]) for r in GOOD] + [("ETH/USDT", r[0] // 1000, *r[1:]) for r in GOOD]
    path = write_csv(tmp_path / "mixed-1h.csv", rows, header="symbol,timestamp,open,high,low,close,volume")
    result = load(path)
    assert result.rows_rejected == 0
    assert result.symbols == ("BTC/USDT", "ETH/USDT")
    assert result.candles.column("ts").to_pylist()[:3] == [r[0] for r in GOOD]


def test_time_parsing_variants() -> None:
    iso = to_epoch_ms(pl.Series(["2024-01-01T01:00:00Z", "2024-01-01 02:00:00", "garbage"]))
    assert iso.to_list() == [T0 + H, T0 + 2 * H, None]
    ms = to_epoch_ms(pl.Series([T0, T0 + H]))
    assert ms.to_list() == [T0, T0 + H]


def test_freqtrade_file_names() -> None:
    assert parse_file_name(Path("SOL_USDT-4h.feather")) == ("SOL/USDT", "4h", None)
    assert parse_file_name(Path("XRP_USDT_USDT-1h-mark.feather")) == ("XRP/USDT:USDT", "1h", "mark")


def test_mark_price_files_are_not_candles(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "XRP_USDT_USDT-1h-mark.csv", GOOD)
    assert "not price candles" in (load(path).error or "")
