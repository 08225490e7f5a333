"""The FMZ exchange object on a real venue, through ccxt (pinned 4.5.83).

Same FMZ semantics as the simulator's `fmz_compat.sim.exchange.Exchange`: symbols "BTC_USDT.swap", amounts in
contracts, order ids "BTC_USDT.swap,<venue id>", failures return None and write one error row.

Errors are split the way a trader must treat them:
- ccxt OperationFailed family (NetworkError: timeouts, 5xx, 429, maintenance; BadResponse and the
  venue codes ccxt maps to OperationFailed, e.g. Binance -1006 "Execution status unknown"): the outcome
  is unknown. The call returns None, the log says "outcome unknown", `last_outcome_unknown` is True and
  an order stays in `in_flight` under its client order id until the strategy reconciles it.
- ccxt ExchangeError family (insufficient margin, min notional, bad key...): definite rejection,
  None and a log line carrying the venue's message. On an order placement only the classes that prove
  the venue placed nothing are a rejection (`_REFUSALS`); any other answer, a bare ExchangeError above all
  (ccxt's class for Bybit 10016 "Server error" and for every code it does not list, e.g. Bybit 10000
  "Server Timeout", OKX 51149 "Order timed out"), is an unknown outcome as a timeout is.
Secrets (key, secret, passphrase, signatures) are scrubbed from every message.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import requests

from fmz_compat.ccxt_lean import load as _load_ccxt
from fmz_compat.core import (
    LOG_TYPE_BUY,
    LOG_TYPE_CANCEL,
    LOG_TYPE_LOG,
    LOG_TYPE_SELL,
    ORDER_OFFSET_CLOSE,
    ORDER_OFFSET_OPEN,
    ORDER_STATE_CANCELED,
    ORDER_STATE_CLOSED,
    ORDER_STATE_PENDING,
    ORDER_STATE_UNKNOWN,
    ORDER_TYPE_BUY,
    ORDER_TYPE_SELL,
    PD_LONG,
    PD_SHORT,
    VENUE_NAMES,
    ExchangeBinding,
    LogSink,
    Struct,
    to_struct,
    truthy,
)
from fmz_compat.exchange import (
    DIRECTIONS,
    CallFailed,
    FmzExchangeObject,
    Records,
    parse_side,
    records_args,
)
from fmz_compat.keys import Credentials
from fmz_compat.live_history import raw_rows_from
from fmz_compat.live_limits import Backoff, RequestMeter, measure_clock, okx_broker_tag_problem
from fmz_compat.ws import order_args
from fmz_compat.ws.book import BookView
from fmz_compat.ws.feed import BookFeed, FeedConfig
from fmz_compat.ws.orders import NotSent, OrderSocket, ReplyLost, _base36, order_socket
from fmz_compat.ws.venues import PROTOCOLS, BinanceBooks

ccxt = _load_ccxt()  # only the five venue classes unless the full ccxt is already imported

# client order id names CreateOrder's options may carry (ccxt maps each to the venue's own field)
_CLIENT_ID_KEYS = ("clientOrderId", "newClientOrderId", "clOrdId", "orderLinkId", "client_id", "clOrdID")
# FMZ passes CreateOrder's options on to the venue as its own parameters (docs/live.md "Order options on
# FMZ"): besides timeInForce (Binance, Bybit; BitMEX in its own words), OKX asks for IOC with ordType and
# CoinEx with type. Words for one time in force, as the venues spell them:
_TIF_WORDS = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "goodtillcancel": "GTC", "immediateorcancel": "IOC",
              "fillorkill": "FOK", "post_only": "POSTONLY", "maker_only": "POSTONLY"}
_TIF_FIELD = {"okx": "ordType", "coinex": "type"}


def option_tif(venue: str, opts: dict[str, Any]) -> str:
    """The time in force CreateOrder's options ask for, upper case ("" when none): the venue's own field
    when it carries a time in force (OKX ordType, CoinEx type), else timeInForce."""
    own = str(opts.get(_TIF_FIELD.get(venue, ""), "")).lower()
    raw = own if own in _TIF_WORDS else str(opts.get("timeInForce", opts.get("timeinforce", "")))
    return _TIF_WORDS.get(raw.lower(), raw.upper())


@dataclass(frozen=True)
class VenueProfile:
    """How one venue maps onto ccxt: class name, options, and the raw REST prefixes for IO("api")."""

    ccxt_id: str
    options: tuple[tuple[str, Any], ...]
    api_prefixes: tuple[tuple[str, Any], ...]  # (path prefix, ccxt api) longest first


VENUES: dict[str, VenueProfile] = {
    # GetOrders() without a symbol lists every swap (FMZ, and the simulator): ccxt refuses that on Binance
    # before sending unless its warning is acknowledged (GET /fapi/v1/openOrders takes symbol as optional)
    "binance": VenueProfile("binanceusdm", (("defaultType", "swap"),
                                            ("fetchOpenOrders", {"warnWithoutSymbol": False})),
                            (("/fapi/v3/", "fapiPrivateV3"), ("/fapi/v2/", "fapiPrivateV2"),
                             ("/fapi/v1/", "fapiPrivate"),  # wallets (hedge/transfers.py, hedge/wallets.py):
                             ("/sapi/v3/", "sapiV3"), ("/sapi/v1/", "sapi"))),
    "okx": VenueProfile("okx", (("defaultType", "swap"), ("fetchMarkets", {"types": ["swap"]}),
                                ("brokerId", None)),
                        (("/api/v5/", "private"),)),
    "bybit": VenueProfile("bybit", (("defaultType", "swap"), ("defaultSubType", "linear"),
                                    ("fetchMarkets", {"types": ["linear"]}),
                                    ("fetchOrder", {"acknowledged": True})),
                          (("/", "private"),)),
    "coinex": VenueProfile("coinex", (("defaultType", "swap"), ("fetchMarkets", {"types": ["swap"]})),
                           (("/v2/", ["v2", "private"]),)),
    "bitmex": VenueProfile("bitmex", (("defaultType", "swap"),), (("/api/v1/", "private"),)),
}

_STATUS = {"open": ORDER_STATE_PENDING, "closed": ORDER_STATE_CLOSED, "canceled": ORDER_STATE_CANCELED,
           "expired": ORDER_STATE_CANCELED, "rejected": ORDER_STATE_CANCELED,
           # CoinEx v2 statuses that ccxt 4.5.83 passes through unmapped
           "part_filled": ORDER_STATE_PENDING, "filled": ORDER_STATE_CLOSED,
           "part_canceled": ORDER_STATE_CANCELED}
_INTERVAL_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SIGNATURE = re.compile(r"(signature|sign|api[-_]?key|passphrase)=[^&\s\"']+", re.IGNORECASE)


class AccountModeError(Exception):
    """The account is in a mode the strategy does not support; the message says what to change."""


# ccxt 4.5.83's classes (ccxt/base/errors.py) for an answer that proves an order placement was refused:
# nothing was placed, nothing can land later. Any other answer to a placement, a bare ExchangeError above
# all, is an unknown outcome: looked up by client id before anything is sent again (a lookup costs a
# request; a refusal that was not one doubles a leg).
_REFUSALS: tuple[type[Exception], ...] = (
    ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadRequest, ccxt.AuthenticationError,
    ccxt.ArgumentsRequired, ccxt.OperationRejected, ccxt.NotSupported)
# ... but not these InvalidOrder kinds: an order with our client id exists already, or what failed was
# finding an order
_NOT_REFUSALS: tuple[type[Exception], ...] = (ccxt.DuplicateOrderId, ccxt.OrderNotFound, ccxt.OrderNotCached)


# ... nor these venue codes, which ccxt maps to InvalidOrder: an order with this client id exists already,
# and it may be the one just sent (ccxt's own comments: binance.py -4116 DUPLICATED_CLIENT_ORDER_ID, bybit.py
# 110072 "OrderLinkedID is duplicate", okx.py 51016 "Duplicated client order ID")
_DUPLICATE_ID_CODES = {"binance": "-4116", "bybit": "110072", "okx": "51016"}
# the venue's codes in a ccxt error: its REST body ("code", "retCode", an OKX row's "sCode") or the order
# websocket's refusal ("... (code 110072)", fmz_compat/ws/order_args.rejection)
_ANSWER_CODES = re.compile(r'"(?:code|retCode|sCode)"\s*:\s*"?(-?\d+)|\(code (-?\d+)\)')


def proves_refusal(error: Exception, venue: str = "") -> bool:
    """True when `error`, raised by an order placement on `venue`, proves the venue placed nothing."""
    if not isinstance(error, _REFUSALS) or isinstance(error, _NOT_REFUSALS):
        return False
    codes = {rest or ws for rest, ws in _ANSWER_CODES.findall(str(error))}
    return _DUPLICATE_ID_CODES.get(venue) not in codes


class OutcomeNotProved(Exception):
    """The venue answered an order placement with an error that proves no refusal (`cause`)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


# OKX POST paths on which ccxt's signer adds its own broker id as clOrdId and tag when the body has no clOrdId
_OKX_ORDER_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders", "/api/v5/trade/order-algo")


