"""A self-contained static `report.html` for one robot: no network, no JavaScript, SVG drawn here."""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

from fmz_compat.api import parse_status
from fmz_compat.store import RobotStore

NEWEST_LOG_ROWS = 200
_LOG_TYPE_NAMES = {0: "buy", 1: "sell", 2: "cancel", 3: "error", 4: "profit", 5: "info", 6: "restart"}
_PALETTE = ("#2f7ed8", "#d9534f", "#5cb85c", "#f0ad4e", "#8e44ad", "#16a085", "#7f8c8d")
_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.num{text-align:right}.err{color:#c0392b}
pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}
svg{background:#fff;border:1px solid #ddd}.legend span{margin-right:12px;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _stamp(ms: int | None) -> str:
    if ms is None:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def svg_lines(
    series: list[tuple[str, list[tuple[float, float]]]], width: int = 900, height: int = 260
) -> str:
    """A line chart of (name, [(x, y), ...]) series as inline SVG with min/max labels."""
    points = [p for _, pts in series for p in pts]
    if not points:
        return "<p>(no points)</p>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    pad = 40

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append(
        f'<text x="4" y="{pad}" font-size="11">{y1:.6g}</text>'
        f'<text x="4" y="{height - pad}" font-size="11">{y0:.6g}</text>'
    )
    if x0 > 1e11:  # epoch ms axis
        parts.append(
            f'<text x="{pad}" y="{height - 10}" font-size="11">{_e(_stamp(int(x0)))}</text>'
            f'<text x="{width - pad - 120}" y="{height - 10}" font-size="11">{_e(_stamp(int(x1)))}</text>'
        )
    legend = []
    for i, (name, pts) in enumerate(series):
        colour = _PALETTE[i % len(_PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        legend.append(f'<span style="color:{colour}">&#9632; {_e(name)}</span>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _chart_series_names(config: Any) -> list[tuple[str, str]]:
    """(chart title, series name) per global series index, across a list of chart configs."""
    configs = config if isinstance(config, list) else [config] if isinstance(config, dict) else []
    names = []
    for chart in configs:
        title = (
            (chart.get("title") or {}).get("text")
            if isinstance(chart.get("title"), dict)
            else chart.get("title")
        ) or "Chart"
        for series in chart.get("series") or []:
            names.append((str(title), str((series or {}).get("name", f"series {len(names)}"))))
    return names


def _xy(point: Any, fallback_x: float) -> tuple[float, float] | None:
    if isinstance(point, (list, tuple)) and len(point) >= 2:
        x, y = point[0], point[-1] if len(point) == 2 else point[4] if len(point) >= 5 else point[1]
    elif isinstance(point, dict):
        x, y = point.get("x", fallback_x), point.get("y", point.get("close"))
    else:
        x, y = fallback_x, point
    try:
        return float(x), float(y)
    except (TypeError, ValueError):
        return None


def _charts_html(store: RobotStore) -> str:
    names = _chart_series_names(store.chart_config())
    points = store.chart_points()
    if not points:
        return "<p>(no Chart() data)</p>"
    by_title: dict[str, list[tuple[str, list[tuple[float, float]]]]] = {}
    for seq in sorted(points):
        title, name = names[seq] if seq < len(names) else ("Chart", f"series {seq}")
        xy = [p for i, raw in enumerate(points[seq]) if (p := _xy(raw, i)) is not None]
        by_title.setdefault(title, []).append((name, xy))
    return "".join(f"<h3>{_e(title)}</h3>{svg_lines(series)}" for title, series in by_title.items())


def _table_html(table: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, dict):
            if value.get("type") == "button":
                return f"<td>[{_e(value.get('name', value.get('cmd', 'button')))}]</td>"
            span = "".join(f' {k}="{int(value[k])}"' for k in ("colspan", "rowspan") if k in value)
            return f"<td{span}>{_e(value.get('body', ''))}</td>"
        if isinstance(value, list):
            return "<td>" + " ".join(cell(v)[4:-5] for v in value) + "</td>"
        return f"<td>{_e(value)}</td>"

    head = "".join(f"<th>{_e(c)}</th>" for c in table.get("cols") or [])
    rows = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in table.get("rows") or [])
    return f"<h3>{_e(table.get('title', ''))}</h3><table><tr>{head}</tr>{rows}</table>"


def _status_html(text: str) -> str:
    if not text:
        return "<p>(no LogStatus)</p>"
    out = []
    for block in parse_status(text):
        if block["kind"] == "text":
            out.append(f"<pre>{_e(block['text'])}</pre>")
        else:
            out.extend(_table_html(t) for t in block["tables"])
    return "".join(out)


def _summary_html(run: dict[str, Any]) -> str:
    from fmz_compat.runner import summary_figures

    f = summary_figures(run.get("stats") or {})
    config = run.get("config") or {}
    window = run.get("window") or {}
    rows = [
        ("robot", run.get("robot_id")),
        ("mode", config.get("mode")),
        ("strategy", config.get("strategy_path")),
        ("seed", config.get("seed")),
        ("window", f"{_stamp(window.get('start_ms'))} -> {_stamp(window.get('end_ms'))} UTC"),
        ("venues", ", ".join(f"{b['eid']}({b['currency']})" for b in config.get("bindings") or [])),
        ("ended by", f"{run.get('ended_by')} (exit {run.get('exit_code')})"),
        ("trades", f["trades"]),
        ("volume USDT", f"{f['volume_usdt']:,.2f}"),
        ("fees USDT", f"{f['fees_usdt']:,.2f}"),
        ("funding USDT", f"{f['funding_usdt']:,.2f}"),
        ("realized PnL USDT", f"{f['realized_pnl_usdt']:,.2f}"),
        ("equity USDT", f"{f['equity_start_usdt']:,.2f} -> {f['equity_end_usdt']:,.2f}"),
        ("unit NAV", f"{f['unit_nav']:.6f}" if f["unit_nav"] is not None else "n/a"),
        ("liquidations", f["liquidations"]),
        ("max |net exposure| USDT", f"{f['max_abs_net_exposure_usdt']:,.2f} {f['max_abs_net_exposure_at']}"),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    venues = (run.get("stats") or {}).get("venues") or {}
    if venues:
        keys = sorted({k for v in venues.values() if isinstance(v, dict) for k in v})
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        vrows = "".join(
            f"<tr><th>{_e(name)}</th>"
            + "".join(f"<td class='num'>{_e(v.get(k, ''))}</td>" for k in keys)
            + "</tr>"
            for name, v in venues.items()
            if isinstance(v, dict)
        )
        body += f"</table><table><tr><th>venue</th>{head}</tr>{vrows}"
    return f"<table>{body}</table>"


def _log_row_html(row: dict[str, Any]) -> str:
    css = " class='err'" if row["LogType"] == 3 else ""
    colour = f" style='color:{_e(row['Color'])}'" if row["Color"] else ""
    eid = "" if row["Eid"] is None else row["Eid"]
    return (
        f"<tr{css}><td>{_e(_stamp(row['Date']))}</td>"
        f"<td>{_e(_LOG_TYPE_NAMES.get(row['LogType'], row['LogType']))}</td><td>{_e(eid)}</td>"
        f"<td class='num'>{_e(row['Price'] or '')}</td><td class='num'>{_e(row['Amount'] or '')}</td>"
        f"<td{colour}><pre style='margin:0;background:none;padding:0'>{_e(row['Extra'])}</pre></td></tr>"
    )


def render_report(store: RobotStore, run: dict[str, Any]) -> str:
    profits = store.profits()
    logs = store.logs(limit=NEWEST_LOG_ROWS)
    log_rows = "".join(_log_row_html(r) for r in logs)
    total_logs = store.count_logs()
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>robot {_e(run.get('robot_id'))} report</title><style>{_CSS}</style></head><body>"
        f"<h1>Robot {_e(run.get('robot_id'))}: {_e((run.get('config') or {}).get('strategy_path', ''))}</h1>"
        f"<h2>Summary</h2>{_summary_html(run)}"
        f"<h2>Profit (LogProfit)</h2>{svg_lines([('profit', [(float(t), p) for t, p in profits])])}"
        f"<h2>Charts</h2>{_charts_html(store)}"
        f"<h2>Status (last LogStatus)</h2>{_status_html(store.status())}"
        f"<h2>Log (newest {min(NEWEST_LOG_ROWS, total_logs)} of {total_logs})</h2>"
        "<table><tr><th>time (UTC)</th><th>type</th><th>exchange</th><th>price</th><th>amount</th>"
        f"<th>message</th></tr>{log_rows}</table>"
        f"<h2>run.json</h2><pre>{_e(json.dumps(run.get('config'), indent=1))}</pre>"
        "</body></html>"
    )


def write_report(path: Path, store: RobotStore, run: dict[str, Any]) -> None:
    path.write_text(render_report(store, run), encoding="utf-8")
