"""A small FMZ strategy for the dashboard tests: a status table with buttons, a chart, commands."""
# ruff: noqa: F821  (the FMZ globals are injected by the runtime)
import json


def _on_command(command, chart, config, state, drawing):
    """A button's or the command box's command -> (state, drawing)."""
    if command == "reduce":
        state = "REDUCING"
    elif command == "resume":
        state = "TRADING"
    elif command == "retitle":  # chart.update: new options, same points
        config["title"] = {"text": "BTC last price (updated)"}
        chart.update(config)
    elif command == "reset":  # chart.reset: points gone, and no new ones from here on
        chart.reset(0)
        drawing = False
    return state, drawing


def main():
    for e in exchanges:
        e.SetContractType("swap")
    config = {"__isStock": True, "title": {"text": "BTC last price"},
              "yAxis": [{"title": {"text": "price"}}, {"title": {"text": "loops"}, "opposite": True}],
              "series": [{"name": "last", "data": []}, {"name": "loops", "yAxis": 1, "type": "column"}]}
    chart = Chart(config)
    state = "TRADING"
    drawing = True
    loops = 0
    while loops < 3000:
        command = GetCommand()
        if command:
            Log("command received:", command)
            if command == "quit":
                return
            state, drawing = _on_command(command, chart, config, state, drawing)
        ticker = exchange.GetTicker()
        now = UnixNano() // 1000000
        if ticker and drawing:
            chart.add(0, [now, ticker.Last])
        if drawing:
            chart.add(1, [now, loops])
        loops += 1
        if loops % 5 == 0:
            LogProfit(loops * 0.1, "&")
        buttons = [{"type": "button", "cmd": "reduce", "name": "Reduce", "class": "btn-danger"},
                   {"type": "button", "cmd": "resume", "name": "Resume"}]
        summary = {"type": "table", "title": "Summary", "cols": ["item", "value", "action"],
                   "rows": [["state", state, buttons], ["loops", loops, ""],
                            ["last", ticker.Last if ticker else "-", ""]]}
        venues = {"type": "table", "title": "Venues", "cols": ["venue", "name"],
                  "rows": [[i, e.GetName()] for i, e in enumerate(exchanges)]}
        LogStatus("robot state: " + state + ("#ff0000" if state == "REDUCING" else ""),
                  "\n`" + json.dumps([summary, venues]) + "`")
        Sleep(100)
