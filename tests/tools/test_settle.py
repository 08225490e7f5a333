import datetime as dt
from decimal import Decimal

import pytest

from fmz_compat.store import RobotStore
from hedge.accounting import Accounting, Observation
from tools.settle import load_points, main, statement

D = Decimal
NOON = 12 * 3_600_000


class MemG:
    def __init__(self):
        self.data = {}

    def __call__(self, key, *value):
        if not value:
            return self.data.get(key)
        if value[0] is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value[0]
        return None


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000) + NOON


def _robot(tmp_path):
    """Jan: +10 % and 1 USDT of rebates; Feb: down to 0.99 (a drawdown); Mar 1: a deposit of 990 at
    0.99 doubles the shares; Mar: up to 1.20 (the recovery, and more)."""
    g = MemG()
    acc = Accounting(g, {"binance": D("1")})
    day = dt.date(2024, 1, 1)
    while day <= dt.date(2024, 3, 31):
        if day < dt.date(2024, 1, 31):
            equity = "1000"
        elif day < dt.date(2024, 2, 29):
            equity = "1100"
        elif day == dt.date(2024, 2, 29):
            equity = "990"
        elif day < dt.date(2024, 3, 31):
            equity = "1980"
        else:
            equity = "2400"
        if day == dt.date(2024, 1, 10):
            acc.record_fill("binance", D("10000"), D("1"), D("0"), _ms(day))  # 1 bp rebate: 1 USDT
        if day == dt.date(2024, 3, 1):
            acc.declare_flow(D("990"))
        acc.observe(Observation(_ms(day), D(equity)))
        day += dt.timedelta(days=1)
    assert acc.shares == D("2000") and acc.unit_nav == D("1.2")
    store = RobotStore(tmp_path / "7.db3")
    for key, value in g.data.items():
        store.kv_set(key, value)  # what _G(key, value) writes
    store.set_status("LogReset does not touch _G")
    store.close()
    return tmp_path


def test_fee_statement_matches_the_hand_computed_example_with_a_drawdown_and_a_recovery(tmp_path):
    points = load_points(_robot(tmp_path) / "7.db3")
    rows = statement(points, dt.date(2024, 1, 1), dt.date(2024, 3, 31), rate=D("0.30"),
                     referral_rate=D("0.20"))
    jan, feb, mar = rows
    # Jan: fee NAV 1.10 + 1/1000 rebates = 1.101 above the mark 1.0: 0.101 x 1000 shares = 101 USDT
    assert (jan.fee_nav_end, jan.base, jan.fee, jan.referral, jan.hwm_after) == \
        (D("1.101"), D("101"), D("30.3"), D("6.06"), D("1.101"))
    # Feb: 0.991 is under the mark: nothing due, the mark stays
    assert (feb.nav_end, feb.base, feb.fee, feb.hwm_after) == (D("0.99"), 0, 0, D("1.101"))
    # Mar: 1.201 - 1.101 = 0.1 a share on 2000 shares = 200 USDT -> 60 fee, 12 to the referrer
    assert (mar.shares, mar.base, mar.fee, mar.referral, mar.hwm_after) == \
        (D("2000"), D("200"), D("60"), D("12"), D("1.201"))


def test_a_statement_from_mid_history_replays_the_high_water_mark_or_takes_one(tmp_path, capsys):
    source = _robot(tmp_path)
    assert main([str(source), "--from", "2024-03-01", "--to", "2024-03-31"]) == 0
    out = capsys.readouterr().out
    assert "| 2024-03-01 .. 2024-03-31 | 0.990000 | 1.200000 | 1.201000 | 1.101000 |" in out
    assert "Fee due: 60.00 USDT; to the referrer: 12.00 USDT; to the manager after the referral: 48.00" in out
    assert main([str(source / "7.db3"), "--from", "2024-03-01", "--to", "2024-03-31", "--hwm", "1.2",
                 "--rate", "0.5", "--referral-rate", "0", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("period,unit NAV start") and "fee 50 % (USDT)" in lines[0]
    assert lines[-1] == "total,,,,,,2.00,1.00,0.00,"  # (1.201 - 1.2) x 2000 = 2 -> half of it


def test_the_rebates_in_the_base_and_the_referral_cut_are_options_the_statement_states(tmp_path, capsys):
    """Issue #22: both were silent defaults. January: +10 % and 1 USDT of estimated rebates on 1000 shares."""
    source = _robot(tmp_path)
    assert main([str(source), "--from", "2024-01-01", "--to", "2024-01-31"]) == 0
    out = capsys.readouterr().out
    assert "Fee due: 30.30 USDT; to the referrer: 6.06 USDT" in out  # (1.101 - 1) x 1000 x 0.3, 20 % of it
    assert ("fee base: unit NAV plus the estimated rebates per share (--rebates include; rebates are an "
            "estimate: --rebates exclude leaves them out)") in out
    assert "referral: 20 % of the fee goes to the referrer (--referral-rate 0.20; 0 without a " in out
    assert main([str(source), "--from", "2024-01-01", "--to", "2024-01-31", "--rebates", "exclude",
                 "--referral-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "Fee due: 30.00 USDT; to the referrer: 0.00 USDT" in out
    assert "fee NAV end (rebates excluded)" in out
    assert "fee base: unit NAV alone, estimated rebates left out (--rebates exclude)" in out
    assert "referral: none (--referral-rate 0)" in out
    assert main([str(source), "--from", "2024-01-01", "--to", "2024-01-31", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1].startswith("total,")
    assert "Terms: performance fee 30 %" in captured.err


def test_weekly_periods_cut_at_iso_weeks(tmp_path):
    points = load_points(_robot(tmp_path) / "7.db3")
    rows = statement(points, dt.date(2024, 1, 1), dt.date(2024, 1, 31), rate=D("0.3"), referral_rate=D("0.2"),
                     period="week")
    assert [r.start.weekday() for r in rows] == [0] * len(rows) and rows[-1].end == dt.date(2024, 1, 31)
    assert sum(r.fee for r in rows) == D("30.3")  # same total as the month: the mark carries over


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2024-01-01"], "required: --to"),
    (["--from", "2024-02-30", "--to", "2024-03-01"], "is not a date"),
    (["--from", "2024-01-01", "--to", "2024-02-01", "--rate", "30"], "between 0 and 1"),
    (["--from", "2024-03-01", "--to", "2024-01-01"], "is before --from"),
    (["--from", "2025-01-01", "--to", "2025-02-01"], "the robot ran from 2024-01-01 to 2024-03-31"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    source = _robot(tmp_path)
    try:
        code = main([str(source), *args])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_folder_without_accounting_is_refused(tmp_path, capsys):
    RobotStore(tmp_path / "1.db3").close()
    assert main([str(tmp_path), "--from", "2024-01-01", "--to", "2024-01-02"]) == 2
    assert "holds no fund accounting" in capsys.readouterr().err
