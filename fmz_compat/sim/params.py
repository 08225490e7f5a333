"""Venue specs and market parameters of the simulator (calibrated in docs/simulator.md).

Figures for BTC and ETH come from `python -m fmz_compat.sim.calibrate` on the 2023-01..2024-07
8-hour data; other symbols get ETH's basis, more volatility and measured or conservative books
(see `symbol_params` and docs/simulator.md, "Other symbols").
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# --- venues -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueSpec:
    """What differs between venues: fees, margin, funding schedule, contract conventions."""

    key: str                      # binance, bybit, okx, coinex, bitmex
    maker_fee: float              # fraction (0.0001 = 0.01 %); negative = rebate
    taker_fee: float
    mmr: float                    # maintenance margin rate of the liquidation placeholder
    max_leverage: int
    funding_offset_h: int         # first settlement hour of the day (00/08/16 -> 0, BitMEX 04/12/20 -> 4)
    funding_mean_bps: float       # mean 8h funding rate
    funding_idio_bps: float       # venue-specific part of the 8h rate (std)
    funding_idio_ar: float        # its 8h autocorrelation
    funding_cap: float            # |rate| cap per settlement (fraction)
    basis_offset_bps: float       # static venue offset vs fair price
    spot_maker_fee: float = 0.0002
    spot_taker_fee: float = 0.0004


# Defaults: a VIP / market-maker tier (exchange_mechanics.md section 4), MMR of the first bracket.
VENUES: dict[str, VenueSpec] = {
    "binance": VenueSpec("binance", 0.0, 0.00017, 0.004, 125, 0, 0.96, 0.42, 0.5, 0.0075, 0.0),
    "bybit": VenueSpec("bybit", 0.0, 0.0003, 0.005, 100, 0, 0.985, 0.71, 0.5, 0.005, -0.9),
    "okx": VenueSpec("okx", -0.00005, 0.0002, 0.004, 100, 0, 0.805, 1.05, 0.3, 0.00375, 0.85),
    "coinex": VenueSpec("coinex", 0.0, 0.00025, 0.005, 100, 0, 1.0, 0.8, 0.4, 0.0075, 0.4),
    "bitmex": VenueSpec("bitmex", -0.0001, 0.000175, 0.005, 100, 4, 1.0, 0.8, 0.4, 0.005, -0.4),
}

# FMZ exchange ids -> (venue key, is_futures)
EID_VENUE: dict[str, tuple[str, bool]] = {
    "Futures_Binance": ("binance", True), "Binance": ("binance", False),
    "Futures_Bybit": ("bybit", True), "Bybit": ("bybit", False),
    "Futures_OKX": ("okx", True), "Futures_OKCoin": ("okx", True), "OKX": ("okx", False),
    "OKEX": ("okx", False), "Futures_CoinEx": ("coinex", True), "CoinEx": ("coinex", False),
    "Futures_BitMEX": ("bitmex", True), "BitMEX": ("bitmex", False),
}

# Withdrawal networks: (fee USDT, delay ms). Typical figures (exchange_mechanics.md section 6).
NETWORKS: dict[str, tuple[float, int]] = {
    "TRC20": (1.0, 120_000), "ERC20": (5.0, 300_000), "BEP20": (0.3, 60_000),
    "ARBITRUM": (0.1, 90_000), "SOL": (1.0, 45_000),
}
# the venues' own chain names (Binance/Bybit "TRX", OKX "USDT-Arbitrum One" after its "USDT-") -> ours
NETWORK_ALIASES: dict[str, str] = {
    "TRX": "TRC20", "ETH": "ERC20", "BSC": "BEP20", "ARBI": "ARBITRUM", "ARBITRUM ONE": "ARBITRUM",
    "SOLANA": "SOL",
}


# --- symbols ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolParams:
    """Per-coin market model. Rates are per 8 hours unless stated."""

    base: str
    start_price: float
    vol_8h: float                 # realised log-return std per 8h
    jump_per_day: float = 2.0     # Poisson intensity of price jumps
    jump_std: float = 0.006       # log jump size std
    slow_basis_bps: float = 2.95  # per-venue slow OU std (half-life SLOW_HALF_LIFE_S)
    fast_basis_bps: float = 0.9   # per-venue fast OU std (half-life FAST_HALF_LIFE_S)
    dislocation_per_day: float = 1.0
    dislocation_bps: float = 14.0
    funding_common_bps: float = 0.95
    spread_bps: float = 0.2       # quoted bid/ask spread
    depth_usdt: float = 150_000.0  # size at the best level, in USDT
    tick: float = 0.1
    step: float = 0.001           # amount step in base units (ctVal-1 venues)
    funding_mult: float = 1.0     # scales venue funding means/stds


REGIME_MULTS = (0.55, 0.9, 1.6)       # vol multipliers: calm, normal, stressed
REGIME_STAY_S = 2 * 86_400            # mean regime duration
REGIME_WEIGHTS = (0.3, 0.5, 0.2)      # long-run share (E[m^2] = 1.008)
SLOW_HALF_LIFE_S = 96 * 3600          # reproduces the 0.85 8h autocorrelation of the Bybit-OKX spread
FAST_HALF_LIFE_S = 60                 # chosen: cross-venue gaps close within about a minute
DISLOCATION_HALF_LIFE_S = 300
FUNDING_COMMON_AR = 0.9
MARK_SMOOTHING_S = 5.0                # replay without recorded marks: EMA of the recorded mid (sim/replay.py)
INDEX_OFFSET_BPS = -1.0               # the spot index rides the fair price like the simulated spot markets


@dataclass(frozen=True)
class MarkRule:
    """How a venue builds its perpetual's mark price from the spot index (docs/simulator.md, "Mark price").

    kind: "median" = median(index x (1 + last funding rate x time to funding / interval), index + moving
    average of (mid - index), last price) (Binance USDS-M, Bybit); "basis_ma" = index + moving average of
    (mid - index) (OKX); "premium_ma" = index x (1 + moving average of the premium outside the spread)
    (CoinEx, one sample a minute over the funding interval); "funding_basis" = index x (1 + funding rate x
    time to funding / interval) (BitMEX Fair Price Marking). sample_s / window_s: the moving average's
    sampling period and length (window_s 0: the funding interval)."""

    kind: str
    sample_s: float = 1.0
    window_s: float = 300.0


MARK_RULES: dict[str, MarkRule] = {
    "binance": MarkRule("median"),
    "bybit": MarkRule("median"),
    "okx": MarkRule("basis_ma"),
    "coinex": MarkRule("premium_ma", sample_s=60.0, window_s=0.0),
    "bitmex": MarkRule("funding_basis"),
}

_KNOWN: dict[str, SymbolParams] = {
    "BTC": SymbolParams("BTC", 62_000.0, 0.01352, slow_basis_bps=2.95, depth_usdt=250_000.0,
                        spread_bps=0.1, tick=0.1, step=0.001),
    "ETH": SymbolParams("ETH", 3_400.0, 0.01534, jump_per_day=2.5, slow_basis_bps=3.2,
                        depth_usdt=150_000.0, spread_bps=0.3, tick=0.01, step=0.01),
}

_ALT_PRICES: dict[str, float] = {
    "SOL": 145.0, "XRP": 0.48, "DOGE": 0.125, "BNB": 580.0, "ADA": 0.39, "AVAX": 27.0,
    "LINK": 14.0, "DOT": 6.3, "LTC": 73.0, "TRX": 0.125, "BCH": 380.0, "NEAR": 5.5,
    "MATIC": 0.55, "UNI": 9.5, "ATOM": 6.8, "ETC": 23.0, "FIL": 4.3, "APT": 7.2, "ARB": 0.78,
    "OP": 1.75, "SUI": 0.83, "INJ": 24.0, "TIA": 6.8, "SEI": 0.33, "WIF": 1.9, "PEPE": 0.0000118,
    "SHIB": 0.0000175, "AAVE": 92.0, "MKR": 2_450.0, "LDO": 1.8, "RUNE": 3.7, "STX": 1.65,
    "IMX": 1.45, "HBAR": 0.075, "ALGO": 0.15, "XLM": 0.092, "ICP": 8.2, "FTM": 0.52, "SAND": 0.3,
    "MANA": 0.31, "AXS": 5.4, "GALA": 0.024, "CRV": 0.29, "EOS": 0.58, "XTZ": 0.73, "KAS": 0.16,
    "ORDI": 36.0, "JUP": 0.86,
}


def known_coins() -> set[str]:
    """Coins with calibrated or known start prices (not a hashed one)."""
    return set(_KNOWN) | set(_ALT_PRICES)


def stable_int(*parts: object) -> int:
    """A 64-bit integer from the parts, stable across processes (unlike hash())."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _round_pow10(x: float) -> float:
    return 10.0 ** math.floor(math.log10(x))


