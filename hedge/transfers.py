"""Deposits and withdrawals found in the venues' own transfer histories, and money in transit.

Read through FMZ's `exchange.IO("api", method, path, params)` with each venue's native endpoints:

* Binance: POST /sapi/v1/asset/get-funding-asset and POST /sapi/v3/asset/getUserAsset (funding and
  spot wallets), GET /sapi/v1/capital/deposit/hisrec, GET /sapi/v1/capital/withdraw/history;
* OKX: GET /api/v5/asset/balances, GET /api/v5/asset/deposit-history, GET /api/v5/asset/withdrawal-history;
* Bybit: GET /v5/asset/transfer/query-account-coins-balance (accountType=FUND),
  GET /v5/asset/deposit/query-record, GET /v5/asset/withdraw/query-record.

A withdrawal from one of our venues whose deposit (same chain tx id; for a deposit without one,
same address and amount) is credited on another of our venues is an internal move: neither a
deposit nor a withdrawal for shares; until it is credited its amount is in transit and counts in
equity. Money in the funding (and Binance spot) wallets counts too: deposits land there and the
futures equity does not show it. Everything else is a cash flow: a credited deposit from outside
mints shares; a withdrawal to an address that is not ours burns them once `transit_timeout_ms` has
passed without a matching deposit (until then it is assumed to be on its way to one of our venues,
so unit NAV never jumps either way).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
DAY_MS = 86_400_000
SUPPORTED_VENUES = ("binance", "okx", "bybit")
MAX_FAILURES = 3  # consecutive failed reads before a venue's histories are no longer polled

Flow = tuple[str, Decimal, str]  # (flow id, USDT: deposit + / withdrawal -, source)


@dataclass(frozen=True)
class TransferRecord:
    """One row of a venue's deposit or withdrawal history, normalised."""

    venue: str
    kind: str      # "deposit" or "withdrawal"
    id: str        # the venue's record id (stable)
    tx_id: str     # chain transaction id ("" until the venue knows it)
    asset: str
    amount: Decimal  # deposit: credited; withdrawal: what the receiver gets
    fee: Decimal     # withdrawal fee (the wallet was debited amount + fee)
    address: str     # deposit: our address that received it; withdrawal: the destination
    network: str
    time_ms: int
    state: str     # "pending", "done" or "failed"


