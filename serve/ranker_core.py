"""``RankerCore``: the plain-Python state behind the ranker deployment: rankings per (exchange, timeframe).

At construction it fits one ensemble per (exchange, timeframe) and ranks the universe (crash-only:
construction is also recovery). Queries are look-ups; reports re-rank a chosen universe with the
fitted model and write ``reports/<run_id>/report.{json,md,html}``. No Ray import here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import CoinrayError, DataError
from pipelines.models.ensemble import EnsembleModel, fit_ensemble, prepare_frame
from pipelines.recommend import EnsembleRanking, RankerConfig, Recommendation, rank_universe
from pipelines.sentiment.aggregation import one_model_version, ranker_sentiment
from serve.reports import (
    REPORT_FORMATS,
    DataSummary,
    build_ensemble_report,
    iso_ms,
    render_markdown,
    write_report_files,
)

logger = logging.getLogger(__name__)


class UnknownValue(CoinrayError):
    """A request named a value the ranker does not have (symbol, timeframe, exchange, report)."""

    def __init__(self, kind: str, value: str, allowed: Sequence[str]) -> None:
        super().__init__(f"unknown {kind} {value!r}; allowed: {', '.join(allowed) or 'none'}")
        self.kind = kind
        self.value = value
        self.allowed = list(allowed)


class MissingData(DataError):
    """A report universe holds symbols without data."""

    def __init__(self, symbols: Sequence[str], *, timeframe: str, exchange: str) -> None:
        super().__init__(f"no {timeframe} data on {exchange} for: {', '.join(symbols)}")
        self.symbols = list(symbols)


def load_candle_files(paths: Sequence[Path], *, exchange: str) -> pl.DataFrame:
    """Candles from OHLCV files/directories in the import format (rejected rows are logged and left out).

    Raises
    ------
    DataError
        When no file yields a candle.
    """
    from cluster.importer import expand_paths
    from cluster.ohlcv_files import load_ohlcv_file

    parts = []
    for path in expand_paths(paths):
        result = load_ohlcv_file(path, exchange=exchange, run_id="serve", now_ms=0)
        if result.error:
            logger.warning("ranker: skipped %s: %s", path, result.error)
        elif result.candles.num_rows:
            parts.append(pl.DataFrame(result.candles))
    if not parts:
        raise DataError(f"no candles in {', '.join(str(p) for p in paths)}")
    return pl.concat(parts, how="vertical")


class RankerServiceConfig(BaseModel):
    """What the ranker deployment ranks and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeframes: tuple[str, ...] = Field(("1d",), min_length=1, description="Timeframes ranked at start-up.")
    ranker: RankerConfig = RankerConfig()
    max_top: int = Field(50, ge=1, le=500)


@dataclass
class _Entry:
    ranking: EnsembleRanking
    model: EnsembleModel
    features: pl.DataFrame
    generated_at_ms: int
    sentiment: pl.DataFrame | None = None


def ranked_item(x: Any) -> dict[str, Any]:
    """A :class:`~pipelines.ranking.RankedSymbol` as a ``RankingItem`` dict."""
    return {"symbol": x.symbol, "rank": x.rank, "score": x.score, "factors": x.factors,
            "contributions": x.contributions, "rationale": x.rationale, "close": x.close}


def recommendation_dict(r: Recommendation) -> dict[str, Any]:
    """A :class:`~pipelines.recommend.Recommendation` as a ``RecommendationModel`` dict."""
    return {"symbol": r.symbol, "rank": r.rank, "entry": r.entry, "stop": r.stop, "target": r.target, "atr": r.atr,
            "p_up": r.p_up, "confidence": r.confidence, "horizon_bars": r.horizon_bars,
            "expires_at": iso_ms(r.expires_ts), "reasons": r.reasons, "invalidation": r.invalidation,
            "anomaly": r.anomaly}


