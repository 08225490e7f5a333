"""The simulator's raw `Info` for orders, positions and accounts, read back by ccxt's own parsers.

Each venue's shape is checked against sources we did not write:
- ccxt's recorded venue answers, repo ccxt/ccxt, ts/src/test/static/response/<venue>.json: binance.json
  (createOrders "create swap orders", fetchOpenOrder "swap open order": USDⓈ-M orders), bybit.json
  (fetchOpenOrder / fetchClosedOrder "swap ... order": linear V5 orders), okx.json (createOrder:
  clOrdId/ordId; fetchBalance "spot balance" with type swap: the account/balance answer), coinex.json
  (fetchClosedOrders "swap closed order": client_id) and bitmex.json (fetchOrder "Swap market order": XBTUSDT,
  clOrdID).
- ccxt 4.5.83's parsers (the installed package): a venue payload that ccxt reads back into the same id, client
  id, side, amount, price, fill and status as FMZ's own fields is in the shape ccxt meets live.
"""

from __future__ import annotations

import ccxt
import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.execution import order_options

START_MS = 1_719_792_000_000
SYM = "BTC_USDT.swap"
CCXT_CLASS = {"Futures_Binance": "binanceusdm", "Futures_Bybit": "bybit", "Futures_OKX": "okx",
              "Futures_CoinEx": "coinex", "Futures_BitMEX": "bitmex"}
# ccxt counts OKX and BitMEX orders and positions in contracts, the others in base coin
CCXT_IN_CONTRACTS = {"Futures_OKX", "Futures_BitMEX"}
VENUES = sorted(CCXT_CLASS)


def _sim(eid: str):
    cfg = SimConfig(seed=5, start_ms=START_MS, bindings=(ExchangeBinding(eid, balance=10_000.0),))
    clock = BacktestClock(START_MS * 10**6, (START_MS + 86_400_000) * 10**6)
    world = create_world(cfg, clock, MemoryLog())
    return world.exchanges[0], clock


def _ccxt(eid: str, market) -> ccxt.Exchange:
    client = getattr(ccxt, CCXT_CLASS[eid])()
    size = market.CtVal if eid in CCXT_IN_CONTRACTS else 1.0
    client.set_markets([{
        "id": market.Symbol, "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
        "baseId": "XBT" if eid == "Futures_BitMEX" else "BTC", "quoteId": "USDT",
        "settleId": "USDt" if eid == "Futures_BitMEX" else "USDT", "type": "swap", "spot": False,
        "margin": False, "swap": True, "future": False, "option": False, "contract": True, "linear": True,
        "inverse": False, "contractSize": size, "active": True,
        "precision": {"amount": market.AmountSize, "price": market.TickSize}, "limits": {}, "info": {}}],
        {"USDT": {"id": "USDt" if eid == "Futures_BitMEX" else "USDT", "code": "USDT",
                  "precision": "0.000001" if eid == "Futures_BitMEX" else "0.00000001"}})
    return client


def _lot(market) -> float:
    """About 0.01 BTC in this venue's contracts."""
    return round(0.01 / market.CtVal / market.AmountSize) * market.AmountSize


def _raw_id(order) -> str:
    return order.Id.split(",")[1]


