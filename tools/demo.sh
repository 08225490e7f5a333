#!/usr/bin/env bash
# The main job on the built-in simulator: no keys, no network beyond installing the pinned packages.
# Extra arguments go to `python -m fmz_compat backtest` (e.g. --seed 7 --duration 2d).
XVH_TOOL=demo
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
say "installing the pinned packages into .venv (about a minute the first time, seconds after) ..."
"$VENV_PY" -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v '^WARNING: Location' || true
say "running a 7-day backtest on the simulator (Binance, Bybit, OKX; no keys, no network) ..."
exec "$VENV_PY" -m fmz_compat backtest strategy.py --duration 7d --venues binance,bybit,okx "$@"
