"""fmz_compat.ccxt_lean: the five venue classes without ccxt's ~100 other exchange modules."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_lean_ccxt_has_the_five_classes_errors_and_no_other_exchange():
    figures = _run("""
import json, sys
from fmz_compat.live import ccxt, build_client
exchange_modules = sorted(m for m in sys.modules if m.startswith("ccxt.") and m.count(".") == 1
                          and m not in ("ccxt.base", "ccxt.abstract", "ccxt.static_dependencies"))
client = build_client("okx", None)
print(json.dumps({"modules": exchange_modules, "version": ccxt.__version__,
                  "network_is_base": issubclass(ccxt.RequestTimeout, ccxt.NetworkError),
                  "exchange_error": issubclass(ccxt.InsufficientFunds, ccxt.ExchangeError),
                  "client": type(client).__name__, "has_kraken": hasattr(ccxt, "kraken")}))
""")
    expected = ["ccxt.binance", "ccxt.binanceusdm", "ccxt.bitmex", "ccxt.bybit", "ccxt.coinex", "ccxt.okx"]
    assert figures["modules"] == expected
    assert figures["version"] == "4.5.83" and figures["client"] == "okx" and not figures["has_kraken"]
    assert figures["network_is_base"] and figures["exchange_error"]


def test_an_already_imported_full_ccxt_is_used_as_is():
    figures = _run("""
import json
import ccxt as full
from fmz_compat.live import ccxt
print(json.dumps({"same": ccxt is full, "has_kraken": hasattr(ccxt, "kraken")}))
""")
    assert figures == {"same": True, "has_kraken": True}