def _dec(value: Any) -> Decimal:
    try:
        result = Decimal(str(value)) if value not in (None, "") else ZERO
    except InvalidOperation:
        return ZERO
    return result if result.is_finite() else ZERO


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _utc_ms(text: Any) -> int:
    """Binance's "2019-10-12 11:12:02" (UTC) -> Unix ms."""
    try:
        return calendar.timegm(datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S").timetuple()) * 1000
    except ValueError:
        return 0


def _network(chain: Any) -> str:
    """OKX's "USDT-TRC20" -> "TRC20"; other venues' names pass through."""
    text = str(chain or "")
    return text.split("-", 1)[1] if "-" in text else text


def _rows(data: Any, *path: str) -> list[Mapping[str, Any]]:
    for key in path:
        if not isinstance(data, Mapping):
            return []
        data = data.get(key)
    return [row for row in data or [] if isinstance(row, Mapping)] if isinstance(data, list) else []


def _okx_ok(data: Any) -> bool:
    return isinstance(data, Mapping) and str(data.get("code")) == "0"


def _bybit_ok(data: Any) -> bool:
    return isinstance(data, Mapping) and _int(data.get("retCode")) == 0 and data.get("retCode") is not None


# --- parsers: the venue's response -> records ------------------------------------------------------
# Binance deposit status (developers.binance.com/docs/wallet/capital/deposite-history): 0 pending,
# 1 success, 2 rejected, 6 credited but cannot withdraw, 7 wrong deposit, 8 waiting user confirm
BINANCE_DEPOSIT_STATE = {0: "pending", 1: "done", 2: "failed", 6: "done", 7: "failed", 8: "pending"}
BINANCE_WITHDRAWAL_STATE = {0: "pending", 1: "failed", 2: "pending", 3: "failed", 4: "pending",
                            5: "failed", 6: "done"}
OKX_DEPOSIT_DONE = {"1", "2"}  # 1 credited (before the venue's own unlock), 2 success
OKX_WITHDRAWAL_FAILED = {"-3", "-2", "-1"}
BYBIT_DEPOSIT_STATE = {0: "pending", 1: "pending", 2: "pending", 3: "done", 4: "failed", 10011: "pending",
                       10012: "failed"}
BYBIT_WITHDRAWAL_FAILED = {"CancelByUser", "Reject", "Fail"}


def parse_binance_deposits(data: Any) -> list[TransferRecord]:
    rows = data if isinstance(data, list) else []
    return [TransferRecord("binance", "deposit", str(r.get("id") or r.get("txId")), str(r.get("txId") or ""),
                           str(r.get("coin", "")).upper(), _dec(r.get("amount")), ZERO,
                           str(r.get("address", "")), str(r.get("network", "")), _int(r.get("insertTime")),
                           BINANCE_DEPOSIT_STATE.get(_int(r.get("status")), "pending"))
            for r in rows if isinstance(r, Mapping)]


def parse_binance_withdrawals(data: Any) -> list[TransferRecord]:
    rows = data if isinstance(data, list) else []
    return [TransferRecord("binance", "withdrawal", str(r.get("id")), str(r.get("txId") or ""),
                           str(r.get("coin", "")).upper(), _dec(r.get("amount")),
                           _dec(r.get("transactionFee")), str(r.get("address", "")),
                           str(r.get("network", "")), _utc_ms(r.get("applyTime")),
                           BINANCE_WITHDRAWAL_STATE.get(_int(r.get("status")), "pending"))
            for r in rows if isinstance(r, Mapping)]


def parse_okx_deposits(data: Any) -> list[TransferRecord]:
    return [TransferRecord("okx", "deposit", str(r.get("depId")), str(r.get("txId") or ""),
                           str(r.get("ccy", "")).upper(), _dec(r.get("amt")), ZERO, str(r.get("to", "")),
                           _network(r.get("chain")), _int(r.get("ts")),
                           "done" if str(r.get("state")) in OKX_DEPOSIT_DONE else "pending")
            for r in _rows(data, "data")]


def parse_okx_withdrawals(data: Any) -> list[TransferRecord]:
    records = []
    for r in _rows(data, "data"):
        fee = _dec(r.get("fee")) if str(r.get("feeCcy", r.get("ccy", ""))) == str(r.get("ccy", "")) else ZERO
        state = str(r.get("state"))
        records.append(TransferRecord(
            "okx", "withdrawal", str(r.get("wdId")), str(r.get("txId") or ""), str(r.get("ccy", "")).upper(),
            _dec(r.get("amt")), fee, str(r.get("to", "")), _network(r.get("chain")), _int(r.get("ts")),
            "failed" if state in OKX_WITHDRAWAL_FAILED else "done" if state == "2" else "pending"))
    return records


def parse_bybit_deposits(data: Any) -> list[TransferRecord]:
    return [TransferRecord("bybit", "deposit", str(r.get("id") or r.get("txID")), str(r.get("txID") or ""),
                           str(r.get("coin", "")).upper(), _dec(r.get("amount")), ZERO,
                           str(r.get("toAddress", "")), str(r.get("chain", "")), _int(r.get("successAt")),
                           BYBIT_DEPOSIT_STATE.get(_int(r.get("status")), "pending"))
            for r in _rows(data, "result", "rows")]


def parse_bybit_withdrawals(data: Any) -> list[TransferRecord]:
    records = []
    for r in _rows(data, "result", "rows"):
        status = str(r.get("status", ""))
        records.append(TransferRecord(
            "bybit", "withdrawal", str(r.get("withdrawId")), str(r.get("txID") or ""),
            str(r.get("coin", "")).upper(), _dec(r.get("amount")), _dec(r.get("withdrawFee")),
            str(r.get("toAddress", "")), str(r.get("chain", "")), _int(r.get("createTime")),
            "failed" if status in BYBIT_WITHDRAWAL_FAILED else "done" if status == "success" else "pending"))
    return records


def parse_binance_funding(data: Any, asset: str) -> Decimal | None:
    if not isinstance(data, list):
        return None
    return sum((_dec(r.get("free")) + _dec(r.get("locked")) + _dec(r.get("freeze"))
                for r in data if isinstance(r, Mapping) and r.get("asset") == asset), ZERO)


def parse_okx_funding(data: Any, asset: str) -> Decimal | None:
    if not _okx_ok(data):
        return None
    return sum((_dec(r.get("bal")) for r in _rows(data, "data") if r.get("ccy") == asset), ZERO)


def parse_bybit_funding(data: Any, asset: str) -> Decimal | None:
    if not _bybit_ok(data):
        return None
    rows = _rows(data, "result", "balance")
    return sum((_dec(r.get("walletBalance")) for r in rows if r.get("coin") == asset), ZERO)


# --- reading through FMZ's exchange.IO ---------------------------------------------------------------
def _call(exchange: Any, method: str, path: str, params: str) -> Any:
    io = getattr(exchange, "IO", None)
    if io is None:
        return None
    try:
        return io("api", method, path, params)
    except Exception:  # noqa: BLE001 - a venue error is a failed read, never a crash
        return None


def read_funding_balance(exchange: Any, venue: str, asset: str = "USDT") -> Decimal | None:
    """The venue's funding-wallet balance of `asset`, or None when the read failed."""
    if venue == "binance":  # deposits land in the spot wallet by default, or in the funding wallet
        funding = parse_binance_funding(_call(exchange, "POST", "/sapi/v1/asset/get-funding-asset",
                                              f"asset={asset}"), asset)
        spot = parse_binance_funding(_call(exchange, "POST", "/sapi/v3/asset/getUserAsset",
                                           f"asset={asset}"), asset)
        return None if funding is None or spot is None else funding + spot
    if venue == "okx":
        return parse_okx_funding(_call(exchange, "GET", "/api/v5/asset/balances", f"ccy={asset}"), asset)
    if venue == "bybit":
        return parse_bybit_funding(_call(exchange, "GET", "/v5/asset/transfer/query-account-coins-balance",
                                         f"accountType=FUND&coin={asset}"), asset)
    return None


def read_history(exchange: Any, venue: str, asset: str = "USDT") -> list[TransferRecord] | None:
    """Deposits and withdrawals of `asset` in the venue's default window (Binance 90 days, Bybit 30
    days, OKX the newest 100 rows; no paging), None on a failed read."""
    if venue == "binance":
        deposits = _call(exchange, "GET", "/sapi/v1/capital/deposit/hisrec", f"coin={asset}")
        withdrawals = _call(exchange, "GET", "/sapi/v1/capital/withdraw/history", f"coin={asset}")
        if not isinstance(deposits, list) or not isinstance(withdrawals, list):
            return None
        return parse_binance_deposits(deposits) + parse_binance_withdrawals(withdrawals)
    if venue == "okx":
        deposits = _call(exchange, "GET", "/api/v5/asset/deposit-history", f"ccy={asset}")
        withdrawals = _call(exchange, "GET", "/api/v5/asset/withdrawal-history", f"ccy={asset}")
        if not _okx_ok(deposits) or not _okx_ok(withdrawals):
            return None
        return parse_okx_deposits(deposits) + parse_okx_withdrawals(withdrawals)
    if venue == "bybit":
        deposits = _call(exchange, "GET", "/v5/asset/deposit/query-record", f"coin={asset}")
        withdrawals = _call(exchange, "GET", "/v5/asset/withdraw/query-record", f"coin={asset}")
        if not _bybit_ok(deposits) or not _bybit_ok(withdrawals):
            return None
        return parse_bybit_deposits(deposits) + parse_bybit_withdrawals(withdrawals)
    return None


# --- the fund's view of all venues' histories --------------------------------------------------------
@dataclass(frozen=True)
class TransferView:
    """What the histories mean for the fund at one moment."""

    flows: list[Flow]        # external deposits (+) and withdrawals (-) since inception
    in_flight: Decimal       # own withdrawals not yet credited on an own venue
    internal: list[str]      # ids of withdrawals matched to an own deposit (internal moves)


def classify(records: Iterable[TransferRecord], asset: str, since_ms: int, now_ms: int,
             transit_timeout_ms: int, own_addresses: Iterable[str] = ()) -> TransferView:
    """Match own withdrawals to own deposits; the rest since `since_ms` are the fund's cash flows.
    `own_addresses`: deposit addresses of our venues known beforehand (the treasury whitelist)."""
    records = [r for r in records if r.asset == asset and r.state != "failed"]
    withdrawals = sorted((r for r in records if r.kind == "withdrawal"), key=lambda r: (r.time_ms, r.id))
    deposits = sorted((r for r in records if r.kind == "deposit" and r.state == "done"),
                      key=lambda r: (r.time_ms, r.id))
    by_tx = {w.tx_id: w for w in withdrawals if w.tx_id}
    matched: set[tuple[str, str]] = set()
    flows: list[Flow] = []
    for d in deposits:
        source = by_tx.get(d.tx_id) if d.tx_id else None
        if source is not None and (source.venue, source.id) in matched:
            source = None
        if source is None and not d.tx_id:  # a deposit with a tx id of its own is not ours without it
            source = next((w for w in withdrawals if (w.venue, w.id) not in matched and w.venue != d.venue
                           and w.address == d.address and w.amount == d.amount and w.time_ms <= d.time_ms),
                          None)
        if source is not None:
            matched.add((source.venue, source.id))
        elif d.time_ms >= since_ms:
            flows.append((f"{d.venue}:deposit:{d.id}", d.amount, f"history:{d.venue}"))
    own_addresses = {d.address for d in deposits if d.address} | set(own_addresses)
    in_flight = ZERO
    for w in withdrawals:
        if (w.venue, w.id) in matched or w.time_ms < since_ms - DAY_MS:
            continue
        if w.address in own_addresses:
            in_flight += w.amount  # the fee is the fund's cost of the move
        elif w.time_ms >= since_ms and now_ms - w.time_ms < transit_timeout_ms:
            in_flight += w.amount + w.fee  # maybe ours, maybe not: the flow would carry the fee
        elif w.time_ms >= since_ms:
            flows.append((f"{w.venue}:withdrawal:{w.id}", -(w.amount + w.fee), f"history:{w.venue}"))
    return TransferView(flows, in_flight, sorted(f"{v}:{i}" for v, i in matched))


class TransferWatcher:
    """Polls the bound venues' funding wallets and transfer histories; feeds `App.flow_sources` and
    `App.in_transit()`.

    The funding wallets are read at every look (one call per venue); the histories when
    `history_interval_ms` has passed (default: every look, the App looks once per status interval)
    or a funding wallet changed since the last look. A longer interval saves calls but lets a move
    that leaves the funding balance unchanged (futures -> funding -> withdrawal between two looks)
    dip unit NAV until the next read.
    A venue whose reads fail `MAX_FAILURES` times in a row is left alone (one event line says so).
    """

    def __init__(self, exchanges: Mapping[str, Any], *, now_ms: Callable[[], int],
                 since_ms: Callable[[], int], event: Callable[[str], None], asset: str = "USDT",
                 history_interval_ms: int = 0, transit_timeout_ms: int = 6 * 3_600_000,
                 own_addresses: Iterable[str] = ()) -> None:
        self.exchanges = {k: ex for k, ex in exchanges.items()
                          if k in SUPPORTED_VENUES and callable(getattr(ex, "IO", None))}
        self._now_ms = now_ms
        self._since_ms = since_ms
        self._event = event
        self.asset = asset
        self.history_interval_ms = history_interval_ms
        self.transit_timeout_ms = transit_timeout_ms
        self.own_addresses = frozenset(own_addresses)
        self.records: dict[tuple[str, str, str], TransferRecord] = {}
        self.funding: dict[str, Decimal] = {}
        self.view = TransferView([], ZERO, [])
        self._failures: dict[str, int] = dict.fromkeys(self.exchanges, 0)
        self._next_history_ms = 0

    def _failed(self, venue: str) -> None:
        self._failures[venue] += 1
        if self._failures[venue] == MAX_FAILURES:
            self._event(f"{venue}: funding wallet / transfer history not readable {MAX_FAILURES} times in a "
                        "row; deposits there must be declared by command (deposit:AMOUNT)")

    def poll(self) -> None:
        now = self._now_ms()
        live = [k for k, n in self._failures.items() if n < MAX_FAILURES]
        changed = False
        readable = []  # a history is read only where the wallet it pays into was read too
        for venue in live:
            balance = read_funding_balance(self.exchanges[venue], venue, self.asset)
            if balance is None:
                self._failed(venue)
                continue
            readable.append(venue)
            changed = changed or self.funding.get(venue) != balance
            self.funding[venue] = balance
        if changed or now >= self._next_history_ms:
            self._next_history_ms = now + self.history_interval_ms
            for venue in readable:
                rows = read_history(self.exchanges[venue], venue, self.asset)
                if rows is None:
                    self._failed(venue)
                    continue
                self._failures[venue] = 0
                for r in rows:
                    self.records[(r.venue, r.kind, r.id)] = r
        self.view = classify(self.records.values(), self.asset, self._since_ms(), now,
                             self.transit_timeout_ms, self.own_addresses)

    def flows(self) -> list[Flow]:
        """A flow source for `App.flow_sources`: polls, then returns every external flow since inception."""
        self.poll()
        return list(self.view.flows)

    def in_transit(self) -> Decimal:
        """Funding wallets plus own withdrawals not yet credited, as of the last poll."""
        return sum(self.funding.values(), ZERO) + self.view.in_flight