# Order books of alts measured in ../shared/data/cryptofeed_raw_ws (Bybit orderbook.200, 2026-08-09, 44 s;
# `python -m fmz_compat.sim.calibrate books`): median quoted spread (bps), median best-level size (USDT).
_ALT_BOOKS: dict[str, tuple[float, float]] = {"SOL": (1.29, 42_000.0), "DOGE": (1.42, 1_080.0)}


def invented_note(pairs: Sequence[str]) -> list[str]:
    """One line naming the pairs whose coin the simulator knows nothing of (no start price, no data): they
    trade on an invented market, and the user should know before reading any figure of them."""
    invented = [p for p in pairs if p.split("_")[0].upper() not in _KNOWN
                and p.split("_")[0].upper() not in _ALT_PRICES]
    if not invented:
        return []
    shown = ", ".join(f"{p} (starts at {symbol_params(p).start_price:.4g})" for p in invented)
    which = "these coins" if len(invented) > 1 else "this coin"
    return [f"note    {shown}: no real market known for {which}; "
            "the simulator invents one (a hashed start price, ETH's basis, more volatility, thin books: "
            "docs/simulator.md, Other symbols)"]


def symbol_params(pair: str) -> SymbolParams:
    """Parameters of a pair like "SOL_USDT": calibrated for BTC/ETH; for other coins see docs/simulator.md
    ("Other symbols"): ETH's cross-venue basis (no alt cross-venue price data exists in the store, so alts get
    no extra opportunity the data does not show), more volatility, books measured where captured, else wide
    and thin."""
    base = pair.split("_")[0].upper()
    if base in _KNOWN:
        return _KNOWN[base]
    price = _ALT_PRICES.get(base) or 10.0 ** ((stable_int("price", base) % 4000) / 1000.0 - 1.0)
    spice = (stable_int("vol", base) % 1000) / 1000.0  # 0..1, deterministic per coin
    eth = _KNOWN["ETH"]
    spread_bps, depth_usdt = _ALT_BOOKS.get(base, (2.0 + 3.0 * spice, _ALT_BOOKS["DOGE"][1]))
    return SymbolParams(
        base=base,
        start_price=price,
        vol_8h=eth.vol_8h * (1.3 + 0.7 * spice),
        jump_per_day=3.0,
        jump_std=0.01,
        slow_basis_bps=eth.slow_basis_bps,
        fast_basis_bps=eth.fast_basis_bps,
        dislocation_per_day=eth.dislocation_per_day,
        dislocation_bps=eth.dislocation_bps,
        funding_common_bps=eth.funding_common_bps,
        spread_bps=spread_bps,
        depth_usdt=depth_usdt,
        tick=_round_pow10(price) * 1e-4,
        step=max(_round_pow10(5.0 / price), 1e-6) if price < 5.0 else _round_pow10(5.0 / price),
        funding_mult=1.5,
    )


