"""Delivery (dated) futures on the simulator: contract types, per-contract positions, settlement at expiry.

Sources: FMZ syntax guide, exchange.SetContractType (contract types this_week, next_week, quarter,
next_quarter; on Binance `quarter` answers {"InstrumentID": "BTCUSD_230630"}) and exchange.GetPositions
(symbol ranges "USDT.swap", "USDT.futures"); Binance FAQ "Delivery & Settlement of Quarterly Futures"
(last Friday of the quarter at 08:00 UTC; taker fee on delivered positions; index average before delivery,
the last 30 minutes from 2024-11-11); OKX "Expiry Futures Guide" (Fridays 8:00 am UTC, BTC-USD 100 USD).
"""

import datetime as dt
import json
import sqlite3
import textwrap

import pytest

from fmz_compat.__main__ import main
from fmz_compat.core import (
    ORDER_STATE_CANCELED,
    PD_LONG,
    PD_SHORT,
    BacktestClock,
    ExchangeBinding,
    MemoryLog,
    SimConfig,
)
from fmz_compat.sim import create_world

HOUR_MS = 3_600_000
JUL_1 = 1_719_792_000_000                   # 2024-07-01 00:00 UTC, a Monday
SEP_26 = 1_727_308_800_000                  # 2024-09-26 00:00 UTC; quarter 240927 expires 2024-09-27 08:00
SEP_27_0800 = SEP_26 + 32 * HOUR_MS
DEC_26 = 1_735_171_200_000                  # 2024-12-26 00:00 UTC; 241227 expires 2024-12-27 08:00


def ms(*args):
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)


def make(*bindings, start=JUL_1, hours=24, seed=5):
    cfg = SimConfig(seed=seed, start_ms=start, bindings=tuple(bindings))
    clock = BacktestClock(start * 1_000_000, (start + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def test_constants():
    assert (ms(2024, 9, 26), ms(2024, 12, 26)) == (SEP_26, DEC_26)


# --- contract types and names ----------------------------------------------------------------------
def test_binance_quarters_inverse_and_linear_names():
    world, _, log = make(ExchangeBinding("Futures_Binance", "BTC_USD", stocks=1.0),
                         ExchangeBinding("Futures_Binance", "BTC_USDT", balance=10_000))
    coin, usdt = world.exchanges
    assert coin.SetContractType("quarter").InstrumentID == "BTCUSD_240927"
    assert coin.SetContractType("next_quarter").InstrumentID == "BTCUSD_241227"
    assert usdt.SetContractType("quarter").InstrumentID == "BTCUSDT_240927"
    assert coin.SetContractType("this_week") is None  # Binance lists no weekly contract
    assert "this_week" in log.last_error and "quarter" in log.last_error
    assert coin.GetContractType() == "next_quarter"
    assert coin.SetContractType("swap").InstrumentID == "BTCUSD_PERP"


def test_okx_weeks_and_quarters_and_the_quarter_in_its_last_two_weeks():
    world, _, _ = make(ExchangeBinding("Futures_OKX", "BTC_USD", stocks=1.0))
    ex = world.exchanges[0]
    names = {ct: ex.SetContractType(ct).InstrumentID for ct in ("this_week", "next_week", "quarter",
                                                                  "next_quarter")}
    assert names == {"this_week": "BTC-USD-240705", "next_week": "BTC-USD-240712",
                     "quarter": "BTC-USD-240927", "next_quarter": "BTC-USD-241227"}
    world, _, _ = make(ExchangeBinding("Futures_OKX", "BTC_USD", stocks=1.0), start=ms(2024, 9, 14))
    ex = world.exchanges[0]
    assert ex.SetContractType("next_week").InstrumentID == "BTC-USD-240927"
    assert ex.SetContractType("quarter").InstrumentID == "BTC-USD-241227"


def test_venues_without_dated_contracts_refuse_in_one_line():
    world, _, log = make(ExchangeBinding("Futures_Bybit"))
    assert world.exchanges[0].SetContractType("quarter") is None
    assert "not simulated" in log.last_error and "Futures_Binance" in log.last_error


# --- quotes, positions, orders per contract --------------------------------------------------------
def test_quarter_quote_records_depth_and_position_beside_the_swap():
    world, clock, _ = make(ExchangeBinding("Futures_Binance", "BTC_USD", stocks=1.0))
    ex = world.exchanges[0]
    ex.SetContractType("quarter")
    q = ex.GetTicker()
    s = ex.GetTicker("BTC_USD.swap")
    assert q.Symbol == "BTC_USD.quarter" and q.Info.symbol == "BTCUSD_240927"
    days = (ms(2024, 9, 27, 8) - JUL_1) / 86_400_000
    assert q.Last / s.Last - 1 == pytest.approx(0.05 * days / 365, abs=0.002)  # the assumed basis
    assert ex.GetDepth().Asks[0].Price == q.Sell
    assert len(ex.GetRecords(3600)) > 50
    ex.SetDirection("buy")
    assert ex.Buy(-1, 20) is not None                                   # 20 x 100 USD, coin-margined
    assert ex.CreateOrder("BTC_USD.swap", "sell", -1, 5) is not None
    clock.sleep(600_000)
    pos = ex.GetPosition()                                              # the current contract's range
    assert [(p.Symbol, p.ContractType, p.Type, p.Amount) for p in pos] == [
        ("BTC_USD.quarter", "quarter", PD_LONG, 20)]
    swap = ex.GetPositions("BTC_USD.swap")
    assert [(p.ContractType, p.Type, p.Amount) for p in swap] == [("swap", PD_SHORT, 5)]
    assert {p.Symbol for p in ex.GetPositions("USD.futures")} == {"BTC_USD.quarter"}
    assert {p.Symbol for p in ex.GetPositions("USD.swap")} == {"BTC_USD.swap"}
    ex.CreateOrder("BTC_USD.swap", "closesell", -1, 5)                   # the swap leg alone closes
    assert ex.GetPositions("BTC_USD.swap") == [] and ex.GetPosition()[0].Amount == 20
    orders = ex.GetHistoryOrders("BTC_USD.quarter")
    assert [(o.Symbol, o.ContractType) for o in orders] == [("BTC_USD.quarter", "quarter")]
    acct = ex.GetAccount()
    assert acct.Stocks > 0.9 and acct.Balance == 0.0
    assert {t.Symbol for t in ex.GetTickers()} == {"BTC_USD.swap", "BTC_USD.quarter"}
    assert ex.GetFundings("BTC_USD.quarter") == [] and len(ex.GetFundings("BTC_USD.swap")) == 1


# --- delivery -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "minutes", "native", "rolled"), [
    (SEP_26, 60, "BTCUSD_240927", "BTCUSD_241227"),   # Binance averaged the last hour before 2024-11-11
    (DEC_26, 30, "BTCUSD_241227", "BTCUSD_250328"),   # and the last 30 minutes from then
])
def test_delivery_settles_at_the_index_average_books_pnl_cancels_orders_and_rolls(start, minutes, native,
                                                                                   rolled):
    world, clock, log = make(ExchangeBinding("Futures_Binance", "BTC_USD", stocks=1.0), start=start, hours=48)
    ex = world.exchanges[0]
    acc = world.accounts[0]
    assert ex.SetContractType("quarter").InstrumentID == native
    ex.SetDirection("sell")
    ex.Sell(-1, 30)
    entry = ex.GetPosition()[0].Price
    wallet_after_open = acc.balances["BTC"]
    bid = ex.GetTicker().Buy
    resting = ex.CreateOrder("BTC_USD.quarter", "buy", round(bid * 0.9, 1), 10)
    assert ex.GetOrder(resting).Status == 0
    expiry = start + 32 * HOUR_MS                                       # Friday 08:00 UTC
    clock.sleep(expiry - minutes * 60_000 - start)
    ex.GetTicker("BTC_USD.swap")
    samples = []
    for _ in range(minutes):                                            # a sample a minute up to 08:00
        clock.sleep(60_000)
        ex.GetTicker("BTC_USD.swap")
        samples.append(world.coins["BTC"].index)
    price = sum(samples) / minutes
    line = [r["message"] for r in log.rows if "delivered" in r["message"]]
    assert len(line) == 1 and native in line[0] and f"{price:.2f}" in line[0]
    assert ex.GetOrder(resting).Status == ORDER_STATE_CANCELED
    assert ex.GetPositions("USD.futures") == [] and ex.GetPositions("BTC_USD.swap") == []
    pnl = -30 * 100 * (1 / entry - 1 / price)
    fee = 30 * 100 / price * acc.taker                                  # Binance: taker fee on delivery
    assert acc.balances["BTC"] == pytest.approx(wallet_after_open + pnl - fee, rel=1e-12)
    assert ex.SetContractType("quarter").InstrumentID == rolled          # the name rolls on
    assert ex.GetTicker().Symbol == "BTC_USD.quarter"


