"""The one strategy parameter (PARAMS, a JSON document) parsed into frozen dataclasses.

Every key is documented in docs/params.md. A bad value raises ConfigError whose message is a
single line naming the key, the value and how to fix it; strategy.py logs it and stops before
any order is sent.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

VENUES = ("binance", "bybit", "okx", "coinex", "bitmex")


class ConfigError(ValueError):
    """A parameter value is unusable. The message is one line: key, value, fix."""

    def __init__(self, key: str, value: Any, fix: str) -> None:
        shown = json.dumps(value, default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"PARAMS key '{key}' = {shown} is invalid: {fix}")
        self.key = key


@dataclass(frozen=True)
class FeeRates:
    """Fees of one venue in basis points of notional (negative maker = rebate)."""

    maker_bps: Decimal
    taker_bps: Decimal


# Defaults: the top published VIP tiers (/work/shared/reference/exchange_mechanics.md section 4),
# the same tiers the local simulator charges. Set these to your account's actual tier: the edge is
# computed net of them, so fees set too low make the strategy trade at a loss.
DEFAULT_FEES: dict[str, FeeRates] = {
    "binance": FeeRates(Decimal("0"), Decimal("1.7")),      # VIP 9: 0.0000 % / 0.0170 %
    "bybit": FeeRates(Decimal("0"), Decimal("3.0")),        # Supreme VIP: 0.0000 % / 0.0300 %
    "okx": FeeRates(Decimal("-0.5"), Decimal("2.0")),       # top VIP tier (no public table in the store)
    "coinex": FeeRates(Decimal("0"), Decimal("2.5")),       # top VIP tier
    "bitmex": FeeRates(Decimal("-1.0"), Decimal("1.75")),   # discount floor: taker 0.0175 %, rebate 0.01 %
}


DEFAULT_REBATE_BPS = Decimal("1")

TREASURY_MODES = ("auto", "notify", "off")


@dataclass(frozen=True)
class NetworkCost:
    """What one on-chain USDT withdrawal costs on a network, and how long it takes to be credited."""

    fee_usdt: Decimal
    transit_s: int


# Typical USDT withdrawal fees and credit times (venue fee schedules vary; set yours in treasury.networks).
DEFAULT_NETWORKS: dict[str, NetworkCost] = {
    "TRC20": NetworkCost(Decimal("1"), 300),
    "ERC20": NetworkCost(Decimal("5"), 900),
    "BEP20": NetworkCost(Decimal("0.3"), 180),
    "ARBITRUM": NetworkCost(Decimal("0.1"), 300),
    "SOL": NetworkCost(Decimal("1"), 120),
}


@dataclass(frozen=True)
class WhitelistEntry:
    """A deposit address of one of our venues that treasury may withdraw to."""

    venue: str
    network: str
    address: str
    memo: str = ""


@dataclass(frozen=True)
class TreasuryConfig:
    mode: str = "notify"                       # auto | notify | off
    weights: MappingProxyType[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({}))  # venue -> weight
    whitelist: tuple[WhitelistEntry, ...] = ()
    networks: MappingProxyType[str, NetworkCost] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_NETWORKS)))
    trigger_distance_pct: Decimal = Decimal("60")  # a venue nearer to liquidation than this gets margin
    target_distance_pct: Decimal = Decimal("75")   # ... up to this distance (hysteresis)
    rebalance_pct: Decimal = Decimal("10")     # else: act when off its target by this % of total equity
    min_transfer_usdt: Decimal = Decimal("100")
    max_transfer_usdt: Decimal = Decimal("10000")
    max_daily_usdt: Decimal = Decimal("50000")
    max_fee_bps: Decimal = Decimal("20")       # a transfer that is not urgent pays at most this fee
    timeout_s: int = 7_200                     # a withdrawal not credited by then raises a critical alert
    notify_interval_s: int = 3_600

    def weight(self, venue: str) -> Decimal:
        return self.weights.get(venue, Decimal(1))

    def addresses(self, venue: str) -> list[WhitelistEntry]:
        return [e for e in self.whitelist if e.venue == venue]


@dataclass(frozen=True)
class StopLevel:
    """Close `close_fraction` of a venue's pairs once its nearest liquidation is `distance_pct` away."""

    distance_pct: Decimal
    close_fraction: Decimal
    emergency: bool = False  # flatten with banded IOC orders instead of market orders


DEFAULT_STOP_LEVELS = (
    StopLevel(Decimal(40), Decimal("0.25")),
    StopLevel(Decimal(30), Decimal("0.5")),
    StopLevel(Decimal(20), Decimal(1), emergency=True),
)


@dataclass(frozen=True)
class StopsConfig:
    """Tiered stops (hedge/risk.py). Levels run from the widest distance to the narrowest."""

    levels: tuple[StopLevel, ...] = DEFAULT_STOP_LEVELS
    max_effective_leverage: Decimal = Decimal(8)  # a venue's notional / equity above this fires level 1
    retry_s: int = 5                       # wait before a level fires again on the same venue
    emergency_band_bps: Decimal = Decimal(100)  # IOC price band of the emergency flatten
    # a re-hedge of a loose leg (hedge/rehedge.py) keeps its venue at least this many times the first stop
    # level from liquidation (and under max_effective_leverage / this), taking only what fits when the whole
    # leg does not. Openings keep 1.25 x (risk.OPEN_MARGIN); a re-hedge reduces the fund's risk (the leg is
    # unhedged otherwise), so it may go nearer, but never to the level itself (its stop would undo it)
    rehedge_margin: Decimal = Decimal("1.1")


