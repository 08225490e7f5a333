"""Performance-fee statement from a robot's accounting history.

    python -m tools.settle RUN_DIR_OR_DB --from 2024-01-01 --to 2024-03-31 \
        [--rate 0.30] [--referral-rate 0.20] [--rebates include|exclude] [--period month|week|day]
        [--hwm 1.0] [--format md|csv]

Per period: the fee base is the gain of the fee NAV above the high-water mark, times the shares
outstanding at the period's end. The fee NAV is the unit NAV plus the estimated rebates accrued per
share (--rebates include, the default) or the unit NAV alone (--rebates exclude). The fee is that
base times --rate; the referrer gets --referral-rate of the fee (default 0.20; 0 without a referrer).
Both choices are stated under the statement. The high-water mark only rises when
a fee is charged, so a drawdown has to be recovered before any further fee is due. Without --hwm
the mark is replayed from inception (1.0) through the periods before --from.

Reads the `_G` keys the strategy writes (hedge/accounting.py): one point per closed day plus the
latest point, so period ends fall on the last look of their last day.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import io
import json
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hedge.store_keys import ACCOUNTING, ACCOUNTING_DAYS

EXIT_USAGE = 2
MONEY = Decimal("0.01")
NAV = Decimal("0.000001")


class SettleError(Exception):
    """Bad input: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Point:
    time_ms: int
    unit_nav: Decimal
    rebates_per_share: Decimal
    shares: Decimal

    @property
    def fee_nav(self) -> Decimal:
        return self.unit_nav + self.rebates_per_share

    def base_nav(self, include_rebates: bool) -> Decimal:
        return self.fee_nav if include_rebates else self.unit_nav


@dataclass(frozen=True)
class PeriodRow:
    start: dt.date
    end: dt.date  # inclusive
    nav_start: Decimal
    nav_end: Decimal
    fee_nav_end: Decimal
    hwm_before: Decimal
    shares: Decimal
    base: Decimal  # profit above the high-water mark, USDT
    fee: Decimal
    referral: Decimal
    hwm_after: Decimal


def _kv(db: Path, key: str) -> object:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT Value FROM kvdb WHERE Key = ?", (key,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SettleError(f"{db} is not a robot database ({exc}); pass a run folder or its .db3 "
                          "file") from None
    if not rows:
        return None
    value = json.loads(rows[0][0])
    return json.loads(value) if isinstance(value, str) else value


