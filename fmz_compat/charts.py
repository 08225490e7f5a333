"""FMZ `Chart()` options (Highcharts/Highstock) plus stored points -> Apache ECharts option JSON.

FMZ draws charts with Highcharts, whose licence is not free for commercial use; the robot page and
report.html draw them with ECharts (Apache-2.0), vendored at `JS_ASSET`, from the figure JSON made
here. Only plain JSON comes out (no JavaScript functions), so a figure can be served by the dashboard,
embedded in a static HTML file, or compared in a test.

Public interface (stable; the dashboard and report.html both use it):
  figure_from_chart(config, series_points, max_points=2000) -> dict
      One chart: `config` is one Highcharts options dict, `series_points` maps the chart's own series
      index (0, 1, ...) to the points added with `chart.add(i, point)`; they follow the series'
      `data` given in the config. Long series are aggregated on the server (see `downsample`).
  figures_from_config(config, series_points, max_points=2000) -> list[dict]
      What `Chart(cfg | [cfg, ...])` stored: a list of charts whose series indices run across the list
      (FMZ's rule), split and converted one by one. Each figure carries `_fmz: {layout, col, height}`.
  profit_figure(profits, max_points=2000) -> dict
      The LogProfit curve from `RobotStore.profits()` [(time_ms, profit), ...].
  downsample(points, max_points) -> list
      Min/max per bucket, first and last kept: a year of minute points stays responsive and keeps
      its spikes.
  JS_ASSET (Path of echarts.min.js), JS_URL (where the dashboard serves it), js_asset_text()

Supported subset: title/subtitle, xAxis datetime/category/linear (+ plotLines), one or several yAxis
(title, opposite, min/max, plotLines), series types line, spline, step lines, area, areaspline,
column, bar, scatter, candlestick/ohlc, pie and flags; per-series name, color, yAxis, dashStyle,
visible, lineWidth, marker; points as y, [x, y], [x, o, h, l, c] or {x, y, ...}; `__isStock` (a
range zoom bar), legend, tooltip. Anything else is ignored rather than refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

JS_ASSET = Path(__file__).resolve().parent / "dashboard" / "static" / "echarts.min.js"
JS_URL = "/static/echarts.min.js"
DEFAULT_MAX_POINTS = 2000
PALETTE = ("#2f7ed8", "#d9534f", "#5cb85c", "#f0ad4e", "#8e44ad", "#16a085", "#7f8c8d", "#c0392b")
_OHLC_TYPES = {"candlestick", "ohlc"}
_DASH = {"dash": "dashed", "shortdash": "dashed", "longdash": "dashed", "dot": "dotted",
         "shortdot": "dotted", "dashdot": "dashed", "longdashdot": "dashed"}


def js_asset_text() -> str:
    """The chart library's source, for a self-contained HTML file."""
    return JS_ASSET.read_text(encoding="utf-8")


# --- points ---
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def normalize_point(point: Any, index: int, start: float = 0, interval: float = 1,
                    ohlc: bool = False) -> list[Any] | None:
    """One Highcharts point -> [x, y] (or [x, o, h, l, c]); None for a point that cannot be drawn.

    y may be None (a gap). A bare number gets x = start + index * interval, as Highcharts does."""
    default_x = start + index * interval
    if isinstance(point, dict):
        x = _number(point.get("x"))
        x = default_x if x is None else x
        if ohlc:
            values = [_number(point.get(k)) for k in ("open", "high", "low", "close")]
            return None if None in values else [x, *values]
        return [x, _number(point.get("y"))]
    if isinstance(point, (list, tuple)):
        if not point:
            return None
        if ohlc:
            values = [_number(v) for v in point[-4:]]
            x = _number(point[0]) if len(point) >= 5 else default_x
            return None if None in values or x is None else [x, *values]
        if len(point) == 1:
            return [default_x, _number(point[0])]
        x = _number(point[0])
        return None if x is None else [x, _number(point[1])]
    if point is None:
        return [default_x, None]
    y = _number(point)
    return None if y is None else [default_x, y]


