import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmz_compat.charts import (
    JS_ASSET,
    downsample,
    figure_from_chart,
    figures_from_config,
    normalize_point,
    profit_figure,
)

T0 = 1_704_067_200_000  # 2024-01-01 UTC


def test_js_asset_is_vendored_with_its_licence():
    assert JS_ASSET.is_file() and JS_ASSET.stat().st_size > 500_000
    assert "Apache License" in (JS_ASSET.parent / "echarts.LICENSE").read_text()


def test_stock_chart_with_two_y_axes_becomes_time_axis_figure():
    config = {
        "__isStock": True,
        "title": {"text": "Spread"},
        "yAxis": [{"title": {"text": "bps"}}, {"title": {"text": "USDT"}, "opposite": True}],
        "series": [{"name": "spread", "data": []}, {"name": "equity", "yAxis": 1, "type": "column"}],
    }
    points = {0: [[T0, 1.5], [T0 + 60_000, 2.5]], 1: [[T0, 100.0]]}
    fig = figure_from_chart(config, points)
    assert fig["title"]["text"] == "Spread"
    assert fig["xAxis"]["type"] == "time"
    assert [a["position"] for a in fig["yAxis"]] == ["left", "right"]
    assert fig["series"][0]["data"] == [[T0, 1.5], [T0 + 60_000, 2.5]]
    assert fig["series"][1]["type"] == "bar" and fig["series"][1]["yAxisIndex"] == 1
    assert "dataZoom" in fig
    json.dumps(fig)  # plain JSON only


def test_config_data_comes_before_added_points_and_bare_numbers_use_point_start():
    config = {"__isStock": False, "xAxis": {"type": "linear"},
              "series": [{"name": "a", "data": [5, 6], "pointStart": 10, "pointInterval": 2}]}
    fig = figure_from_chart(config, {0: [7]})
    assert fig["series"][0]["data"] == [[10, 5], [12, 6], [14, 7]]
    assert fig["xAxis"]["type"] == "value"


def test_category_axis_takes_bare_values():
    config = {"__isStock": False, "xAxis": {"categories": ["a", "b"]}, "chart": {"type": "column"},
              "series": [{"name": "n", "data": [1, 2]}]}
    fig = figure_from_chart(config)
    assert fig["xAxis"] == {"name": "", "nameLocation": "middle", "nameGap": 28, "type": "category",
                            "data": ["a", "b"]}
    assert fig["series"][0]["data"] == [1, 2] and fig["series"][0]["type"] == "bar"


def test_candles_are_reordered_for_echarts_and_pie_keeps_names():
    candle = figure_from_chart({"series": [{"type": "candlestick", "data": [[T0, 1, 3, 0.5, 2]]}]})
    assert candle["series"][0]["data"] == [[T0, 1, 2, 0.5, 3]]  # x, open, close, low, high
    pie = figure_from_chart({"series": [{"type": "pie", "data": [["BTC", 3], {"name": "ETH", "y": 1}]}]})
    assert pie["series"][0]["data"] == [{"name": "BTC", "value": 3.0}, {"name": "ETH", "value": 1.0}]
    assert "xAxis" not in pie


def test_plot_lines_flags_and_undeclared_series():
    config = {"yAxis": {"plotLines": [{"value": 0, "color": "red", "label": {"text": "zero"}}]},
              "series": [{"name": "a"}, {"type": "flags", "data": [{"x": T0, "title": "B", "text": "buy"}]}]}
    fig = figure_from_chart(config, {0: [[T0, 1]], 2: [[T0, 2]]})
    assert fig["series"][0]["markLine"]["data"][0]["yAxis"] == 0
    assert fig["series"][1]["markLine"]["data"][0]["xAxis"] == T0
    assert fig["series"][2]["data"] == [[T0, 2]]


def test_series_indices_run_across_a_list_of_charts():
    configs = [{"title": {"text": "one"}, "series": [{"name": "a"}, {"name": "b"}]},
               {"title": {"text": "two"}, "series": [{"name": "c"}],
                "extension": {"col": 6, "height": "240px"}}]
    figs = figures_from_config(configs, {0: [[T0, 1]], 1: [[T0, 2]], 2: [[T0, 3]]})
    assert [f["title"]["text"] for f in figs] == ["one", "two"]
    assert figs[1]["series"][0]["data"] == [[T0, 3]]
    assert figs[1]["_fmz"] == {"layout": "single", "col": 6, "height": 240}
    assert figures_from_config(configs[0], {0: [[T0, 1]]})[0]["series"][0]["data"] == [[T0, 1]]


def test_profit_figure_and_bad_points_are_dropped():
    fig = profit_figure([(T0, 0.0), (T0 + 1000, 2.5)])
    assert fig["series"][0]["data"] == [[T0, 0.0], [T0 + 1000, 2.5]]
    assert "areaStyle" in fig["series"][0]
    assert normalize_point("x", 0) is None and normalize_point([], 0) is None
    assert normalize_point(None, 3) == [3, None]
    assert normalize_point({"x": 5, "y": float("nan")}, 0) == [5, None]


@pytest.mark.slow
def test_a_year_of_minute_points_is_aggregated_and_keeps_its_spike():
    points = [[T0 + i * 60_000, float(i % 100)] for i in range(525_600)]
    points[300_000][1] = 1e6
    fig = figure_from_chart({"series": [{"name": "s"}]}, {0: points}, max_points=2000)
    data = fig["series"][0]["data"]
    assert len(data) <= 2000
    assert data[0] == points[0] and data[-1] == points[-1]
    assert max(p[1] for p in data) == 1e6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9)), min_size=0, max_size=600),
       st.integers(min_value=5, max_value=300))
def test_downsample_bounds_order_extremes(ys, max_points):
    points = [[i, y] for i, y in enumerate(ys)]
    out = downsample(points, max_points)
    assert len(out) <= max_points
    xs = [p[0] for p in out]
    assert xs == sorted(xs)
    assert all(p in points for p in out)
    values = [y for y in ys if y is not None]
    if values and len(points) > max_points:
        kept = [p[1] for p in out if p[1] is not None]
        assert min(kept) == min(values) and max(kept) == max(values)
    if len(points) <= max_points:
        assert out == points


@given(st.lists(st.tuples(st.floats(1, 100), st.floats(1, 100), st.floats(1, 100), st.floats(1, 100)),
                min_size=1, max_size=400), st.integers(min_value=1, max_value=50))
def test_merged_candles_keep_range(candles, max_points):
    points = [[i, o, max(o, h, low, c), min(o, h, low, c), c] for i, (o, h, low, c) in enumerate(candles)]
    out = downsample(points, max_points)
    assert len(out) <= max(max_points, len(points))
    assert max(p[2] for p in out) == max(p[2] for p in points)
    assert min(p[3] for p in out) == min(p[3] for p in points)
    assert out[0][1] == points[0][1] and out[-1][4] == points[-1][4]


def test_stacked_columns():
    config = {"chart": {"type": "column"}, "plotOptions": {"column": {"stacking": "normal"}},
              "series": [{"name": "a"}, {"name": "b"}, {"name": "c", "type": "line"}]}
    fig = figure_from_chart(config, {0: [[T0, 1]], 1: [[T0, 2]], 2: [[T0, 3]]})
    assert [s.get("stack") for s in fig["series"]] == ["stack0", "stack0", None]
    assert fig["yAxis"][0]["scale"] is False  # bars start at zero
