"""FMZ's backtest header: the leading `'''backtest ... '''` docstring of a strategy file.

    '''backtest
    start: 2024-01-01 00:00:00
    end: 2024-01-08 00:00:00
    period: 1h
    exchanges: [{"eid":"Futures_Binance","currency":"BTC_USDT","balance":10000,"stocks":0,"fee":[0.02,0.05]}]
    args: [["Interval", 500]]
    '''
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fmz_compat.core import ExchangeBinding

_HEADER = re.compile(r"""\A\s*(?:\#[^\n]*\n\s*)*(?P<q>'''|\"\"\")\s*backtest\s*\n(?P<body>.*?)(?P=q)""",
                     re.DOTALL)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_DURATION_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class HeaderError(ValueError):
    """The backtest header is malformed; the message names the line and the fix."""


@dataclass(frozen=True)
class BacktestHeader:
    start_ms: int | None = None
    end_ms: int | None = None
    period_s: int | None = None
    base_period_s: int | None = None
    exchanges: tuple[ExchangeBinding, ...] = ()
    args: tuple[tuple[str, Any], ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def parse_time_ms(text: str) -> int:
    """'2024-01-01', '2024-01-01 00:00:00' (UTC) or epoch seconds (ms if > 1e11) -> epoch ms."""
    value = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        number = float(value)
        return int(number if number > 1e11 else number * 1000)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            parsed = _dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return calendar.timegm(parsed.timetuple()) * 1000
    raise ValueError(f"cannot read time {value!r}: use 2024-01-01, '2024-01-01 00:00:00' (UTC) "
                     "or epoch seconds")


def parse_duration_s(text: str) -> int:
    """'90s', '45m', '6h', '7d', '1w' -> seconds."""
    match = _DURATION.match(str(text).strip().lower())
    if not match and str(text).strip().startswith("-"):
        raise ValueError(f"duration {text!r} must be positive: use a number and a unit, e.g. 6h, 7d")
    if not match:
        raise ValueError(f"cannot read duration {text!r}: use a number and a unit, e.g. 90s, 45m, 6h, 7d")
    seconds = float(match.group(1)) * _DURATION_UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return int(seconds)


def binding_from_json(item: Any, position: int) -> ExchangeBinding:
    if not isinstance(item, dict) or not item.get("eid"):
        raise HeaderError(f"backtest header exchanges[{position}] needs an \"eid\""
                          " such as \"Futures_Binance\"")
    fee = item.get("fee")
    if fee is not None:
        if not (isinstance(fee, (list, tuple)) and len(fee) == 2):
            raise HeaderError(f"backtest header exchanges[{position}].fee must be [maker%, taker%]")
        fee = (float(fee[0]), float(fee[1]))
    try:
        return ExchangeBinding(
            eid=str(item["eid"]), currency=str(item.get("currency", "BTC_USDT")).upper(),
            balance=float(item.get("balance", 10_000.0)),
            stocks=float(item.get("stocks", _default_stocks(str(item["eid"])))),
            fee=fee, label=str(item.get("label", "")))
    except (TypeError, ValueError) as exc:
        raise HeaderError(f"backtest header exchanges[{position}]: {exc}") from None


def _default_stocks(eid: str) -> float:
    """FMZ's backtester funds a header exchange without "stocks" with 3 coins (fmzquant/backtest_python
    fmz.py parseTask: e.get('stocks', 3.0)); kept for spot, where a grid or a rebalancer needs coins to
    sell. A USDT-margined futures binding starts without coins, as before."""
    return 0.0 if eid.startswith("Futures_") else 3.0


def parse_header(source: str) -> BacktestHeader | None:
    """The header of a strategy source, or None when it has none."""
    match = _HEADER.match(source)
    if not match:
        return None
    values = _header_values(match.group("body"))
    start_ms = end_ms = period_s = base_period_s = None
    exchanges: tuple[ExchangeBinding, ...] = ()
    args: tuple[tuple[str, Any], ...] = ()
    try:
        start_ms = _pop(values, "start", parse_time_ms)
        end_ms = _pop(values, "end", parse_time_ms)
        period_s = _pop(values, "period", parse_duration_s)
        base_period_s = _pop(values, "basePeriod", parse_duration_s)
    except ValueError as exc:
        raise HeaderError(f"backtest header: {exc}") from None
    if "exchanges" in values:
        exchanges = _header_exchanges(values.pop("exchanges"))
    if "args" in values:
        args = _header_args(values.pop("args"))
    return BacktestHeader(start_ms=start_ms, end_ms=end_ms, period_s=period_s, base_period_s=base_period_s,
                          exchanges=exchanges, args=args, extra=values)


def _header_values(body: str) -> dict[str, str]:
    """The header's `key: value` lines (blank lines skipped)."""
    values: dict[str, str] = {}
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise HeaderError(f"backtest header line {line!r} is not 'key: value'")
        values[key.strip()] = value.strip()
    return values


def _pop(values: dict[str, str], key: str, parse: Callable[[str], Any]) -> Any:
    """`key`'s value parsed and taken out of `values`; None when the header has no such line."""
    return parse(values.pop(key)) if key in values else None


def _header_exchanges(text: str) -> tuple[ExchangeBinding, ...]:
    raw = _json(text, "exchanges")
    if not isinstance(raw, list):
        raise HeaderError("backtest header exchanges must be a JSON list of {\"eid\": ...} objects")
    return tuple(binding_from_json(item, i) for i, item in enumerate(raw))


def _header_args(text: str) -> tuple[tuple[str, Any], ...]:
    raw = _json(text, "args")
    if not isinstance(raw, list) or not all(isinstance(a, list) and len(a) >= 2 and isinstance(a[0], str)
                                            for a in raw):
        raise HeaderError('backtest header args must be a JSON list of ["name", value] pairs')
    return tuple((a[0], a[1]) for a in raw)


def _json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HeaderError(f"backtest header {key} is not valid JSON"
                          f" ({exc.msg} at column {exc.colno})") from None
