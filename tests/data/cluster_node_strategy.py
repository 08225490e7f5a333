# ruff: noqa: F821  -- run as an FMZ strategy: PARAMS, DIE_FLAG and exchanges are injected globals.
# strategy.py's loop, plus a test hook: when the file DIE_FLAG names appears, the first node to send the
# first leg of an opening takes the file and dies right after that leg (SIGKILL: no onexit), mid-hedge.
import os
import signal

from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api

app = None


class _Mortal:
    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def CreateOrder(self, symbol, side, *args):
        result = self._inner.CreateOrder(symbol, side, *args)
        if str(side).startswith("buy;"):
            try:
                os.unlink(DIE_FLAG)
            except FileNotFoundError:
                return result
            os.kill(os.getpid(), signal.SIGKILL)
        return result


def main():
    global app
    mortal = dict(globals())
    mortal["exchanges"] = [_Mortal(ex) for ex in exchanges]
    api = Api.from_globals(mortal)
    app = App(api, parse_params(PARAMS))
    if not app.start():
        raise SystemExit(1)
    while True:
        app.tick()
        api.sleep(app.cfg.loop_interval_ms)


def onexit():
    if app is not None:
        app.finish()