@dataclass(frozen=True)
class GuardsConfig:
    """Conditions that switch the trading state to REDUCING by themselves (0 turns a guard off)."""

    max_net_exposure_usdt: Decimal = Decimal(1000)  # per coin, summed over venues, at a position read
    max_drawdown_pct: Decimal = Decimal(20)         # of unit NAV from its peak
    max_rejects: int = 5                             # refused orders within reject_window_s
    reject_window_s: int = 600
    max_clock_drift_ms: int = 5000                   # venue timestamps vs the runtime clock


@dataclass(frozen=True)
class OutageConfig:
    """A venue function (market / orders / account) is out after `max_errors` failed calls in a row."""

    max_errors: int = 3
    # a venue's published maintenance (hedge/maintenance.py): no new pair on it from this long before
    # the window begins (0: only during it), and how often its status is read
    maintenance_lead_s: int = 900
    maintenance_poll_s: int = 300
    # a timed-out order is proved absent only by lookups spread over this long after the send (none of the
    # venues documents how late a timed-out order may still reach its matching engine: 10 s is our floor)
    order_settle_s: int = 10
    # wall time one turn may spend waiting on settle windows (all its orders together): an order still
    # unproved then stays journaled IN_FLIGHT and is settled by recovery at later turns, so the rest of the
    # turn (valuation, other venues' stops) is not held up for order_settle_s per refused order
    max_turn_wait_ms: int = 2000
    # an opening whose one leg filled while the other's outcome is unknown (its venue died between the
    # legs) leaves the filled leg unhedged: it is cut, reduce-only on its own venue, once it has been so for
    # max_unhedged_s seconds (at least order_settle_s: the lookups may still find the other leg), or at once
    # when its notional is above max_unhedged_usdt (hedge/risk.py, Risk.bound_unhedged)
    max_unhedged_s: int = 60
    max_unhedged_usdt: Decimal = Decimal(5000)
    # an order call on a venue that timed out (outcome unknown) stops new pairs there for this long,
    # extended by each further timeout (0: off); closes, stops and recovery still go (hedge/outage.py)
    timeout_cooldown_s: int = 60
    # a venue that refused max_errors orders in a row (definite answers: nothing can land later) counts as
    # out for orders this long, whatever its lookups answer: no new pairs there (closes, stops and recovery
    # still go); then the next opening tries again (0: off)
    refusal_cooldown_s: int = 60


@dataclass(frozen=True)
class VenueRate:
    """A venue's request budget for this account: orders per window and request weight per minute."""

    orders: int
    window_s: int
    weight_per_min: int


# About half of each venue's published per-account limit, so two nodes or a manual session fit beside us.
DEFAULT_RATES: dict[str, VenueRate] = {
    "binance": VenueRate(150, 10, 1200),   # 300 orders / 10 s, 2400 weight / min
    "bybit": VenueRate(5, 1, 3000),        # 10 orders / s per symbol
    "okx": VenueRate(30, 2, 1200),         # 60 orders / 2 s per instrument
    "coinex": VenueRate(10, 1, 1200),      # 20 orders / s
    "bitmex": VenueRate(30, 60, 110),      # 120 requests / min in all (orders count in both)
}


@dataclass(frozen=True)
class RateConfig:
    venues: MappingProxyType[str, VenueRate] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_RATES)))
    max_wait_ms: int = 2000       # an opening waits at most this long for its budget, else it is skipped
    close_reserve_pct: int = 20   # share of each bucket only closes and stops may use

    def venue(self, key: str) -> VenueRate:
        return self.venues.get(key, DEFAULT_RATES.get(key, VenueRate(5, 1, 600)))


TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


@dataclass(frozen=True)
class ClusterConfig:
    """Distributed mode (hedge/cluster/redis.py, docs/cluster.md): several nodes on the same accounts."""

    redis_url: str
    node: str
    region: str = ""
    node_weight: int = 1  # 0 = standby: acts only while no node of positive weight is alive
    venue_regions: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    lease_ttl_s: int = 15
    namespace: str = "xvh"

    def redis_url_shown(self) -> str:
        """The URL without its password (safe for logs)."""
        return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", self.redis_url)