@pytest.mark.parametrize("eid", VENUES)
def test_orders_read_back_by_ccxt_match_fmz_fields(eid):
    ex, _clock = _sim(eid)
    market = ex.GetMarkets()[SYM]
    client = _ccxt(eid, market)
    lot = _lot(market)
    venue = eid.removeprefix("Futures_").lower()  # the options in the venue's own names, as the hedge sends
    filled = ex.GetOrder(ex.CreateOrder(SYM, "buy;" + order_options(venue, "hgA1n1", ioc=False), -1, lot))
    bid = ex.GetTicker(SYM).Buy
    resting_id = ex.CreateOrder(SYM, "sell;" + order_options(venue, "hgA1n2", ioc=False),
                                round(bid * 1.05, 1), lot)
    resting = ex.GetOrder(resting_id)
    (listed,) = ex.GetOrders(SYM)
    assert ex.CancelOrder(resting_id)
    canceled = ex.GetOrder(resting_id)
    # an IOC limit below the book: nothing fills, the venue drops it (Binance calls that EXPIRED)
    ioc = ex.GetOrder(ex.CreateOrder(SYM, "buy;" + order_options(venue, "hgA1n3", ioc=True),
                                     round(bid * 0.95, 1), lot))
    assert (ioc.Status, ioc.DealAmount) == (2, 0)
    dropped = "expired" if eid == "Futures_Binance" else "canceled"
    cases = [(filled, "hgA1n1", "buy", "closed"), (resting, "hgA1n2", "sell", "open"),
             (listed, "hgA1n2", "sell", "open"), (canceled, "hgA1n2", "sell", "canceled"),
             (ioc, "hgA1n3", "buy", dropped)]
    for order, client_id, side, status in cases:
        parsed = client.parse_order(order.Info, client.market("BTC/USDT:USDT"))
        assert (parsed["id"], parsed["clientOrderId"], parsed["side"]) == (_raw_id(order), client_id, side)
        assert parsed["symbol"] == "BTC/USDT:USDT"
        assert parsed["amount"] == pytest.approx(order.Amount)
        assert (parsed["filled"] or 0) == pytest.approx(order.DealAmount)
        if order.Price > 0:
            assert parsed["price"] == pytest.approx(order.Price)
        if order.DealAmount:
            assert parsed["average"] == pytest.approx(order.AvgPrice)
        if order is ioc and eid != "Futures_CoinEx":  # ccxt does not read CoinEx's type "ioc" back
            assert parsed["timeInForce"] == "IOC"
        if eid == "Futures_CoinEx":
            # CoinEx v2 answers status only to GET /futures/order-status (GetOrder), not in its lists
            # (ccxt's parser maps only the v1 words, so the v2 word comes through as is)
            v2 = {"closed": "filled", "open": "open", "canceled": "canceled"}[status]
            assert order.Info.get("status") == (None if order is listed else v2)
            assert order is not ioc or order.Info.type == "ioc"
        else:
            assert parsed["status"] == status


@pytest.mark.parametrize("eid", VENUES)
def test_positions_read_back_by_ccxt_match_fmz_fields(eid):
    ex, clock = _sim(eid)
    market = ex.GetMarkets()[SYM]
    client = _ccxt(eid, market)
    ex.SetMarginLevel(SYM, 5)
    ex.CreateOrder(SYM, "sell", -1, _lot(market))
    clock.sleep(600_000)
    (pos,) = ex.GetPositions(SYM)
    parse = client.parse_position_risk if eid == "Futures_Binance" else client.parse_position
    parsed = parse(pos.Info, client.market("BTC/USDT:USDT"))
    assert parsed["symbol"] == "BTC/USDT:USDT" and parsed["side"] == "short"
    assert parsed["contracts"] * (market.CtVal if eid in CCXT_IN_CONTRACTS else 1) == pytest.approx(
        pos.Amount * market.CtVal)
    assert parsed["entryPrice"] == pytest.approx(pos.Price)
    assert float(parsed["unrealizedPnl"]) == pytest.approx(pos.Profit, abs=1e-6)  # BitMEX: whole USDt (1e-6)
    # Bybit's unified account sets the margin mode account-wide: ccxt reads none from a linear position
    assert parsed["marginMode"] == (None if eid == "Futures_Bybit" else "cross")
    if eid != "Futures_Binance":  # positionRisk v3 no longer carries the leverage
        assert parsed["leverage"] == pos.MarginLevel
    mark = {"Futures_Binance": "markPrice", "Futures_Bybit": "markPrice", "Futures_OKX": "markPx",
            "Futures_BitMEX": "markPrice"}.get(eid)
    if mark is None:  # CoinEx's position list has no mark price (ccxt's parser reads none either)
        assert parsed["markPrice"] is None
    else:
        implied = pos.Price - pos.Profit / (pos.Amount * market.CtVal)  # short: upnl = size x (entry - mark)
        assert float(pos.Info[mark]) == pytest.approx(implied, rel=1e-9)


