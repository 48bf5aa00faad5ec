"""Live trading is impossible without --live, keys and a confirmation; the refusal names what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from actors.brokers.errors import LiveTradingRefused
from cluster.commands import trade as trade_cmd
from cluster.commands.trade import resolve_live

ENV = {"BINANCE_API_KEY": "live-key-abcdef", "BINANCE_API_SECRET": "live-secret-abcdef"}


def test_everything_missing_is_listed() -> None:
    with pytest.raises(LiveTradingRefused) as info:
        resolve_live(venue="binance", live=False, yes=False, secrets_file=None, env={}, confirmed=False)
    text = str(info.value)
    assert "--live" in text and "BINANCE_API_KEY" in text and "BINANCE_API_SECRET" in text
    assert "--yes-i-understand" in text and len(info.value.missing) == 3


@pytest.mark.parametrize(("live", "env", "yes", "confirmed", "missing"), [
    (True, {}, True, False, "API keys"),
    (True, ENV, False, False, "confirmation"),
    (False, ENV, True, True, "--live"),
    (True, {"BINANCE_API_KEY": "only-the-key-1"}, True, False, "BINANCE_API_SECRET"),
])
def test_each_missing_piece_refuses(live: bool, env: dict[str, str], yes: bool, confirmed: bool,
                                    missing: str) -> None:
    with pytest.raises(LiveTradingRefused, match=missing.replace("-", r"\-")):
        resolve_live(venue="binance", live=live, yes=yes, secrets_file=None, env=env, confirmed=confirmed)


def test_all_present_from_env_or_secrets_file(tmp_path: Path) -> None:
    keys = resolve_live(venue="binance", live=True, yes=True, secrets_file=None, env=ENV, confirmed=False)
    assert keys.api_key.get_secret_value() == ENV["BINANCE_API_KEY"] and "live-key" not in repr(keys)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('ROBINHOOD_API_KEY = "rh-key-123456"\nROBINHOOD_PRIVATE_KEY = "cmgtc2VlZC0xMjM0NTY="\n')
    rh = resolve_live(venue="robinhood", live=True, yes=False, secrets_file=secrets, env={}, confirmed=True)
    assert rh.api_secret.get_secret_value() == "cmgtc2VlZC0xMjM0NTY="
    with pytest.raises(LiveTradingRefused, match="venue"):
        resolve_live(venue="kraken", live=True, yes=True, secrets_file=None, env=ENV, confirmed=True)


def test_cli_refuses_before_any_venue_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.cli import app

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a broker was built although live trading was refused")

    monkeypatch.setattr(trade_cmd, "build_live_broker", never)
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["trade", "--strategy", "topn", "--live", "--venue", "binance"])
    assert isinstance(result.exception, LiveTradingRefused)
    assert "BINANCE_API_KEY" in str(result.exception) and "confirmation" in str(result.exception)
    monkeypatch.setenv("BINANCE_API_KEY", ENV["BINANCE_API_KEY"])
    monkeypatch.setenv("BINANCE_API_SECRET", ENV["BINANCE_API_SECRET"])
    result = runner.invoke(app, ["trade", "--live", "--venue", "binance"])  # keys, but no confirmation
    assert isinstance(result.exception, LiveTradingRefused) and result.exception.missing == [
        "confirmation (type the venue name when asked, or pass --yes-i-understand)"]
    result = runner.invoke(app, ["trade", "--no-paper"])  # neither paper nor --live
    assert isinstance(result.exception, LiveTradingRefused) and "--live" in str(result.exception)
    assert ENV["BINANCE_API_SECRET"] not in result.output