def build_client(venue: str, credentials: Credentials | None, *, testnet: bool = False,
                 broker_tag: str = "") -> ccxt.Exchange:
    """A ccxt client for `venue` (binance, okx, bybit, coinex, bitmex) in swap mode."""
    if venue == "okx":
        problem = okx_broker_tag_problem(broker_tag)
        if problem:
            raise ValueError(problem)
    profile = VENUES[venue]
    config: dict[str, Any] = {"enableRateLimit": True, "options": dict(profile.options)}
    if credentials is not None:
        config.update(credentials.ccxt_config())
    if venue == "okx" and broker_tag:
        config["options"]["brokerId"] = broker_tag
    client = getattr(ccxt, profile.ccxt_id)(config)
    client.has = dict(client.has, fetchCurrencies=False)  # currencies need extra private endpoints
    if testnet:
        if not client.urls.get("test"):
            raise ValueError(f"{venue} has no testnet: drop it from --venues or run without --testnet")
        client.set_sandbox_mode(True)
    return client


def build_book_feed(venue: str, client: ccxt.Exchange, *, testnet: bool = False, url: str = "",
                    config: FeedConfig | None = None) -> BookFeed:
    """The websocket book feed of `venue` (not started). Binance's REST snapshots use plain HTTP, not
    the ccxt client, so the feed thread never shares the client with the strategy thread."""
    protocol = PROTOCOLS[venue]()
    url = url or (protocol.testnet_url if testnet else protocol.url)
    snapshot = _binance_snapshots(client.urls["api"]["fapiPublic"]) if protocol.snapshot_by_rest else None
    return BookFeed(protocol, url, snapshot=snapshot, config=config)


def _binance_snapshots(base_url: str) -> Callable[[str], Any]:
    session = requests.Session()
    limit = BinanceBooks.snapshot_limit

    def fetch(market_id: str) -> Any:
        answer = session.get(f"{base_url}/depth", params={"symbol": market_id, "limit": limit}, timeout=10)
        answer.raise_for_status()
        return answer.json()
    return fetch