def _balance(eid: str, client: ccxt.Exchange, info):
    if eid == "Futures_Binance":
        return client.parse_balance_custom(info, "future")
    if eid == "Futures_OKX":
        return client.parse_trading_balance(info)
    if eid == "Futures_CoinEx":  # ccxt parses CoinEx's futures balance inside fetch_swap_balance
        client.v2PrivateGetAssetsFuturesBalance = lambda params=None: info
        return client.fetch_swap_balance()
    return client.parse_balance(info)


@pytest.mark.parametrize("eid", VENUES)
def test_accounts_read_back_by_ccxt_match_fmz_fields(eid):
    ex, clock = _sim(eid)
    market = ex.GetMarkets()[SYM]
    client = _ccxt(eid, market)
    ex.CreateOrder(SYM, "buy", -1, _lot(market))
    clock.sleep(600_000)
    account = ex.GetAccount()
    usdt = _balance(eid, client, account.Info)["USDT"]
    if eid == "Futures_Bybit":  # ccxt: total = walletBalance, used = position + order initial margin
        assert usdt["total"] == pytest.approx(account.Equity - account.UPnL, abs=1e-6)
        assert usdt["used"] == pytest.approx(account.Equity - account.Balance, abs=1e-6)
    elif eid == "Futures_CoinEx":  # CoinEx's available leaves the unrealized PNL out (it sits in `margin`)
        assert usdt["free"] == pytest.approx(account.Balance - account.UPnL, abs=1e-6)
        assert float(account.Info.data[0].margin) == pytest.approx(
            account.Equity - account.Balance + account.UPnL, abs=1e-6)
    else:
        assert usdt["free"] == pytest.approx(account.Balance, abs=1e-6)
    if eid in ("Futures_Binance", "Futures_OKX", "Futures_BitMEX"):  # these totals are the margin balance
        assert usdt["total"] == pytest.approx(account.Equity, abs=1e-6)


# The fields of each venue's raw order as recorded from the venue. Binance: binance.json createOrders "create
# swap orders" plus fetchOpenOrder "swap open order" (time); Bybit: bybit.json fetchClosedOrder "Fetch swap
# closed order by its ID and symbol" plus fetchOpenOrder (marketUnit); BitMEX: bitmex.json fetchOrder "Swap
# market order"; OKX: ccxt/okx.py parse_order "watchOrders & fetchClosedOrders" (REST fields only); CoinEx:
# ccxt/coinex.py parse_order "Swap fetchOrder" (coinex.json holds only v1 answers).
RECORDED_ORDER_FIELDS = {
    "Futures_Binance": (
        "orderId symbol status clientOrderId price avgPrice origQty executedQty cumQty cumQuote "
        "timeInForce type reduceOnly closePosition side positionSide stopPrice workingType priceProtect "
        "origType priceMatch selfTradePreventionMode goodTillDate time updateTime"
    ),
    "Futures_Bybit": (
        "symbol orderType orderLinkId slLimitPrice orderId cancelType avgPrice stopOrderType "
        "lastPriceOnCreated orderStatus createType takeProfit cumExecValue tpslMode smpType "
        "triggerDirection blockTradeId cumFeeDetail rejectReason isLeverage price orderIv createdTime "
        "tpTriggerBy positionIdx timeInForce leavesValue updatedTime side smpGroup triggerPrice "
        "tpLimitPrice cumExecFee slTriggerBy leavesQty closeOnTrigger slippageToleranceType placeType "
        "cumExecQty reduceOnly qty stopLoss smpOrderId slippageTolerance triggerBy extraFees marketUnit"
    ),
    "Futures_BitMEX": (
        "orderID clOrdID clOrdLinkID account symbol side orderQty price displayQty stopPx pegOffsetValue "
        "pegPriceType currency settlCurrency ordType timeInForce execInst contingencyType ordStatus "
        "triggered workingIndicator ordRejReason leavesQty cumQty avgPx text transactTime timestamp"
    ),
    "Futures_OKX": (
        "algoClOrdId algoId attachAlgoClOrdId attachAlgoOrds cancelSource cancelSourceReason category ccy "
        "clOrdId cTime feeCcy instId instType isTpLimit lever linkedAlgoOrd ordId ordType posSide px "
        "pxType pxUsd pxVol quickMgnType rebate rebateCcy reduceOnly side slOrdPx slTriggerPx "
        "slTriggerPxType source stpId stpMode sz tag tdMode tgtCcy tpOrdPx tpTriggerPx tpTriggerPxType "
        "uTime pnl accFillSz avgPx state fee fillPx tradeId fillSz fillTime"
    ),
    "Futures_CoinEx": (
        "amount client_id created_at fee fee_ccy filled_amount filled_value last_filled_amount "
        "last_filled_price maker_fee_rate market market_type order_id price realized_pnl side status "
        "taker_fee_rate type unfilled_amount updated_at"
    ),
}


