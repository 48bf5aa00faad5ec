"""Fill a chdb store with the bundled real candles plus the analytics that derive from them (no Ray).

Used by the dashboard's unit and browser tests: candles (bundled Binance files), a ranking run
(``pipelines.ranking``), anomalies (``pipelines.anomalies``) and a stored backtest run
(``coinray backtest``'s own ``execute_backtest``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from cluster.store import StoreOps

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


class HoldBack:
    """An import sink that keeps the newest ``bars`` 1h candles of ``symbol`` out of the store.

    The held-back candles are real recorded bars newer than anything stored: the tests replay
    them on the Redis bus as the live stream (what ``coinray sim`` and the ingest actors publish).
    """

    def __init__(self, ops: StoreOps, *, symbol: str, bars: int) -> None:
        self._ops = ops
        self._symbol = symbol
        self._bars = bars
        self.held: pa.Table | None = None

    def insert_candles(self, table: pa.Table) -> int:
        """Store all but the held-back tail."""
        frame = pl.from_arrow(table)
        if not isinstance(frame, pl.DataFrame):
            raise TypeError("expected a table")
        mine = (pl.col("symbol") == self._symbol) & (pl.col("timeframe") == "1h")
        series = frame.filter(mine).sort("ts")
        if series.height:
            self.held = series.tail(self._bars).to_arrow()
            frame = pl.concat([frame.filter(~mine), series.head(series.height - self._bars)])
        return self._ops.insert_candles(frame.to_arrow())

    def insert_data_quality(self, table: pa.Table) -> int:
        """Record rejects."""
        return self._ops.insert_data_quality(table)


def fill_store(ops: StoreOps, *, symbols: tuple[str, ...] = ("BTC_USDT", "ETH_USDT", "SOL_USDT", "DOGE_USDT"),
               backtest: bool = True, hold_back: int = 24) -> dict[str, Any]:
    """Import bundled files of ``symbols`` (1h and 1d) and store a ranking, anomalies and one backtest.

    The newest ``hold_back`` 1h bars of BTC/USDT are not stored; they come back as ``held``.
    """
    from cluster.demo import new_run_id, ranking_table
    from cluster.importer import import_files
    from cluster.settings import RankingConfig
    from cluster.store.schema_analytics import anomalies_rows
    from pipelines.anomalies import AnomalyConfig, detect_anomalies
    from pipelines.features import build_features
    from pipelines.ranking import rank_symbols

    now_ms = int(time.time() * 1000)
    files = [SAMPLE_DIR / f"{s}-{tf}.feather" for s in symbols for tf in ("1h", "1d")]
    sink = HoldBack(ops, symbol="BTC/USDT", bars=hold_back)
    import_files(files, sink, exchange="binance", run_id="ui-test", now_ms=now_ms)
    daily = pl.from_arrow(ops.read_candles(timeframe="1d", exchange="binance"))
    feats = build_features(daily)  # type: ignore[arg-type]
    ranking = rank_symbols(feats, timeframe="1d", cfg=RankingConfig())
    run_id = new_run_id(now_ms)
    ops.insert_rankings(ranking_table(ranking, run_id=run_id, exchange="binance", now_ms=now_ms))
    anomalies = detect_anomalies(feats, AnomalyConfig())
    ops.store.insert_arrow("anomalies", anomalies_rows(anomalies.to_arrow(), detected_at_ms=now_ms))
    info: dict[str, Any] = {"ranking_run": run_id, "ranking": ranking, "anomalies": anomalies, "features": feats,
                            "held": sink.held}
    if backtest:
        info["backtest"] = run_stored_backtest(ops, symbol="BTC/USDT", run_id="bt-ui-fixture")
    return info


def run_stored_backtest(ops: StoreOps, *, symbol: str, run_id: str) -> dict[str, Any]:
    """Run ``sma_cross`` on stored 1h candles of ``symbol`` and record it (the CLI's code path)."""
    from cluster.commands.backtest import build_config, execute_backtest
    from pipelines.backtest import prepare_candles

    table: pa.Table = ops.read_candles(timeframe="1h", exchange="binance", symbols=[symbol])
    candles = prepare_candles(pl.from_arrow(table), timeframe="1h")
    cfg = build_config(cash=10_000.0, commission=0.001, maker=None, slippage_bps=0.0, slippage_model=None,
                       spread_bps=0.0, impact_bps=0.0, max_participation=1.0, latency_bars=0, allow_short=False,
                       compat="native")
    _result, summary = execute_backtest(ops, candles, strategy="sma_cross", raw_params={"fast": 10, "slow": 30},
                                        cfg=cfg, timeframe="1h", run_id=run_id)
    return summary


NEWS_CSV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "news" / "cryptonews_2021-10_2022-07.csv"
SUBJECT_SYMBOL = {"bitcoin": "BTC/USDT", "ethereum": "ETH/USDT"}


def seed_sentiment(ops: StoreOps, *, limit: int = 400) -> pl.DataFrame | None:
    """Score real CryptoNews headlines (``../shared/data``) with VADER into the sentiment tables.

    Fills ``texts``, ``text_symbols`` (subject bitcoin/ethereum -> BTC/USDT, ETH/USDT) and
    ``sentiment`` as the sentiment pipeline does, so its ``sentiment_agg`` view has buckets.
    Returns the scored rows, or None when the shared news file is absent.
    """
    from datetime import UTC, datetime

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if not NEWS_CSV.is_file():
        return None
    news = pl.read_csv(NEWS_CSV, separator=";", quote_char='"', infer_schema=False)
    news = news.filter(pl.col("subject").is_in(list(SUBJECT_SYMBOL))).head(limit)
    vader = SentimentIntensityAnalyzer()
    texts, links, scores = [], [], []
    for i, row in enumerate(news.iter_rows(named=True)):
        ts = int(datetime.strptime(row["date"], "%d-%m-%Y %H:%M").replace(tzinfo=UTC).timestamp() * 1000)
        text_id = f"cryptonews:{i}"
        p = vader.polarity_scores(f"{row['title']}. {row['text']}")
        texts.append({"id": text_id, "source": "cryptonews", "ts": ts, "author": "", "title": row["title"] or "",
                      "body": row["text"] or "", "url": row["url"] or "", "engagement": 0.0, "lang": "en",
                      "text_hash": i})
        links.append({"text_id": text_id, "symbol": SUBJECT_SYMBOL[row["subject"]], "confidence": 1.0,
                      "rule": "subject"})
        label = "positive" if p["compound"] >= 0.05 else "negative" if p["compound"] <= -0.05 else "neutral"
        scores.append({"text_id": text_id, "model_version": "vader", "label": label, "p_neg": p["neg"],
                       "p_neu": p["neu"], "p_pos": p["pos"], "score": p["pos"] - p["neg"], "ts": ts,
                       "engagement": 0.0, "lang": "en", "symbol": SUBJECT_SYMBOL[row["subject"]]})
    ops.store.insert_arrow("texts", pa.Table.from_pylist(texts))
    ops.store.insert_arrow("text_symbols", pa.Table.from_pylist(links))
    ops.store.insert_arrow("sentiment", pa.Table.from_pylist([{k: v for k, v in s.items() if k != "symbol"}
                                                             for s in scores]))
    return pl.DataFrame(scores)