def downsample(points: list[list[Any]], max_points: int = DEFAULT_MAX_POINTS) -> list[list[Any]]:
    """At most `max_points` points: per bucket the lowest and the highest y in time order (candles are
    merged to one bar per bucket); the first and last points always stay. Gaps (y None) stay.
    A `max_points` below 5 counts as 5; 0 or less means no limit."""
    if max_points <= 0 or len(points) <= max(5, max_points):
        return list(points)
    max_points = max(5, max_points)
    if points and len(points[0]) == 5:
        return _merge_candles(points, max_points)
    buckets = max(1, (max_points - 2) // 3)  # up to 3 points a bucket: low, high, one gap
    inner = points[1:-1]
    size = len(inner) / buckets
    out = [points[0]]
    for b in range(buckets):
        chunk = inner[int(b * size):int((b + 1) * size)]
        drawn = [p for p in chunk if p[1] is not None]
        keep = {}
        if len(drawn) < len(chunk):  # keep one gap so the line breaks where the data did
            gap = next(p for p in chunk if p[1] is None)
            keep[id(gap)] = gap
        if drawn:
            for p in (min(drawn, key=lambda p: p[1]), max(drawn, key=lambda p: p[1])):
                keep[id(p)] = p
        out.extend(sorted(keep.values(), key=lambda p: p[0]))
    out.append(points[-1])
    return out


def _merge_candles(points: list[list[Any]], max_points: int) -> list[list[Any]]:
    size = len(points) / max_points
    out = []
    for b in range(max_points):
        chunk = points[int(b * size):int((b + 1) * size)]
        if chunk:
            out.append([chunk[0][0], chunk[0][1], max(p[2] for p in chunk), min(p[3] for p in chunk),
                        chunk[-1][4]])
    return out


# --- options ---
def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("text")
    return "" if value is None else str(value)


def _plot_lines(axis: dict[str, Any], on: str) -> list[dict[str, Any]]:
    lines = []
    for line in _as_list(axis.get("plotLines")):
        if isinstance(line, dict) and _number(line.get("value")) is not None:
            name = _text(line.get("label"))
            entry: dict[str, Any] = {on: line["value"], "name": name,
                                     "label": {"show": bool(name), "formatter": name}}
            style: dict[str, Any] = {"color": line.get("color") or "#999"}
            if line.get("dashStyle"):
                style["type"] = _DASH.get(str(line["dashStyle"]).lower(), "solid")
            entry["lineStyle"] = style
            lines.append(entry)
    return lines


def _x_axis(config: dict[str, Any], points_are_time: bool) -> dict[str, Any]:
    axis = (_as_list(config.get("xAxis")) or [{}])[0]
    axis = axis if isinstance(axis, dict) else {}
    kind = str(axis.get("type") or "").lower()
    out: dict[str, Any] = {"name": _text(axis.get("title")), "nameLocation": "middle", "nameGap": 28}
    if axis.get("categories"):
        out.update(type="category", data=[str(c) for c in axis["categories"]])
    elif kind == "datetime" or (not kind and (config.get("__isStock", True) or points_are_time)):
        out.update(type="time")
    elif kind == "logarithmic":
        out.update(type="log", scale=True)
    else:
        out.update(type="value", scale=True)
    return out


def _y_axes(config: dict[str, Any]) -> list[dict[str, Any]]:
    axes = [a if isinstance(a, dict) else {} for a in _as_list(config.get("yAxis"))] or [{}]
    out = []
    left = right = 0
    for axis in axes:
        opposite = bool(axis.get("opposite"))
        side = right if opposite else left
        entry: dict[str, Any] = {
            "type": "log" if str(axis.get("type", "")).lower() == "logarithmic" else "value",
            "scale": True, "name": _text(axis.get("title")), "position": "right" if opposite else "left",
            "offset": side * 64, "splitLine": {"show": len(out) == 0},
        }
        for key in ("min", "max"):
            if _number(axis.get(key)) is not None:
                entry[key] = axis[key]
        out.append(entry)
        if opposite:
            right += 1
        else:
            left += 1
    return out


def _series_type(series: dict[str, Any], chart_type: str) -> str:
    return str(series.get("type") or chart_type or "line").lower()


def _series_points(series: dict[str, Any], extra: list[Any], kind: str) -> list[list[Any]]:
    start = _number(series.get("pointStart")) or 0
    interval = _number(series.get("pointInterval")) or 1
    ohlc = kind in _OHLC_TYPES
    out = []
    for i, point in enumerate([*_as_list(series.get("data")), *extra]):
        normal = normalize_point(point, i, start, interval, ohlc)
        if normal is not None:
            out.append(normal)
    return out


def _flag_points(series: dict[str, Any], extra: list[Any]) -> list[dict[str, Any]]:
    flags = []
    for point in [*_as_list(series.get("data")), *extra]:
        if isinstance(point, dict) and _number(point.get("x")) is not None:
            flags.append({"x": point["x"], "title": str(point.get("title", "")),
                          "text": str(point.get("text", ""))})
    return flags


def _convert_series(series: dict[str, Any], extra: list[Any], chart_type: str, index: int,
                    axis_count: int, max_points: int) -> dict[str, Any]:
    kind = _series_type(series, chart_type)
    colour = series.get("color") or PALETTE[index % len(PALETTE)]
    y_index = series.get("yAxis", 0)
    y_index = y_index if isinstance(y_index, int) and 0 <= y_index < axis_count else 0
    out: dict[str, Any] = {"name": str(series.get("name") or f"Series {index + 1}"), "yAxisIndex": y_index,
                           "itemStyle": {"color": colour}}
    if kind == "pie":
        out.update(type="pie", data=_pie_points(series, extra), radius="60%")
        del out["yAxisIndex"], out["itemStyle"]
        return out
    if kind == "flags":  # Highstock flags -> labelled vertical marker lines
        flags = _flag_points(series, extra)
        out.update(type="line", data=[], markLine={"symbol": "none", "data": [
            {"xAxis": f["x"], "name": f["text"] or f["title"],
             "label": {"formatter": f["title"], "position": "end"},
             "lineStyle": {"color": colour, "type": "dashed"}} for f in flags]})
        return out
    points = downsample(_series_points(series, extra, kind), max_points)
    out["data"] = points
    if kind in _OHLC_TYPES:
        # ECharts candle order is [x, open, close, low, high]
        out.update(type="candlestick", data=[[p[0], p[1], p[4], p[3], p[2]] for p in points],
                   itemStyle={"color": "#d9534f", "color0": "#5cb85c", "borderColor": "#d9534f",
                              "borderColor0": "#5cb85c"})
        return out
    if kind in ("column", "bar"):
        out.update(type="bar", barMaxWidth=24)
        return out
    if kind == "scatter":
        out.update(type="scatter", symbolSize=6)
        return out
    _line_series(out, series, kind, colour, len(points))
    return out


def _pie_points(series: dict[str, Any], extra: list[Any]) -> list[dict[str, Any]]:
    """A pie's slices: {name, y} dicts, [name, y] pairs or bare numbers (named by their index)."""
    data = []
    for i, point in enumerate([*_as_list(series.get("data")), *extra]):
        if isinstance(point, dict):
            name, value = point.get("name", f"{i}"), _number(point.get("y"))
        elif isinstance(point, (list, tuple)) and len(point) >= 2:
            name, value = point[0], _number(point[1])
        else:
            name, value = f"{i}", _number(point)
        if value is not None:
            data.append({"name": str(name), "value": value})
    return data


def _line_series(out: dict[str, Any], series: dict[str, Any], kind: str, colour: Any, count: int) -> None:
    """A line-like series' style (line, spline, area, areaspline, arearange, step) into `out`."""
    marker = series.get("marker") if isinstance(series.get("marker"), dict) else {}
    out.update(type="line", showSymbol=bool(marker.get("enabled", False)), connectNulls=False,
               lineStyle={"width": _number(series.get("lineWidth")) or 1.5, "color": colour})
    if series.get("dashStyle"):
        out["lineStyle"]["type"] = _DASH.get(str(series["dashStyle"]).lower(), "solid")
    if kind in ("spline", "areaspline"):
        out["smooth"] = True
    if series.get("step"):
        step = str(series["step"]).lower()
        out["step"] = step if step in ("start", "middle", "end") else "start"
    if kind in ("area", "areaspline", "arearange"):
        out["areaStyle"] = {"opacity": 0.2}
    if count > 5000:
        out["sampling"] = "lttb"


def figure_from_chart(config: dict[str, Any], series_points: dict[int, list[Any]] | None = None,
                      max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """One Highcharts options dict plus its added points (by the chart's own series index) -> an
    ECharts option dict (plain JSON). See the module docstring for the supported subset."""
    config = config if isinstance(config, dict) else {}
    series_points = series_points or {}
    chart = config.get("chart") if isinstance(config.get("chart"), dict) else {}
    chart_type = str(chart.get("type") or "line")
    series_cfg = [s if isinstance(s, dict) else {} for s in _as_list(config.get("series"))]
    for extra_index in sorted(i for i in series_points if i >= len(series_cfg)):
        while len(series_cfg) <= extra_index:  # points added to a series the config never declared
            series_cfg.append({"name": f"Series {len(series_cfg) + 1}"})
    y_axes = _y_axes(config)
    converted = [_convert_series(s, list(series_points.get(i, [])), chart_type, i, len(y_axes), max_points)
                 for i, s in enumerate(series_cfg)]
    _apply_stacking(config, series_cfg, converted, chart_type)
    for s in converted:  # bars are read from zero: their axis must not zoom to the data range
        if s.get("type") == "bar" and "min" not in y_axes[s["yAxisIndex"]]:
            y_axes[s["yAxisIndex"]]["scale"] = False
    first_x = next((s["data"][0][0] for s in converted if s.get("type") not in ("pie",) and s.get("data")
                    and isinstance(s["data"][0], list)), None)
    points_are_time = first_x is not None and first_x > 1e11
    title = {"text": _text(config.get("title")), "subtext": _text(config.get("subtitle")),
             "left": "center", "textStyle": {"fontSize": 14}}
    figure: dict[str, Any] = {"animation": False, "title": title, "series": converted,
                              "color": list(PALETTE), "_fmz": _layout(config)}
    legend = config.get("legend") if isinstance(config.get("legend"), dict) else {}
    show_legend = legend.get("enabled", len(converted) > 1 or any(s["type"] == "pie" for s in converted))
    figure["legend"] = {"show": bool(show_legend), "top": 28 if title["subtext"] else 24, "type": "scroll"}
    if converted and all(s["type"] == "pie" for s in converted):
        figure["tooltip"] = {"trigger": "item"}
        return figure
    x_axis = _x_axis(config, points_are_time)
    if x_axis["type"] == "category":
        for s in converted:  # category axes take bare y values, in category order
            if s["type"] in ("line", "bar") and s.get("data"):
                s["data"] = [p[1] for p in s["data"]]
    right = sum(1 for a in y_axes if a["position"] == "right")
    left = len(y_axes) - right
    figure.update(
        tooltip={"trigger": "axis", "axisPointer": {"type": "cross"}},
        grid={"left": 56 + 64 * max(0, left - 1), "right": 24 + 64 * right,
              "top": 84 if figure["legend"]["show"] else 64, "bottom": 56,
              "containLabel": True},
        xAxis=x_axis, yAxis=y_axes,
    )
    _attach_plot_lines(figure, config, converted)
    if config.get("__isStock", True) and x_axis["type"] == "time":
        figure["dataZoom"] = [{"type": "inside", "filterMode": "none"},
                              {"type": "slider", "height": 18, "bottom": 8, "filterMode": "none"}]
        figure["grid"]["bottom"] = 64
    return figure


def _apply_stacking(config: dict[str, Any], series_cfg: list[dict[str, Any]], converted: list[dict[str, Any]],
                    chart_type: str) -> None:
    """Highcharts plotOptions.<type|series>.stacking (or a series' own) -> ECharts stack per y axis."""
    plot = config.get("plotOptions") if isinstance(config.get("plotOptions"), dict) else {}
    for cfg, out in zip(series_cfg, converted, strict=True):
        kind = _series_type(cfg, chart_type)
        stacking = cfg.get("stacking")
        for key in (kind, "series"):
            options = plot.get(key) if isinstance(plot.get(key), dict) else {}
            stacking = stacking or options.get("stacking")
        if stacking and out.get("type") in ("line", "bar"):
            out["stack"] = f"stack{out.get('yAxisIndex', 0)}"


def _mark_lines(series: dict[str, Any]) -> list[dict[str, Any]]:
    return series.setdefault("markLine", {"symbol": "none", "silent": True, "data": []})["data"]


def _attach_plot_lines(figure: dict[str, Any], config: dict[str, Any],
                       converted: list[dict[str, Any]]) -> None:
    if not converted:
        return
    x_cfg = (_as_list(config.get("xAxis")) or [{}])[0]
    lines = _plot_lines(x_cfg if isinstance(x_cfg, dict) else {}, "xAxis")
    for axis_index, axis in enumerate(_as_list(config.get("yAxis"))):
        if not isinstance(axis, dict):
            continue
        target = next((s for s in converted if s.get("yAxisIndex") == axis_index), converted[0])
        y_lines = _plot_lines(axis, "yAxis")
        if y_lines:
            _mark_lines(target).extend(y_lines)
    if lines:
        _mark_lines(converted[0]).extend(lines)


def _layout(config: dict[str, Any]) -> dict[str, Any]:
    ext = config.get("extension") if isinstance(config.get("extension"), dict) else {}
    chart = config.get("chart") if isinstance(config.get("chart"), dict) else {}
    height = ext.get("height", chart.get("height", 360))
    if isinstance(height, str) and height.strip().endswith("px"):
        height = height.strip()[:-2]
    try:
        height_px = max(160, min(1200, int(float(height))))
    except (TypeError, ValueError):
        height_px = 360
    col = ext.get("col", 12)
    col = col if isinstance(col, int) and 1 <= col <= 12 else 12
    layout = str(ext.get("layout") or "single")
    return {"layout": layout if layout in ("single", "group") else "single", "col": col, "height": height_px}


def figures_from_config(config: Any, series_points: dict[int, list[Any]] | None = None,
                        max_points: int = DEFAULT_MAX_POINTS) -> list[dict[str, Any]]:
    """What Chart(cfg) or Chart([cfg, ...]) stored -> one figure per chart. Series indices in
    `series_points` run across the list of charts, as on FMZ. A KLineChart (`__isCandle`) -> one
    candle figure (kline_figure)."""
    series_points = series_points or {}
    if isinstance(config, dict) and config.get("__isCandle"):
        return [kline_figure(config, series_points.get(0, []), max_points)]
    charts = [c for c in _as_list(config) if isinstance(c, dict)]
    figures = []
    offset = 0
    for n, chart in enumerate(charts):
        count = len(_as_list(chart.get("series")))
        if n == len(charts) - 1:  # the last chart takes points for undeclared trailing series
            own = {i - offset: pts for i, pts in series_points.items() if i >= offset}
        else:
            own = {i - offset: pts for i, pts in series_points.items() if offset <= i < offset + count}
        figures.append(figure_from_chart(chart, own, max_points))
        offset += count
    return figures


def profit_figure(profits: list[tuple[int, float]], max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """The LogProfit curve as a figure (a Highstock area line, like FMZ's profit chart)."""
    config = {"__isStock": True, "title": {"text": "Profit"}, "xAxis": {"type": "datetime"},
              "yAxis": {"title": {"text": "profit"}, "plotLines": [{"value": 0, "color": "#bbb"}]},
              "series": [{"name": "profit", "type": "area", "color": "#2f7ed8", "data": []}],
              "legend": {"enabled": False}}
    return figure_from_chart(config, {0: [[int(t), float(p)] for t, p in profits]}, max_points)


# --- KLineChart ---
_SHAPE_SYMBOLS = {"arrow": "arrow", "triangleup": "triangle", "triangledown": "triangle", "circle": "circle",
                  "cross": "pin", "xcross": "pin", "diamond": "diamond", "square": "rect", "flag": "pin",
                  "labelup": "pin", "labeldown": "pin", "char": "pin"}


def _kline_runtime(bars: list[dict[str, Any]]) -> tuple[dict[tuple[str, bool], dict[str, Any]],
                                                         dict[tuple[str, bool], dict[str, Any]],
                                                         list[dict[str, Any]], list[dict[str, Any]]]:
    """The bars' runtime plots and signals: (lines, hlines by (title, overlay), markers, signal pins)."""
    lines: dict[tuple[str, bool], dict[str, Any]] = {}
    hlines: dict[tuple[str, bool], dict[str, Any]] = {}
    markers: list[dict[str, Any]] = []
    pins: list[dict[str, Any]] = []
    for bar in bars:
        runtime = bar.get("runtime") if isinstance(bar.get("runtime"), dict) else {}
        for plot in runtime.get("plots") or []:
            if isinstance(plot, dict):
                _kline_plot(plot, bar, lines, hlines, markers)
        for signal in runtime.get("signals") or []:
            if isinstance(signal, dict) and _number(signal.get("avgPrice")) is not None:
                pins.append(_signal_pin(signal, bar["timestamp"]))
    return lines, hlines, markers, pins


def _kline_panes(lower: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Grids and axes: the candle pane, and the lower pane when a plot is not an overlay."""
    grids: list[dict[str, Any]] = [{"left": 64, "right": 24, "top": 48, "height": "55%" if lower else "72%"}]
    x_axes: list[dict[str, Any]] = [{"type": "time", "gridIndex": 0, "scale": True}]
    y_axes: list[dict[str, Any]] = [{"type": "value", "gridIndex": 0, "scale": True, "position": "left"}]
    if lower:
        grids.append({"left": 64, "right": 24, "top": "70%", "height": "18%"})
        x_axes.append({"type": "time", "gridIndex": 1, "scale": True})
        y_axes.append({"type": "value", "gridIndex": 1, "scale": True, "position": "left"})
    return grids, x_axes, y_axes


def kline_figure(options: dict[str, Any], bars: list[Any],
                 max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """What KLineChart stored (options with `__isCandle`, one point per bar {timestamp, open, high,
    low, close, volume, runtime: {plots, signals}}) -> an ECharts option: candles with the overlay
    plots on the upper pane, the other plots on a lower pane, hlines as marked lines, plotshape /
    plotchar / plotarrow as markers at the bar, signals as buy/sell/close pins. barcolor, bgcolor and
    fill are accepted and not drawn."""
    bars = [b for b in bars if isinstance(b, dict) and _number(b.get("timestamp")) is not None][-max_points:]
    candles = [[b["timestamp"], b.get("open"), b.get("close"), b.get("low"), b.get("high")] for b in bars]
    lines, hlines, markers, pins = _kline_runtime(bars)
    lower = any(not overlay for _title, overlay in (*lines, *hlines))
    series: list[dict[str, Any]] = [{
        "name": str(options.get("title") or "K"), "type": "candlestick", "data": candles,
        "xAxisIndex": 0, "yAxisIndex": 0,
        "itemStyle": {"color": "#d9534f", "color0": "#5cb85c", "borderColor": "#d9534f",
                      "borderColor0": "#5cb85c"},
        "markPoint": {"data": pins}}]
    for n, ((title, overlay), line) in enumerate(lines.items()):
        pane, colour = (0 if overlay else 1), line["color"] or PALETTE[n % len(PALETTE)]
        series.append({"name": title, "type": "line", "data": line["data"], "showSymbol": False,
                       "xAxisIndex": pane, "yAxisIndex": pane, "connectNulls": False,
                       "lineStyle": {"width": line["width"], "color": colour},
                       "itemStyle": {"color": colour}})
    for (title, overlay), hline in hlines.items():
        target = next((s for s in series if s.get("xAxisIndex", 0) == (0 if overlay else 1)), None)
        if target is None:
            target = {"name": title, "type": "line", "data": [], "xAxisIndex": 1, "yAxisIndex": 1}
            series.append(target)
        _mark_lines(target).append({"yAxis": hline["price"], "name": title,
                                    "lineStyle": {"color": hline["color"] or "#888", "type": "dashed"}})
    if markers:
        series.append({"name": "shapes", "type": "scatter", "data": markers, "xAxisIndex": 0, "yAxisIndex": 0,
                       "symbolSize": 10})
    grids, x_axes, y_axes = _kline_panes(lower)
    return {"animation": False, "title": {"text": _text(options.get("title")), "left": "center",
                                          "textStyle": {"fontSize": 14}},
            "legend": {"show": len(series) > 1, "top": 24, "type": "scroll"},
            "tooltip": {"trigger": "axis", "axisPointer": {"type": "cross"}},
            "grid": grids, "xAxis": x_axes, "yAxis": y_axes, "series": series, "color": list(PALETTE),
            "dataZoom": [{"type": "inside", "xAxisIndex": list(range(len(x_axes))), "filterMode": "none"},
                         {"type": "slider", "xAxisIndex": list(range(len(x_axes))), "height": 18,
                          "bottom": 8, "filterMode": "none"}],
            "_fmz": {**_layout(options), "height": max(_layout(options)["height"], 420 if lower else 360)}}


def _kline_plot(plot: dict[str, Any], bar: dict[str, Any], lines: dict[tuple[str, bool], dict[str, Any]],
                hlines: dict[tuple[str, bool], dict[str, Any]], markers: list[dict[str, Any]]) -> None:
    kind, overlay = str(plot.get("type") or "line"), bool(plot.get("overlay"))
    title = str(plot.get("title") or "")
    time_ms = bar["timestamp"]
    if kind == "hline":
        if _number(plot.get("price")) is not None:
            hlines[(title, overlay)] = {"price": plot["price"], "color": plot.get("color")}
    elif kind == "shape":
        _kline_marker(plot, bar, markers)
    elif kind in ("barcolor", "bgcolor", "candle"):
        return
    else:
        line = lines.setdefault((title, overlay), {"data": [], "color": plot.get("color"),
                                                   "width": _number(plot.get("lineWidth")) or 1.5})
        line["data"].append([time_ms, _number(plot.get("series"))])


def _kline_marker(plot: dict[str, Any], bar: dict[str, Any], markers: list[dict[str, Any]]) -> None:
    value = plot.get("series")
    if value is None or value is False or (isinstance(value, (int, float)) and not value):
        return
    style = str(plot.get("style") or "circle").lower()
    location = str(plot.get("location") or "abovebar").lower()
    if location == "absolute" and _number(value) is not None:
        y = value
    else:
        y = bar.get("low") if location == "belowbar" else bar.get("high")
    up = style == "triangleup" or (style == "arrow" and isinstance(value, (int, float)) and value > 0)
    colour = plot.get("color") or (plot.get("colorup") if up else plot.get("colordown")) or "#2f7ed8"
    label = plot.get("text") or plot.get("char") or ""
    markers.append({"value": [bar["timestamp"], y], "symbol": _SHAPE_SYMBOLS.get(style, "circle"),
                    "symbolRotate": 180 if style in ("triangledown",) or (style == "arrow" and not up) else 0,
                    "itemStyle": {"color": colour},
                    "label": {"show": bool(label), "formatter": str(label), "position": "top"}})


def _signal_pin(signal: dict[str, Any], time_ms: float) -> dict[str, Any]:
    direction = str(signal.get("direction") or "")
    colour = {"long": "#5cb85c", "short": "#d9534f"}.get(direction, "#888")
    name = direction if direction != "close" else f"close {signal.get('closeDirection', '')}".strip()
    return {"coord": [time_ms, signal["avgPrice"]], "name": str(signal.get("id") or name),
            "value": f"{name} {signal.get('qty', '')}".strip(), "itemStyle": {"color": colour},
            "symbolSize": 36, "label": {"fontSize": 9}}