# --- contracts per venue ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractSpec:
    """One tradable instrument on one venue, in FMZ's terms (Market struct fields)."""

    pair: str                     # BTC_USDT
    native: str                   # exchange-native symbol (Market.Symbol)
    ct_val: float                 # base units per contract (1 for spot)
    tick: float
    amount_step: float            # in contracts (base units for spot)
    min_qty: float
    min_notional: float           # today's rule
    inverse: bool = False         # coin-margined: ct_val is USD per contract
    extra: dict = field(default_factory=dict)
    # the venue's minimum notional by date where its history is known: (from epoch ms, value), oldest first,
    # the last one today's; none before the first. Empty: min_notional at every date
    min_notional_history: tuple[tuple[int, float], ...] = ()

    def min_notional_at(self, at_ms: int) -> float:
        """The minimum order notional the venue applied at `at_ms` (the simulated time)."""
        history = self.min_notional_history
        if not history:
            return self.min_notional
        i = bisect.bisect_right(history, (at_ms, math.inf))
        return history[i - 1][1] if i else 0.0

    @property
    def price_precision(self) -> int:
        return _decimals(self.tick)

    @property
    def amount_precision(self) -> int:
        return _decimals(self.amount_step)


def _decimals(x: float) -> int:
    return max(0, -int(math.floor(math.log10(x) + 1e-9)))


