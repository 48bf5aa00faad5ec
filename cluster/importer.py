"""``coinray ingest file``: import OHLCV files into the store, recording every rejected row."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cluster.ohlcv_files import SUFFIXES, FileResult, load_ohlcv_file

logger = logging.getLogger(__name__)


class CandleSink(Protocol):
    """Where imported rows go (``StoreOps``, or an adapter over the store actor)."""

    def insert_candles(self, table: Any) -> int:
        """Insert valid candles."""
        ...

    def insert_data_quality(self, table: Any) -> int:
        """Record rejected rows."""
        ...


@dataclass
class ImportSummary:
    """What an import did; ``as_json`` is the ``--json`` output."""

    files: int = 0
    rows_read: int = 0
    rows_ingested: int = 0
    rows_rejected: int = 0
    symbols: set[str] = field(default_factory=set)
    timeframes: set[str] = field(default_factory=set)
    failed_files: dict[str, str] = field(default_factory=dict)
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    results: list[FileResult] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary."""
        return {
            "files": self.files,
            "rows_ingested": self.rows_ingested,
            "rows_rejected": self.rows_rejected,
            "symbols": sorted(self.symbols),
            "timeframes": sorted(self.timeframes),
            "rows_read": self.rows_read,
            "failed_files": self.failed_files,
            "rejects_by_rule": dict(sorted(self.rejects_by_rule.items())),
        }


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus the supported files inside named directories (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


def import_files(
    paths: Sequence[Path],
    sink: CandleSink,
    *,
    exchange: str,
    run_id: str,
    now_ms: int,
    timeframe: str | None = None,
    symbol: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> ImportSummary:
    """Validate and import each file; valid rows go to ``sink``, rejects to ``data_quality``.

    A file that cannot be used at all is recorded (row 0) and reported in ``failed_files``;
    the other files still import.
    """
    summary = ImportSummary()
    for path in expand_paths(paths):
        result = load_ohlcv_file(
            path, exchange=exchange, run_id=run_id, now_ms=now_ms, timeframe=timeframe, symbol=symbol
        )
        summary.files += 1
        summary.rows_read += result.rows_read
        if result.candles.num_rows:
            summary.rows_ingested += sink.insert_candles(result.candles)
        if result.rejects.num_rows:
            sink.insert_data_quality(result.rejects)
            for rule in result.rejects.column("rule").to_pylist():
                summary.rejects_by_rule[rule] = summary.rejects_by_rule.get(rule, 0) + 1
        summary.rows_rejected += result.rows_rejected
        summary.symbols.update(result.symbols)
        summary.timeframes.update(result.timeframes)
        if result.error:
            summary.failed_files[result.file] = result.error
            logger.error("ingest: %s", result.error)
        elif result.rows_rejected:
            logger.warning("ingest: %s: %d of %d rows rejected (see data_quality)", path, result.rows_rejected,
                           result.rows_read)
        summary.results.append(result)
        if on_file:
            on_file(result)
    return summary
