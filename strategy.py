# Cross-venue USDT-perpetual hedging for FMZ Quant.
# Bind two or more futures exchanges (Futures_Binance, Futures_Bybit, Futures_OKX, Futures_CoinEx,
# Futures_BitMEX) and set the one parameter PARAMS to a JSON document shaped like params.json
# (docs/params.md documents every key). Without PARAMS the defaults of hedge/config.py are used.
# A build with a vendor's public key (python -m tools.bundle --pubkey) also needs the string parameter
# REGCODE: the registration code, checked before any order (hedge/license.py, docs/manual.en.md).

from hedge.app import App
from hedge.config import ConfigError, parse_params
from hedge.fmz import Api
from hedge.license import admit

_app = None


def main():
    global _app
    api = Api.from_globals(globals())
    text = globals().get("PARAMS")
    if text is None or not str(text).strip():
        api.log("PARAMS not set: using the defaults of hedge/config.py (see docs/params.md)")
    try:
        cfg = parse_params(text)
    except ConfigError as exc:
        api.log(str(exc), "#ff0000")
        raise SystemExit(2) from None  # bad input: the robot stops before any order, non-zero status
    if not admit(api, globals().get("REGCODE")):
        raise SystemExit(2)
    app = App(api, cfg)
    if not app.start():
        raise SystemExit(1)  # refused to start (e.g. venue positions differ from the ledger): see the log
    _app = app
    while True:
        app.tick()
        app.idle(cfg.loop_interval_ms)  # Sleep, or (live, where EventLoop is given) book events meanwhile


def onexit():
    if _app is not None:
        _app.finish()
