"""A self-contained static `report.html` for one robot, written at the end of every run.

Summary table (run figures, unit NAV and its annualized return, and the strategy's own "Summary"
status table when it has one), every `Chart()` chart and the LogProfit curve drawn by the vendored
chart library (inlined: the file opens offline, no CDN), the last status tables and the newest log
rows. Figures come from `fmz_compat.charts`, the converter the dashboard uses too.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fmz_compat.api import parse_status
from fmz_compat.charts import figures_from_config, js_asset_text, profit_figure
from fmz_compat.run_stats import held_note, nav_text, stamp, summary_figures, valued_note
from fmz_compat.store import RobotStore
from hedge import figures
from hedge.store_keys import ACCOUNTING

NEWEST_LOG_ROWS = 200
DAY_MS = 86_400_000
_LOG_TYPE_NAMES = {0: "buy", 1: "sell", 2: "cancel", 3: "error", 4: "profit", 5: "info", 6: "restart"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2933;background:#f4f6f8}
header{background:#1f2d3d;color:#fff;padding:16px 28px}header h1{font-size:19px;margin:0 0 4px}
header p{margin:0;color:#c3cfdb;font-size:13px}main{padding:8px 28px 40px}
h2{font-size:15px;margin:26px 0 10px;color:#334e68;text-transform:uppercase;letter-spacing:.04em}
h3{font-size:14px;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border-radius:6px;padding:10px 16px;
box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:150px}.card b{display:block;font-size:20px;margin-top:2px}
.card span{font-size:12px;color:#627d98}.pos{color:#1e8e3e}.neg{color:#c0392b}
table{border-collapse:collapse;font-size:13px;margin:6px 0;background:#fff}
td,th{border:1px solid #d9e2ec;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f4f8;font-weight:600}.num{text-align:right}.err{color:#c0392b}
pre{background:#fff;border:1px solid #d9e2ec;padding:8px;white-space:pre-wrap;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.chart{background:#fff;border-radius:6px;
box-shadow:0 1px 2px rgba(0,0,0,.08);padding:6px;box-sizing:border-box}
pre.msg{margin:0;background:none;border:0;padding:0}
.tables{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
"""
_SCRIPT = """
(function(){
  var figures = JSON.parse(document.getElementById('figures').textContent);
  var charts = [];
  figures.forEach(function(fig, i){
    var el = document.getElementById('chart-' + i);
    if (!window.echarts || !el) return;
    delete fig._fmz;
    var chart = echarts.init(el, null, {renderer: 'canvas'});
    chart.setOption(fig);
    charts.push(chart);
  });
  window.addEventListener('resize', function(){ charts.forEach(function(c){ c.resize(); }); });
  document.body.setAttribute('data-charts-drawn', String(charts.length));
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def strategy_accounting(store: RobotStore) -> dict[str, Any] | None:
    """The strategy's own fund accounting (hedge/accounting.py keeps it in _G), when it has one: its
    unit NAV is flows-neutral (deposits and withdrawals mint and burn shares), unlike equity end / start."""
    state = store.kv_get(ACCOUNTING)
    try:
        while isinstance(state, str):
            state = json.loads(state)
    except ValueError:
        return None
    live = state.get("live") if isinstance(state, dict) else None
    if not isinstance(live, dict) or not state.get("inception_ms"):
        return None
    return {"unit_nav": str(live["nav"]), "inception_ms": int(state["inception_ms"]),
            "time_ms": int(live["t"]), "profit_usdt": str(live.get("pr", "0"))}


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
    return f"<div><h3>{_e(table.get('title', ''))}</h3><table><tr>{head}</tr>{rows}</table></div>"


def _status_parts(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    texts, tables = [], []
    for block in parse_status(text) if text else []:
        if block["kind"] == "text":
            texts.append(block["text"])
        else:
            tables.extend(block["tables"])
    return texts, tables


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    return summary_figures(run.get("stats") or {}, run.get("window"))


def _cards_html(run: dict[str, Any]) -> str:
    f = _figures(run)
    ann = f["annualized"]

    def card(label: str, value: str, sign: float | None = None) -> str:
        css = "" if sign is None else (" class='pos'" if sign > 0 else " class='neg'" if sign < 0 else "")
        return f"<div class='card'><span>{_e(label)}</span><b{css}>{_e(value)}</b></div>"

    label = figures.LABELS
    cards = [
        card(label["unit_nav"] if f["unit_nav_source"] != "equity end / start" else "equity end / start",
             nav_text(f)),
        card("annualized return", figures.pct(ann[0]) if ann else figures.UNDER_A_DAY,
             float(ann[0]) if ann else None),
        card("compounded", figures.pct(ann[1]) if ann else "n/a", float(ann[1]) if ann else None),
        card("profit, after fees and funding USDT", figures.usdt(f["profit_usdt"], signed=True),
             f["profit_usdt"]),
        card("volume USDT", f"{f['volume_usdt']:,.0f}"),
        card("fees USDT", figures.usdt(f["fees_usdt"])),
        card("funding USDT", figures.usdt(f["funding_usdt"], signed=True), f["funding_usdt"]),
        card("window", f"{f['days']:.1f} days"),
    ]
    return f"<div class='cards'>{''.join(cards)}</div>"


def _summary_html(run: dict[str, Any]) -> str:
    f = _figures(run)
    label = figures.LABELS
    config = run.get("config") or {}
    window = run.get("window") or {}
    rows = [
        ("robot", run.get("robot_id")),
        ("mode", config.get("mode")),
        ("strategy", config.get("strategy_path")),
        ("seed", config.get("seed")),
        ("window", f"{stamp(window.get('start_ms'))} -> {stamp(window.get('end_ms'))} UTC"),
        ("venues", ", ".join(f"{b['eid']}({b['currency']})" for b in config.get("bindings") or [])),
        ("ended by", f"{run.get('ended_by')} (exit {run.get('exit_code')})"),
        ("trades", f["trades"]),
        (label["volume"], f"{f['volume_usdt']:,.2f}"),
        (label["pnl_before_fees"], figures.usdt(f["pnl_before_fees_usdt"], signed=True)),
        (label["fees"], figures.usdt(f["fees_usdt"])),
        (label["pnl_after_fees"], figures.usdt(f["pnl_after_fees_usdt"], signed=True)),
        (label["funding"], figures.usdt(f["funding_usdt"], signed=True)),
        (label["profit"], figures.usdt(f["profit_usdt"], signed=True) + valued_note(f)),
        ("equity USDT", f"{f['equity_start_usdt']:,.2f} -> {f['equity_end_usdt']:,.2f}{held_note(f)}"),
        (f"{label['unit_nav']} ({f['unit_nav_source']})", nav_text(f)),
        (label["annualized"], figures.annualized_text(f["annualized"])),
        ("liquidations", f["liquidations"]),
        (label["exposure_held"],
         f"{figures.usdt(f['max_abs_net_exposure_usdt'])} {f['max_abs_net_exposure_at']}"),
        (label["exposure_between_legs"],
         f"{figures.usdt(f['between_legs_usdt'])} ({f['between_legs_count']} times) {f['between_legs_at']}"),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    out = f"<div><h3>Run (simulator figures)</h3><table>{body}</table></div>"
    venues = (run.get("stats") or {}).get("venues") or {}
    if venues:
        found = {k for v in venues.values() if isinstance(v, dict) for k in v}
        keys = [k for k in _VENUE_COLUMNS if k in found] + sorted(found - set(_VENUE_COLUMNS))
        head = "".join(f"<th>{_e(_column_name(k))}</th>" for k in keys)
        vrows = "".join(
            f"<tr><th>{_e(name)}</th>"
            + "".join(f"<td class='num'>{_e(_cell_text(v.get(k, '')))}</td>" for k in keys)
            + "</tr>"
            for name, v in venues.items()
            if isinstance(v, dict)
        )
        out += f"<div><h3>By venue</h3><table><tr><th>venue</th>{head}</tr>{vrows}</table></div>"
    return out


_VENUE_COLUMNS = ("trades", "volume_usdt", "realized_pnl_usdt", "fees_usdt", "funding_usdt",
                  "equity_start_usdt", "equity_end_usdt", "liquidations")


def _column_name(key: str) -> str:
    """equity_end_usdt -> equity end (USDT); realized PnL is the run summary's trading PnL before fees."""
    names = {"realized_pnl_usdt": figures.LABELS["pnl_before_fees"]}
    if key in names:
        return names[key]
    return key.removesuffix("_usdt").replace("_", " ") + (" (USDT)" if key.endswith("_usdt") else "")


