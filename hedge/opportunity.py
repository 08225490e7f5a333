"""The edge of buying on the cheap venue and selling on the rich one, net of every fee.

Buy on venue A at its ask, sell on venue B at its bid. If the two prices later meet at a common
mid, closing crosses both books again (half of each spread) and pays two more taker fees:

    edge = (bidB - askA) / ref - (spreadA + spreadB) / 2 / ref - 2 * (takerA + takerB)

all in bps. Screening uses book tops (floats); sizing walks depth for the intended quantity.
Funding carry to the next settlement is reported beside the edge, not added to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hedge.market import Top

BPS = 10_000.0


def edge_bps(ask_buy: float, bid_buy: float, bid_sell: float, ask_sell: float,
             taker_buy_bps: float, taker_sell_bps: float,
             exec_buy: float | None = None, exec_sell: float | None = None) -> float:
    """Net edge in bps. exec_* override the entry prices with depth-walked averages."""
    ref = (ask_buy + bid_buy + ask_sell + bid_sell) * 0.25
    entry_buy = ask_buy if exec_buy is None else exec_buy
    entry_sell = bid_sell if exec_sell is None else exec_sell
    entry = (entry_sell - entry_buy) / ref * BPS
    exit_cross = ((ask_buy - bid_buy) + (ask_sell - bid_sell)) * 0.5 / ref * BPS
    return entry - exit_cross - 2.0 * (taker_buy_bps + taker_sell_bps)


def spread_bps(rich_mid: float, cheap_mid: float) -> float:
    """How much richer one venue's mid is than another's, in bps of their average."""
    return (rich_mid - cheap_mid) / ((rich_mid + cheap_mid) * 0.5) * BPS


def walk(levels: list[tuple[float, float]], qty: float) -> float | None:
    """Average price to fill qty (base) through levels best-first; None if the book is too thin."""
    if qty <= 0:
        return None
    left = qty
    cost = 0.0
    for price, amount in levels:
        take = amount if amount < left else left
        cost += take * price
        left -= take
        if left <= qty * 1e-12:
            return cost / qty
    return None


def visible_depth(levels: list[tuple[float, float]], band_bps: float) -> float:
    """Base quantity quoted within band_bps of the best price (levels best first)."""
    if not levels:
        return 0.0
    best = levels[0][0]
    reach = best * band_bps / BPS * (1.0 + 1e-9)  # a level exactly at the band edge counts
    total = 0.0
    for price, amount in levels:
        if abs(price - best) > reach:
            break
        total += amount
    return total


def depth_share_cap(buy_asks: list[tuple[float, float]], sell_bids: list[tuple[float, float]],
                    band_bps: float, share: float) -> float:
    """Largest base quantity that takes at most `share` of the depth within band_bps on either leg."""
    return share * min(visible_depth(buy_asks, band_bps), visible_depth(sell_bids, band_bps))


@dataclass(frozen=True)
class Opportunity:
    symbol: str
    buy_venue: str
    sell_venue: str
    edge_bps: float
    spread_bps: float          # mid spread, rich minus cheap
    buy_price: float
    sell_price: float
    funding_carry_bps: float = 0.0


def best_opportunity(symbol: str, tops: list[tuple[str, Top]], taker_bps: dict[str, float],
                     funding: dict[str, float] | None = None) -> Opportunity | None:
    """Best venue pair for one symbol from (venue, Top) entries (fresh tops only)."""
    # Hot path (every symbol, every turn, K x (K-1) venue pairs): the Opportunity is built once, for the
    # winner, not each time a pair beats the best so far (a frozen dataclass costs more than the edge).
    best_edge = -1e18
    best_buy: tuple[str, Top] | None = None
    best_sell: tuple[str, Top] | None = None
    for buy_venue, buy in tops:
        ask_buy, bid_buy = buy.ask, buy.bid
        for sell_venue, sell in tops:
            if buy_venue == sell_venue or sell.bid <= ask_buy:
                continue
            e = edge_bps(ask_buy, bid_buy, sell.bid, sell.ask, taker_bps[buy_venue], taker_bps[sell_venue])
            if e > best_edge:
                best_edge = e
                best_buy, best_sell = (buy_venue, buy), (sell_venue, sell)
    if best_buy is None or best_sell is None:
        return None
    (buy_venue, buy), (sell_venue, sell) = best_buy, best_sell
    carry = 0.0
    if funding is not None:
        carry = (funding.get(sell_venue, 0.0) - funding.get(buy_venue, 0.0)) * BPS
    return Opportunity(symbol, buy_venue, sell_venue, best_edge, spread_bps(sell.mid, buy.mid), buy.ask,
                       sell.bid, carry)