def test_no_funding_on_dated_contracts_while_the_swap_pays_it():
    world, clock, _ = make(ExchangeBinding("Futures_OKX", "BTC_USD", stocks=1.0, label="dated"),
                           ExchangeBinding("Futures_OKX", "BTC_USD", stocks=1.0, label="perp"), hours=30)
    dated, perp = world.exchanges
    dated.CreateOrder("BTC_USD.quarter", "buy", -1, 50)
    perp.CreateOrder("BTC_USD.swap", "buy", -1, 50)
    clock.sleep(25 * HOUR_MS)                                           # three 8-hourly settlements
    dated.GetTicker("BTC_USD.quarter")
    venues = world.stats()["venues"]
    assert venues["dated"]["funding_usdt"] == 0.0 and venues["perp"]["funding_usdt"] != 0.0
    pos = dated.GetPositions("BTC_USD.quarter")[0]
    assert pos.Amount == 50 and (pos.Info.instType, pos.Info.instId) == ("FUTURES", "BTC-USD-240927")


def test_backtest_cli_a_weekly_contract_in_its_last_week_is_delivered(tmp_path, capsys):
    source = tmp_path / "q.py"
    source.write_text(textwrap.dedent("""\
        '''backtest
        start: 2024-12-26 00:00:00
        end: 2024-12-28 00:00:00
        period: 1h
        exchanges: [{"eid":"Futures_OKX","currency":"BTC_USD","stocks":2}]
        '''
        def main():
            Log("instrument", exchange.SetContractType("this_week")["InstrumentID"])
            exchange.SetDirection("buy")
            exchange.Buy(-1, 100)
            p = exchange.GetPosition()[0]
            Log("held", p["ContractType"], int(p["Amount"]))
            Sleep(36 * 3600 * 1000)
            Log("after", len(exchange.GetPosition()), exchange.SetContractType("this_week")["InstrumentID"])
            Log("stocks", _C(exchange.GetAccount)["Stocks"])
    """))
    out = tmp_path / "out"
    assert main(["backtest", str(source), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    robot = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    db = sqlite3.connect(robot / f"{robot.name}.db3")
    rows = [r[0] for r in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    assert "instrument BTC-USD-241227" in rows and "held this_week 100" in rows  # the quarter's last week
    assert any("delivered" in r and "BTC-USD-241227" in r for r in rows)
    assert "after 0 BTC-USD-250103" in rows
    assert json.loads((robot / "run.json").read_text())