class LiveExchange(FmzExchangeObject):
    """One FMZ exchange object backed by a ccxt client."""

    go_concurrent = True  # exchange.Go: the call runs on the pool's thread (its HTTP wait overlaps others')

    def __init__(self, client: ccxt.Exchange, venue: str, binding: ExchangeBinding, log: LogSink,
                 index: int = 0, *, secrets: tuple[str, ...] = (), broker_tag: str = "",
                 books: BookFeed | None = None, book_max_age_ms: int = 2000,
                 order_socket: OrderSocket | None = None, id_stamp: str | None = None) -> None:
        """`id_stamp`: what sets this run's client order ids apart from earlier runs' (default: the start
        time in ms, base 36); "" only where ids need not survive a restart (tests)."""
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r}: use one of {', '.join(VENUES)}")
        self._client = client
        self._venue = venue
        self._binding = binding
        self._log = log
        self._index = index
        self._name = VENUE_NAMES[venue]
        self._label = binding.label or self._name
        self._currency = binding.currency.upper()
        self._contract = ""
        self._direction = "buy"
        self._price_precision: int | None = None  # SetPrecision's decimals, None until it is called
        self._amount_precision: int | None = None
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))  # longest first
        self._broker_tag = broker_tag
        self._raw: Any = ""
        self._lock = threading.RLock()
        self._client_ids = itertools.count(1)
        # a restarted run must not reuse ids: a lookup by client id answers the account's latest order with it
        stamp = _base36(_wall_ms()) if id_stamp is None else id_stamp
        self._id_prefix = f"fmzc{index}s{stamp}x" if stamp else f"fmzc{index}x"
        self._verdicts = threading.local()  # last_outcome_unknown, per thread (exchange.Go's calls)
        self.last_outcome_unknown = False
        # websocket books: served while in sync and younger than book_max_age_ms, else REST
        self.books = books
        self.book_max_age_ms = book_max_age_ms
        self.book_reads = {"ws": 0, "rest": 0}
        # told (on the feed's thread) each streamed top that moved: (self, FMZ symbol, bid, ask, time ms on
        # the local clock); the runner sets it to post EventLoop's "Book" events
        self.book_listener: Callable[[Any, str, float, float, int], None] | None = None
        self._symbol_by_id: dict[str, str] = {}  # streamed market id -> FMZ symbol, for book_listener
        # orders over the venue's websocket while it is ready (OKX, Bybit, Binance), else REST
        self.order_socket = order_socket
        self.order_routes = {"ws": 0, "rest": 0}
        self.time_offset_ms = 0  # venue clock minus local clock, from sync_clock()
        self.clock_rtt_ms: int | None = None
        self._clock_synced_ms = 0
        self.meter = RequestMeter(client, venue)
        self.backoff = Backoff()
        self._unified_by_id: dict[str, str] = {}
        self._binance_funding_hours: dict[str, float] = {}
        self._binance_funding_read_ms = 0
        # client order id -> what was sent, for orders whose placement outcome is unknown
        self.in_flight: dict[str, Struct] = {}
        # margin mode SetMarginLevel puts a symbol in: cross unless IO("cross", False) said otherwise
        self.cross = True
        self.period_s = 3600  # GetRecords' default period (FMZ: the robot's K-line period)
        self.leverage: dict[str, int] = {}  # what SetMarginLevel was asked, per unified symbol
        self._bybit_margin: str | None = None  # a Bybit unified account's marginMode, once read

    @property
    def last_outcome_unknown(self) -> bool:
        """Whether this thread's last call's outcome is unknown: each thread reads its own call's verdict,
        whatever exchange.Go's calls on other threads set meanwhile."""
        return bool(getattr(self._verdicts, "unknown", False))

    @last_outcome_unknown.setter
    def last_outcome_unknown(self, value: bool) -> None:
        self._verdicts.unknown = value

    @property
    def client(self) -> ccxt.Exchange:
        """The ccxt client behind this object (for the book feed's REST snapshots and tools)."""
        return self._client

    # --- plumbing -----------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return _SIGNATURE.sub(lambda m: m.group(1) + "=***", text)

    def _fail(self, method: str, message: str) -> None:
        self._log.error(self.redact(f"{self._label} {method}: {message}"), exchange_index=self._index)
        return None

    def _drain_book_notes(self) -> None:
        for source in (self.books, self.order_socket):
            notes = source.notes if source is not None else None
            while notes:
                note = notes.popleft()
                self._log.log(LOG_TYPE_LOG, self.redact(f"{self._label} {note.level}: {note.text}"),
                              exchange_index=self._index)

    def _run(self, method: str, fn: Callable[[], Any]) -> Any:
        with self._lock:
            self._drain_book_notes()
            self.last_outcome_unknown = False
            blocked = self.backoff.blocked_ms()
            if blocked:
                return self._fail(method, f"not sent: backing off {blocked} ms after {self.backoff.failures} "
                                          f"network failures in a row (last: {self.backoff.last_error})")
            if self._clock_synced_ms and _wall_ms() - self._clock_synced_ms > CLOCK_RESYNC_MS:
                self._resync_clock_quietly()
            try:
                result = fn()
            except CallFailed as e:
                return self._fail(method, str(e))
            except OutcomeNotProved as e:  # the venue answered, but not that it refused the order
                self.last_outcome_unknown = True
                self.backoff.succeeded()
                cause = type(e.cause).__name__
                return self._fail(method, f"outcome unknown ({cause}, not a proven refusal): "
                                          f"{_venue_message(e.cause)}")
            except ccxt.OperationFailed as e:  # NetworkError, and BadResponse / OperationFailed: ccxt maps
                # Binance -1000/-1001/-1006 ("Execution status unknown") there, not to a definite refusal
                self.last_outcome_unknown = True
                self.backoff.failed(type(e).__name__, rate_limited=isinstance(e, ccxt.DDoSProtection),
                                    retry_after_s=_retry_after(self._client))
                return self._fail(method, f"outcome unknown ({type(e).__name__}): {_venue_message(e)}")
            except ccxt.BaseError as e:
                self.backoff.succeeded()  # the venue answered
                return self._fail(method, f"rejected ({type(e).__name__}): {_venue_message(e)}")
            except (TypeError, KeyError, ValueError, AttributeError, IndexError) as e:
                # ccxt could not parse what the venue answered: treat like a lost answer
                self.last_outcome_unknown = True
                return self._fail(method, f"outcome unknown (unreadable venue response: {type(e).__name__})")
            self.backoff.succeeded()
            return result

    # --- clock and request budget -------------------------------------------------------------
    def sync_clock(self) -> int | None:
        """Measure the venue's clock against ours (one server-time request) and sign with it.

        Sets `time_offset_ms` (venue minus local; book times are moved onto our clock with it) and
        ccxt's `timeDifference`; returns the offset, or None where the venue has no time endpoint
        (BitMEX: its signatures carry an expiry, not a timestamp)."""
        if self._client.has.get("fetchTime") is not True:
            return None
        offset, rtt = measure_clock(self._client.fetch_time)
        self.time_offset_ms, self.clock_rtt_ms = offset, rtt
        self._client.options["timeDifference"] = -offset  # ccxt signs with local - timeDifference
        self._clock_synced_ms = _wall_ms()
        return offset

    def _resync_clock_quietly(self) -> None:
        try:
            self.sync_clock()
        except (ccxt.BaseError, TypeError, ValueError):
            self._clock_synced_ms = _wall_ms()  # try again after the next interval

    def venue_now_ms(self) -> int:
        """Now on the venue's clock (ours plus the offset sync_clock measured): what signatures carry."""
        return _wall_ms() + self.time_offset_ms

    def rate_budget(self) -> dict[str, Any]:
        """This account's request budget on the venue, for the strategy-side budget to consult.

        requests_1s / requests_60s: HTTP requests this object sent; min_interval_ms: ccxt's limiter
        spacing (it sleeps to keep it); venue_remaining / venue_limit / venue_window / venue_reset_ms:
        what the venue last reported in its headers (Binance used weight, Bybit and BitMEX remaining;
        None where the venue reports nothing); backoff_ms: how long calls are held after failures."""
        usage = self.meter.usage
        return {"requests_1s": self.meter.count(1000), "requests_60s": self.meter.count(60_000),
                "requests_total": self.meter.total, "min_interval_ms": float(self._client.rateLimit),
                "venue_remaining": usage.remaining, "venue_limit": usage.limit, "venue_window": usage.window,
                "venue_reset_ms": usage.reset_ms, "venue_seen_ms": usage.seen_ms or None,
                "backoff_ms": self.backoff.blocked_ms(), "network_failures": self.backoff.failures}

    def _markets(self) -> dict[str, Any]:
        if not self._client.markets:
            self._client.load_markets()
        return self._client.markets

    def _symbol(self, symbol: str | None) -> tuple[str, str]:
        """(FMZ pair, ccxt symbol) for a symbol argument; '' means the current pair and contract."""
        pair, ct = self._split_symbol(symbol)
        if ct != "swap":
            raise CallFailed(f"contract type {ct!r} is not supported live (only \"swap\")")
        base, _, quote = pair.partition("_")
        unified = f"{base}/{quote}:{quote}"
        if unified not in self._markets():
            raise CallFailed(f"symbol {pair} is not listed as a {quote}-margined swap on {self._name}")
        return pair, unified

    def _fmz_symbol(self, unified: str) -> str:
        """"BTC_USDT.swap" for a perpetual; any other market (a dated future: BTC/USDT:USDT-250328) keeps
        its ccxt symbol, so it is never taken for the perpetual."""
        market = self._markets().get(unified)
        if market is None or not market.get("swap"):
            return unified
        return f"{market['base']}_{market['quote']}.swap"

    def _in_current_range(self, unified: str) -> bool:
        """Whether a market is a perpetual of the current dimension (FMZ GetPositions() without symbol:
        the current pair's quote and contract type, swap): e.g. every USDT-margined perpetual."""
        market = self._markets().get(unified) or {}
        quote = self._currency.partition("_")[2]
        return bool(market.get("swap")) and market.get("quote") == quote and market.get("settle") == quote

    def _order_id(self, unified: str, venue_id: Any) -> str:
        return f"{self._fmz_symbol(unified)},{venue_id}"

    def _parse_order_id(self, order_id: Any) -> tuple[str, str]:
        """(ccxt symbol, venue order id) from "BTC_USDT.swap,123" (or a bare id on the current pair)."""
        if isinstance(order_id, bool) or not isinstance(order_id, str | int):
            raise CallFailed(f"invalid order id {order_id!r}")
        text = str(order_id)
        symbol, sep, raw = text.rpartition(",")
        if not raw.strip():
            raise CallFailed(f"invalid order id {order_id!r}")
        return self._symbol(symbol if sep else "")[1], raw.strip()

    def SetContractType(self, contract_type: str) -> Struct | None:
        def run() -> Struct:
            if contract_type != "swap":
                raise CallFailed(f"contract type {contract_type!r} is not supported live (only \"swap\")")
            self._contract = "swap"
            unified = self._symbol("")[1]
            native = self._markets()[unified]["id"]
            return to_struct({"InstrumentID": native, "instrument": native})
        return self._run("SetContractType", run)

    def SetMarginLevel(self, *args: Any) -> bool | None:
        def run() -> bool:
            if len(args) == 1:
                symbol, level = "", args[0]
            elif len(args) == 2:
                symbol, level = args
            else:
                raise CallFailed("SetMarginLevel(level) or SetMarginLevel(symbol, level)")
            if isinstance(level, bool) or not isinstance(level, int | float) or level < 1:
                raise CallFailed(f"invalid leverage {level!r}: use a number >= 1")
            unified = self._symbol(symbol)[1]
            self._set_margin_mode(unified, int(level))
            self.leverage[unified] = int(level)
            if self._venue == "bitmex" and self.cross:
                # POST /position/leverage with a number selects isolated margin at that leverage on BitMEX
                # (0 is cross): in cross the venue's risk limit applies and the leverage stays the
                # strategy's own margin check
                return True
            try:
                self._raw = self._client.set_leverage(int(level), unified)
            except ccxt.BaseError as e:
                if not (self._venue == "bybit" and "110043" in str(e)):
                    raise
                self._raw = None  # Bybit 110043 "Set leverage not modified": it already is that leverage
            return True
        return self._run("SetMarginLevel", run)

    def _set_margin_mode(self, unified: str, level: int) -> None:
        """Cross (or isolated after IO("cross", False)) margin on the symbol, where the venue sets it apart
        from the leverage: Binance (POST /fapi/v1/marginType), BitMEX (POST /position/isolate), Bybit's
        unified account (account-wide, POST /v5/account/set-margin-mode, plus one-way mode per symbol).
        OKX and CoinEx take the mode with the leverage (ccxt sends mgnMode / margin_mode cross by default)
        and with every order (OKX tdMode)."""
        mode = "cross" if self.cross else "isolated"
        try:
            if self._venue == "binance":
                self._client.set_margin_mode(mode, unified)  # "no need to change" is not an error
            elif self._venue == "bybit":
                self._bybit_one_way(unified)
                self._bybit_account_margin(mode)
            elif self._venue == "bitmex":
                self._client.set_margin_mode(mode, unified)
            elif self._venue in ("okx", "coinex") and not self.cross:
                raise CallFailed(f"isolated margin is not supported live on {self._name}; "
                                 "leave IO(\"cross\") on")
        except ccxt.BaseError as e:
            message = _venue_message(e)
            if any(code in message for code in _MODE_ALREADY_SET):
                return
            raise CallFailed(f"cannot set {mode} margin on {unified}: {message} (a position held in the "
                             "other mode blocks the switch: close it, or switch it in the venue's "
                             "settings)") from None

    def _bybit_one_way(self, unified: str) -> None:
        """One-way position mode on the symbol (POST /v5/position/switch-mode mode 0): a unified account
        chooses it per symbol, and hedge mode would need positionIdx on every order. 110025 (not modified)
        means it already is."""
        try:
            self._client.set_position_mode(False, unified)
        except ccxt.BaseError as e:
            if "110025" not in str(e):
                raise CallFailed(f"cannot put {unified} in one-way position mode: {_venue_message(e)} (close "
                                 "the hedge-mode position or its orders, or switch the symbol to one-way in "
                                 "the venue's settings)") from None

    def _bybit_account_margin(self, mode: str) -> None:
        """A unified account's margin mode is account-wide (account info `marginMode`, set by POST
        /v5/account/set-margin-mode): read it once and switch it only when it differs."""
        wanted = "REGULAR_MARGIN" if mode == "cross" else "ISOLATED_MARGIN"
        if self._bybit_margin is None:
            info = self._client.privateGetV5AccountInfo().get("result") or {}
            self._bybit_margin = str(info.get("marginMode") or "")
        if self._bybit_margin == wanted:
            return
        self._client.set_margin_mode(mode)
        self._log.log(LOG_TYPE_LOG, f"{self._label}: the unified account's margin mode is now {mode} (was "
                                    f"{self._bybit_margin or 'unknown'}); on Bybit it applies to the whole "
                                    "account", exchange_index=self._index)
        self._bybit_margin = wanted

    # --- market data --------------------------------------------------------------------------
    def GetMarkets(self) -> dict[str, Struct] | None:
        def run() -> dict[str, Struct]:
            out = {}
            for m in self._markets().values():
                if not (m.get("swap") and m.get("linear")) or m.get("active") is False:
                    continue
                limits, precision = m.get("limits") or {}, m.get("precision") or {}
                tick, step = precision.get("price"), precision.get("amount")
                out[f"{m['base']}_{m['quote']}.swap"] = to_struct({
                    "Symbol": m["id"], "BaseAsset": m["base"], "QuoteAsset": m["quote"],
                    "TickSize": tick, "AmountSize": step,
                    "PricePrecision": _decimals(tick), "AmountPrecision": _decimals(step),
                    "MinQty": (limits.get("amount") or {}).get("min"),
                    "MaxQty": _market_max_qty(m),
                    "MinNotional": (limits.get("cost") or {}).get("min"),
                    "MaxNotional": (limits.get("cost") or {}).get("max"),
                    "CtVal": m.get("contractSize") or 1.0, "CtValCcy": m["base"], "Info": m.get("info"),
                })
            return out
        return self._run("GetMarkets", run)

    def _ticker_struct(self, unified: str, t: dict[str, Any]) -> Struct:
        return to_struct({
            "Symbol": self._fmz_symbol(unified), "High": t.get("high"), "Low": t.get("low"),
            "Sell": t.get("ask"), "Buy": t.get("bid"), "Last": t.get("last"), "Open": t.get("open"),
            "Volume": t.get("baseVolume"), "Time": t.get("timestamp"), "OpenInterest": 0.0,
            "Info": t.get("info"),
        })

    # websocket books ----------------------------------------------------------------------------
    def _book(self, unified: str, depth: int) -> BookView | None:
        """The streamed book when it is in sync, fresh and two-sided (a side can be empty for a moment, e.g.
        BitMEX deleting its levels in one frame and inserting the new ones in the next: no top then);
        subscribes it on first use."""
        if self.books is None:
            return None
        market_id = self._markets()[unified]["id"]
        if market_id not in self._symbol_by_id:
            self._stream(market_id, unified)
        view = self.books.view(market_id, depth)
        if view is None or not view.asks or not view.bids or self._book_age_ms(view) > self.book_max_age_ms:
            self.book_reads["rest"] += 1
            return None
        self.book_reads["ws"] += 1
        return view

    def _book_time_ms(self, view: BookView) -> int:
        """The book's venue timestamp on the local clock."""
        return view.venue_ms - self.time_offset_ms

    def _book_age_ms(self, view: BookView) -> int:
        return _wall_ms() - self._book_time_ms(view)

    def _book_ticker(self, unified: str, view: BookView) -> Struct:
        ask = view.asks[0][0] if view.asks else None
        bid = view.bids[0][0] if view.bids else None
        return to_struct({
            "Symbol": self._fmz_symbol(unified), "High": None, "Low": None, "Sell": ask, "Buy": bid,
            "Last": None, "Open": None, "Volume": None, "Time": self._book_time_ms(view), "OpenInterest": 0.0,
            "Info": self._book_info(view),
        })

    def _book_info(self, view: BookView) -> dict[str, Any]:
        return {"source": "ws", "venueTime": view.venue_ms, "receivedTime": view.received_ms,
                "ageMs": self._book_age_ms(view)}

    def watch_books(self, symbols: list[str]) -> None:
        """Stream these symbols' books ("BTC_USDT" or "BTC_USDT.swap"); unknown symbols are refused."""
        if self.books is None:
            return
        unified = [self._symbol(s if "." in s else f"{s}.swap")[1] for s in symbols]
        for name in unified:
            self._stream(self._markets()[name]["id"], name)

    def _stream(self, market_id: str, unified: str) -> None:
        """Subscribe the book; its moved tops reach book_listener (the feed's on_top, set once)."""
        assert self.books is not None
        self._symbol_by_id[market_id] = self._fmz_symbol(unified)
        if self.books.on_top is None:
            self.books.on_top = self._top_moved
        self.books.subscribe([market_id])

    def _top_moved(self, market_id: str, bid: float, ask: float, venue_ms: int, _read_ns: int) -> None:
        listener = self.book_listener
        symbol = self._symbol_by_id.get(market_id)
        if listener is not None and symbol is not None:
            listener(self, symbol, bid, ask, venue_ms - self.time_offset_ms)

    # ------------------------------------------------------------------------------------------
    def GetTicker(self, symbol: str = "") -> Struct | None:
        def run() -> Struct:
            unified = self._symbol(symbol)[1]
            view = self._book(unified, 1)
            if view is not None:
                return self._book_ticker(unified, view)
            t = dict(self._client.fetch_ticker(unified))
            if t.get("bid") is None or t.get("ask") is None:  # e.g. Binance's 24h ticker has no book
                book = self._client.fetch_order_book(unified, 5)
                t["bid"] = book["bids"][0][0] if book["bids"] else None
                t["ask"] = book["asks"][0][0] if book["asks"] else None
            self._raw = t.get("info")
            return self._ticker_struct(unified, t)
        return self._run("GetTicker", run)

    def GetTickers(self) -> list[Struct] | None:
        """Every listed swap's ticker; with websocket books on, the streamed symbols only (REST for
        those whose book is not in sync or too old)."""
        def run() -> list[Struct]:
            if self.books is not None and self.books.subscribed():
                return self._streamed_tickers()
            tickers = self._client.fetch_tickers()
            return [self._ticker_struct(s, t) for s, t in tickers.items() if s in self._markets()
                    and self._markets()[s].get("swap") and self._markets()[s].get("linear")]
        return self._run("GetTickers", run)

    def _streamed_tickers(self) -> list[Struct]:
        assert self.books is not None
        if len(self._unified_by_id) != len(self._markets()):
            self._unified_by_id = {m["id"]: s for s, m in self._markets().items()}
        out, missing = [], []
        for market_id in self.books.subscribed():
            unified = self._unified_by_id.get(market_id)
            if unified is None:
                continue
            view = self._book(unified, 1)
            if view is None:
                missing.append(unified)
            else:
                out.append(self._book_ticker(unified, view))
        if missing:
            out.extend(self._rest_tops(missing))
        return out

    def _rest_tops(self, symbols: list[str]) -> list[Struct]:
        """Best bid/ask by REST for a few symbols: one bids/asks (or tickers) request for them all."""
        if self._client.has.get("fetchBidsAsks") is True:
            tickers = self._client.fetch_bids_asks(symbols)
        else:
            tickers = self._client.fetch_tickers(symbols)
        return [self._ticker_struct(s, t) for s, t in tickers.items() if s in symbols
                and t.get("bid") is not None and t.get("ask") is not None]

    def GetDepth(self, symbol: str = "", limit: int | None = None) -> Struct | None:
        def run() -> Struct:
            unified = self._symbol(symbol)[1]
            view = self._book(unified, limit or 20)
            if view is not None:
                return to_struct({
                    "Asks": [{"Price": p, "Amount": a} for p, a in view.asks],
                    "Bids": [{"Price": p, "Amount": a} for p, a in view.bids],
                    "Time": self._book_time_ms(view),
                    "Info": {"symbol": self._markets()[unified]["id"], **self._book_info(view)},
                })
            book = self._client.fetch_order_book(unified, limit)
            return to_struct({
                "Asks": [{"Price": p, "Amount": a} for p, a, *_ in book["asks"]],
                "Bids": [{"Price": p, "Amount": a} for p, a, *_ in book["bids"]],
                "Time": book.get("timestamp") or _wall_ms(),
                "Info": {"symbol": self._markets()[unified]["id"], "source": "rest"},
            })
        return self._run("GetDepth", run)

    def GetFundings(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            if symbol:
                unified = self._symbol(symbol)[1]
                rates = {unified: self._client.fetch_funding_rate(unified)}
            else:
                rates = self._client.fetch_funding_rates()
            out = []
            for unified, f in rates.items():
                out.append(to_struct({
                    "Symbol": self._fmz_symbol(unified), "Rate": f.get("fundingRate"),
                    "Time": f.get("fundingTimestamp") or f.get("nextFundingTimestamp"),
                    "Interval": self._funding_interval_ms(unified, f), "Info": f.get("info"),
                }))
            return out
        return self._run("GetFundings", run)

    def _funding_interval_ms(self, unified: str, rate: dict[str, Any]) -> int | None:
        """FMZ's Interval: ccxt's when it parses one, else the venue's own field for the symbol."""
        interval = _interval_ms(rate.get("interval"))
        if interval:
            return interval
        info = rate.get("info") or {}
        market_info = (self._markets().get(unified) or {}).get("info") or {}
        if self._venue == "bybit":
            hours = _number(info.get("fundingIntervalHour"))
            minutes = _number(market_info.get("fundingInterval"))  # instruments-info, in minutes
            return int(hours * 3_600_000) if hours else int(minutes * 60_000) if minutes else None
        if self._venue == "bitmex":  # "2000-01-01T08:00:00.000Z": a duration written as a date
            return _bitmex_interval_ms(market_info.get("fundingInterval"))
        if self._venue == "binance":
            return self._binance_interval_ms(market_info.get("symbol") or "")
        return None

    def _binance_interval_ms(self, market_id: str) -> int | None:
        """/fapi/v1/fundingInfo lists only symbols whose interval (or cap) differs from the default 8 h;
        read at most once an hour."""
        now = _wall_ms()
        if now - self._binance_funding_read_ms > 3_600_000:
            try:
                rows = self._client.fapiPublicGetFundingInfo()
            except ccxt.BaseError:
                self._binance_funding_read_ms = now - 3_300_000  # unknown for now; ask again in 5 min
                return None
            self._binance_funding_hours = {r["symbol"]: float(r["fundingIntervalHours"]) for r in rows
                                           if r.get("fundingIntervalHours")}
            self._binance_funding_read_ms = now
        return int(self._binance_funding_hours.get(market_id, 8.0) * 3_600_000)

    # --- venue data for the mechanics (documented extras, not in FMZ's API) -------------------
    def GetFees(self, symbol: str = "") -> Struct | None:
        """This account's fee rates on a swap as fractions (0.0002 = 2 bps; negative = rebate).

        Source "account": the venue's answer for this account (ccxt fetch_trading_fee: Binance
        commissionRate, OKX trade-fee, Bybit fee-rate, CoinEx); "market": the rates the market lists
        (BitMEX, where no per-account endpoint is wired)."""
        def run() -> Struct:
            unified = self._symbol(symbol)[1]
            if self._client.has.get("fetchTradingFee") is True:
                fee, source = self._client.fetch_trading_fee(unified), "account"
            else:
                fee, source = self._markets()[unified], "market"
            return to_struct({"Symbol": self._fmz_symbol(unified), "Maker": fee.get("maker"),
                              "Taker": fee.get("taker"), "Source": source, "Info": fee.get("info")})
        return self._run("GetFees", run)

    def GetMarginTiers(self, symbol: str = "") -> list[Struct] | None:
        """Maintenance-margin tiers of a swap, lowest first: Tier, MinNotional, MaxNotional,
        MaintenanceMarginRate, MaxLeverage, and Unit, the unit the venue states the bounds in
        ("USDT" notional on Binance and Bybit, "contracts" on OKX, "base" coin on CoinEx)."""
        def run() -> list[Struct]:
            unified = self._symbol(symbol)[1]
            if not self._client.has.get("fetchMarketLeverageTiers"):
                raise CallFailed(f"{self._name} offers no margin tiers through ccxt: "
                                 f"read them with IO(\"api\", ...)")
            tiers = self._client.fetch_market_leverage_tiers(unified)
            unit = _TIER_UNITS.get(self._venue, "")
            return [to_struct({"Tier": t.get("tier"), "MinNotional": t.get("minNotional"),
                               "MaxNotional": t.get("maxNotional"),
                               "MaintenanceMarginRate": t.get("maintenanceMarginRate"),
                               "MaxLeverage": t.get("maxLeverage"), "Unit": unit, "Info": t.get("info")})
                    for t in tiers]
        return self._run("GetMarginTiers", run)

    # --- trading ------------------------------------------------------------------------------
    def CreateOrder(self, symbol: str, side: str, price: float, amount: float, *args: Any) -> str | None:
        def run() -> str:
            raw_side, opts = parse_side(side)
            if raw_side not in DIRECTIONS:
                raise CallFailed(f"invalid side {side!r}: use {', '.join(DIRECTIONS)}")
            return self._place(self._symbol(symbol)[1], raw_side, price, amount, opts, args)
        return self._run("CreateOrder", run)

    def _classic(self, method: str, price: float, amount: float, args: tuple[Any, ...]) -> str | None:
        def run() -> str:
            side = self._classic_direction(method)
            return self._place(self._symbol("")[1], side, price, amount, {}, args)
        return self._run(method, run)

    def SetPrecision(self, price_precision: int, amount_precision: int) -> None:
        """FMZ's exchange.SetPrecision: later order prices and amounts are cut (not rounded) to these
        decimals before they go out; ccxt then puts them on the venue's tick and step (it rounds a price
        to the nearest tick and cuts an amount)."""
        self._price_precision = int(price_precision)
        self._amount_precision = int(amount_precision)

    def _place(self, unified: str, side: str, price: Any, amount: Any, opts: dict[str, Any],
               log_args: tuple[Any, ...]) -> str:
        try:
            price, amount = float(price), float(amount)
        except (TypeError, ValueError):
            raise CallFailed(f"invalid price {price!r} or amount {amount!r}") from None
        if price > 0:
            price = _cut_decimals(price, self._price_precision)
        amount = _cut_decimals(amount, self._amount_precision)
        if amount <= 0:
            raise CallFailed(f"invalid amount {amount!r}: must be > 0")
        exec_side = {"buy": "buy", "sell": "sell", "closebuy": "sell", "closesell": "buy"}[side]
        client_id, params = self._order_params(side, opts)
        order_type = "market" if price <= 0 else "limit"
        if self._venue == "coinex" and params.get("reduceOnly"):
            self._coinex_close_fits(unified, exec_side)
        sent = to_struct({"Symbol": self._fmz_symbol(unified), "Side": side, "Price": price,
                          "Amount": amount, "ClientOrderId": client_id, "Time": self.venue_now_ms()})
        venue_id = self._send_order(unified, order_type, exec_side, amount, price, params, client_id, sent)
        oid = self._order_id(unified, venue_id)
        self._log.log(LOG_TYPE_BUY if exec_side == "buy" else LOG_TYPE_SELL,
                      " ".join(str(a) for a in log_args), exchange_index=self._index, order_id=oid,
                      price=-1.0 if price <= 0 else price, amount=amount)
        return oid

    def _order_params(self, side: str, opts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(client id, ccxt params) for an order: the caller's client id or ours, reduce-only, post-only or
        time in force (BitMEX's spelling), OKX's broker tag."""
        client_id = next((str(opts[k]) for k in _CLIENT_ID_KEYS if opts.get(k)), "")
        if not client_id:
            client_id = f"{self._id_prefix}{next(self._client_ids)}"
        params: dict[str, Any] = {"clientOrderId": client_id}
        if side in ("closebuy", "closesell") or truthy(opts.get("reduceOnly")):
            params["reduceOnly"] = True
        tif = option_tif(self._venue, opts)
        if truthy(opts.get("postOnly")) or tif in ("POSTONLY", "GTX", "POST_ONLY"):
            params["postOnly"] = True
        elif tif in ("GTC", "IOC", "FOK"):
            params["timeInForce"] = _BITMEX_TIF[tif] if self._venue == "bitmex" else tif
        if self._venue == "okx" and self._broker_tag:
            params["tag"] = self._broker_tag
        return client_id, params

    def _send_order(self, unified: str, order_type: str, exec_side: str, amount: float, price: float,
                    params: dict[str, Any], client_id: str, sent: Any) -> Any:
        """The order sent (websocket first, else REST) -> the venue's id. An answer that does not prove a
        refusal leaves the order in flight under its client id (OutcomeNotProved for a venue error)."""
        try:
            venue_id = self._place_by_socket(unified, order_type, exec_side, amount, price, params)
            if venue_id is None:
                order = self._client.create_order(unified, order_type, exec_side, amount,
                                                  None if price <= 0 else price, params)
                if order.get("id") is None:
                    raise ValueError("the venue's answer carries no order id")
                self._raw, venue_id = order.get("info"), order["id"]
                self.order_routes["rest"] += 1
        except (ccxt.OperationFailed, TypeError, KeyError, ValueError, AttributeError, IndexError):
            self.in_flight[client_id] = sent
            raise
        except ccxt.BaseError as e:
            if proves_refusal(e, self._venue):
                raise
            self.in_flight[client_id] = sent
            raise OutcomeNotProved(e) from e
        return venue_id

    def _coinex_close_fits(self, unified: str, exec_side: str) -> None:
        """CoinEx has no reduce-only order: ccxt sends it to POST /v2/futures/close-position, which takes no
        side and closes whatever position the market holds. A sell may only reduce a long (a buy a short),
        as the other venues' reduce-only flag enforces: refused before sending otherwise."""
        wanted = "long" if exec_side == "sell" else "short"
        try:
            positions = self._client.fetch_positions([unified])
        except ccxt.NetworkError as e:
            raise CallFailed(f"not sent: the {unified} position a CoinEx close needs could not be read "
                             f"({type(e).__name__})") from None
        held = [p for p in positions if (p.get("contracts") or 0) > 0]
        if not any(p.get("side") == wanted for p in held):
            have = ", ".join(f"{p.get('side')} {p.get('contracts')}" for p in held) or "no position"
            raise CallFailed(f"reduce-only {exec_side} refused before sending: it may only reduce a "
                             f"{wanted}, and CoinEx closes whatever position {unified} holds (close-position "
                             f"takes no side); it holds {have}")

    def _socket_request(self, action: str, build: Callable[[], dict[str, Any]]) -> str | None:
        """Send `action` over the order websocket and return the order id in the venue's answer ("" when it
        names none); None when the socket is not ready (send by REST). A lost answer is ccxt's RequestTimeout
        (outcome unknown), a refusal the ccxt error its code maps to (definite rejection), as REST gives."""
        socket = self.order_socket
        if socket is None or not socket.ready:
            return None
        try:
            reply = socket.request(action, build())
        except NotSent:
            return None
        except ReplyLost as e:
            raise ccxt.RequestTimeout(f"{self._venue} order websocket: {e}") from None
        row = socket.protocol.accepted(reply)
        if row is None:
            code, message = socket.protocol.refusal(reply)
            raise order_args.rejection(self._client, ccxt.ExchangeError, self._venue, code, message)
        self._raw = row
        return socket.protocol.order_id(row)

    def _place_by_socket(self, unified: str, order_type: str, side: str, amount: float, price: float,
                         params: dict[str, Any]) -> str | None:
        limit = None if price <= 0 else price
        venue_id = self._socket_request("place", lambda: order_args.place_args(
            self._venue, self._client, unified, order_type, side, amount, limit, params))
        if venue_id is None:
            return None
        if not venue_id:
            raise ValueError("the venue's answer carries no order id")
        self.order_routes["ws"] += 1
        return venue_id

    def _cancel_by_socket(self, unified: str, venue_id: str) -> bool:
        answered = self._socket_request("cancel", lambda: order_args.cancel_args(
            self._venue, self._client, unified, venue_id))
        return answered is not None

    def ModifyOrder(self, order_id: Any, side: str, price: float, amount: float, *args: Any) -> str | None:
        """Amend a resting limit order in place where the venue can (ccxt editOrder: Binance PUT
        /fapi/v1/order, OKX amend-order, Bybit /v5/order/amend, BitMEX PUT /order), else cancel and replace
        with the same options. Returns the order's id (a new one when it was replaced)."""
        def run() -> str:
            unified, venue_id = self._parse_order_id(order_id)
            raw_side, opts = parse_side(side)
            if raw_side not in DIRECTIONS:
                raise CallFailed(f"invalid side {side!r}: use {', '.join(DIRECTIONS)}")
            if float(price) <= 0 or float(amount) <= 0:
                raise CallFailed(f"ModifyOrder needs a limit price and an amount > 0 (got {price}, {amount})")
            if self._client.has.get("editOrder"):
                exec_side = {"buy": "buy", "sell": "sell", "closebuy": "sell", "closesell": "buy"}[raw_side]
                params = {"reduceOnly": True} if raw_side in ("closebuy", "closesell") else {}
                new_id = self._socket_request("amend", lambda: order_args.amend_args(
                    self._venue, self._client, venue_id, unified, exec_side, float(amount), float(price),
                    params))
                if new_id is None:
                    order = self._client.edit_order(venue_id, unified, "limit", exec_side, float(amount),
                                                    float(price), params)
                    self._raw, new_id = order.get("info"), order.get("id")
                oid = self._order_id(unified, new_id or venue_id)
                self._log.log(LOG_TYPE_BUY if exec_side == "buy" else LOG_TYPE_SELL, "modify",
                              exchange_index=self._index, order_id=oid, price=float(price),
                              amount=float(amount))
                return oid
            self._client.cancel_order(venue_id, unified)
            return self._place(unified, raw_side, price, amount, opts, args)
        return self._run("ModifyOrder", run)

    def GetTrades(self, symbol: str = "") -> list[Struct] | None:
        """The venue's latest public trades, oldest first: Id, Time, Price, Amount (contracts), Type."""
        def run() -> list[Struct]:
            unified = self._symbol(symbol)[1]
            trades = self._client.fetch_trades(unified, None, TRADES_LIMIT)
            return [to_struct({"Id": str(t.get("id")), "Time": t.get("timestamp"), "Price": t.get("price"),
                               "Amount": t.get("amount"),
                               "Type": ORDER_TYPE_BUY if t.get("side") == "buy" else ORDER_TYPE_SELL})
                    for t in sorted(trades, key=lambda t: t.get("timestamp") or 0)]
        return self._run("GetTrades", run)

    def GetRecords(self, *args: Any, **kwargs: Any) -> Records | None:
        """K-lines: GetRecords([symbol,] [period s,] [limit]) like FMZ; oldest first, the last one forming."""
        def run() -> Records:
            symbol, period, limit = records_args(args, kwargs, self.period_s)
            timeframe = _TIMEFRAMES.get(period)
            if timeframe is None:
                known = ", ".join(str(p) for p in _TIMEFRAMES)
                raise CallFailed(f"period {period} s has no venue k-line: use one of {known} (PERIOD_M1..)")
            bars = self._client.fetch_ohlcv(self._symbol(symbol)[1], timeframe, None, limit or RECORDS_LIMIT)
            return Records(to_struct({"Time": b[0], "Open": b[1], "High": b[2], "Low": b[3], "Close": b[4],
                                      "Volume": b[5]}) for b in bars)
        return self._run("GetRecords", run)

    def CancelOrder(self, order_id: Any, *args: Any) -> bool:
        def run() -> bool:
            unified, venue_id = self._parse_order_id(order_id)
            if not self._cancel_by_socket(unified, venue_id):
                self._raw = self._client.cancel_order(venue_id, unified).get("info")
            self._log.log(LOG_TYPE_CANCEL, " ".join(str(a) for a in args), exchange_index=self._index,
                          order_id=self._order_id(unified, venue_id))
            return True
        return bool(self._run("CancelOrder", run))

    def _order_struct(self, o: dict[str, Any]) -> Struct:
        unified = o.get("symbol") or ""
        status = _STATUS.get(o.get("status") or "", ORDER_STATE_UNKNOWN)
        return to_struct({
            "Id": self._order_id(unified, o["id"]), "Symbol": self._fmz_symbol(unified),
            "Price": -1 if o.get("type") == "market" else o.get("price"), "Amount": o.get("amount"),
            "DealAmount": o.get("filled") or 0.0, "AvgPrice": o.get("average") or 0.0,
            "Status": status, "Type": ORDER_TYPE_BUY if o.get("side") == "buy" else ORDER_TYPE_SELL,
            "Offset": ORDER_OFFSET_CLOSE if o.get("reduceOnly") else ORDER_OFFSET_OPEN,
            "ContractType": "swap", "Time": o.get("timestamp"), "Condition": None,
            "ClientOrderId": o.get("clientOrderId"), "Info": o.get("info"),
        })

    def GetOrder(self, order_id: Any) -> Struct | None:
        def run() -> Struct:
            unified, venue_id = self._parse_order_id(order_id)
            order = self._client.fetch_order(venue_id, unified)
            self._raw = order.get("info")
            return self._order_struct(order)
        return self._run("GetOrder", run)

    def GetOrders(self, symbol: str = "") -> list[Struct] | None:
        """Open orders. Without a symbol (and no contract set) FMZ's range: every variety "in the dimension
        range of the current trading pair and contract code" (fmz.com/syntax-guide/fun/trade/
        exchange.getorders), here the current quote's perpetuals, as GetPositions() (`_in_current_range`): a
        venue's list without a symbol also holds dated futures (Binance /fapi/v1/openOrders: every USD-M
        symbol, BTCUSDT_250328 too) and other margin currencies, which are left out."""
        def run() -> list[Struct]:
            unified = self._symbol(symbol)[1] if symbol or self._contract else None
            limit = _OPEN_ORDERS_PAGE.get(self._venue)
            params = dict(_ALL_SWAPS_QUERY.get(self._venue, {})) if unified is None else {}
            orders = self._client.fetch_open_orders(unified, None, limit, params)
            return [self._order_struct(o) for o in orders
                    if unified is not None or self._in_current_range(o.get("symbol") or "")]
        return self._run("GetOrders", run)

    def GetHistoryOrders(self, *args: Any) -> list[Struct] | None:
        """FMZ GetHistoryOrders([symbol,] [since ms,] [limit]): the swap's finished orders (filled, canceled
        with or without fills, expired) the venue lists, oldest first. What finds an order by client id
        after a lost answer once it is no longer open (an IOC order never is), and the venue's own
        liquidation orders. Each venue's list of every finished status: Binance GET /fapi/v1/allOrders,
        OKX GET /api/v5/trade/orders-history (no state: filled and canceled), Bybit GET /v5/order/history
        (no orderStatus), CoinEx GET /v2/futures/finished-order (100 rows), BitMEX GET /order newest first.
        One page (_HISTORY_PAGE): without since the newest rows, with since the oldest from then on. OKX,
        Bybit and CoinEx list newest first and Bybit and Binance a week at most, so with since those four
        walk to the start time (fmz_compat/live_history.py); a walk that runs out answers None."""
        def run() -> list[Struct]:
            rest = list(args)
            symbol = rest.pop(0) if rest and isinstance(rest[0], str) else ""
            since = int(rest.pop(0) or 0) if rest else 0
            limit = int(rest.pop(0) or 0) if rest else 0
            unified = self._symbol(symbol)[1]
            default, most = _HISTORY_PAGE.get(self._venue, (100, 100))
            page = min(limit, most) if limit > 0 else default
            orders = [o for o in self._finished_orders(unified, since or None, page)
                      if o.get("status") != "open" and (o.get("timestamp") or 0) >= since]
            done = sorted((self._order_struct(o) for o in orders), key=lambda o: o.Time or 0)
            return done[:page] if since else done[-page:]
        return self._run("GetHistoryOrders", run)

    def _finished_orders(self, unified: str, since: int | None, page: int) -> list[dict[str, Any]]:
        client, market = self._client, self._markets()[unified]
        if since and self._venue in _WALKED_HISTORY:
            rows = raw_rows_from(self._venue, client, market, since, page, self.venue_now_ms())
            return self._parsed_rows(rows, market)
        if self._venue == "binance":
            return client.fetch_orders(unified, None, page)
        if self._venue == "okx":  # ccxt's fetch_closed_orders asks state=filled and drops partly filled IOCs
            query = {"instType": "SWAP", "instId": market["id"], "limit": str(page)}
            return self._parsed_rows(client.privateGetTradeOrdersHistory(query).get("data") or [], market)
        if self._venue == "bybit":
            return client.fetch_canceled_and_closed_orders(unified, None, page)
        if self._venue == "coinex":
            answer = client.v2PrivateGetFuturesFinishedOrder({
                "market": market["id"], "market_type": "FUTURES", "limit": page})
            return self._parsed_rows(answer.get("data") or [], market)
        if self._venue == "bitmex":  # BitMEX lists oldest first unless reverse: the newest without a start
            return client.fetch_orders(unified, since, page, {"reverse": not since})
        raise CallFailed(f"no order history on {self._name}")

    def _parsed_rows(self, rows: list[Any], market: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [row for row in rows if isinstance(row, dict)]
        if self._venue == "coinex":
            return [_coinex_finished(self._client, row, market) for row in rows]
        return list(self._client.parse_orders(rows, market))

    def GetPositions(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            symbols = [self._symbol(symbol)[1]] if symbol else None
            out = []
            for p in self._client.fetch_positions(symbols):
                contracts = p.get("contracts") or 0.0
                if not contracts or (symbols is None and not self._in_current_range(p["symbol"])):
                    continue
                out.append(to_struct({
                    "Symbol": self._fmz_symbol(p["symbol"]), "MarginLevel": p.get("leverage"),
                    "Amount": abs(contracts), "FrozenAmount": 0.0, "Price": p.get("entryPrice"),
                    "Profit": p.get("unrealizedPnl") or 0.0,
                    "Type": PD_SHORT if p.get("side") == "short" else PD_LONG, "ContractType": "swap",
                    "Margin": p.get("initialMargin") or p.get("collateral") or 0.0, "Info": p.get("info"),
                }))
            return out
        return self._run("GetPositions", run)

    def GetAccount(self) -> Struct | None:
        def run() -> Struct:
            quote = self.GetQuoteCurrency()
            balance = self._client.fetch_balance()
            self._raw = balance.get("info")
            entry = balance.get(quote) or {}
            free, used, total = (entry.get(k) or 0.0 for k in ("free", "used", "total"))
            wallet, upnl = _wallet_and_upnl(self._venue, balance.get("info"), quote) or (total, 0.0)
            return to_struct({"Balance": free, "FrozenBalance": used, "Stocks": 0.0, "FrozenStocks": 0.0,
                              "Equity": wallet + upnl, "UPnL": upnl, "Info": balance.get("info")})
        return self._run("GetAccount", run)

    def GetOrderByClientId(self, symbol: str, client_id: str, sent_ms: int | None = None
                           ) -> Struct | bool | None:
        """Documented extra (not FMZ's): the order this account placed on `symbol` with `client_id`, asked
        of the venue by that id (`_find_by_client_id`: Binance origClientOrderId, OKX clOrdId, Bybit
        /v5/order/realtime then /v5/order/history with orderLinkId, ...), so no list's page size can hide
        it. False when the venue answers it has none; None (and an error row) when the lookup failed.
        `sent_ms`: when it was sent (CoinEx's finished orders take no client id and are read back to then)."""
        def run() -> Struct | bool:
            unified = self._symbol(symbol)[1]
            try:
                order = self._find_by_client_id(unified, client_id, sent_ms)
            except ccxt.OrderNotFound:
                return False
            if order is None:
                return False
            if order.get("id") is None:
                raise CallFailed(f"the venue's answer for {client_id} carries no order id")
            self._raw = order.get("info")
            return self._order_struct(order)
        return self._run("GetOrderByClientId", run)

    def resolve_in_flight(self) -> dict[str, Struct | None]:
        """Ask the venue about every order whose placement outcome was unknown, by client order id.

        Returns client id -> the order (it reached the venue) or None (the venue has no such order:
        it was never placed, safe to send again). Ids the venue still cannot answer for stay in
        `in_flight` and are left out of the result."""
        resolved: dict[str, Struct | None] = {}
        with self._lock:
            for client_id, sent in list(self.in_flight.items()):
                try:
                    order = self._find_by_client_id(self._symbol(sent.Symbol)[1], client_id,
                                                    sent.get("Time"))
                except ccxt.OrderNotFound:
                    order = None
                except (CallFailed, ccxt.BaseError, TypeError, KeyError, ValueError, AttributeError,
                        IndexError) as e:
                    self._fail("resolve_in_flight", f"{client_id} still unknown: {_venue_message(e)}")
                    continue
                if order is not None and order.get("id") is None:
                    continue
                resolved[client_id] = None if order is None else self._order_struct(order)
                del self.in_flight[client_id]
        return resolved

    def _find_by_client_id(self, unified: str, client_id: str, sent_ms: int | None = None
                           ) -> dict[str, Any] | None:
        """The order this account placed with `client_id` (ccxt's order), or None when the venue has none.

        Each venue's own lookup: Binance GET /fapi/v1/order origClientOrderId, OKX GET /api/v5/trade/order
        clOrdId, Bybit GET /v5/order/realtime then /v5/order/history orderLinkId (a restart of Bybit's
        servers moves closed orders to history only), BitMEX GET /order filter {"clOrdID"}, CoinEx GET
        /v2/futures/pending-order client_id, then its finished orders page by page (that list takes no
        client_id). Rows are matched on the venue's client-id field too, so a venue that ignored the
        filter cannot hand back another order. `sent_ms`: when the order was sent, on the venue's clock."""
        client, market = self._client, self._markets()[unified]
        if self._venue == "binance":
            return client.fetch_order(None, unified, {"origClientOrderId": client_id})
        if self._venue == "okx":
            return client.fetch_order(None, unified, {"clOrdId": client_id})
        if self._venue == "bybit":
            query = {"category": "linear", "symbol": market["id"], "orderLinkId": client_id}
            for endpoint in (client.privateGetV5OrderRealtime, client.privateGetV5OrderHistory):
                rows = ((endpoint(dict(query)).get("result") or {}).get("list")) or []
                row = _row_with(rows, "orderLinkId", client_id)
                if row is not None:
                    return client.parse_order(row, market)
            return None
        if self._venue == "bitmex":
            orders = client.fetch_orders(unified, None, None, {"filter": {"clOrdID": client_id}})
            return next((o for o in orders if (o.get("info") or {}).get("clOrdID") == client_id), None)
        if self._venue == "coinex":
            orders = client.fetch_open_orders(unified, None, None, {"client_id": client_id})
            found = next((o for o in orders if (o.get("info") or {}).get("client_id") == client_id), None)
            return found if found is not None else self._coinex_finished(market, client_id, sent_ms)
        raise CallFailed(f"no lookup by client order id on {self._name}")

    def _coinex_finished(self, market: dict[str, Any], client_id: str, sent_ms: int | None
                         ) -> dict[str, Any] | None:
        """CoinEx's finished order with `client_id`, None once the list was read back past `sent_ms`.

        GET /v2/futures/finished-order takes no client_id (docs.coinex.com/api/v2/futures/order/http/
        list-finished-order: market, market_type, side, page, limit, 10 rows by default), so it is paged
        newest first, 100 rows a page. Raises CallFailed (the order stays in flight) while every row read is
        newer than the order and more pages remain."""
        cutoff = None if sent_ms is None else sent_ms - _COINEX_CLOCK_SLACK_MS
        for page in range(1, _COINEX_FINISHED_PAGES + 1):
            answer = self._client.v2PrivateGetFuturesFinishedOrder({
                "market": market["id"], "market_type": "FUTURES", "page": page, "limit": 100})
            rows = [r for r in answer.get("data") or [] if isinstance(r, dict)]
            row = _row_with(rows, "client_id", client_id)
            if row is not None:
                return _coinex_finished(self._client, row, market)
            if not (answer.get("pagination") or {}).get("has_next"):
                return None
            stamps = [int(r.get("created_at") or 0) for r in rows]
            newest_first = all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
            if not newest_first:  # the pages cannot be cut by time: read on, or stay in flight
                continue
            if cutoff is not None and stamps and max(stamps) < cutoff:
                return None
        raise CallFailed(f"{client_id} is not among the newest {_COINEX_FINISHED_PAGES * 100} finished "
                         f"orders of {market['id']} and older ones were not read")

    # --- account modes ------------------------------------------------------------------------
    def check_account_mode(self) -> None:
        """Raise AccountModeError (one line, what to change) when the account mode is unsupported."""
        try:
            problem = _MODE_CHECKS.get(self._venue, _no_check)(self._client)
        except ccxt.BaseError as e:
            raise AccountModeError(self.redact(
                f"{self._name}: could not read the account mode: {_venue_message(e)}")) from None
        if problem:
            raise AccountModeError(f"{self._name}: {problem}")

    # --- misc ---------------------------------------------------------------------------------
    def IO(self, key: str, *args: Any) -> Any:
        if key == "currency":
            if args:
                self.SetCurrency(args[0])
                return True
            return None
        if key == "api":
            return self._run("IO", lambda: self._api(*args))
        if key == "cross":  # FMZ: IO("cross", true) = cross margin for what SetMarginLevel sets next
            self.cross = bool(args[0]) if args else True
            return True
        return None

    def _own_okx_order_ids(self, args: dict[str, Any]) -> None:
        """A raw OKX order without clOrdId gets ours (and our tag, if any), so a lost answer can be resolved
        by client id and ccxt's signer never adds its own broker id (ccxt 4.5.83 okx.sign)."""
        if not args.get("clOrdId"):
            args["clOrdId"] = f"{self._id_prefix}{next(self._client_ids)}"
        if self._broker_tag and not args.get("tag"):
            args["tag"] = self._broker_tag

    def _api(self, http_method: str = "GET", path: str = "", params: str = "", body: str = "") -> Any:
        """Signed raw REST: IO("api", "GET", "/fapi/v2/account", "a=1", '{"json": "body"}'). A JSON array
        body (OKX batch-orders) is sent as the array."""
        path, _, query = path.partition("?")
        args: dict[str, Any] = dict(parse_qsl(query)) | dict(parse_qsl(params or "", keep_blank_values=True))
        payload = _api_payload(args, body) if body else args
        if self._venue == "okx" and http_method.upper() == "POST" and path.rstrip("/") in _OKX_ORDER_PATHS:
            for entry in payload if isinstance(payload, list) else [payload]:
                if isinstance(entry, dict):
                    self._own_okx_order_ids(entry)
        for prefix, api in VENUES[self._venue].api_prefixes:
            if path.startswith(prefix):
                result = self._client.request(path[len(prefix):], api, http_method.upper(), payload)
                self._raw = result
                return to_struct(result)
        prefixes = ", ".join(p for p, _ in VENUES[self._venue].api_prefixes)
        raise CallFailed(f"path {path!r} is not a private REST path of {self._name}: "
                         f"start it with {prefixes}")


def _api_payload(args: dict[str, Any], body: str) -> dict[str, Any] | list[Any]:
    """A raw call's body: a JSON object (or form) merged into `args`, or a JSON array sent as the array."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = dict(parse_qsl(body))
    if isinstance(parsed, dict):
        args.update(parsed)
    elif isinstance(parsed, list):
        if args:
            raise CallFailed("a JSON array body takes no query parameters: put them in each entry")
        return [dict(entry) if isinstance(entry, dict) else entry for entry in parsed]
    return args


CLOCK_RESYNC_MS = 30 * 60_000
TRADES_LIMIT = 50
RECORDS_LIMIT = 100  # bars asked for when the caller gives no limit (FMZ returns "enough" bars)
_TIMEFRAMES = {60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 7200: "2h",
               14400: "4h", 21600: "6h", 43200: "12h", 86400: "1d", 604800: "1w"}
# the venues' "already in that margin mode" answers (Binance -4046)
_MODE_ALREADY_SET = ("-4046", "No need to change margin type")
# BitMEX spells time in force out (ccxt 4.5.83 passes ours through unmapped, and BitMEX refuses "IOC")
_BITMEX_TIF = {"GTC": "GoodTillCancel", "IOC": "ImmediateOrCancel", "FOK": "FillOrKill"}
# finished orders a GetHistoryOrders call asks for, per venue: (rows without a limit, the most a limit asks);
# the simulator lists the same pages (fmz_compat/sim/exchange.py HISTORY_PAGE, which cites each venue's docs)
_HISTORY_PAGE = {"binance": (500, 1000), "okx": (100, 100), "bybit": (50, 50), "coinex": (100, 100),
                 "bitmex": (100, 500)}
# venues that do not answer the oldest rows from a start time in one request (fmz_compat/live_history.py)
_WALKED_HISTORY = ("okx", "bybit", "binance", "coinex")
# a full page of open orders where the venue's default page is short (CoinEx pending-order 10 of at most
# 100, Bybit realtime 20 of at most 50); the others answer every open order of a symbol by default
_OPEN_ORDERS_PAGE = {"coinex": 100, "bybit": 50}
# what narrows an open-order list without a symbol to the account's swaps: OKX's orders-pending answers every
# instrument type (spot, margin, futures, options) without instType
_ALL_SWAPS_QUERY: dict[str, dict[str, str]] = {"okx": {"instType": "SWAP"}}
# CoinEx finished orders read back when looking an order up by client id (100 a page), and how far a
# finished row's created_at may sit before our send time (clock offset, the venue's own stamp delay)
_COINEX_FINISHED_PAGES = 10
_COINEX_CLOCK_SLACK_MS = 60_000
_TIER_UNITS = {"binance": "USDT", "bybit": "USDT", "okx": "contracts", "coinex": "base"}


def _retry_after(client: ccxt.Exchange) -> float | None:
    headers = {str(k).lower(): v for k, v in dict(client.last_response_headers or {}).items()}
    try:
        return float(headers["retry-after"])
    except (KeyError, TypeError, ValueError):
        return None


def make_order_socket(venue: str, credentials: Credentials, *, testnet: bool = False, url: str = "",
                      now_ms: Callable[[], int] | None = None, node: str = "") -> OrderSocket | None:
    """The venue's order websocket (not started) for these keys; None where orders go by REST only. Its
    request ids carry `node` (default: the host name), the process and its start stamp."""
    return order_socket(venue, credentials.api_key, credentials.secret, credentials.password, testnet=testnet,
                        url=url, now_ms=now_ms, node=node)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _venue_message(e: Exception) -> str:
    """ccxt prefixes messages with its class id; keep the venue's own words."""
    text = str(e).strip()
    head, sep, rest = text.partition(" ")
    return rest if sep and head.isalnum() and head.islower() else text


def _wallet_and_upnl(venue: str, info: Any, asset: str) -> tuple[float, float] | None:
    """(wallet balance, unrealised PnL) of `asset` from the venue's raw balance, where we know its shape;
    ccxt's "total" means wallet on some venues and wallet + PnL on others, FMZ's Equity is the sum."""
    try:
        if venue == "binance":
            row = next(a for a in info["assets"] if a["asset"] == asset)
            return float(row["walletBalance"]), float(row["unrealizedProfit"])
        if venue == "okx":
            row = next(d for d in info["data"][0]["details"] if d["ccy"] == asset)
            return float(row["cashBal"]), float(row.get("upl") or 0)
        if venue == "bybit":
            row = next(c for c in info["result"]["list"][0]["coin"] if c["coin"] == asset)
            return float(row["walletBalance"]), float(row.get("unrealisedPnl") or 0)
    except (KeyError, IndexError, TypeError, ValueError, StopIteration):
        return None
    return None


def _coinex_finished(client: ccxt.Exchange, row: dict[str, Any], market: dict[str, Any]) -> dict[str, Any]:
    """ccxt's order from a CoinEx finished-order row, which carries no status: closed when nothing is left
    unfilled, canceled otherwise."""
    order = client.parse_order(row, market)
    if order.get("status") is None:
        order["status"] = "closed" if not float(row.get("unfilled_amount") or 0) else "canceled"
    return order


def _row_with(rows: list[Any], field: str, value: str) -> dict[str, Any] | None:
    return next((r for r in rows if isinstance(r, dict) and r.get(field) == value), None)


def _market_max_qty(m: dict[str, Any]) -> float | None:
    """The most contracts one MARKET order may be (FMZ Market.MaxQty for a strategy that sends market
    orders): the smaller of the limit order's maximum (ccxt limits.amount.max) and the market order's where
    both are given. Binance USDⓈ-M: LOT_SIZE maxQty vs MARKET_LOT_SIZE maxQty (ccxt 4.5.83
    binance.parse_market: limits['amount'] and limits['market']); OKX: maxLmtSz vs maxMktSz (ccxt's
    limits.amount.max is maxLmtSz, maxMktSz only in info); Bybit linear: maxOrderQty vs
    lotSizeFilter.maxMktOrderQty (likewise only in info). None when neither is known."""
    limits, info = m.get("limits") or {}, m.get("info") or {}
    lot_size = info.get("lotSizeFilter") if isinstance(info, dict) else None
    found = [(limits.get("amount") or {}).get("max"), (limits.get("market") or {}).get("max"),
             info.get("maxMktSz") if isinstance(info, dict) else None,
             lot_size.get("maxMktOrderQty") if isinstance(lot_size, dict) else None]
    figures = []
    for figure in found:
        try:
            value = float(figure) if figure not in (None, "") else 0.0
        except (TypeError, ValueError):
            continue
        if value > 0:
            figures.append(value)
    return min(figures) if figures else None


def _decimals(step: Any) -> int | None:
    if not step:
        return None
    text = f"{step:.12f}".rstrip("0")
    return len(text.partition(".")[2])


def _interval_ms(interval: Any) -> int | None:
    if not isinstance(interval, str) or not interval[:-1].isdigit():
        return None
    return int(interval[:-1]) * _INTERVAL_UNITS.get(interval[-1], 0) or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _bitmex_interval_ms(text: Any) -> int | None:
    if not isinstance(text, str) or not text.startswith("2000-01-"):
        return None
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    epoch = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    return int((stamp - epoch).total_seconds() * 1000) or None


def _no_check(client: ccxt.Exchange) -> str:
    return ""


def _check_binance(client: ccxt.Exchange) -> str:
    if client.fapiPrivateGetPositionSideDual().get("dualSidePosition") in (True, "true"):
        return ("hedge mode (dual side position) is on: switch to one-way mode in Preferences > "
                "Position Mode, or POST /fapi/v1/positionSide/dual dualSidePosition=false")
    return ""


def _check_okx(client: ccxt.Exchange) -> str:
    data = (client.privateGetAccountConfig().get("data") or [{}])[0]
    level, pos_mode = str(data.get("acctLv")), data.get("posMode")
    if level != "2":
        names = {"1": "spot mode", "3": "multi-currency margin", "4": "portfolio margin"}
        return (f"account mode is {names.get(level, level)}: switch to single-currency margin in "
                f"Trade > Settings > Account mode")
    if pos_mode != "net_mode":
        return "position mode is long/short: switch to one-way (net) mode in Trade > Settings > Position mode"
    return ""


# Bybit GET /v5/account/info unifiedMarginStatus (https://bybit-exchange.github.io/docs/v5/acct-mode):
# 1 classic account ("now unavailable"), 3 UTA 1.0, 4 UTA 1.0 pro, 5 UTA 2.0, 6 UTA 2.0 pro
_BYBIT_UNIFIED = {"3": "UTA 1.0", "4": "UTA 1.0 pro", "5": "UTA 2.0", "6": "UTA 2.0 pro"}


def _check_bybit(client: ccxt.Exchange) -> str:
    result = client.privateGetV5AccountInfo().get("result") or {}
    status = str(result.get("unifiedMarginStatus"))
    if status not in _BYBIT_UNIFIED:
        kind = "a classic account" if status == "1" else f"an unknown account type ({status})"
        return (f"unifiedMarginStatus {status} is {kind}: Bybit retired classic accounts; upgrade to the "
                "unified trading account (Assets > Upgrade to UTA) and use its keys")
    if result.get("marginMode") == "PORTFOLIO_MARGIN":
        return ("the unified account is in portfolio margin, whose liquidation is not the per-position "
                "formula the strategy computes: switch to cross margin (Assets > Unified Trading Account > "
                "Margin Mode, or POST /v5/account/set-margin-mode setMarginMode=REGULAR_MARGIN)")
    # ccxt picks UNIFIED vs CONTRACT endpoints from /v5/user/query-api; the account info is the answer
    client.options["enableUnifiedAccount"], client.options["enableUnifiedMargin"] = True, False
    return ""


_MODE_CHECKS: dict[str, Callable[[ccxt.Exchange], str]] = {
    "binance": _check_binance, "okx": _check_okx, "bybit": _check_bybit,
}


def _cut_decimals(x: float, digits: int | None) -> float:
    """x cut toward zero to `digits` decimals (SetPrecision); unchanged while SetPrecision was not called.
    A value within 1e-9 of a decimal below counts as it (float noise: 0.29 * 100 = 28.999999999999996)."""
    if digits is None or not math.isfinite(x):
        return x
    f = 10 ** digits
    return math.copysign(math.floor(abs(x) * f + 1e-9) / f, x)