class RankerCore:
    """Fitted rankings and the queries on them.

    Parameters
    ----------
    features:
        ``build_features`` output with an ``exchange`` column (any timeframes).
    cfg:
        Timeframes and ranker settings.
    reports_dir:
        Where reports are written.
    sentiment:
        Optional sentiment aggregates (symbol, ts, sentiment_score, sentiment_n), used for every timeframe.
    sentiment_agg:
        Optional ``sentiment_agg`` rows (the store's buckets); each timeframe gets its own causal
        ranker inputs from them (:func:`pipelines.sentiment.aggregation.ranker_sentiment`). Ignored
        when ``sentiment`` is given.
    now_ms:
        Clock (epoch ms); injected for tests.
    """

    def __init__(self, features: pl.DataFrame, cfg: RankerServiceConfig, *, reports_dir: Path,
                 sentiment: pl.DataFrame | None = None, sentiment_agg: pl.DataFrame | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        self._cfg = cfg
        self._reports_dir = reports_dir
        self._sentiment = sentiment
        self._agg = one_model_version(sentiment_agg) if sentiment_agg is not None else None
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._entries: dict[tuple[str, str], _Entry] = {}
        if "exchange" not in features.columns:
            features = features.with_columns(exchange=pl.lit("binance"))
        for (exchange, timeframe), part in sorted(features.partition_by(["exchange", "timeframe"],
                                                                      as_dict=True).items()):
            if timeframe not in cfg.timeframes:
                continue
            self._entries[(str(exchange), str(timeframe))] = self._fit(part)
        if not self._entries:
            raise DataError(f"no data for the configured timeframes {', '.join(cfg.timeframes)}")

    def _fit(self, part: pl.DataFrame) -> _Entry:
        timeframe = str(part.get_column("timeframe")[0])
        rc = self._cfg.ranker
        sentiment = self._sentiment
        if sentiment is None and self._agg is not None and self._agg.height:
            sentiment = ranker_sentiment(self._agg, bar_timeframe=timeframe)
        prepared, names, used = prepare_frame(part, rc.ensemble, sentiment)
        from cluster.schemas import TIMEFRAME_MS

        model = fit_ensemble(prepared, names, rc.ensemble, sentiment_used=used, bar_ms=TIMEFRAME_MS[timeframe])
        ranking = rank_universe(part, timeframe=timeframe, cfg=rc, sentiment=sentiment, model=model)
        logger.info("ranker: fitted %s %s on %d rows (sentiment %s)", part.get_column("exchange")[0], timeframe,
                    part.height, "used" if used else "absent")
        return _Entry(ranking, model, part, self._now_ms(), sentiment)

    # -- look-ups --------------------------------------------------------------------------------
    def exchanges(self) -> list[str]:
        """Exchanges with at least one ranking."""
        return sorted({e for e, _ in self._entries})

    def timeframes(self) -> list[str]:
        """Timeframes with at least one ranking."""
        return sorted({t for _, t in self._entries})

    def _entry(self, timeframe: str, exchange: str | None) -> _Entry:
        ex = exchange or self.exchanges()[0]
        if ex not in self.exchanges():
            raise UnknownValue("exchange", ex, self.exchanges())
        if (ex, timeframe) not in self._entries:
            raise UnknownValue("timeframe", timeframe, sorted(t for e, t in self._entries if e == ex))
        return self._entries[(ex, timeframe)]

    def health(self) -> dict[str, Any]:
        """Liveness and coverage."""
        symbols = {s for e in self._entries.values() for s in e.features.get_column("symbol").unique().to_list()}
        return {"status": "ok", "exchanges": self.exchanges(), "timeframes": self.timeframes(), "symbols": len(symbols)}

    def rankings(self, *, timeframe: str, top: int, exchange: str | None = None) -> dict[str, Any]:
        """The Top-``top`` of a ranking (``RankingsResponse`` shape)."""
        entry = self._entry(timeframe, exchange)
        r = entry.ranking
        return {
            "exchange": str(entry.features.get_column("exchange")[0]), "timeframe": timeframe,
            "as_of": iso_ms(r.as_of_ts) if r.ranked else None, "generated_at": iso_ms(entry.generated_at_ms),
            "ranked": len(r.ranked), "top": [ranked_item(x) for x in r.ranked[:top]],
            "recommendations": [recommendation_dict(x) for x in r.recommendations if x.rank <= top],
            "excluded": dict(r.excluded), "notes": list(r.notes), "sentiment_used": r.sentiment_used,
        }

    def symbol_score(self, symbol: str, *, timeframe: str, exchange: str | None = None) -> dict[str, Any]:
        """One symbol's entry (``SymbolScoreResponse`` shape)."""
        entry = self._entry(timeframe, exchange)
        r = entry.ranking
        found = next((x for x in r.ranked if x.symbol == symbol), None)
        if found is None:
            allowed = [x.symbol for x in r.ranked]
            if symbol in r.excluded:
                raise UnknownValue("symbol", f"{symbol} (not ranked: {r.excluded[symbol]})", allowed)
            raise UnknownValue("symbol", symbol, allowed)
        rec = next((x for x in r.recommendations if x.symbol == symbol), None)
        return {"symbol": symbol, "exchange": str(entry.features.get_column("exchange")[0]), "timeframe": timeframe,
                "as_of": iso_ms(r.as_of_ts), "of": len(r.ranked), "item": ranked_item(found),
                "recommendation": recommendation_dict(rec) if rec else None}

    # -- reports ---------------------------------------------------------------------------------
    def build_report(self, *, run_id: str, timeframe: str, top: int, exchange: str | None = None,
                     symbols: Sequence[str] | None = None,
                     formats: Sequence[str] = REPORT_FORMATS,
                     ) -> tuple[dict[str, Any], dict[str, Path], EnsembleRanking]:
        """Rank ``symbols`` (None: all) with the fitted model and write the report files.

        Raises
        ------
        UnknownValue
            For an unknown exchange or timeframe.
        MissingData
            When any requested symbol has no data (all of them are named).
        """
        entry = self._entry(timeframe, exchange)
        ex = str(entry.features.get_column("exchange")[0])
        have = set(entry.features.get_column("symbol").unique().to_list())
        wanted = list(dict.fromkeys(symbols)) if symbols else sorted(have)
        missing = [s for s in wanted if s not in have]
        if missing:
            raise MissingData(missing, timeframe=timeframe, exchange=ex)
        part = entry.features.filter(pl.col("symbol").is_in(wanted))
        now = self._now_ms()
        ranking = rank_universe(part, timeframe=timeframe, cfg=self._cfg.ranker.model_copy(update={"top_n": top}),
                                sentiment=entry.sentiment, model=entry.model)
        ts = part.get_column("ts")
        data = DataSummary(start_ms=int(ts.min()), end_ms=int(ts.max()), symbols=sorted(wanted),  # type: ignore[arg-type]
                           candles=part.height)
        report = build_ensemble_report(ranking, run_id=run_id, generated_at_ms=now, exchange=ex, data=data, top_n=top)
        paths = write_report_files(report, self._reports_dir, formats)
        return report, paths, ranking

    def latest_report(self, fmt: str) -> str:
        """The newest report under ``reports_dir`` in ``fmt`` (md, json or html).

        Raises
        ------
        UnknownValue
            For an unknown format, or when no report exists yet (allowed: how to make one).
        """
        from serve.html_report import render_html

        if fmt not in REPORT_FORMATS:
            raise UnknownValue("format", fmt, REPORT_FORMATS)
        runs = sorted(p.parent for p in self._reports_dir.glob("*/report.json")) if self._reports_dir.is_dir() else []
        if not runs:
            raise UnknownValue("report", "latest", ["POST /v1/reports to build one"])
        newest = runs[-1]
        stored = newest / f"report.{fmt}"
        if stored.is_file():
            return stored.read_text()
        report = json.loads((newest / "report.json").read_text())
        return render_markdown(report) if fmt == "md" else render_html(report)
