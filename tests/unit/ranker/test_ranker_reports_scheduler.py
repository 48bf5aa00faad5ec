"""Report contract (JSON Schema for 1.0 and 1.1), renderers, and the cron schedule rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from pydantic import ValidationError

from cluster.settings import RankingConfig
from pipelines.ranking import rank_symbols
from pipelines.recommend import RankerConfig, rank_universe
from serve.html_report import render_html
from serve.reports import DataSummary, build_ensemble_report, build_report, render_markdown, write_report_files
from serve.scheduler import ReportSchedule, SchedulerCore, due_schedules, next_run_ms

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "serve" / "report_schema.json").read_text())
DAY_MS = 86_400_000


def _data(features: pl.DataFrame) -> DataSummary:
    return DataSummary(start_ms=int(features.get_column("ts").min()), end_ms=int(features.get_column("ts").max()),  # type: ignore[arg-type]
                       symbols=sorted(features.get_column("symbol").unique().to_list()), candles=features.height)


def test_baseline_report_still_validates_as_1_0(features_1d: pl.DataFrame) -> None:
    ranking = rank_symbols(features_1d, timeframe="1d", cfg=RankingConfig())
    report = build_report(ranking, run_id="r1", generated_at_ms=0, exchange="binance", data=_data(features_1d), top_n=5)
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == "1.0"
    assert list(report["top"][0]["contributions"]) == ["trend", "momentum", "volatility", "liquidity"]


def test_ensemble_report_is_1_1_and_renders(features_1d: pl.DataFrame, fast_ranker: RankerConfig,
                                            tmp_path: Path) -> None:
    ranking = rank_universe(features_1d, timeframe="1d", cfg=fast_ranker)
    report = build_ensemble_report(ranking, run_id="r2", generated_at_ms=0, exchange="binance",
                                   data=_data(features_1d), top_n=3)
    jsonschema.validate(report, SCHEMA)
    assert report["method"]["name"] == "ensemble" and report["sentiment_used"] is False
    assert report["model"]["components"] == ["statistical", "xgboost"]
    md = render_markdown(report)
    assert "## Buy recommendations" in md and "| predicted | n |" in md
    page = render_html(report)
    assert page.count("<svg") == 2
    paths = write_report_files(report, tmp_path, ["json", "md", "html"])
    assert json.loads(paths["json"].read_text()) == report
    with pytest.raises(ValueError, match="unknown report format"):
        write_report_files(report, tmp_path, ["pdf"])
    broken = dict(report)
    del broken["recommendations"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_cron_schedules() -> None:
    daily = ReportSchedule(name="daily", cron="5 0 * * *")
    hourly = ReportSchedule(name="hourly", cron="0 * * * *", timeframe="1h", top=3, formats=["md"])
    assert next_run_ms(daily, 0) == 5 * 60_000
    assert next_run_ms(daily, 5 * 60_000) == DAY_MS + 5 * 60_000
    assert due_schedules([daily, hourly], {"daily": 0, "hourly": 0}, 4 * 60_000) == []
    assert due_schedules([daily, hourly], {"daily": 0, "hourly": 0}, 3_600_000) == [daily, hourly]
    core = SchedulerCore([daily, hourly], started_ms=0)
    assert core.due(3_600_000) == [daily, hourly]
    assert core.due(3_600_000 + 1) == []  # each fires once per slot, even after missing several
    assert core.seconds_to_next(3_600_000) == 3600.0
    assert hourly.request().formats == ["md"]
    with pytest.raises(ValidationError, match="cron"):
        ReportSchedule(name="bad", cron="every day")


def test_serve_deploy_config_is_valid() -> None:
    import yaml
    from ray.serve.schema import ServeDeploySchema

    from serve.app import AppArgs

    raw = yaml.safe_load((Path(__file__).resolve().parents[3] / "serve" / "config" / "coinray.yaml").read_text())
    ServeDeploySchema.model_validate(raw)
    app = raw["applications"][0]
    args = AppArgs.model_validate(app["args"])
    assert args.service.timeframes == ("1d", "1h")
    assert [ReportSchedule.model_validate(s).name for s in args.schedules] == ["daily"]
    assert {d["name"] for d in app["deployments"]} == {"Ranker", "Ingress"}