def find_db(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.db3"))
        if not found:
            raise SettleError(f"no .db3 file in {path}: pass a run folder (runs/N) or the robot's .db3 file")
        return found[0]
    if not path.is_file():
        raise SettleError(f"{path} not found: pass a run folder (runs/N) or the robot's .db3 file")
    return path


def load_points(db: Path) -> list[Point]:
    """Daily closing points, then the latest one, oldest first."""
    state = _kv(db, ACCOUNTING)
    if not isinstance(state, dict):
        raise SettleError(f"{db} holds no fund accounting (_G key {ACCOUNTING}): "
                          "was it run by this strategy?")
    raw = list(_kv(db, ACCOUNTING_DAYS) or [])
    if state.get("live"):
        raw.append(state["live"])
    points = {}
    for p in raw:
        points[int(p["t"])] = Point(int(p["t"]), Decimal(p["nav"]), Decimal(p.get("rps", "0")),
                                    Decimal(p["sh"]))
    if not points:
        raise SettleError(f"{db} has no accounting points yet: let the robot run for a status interval")
    return [points[t] for t in sorted(points)]


def _day_ms(day: dt.date) -> int:
    return calendar.timegm(day.timetuple()) * 1000


def periods(start: dt.date, end: dt.date, kind: str) -> Iterator[tuple[dt.date, dt.date]]:
    """[start, end] (inclusive) cut at calendar months, ISO weeks or days."""
    day = start
    while day <= end:
        if kind == "day":
            last = day
        elif kind == "week":
            last = day + dt.timedelta(days=6 - day.weekday())
        else:
            last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        last = min(last, end)
        yield day, last
        day = last + dt.timedelta(days=1)


def _at(points: list[Point], time_ms: int) -> Point | None:
    found = None
    for point in points:
        if point.time_ms > time_ms:
            break
        found = point
    return found


def statement(points: list[Point], start: dt.date, end: dt.date, *, rate: Decimal, referral_rate: Decimal,
              period: str = "month", hwm: Decimal | None = None,
              include_rebates: bool = True) -> list[PeriodRow]:
    inception = dt.datetime.fromtimestamp(points[0].time_ms / 1000, dt.UTC).date()
    mark = Decimal(1) if hwm is None else hwm
    replay = [] if hwm is not None or start <= inception else list(periods(inception, start - dt.timedelta(1),
                                                                           period))
    rows = []
    for first, last in [*replay, *periods(start, end, period)]:
        end_point = _at(points, _day_ms(last + dt.timedelta(days=1)) - 1)
        if end_point is None or end_point.time_ms < _day_ms(first):
            continue  # the robot did not run in this period
        start_point = _at(points, _day_ms(first) - 1) or Point(0, Decimal(1), Decimal(0), points[0].shares)
        before = mark
        nav_end = end_point.base_nav(include_rebates)
        base = max(Decimal(0), nav_end - mark) * end_point.shares
        fee = base * rate
        if nav_end > mark:
            mark = nav_end
        if first >= start:
            rows.append(PeriodRow(first, last, start_point.unit_nav, end_point.unit_nav, nav_end,
                                  before, end_point.shares, base, fee, fee * referral_rate, mark))
    if not rows:
        last_day = dt.datetime.fromtimestamp(points[-1].time_ms / 1000, dt.UTC).date()
        raise SettleError(f"no accounting data between {start} and {end}: the robot ran from {inception} "
                          f"to {last_day}")
    return rows


def _pct(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}"


def terms(rate: Decimal, referral_rate: Decimal, include_rebates: bool) -> list[str]:
    """The statement's two choices, said under it (options --rebates and --referral-rate)."""
    rebates = ("fee base: unit NAV plus the estimated rebates per share (--rebates include; rebates are an "
               "estimate: --rebates exclude leaves them out)" if include_rebates else
               "fee base: unit NAV alone, estimated rebates left out (--rebates exclude)")
    referral = (f"referral: {_pct(referral_rate)} % of the fee goes to the referrer (--referral-rate "
                f"{referral_rate}; 0 without a referrer)" if referral_rate else
                "referral: none (--referral-rate 0)")
    return [f"Terms: performance fee {_pct(rate)} % above the high-water mark (--rate {rate}); {rebates}; "
            f"{referral}."]


def render(rows: list[PeriodRow], fmt: str, rate: Decimal, referral_rate: Decimal,
           include_rebates: bool = True) -> str:
    nav_head = "fee NAV end (incl. rebates)" if include_rebates else "fee NAV end (rebates excluded)"
    head = ["period", "unit NAV start", "unit NAV end", nav_head, "high-water mark",
            "shares", "profit above HWM (USDT)", f"fee {_pct(rate)} % (USDT)",
            f"referrer {_pct(referral_rate)} % (USDT)", "high-water mark after"]
    body = [[f"{r.start} .. {r.end}", f"{r.nav_start.quantize(NAV)}", f"{r.nav_end.quantize(NAV)}",
             f"{r.fee_nav_end.quantize(NAV)}", f"{r.hwm_before.quantize(NAV)}", f"{r.shares.quantize(MONEY)}",
             f"{r.base.quantize(MONEY)}", f"{r.fee.quantize(MONEY)}", f"{r.referral.quantize(MONEY)}",
             f"{r.hwm_after.quantize(NAV)}"] for r in rows]
    fee = sum((r.fee for r in rows), Decimal(0))
    referral = sum((r.referral for r in rows), Decimal(0))
    total = ["total", "", "", "", "", "", f"{sum((r.base for r in rows), Decimal(0)).quantize(MONEY)}",
             f"{fee.quantize(MONEY)}", f"{referral.quantize(MONEY)}", ""]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([head, *body, total])
        return out.getvalue()  # the terms go to stderr: a CSV stays a table
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in [*body, total]]
    lines.append("")
    lines.append(f"Fee due: {fee.quantize(MONEY)} USDT; to the referrer: {referral.quantize(MONEY)} USDT; "
                 f"to the manager after the referral: {(fee - referral).quantize(MONEY)} USDT.")
    lines += terms(rate, referral_rate, include_rebates)
    return "\n".join(lines) + "\n"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: write it as YYYY-MM-DD") from None


def _fraction(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be a fraction between 0 and 1, e.g. 0.30")
    return value


def _positive(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a positive unit NAV, e.g. 1.05")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"settle: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m tools.settle", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="run folder (runs/N) or the robot's .db3 file")
    parser.add_argument("--from", dest="start", type=_date, required=True, help="first day, YYYY-MM-DD (UTC)")
    parser.add_argument("--to", dest="end", type=_date, required=True, help="last day, YYYY-MM-DD (UTC)")
    parser.add_argument("--rate", type=_fraction, default=Decimal("0.30"), help="performance fee (0.30)")
    parser.add_argument("--referral-rate", type=_fraction, default=Decimal("0.20"),
                        help="the referrer's share of the fee (0.20)")
    parser.add_argument("--rebates", choices=("include", "exclude"), default="include",
                        help="estimated rebates in the fee base (include, the default) or not (exclude)")
    parser.add_argument("--period", choices=("month", "week", "day"), default="month")
    parser.add_argument("--hwm", type=_positive, default=None,
                        help="high-water mark at --from (default: replayed from inception)")
    parser.add_argument("--format", choices=("md", "csv"), default="md")
    args = parser.parse_args(argv)
    if args.end < args.start:
        parser.error(f"--to {args.end} is before --from {args.start}")
    try:
        points = load_points(find_db(args.source))
        rows = statement(points, args.start, args.end, rate=args.rate, referral_rate=args.referral_rate,
                         period=args.period, hwm=args.hwm, include_rebates=args.rebates == "include")
    except SettleError as exc:
        print(f"settle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    include = args.rebates == "include"
    sys.stdout.write(render(rows, args.format, args.rate, args.referral_rate, include))
    if args.format == "csv":
        print("\n".join(terms(args.rate, args.referral_rate, include)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