@dataclass(frozen=True)
class HedgeConfig:
    symbols: tuple[str, ...] = ("BTC_USDT", "ETH_USDT")
    order_notional_usdt: Decimal = Decimal("1000")
    max_position_usdt: Decimal = Decimal("3000")
    # Most notional per leg of one closing execution (None: 5000 or order_notional_usdt, the larger): a
    # larger close goes out as several executions, so a second leg in doubt leaves at most this unhedged.
    max_close_usdt: Decimal | None = None
    # Smallest opening worth sending (None: a quarter of order_notional_usdt): when the symbol's room under
    # max_position_usdt or the book's depth leaves less, no pair opens (no dust pairs).
    min_order_usdt: Decimal | None = None
    open_threshold_bps: Decimal = Decimal("3")
    close_threshold_bps: Decimal = Decimal("0")
    cooldown_s: int = 60
    fees: MappingProxyType[str, FeeRates] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_FEES)))
    leverage: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType({v: 5 for v in VENUES}))
    max_effective_leverage: Decimal = Decimal("3")
    margin_buffer: Decimal = Decimal("1.5")
    loop_interval_ms: int = 1000
    status_interval_s: int = 60
    # positions read (one GetPositions per venue) this often between reconciles: a venue that changed one
    # of our legs by itself (ADL, a liquidation) is reconciled then, not at the next status interval
    position_check_s: int = 5
    max_book_age_ms: int = 3000
    max_slippage_bps: Decimal = Decimal("5")
    max_depth_share: Decimal = Decimal("0.2")  # of the depth within max_slippage_bps, per order and leg
    # Estimated rebates (referral / market-maker programmes) in bps of volume per venue; about 1 bp is
    # typical. Shown beside profit and counted in the performance-fee statement, never in equity.
    rebate_bps: MappingProxyType[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({v: DEFAULT_REBATE_BPS for v in VENUES}))
    log_keep_rows: int = 65_536        # LogReset keeps this many newest log rows
    log_reset_interval_s: int = 3_600
    reconcile_policy: str = "halt"     # halt | adopt (venue positions become the ledger)
    stops: StopsConfig = field(default_factory=StopsConfig)
    guards: GuardsConfig = field(default_factory=GuardsConfig)
    outage: OutageConfig = field(default_factory=OutageConfig)
    rate_limits: RateConfig = field(default_factory=RateConfig)
    trading_state: str | None = None   # start in this state (None: keep the state saved before a restart)
    cluster: ClusterConfig | None = None  # None: one node, no Redis (the default)
    treasury: TreasuryConfig = field(default_factory=TreasuryConfig)

    def fee(self, venue: str) -> FeeRates:
        return self.fees.get(venue, DEFAULT_FEES.get(venue, FeeRates(Decimal("2"), Decimal("5"))))

    def leverage_for(self, venue: str) -> int:
        return int(self.leverage.get(venue, 5))

    @property
    def min_order_notional(self) -> Decimal:
        if self.min_order_usdt is not None:
            return self.min_order_usdt
        return self.order_notional_usdt / 4

    @property
    def close_chunk_usdt(self) -> Decimal:
        if self.max_close_usdt is not None:
            return self.max_close_usdt
        return max(DEFAULT_MAX_CLOSE_USDT, self.order_notional_usdt)


DEFAULT_MAX_CLOSE_USDT = Decimal("5000")
KEYS = (
    "symbols", "order_notional_usdt", "max_position_usdt", "max_close_usdt", "min_order_usdt",
    "open_threshold_bps", "close_threshold_bps", "cooldown_s", "fees", "leverage", "max_effective_leverage",
    "margin_buffer", "loop_interval_ms", "status_interval_s", "position_check_s", "max_book_age_ms",
    "max_slippage_bps", "max_depth_share", "rebate_bps", "log_keep_rows", "log_reset_interval_s",
    "reconcile_policy", "stops", "guards", "outage", "rate_limits", "trading_state", "cluster", "treasury",
)
CLUSTER_KEYS = ("redis_url", "node", "region", "node_weight", "venue_regions", "lease_ttl_s", "namespace")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
RECONCILE_POLICIES = ("halt", "adopt")


def parse_params(text: str | None) -> HedgeConfig:
    """Parse the PARAMS JSON string; None or empty gives the defaults."""
    if text is None or not str(text).strip():
        return HedgeConfig()
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError("PARAMS", str(text)[:40], f"not valid JSON ({exc.msg} at char {exc.pos}); "
                          "paste the content of params.json") from None
    if not isinstance(raw, dict):
        raise ConfigError("PARAMS", raw, "must be a JSON object like params.json")
    return config_from_dict(raw)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON keeps the last of two equal keys silently: an added line would not change what runs."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            earlier = json.dumps(found[key], default=str)
            raise ConfigError(key, value,
                              f"the key appears twice (also = {earlier}); keep one of the two lines")
        found[key] = value
    return found