def contract_spec(venue: str, pair: str, futures: bool) -> ContractSpec:
    """The instrument spec of `pair` on `venue` (see docs/simulator.md, 'Contracts')."""
    sp = symbol_params(pair)
    base, quote = pair.upper().split("_")
    if not futures:
        sep = "-" if venue == "okx" else ("_" if venue == "bitmex" else "")
        lot = float(f"{sp.step / 100:.12g}")  # spot lots are finer than perp lots (BTC 0.00001)
        return ContractSpec(pair, f"{base}{sep}{quote}", 1.0, sp.tick, lot, lot, 5.0)
    if quote == "USD":  # coin-margined inverse swap
        ct = 100.0 if base == "BTC" else 10.0
        native = {"okx": f"{base}-USD-SWAP", "bitmex": f"{'XBT' if base == 'BTC' else base}USD",
                  "binance": f"{base}USD_PERP"}.get(venue, f"{base}USD")
        return ContractSpec(pair, native, ct, sp.tick, 1.0, 1.0, 0.0, inverse=True)
    if venue == "okx":
        ct = {"BTC": 0.01, "ETH": 0.1}.get(base) or _round_pow10(sp.step * 10)
        return ContractSpec(pair, f"{base}-USDT-SWAP", ct, sp.tick, 0.1, 0.1, 0.0)
    if venue == "bitmex":
        if base == "BTC":
            return ContractSpec(pair, "XBTUSDT", 0.000001, sp.tick, 100.0, 100.0, 0.0)
        ct = 0.00001 if base == "ETH" else min(_round_pow10(sp.step) / 100.0, 0.0001)
        return ContractSpec(pair, f"{base}USDT", ct, sp.tick, 100.0, 100.0, 0.0)
    native = f"{base}USDT"
    tick, step, min_notional = _LINEAR_OVERRIDES.get((venue, base), (sp.tick, sp.step, 5.0))
    history = ()
    if venue == "binance":
        history = tuple((ms, by_base.get(base, default))
                        for ms, default, by_base in BINANCE_USDM_MIN_NOTIONAL)
    return ContractSpec(pair, native, 1.0, tick, step, step, min_notional, min_notional_history=history)


# Binance USDⓈ-M minimum order notional (USDT; reduce-only orders are exempt) from each instant on, UTC ms:
# (from, every symbol, {base: its own}). Before the first there was none. Sources: Binance announcements
# "New Minimum Order Notional Limit Rule for USDⓈ-M Futures" (2021-01-21: a new rule from 2021-01-25 07:00,
# $1) and "Updates to USDⓈ-M Futures Trading Rules" (2021-02-23: 5 USDT from 2021-02-24 03:00); BTCUSDT
# 100 and ETHUSDT 20 from 2023-11-02 10:00 as a third-party report of Binance's announcement gives it
# (app.wrgsb.com/tr/post/status/17744539; Binance's own FAQ 360033161972 says 100 for BTCUSDT today).
BINANCE_USDM_MIN_NOTIONAL: tuple[tuple[int, float, dict[str, float]], ...] = (
    (1_611_558_000_000, 1.0, {}),  # 2021-01-25 07:00 UTC
    (1_614_135_600_000, 5.0, {}),  # 2021-02-24 03:00 UTC
    (1_698_919_200_000, 5.0, {"BTC": 100.0, "ETH": 20.0}),  # 2023-11-02 10:00 UTC
)


# Real filters where exchange_mechanics.md / hedge.venues have them: (tick, amount step, min notional)
_LINEAR_OVERRIDES: dict[tuple[str, str], tuple[float, float, float]] = {
    ("binance", "BTC"): (0.1, 0.001, 100.0),
    ("binance", "ETH"): (0.01, 0.001, 20.0),
    ("coinex", "BTC"): (0.01, 0.0001, 0.0),
    ("coinex", "ETH"): (0.01, 0.001, 0.0),
}
