"""Report builder: a ranking in, ``report.json`` (versioned contract) and ``report.md`` out.

``report.json`` contract (later versions extend it, never break it)::

    {"schema_version", "run_id", "generated_at", "timeframe",
     "data": {"start", "end", "symbols", "candles"},
     "top": [{"symbol", "rank", "score", "factors": {name: value}, "rationale"}]}

Version 1.0 also carries ``as_of``, ``exchange``, ``method`` (formula and weights), ``excluded``
and, per entry, ``contributions`` and ``close``.

Version 1.1 (the ensemble ranker, :func:`build_ensemble_report`) keeps every 1.0 field and adds
``recommendations`` (entry, ATR stop/target, P(target first), reasons, invalidation), ``model``
(components, calibration and reliability, training window), ``notes`` (e.g. no sentiment) and
``sentiment_used``; each ``top`` entry's ``factors`` keep the four 1.0 keys and add more.
The JSON Schema of both versions is ``serve/report_schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.ranking import FACTORS, Ranking

SCHEMA_VERSION = "1.0"
ENSEMBLE_SCHEMA_VERSION = "1.1"
REPORT_FORMATS: tuple[str, ...] = ("json", "md", "html")


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
                "contributions": {f: round(v, 6) for f, v in r.contributions.items()},
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
    lines += _recommendation_lines(report)
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
        *_model_lines(report),
        *_confidence_lines(report),
        "",
        f"_{report['disclaimer']}_",
        "",
    ]
    return "\n".join(lines)


def _recommendation_lines(report: dict[str, Any]) -> list[str]:
    """Markdown of the 1.1 ``recommendations`` (empty for 1.0 reports)."""
    if "recommendations" not in report:
        return []
    lines = ["", f"## Buy recommendations ({len(report['recommendations'])})", ""]
    if not report["recommendations"]:
        lines.append("No symbol has a calibrated P(target first) above the base rate: no buy today.")
    else:
        lines += ["| rank | symbol | entry | stop | target | P(target first) | confidence | expires |",
                  "|---:|---|---:|---:|---:|---:|---:|---|"]
        lines += [f"| {r['rank']} | {r['symbol']} | {r['entry']:,.6g} | {r['stop']:,.6g} | {r['target']:,.6g} | "
                  f"{r['p_up']:.3f} | {r['confidence']:.2f} | {r['expires_at']} |" for r in report["recommendations"]]
        for r in report["recommendations"]:
            lines += ["", f"**{r['symbol']}**" + (" (anomaly flag)" if r["anomaly"] else "") + ": "
                      + "; ".join(x["text"] for x in r["reasons"]) + ".",
                      "Invalidated by: " + "; ".join(r["invalidation"]) + "."]
    lines += [""] + [f"- {n}" for n in report.get("notes", [])]
    return lines


def _confidence_lines(report: dict[str, Any]) -> list[str]:
    """Markdown of the confidence matrix section: signal (confidence) per symbol and factor."""
    section = report.get("confidence_matrix")
    if not section or not section["symbols"]:
        return []
    factors = section["factors"]
    lines = ["", f"## Confidence matrix ({section['timeframe']}, as-of bar)", "",
             "Signal in [-1, 1] with its confidence in [0, 1] in brackets; composite = confidence-weighted mean "
             "(weights: " + ", ".join(f"{f} {section['weights'].get(f, 0):g}" for f in factors) + ").", "",
             "| symbol | composite | " + " | ".join(factors) + " |",
             "|---|---:|" + "---:|" * len(factors)]
    for symbol, row in section["symbols"].items():
        cells = [f"{row['factors'][f]['signal']:+.2f} ({row['factors'][f]['confidence']:.2f})"
                 if f in row["factors"] else "n/a" for f in factors]
        comp = row["composite"]
        lines.append(f"| {symbol} | {comp['signal']:+.2f} ({comp['confidence']:.2f}) | " + " | ".join(cells) + " |")
    return lines


def _model_lines(report: dict[str, Any]) -> list[str]:
    """Markdown of the 1.1 ``model`` block: calibration and reliability."""
    model = report.get("model")
    if not model:
        return []
    lines = ["", f"Components: {', '.join(model['components'])}. Trained on {model['n_train']:,} labelled bars "
             f"({model['train_start']} → {model['train_end']}); base rate {model['base_rate']:.3f}; "
             f"out-of-fold Brier {model['brier']} (base-rate forecast {model['brier_base_rate']}), "
             f"ECE {model['ece']}, AUC {model['oof_auc_ensemble']}.", "",
             "| predicted | n | mean predicted | observed |", "|---|---:|---:|---:|"]
    lines += [f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['n']} | {b['mean_p']:.3f} | {b['observed']:.3f} |"
              for b in model["reliability"]]
    return lines


def build_ensemble_report(
    ranking: Any,
    *,
    run_id: str,
    generated_at_ms: int,
    exchange: str,
    data: DataSummary,
    top_n: int,
    confidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The version 1.1 ``report.json`` of a :class:`pipelines.recommend.EnsembleRanking`.

    ``confidence`` is a :func:`pipelines.confidence.report_section` of the confidence matrix at the
    as-of bar; when given it is reported as ``confidence_matrix``.
    """
    report = build_report(ranking, run_id=run_id, generated_at_ms=generated_at_ms, exchange=exchange,
                          data=data, top_n=top_n)
    ens = ranking.model
    report["schema_version"] = ENSEMBLE_SCHEMA_VERSION
    report["method"] = {
        "name": "ensemble",
        "lookback_bars": ranking.lookback_bars,
        "weights": ranking.weights,
        "formula": "score = w_ens * robust_z(ensemble log-odds) + w_conf * 2 * confidence-matrix signal * "
        "confidence - w_vol * robust_z(volatility) + w_liq * robust_z(log10 dollar volume) - anomaly penalty; "
        "ensemble = logistic stacking of statistical score, XGBoost out-of-fold margin"
        + (" and sentiment" if ranking.sentiment_used else "") + " predicting P(ATR take-profit before stop)",
    }
    for item, r in zip(report["top"], ranking.ranked[:top_n], strict=True):
        item["factors"] = dict(r.factors)
        item["contributions"] = {k: round(v, 6) for k, v in r.contributions.items()}
    report["recommendations"] = [
        {"symbol": r.symbol, "rank": r.rank, "entry": r.entry, "stop": round(r.stop, 10),
         "target": round(r.target, 10), "atr": r.atr, "p_up": round(r.p_up, 6), "confidence": round(r.confidence, 6),
         "horizon_bars": r.horizon_bars, "expires_at": iso_ms(r.expires_ts), "reasons": r.reasons,
         "invalidation": r.invalidation, "anomaly": r.anomaly}
        for r in ranking.recommendations
    ]
    report["model"] = {
        "components": ["statistical", "xgboost"] + (["sentiment"] if ranking.sentiment_used else []),
        "n_train": ens.get("n_train", 0), "base_rate": ens.get("base_rate", 0.0),
        "train_start": iso_ms(ens["train_start_ts"]) if "train_start_ts" in ens else None,
        "train_end": iso_ms(ens["train_end_ts"]) if "train_end_ts" in ens else None,
        "oof_auc": ens.get("oof_auc", {}), "oof_auc_ensemble": ens.get("oof_auc_ensemble"),
        "brier": ens.get("brier"), "brier_base_rate": ens.get("brier_base_rate"), "ece": ens.get("ece"),
        "reliability": ens.get("reliability", []), "meta_coef": ens.get("meta_coef", {}),
    }
    report["notes"] = list(ranking.notes)
    report["sentiment_used"] = ranking.sentiment_used
    if confidence is not None:
        report["confidence_matrix"] = confidence
    report["disclaimer"] = ("Ensemble ranking for research; its measured out-of-sample edge is in docs/ranking.md. "
                            "Not investment advice.")
    return report


def write_report_files(report: dict[str, Any], reports_dir: Path,
                       formats: Sequence[str] = REPORT_FORMATS) -> dict[str, Path]:
    """Write ``<reports_dir>/<run_id>/report.<fmt>`` for each of ``formats`` (json, md, html)."""
    from serve.html_report import render_html

    unknown = sorted(set(formats) - set(REPORT_FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; use {', '.join(REPORT_FORMATS)}")
    out = reports_dir / report["run_id"]
    out.mkdir(parents=True, exist_ok=True)
    renderers = {"json": lambda r: json.dumps(r, indent=2) + "\n", "md": render_markdown, "html": render_html}
    paths: dict[str, Path] = {}
    for fmt in formats:
        paths[fmt] = out / f"report.{fmt}"
        paths[fmt].write_text(renderers[fmt](report))
    return paths


def write_report(report: dict[str, Any], reports_dir: Path) -> tuple[Path, Path]:
    """Write ``<reports_dir>/<run_id>/report.json`` and ``report.md``; return both paths."""
    out = reports_dir / report["run_id"]
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    md_path = out / "report.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
