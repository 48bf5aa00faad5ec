"""Render a ``report.json`` document as one self-contained HTML page with inline SVG charts."""

from __future__ import annotations

import html
from typing import Any

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}h1{font-size:20px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px}
th{background:#f4f4f4}td.n{text-align:right}svg{background:#fcfcfc;border:1px solid #eee;margin:8px 0}
.note{color:#555;font-size:13px}"""
_COLORS = ("#2b6cb0", "#38a169", "#d69e2e", "#805ad5", "#e53e3e", "#319795", "#718096")


def _e(value: object) -> str:
    return html.escape(str(value))


def score_chart(top: list[dict[str, Any]], *, width: int = 760, row_h: int = 22) -> str:
    """Horizontal stacked bars: each symbol's contributions (positive right, negative left of zero)."""
    if not top:
        return ""
    names = sorted({k for item in top for k in item["contributions"]})
    span = max(max(sum(v for v in i["contributions"].values() if v > 0),
                   -sum(v for v in i["contributions"].values() if v < 0)) for i in top) or 1.0
    mid, label_w = width / 2 + 60, 120
    scale = (width / 2 - 70) / span
    height = row_h * len(top) + 40
    parts = [f'<svg width="{width + 120}" height="{height}" role="img" aria-label="score contributions">',
             f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height - 30}" stroke="#999"/>']
    for r, item in enumerate(top):
        y = 8 + r * row_h
        parts.append(f'<text x="4" y="{y + 13}" font-size="12">{_e(item["symbol"])}</text>')
        pos, neg = mid, mid
        for c, name in enumerate(names):
            v = float(item["contributions"].get(name, 0.0))
            w = abs(v) * scale
            x = pos if v >= 0 else neg - w
            if v >= 0:
                pos += w
            else:
                neg -= w
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{_COLORS[c % len(_COLORS)]}"><title>{_e(name)} {v:+.3f}</title></rect>')
        parts.append(f'<text x="{label_w + width - 40}" y="{y + 13}" font-size="11">{item["score"]:+.2f}</text>')
    legend_y = height - 12
    for c, name in enumerate(names):
        parts.append(f'<rect x="{10 + c * 130}" y="{legend_y - 9}" width="10" height="10" '
                     f'fill="{_COLORS[c % len(_COLORS)]}"/><text x="{24 + c * 130}" y="{legend_y}" '
                     f'font-size="11">{_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def reliability_chart(bins: list[dict[str, Any]], *, size: int = 260) -> str:
    """Reliability diagram: observed frequency against mean predicted probability, with the diagonal."""
    if not bins:
        return ""
    pad = 30
    inner = size - 2 * pad

    def xy(p: float, o: float) -> tuple[float, float]:
        return pad + p * inner, size - pad - o * inner

    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(x["mean_p"], x["observed"]) for x in bins))
    centres = [(xy(x["mean_p"], x["observed"]), x["n"]) for x in bins]
    dots = "".join(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="#2b6cb0"><title>n={n}</title></circle>'
                   for (cx, cy), n in centres)
    x0, y0 = xy(0, 0)
    x1, y1 = xy(1, 1)
    return (f'<svg width="{size}" height="{size}" role="img" aria-label="reliability diagram">'
            f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4"/>'
            f'<polyline fill="none" stroke="#2b6cb0" points="{pts}"/>{dots}'
            f'<text x="{pad}" y="{size - 8}" font-size="11">mean predicted</text>'
            f'<text x="2" y="14" font-size="11">observed</text></svg>')


def render_html(report: dict[str, Any]) -> str:
    """The whole page: header, contributions chart, Top-N table, recommendations, method and reliability."""
    rows = "".join(
        f"<tr><td class=n>{i['rank']}</td><td>{_e(i['symbol'])}</td><td class=n>{i['score']:+.2f}</td>"
        f"<td class=n>{i['factors']['momentum'] * 100:+.2f}%</td>"
        f"<td class=n>{i['factors']['volatility'] * 100:.1f}%</td>"
        f"<td>{_e(i['rationale'])}</td></tr>" for i in report["top"])
    recs = report.get("recommendations")
    rec_html = ""
    if recs is not None:
        rec_rows = "".join(
            f"<tr><td class=n>{r['rank']}</td><td>{_e(r['symbol'])}</td><td class=n>{r['entry']:,.6g}</td>"
            f"<td class=n>{r['stop']:,.6g}</td><td class=n>{r['target']:,.6g}</td><td class=n>{r['p_up']:.3f}</td>"
            f"<td>{_e('; '.join(x['text'] for x in r['reasons']))}</td><td>{_e('; '.join(r['invalidation']))}</td></tr>"
            for r in recs)
        rec_html = ("<h2>Buy recommendations</h2><table><tr><th>rank</th><th>symbol</th><th>entry</th><th>stop</th>"
                    "<th>target</th><th>P(target first)</th><th>reasons</th><th>invalidated by</th></tr>"
                    f"{rec_rows}</table>" + "".join(f"<p class=note>{_e(n)}</p>" for n in report.get("notes", [])))
    model = report.get("model") or {}
    model_html = ""
    if model:
        model_html = (f"<h2>Calibration (out-of-fold)</h2><p class=note>Brier {model['brier']} vs base-rate forecast "
                      f"{model['brier_base_rate']}; ECE {model['ece']}; AUC {model['oof_auc_ensemble']}.</p>"
                      + reliability_chart(model.get("reliability", [])))
    excluded = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in sorted(report["excluded"].items()))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>coinray report {_e(report['run_id'])}</title>"
            f"<style>{_CSS}</style></head><body><h1>coinray report {_e(report['run_id'])}</h1>"
            f"<p>Generated {_e(report['generated_at'])} · timeframe <b>{_e(report['timeframe'])}</b> · exchange "
            f"<b>{_e(report['exchange'])}</b> · as of <b>{_e(report['as_of'])}</b> · "
            f"{len(report['data']['symbols'])} symbols, {report['data']['candles']:,} candles</p>"
            f"<h2>Top {len(report['top'])} of {report['ranked']}</h2>{score_chart(report['top'])}"
            f"<table><tr><th>rank</th><th>symbol</th><th>score</th><th>momentum</th><th>volatility</th>"
            f"<th>rationale</th></tr>{rows}</table>{rec_html}"
            + (f"<h2>Not ranked</h2><ul>{excluded}</ul>" if excluded else "")
            + f"<h2>Method</h2><p class=note>{_e(report['method']['formula'])}</p>{model_html}"
            f"<p><i>{_e(report['disclaimer'])}</i></p></body></html>\n")