def config_from_dict(raw: dict[str, Any]) -> HedgeConfig:
    for key in raw:
        if key.startswith("_"):
            continue  # comments
        if key not in KEYS:
            raise ConfigError(key, raw[key], _unknown(key, KEYS))
    d = HedgeConfig()
    cfg = HedgeConfig(
        symbols=_symbols(raw.get("symbols", list(d.symbols))),
        order_notional_usdt=_dec(raw, "order_notional_usdt", d.order_notional_usdt, low=Decimal("5")),
        max_position_usdt=_dec(raw, "max_position_usdt", d.max_position_usdt, low=Decimal("5")),
        max_close_usdt=(_dec(raw, "max_close_usdt", Decimal(0), low=Decimal("5"))
                        if raw.get("max_close_usdt") is not None else None),
        min_order_usdt=(_dec(raw, "min_order_usdt", Decimal(0), low=Decimal("0"))
                        if raw.get("min_order_usdt") is not None else None),
        open_threshold_bps=_dec(raw, "open_threshold_bps", d.open_threshold_bps, low=Decimal("0"),
                                high=Decimal("1000")),
        close_threshold_bps=_dec(raw, "close_threshold_bps", d.close_threshold_bps, low=Decimal("-1000"),
                                 high=Decimal("1000")),
        cooldown_s=_int(raw, "cooldown_s", d.cooldown_s, low=0, high=86_400),
        fees=_fees(raw.get("fees", {})),
        leverage=_leverage(raw.get("leverage", {})),
        max_effective_leverage=_dec(raw, "max_effective_leverage", d.max_effective_leverage,
                                    low=Decimal("0.1"), high=Decimal("20")),
        margin_buffer=_dec(raw, "margin_buffer", d.margin_buffer, low=Decimal("1"), high=Decimal("10")),
        loop_interval_ms=_int(raw, "loop_interval_ms", d.loop_interval_ms, low=50, high=60_000),
        status_interval_s=_int(raw, "status_interval_s", d.status_interval_s, low=1, high=86_400),
        position_check_s=_int(raw, "position_check_s", d.position_check_s, low=1, high=86_400),
        max_book_age_ms=_int(raw, "max_book_age_ms", d.max_book_age_ms, low=100, high=600_000),
        max_slippage_bps=_dec(raw, "max_slippage_bps", d.max_slippage_bps, low=Decimal("0"),
                              high=Decimal("500")),
        max_depth_share=_dec(raw, "max_depth_share", d.max_depth_share, low=Decimal("0.01"),
                             high=Decimal("1")),
        rebate_bps=_rebates(raw.get("rebate_bps", {})),
        log_keep_rows=_int(raw, "log_keep_rows", d.log_keep_rows, low=1_000, high=10_000_000),
        log_reset_interval_s=_int(raw, "log_reset_interval_s", d.log_reset_interval_s, low=60, high=604_800),
        reconcile_policy=_choice(raw, "reconcile_policy", d.reconcile_policy, RECONCILE_POLICIES),
        stops=_stops(raw.get("stops", {})),
        guards=_guards(raw.get("guards", {})),
        outage=_outage(raw.get("outage", {})),
        rate_limits=_rates(raw.get("rate_limits", {})),
        trading_state=_trading_state(raw.get("trading_state")),
        cluster=_cluster(raw["cluster"]) if raw.get("cluster") is not None else None,
        treasury=_treasury(raw.get("treasury", {})),
    )
    if cfg.cluster is not None and cfg.reconcile_policy == "adopt":
        raise ConfigError("reconcile_policy", "adopt", "rebuilding the ledger from venue positions is for "
                          "one node only; use \"halt\" with a cluster section (or run the adopt once "
                          "without it)")
    if cfg.cluster is not None and cfg.cluster.lease_ttl_s * 1000 < 3 * cfg.loop_interval_ms:
        raise ConfigError("cluster.lease_ttl_s", cfg.cluster.lease_ttl_s, f"must cover at least three loop "
                          f"turns (loop_interval_ms {cfg.loop_interval_ms}): leases are renewed once a turn")
    if cfg.max_position_usdt < cfg.order_notional_usdt:
        raise ConfigError("max_position_usdt", str(cfg.max_position_usdt),
                          f"must be at least order_notional_usdt ({cfg.order_notional_usdt})")
    if cfg.max_close_usdt is not None and cfg.max_close_usdt < cfg.order_notional_usdt:
        raise ConfigError("max_close_usdt", str(cfg.max_close_usdt),
                          f"must be at least order_notional_usdt ({cfg.order_notional_usdt}): a pair must "
                          "close in one execution")
    if cfg.min_order_usdt is not None and cfg.min_order_usdt > cfg.order_notional_usdt:
        raise ConfigError("min_order_usdt", str(cfg.min_order_usdt),
                          f"must be at most order_notional_usdt ({cfg.order_notional_usdt})")
    if cfg.close_threshold_bps >= cfg.open_threshold_bps:
        raise ConfigError("close_threshold_bps", str(cfg.close_threshold_bps),
                          f"must be below open_threshold_bps ({cfg.open_threshold_bps}) for hysteresis")
    return cfg


