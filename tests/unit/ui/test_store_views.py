"""Dashboard read models, rule storage, job runs and the stream evaluator against a real chdb store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from cluster.store import StoreOps
from pipelines.alerts import AlertEngine, AlertRule, CandleEvent, RuleKind
from serve.ui import queries
from serve.ui.charts import candle_chart, trade_markers
from serve.ui.jobs import JobManager, JobRequest, SweepSpec
from serve.ui.live import StreamEvaluator, alert_history, load_rules, parse_candle_entry, save_rule, store_alerts
from serve.ui.source import OpsSource, json_insert_sql
from tests.unit.ui.dataset import fill_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoreOps, dict[str, Any]]]:
    from cluster.settings import load_settings
    from cluster.store import open_store

    ops = open_store(load_settings(data_dir=tmp_path_factory.mktemp("ui-store")))
    try:
        yield ops, fill_store(ops)
    finally:
        ops.store.close()


def test_dashboard_migration_is_applied(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, _ = filled
    assert 800 in ops.applied_versions()


def test_rules_round_trip_and_delete(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, _ = filled
    source = OpsSource(ops)
    rule = AlertRule(rule_id="rt1", name="one", kind=RuleKind.PRICE_CROSS, symbol="BTC/USDT", level=1.0)
    save_rule(source, rule)
    save_rule(source, rule.model_copy(update={"level": 2.0}))
    assert [r for r in load_rules(source) if r.rule_id == "rt1"] == [rule.model_copy(update={"level": 2.0})]
    save_rule(source, rule, deleted=True)
    assert not [r for r in load_rules(source) if r.rule_id == "rt1"]


def test_json_insert_path_of_the_actor_source(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    """The statement ActorSource sends through ``query_arrow`` stores maps, arrays and timestamps intact."""
    from cluster.store.schema_backtest import BacktestRecord, read_backtest

    ops, _ = filled
    record = BacktestRecord(run_id="json-path", status="complete", strategy="sma_cross", params={"fast": 3},
                            config={}, timeframe="1h", symbols=("BTC/USDT", "ETH/USDT"), created_ms=1_700_000_000_123,
                            updated_ms=1_700_000_000_456, metrics={"sharpe": 1.25}, result="{}")
    ops.store.query_arrow(json_insert_sql(ops.db, "backtests", record.to_arrow()))
    row = read_backtest(ops.store, "json-path")
    assert row is not None
    assert row["symbols"] == ["BTC/USDT", "ETH/USDT"] and row["metrics"] == {"sharpe": 1.25}
    assert int(row["updated_at"].timestamp() * 1000) == 1_700_000_000_456


def test_read_models_show_the_stored_values(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, info = filled
    source = OpsSource(ops)
    ranking = queries.latest_ranking(source)
    assert [r["symbol"] for r in ranking["rows"]] == [r.symbol for r in info["ranking"].ranked]
    health = queries.ingestion_health(source, now_ms=int(time.time() * 1000))
    btc = next(h for h in health if h["symbol"] == "BTC/USDT" and h["timeframe"] == "1h")
    held = pl.from_arrow(info["held"])
    assert isinstance(held, pl.DataFrame)
    assert btc["last_ts"] < held.get_column("ts").min()  # the held-back bars are not stored
    runs = queries.backtest_runs(source)
    assert "bt-ui-fixture" in [r["run_id"] for r in runs]
    detail = queries.backtest_detail(source, "bt-ui-fixture")
    assert detail is not None and detail["metrics"]["return_pct"] == pytest.approx(info["backtest"]["return_pct"])
    assert queries.backtest_detail(source, "missing") is None


def test_candle_chart_ends_on_the_stored_last_candle(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, info = filled
    frame = pl.from_arrow(ops.read_candles(timeframe="1h", exchange="binance", symbols=["ETH/USDT"]))
    assert isinstance(frame, pl.DataFrame)
    chart = candle_chart(frame.tail(300), warmup=100)
    assert len(chart["ts"]) == 200 and chart["close"][-1] == frame.get_column("close")[-1]
    assert all(s["ts"] >= chart["ts"][0] for s in chart["signals"])
    marks = trade_markers(info["backtest"]["trades"], symbol="BTC/USDT")
    n = len(info["backtest"]["trades"])
    assert len(marks) == n + sum(1 for t in info["backtest"]["trades"] if t["exit_time"])


def test_jobs_run_a_backtest_and_a_sweep(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    from cluster.errors import ConfigError

    ops, _ = filled
    jobs = JobManager(OpsSource(ops), use_ray=False)
    req = JobRequest(strategy="sma_cross", params={"fast": 8, "slow": 21}, symbols=["SOL/USDT"], timeframe="1d")
    job = jobs.wait(jobs.submit(req).job_id, timeout_s=120)
    assert job.state == "complete", job.error
    stored = queries.backtest_detail(OpsSource(ops), str(job.run_id))
    assert stored is not None and stored["metrics"]["return_pct"] == pytest.approx(job.result["metrics"]["return_pct"])
    sweep = req.model_copy(update={"sweep": SweepSpec(param_x="fast", values_x=[5, 30], param_y="slow", values_y=[20])})
    done = jobs.wait(jobs.submit(sweep).job_id, timeout_s=120)
    assert done.state == "complete" and done.done == 2
    assert done.result["z"][0][1] is None  # fast 30 >= slow 20 is invalid for the strategy
    with pytest.raises(ConfigError):
        jobs.submit(req.model_copy(update={"params": {"fast": 30, "slow": 20}}))


def test_stream_evaluator_on_replayed_recorded_candles(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, info = filled
    held = pl.from_arrow(info["held"])
    assert isinstance(held, pl.DataFrame)
    rows = held.sort("ts").to_dicts()
    level = float(held.get_column("close").median())  # type: ignore[arg-type]
    rule = AlertRule(rule_id="med", kind=RuleKind.PRICE_CROSS, symbol="BTC/USDT", level=level, direction="either")
    evaluator = StreamEvaluator([rule])
    # the bus fields, as RedisBus.publish_candles writes them
    fired = []
    for r in rows:
        fields = {k.encode(): str(r[k]).encode() for k in ("symbol", "timeframe", "ts", "open", "high", "low",
                                                           "close", "volume")}
        fields.update({b"exchange": b"binance", b"final": b"1"})
        candle = parse_candle_entry(fields)
        assert candle["final"]
        fired += evaluator.on_candle(candle)[1]
    expected = AlertEngine([rule]).on_events(
        CandleEvent("binance", "BTC/USDT", "1h", r["ts"], r["close"], {}) for r in rows)
    assert [(a.ts, a.value) for a in fired] == [(a.ts, a.value) for a in expected] and expected
    source = OpsSource(ops)
    store_alerts(source, fired, ["" for _ in fired])
    assert {h["ts"] for h in alert_history(source) if h["rule_id"] == "med"} == {a.ts for a in fired}
    forming = parse_candle_entry({**{k.encode(): b"1" for k in ("symbol", "timeframe", "ts", "open", "high", "low",
                                                                "close", "volume", "exchange")}, b"final": b"0"})
    assert forming["final"] is False


def test_sentiment_queries_are_empty_without_scores(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, _ = filled
    source = OpsSource(ops)
    assert queries.sentiment_heatmap(source)["symbols"] == []
    assert queries.sentiment_timeline(source, symbol="BTC/USDT", timeframe="1h") == []


def test_fills_of_the_execution_area_become_trade_marks(filled: tuple[StoreOps, dict[str, Any]]) -> None:
    ops, _ = filled
    ops.store.command(
        f"INSERT INTO {ops.db}.fills (account, venue, fill_id, client_order_id, venue_order_id, symbol, side, qty, "
        "price, fee, fee_currency, liquidity, ts) VALUES ('paper', 'paper', 'f1', 'c1', 'v1', 'LTC/USDT', 'buy', "
        "'1.5', '64.25', '0.01', 'USDT', 'taker', 1725000000000)")
    rows = queries.fills(OpsSource(ops), symbol="LTC/USDT", start_ms=1_724_000_000_000)
    assert rows == [{"account": "paper", "venue": "paper", "ts": 1725000000000, "side": "buy", "price": 64.25,
                     "qty": 1.5}]
    assert queries.fills(OpsSource(ops), symbol="LTC/USDT", start_ms=1_726_000_000_000) == []
