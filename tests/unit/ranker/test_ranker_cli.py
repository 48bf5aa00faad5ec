"""The ranker commands end to end on the bundled files (no Ray): evaluate --json, rank --json, report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cluster.cli import app

SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"
FILES = [str(p) for p in sorted(SAMPLE.glob("*-1d.feather"))]


def _candles() -> list[str]:
    return [arg for f in FILES for arg in ("--candles", f)]


def test_evaluate_prints_the_documented_keys() -> None:
    result = CliRunner().invoke(app, ["evaluate", *_candles(), "--timeframe", "1d", "--top", "3", "--fee-bps", "10",
                                      "--min-train-bars", "150", "--retrain-bars", "50", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert {"oos_sharpe", "equal_weight_sharpe", "momentum_sharpe", "oos_return_pct", "equal_weight_return_pct",
            "momentum_return_pct", "n_rebalances", "turnover", "hit_rate", "ic"} <= set(out)
    assert out["horizon_bars"] == 5 and out["fee_bps"] == 10


def test_report_from_files_writes_three_formats(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", *_candles(), "--timeframe", "1d", "--top", "3",
                                      "--formats", "json,md,html"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert sorted(out["paths"]) == ["html", "json", "md"]
    assert all(Path(p).is_file() for p in out["paths"].values())
    assert json.loads(Path(out["paths"]["json"]).read_text())["schema_version"] == "1.1"