@pytest.mark.parametrize("eid", VENUES)
def test_order_fields_are_the_ones_recorded_from_the_venue(eid):
    ex, _clock = _sim(eid)
    order = ex.GetOrder(ex.CreateOrder(SYM, "buy", -1, _lot(ex.GetMarkets()[SYM])))
    assert set(order.Info) == set(RECORDED_ORDER_FIELDS[eid].split())



# Position fields each venue documents. Binance: ccxt/binance.py parse_position_risk (USDⓈ-M
# /fapi/v3/positionRisk, the v3 fields); Bybit: the bybit-api SDK's PositionV5 (unpkg bybit-api@4.2.7
# lib/types/response/v5-position.d.ts); OKX: ccxt/okx.py parse_position plus nautilus-okx's recorded
# /api/v5/account/positions (test_data/http_get_positions_long_short.json); CoinEx: ccxt/coinex.py
# parse_position (GET /futures/pending-position); BitMEX: ccxt/bitmex.py parse_position (GET /position).
DOCUMENTED_POSITION_FIELDS = {
    "Futures_Binance": """symbol positionSide positionAmt entryPrice breakEvenPrice markPrice
        unRealizedProfit liquidationPrice isolatedMargin notional isolatedWallet updateTime initialMargin
        maintMargin positionInitialMargin openOrderInitialMargin adl bidNotional askNotional marginAsset""",
    "Futures_Bybit": """positionIdx riskId riskLimitValue symbol side size avgPrice positionValue tradeMode
        autoAddMargin positionStatus leverage markPrice liqPrice bustPrice positionIM positionMM
        positionBalance tpslMode takeProfit stopLoss trailingStop sessionAvgPrice delta gamma vega theta
        unrealisedPnl curRealisedPnl cumRealisedPnl adlRankIndicator isReduceOnly mmrSysUpdatedTime
        leverageSysUpdatedTime createdTime updatedTime positionIMByMp positionMMByMp seq""",
    "Futures_OKX": """adl availPos avgPx cTime ccy deltaBS deltaPA gammaBS gammaPA imr instId instType
        interest last lever liab liabCcy liqPx markPx margin mgnMode mgnRatio mmr notionalUsd optVal pos
        posCcy posId posSide thetaBS thetaPA tradeId uTime upl uplRatio vegaBS vegaPA baseBal fee
        realizedPnl uplLastPx uplRatioLastPx bePx fundingFee idxPx liqPenalty pendingCloseOrdLiabVal pnl
        quoteBal quoteBorrowed quoteInterest spotInUseAmt spotInUseCcy usdPx""",
    "Futures_CoinEx": """position_id market market_type side margin_mode open_interest close_avbl
        ath_position_amount unrealized_pnl realized_pnl avg_entry_price cml_position_value
        max_position_value created_at updated_at take_profit_price stop_loss_price take_profit_type
        stop_loss_type settle_price settle_value leverage margin_avbl ath_margin_size position_margin_rate
        maintenance_margin_rate maintenance_margin_value liq_price bkr_price adl_level""",
    "Futures_BitMEX": """account symbol currency underlying quoteCurrency commission initMarginReq
        maintMarginReq riskLimit leverage crossMargin deleveragePercentile rebalancedPnl prevRealisedPnl
        prevUnrealisedPnl currentQty currentCost currentComm realisedCost unrealisedCost grossOpenCost
        grossOpenPremium isOpen markPrice markValue riskValue homeNotional foreignNotional posState posCost
        posCross posInit posComm posLoss posMargin posMaint initMargin maintMargin realisedPnl
        unrealisedPnl unrealisedPnlPcnt unrealisedRoePcnt avgCostPrice avgEntryPrice breakEvenPrice
        marginCallPrice liquidationPrice bankruptPrice timestamp lastPrice lastValue""",
}
# What a reader needs from every venue's position: instrument, size and side, entry, mark, upnl, leverage
CORE_POSITION_FIELDS = {
    "Futures_Binance": "symbol positionAmt entryPrice markPrice unRealizedProfit",
    "Futures_Bybit": "symbol side size avgPrice markPrice unrealisedPnl leverage",
    "Futures_OKX": "instId pos avgPx markPx upl lever mgnMode",
    "Futures_CoinEx": "market side open_interest avg_entry_price unrealized_pnl leverage margin_mode",
    "Futures_BitMEX": "symbol currentQty avgEntryPrice markPrice unrealisedPnl leverage crossMargin",
}


