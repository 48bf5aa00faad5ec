"""Settings precedence (arguments > env > coinray.toml > defaults), validation and secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.errors import ConfigError
from cluster.settings import default_data_dir, load_settings, mask_url, masked_settings


def test_defaults_are_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COINRAY_DATA_DIR")
    s = load_settings()
    assert s.clickhouse_url is None and s.redis_url is None and s.ray.address is None
    assert s.data_dir == default_data_dir()
    assert s.data_dir.parts[-3:] == (".local", "share", "coinray") or s.data_dir.name == "coinray"


def test_env_data_dir_is_honoured(tmp_path: Path) -> None:
    s = load_settings()
    assert s.data_dir == tmp_path / "coinray-data"
    assert s.store_dir == tmp_path / "coinray-data" / "chdb"
    assert s.reports_dir == tmp_path / "coinray-data" / "reports"


def test_precedence_toml_env_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "coinray.toml").write_text(
        'log_level = "DEBUG"\n[ranking]\nlookback_bars = 20\nmin_bars = 40\n[demo]\ntop_n = 3\n'
    )
    s = load_settings()
    assert (s.log_level, s.ranking.lookback_bars, s.demo.top_n) == ("DEBUG", 20, 3)
    monkeypatch.setenv("COINRAY_RANKING__LOOKBACK_BARS", "25")
    monkeypatch.setenv("COINRAY_LOG_LEVEL", "WARNING")
    s = load_settings()
    assert (s.log_level, s.ranking.lookback_bars, s.ranking.min_bars, s.demo.top_n) == ("WARNING", 25, 40, 3)
    s = load_settings(log_level="ERROR")
    assert s.log_level == "ERROR"


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text("[demo]\ntop_n = 7\n")
    monkeypatch.setenv("COINRAY_CONFIG", str(cfg))
    assert load_settings().demo.top_n == 7
    monkeypatch.setenv("COINRAY_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("data_dri = '/tmp/x'\n", "data_dri"),
        ("[demo]\ntimeframe = '2h'\n", "demo.timeframe"),
        ("[ranking]\nlookback_bars = 1\n", "ranking.lookback_bars"),
        ("log_level = 'LOUD'\n", "log_level"),
        ("this is = not toml [\n", "could not read"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path: Path, toml: str, needle: str) -> None:
    (tmp_path / "coinray.toml").write_text(toml)
    with pytest.raises(ConfigError, match=r"invalid coinray configuration|could not read") as info:
        load_settings()
    assert needle in str(info.value)


def test_bad_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINRAY_RAY__NUM_CPUS", "zero")
    with pytest.raises(ConfigError, match=r"ray\.num_cpus"):
        load_settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINRAY_REDIS_URL", "redis://app:hunter2@127.0.0.1:6379/0")
    monkeypatch.setenv("COINRAY_CLICKHOUSE_URL", "http://default:s3cret@127.0.0.1:8123/db?password=x2")
    s = load_settings()
    shown = masked_settings(s)
    text = repr(s) + str(shown)
    assert "hunter2" not in text and "s3cret" not in text and "x2" not in text
    assert shown["redis_url"] == "redis://app:***@127.0.0.1:6379/0"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "coinray.toml.example"
    (tmp_path / "coinray.toml").write_text(example.read_text())
    s = load_settings()
    assert s.demo.timeframe == "1d" and s.bus.stream_maxlen == 100_000
