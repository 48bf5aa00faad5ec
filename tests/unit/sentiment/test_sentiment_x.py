"""X stream pieces without a network: X's documented reconnect delays, rule planning and wire parsing."""

from __future__ import annotations

import pytest

from actors.sources import x
from actors.sources.config import XStreamRule
from actors.sources.x_rules import build_stream_rules, plan_rule_changes
from actors.sources.x_stream import Failure, ReconnectPolicy
from cluster.errors import ConfigError, ParseError


def test_reconnect_delays_follow_x_documentation() -> None:
    # Arrange: X "Handling disconnections": network +250 ms up to 16 s; HTTP 5 s doubling up to 320 s;
    # 429: 1 minute doubling; an established stream that drops reconnects at once.
    policy = ReconnectPolicy()
    # Act / Assert
    assert [policy.delay_s(Failure.NETWORK) for _ in range(66)][-3:] == [16.0, 16.0, 16.0]
    policy.reset()
    assert [policy.delay_s(Failure.NETWORK) for _ in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [policy.delay_s(Failure.HTTP) for _ in range(8)] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 320.0]
    assert [policy.delay_s(Failure.RATE_LIMIT) for _ in range(5)] == [60.0, 120.0, 240.0, 480.0, 960.0]
    assert policy.delay_s(Failure.DROPPED) == 0.0
    assert policy.failures() == 4 + 8 + 5
    policy.reset()
    assert policy.delay_s(Failure.HTTP) == 5.0


def test_plan_keeps_matching_rules_and_replaces_the_rest() -> None:
    active = [x.ActiveRule("1", "$BTC lang:en", "coinray-1"), x.ActiveRule("2", "$BTC lang:en", "coinray-1"),
              x.ActiveRule("3", "$ETH lang:en", None)]
    wanted = [XStreamRule(value="$BTC lang:en", tag="coinray-1"), XStreamRule(value="$ETH lang:en", tag="coinray-2")]
    plan = plan_rule_changes(active, wanted)
    assert plan.delete_ids == ("2", "3")
    assert plan.add == (XStreamRule(value="$ETH lang:en", tag="coinray-2"),)
    assert plan_rule_changes([x.ActiveRule("1", "$BTC lang:en", "coinray-1")], wanted[:1]).empty


def test_generated_rules_fit_the_limit_and_skip_ambiguous_names() -> None:
    rules = build_stream_rules(["BTC", "MATIC", "ATOM", "LINK"], max_chars=80, suffix="lang:en")
    values = " ".join(r.value for r in rules)
    assert all(len(r.value) <= 80 for r in rules)
    assert "$MATIC" in values and "$ATOM" in values and "chainlink" in values
    assert "polygon" not in values and "cosmos" not in values  # ambiguous words would flood the stream
    with pytest.raises(ValueError, match="does not fit"):
        build_stream_rules(["BTC"], max_chars=64, suffix="x" * 60)


def test_stream_wire_formats() -> None:
    assert x.parse_stream_line(b"\r\n") is None
    with pytest.raises(x.StreamDisconnect) as info:
        x.parse_stream_line(b'{"errors": [{"title": "operational-disconnect", '
                            b'"disconnect_type": "UpstreamOperationalDisconnect"}]}')
    assert info.value.titles == ("operational-disconnect",)
    with pytest.raises(ParseError):
        x.parse_stream_line(b'{"matching_rules": []}')
    assert x.parse_rules(b'{"meta": {"sent": "2022-10-08T10:00:00.000Z", "result_count": 0}}') == []
    assert x.parse_rules_update(b'{"errors": [{"value": "$BTC", "title": "DuplicateRule"}], '
                                b'"meta": {"summary": {"created": 0, "not_created": 1}}}') == {
        "created": 0, "not_created": 1}
    with pytest.raises(ConfigError, match="'\\(\\$BTC': Invalid Rule"):
        x.parse_rules_update(b'{"errors": [{"value": "($BTC", "title": "Invalid Rule", '
                             b'"details": ["Rules must contain a non-negation term"]}], "meta": {}}')
