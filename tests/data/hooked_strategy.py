# ruff: noqa: F821  -- run as an FMZ strategy: PARAMS, HOOK and exchanges are injected globals.
# The hedge App with a test hook called before every tick (tests pass HOOK through --arg-like globals).
from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api

app = None


def main():
    global app
    api = Api.from_globals(globals())
    app = App(api, parse_params(PARAMS))
    assert app.start()
    while True:
        HOOK(app, exchanges)
        app.tick()
        api.sleep(app.cfg.loop_interval_ms)


def onexit():
    if app is not None:
        app.finish()
