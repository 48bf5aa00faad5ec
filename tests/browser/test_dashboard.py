"""The dashboard in headless Chromium: every page renders the store's actual values; a backtest and a sweep
submitted from the Strategy form return their results; an alert rule fires while the exchange simulator
replays recorded trades through the ingestion stream, and shows up as an in-page notification, in the
history and at the webhook, with the live last candle equal to the one built from those trades.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import polars as pl
import pytest

from tests.browser.conftest import Dashboard

pytestmark = pytest.mark.integration
WAIT_S = 60


def _open(browser: Any, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.body.dataset.ready") in ("1", "error"))
    error = browser.execute_script("return document.body.dataset.error || ''")
    if error:
        raise AssertionError(f"page {url} failed: {error}")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def _shot(browser: Any, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def _text(browser: Any, css: str) -> str:
    return str(browser.find_element("css selector", css).text)


def test_overview_shows_ranking_anomalies_health_and_sentiment(dashboard: Dashboard, browser: Any,
                                                              artifacts: Path) -> None:
    # Arrange
    ranking = dashboard.fixture["ranking"]
    # Act
    _open(browser, dashboard.url + "/")
    # Assert: the ranking table is the stored run, in rank order
    symbols = [e.text for e in browser.find_elements("css selector", "#ranking tbody tr td:nth-child(2)")]
    assert symbols == [r.symbol for r in ranking.ranked]
    scores = [float(e.text) for e in browser.find_elements("css selector", "#ranking tbody tr td:nth-child(3)")]
    assert scores == pytest.approx([round(r.score, 3) for r in ranking.ranked], abs=1e-3)
    # newest stored anomaly first
    newest = dashboard.fixture["anomalies"].sort(["ts", "symbol"], descending=[True, False]).row(0, named=True)
    first = browser.find_elements("css selector", "#signals tbody tr")[0].text
    assert newest["symbol"] in first and newest["kind"] in first
    # one health row per stored series
    stored = dashboard.ops.store.query_arrow(
        "SELECT count() AS n FROM (SELECT DISTINCT exchange, symbol, timeframe FROM coinray.candles)")
    assert len(browser.find_elements("css selector", "#health tbody tr")) == stored.column("n")[0].as_py()
    # sentiment heat map: the cells are sentiment_agg's latest engagement-weighted scores
    if dashboard.fixture["sentiment"] is not None:
        heat = browser.execute_script("const d = document.getElementById('heatmap').data[0]; return [d.y, d.x, d.z];")
        agg = dashboard.ops.store.query_arrow(
            "SELECT symbol, timeframe, argMax(engagement_score, ts) AS s FROM coinray.sentiment_agg "
            "GROUP BY symbol, timeframe").to_pylist()
        for row in agg:
            z = heat[2][heat[0].index(row["symbol"])][heat[1].index(row["timeframe"])]
            assert z == pytest.approx(row["s"])
    else:
        assert browser.find_element("css selector", "#heatmap-empty").is_displayed()
    _shot(browser, artifacts, "overview")


def test_symbol_chart_matches_store_with_overlays_panes_and_trades(dashboard: Dashboard, browser: Any,
                                                                   artifacts: Path) -> None:
    # Arrange
    stored = pl.from_arrow(dashboard.ops.read_candles(timeframe="1h", exchange="binance", symbols=["BTC/USDT"]))
    assert isinstance(stored, pl.DataFrame)
    last = stored.sort("ts").row(-1, named=True)
    run = dashboard.ops.store.query_arrow("SELECT result FROM coinray.backtests FINAL WHERE run_id = 'bt-ui-fixture'")
    # Act
    _open(browser, dashboard.url + "/symbol?symbol=BTC%2FUSDT&timeframe=1h&bars=500&run_id=bt-ui-fixture")
    # Assert: the last candle shown is the store's last candle
    assert float(_text(browser, "#last-close")) == last["close"]
    trace = browser.execute_script(
        "const d = document.getElementById('price').data[0]; return [d.close.length, d.close[d.close.length - 1]];")
    assert trace == [500, last["close"]]
    names = browser.execute_script("return document.getElementById('price').data.map(t => t.name);")
    assert {"ema_20", "ema_50", "rsi_14", "signals"} <= set(names)
    # trade markers: every trade of the run inside the shown window
    import json

    first_ts = browser.execute_script("return new Date(document.getElementById('price').data[0].x[0]).getTime();")
    trades = json.loads(run.column("result")[0].as_py())["trades"]
    from serve.ui.charts import iso_to_ms

    expected = sum((iso_to_ms(t["entry_time"]) or 0) >= first_ts for t in trades) + sum(
        (iso_to_ms(t["exit_time"]) or 0) >= first_ts for t in trades if t["exit_time"])
    shown = browser.execute_script(
        "const d = document.getElementById('price').data.filter(t => t.name.startsWith('trade '));"
        "const x0 = new Date(document.getElementById('price').data[0].x[0]);"
        "return d.reduce((n, t) => n + t.x.filter(x => new Date(x) >= x0).length, 0);")
    assert shown == expected and expected > 0
    # Act: switch on Bollinger and the MACD pane (keyboard: focus + space)
    from selenium.webdriver.common.keys import Keys

    for value in ("bollinger", "macd"):
        box = browser.find_element("css selector", f"input[value={value}]")
        box.send_keys(Keys.SPACE)
    names = browser.execute_script("return document.getElementById('price').data.map(t => t.name);")
    assert {"bb_upper_20_2", "bb_lower_20_2", "macd", "signal", "hist"} <= set(names)
    _shot(browser, artifacts, "symbol")
    # phone width and the light theme stay readable
    browser.set_window_size(390, 900)
    browser.find_element("css selector", "#theme").click()
    assert browser.execute_script("return document.documentElement.dataset.theme") == "light"
    _shot(browser, artifacts, "symbol-phone-light")
    browser.find_element("css selector", "#theme").click()
    browser.set_window_size(1280, 1000)
    # the URL's bars= is honoured, also when it is not one of the menu's choices
    _open(browser, dashboard.url + "/symbol?symbol=BTC%2FUSDT&timeframe=1h&bars=120")
    assert browser.find_element("css selector", "#bars").get_attribute("value") == "120"
    assert browser.execute_script(
        "const d = document.getElementById('price').data[0]; return [d.close.length, d.close[d.close.length - 1]];"
    ) == [120, last["close"]]


def test_backtests_page_shows_the_stored_run(dashboard: Dashboard, browser: Any, artifacts: Path) -> None:
    # Arrange
    summary = dashboard.fixture["backtest"]
    # Act
    _open(browser, dashboard.url + "/backtests?run_id=bt-ui-fixture")
    # Assert
    cell = browser.find_element("css selector", "td[data-metric=return_pct]").text
    assert float(cell.replace(",", "")) == pytest.approx(summary["return_pct"], abs=1e-4)
    assert len(browser.find_elements("css selector", "#trades tbody tr")) == len(summary["trades"])
    equity = browser.execute_script("const d = document.getElementById('equity').data[0].y; return d[d.length - 1];")
    assert equity == pytest.approx(summary["final_equity"])
    _shot(browser, artifacts, "backtests")


def _fill_number(browser: Any, css: str, value: Any) -> None:
    box = browser.find_element("css selector", css)
    box.clear()
    box.send_keys(str(value))


def test_strategy_form_runs_a_backtest_and_a_sweep(dashboard: Dashboard, browser: Any, artifacts: Path) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from serve.ui.jobs import JobRequest, SweepSpec, _config, _load, compute_backtest, compute_cell
    from serve.ui.source import OpsSource

    # Act: one backtest from the generated form
    _open(browser, dashboard.url + "/strategy")
    Select(browser.find_element("css selector", "#strategy")).select_by_visible_text("sma_cross")
    _fill_number(browser, "input[data-key=fast]", 5)
    _fill_number(browser, "input[data-key=slow]", 20)
    browser.find_element("css selector", "#run-btn").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements("css selector", "#job-return"))
    shown = float(_text(browser, "#job-return").replace(",", ""))
    run_id = browser.find_element("css selector", "#job-run a").text
    # Assert: the stored run and an independent engine run agree with what the page shows
    row = dashboard.ops.store.query_arrow(
        f"SELECT status, metrics['return_pct'] AS r FROM coinray.backtests FINAL WHERE run_id = '{run_id}'").to_pylist()
    assert row[0]["status"] == "complete"
    req = JobRequest(strategy="sma_cross", params={"fast": 5, "slow": 20}, symbols=["BTC/USDT"], timeframe="1h")
    source = OpsSource(dashboard.ops)
    direct = compute_backtest(_load(source, req), "sma_cross", req.params, _config(req), "1h")
    assert shown == pytest.approx(round(direct["metrics"]["return_pct"], 2), abs=1e-9)
    assert row[0]["r"] == pytest.approx(direct["metrics"]["return_pct"])
    _shot(browser, artifacts, "strategy-backtest")
    # Act: a 2 x 2 sweep
    browser.find_element("css selector", "#sweep-on").click()
    Select(browser.find_element("css selector", "#sweep-x")).select_by_visible_text("fast")
    Select(browser.find_element("css selector", "#sweep-y")).select_by_visible_text("slow")
    _fill_number(browser, "#sweep-xv", "5,10")
    _fill_number(browser, "#sweep-yv", "20,40")
    browser.find_element("css selector", "#run-btn").click()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: "sweep complete" in d.find_element("css selector", "#job-state").text)
    z = browser.execute_script("return document.getElementById('sweep-heatmap').data[0].z;")
    # Assert: each cell is the evaluator's metric for that parameter pair
    spec = SweepSpec(param_x="fast", values_x=[5, 10], param_y="slow", values_y=[20, 40])
    candles = _load(source, req)
    for i, slow in enumerate(spec.values_y):
        for j, fast in enumerate(spec.values_x):
            cell = compute_cell(candles, "sma_cross", {}, {"fast": int(fast), "slow": int(slow)}, _config(req), "1h")
            assert z[i][j] == pytest.approx(cell["sharpe"]) if not math.isnan(cell["sharpe"]) else z[i][j] is None
    browser.execute_script("document.getElementById('h-progress').scrollIntoView()")
    _shot(browser, artifacts, "strategy-sweep")


def _crossing(closes: list[float]) -> tuple[float, str, list[int]]:
    """A level between the first two different consecutive closes, its direction, and the indexes of every
    close that crosses it that way (the alert engine's ``prev <= level < now`` / ``prev >= level > now``)."""
    k = next(i for i in range(1, len(closes)) if closes[i] != closes[i - 1])
    level = round((closes[k - 1] + closes[k]) / 2, 10)  # strictly between the two closes, and readable
    if closes[k] > closes[k - 1]:
        return level, "above", [i for i in range(1, len(closes)) if closes[i - 1] <= level < closes[i]]
    return level, "below", [i for i in range(1, len(closes)) if closes[i - 1] >= level > closes[i]]


def _shown_last_candle(browser: Any) -> list[Any]:
    return list(browser.execute_script(
        "const d = document.getElementById('price').data[0], n = d.close.length - 1;"
        "return n < 0 ? [] : [new Date(d.x[n]).getTime(), d.open[n], d.high[n], d.low[n], d.close[n], n + 1];"))


def test_alert_fires_during_simulator_replay(dashboard: Dashboard, browser: Any, artifacts: Path,
                                             webhook: tuple[str, list[dict[str, Any]]]) -> None:
    """Simulator (recorded Coinbase trades) -> ingestion stream -> store + Redis -> live hub -> page and webhook."""
    import asyncio

    import redis
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from cluster.bus import candle_stream
    from tests.browser.sim_replay import expected_candles, recorded_trades, replay_recorded

    # Arrange: the 1m candles of the recorded trades, built independently, and a level they cross
    exchange, symbol = "coinbase", "SKL/USD"
    want = expected_candles(recorded_trades(exchange, symbol))
    closes = want.get_column("close").to_list()
    level, direction, crosses = _crossing(closes)
    assert want.height >= 2 and crosses
    last = want.row(-1, named=True)
    url, received = webhook
    _open(browser, dashboard.url + "/alerts")
    browser.find_element("css selector", "#name").send_keys("skl breakout")
    Select(browser.find_element("css selector", "#kind")).select_by_visible_text("price_cross")
    _fill_number(browser, "#symbol", symbol)
    Select(browser.find_element("css selector", "#rule-tf")).select_by_visible_text("1m")
    _fill_number(browser, "#level", repr(level))
    Select(browser.find_element("css selector", "#direction")).select_by_visible_text(direction)
    browser.find_element("css selector", "#webhook_url").send_keys(url)
    browser.find_element("css selector", "#save-rule").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "skl breakout" in d.find_element("css selector", "#rules").text)
    # the Symbol page of a series that nothing has stored yet: it waits for the live stream
    page = f"/symbol?symbol={symbol.replace('/', '%2F')}&timeframe=1m&exchange={exchange}&bars=100"
    _open(browser, dashboard.url + page)
    assert _shown_last_candle(browser) == []
    hub = dashboard.router.hub
    WebDriverWait(browser, WAIT_S).until(lambda d: hub.stats["running"]
                                         and d.find_element("css selector", "#live-status").text == "live: on")
    assert candle_stream(exchange) in hub.stats["streams"]
    # Act: the simulator replays the recorded trades; the ingestion stream stores and publishes the candles
    asyncio.run(replay_recorded(exchange=exchange, symbols=(symbol,), source=dashboard.source,
                                redis_url=dashboard.redis_url))
    # Assert: the bus carries exactly the independently built candles, each closed once
    client = redis.Redis.from_url(dashboard.redis_url)
    try:
        stream = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(candle_stream(exchange)))
        entries = [f for _, f in stream if f[b"final"] == b"1"]
    finally:
        client.close()
    assert [(f[b"symbol"].decode(), int(f[b"ts"]), float(f[b"close"])) for f in entries] == \
        [(symbol, ts, c) for ts, c in zip(want["ts"], closes, strict=True)]
    # the in-page notification and the live last candle (from the stream, not the store: the page loaded empty)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements("css selector", "#toasts .toast"))
    toast = browser.find_element("css selector", "#toasts .toast").text
    assert "skl breakout" in toast and f"{symbol} 1m close crossed {direction} {level:g}" in toast
    WebDriverWait(browser, WAIT_S).until(
        lambda d: _text(d, "#last-close") == str(last["close"]) and _shown_last_candle(d)[:1] == [last["ts"]])
    assert _shown_last_candle(browser) == [last["ts"], last["open"], last["high"], last["low"], last["close"],
                                           want.height]
    assert _text(browser, "#live-candle") == "(live)"
    _shot(browser, artifacts, "alert-notification")
    # the webhook got the fired alert at the crossing candle
    WebDriverWait(browser, WAIT_S).until(lambda d: len(received) >= len(crosses))
    first = want.row(crosses[0], named=True)
    assert [b["rule_name"] for b in received] == ["skl breakout"] * len(crosses)
    assert (received[0]["exchange"], received[0]["symbol"], received[0]["timeframe"]) == (exchange, symbol, "1m")
    assert received[0]["ts"] == first["ts"]
    assert received[0]["value"] == pytest.approx(first["close"])
    # historical: the stream stored the same candles, and the reloaded Symbol page draws them from the store
    _open(browser, dashboard.url + page)
    stored = browser.execute_script(
        "const d = document.getElementById('price').data[0]; return [d.x.map((x) => new Date(x).getTime()), d.close];")
    assert stored == [want["ts"].to_list(), closes]
    _open(browser, dashboard.url + "/alerts")
    row = _text(browser, "#history tbody tr")
    assert "skl breakout" in row and symbol in row and "204" in row
    _shot(browser, artifacts, "alerts")
    # Act: delete the rule from its row
    browser.find_element("css selector", "#rules [data-del]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: not d.find_elements("css selector", "#rules tbody tr"))
    assert not hub.evaluator.engine.rules
    # the Overview reports what the live hub has consumed
    _open(browser, dashboard.url + "/")
    assert f"{want.height} candles, {len(crosses)} alerts" in _text(browser, "#live-stats")


def test_models_page_says_when_there_is_no_registry(dashboard: Dashboard, browser: Any, artifacts: Path) -> None:
    _open(browser, dashboard.url + "/models")
    has_models = dashboard.ops.store.query_arrow(
        "SELECT count() AS n FROM system.tables WHERE database = 'coinray' AND name = 'models'").column("n")[0].as_py()
    if has_models:
        assert browser.find_elements("css selector", "#models thead th") or browser.find_element(
            "css selector", "#models-empty").is_displayed()
    else:
        assert browser.find_element("css selector", "#models-empty").is_displayed()
    _shot(browser, artifacts, "models")
