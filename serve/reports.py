"""Report builder: a ranking in, ``report.json`` (versioned contract) and ``report.md`` out.

``report.json`` contract (later versions extend it, never break it)::

    {"schema_version", "run_id", "generated_at", "timeframe",
     "data": {"start", "end", "symbols", "candles"},
     "top": [{"symbol", "rank", "score", "factors": {name: value}, "rationale"}]}

Version 1.0 also carries ``as_of``, ``exchange``, ``method`` (formula and weights), ``excluded``
and, per entry, ``contributions`` and ``close``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.ranking import FACTORS, Ranking

SCHEMA_VERSION = "1.0"


def iso_ms(ts_ms: int) -> str:
    """UTC ISO-8601 text of an epoch-ms timestamp.

    >>> iso_ms(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DataSummary:
    """The data a report was computed from."""

    start_ms: int
    end_ms: int
    symbols: list[str]
    candles: int


def build_report(
    ranking: Ranking,
    *,
    run_id: str,
    generated_at_ms: int,
    exchange: str,
    data: DataSummary,
    top_n: int,
) -> dict[str, Any]:
    """The ``report.json`` document for ``ranking`` (top ``top_n`` entries)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "generated_at": iso_ms(generated_at_ms),
        "timeframe": ranking.timeframe,
        "exchange": exchange,
        "as_of": iso_ms(ranking.as_of_ts) if ranking.ranked else None,
        "data": {
            "start": iso_ms(data.start_ms),
            "end": iso_ms(data.end_ms),
            "symbols": data.symbols,
            "candles": data.candles,
        },
        "method": {
            "name": "baseline",
            "lookback_bars": ranking.lookback_bars,
            "weights": ranking.weights,
            "formula": "score = sum(weight_f * sign_f * robust_z(f)); f in trend, momentum, volatility (-), "
            "log10 liquidity; robust_z = (x - median) / (1.4826 * MAD), clipped to +-3",
        },
        "top": [
            {
                "symbol": r.symbol,
                "rank": r.rank,
                "score": round(r.score, 6),
                "factors": {f: r.factors[f] for f in FACTORS},
                "contributions": {f: round(r.contributions[f], 6) for f in FACTORS},
                "close": r.close,
                "rationale": r.rationale,
            }
            for r in ranking.ranked[:top_n]
        ],
        "ranked": len(ranking.ranked),
        "excluded": ranking.excluded,
        "disclaimer": "Baseline factor ranking for research; not investment advice.",
    }


def render_markdown(report: dict[str, Any]) -> str:
    """Human-readable Markdown for a ``report.json`` document."""
    lines = [
        f"# coinray report {report['run_id']}",
        "",
        f"Generated {report['generated_at']} · timeframe **{report['timeframe']}** · exchange "
        f"**{report['exchange']}** · as of **{report['as_of']}**",
        "",
        f"Data: {len(report['data']['symbols'])} symbols, {report['data']['candles']:,} candles, "
        f"{report['data']['start']} → {report['data']['end']}.",
        "",
        f"## Top {len(report['top'])} of {report['ranked']}",
        "",
        "| rank | symbol | score | trend | momentum | volatility | liquidity (USD) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for item in report["top"]:
        f = item["factors"]
        lines.append(
            f"| {item['rank']} | {item['symbol']} | {item['score']:+.2f} | {f['trend'] * 100:+.2f}% | "
            f"{f['momentum'] * 100:+.2f}% | {f['volatility'] * 100:.1f}% | {f['liquidity']:,.0f} |"
        )
    lines += ["", "## Why", ""]
    lines += [f"{item['rank']}. {item['rationale']}" for item in report["top"]]
    if report["excluded"]:
        lines += ["", "## Not ranked", ""]
        lines += [f"- {sym}: {why}" for sym, why in sorted(report["excluded"].items())]
    method = report["method"]
    lines += [
        "",
        "## Method",
        "",
        f"{method['formula']}. Weights: "
        + ", ".join(f"{k} {v:g}" for k, v in method["weights"].items())
        + f". Look-back: {method['lookback_bars']} bars.",
        "",
        f"_{report['disclaimer']}_",
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], reports_dir: Path) -> tuple[Path, Path]:
    """Write ``<reports_dir>/<run_id>/report.json`` and ``report.md``; return both paths."""
    out = reports_dir / report["run_id"]
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    md_path = out / "report.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