def _unknown(key: str, known: Iterable[str]) -> str:
    """The fix for an unknown key: the closest known spelling when there is one, else the list."""
    known = tuple(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return f"unknown key; check the spelling (known: {', '.join(known)})"


def _choice(raw: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(key, value, f"must be one of {', '.join(repr(a) for a in allowed)}")
    return str(value)


def _number(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, value, "must be a number, e.g. 10 or 2.5")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(key, value, "must be a number, e.g. 10 or 2.5") from None
    if not result.is_finite():
        raise ConfigError(key, value, "must be a finite number")
    return result


def _dec(raw: dict[str, Any], key: str, default: Decimal, *, low: Decimal | None = None,
         high: Decimal | None = None) -> Decimal:
    if key not in raw:
        return default
    value = _number(key, raw[key])
    _check_range(key, raw[key], value, low, high)
    return value


def _int(raw: dict[str, Any], key: str, default: int, *, low: int, high: int) -> int:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, f"must be a whole number between {low} and {high}")
    _check_range(key, value, Decimal(value), Decimal(low), Decimal(high))
    return value


def _check_range(key: str, shown: Any, value: Decimal, low: Decimal | None, high: Decimal | None) -> None:
    if low is not None and value < low or high is not None and value > high:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(key, shown, f"must be {bounds}")


def _symbols(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("symbols", value, 'must be a non-empty list of pairs like ["BTC_USDT", "ETH_USDT"]')
    seen: list[str] = []
    for item in value:
        if not isinstance(item, str) or item.count("_") != 1 or not item.endswith("_USDT") \
                or item != item.upper() or len(item) < 6:
            raise ConfigError("symbols", item, 'each symbol must be an upper-case USDT pair like "BTC_USDT"')
        if item in seen:
            raise ConfigError("symbols", item, "listed twice; remove the duplicate")
        seen.append(item)
    return tuple(seen)


def _fees(value: Any) -> MappingProxyType[str, FeeRates]:
    if not isinstance(value, dict):
        raise ConfigError("fees", value,
                          'must be an object like {"binance": {"maker_bps": 1.2, "taker_bps": 3.2}}')
    fees = dict(DEFAULT_FEES)
    for venue, rates in value.items():
        key = f"fees.{venue}"
        if venue not in VENUES:
            raise ConfigError(key, rates, f"unknown venue; use one of {', '.join(VENUES)}")
        if not isinstance(rates, dict):
            raise ConfigError(key, rates, 'must be {"maker_bps": number, "taker_bps": number}')
        for name in sorted(set(rates) - {"maker_bps", "taker_bps"}):
            raise ConfigError(f"{key}.{name}", rates[name], _unknown(name, ("maker_bps", "taker_bps")))
        base = DEFAULT_FEES[venue]
        maker = _fee_value(f"{key}.maker_bps", rates.get("maker_bps", base.maker_bps), Decimal("-10"))
        taker = _fee_value(f"{key}.taker_bps", rates.get("taker_bps", base.taker_bps), Decimal("0"))
        fees[venue] = FeeRates(maker, taker)
    return MappingProxyType(fees)


def _fee_value(key: str, value: Any, low: Decimal) -> Decimal:
    number = value if isinstance(value, Decimal) else _number(key, value)
    _check_range(key, value, number, low, Decimal("100"))
    return number


def _rebates(value: Any) -> MappingProxyType[str, Decimal]:
    if not isinstance(value, dict):
        raise ConfigError("rebate_bps", value, 'must be an object like {"binance": 1, "okx": 0.8}')
    rates = {v: DEFAULT_REBATE_BPS for v in VENUES}
    for venue, rate in value.items():
        key = f"rebate_bps.{venue}"
        if venue not in VENUES:
            raise ConfigError(key, rate, f"unknown venue; use one of {', '.join(VENUES)}")
        rates[venue] = _fee_value(key, rate, Decimal("0"))
    return MappingProxyType(rates)


def _leverage(value: Any) -> MappingProxyType[str, int]:
    if not isinstance(value, dict):
        raise ConfigError("leverage", value, 'must be an object like {"binance": 5, "okx": 5}')
    levels = {v: 5 for v in VENUES}
    for venue, level in value.items():
        key = f"leverage.{venue}"
        if venue not in VENUES:
            raise ConfigError(key, level, f"unknown venue; use one of {', '.join(VENUES)}")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 50:
            raise ConfigError(key, level, "must be a whole number between 1 and 50")
        levels[venue] = level
    return MappingProxyType(levels)


def _section(value: Any, key: str, known: tuple[str, ...], example: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, value, f"must be an object like {example}")
    for name in value:
        if name not in known:
            raise ConfigError(f"{key}.{name}", value[name], _unknown(name, known))
    return {f"{key}.{name}": item for name, item in value.items()}


def _stops(value: Any) -> StopsConfig:
    d = StopsConfig()
    raw = _section(value, "stops", ("levels", "max_effective_leverage", "retry_s", "emergency_band_bps",
                                    "rehedge_margin"),
                   '{"levels": [{"distance_pct": 40, "close_fraction": 0.25}], "max_effective_leverage": 8}')
    levels = d.levels
    if "stops.levels" in raw:
        levels = _stop_levels(raw["stops.levels"])
    return StopsConfig(
        levels=levels,
        max_effective_leverage=_dec(raw, "stops.max_effective_leverage", d.max_effective_leverage,
                                    low=Decimal("0.5"), high=Decimal("100")),
        retry_s=_int(raw, "stops.retry_s", d.retry_s, low=1, high=3600),
        emergency_band_bps=_dec(raw, "stops.emergency_band_bps", d.emergency_band_bps, low=Decimal(1),
                                high=Decimal(2000)),
        # above 1: at the level itself the next tick's stop would undo the re-hedge; at most the opening
        # check's 1.25 (risk.OPEN_MARGIN): a re-hedge, which reduces risk, is held to no more than an opening
        rehedge_margin=_dec(raw, "stops.rehedge_margin", d.rehedge_margin, low=Decimal("1.02"),
                            high=Decimal("1.25")))


def _stop_levels(value: Any) -> tuple[StopLevel, ...]:
    key = "stops.levels"
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, 'must be a non-empty list like [{"distance_pct": 40, '
                          '"close_fraction": 0.25}, {"distance_pct": 20, "close_fraction": 1, '
                          '"emergency": true}]')
    levels: list[StopLevel] = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        raw = _section(item, where, ("distance_pct", "close_fraction", "emergency"),
                       '{"distance_pct": 30, "close_fraction": 0.5}')
        for name in ("distance_pct", "close_fraction"):
            if f"{where}.{name}" not in raw:
                raise ConfigError(where, item, f"needs {name}")
        distance = _dec(raw, f"{where}.distance_pct", Decimal(0), low=Decimal("0.5"), high=Decimal(95))
        fraction = _number(f"{where}.close_fraction", raw[f"{where}.close_fraction"])
        if not Decimal(0) < fraction <= Decimal(1):
            raise ConfigError(f"{where}.close_fraction", raw[f"{where}.close_fraction"],
                              "must be above 0 and at most 1 (the share of the pairs closed at this level)")
        emergency = raw.get(f"{where}.emergency", False)
        if not isinstance(emergency, bool):
            raise ConfigError(f"{where}.emergency", emergency, "must be true or false")
        if levels and distance >= levels[-1].distance_pct:
            raise ConfigError(f"{where}.distance_pct", raw[f"{where}.distance_pct"],
                              f"must be below the previous level's {levels[-1].distance_pct} "
                              "(levels run from the widest distance to the narrowest)")
        if levels and levels[-1].emergency:
            raise ConfigError(f"{key}[{index - 1}].emergency", True,
                              "only the last level may be the emergency one")
        levels.append(StopLevel(distance, fraction, emergency))
    if levels[-1].close_fraction != 1 and levels[-1].emergency:
        raise ConfigError(f"{key}[{len(levels) - 1}].close_fraction", str(levels[-1].close_fraction),
                          "the emergency level flattens: set close_fraction 1")
    return tuple(levels)


def _guards(value: Any) -> GuardsConfig:
    d = GuardsConfig()
    raw = _section(value, "guards", ("max_net_exposure_usdt", "max_drawdown_pct", "max_rejects",
                                     "reject_window_s", "max_clock_drift_ms"),
                   '{"max_net_exposure_usdt": 1000, "max_drawdown_pct": 20}')
    return GuardsConfig(
        max_net_exposure_usdt=_dec(raw, "guards.max_net_exposure_usdt", d.max_net_exposure_usdt,
                                   low=Decimal(0)),
        max_drawdown_pct=_dec(raw, "guards.max_drawdown_pct", d.max_drawdown_pct, low=Decimal(0),
                              high=Decimal(100)),
        max_rejects=_int(raw, "guards.max_rejects", d.max_rejects, low=0, high=10_000),
        reject_window_s=_int(raw, "guards.reject_window_s", d.reject_window_s, low=1, high=86_400),
        max_clock_drift_ms=_int(raw, "guards.max_clock_drift_ms", d.max_clock_drift_ms, low=0,
                                high=3_600_000))


def _outage(value: Any) -> OutageConfig:
    raw = _section(value, "outage",
                   ("max_errors", "maintenance_lead_s", "maintenance_poll_s", "order_settle_s",
                    "max_turn_wait_ms", "max_unhedged_s", "max_unhedged_usdt", "timeout_cooldown_s",
                    "refusal_cooldown_s"),
                   '{"max_errors": 3, "maintenance_lead_s": 900, "maintenance_poll_s": 300, '
                   '"max_unhedged_s": 60, "max_unhedged_usdt": 5000, "timeout_cooldown_s": 60, '
                   '"refusal_cooldown_s": 60}')
    d = OutageConfig()
    settle_s = _int(raw, "outage.order_settle_s", d.order_settle_s, low=10, high=600)
    unhedged_s = _int(raw, "outage.max_unhedged_s", d.max_unhedged_s, low=1, high=86_400)
    if unhedged_s < settle_s:
        raise ConfigError("outage.max_unhedged_s", unhedged_s,
                          f"must be at least outage.order_settle_s ({settle_s}): the lookups of the other "
                          "leg's order may still find it filled until then")
    return OutageConfig(
        max_errors=_int(raw, "outage.max_errors", d.max_errors, low=1, high=1000),
        maintenance_lead_s=_int(raw, "outage.maintenance_lead_s", d.maintenance_lead_s, low=0, high=86_400),
        maintenance_poll_s=_int(raw, "outage.maintenance_poll_s", d.maintenance_poll_s, low=30, high=86_400),
        order_settle_s=settle_s,
        max_turn_wait_ms=_int(raw, "outage.max_turn_wait_ms", d.max_turn_wait_ms, low=0, high=600_000),
        max_unhedged_s=unhedged_s,
        max_unhedged_usdt=_dec(raw, "outage.max_unhedged_usdt", d.max_unhedged_usdt, low=Decimal(0),
                               high=Decimal(100_000_000)),
        timeout_cooldown_s=_int(raw, "outage.timeout_cooldown_s", d.timeout_cooldown_s, low=0, high=3600),
        refusal_cooldown_s=_int(raw, "outage.refusal_cooldown_s", d.refusal_cooldown_s, low=0, high=3600))


def _rates(value: Any) -> RateConfig:
    d = RateConfig()
    raw = _section(value, "rate_limits", (*VENUES, "max_wait_ms", "close_reserve_pct"),
                   '{"binance": {"orders": 150, "window_s": 10, "weight_per_min": 1200}, '
                   '"max_wait_ms": 2000}')
    venues = dict(DEFAULT_RATES)
    for venue in VENUES:
        key = f"rate_limits.{venue}"
        if key not in raw:
            continue
        base = DEFAULT_RATES[venue]
        item = _section(raw[key], key, ("orders", "window_s", "weight_per_min"),
                        '{"orders": 150, "window_s": 10, "weight_per_min": 1200}')
        venues[venue] = VenueRate(
            orders=_int(item, f"{key}.orders", base.orders, low=1, high=100_000),
            window_s=_int(item, f"{key}.window_s", base.window_s, low=1, high=3600),
            weight_per_min=_int(item, f"{key}.weight_per_min", base.weight_per_min, low=1, high=1_000_000))
    return RateConfig(
        venues=MappingProxyType(venues),
        max_wait_ms=_int(raw, "rate_limits.max_wait_ms", d.max_wait_ms, low=0, high=60_000),
        close_reserve_pct=_int(raw, "rate_limits.close_reserve_pct", d.close_reserve_pct, low=0, high=90))


def _trading_state(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().upper() not in TRADING_STATES:
        raise ConfigError("trading_state", value, f"must be one of {', '.join(TRADING_STATES)} (or left out)")
    return value.strip().upper()


def _cluster(value: Any) -> ClusterConfig:
    if not isinstance(value, dict):
        raise ConfigError("cluster", value, 'must be an object like {"redis_url": "redis://10.0.0.5:6379/0", '
                          '"node": "tokyo-1"}, or left out for one node')
    for key in value:
        if key not in CLUSTER_KEYS:
            raise ConfigError(f"cluster.{key}", value[key],
                              _unknown(key, CLUSTER_KEYS))
    url = _cluster_url(value.get("redis_url"))
    node = _cluster_name(value, "node", None, "must name this node: 1-32 letters, digits, - or _ "
                         "(e.g. tokyo-1), different on every node")
    region = _cluster_name(value, "region", "", "must be a region name like tokyo (letters, digits, - or _)",
                           may_be_empty=True)
    weight = _cluster_int(value, "node_weight", 1, 0, 1000,
                          "must be a whole number between 0 (standby) and 1000")
    regions = _venue_regions(value.get("venue_regions", {}))
    ttl = _cluster_int(value, "lease_ttl_s", 15, 3, 600, "must be a whole number of seconds between 3 and "
                       "600 (longer than a loop turn with both legs, as short as you accept a dead node's "
                       "pairs idle)")
    namespace = _cluster_name(value, "namespace", "xvh", "must be 1-32 letters, digits, - or _ (the same on "
                              "every node of one cluster)")
    return ClusterConfig(redis_url=url, node=node, region=region, node_weight=weight,
                         venue_regions=MappingProxyType(dict(regions)), lease_ttl_s=ttl, namespace=namespace)


def _cluster_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        shown = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url) if isinstance(url, str) else url
        raise ConfigError("cluster.redis_url", shown, "must be a Redis URL like redis://host:6379/0 "
                          "(rediss:// for TLS, redis://:password@host:6379/0 with a password)")
    return url


def _cluster_name(value: dict[str, Any], key: str, default: str | None, why: str, may_be_empty: bool = False
                  ) -> str:
    """cluster.<key>: a name of 1-32 letters, digits, - or _ (or empty where may_be_empty)."""
    name = value.get(key, default)
    empty_allowed = may_be_empty and name == ""
    if not isinstance(name, str) or not empty_allowed and not _NAME.match(name):
        raise ConfigError(f"cluster.{key}", name, why)
    return name


def _cluster_int(value: dict[str, Any], key: str, default: int, low: int, high: int, why: str) -> int:
    """cluster.<key>: a whole number from low to high (not a bool)."""
    number = value.get(key, default)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ConfigError(f"cluster.{key}", number, why)
    return number


def _venue_regions(regions: Any) -> dict[str, str]:
    if not isinstance(regions, dict):
        raise ConfigError("cluster.venue_regions", regions, 'must be an object like {"binance": "tokyo"}')
    for venue, where in regions.items():
        if venue not in VENUES:
            raise ConfigError(f"cluster.venue_regions.{venue}", where,
                              f"unknown venue; use one of {', '.join(VENUES)}")
        if not isinstance(where, str) or not _NAME.match(where):
            raise ConfigError(f"cluster.venue_regions.{venue}", where, "must be a region name like tokyo")
    return regions

TREASURY_KEYS = ("mode", "weights", "whitelist", "networks", "trigger_distance_pct", "target_distance_pct",
                 "rebalance_pct", "min_transfer_usdt", "max_transfer_usdt", "max_daily_usdt", "max_fee_bps",
                 "timeout_s", "notify_interval_s")


def _treasury(value: Any) -> TreasuryConfig:
    if not isinstance(value, dict):
        raise ConfigError("treasury", value,
                          'must be an object like {"mode": "notify"} (see docs/treasury.md)')
    for key in value:
        if key not in TREASURY_KEYS and not key.startswith("_"):
            raise ConfigError(f"treasury.{key}", value[key],
                              _unknown(key, TREASURY_KEYS))
    raw = {f"treasury.{k}": v for k, v in value.items()}
    d = TreasuryConfig()
    networks = _networks(value.get("networks", {}))
    cfg = TreasuryConfig(
        mode=_choice(raw, "treasury.mode", d.mode, TREASURY_MODES),
        weights=_weights(value.get("weights", {})),
        whitelist=_whitelist(value.get("whitelist", []), networks),
        networks=networks,
        trigger_distance_pct=_dec(raw, "treasury.trigger_distance_pct", d.trigger_distance_pct,
                                  low=Decimal("1"), high=Decimal("99")),
        target_distance_pct=_dec(raw, "treasury.target_distance_pct", d.target_distance_pct,
                                 low=Decimal("1"), high=Decimal("100")),
        rebalance_pct=_dec(raw, "treasury.rebalance_pct", d.rebalance_pct, low=Decimal("1"),
                           high=Decimal("100")),
        min_transfer_usdt=_dec(raw, "treasury.min_transfer_usdt", d.min_transfer_usdt, low=Decimal("1")),
        max_transfer_usdt=_dec(raw, "treasury.max_transfer_usdt", d.max_transfer_usdt, low=Decimal("1")),
        max_daily_usdt=_dec(raw, "treasury.max_daily_usdt", d.max_daily_usdt, low=Decimal("1")),
        max_fee_bps=_dec(raw, "treasury.max_fee_bps", d.max_fee_bps, low=Decimal("0"),
                         high=Decimal("1000")),
        timeout_s=_int(raw, "treasury.timeout_s", d.timeout_s, low=60, high=7 * 86_400),
        notify_interval_s=_int(raw, "treasury.notify_interval_s", d.notify_interval_s, low=60,
                               high=7 * 86_400),
    )
    if cfg.target_distance_pct <= cfg.trigger_distance_pct:
        raise ConfigError("treasury.target_distance_pct", str(cfg.target_distance_pct),
                          f"must be above treasury.trigger_distance_pct ({cfg.trigger_distance_pct}) "
                          "for hysteresis")
    if cfg.max_transfer_usdt < cfg.min_transfer_usdt:
        raise ConfigError("treasury.max_transfer_usdt", str(cfg.max_transfer_usdt),
                          f"must be at least treasury.min_transfer_usdt ({cfg.min_transfer_usdt})")
    if cfg.max_daily_usdt < cfg.max_transfer_usdt:
        raise ConfigError("treasury.max_daily_usdt", str(cfg.max_daily_usdt),
                          f"must be at least treasury.max_transfer_usdt ({cfg.max_transfer_usdt})")
    slowest = max(cfg.networks[e.network].transit_s for e in cfg.whitelist) if cfg.whitelist else 0
    if cfg.timeout_s < 2 * slowest:
        raise ConfigError("treasury.timeout_s", cfg.timeout_s,
                          f"must be at least twice the slowest whitelisted network's transit_s ({slowest})")
    if cfg.mode == "auto" and not cfg.whitelist:
        raise ConfigError("treasury.mode", "auto", "needs treasury.whitelist: add the deposit address of "
                          'each venue, e.g. [{"venue": "okx", "network": "TRC20", "address": "T..."}], '
                          'or use "notify"')
    return cfg


def _weights(value: Any) -> MappingProxyType[str, Decimal]:
    if not isinstance(value, dict):
        raise ConfigError("treasury.weights", value, 'must be an object like {"binance": 2, "okx": 1}')
    weights: dict[str, Decimal] = {}
    for venue, weight in value.items():
        key = f"treasury.weights.{venue}"
        if venue not in VENUES:
            raise ConfigError(key, weight, f"unknown venue; use one of {', '.join(VENUES)}")
        number = _number(key, weight)
        _check_range(key, weight, number, Decimal("0"), Decimal("1000"))
        weights[venue] = number
    return MappingProxyType(weights)


def _networks(value: Any) -> MappingProxyType[str, NetworkCost]:
    if not isinstance(value, dict):
        raise ConfigError("treasury.networks", value,
                          'must be an object like {"TRC20": {"fee_usdt": 1, "transit_s": 300}}')
    networks = dict(DEFAULT_NETWORKS)
    for name, cost in value.items():
        key = f"treasury.networks.{name}"
        if not isinstance(name, str) or name != name.upper() or not name.isalnum():
            raise ConfigError(key, cost,
                              "network names are upper-case, e.g. TRC20, ERC20, BEP20, ARBITRUM, SOL")
        if not isinstance(cost, dict) or set(cost) - {"fee_usdt", "transit_s"}:
            raise ConfigError(key, cost, 'must be {"fee_usdt": number, "transit_s": seconds}')
        base = networks.get(name, NetworkCost(Decimal("1"), 600))
        fee = _dec({f"{key}.fee_usdt": v for k, v in cost.items() if k == "fee_usdt"}, f"{key}.fee_usdt",
                   base.fee_usdt, low=Decimal("0"), high=Decimal("1000"))
        transit = _int({f"{key}.transit_s": v for k, v in cost.items() if k == "transit_s"},
                       f"{key}.transit_s",
                       base.transit_s, low=1, high=86_400)
        networks[name] = NetworkCost(fee, transit)
    return MappingProxyType(networks)


def _whitelist(value: Any, networks: MappingProxyType[str, NetworkCost]) -> tuple[WhitelistEntry, ...]:
    example = '[{"venue": "okx", "network": "TRC20", "address": "T...", "memo": ""}]'
    if not isinstance(value, list):
        raise ConfigError("treasury.whitelist", value, f"must be a list like {example}")
    entries: list[WhitelistEntry] = []
    for i, item in enumerate(value):
        key = f"treasury.whitelist[{i}]"
        if not isinstance(item, dict) or set(item) - {"venue", "network", "address", "memo"} \
                or not {"venue", "network", "address"} <= set(item):
            raise ConfigError(key, item,
                              f"each entry needs venue, network, address (memo optional), like {example}")
        venue, network, address, memo = item["venue"], item["network"], item["address"], item.get("memo", "")
        if venue not in VENUES:
            raise ConfigError(f"{key}.venue", venue, f"unknown venue; use one of {', '.join(VENUES)}")
        if network not in networks:
            raise ConfigError(f"{key}.network", network, f"unknown network; use one of {', '.join(networks)} "
                              "or describe it in treasury.networks")
        if not isinstance(address, str) or not address or any(c.isspace() for c in address) \
                or len(address) > 128:
            raise ConfigError(f"{key}.address", address,
                              "must be the deposit address as the venue shows it, no spaces")
        if not isinstance(memo, str) or len(memo) > 128:
            raise ConfigError(f"{key}.memo", memo, 'must be a string (the deposit memo/tag, or "")')
        if any(e.venue == venue and e.network == network for e in entries):
            raise ConfigError(key, item,
                              f"{venue} {network} listed twice; keep one address per venue and network")
        entries.append(WhitelistEntry(venue, network, address, memo))
    return tuple(entries)
