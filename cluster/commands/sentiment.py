"""``coinray sentiment ...``: train the offline model, score files on Ray Data, run sources -> scores -> aggregates."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_MODEL = "fuchenru/Trading-Hero-LLM"

sentiment_app = typer.Typer(help="Sentiment: score texts, train the offline model, poll sources.",
                            no_args_is_help=True)

UNIVERSE_HELP = ("Tracked symbols: auto (the stored candles' symbols, else the default list), store, "
                 "exchange (its markets via ccxt load_markets) or default.")


def _mapper(ops: Any, universe: str, exchange: str, rest_url: str | None) -> Any:
    """The symbol mapper over the chosen universe (echoes where the symbols came from)."""
    from actors.sources.universe import UniverseSource, resolve_universe
    from cluster.errors import ConfigError
    from pipelines.sentiment.symbols import SymbolMapper

    try:
        source = UniverseSource(universe)
    except ValueError:
        raise ConfigError(f"--universe must be one of {', '.join(u.value for u in UniverseSource)}") from None
    markets, origin = resolve_universe(source, ops=ops, exchange=exchange, rest_url=rest_url)
    typer.echo(f"sentiment universe: {len(markets)} symbols from {origin}", err=True)
    return SymbolMapper(markets)


def register(app: typer.Typer) -> None:
    """Add ``coinray sentiment``."""
    app.add_typer(sentiment_app, name="sentiment")


@sentiment_app.command("train")
def train(
    data: Annotated[Path | None, typer.Option(help="twitter-financial-news CSV; default: the bundled copy.")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Model directory; default: the shipped one.")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 1,
    phrasebank: Annotated[Path | None, typer.Option(help="Financial PhraseBank file for an evaluation-only "
                                                         "out-of-domain check (never trained on).")] = None,
    limit: Annotated[int | None, typer.Option(help="Use only this many rows (smoke runs).")] = None,
) -> None:
    """Fine-tune the shipped offline model (LoRA on MiniLM) and write its delta, metrics and model card."""
    from cluster.logging import configure_logging
    from cluster.settings import load_settings
    from pipelines.sentiment.training import TrainConfig, train_offline_model

    configure_logging(load_settings().log_level)
    overrides: dict[str, object] = {"epochs": epochs, "phrasebank": phrasebank, "limit": limit}
    if data is not None:
        overrides["data"] = data
    if out_dir is not None:
        overrides["out_dir"] = out_dir
    metrics = train_offline_model(TrainConfig(**overrides))  # type: ignore[arg-type]
    print(json.dumps({"heldout": metrics["heldout"], "vader_heldout": metrics["vader_heldout"],
                      "train_seconds": metrics["train_seconds"]}))


@sentiment_app.command("score")
def score(
    input_path: Annotated[Path, typer.Option("--input", help="CSV or Parquet file of texts.")],
    out: Annotated[Path, typer.Option(help="Output Parquet file.")],
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Id column to carry through (checked to exist).")] = None,
    model: Annotated[str, typer.Option(help="Hub name or local directory of a sequence classifier; "
                                            "`coinray/minilm-finsent` = the shipped model.")] = DEFAULT_MODEL,
    no_fallback: Annotated[bool, typer.Option("--no-fallback", help="Fail instead of falling back to the "
                                                                    "shipped model.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 64,
    concurrency: Annotated[int, typer.Option(help="Ray actors, each holding one model.")] = 1,
    num_gpus: Annotated[float, typer.Option(help="GPUs per actor (fp16 on CUDA).")] = 0.0,
) -> None:
    """Score a file on Ray Data; writes label, p_neg, p_neu, p_pos, score (= p_pos - p_neg), lang, model_version."""
    import pyarrow.parquet as pq

    from cluster.logging import configure_logging
    from cluster.runtime import start_ray, stop_ray
    from cluster.settings import load_settings
    from pipelines.sentiment.batch import BatchScoreConfig, resolve_scorer_config, score_table
    from pipelines.sentiment.input_files import read_text_file
    from pipelines.sentiment.scorer import ScorerConfig

    settings = load_settings()
    configure_logging(settings.log_level)
    table = read_text_file(input_path, text_column=text_column, id_column=id_column)
    scorer_cfg = resolve_scorer_config(ScorerConfig(model=model, fallback=not no_fallback, batch_size=batch_size))
    cfg = BatchScoreConfig(scorer=scorer_cfg, concurrency=concurrency, num_gpus=num_gpus)
    started = time.perf_counter()
    owns_ray = start_ray(settings.ray)
    try:
        scored = score_table(table, cfg, text_column=text_column)
    finally:
        if owns_ray:
            stop_ray()
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(scored, out)
    elapsed = time.perf_counter() - started
    labels = scored.column("label").to_pylist()
    print(json.dumps({"rows": scored.num_rows, "out": str(out), "elapsed_s": round(elapsed, 2),
                      "model_version": scored.column("model_version")[0].as_py() if scored.num_rows else None,
                      "labels": {lab: labels.count(lab) for lab in ("negative", "neutral", "positive")}}))


@sentiment_app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once/--schedule", help="One pass, or repeat every --interval-s.")] = True,
    interval_s: Annotated[float, typer.Option(help="Seconds between passes on a schedule.")] = 300.0,
    passes: Annotated[int | None, typer.Option(help="Stop after this many passes (schedule mode).")] = None,
    feed: Annotated[list[str] | None,
                    typer.Option(help="RSS/Atom feed URL (repeatable); default: crypto outlets.")] = None,
    model: Annotated[str, typer.Option(help="Sentiment model (hub name, path or coinray/minilm-finsent).")
                     ] = DEFAULT_MODEL,
    universe: Annotated[str, typer.Option(help=UNIVERSE_HELP)] = "auto",
    exchange: Annotated[str, typer.Option(help="Exchange whose markets form the universe (--universe exchange).")
                        ] = "binance",
    rest_url: Annotated[str | None, typer.Option(help="REST base URL override for --universe exchange "
                                                      "(e.g. a `coinray sim`).")] = None,
) -> None:
    """Poll sources -> store texts -> map symbols -> score on Ray Data -> sentiment_agg (materialized view).

    Credentials come from CRYPTOPANIC_API_TOKEN, REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET and
    X_BEARER_TOKEN; a source without them is disabled with a message.
    """
    import os

    from actors.sources.config import SourcesConfig
    from actors.sources.http_client import UrllibClient
    from actors.sources.pipeline import SentimentStore, run_pass
    from actors.sources.poller_core import PollerCore, build_sources
    from cluster.logging import configure_logging
    from cluster.runtime import start_ray, stop_ray
    from cluster.settings import load_settings
    from cluster.store import open_store
    from pipelines.sentiment.batch import BatchScoreConfig, resolve_scorer_config
    from pipelines.sentiment.scorer import ScorerConfig

    settings = load_settings()
    configure_logging(settings.log_level)
    overrides: dict[str, object] = {"state_dir": settings.data_dir / "sources", "interval_s": interval_s}
    cfg = SourcesConfig.from_env(os.environ, **overrides)
    if feed:
        cfg = cfg.model_copy(update={"rss": cfg.rss.model_copy(update={"feeds": tuple(feed)})})
    sources, disabled = build_sources(cfg)
    for message in disabled:
        typer.echo(message, err=True)
    poller = PollerCore(sources, UrllibClient(timeout_s=cfg.timeout_s), state_dir=cfg.state_dir,
                        dedup_memory=cfg.dedup_memory)
    batch_cfg = BatchScoreConfig(scorer=resolve_scorer_config(ScorerConfig(model=model)))
    ops = open_store(settings)
    try:
        mapper = _mapper(ops, universe, exchange, rest_url)
    except BaseException:
        ops.store.close()
        raise
    owns_ray = start_ray(settings.ray)
    try:
        store = SentimentStore(ops)
        done = 0
        while True:
            result = run_pass(poller, store, mapper, batch_cfg, now_ms=int(time.time() * 1000))
            print(json.dumps(result.as_dict()), flush=True)
            done += 1
            if once or (passes is not None and done >= passes):
                break
            time.sleep(cfg.interval_s)
    finally:
        if owns_ray:
            stop_ray()
        ops.store.close()


@sentiment_app.command("stream")
def stream(
    rule: Annotated[list[str] | None, typer.Option(help="Filtered-stream rule (repeatable); default: built "
                                                        "from the universe's cashtags and names.")] = None,
    duration_s: Annotated[float | None, typer.Option(help="Stop after about this many seconds "
                                                          "(default: run until interrupted).")] = None,
    score: Annotated[bool, typer.Option("--score/--no-score", help="Score each batch on Ray Data "
                                                                   "(else a later `run` pass scores).")] = True,
    model: Annotated[str, typer.Option(help="Sentiment model (hub name, path or coinray/minilm-finsent).")
                     ] = DEFAULT_MODEL,
    universe: Annotated[str, typer.Option(help=UNIVERSE_HELP)] = "auto",
    exchange: Annotated[str, typer.Option(help="Exchange whose markets form the universe.")] = "binance",
    rest_url: Annotated[str | None, typer.Option(help="REST base URL override for --universe exchange.")] = None,
    max_connections: Annotated[int | None, typer.Option(help="Stop after this many connects (default: no "
                                                             "limit).")] = None,
    x_api_url: Annotated[str | None, typer.Option(help="X API v2 base URL override (a proxy or test "
                                                       "server), e.g. http://127.0.0.1:8080/2.")] = None,
) -> None:
    """Follow the X filtered stream: sync the rules, store (and score) each post once, reconnecting X's way.

    Needs X_BEARER_TOKEN; without it the stream is disabled with a message (exit code 1).
    """
    import os

    from actors.sources.config import SourcesConfig, XStreamRule
    from actors.sources.http_client import UrllibClient
    from actors.sources.pipeline import SentimentStore, StreamSink
    from actors.sources.poller_core import PollerCore
    from actors.sources.x_rules import build_stream_rules, sync_rules
    from actors.sources.x_stream import XStreamCore
    from cluster.logging import configure_logging
    from cluster.runtime import start_ray, stop_ray
    from cluster.settings import load_settings
    from cluster.store import open_store
    from pipelines.sentiment.batch import BatchScoreConfig, resolve_scorer_config
    from pipelines.sentiment.scorer import ScorerConfig

    settings = load_settings()
    configure_logging(settings.log_level)
    cfg = SourcesConfig.from_env(os.environ, state_dir=settings.data_dir / "sources")
    if x_api_url:
        cfg = cfg.model_copy(update={"x": cfg.x.model_copy(update={"api_url": x_api_url.rstrip("/")})})
    if cfg.x.bearer_token is None:
        typer.echo("x disabled: set X_BEARER_TOKEN", err=True)
        raise typer.Exit(1)
    client = UrllibClient(timeout_s=cfg.timeout_s)
    ops = open_store(settings)
    owns_ray = False
    try:
        mapper = _mapper(ops, universe, exchange, rest_url)
        wanted = (tuple(XStreamRule(value=r) for r in rule) if rule else cfg.x.stream_rules
                  or build_stream_rules(sorted(mapper.bases), max_chars=cfg.x.stream_rule_max_chars,
                                        suffix=cfg.x.stream_rule_suffix))
        plan = sync_rules(client, cfg.x, wanted)
        typer.echo(f"x stream: {len(wanted)} rule(s) active ({len(plan.add)} added, {len(plan.delete_ids)} "
                   "deleted)", err=True)
        batch_cfg = BatchScoreConfig(scorer=resolve_scorer_config(ScorerConfig(model=model))) if score else None
        owns_ray = start_ray(settings.ray) if score else False
        poller = PollerCore([], client, state_dir=cfg.state_dir, dedup_memory=cfg.dedup_memory)
        sink = StreamSink(poller, SentimentStore(ops), mapper, batch_cfg)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            stats = XStreamCore(cfg.x, sink, sleep=time.sleep).run(
                should_stop=lambda: deadline is not None and time.monotonic() >= deadline,
                max_connections=max_connections)
        except KeyboardInterrupt:
            stats = None
        print(json.dumps({"texts": sink.texts, "duplicates": sink.duplicates,
                          **({"posts": stats.posts, "connections": stats.connections, "failures": stats.failures}
                             if stats else {"stopped": "interrupted"})}))
    finally:
        if owns_ray:
            stop_ray()
        ops.store.close()


@sentiment_app.command("agg")
def agg(
    timeframe: Annotated[str, typer.Option(help="Bucket timeframe (1m..1d).")] = "1h",
    symbol: Annotated[list[str] | None, typer.Option(help="Symbol filter (repeatable), e.g. BTC/USDT.")] = None,
    limit: Annotated[int, typer.Option(help="Print at most this many rows (newest last).")] = 50,
) -> None:
    """Print sentiment_agg rows (count, mean, engagement-weighted and time-decayed score) as JSON lines."""
    from actors.sources.pipeline import SentimentStore
    from cluster.schemas import parse_timeframe
    from cluster.settings import load_settings
    from cluster.store import open_store

    parse_timeframe(timeframe)
    ops = open_store(load_settings())
    try:
        rows = SentimentStore(ops).read_agg(timeframe=timeframe, symbols=symbol).to_pylist()
    finally:
        ops.store.close()
    for row in rows[-limit:]:
        print(json.dumps(row))