def _cell_text(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _log_row_html(row: dict[str, Any]) -> str:
    css = " class='err'" if row["LogType"] == 3 else ""
    colour = f" style='color:{_e(row['Color'])}'" if row["Color"] else ""
    eid = "" if row["Eid"] is None else row["Eid"]
    return (
        f"<tr{css}><td>{_e(stamp(row['Date']))}</td>"
        f"<td>{_e(_LOG_TYPE_NAMES.get(row['LogType'], row['LogType']))}</td><td>{_e(eid)}</td>"
        f"<td class='num'>{_e(row['Price'] or '')}</td><td class='num'>{_e(row['Amount'] or '')}</td>"
        f"<td{colour}><pre class='msg'>{_e(row['Extra'])}</pre></td></tr>"
    )


def _stack_columns(chart: Any, figure: dict[str, Any]) -> None:
    """Highcharts `plotOptions.column.stacking` (or `series.stacking`) -> stacked bars."""
    options = (chart.get("plotOptions") or {}) if isinstance(chart, dict) else {}
    stacking = any((options.get(k) or {}).get("stacking") for k in ("column", "series", "bar"))
    if stacking:
        for series in figure.get("series") or []:
            if series.get("type") == "bar":
                series["stack"] = "total"


def chart_figures(store: RobotStore) -> list[dict[str, Any]]:
    """The strategy's Chart() charts, then the LogProfit curve, as chart-library figures."""
    config = store.chart_config()
    figures = figures_from_config(config, store.chart_points()) if config else []
    for chart, figure in zip(config if isinstance(config, list) else [config], figures, strict=False):
        _stack_columns(chart, figure)
    profits = store.profits()
    if profits:
        figures.append(profit_figure(profits))
    return figures


def _alerts_html(robot_dir: Path) -> str:
    """Every alert the run pushed (Log("...@") in paper and live) and what became of it."""
    from fmz_compat.alerts import read_alerts

    rows = read_alerts(robot_dir)
    if not rows:
        return ""
    body = "".join(f"<tr><td>{_e(stamp(r.get('time_ms')))}</td><td><pre class='msg'>{_e(r.get('text', ''))}"
                   f"</pre></td><td>{_e(r.get('outcome', ''))}</td></tr>" for r in rows)
    return (f"<h2>Alerts ({len(rows)})</h2><table><tr><th>time (UTC)</th><th>alert</th><th>delivery</th></tr>"
            f"{body}</table>")


def render_report(store: RobotStore, run: dict[str, Any], *, inline_js: bool = True) -> str:
    chart_figs = chart_figures(store)
    texts, tables = _status_parts(store.status())
    summary = [t for t in tables if str(t.get("title", "")).lower() == "summary"]
    others = [t for t in tables if t not in summary]
    logs = store.logs(limit=NEWEST_LOG_ROWS)
    total_logs = store.count_logs()
    charts = "".join(
        f"<div class='chart' id='chart-{i}' style='width:{100 * f['_fmz']['col'] / 12 - 1:.2f}%;"
        f"min-width:420px;height:{f['_fmz']['height']}px'></div>"
        for i, f in enumerate(chart_figs)
    )
    config = run.get("config") or {}
    js = f"<script>{js_asset_text()}</script>" if inline_js else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>robot {_e(run.get('robot_id'))} report</title><style>{_CSS}</style>{js}</head><body>"
        f"<header><h1>Robot {_e(run.get('robot_id'))}: {_e(config.get('strategy_path', ''))}</h1>"
        f"<p>{_e(config.get('mode', ''))} · seed {_e(config.get('seed', ''))} · "
        f"{_e(run.get('ended_by', ''))}</p></header><main>"
        f"<h2>Summary</h2>{_cards_html(run)}"
        f"<div class='tables'>{''.join(_table_html(t) for t in summary)}{_summary_html(run)}</div>"
        f"{_alerts_html(Path(store.path).parent)}"
        f"<h2>Charts</h2><div class='grid'>{charts or '<p>(no charts)</p>'}</div>"
        f"<h2>Status (last LogStatus)</h2>{''.join(f'<pre>{_e(t)}</pre>' for t in texts)}"
        f"<div class='tables'>{''.join(_table_html(t) for t in others)}</div>"
        f"<h2>Log (newest {min(NEWEST_LOG_ROWS, total_logs)} of {total_logs})</h2>"
        "<table><tr><th>time (UTC)</th><th>type</th><th>exchange</th><th>price</th><th>amount</th>"
        f"<th>message</th></tr>{''.join(_log_row_html(r) for r in logs)}</table>"
        f"<h2>run.json</h2><pre>{_e(json.dumps(config, indent=1))}</pre></main>"
        f"<script type='application/json' id='figures'>{_script_json(chart_figs)}</script>"
        f"<script>{_SCRIPT}</script></body></html>"
    )


def write_report(path: Path, store: RobotStore, run: dict[str, Any]) -> None:
    path.write_text(render_report(store, run), encoding="utf-8")
