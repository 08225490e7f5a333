"""Delivery (dated) futures: which contract an FMZ contract type names at a given time, and its name.

FMZ's delivery contract types (syntax guide, exchange.SetContractType: "this_week", "next_week", "quarter",
"next_quarter") name a dated contract by its place in the venue's calendar, so the same name points to a
new contract after each expiry. The simulator keys a dated contract by an instrument key, the pair and its
expiry date: "BTC_USD@240927" (the perpetual keeps the bare pair, "BTC_USD"); accounts, orders, positions
and quotes use that key where they use a pair.

Calendars (08:00 UTC on Fridays; a quarterly contract expires on the last Friday of March, June, September
or December):
* Binance (COIN-M BTCUSD_YYMMDD and USDⓈ-M BTCUSDT_YYMMDD): the current and the next quarter only
  (Binance FAQ "Delivery & Settlement of Quarterly Futures": last Friday of each calendar quarter at 08:00
  UTC; on delivery a new quarterly contract is listed).
* OKX (BTC-USD-YYMMDD inverse, BTC-USDT-YYMMDD linear): this week, next week, quarter, next quarter (OKX
  "Expiry Futures Guide": settlement 8:00 am UTC on the Friday of the delivery week). Each listed contract
  has one alias: the two nearest Fridays are the weeks, the quarter is the first quarterly expiry after next
  week's (so a quarterly contract in its last two weeks trades as a week, as OKX's aliases do). OKX's
  monthly contracts (BTC only since 2023-11) have no FMZ contract type and are not listed.

Delivery price: the average of the index before expiry, sampled each minute: the last hour on OKX and on
Binance before 2024-11-11 08:00 UTC, the last 30 minutes on Binance from then (Binance announcement of
2024-11-04: 1,800 per-second index prices in the last 30 minutes instead of 3,600 in the last hour).
Binance charges the taker fee on delivered positions (same FAQ); OKX is taken to charge none (not verified).
"""

from __future__ import annotations

import calendar
import datetime as dt

ALIASES = ("this_week", "next_week", "quarter", "next_quarter")
VENUE_ALIASES: dict[str, tuple[str, ...]] = {
    "binance": ("quarter", "next_quarter"),
    "okx": ALIASES,
}
EXPIRY_HOUR_UTC = 8
WEEK_MS = 7 * 86_400_000
# the price of a dated contract: fair x (1 + offset + noise + BASIS_PER_YEAR x years to expiry). An
# assumption, not a calibration: the store has no dated-futures series (the OKX capture holds 4 minutes of
# BTC-USD-220527). 5 % a year is the order of the BTC quarterly basis in calm markets.
BASIS_PER_YEAR = 0.05
YEAR_MS = 365 * 86_400_000
BINANCE_30_MINUTE_FROM_MS = 1_731_312_000_000  # 2024-11-11 08:00 UTC


def is_dated(key: str) -> bool:
    return "@" in key


def split_key(key: str) -> tuple[str, str]:
    """(pair, YYMMDD) of an instrument key; YYMMDD is "" for a perpetual."""
    pair, _, date = key.partition("@")
    return pair, date


def key_of(pair: str, expiry_ms: int) -> str:
    return f"{pair}@{yymmdd(expiry_ms)}"


def yymmdd(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%y%m%d")


def expiry_of(key: str) -> int:
    """The expiry (ms) of a dated instrument key."""
    date = split_key(key)[1]
    day = dt.datetime.strptime(date, "%y%m%d").replace(tzinfo=dt.UTC, hour=EXPIRY_HOUR_UTC)
    return int(day.timestamp() * 1000)


def _friday_0800_after(now_ms: int) -> int:
    """The first Friday 08:00 UTC strictly after now."""
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
    day = now.replace(hour=EXPIRY_HOUR_UTC, minute=0, second=0, microsecond=0)
    day += dt.timedelta(days=(4 - day.weekday()) % 7)
    if day <= now:
        day += dt.timedelta(days=7)
    return int(day.timestamp() * 1000)


def _last_friday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day = dt.datetime(year, month, last, EXPIRY_HOUR_UTC, tzinfo=dt.UTC)
    day -= dt.timedelta(days=(day.weekday() - 4) % 7)
    return int(day.timestamp() * 1000)


def _quarterlies_after(ms: int, n: int) -> list[int]:
    """The next n quarterly expiries strictly after ms."""
    d = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    year, month = d.year, d.month
    out: list[int] = []
    while len(out) < n:
        if month % 3 == 0:
            t = _last_friday(year, month)
            if t > ms:
                out.append(t)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def listed(venue: str, now_ms: int) -> dict[str, int]:
    """alias -> expiry ms of the dated contracts `venue` lists at now_ms (VENUE_ALIASES)."""
    if venue == "binance":
        q1, q2 = _quarterlies_after(now_ms, 2)
        return {"quarter": q1, "next_quarter": q2}
    if venue == "okx":
        w1 = _friday_0800_after(now_ms)
        w2 = w1 + WEEK_MS
        q1, q2 = _quarterlies_after(w2, 2)
        return {"this_week": w1, "next_week": w2, "quarter": q1, "next_quarter": q2}
    return {}


def alias_of(venue: str, key: str, now_ms: int) -> str:
    """The FMZ contract type of a dated key now; its YYMMDD once no longer listed (delivered)."""
    expiry = expiry_of(key)
    for alias, ms in listed(venue, now_ms).items():
        if ms == expiry:
            return alias
    return split_key(key)[1]


def native_symbol(venue: str, pair: str, date: str) -> str:
    base, quote = pair.split("_")
    if venue == "okx":
        return f"{base}-{quote}-{date}"
    return f"{base}{quote}_{date}"


def settlement_window_ms(venue: str, expiry_ms: int) -> int:
    """How long before expiry the index is averaged into the delivery price."""
    if venue == "binance" and expiry_ms >= BINANCE_30_MINUTE_FROM_MS:
        return 30 * 60_000
    return 60 * 60_000


def basis_now(now_ms: int, expiry_ms: int) -> float:
    """The assumed premium of a dated contract over the perpetual's level (BASIS_PER_YEAR)."""
    return BASIS_PER_YEAR * max(0, expiry_ms - now_ms) / YEAR_MS