@pytest.mark.parametrize("eid", VENUES)
def test_position_fields_are_documented_ones_and_carry_the_core(eid):
    ex, _clock = _sim(eid)
    ex.CreateOrder(SYM, "buy", -1, _lot(ex.GetMarkets()[SYM]))
    (pos,) = ex.GetPositions(SYM)
    fields = set(pos.Info)
    assert fields <= set(DOCUMENTED_POSITION_FIELDS[eid].split()), "a field the venue does not send"
    assert set(CORE_POSITION_FIELDS[eid].split()) <= fields


# Account rows' fields each venue documents (the simulator fills a subset and invents none). Bybit: the
# bybit-api SDK's WalletBalanceV5Coin (unpkg bybit-api@3.10.25 lib/types/response/v5-account.d.ts); OKX:
# okx.json fetchBalance "spot balance" (type swap) details rows; CoinEx:
# https://docs.coinex.com/api/v2/assets/balance/http/get-futures-balance; BitMEX: ccxt/bitmex.py
# parse_balance (GET /user/margin).
DOCUMENTED_ACCOUNT_ROWS = {
    "Futures_Bybit": (lambda info: info.result.list[0].coin, """coin equity usdValue walletBalance free
        locked borrowAmount availableToBorrow availableToWithdraw accruedInterest totalOrderIM
        totalPositionIM totalPositionMM unrealisedPnl cumRealisedPnl bonus"""),
    "Futures_OKX": (lambda info: info.data[0].details, """accAvgPx availBal availEq borrowFroz cashBal ccy
        clSpotInUseAmt colBorrAutoConversion collateralEnabled collateralRestrict crossLiab disEq eq eqUsd
        fixedBal frozenBal imr interest isoEq isoLiab isoUpl liab maxLoan maxSpotInUse mgnRatio mmr
        notionalLever openAvgPx ordFrozen rewardBal smtSyncEq spotBal spotCopyTradingEq spotInUseAmt
        spotIsoBal spotUpl spotUplRatio stgyEq totalPnl totalPnlRatio twap uTime upl uplLiab"""),
    "Futures_CoinEx": (lambda info: info.data, "ccy available frozen margin transferrable unrealized_pnl"),
    "Futures_BitMEX": (lambda info: info, """account currency riskLimit prevState state action amount
        pendingCredit pendingDebit confirmedDebit prevRealisedPnl prevUnrealisedPnl grossComm grossOpenCost
        grossOpenPremium grossExecCost grossMarkValue riskValue taxableMargin initMargin maintMargin
        sessionMargin targetExcessMargin varMargin realisedPnl unrealisedPnl indicativeTax unrealisedProfit
        syntheticMargin walletBalance marginBalance marginBalancePcnt marginLeverage marginUsedPcnt
        excessMargin excessMarginPcnt availableMargin withdrawableMargin timestamp grossLastValue
        commission"""),
}


@pytest.mark.parametrize("eid", sorted(DOCUMENTED_ACCOUNT_ROWS))
def test_account_rows_use_only_documented_fields(eid):
    ex, _clock = _sim(eid)
    ex.CreateOrder(SYM, "buy", -1, _lot(ex.GetMarkets()[SYM]))
    rows_of, documented = DOCUMENTED_ACCOUNT_ROWS[eid]
    rows = rows_of(ex.GetAccount().Info)
    assert rows and all(set(row) <= set(documented.split()) for row in rows)
