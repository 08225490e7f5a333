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
        return
    if not admit(api, globals().get("REGCODE")):
        return
    app = App(api, cfg)
    if not app.start():
        return
    _app = app
    while True:
        app.tick()
        api.sleep(cfg.loop_interval_ms)


def onexit():
    if _app is not None:
        _app.finish()
