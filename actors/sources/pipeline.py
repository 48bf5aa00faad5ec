"""sources -> texts -> symbols -> scores -> ``sentiment_agg``: the store reads/writes and one pipeline pass.

The caller owns the store (one process per chdb directory) and Ray; scoring runs on Ray Data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from actors.sources.poller_core import PollerCore
from actors.sources.records import TEXTS_SCHEMA, TextRecord
from cluster.schemas import conform
from cluster.store import StoreOps
from pipelines.sentiment.aggregation import agg_query
from pipelines.sentiment.batch import BatchScoreConfig, score_table
from pipelines.sentiment.symbols import SymbolMapper

logger = logging.getLogger(__name__)

TEXT_SYMBOLS_SCHEMA = pa.schema([
    pa.field("text_id", pa.string(), nullable=False), pa.field("symbol", pa.string(), nullable=False),
    pa.field("confidence", pa.float32(), nullable=False), pa.field("rule", pa.string(), nullable=False),
])
SENTIMENT_SCHEMA = pa.schema([
    pa.field("text_id", pa.string(), nullable=False), pa.field("model_version", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False), pa.field("p_neg", pa.float32(), nullable=False),
    pa.field("p_neu", pa.float32(), nullable=False), pa.field("p_pos", pa.float32(), nullable=False),
    pa.field("score", pa.float32(), nullable=False), pa.field("ts", pa.int64(), nullable=False),
    pa.field("engagement", pa.float64(), nullable=False), pa.field("lang", pa.string(), nullable=False),
])


class SentimentStore:
    """Typed reads and writes of the sentiment tables on top of :class:`cluster.store.StoreOps`."""

    def __init__(self, ops: StoreOps) -> None:
        self._ops = ops
        self._db = ops.db

    def insert_texts(self, texts: pa.Table) -> int:
        """Insert ``texts`` rows; re-inserting an id replaces it."""
        return self._ops.store.insert_arrow("texts", conform(texts, TEXTS_SCHEMA)) if texts.num_rows else 0

    def insert_text_symbols(self, rows: pa.Table) -> int:
        """Insert ``text_symbols`` rows (before the texts' scores, so the aggregate sees them)."""
        return self._ops.store.insert_arrow("text_symbols", conform(rows, TEXT_SYMBOLS_SCHEMA)) if rows.num_rows else 0

    def insert_sentiment(self, rows: pa.Table) -> int:
        """Insert scores; the materialized view updates ``sentiment_agg``."""
        return self._ops.store.insert_arrow("sentiment", conform(rows, SENTIMENT_SCHEMA)) if rows.num_rows else 0

    def read_agg(self, *, timeframe: str, symbols: list[str] | None = None,
                 model_version: str | None = None) -> pa.Table:
        """``sentiment_agg`` rows of one timeframe, sorted by symbol and ts."""
        return self._ops.store.query_arrow(agg_query(self._db, timeframes=[timeframe], symbols=symbols,
                                                     model_version=model_version))

    def count(self, table: str) -> int:
        """Distinct rows of a sentiment table."""
        if table not in ("texts", "text_symbols", "sentiment"):
            raise ValueError(f"unknown sentiment table {table!r}")
        return int(self._ops.store.query_arrow(
            f"SELECT count() AS n FROM {self._db}.{table} FINAL").column("n")[0].as_py())


@dataclass(frozen=True)
class PassResult:
    """Counts of one pipeline pass."""

    texts: int
    symbols: int
    scored: int
    duplicates: int
    skipped: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {"texts": self.texts, "text_symbols": self.symbols, "scored": self.scored,
                "duplicates": self.duplicates, "skipped": self.skipped}


def store_and_score(texts: pa.Table, store: SentimentStore, mapper: SymbolMapper,
                    cfg: BatchScoreConfig) -> tuple[int, int]:
    """Store texts and their symbols, score them on Ray Data and store the scores; return (symbols, scored)."""
    if texts.num_rows == 0:
        return 0, 0
    store.insert_texts(texts)
    symbols = mapper.map_table(texts)
    store.insert_text_symbols(symbols)
    joined = pc.binary_join_element_wise(texts.column("title"), texts.column("body"), "\n")
    to_score = pa.table({"text_id": texts.column("id"), "text": joined, "ts": texts.column("ts"),
                         "engagement": texts.column("engagement")})
    scored = score_table(to_score, cfg, text_column="text")
    store.insert_sentiment(scored)
    return symbols.num_rows, scored.num_rows


def run_pass(poller: PollerCore, store: SentimentStore, mapper: SymbolMapper, cfg: BatchScoreConfig,
             *, now_ms: int) -> PassResult:
    """Poll every source once, then store, map, score and aggregate what is new."""
    polled = poller.poll_once(now_ms)
    n_symbols, n_scored = store_and_score(polled.texts, store, mapper, cfg)
    logger.info("sentiment: %d new texts, %d symbol links, %d scored, %d duplicates dropped",
                polled.texts.num_rows, n_symbols, n_scored, polled.duplicates)
    return PassResult(polled.texts.num_rows, n_symbols, n_scored, polled.duplicates, polled.skipped)


class StreamSink:
    """Where streamed posts go: de-duplicated through the poller's memory, then stored (and scored).

    Parameters
    ----------
    poller:
        Its :meth:`PollerCore.ingest` drops ids and near-duplicate texts already seen (by any source).
    store, mapper:
        Texts and their ``text_symbols`` are written here.
    score_cfg:
        Score each batch on Ray Data too; None stores texts and symbols only (a later pass scores).
    name:
        The state file that remembers what the stream delivered.
    """

    def __init__(self, poller: PollerCore, store: SentimentStore, mapper: SymbolMapper,
                 score_cfg: BatchScoreConfig | None, *, name: str = "x_stream") -> None:
        self._poller, self._store, self._mapper, self._score_cfg = poller, store, mapper, score_cfg
        self._name = name
        self.texts = 0
        self.duplicates = 0

    def __call__(self, records: list[TextRecord]) -> None:
        """Store one batch of streamed posts."""
        result = self._poller.ingest(self._name, records)
        self.texts += result.texts.num_rows
        self.duplicates += result.duplicates
        if self._score_cfg is not None:
            store_and_score(result.texts, self._store, self._mapper, self._score_cfg)
        elif result.texts.num_rows:
            self._store.insert_texts(result.texts)
            self._store.insert_text_symbols(self._mapper.map_table(result.texts))
        logger.info("%s: %d new posts stored, %d duplicates dropped", self._name, result.texts.num_rows,
                    result.duplicates)
