#!/usr/bin/env bash
# The main job on the built-in simulator: no keys, no network beyond installing the pinned packages.
# Extra arguments go to `python -m fmz_compat backtest` (e.g. --seed 7 --duration 2d).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$VENV_PY" -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v '^WARNING: Location' || true
exec "$VENV_PY" -m fmz_compat backtest strategy.py --duration 7d --venues binance,bybit,okx "$@"
