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
mints shares (once every venue has been read after it arrived, and no transfer of the treasury's
explains it); a withdrawal to an address that is not ours burns them once `transit_timeout_ms` has
passed without a matching deposit (until then it is assumed to be on its way to one of our venues,
so unit NAV never jumps either way).

Histories are paged past each venue's own window back to the oldest record not settled, read retried
with back-off for ever, and kept in _G across restarts; while the picture of money between our wallets
is not whole, `TransferWatcher.hold_reason()` says so and the App holds unit NAV (issue #17).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from hedge import store_keys
from hedge.decimals import read_decimal
from hedge.fmz import venue_io

ZERO = Decimal(0)
DAY_MS = 86_400_000
SUPPORTED_VENUES = ("binance", "okx", "bybit")

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
    """An amount field of a venue's JSON row; 0 when the row leaves it out or it is not a number."""
    number = read_decimal(value)
    return ZERO if number is None else number


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _utc_ms(text: Any) -> int:
    """Binance's "2019-10-12 11:12:02" (UTC) -> Unix ms."""
    key = str(text)
    ms = _UTC_MS.get(key)
    if ms is None:  # every read of the history parses its rows again (strptime is the slow part)
        if len(_UTC_MS) >= 4096:
            _UTC_MS.clear()
        try:
            ms = calendar.timegm(datetime.strptime(key, "%Y-%m-%d %H:%M:%S").timetuple()) * 1000
        except ValueError:
            ms = 0
        _UTC_MS[key] = ms
    return ms


_UTC_MS: dict[str, int] = {}  # _utc_ms by text


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
OKX_WITHDRAWAL_FAILED = {"-2", "-1"}  # canceled, failed; -3 "pending cancel" has not given the money back yet
# Bybit depositStatus (bybit-exchange.github.io/docs/v5/enum#depositstatus): 0 unknown, 1 toBeConfirmed,
# 2 processing, 3 success, 4 deposit failed, 10011 pending to be credited to funding pool, 10012 credited to
# funding pool successfully
BYBIT_DEPOSIT_STATE = {0: "pending", 1: "pending", 2: "pending", 3: "done", 4: "failed", 10011: "pending",
                       10012: "done"}
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
    return venue_io(exchange, method, path, params)


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


# The venues' history windows: Binance deposit/withdraw history "time between startTime and endTime must be
# less than 90 days", up to 1000 rows (offset paging); Bybit deposit/withdraw records "endTime - startTime
# should be less than 30 days", up to 50 rows a page (cursor); OKX deposit/withdrawal history: the newest
# 100 rows, older ones with `after` (a ts: records earlier than it).
BINANCE_SPAN_MS = 90 * DAY_MS - 60_000
BYBIT_SPAN_MS = 30 * DAY_MS - 60_000
BINANCE_LIMIT = 1000
BYBIT_LIMIT = 50
OKX_LIMIT = 100
MAX_PAGES = 200  # per endpoint and read: a bound, never reached by a fund's own moves


def _windows(since_ms: int, until_ms: int, span_ms: int) -> list[tuple[int, int]]:
    out = []
    start = since_ms
    while start <= until_ms:
        end = min(start + span_ms, until_ms)
        out.append((start, end))
        start = end + 1
    return out


def _binance_pages(exchange: Any, path: str, asset: str, since_ms: int, until_ms: int) -> list[Any] | None:
    rows: list[Any] = []
    for start, end in _windows(since_ms, until_ms, BINANCE_SPAN_MS):
        offset = 0
        for _ in range(MAX_PAGES):
            page = _call(exchange, "GET", path, urlencode({"coin": asset, "startTime": start, "endTime": end,
                                                           "offset": offset, "limit": BINANCE_LIMIT}))
            if not isinstance(page, list):
                return None
            rows.extend(page)
            if len(page) < BINANCE_LIMIT:
                break
            offset += len(page)
    return rows


def _bybit_pages(exchange: Any, path: str, asset: str, since_ms: int, until_ms: int) -> list[Any] | None:
    pages: list[Any] = []
    for start, end in _windows(since_ms, until_ms, BYBIT_SPAN_MS):
        cursor = ""
        for _ in range(MAX_PAGES):
            query = {"coin": asset, "startTime": start, "endTime": end, "limit": BYBIT_LIMIT}
            if cursor:
                query["cursor"] = cursor
            page = _call(exchange, "GET", path, urlencode(query))
            if not _bybit_ok(page):
                return None
            pages.append(page)
            cursor = str((page.get("result") or {}).get("nextPageCursor") or "")
            if not cursor or not _rows(page, "result", "rows"):
                break
    return pages


def _okx_pages(exchange: Any, path: str, asset: str, since_ms: int, until_ms: int) -> list[Any] | None:
    pages: list[Any] = []
    after = until_ms + 1
    for _ in range(MAX_PAGES):
        page = _call(exchange, "GET", path, urlencode({"ccy": asset, "after": after, "limit": OKX_LIMIT}))
        if not _okx_ok(page):
            return None
        pages.append(page)
        rows = _rows(page, "data")
        if len(rows) < OKX_LIMIT:
            break
        oldest = min(_int(r.get("ts")) for r in rows)
        if oldest < since_ms or oldest + 1 >= after:
            break
        after = oldest + 1  # `after` is exclusive: rows sharing the oldest ts are read again, not lost
    return pages


def _unique(records: list[TransferRecord]) -> list[TransferRecord]:
    return list({(r.kind, r.id): r for r in records}.values())


def read_history(exchange: Any, venue: str, asset: str = "USDT", since_ms: int | None = None,
                 until_ms: int | None = None) -> list[TransferRecord] | None:
    """Deposits and withdrawals of `asset`, None on a failed read. Without `since_ms`: one request each in
    the venue's default window (Binance 90 days, Bybit 30 days, OKX the newest 100 rows); with it: paged
    back to `since_ms` whatever the venue's window, up to `until_ms`."""
    if since_ms is not None and until_ms is not None:
        return _read_paged(exchange, venue, asset, since_ms, until_ms)
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


def _read_paged(exchange: Any, venue: str, asset: str, since_ms: int,
                until_ms: int) -> list[TransferRecord] | None:
    if venue == "binance":
        deposits = _binance_pages(exchange, "/sapi/v1/capital/deposit/hisrec", asset, since_ms, until_ms)
        withdrawals = _binance_pages(exchange, "/sapi/v1/capital/withdraw/history", asset, since_ms, until_ms)
        if deposits is None or withdrawals is None:
            return None
        return _unique(parse_binance_deposits(deposits) + parse_binance_withdrawals(withdrawals))
    if venue == "okx":
        dep_pages = _okx_pages(exchange, "/api/v5/asset/deposit-history", asset, since_ms, until_ms)
        wd_pages = _okx_pages(exchange, "/api/v5/asset/withdrawal-history", asset, since_ms, until_ms)
        if dep_pages is None or wd_pages is None:
            return None
        return _unique([r for p in dep_pages for r in parse_okx_deposits(p)]
                       + [r for p in wd_pages for r in parse_okx_withdrawals(p)])
    if venue == "bybit":
        dep_pages = _bybit_pages(exchange, "/v5/asset/deposit/query-record", asset, since_ms, until_ms)
        wd_pages = _bybit_pages(exchange, "/v5/asset/withdraw/query-record", asset, since_ms, until_ms)
        if dep_pages is None or wd_pages is None:
            return None
        return _unique([r for p in dep_pages for r in parse_bybit_deposits(p)]
                       + [r for p in wd_pages for r in parse_bybit_withdrawals(p)])
    return None


# --- the fund's view of all venues' histories --------------------------------------------------------
@dataclass(frozen=True)
class OwnMove:
    """A transfer the treasury itself made (hedge/treasury.py), as the histories need to know it."""

    source: str
    dest: str
    address: str
    amount: Decimal          # requested withdrawal
    fee: Decimal             # network fee estimate
    created_ms: int
    sent_ms: int             # 0 while the withdrawal has not been requested
    withdrawal_id: str       # "" until the source accepted it or its history showed it
    tx_id: str               # "" until the source's history gave the chain tx id
    sure: bool               # False while it is not known whether the withdrawal left (a lost answer)


@dataclass(frozen=True)
class TransferView:
    """What the histories mean for the fund at one moment."""

    flows: list[Flow]        # external deposits (+) and withdrawals (-) since inception
    in_flight: Decimal       # own withdrawals not yet credited on an own venue
    internal: list[str]      # ids of withdrawals matched to an own deposit (internal moves)
    undecided: list[str] = field(default_factory=list)  # credited deposits not yet known own or outside
    open_since_ms: int | None = None  # oldest record or own move not settled yet (histories page back to it)
    # (withdrawal key, deposit key) of each internal move, keys as in TransferWatcher.records
    pairs: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = field(default_factory=list)


def classify(records: Iterable[TransferRecord], asset: str, since_ms: int, now_ms: int,
             transit_timeout_ms: int, own_addresses: Iterable[str] = (), *,
             own_moves: Iterable[OwnMove] = (), read_ms: Mapping[str, int] | None = None) -> TransferView:
    """Match own withdrawals to own deposits; the rest since `since_ms` are the fund's cash flows.
    `own_addresses`: deposit addresses of our venues known beforehand (the treasury whitelist).
    `own_moves`: the treasury's own transfers: a deposit one of them explains is never a flow.
    `read_ms`: when each venue's history was last read; a deposit is decided (own or outside) only once
    every venue has been read since it arrived (its withdrawal, if ours, is then known)."""
    all_records = [r for r in records if r.asset == asset]
    records = [r for r in all_records if r.state != "failed"]
    moves = list(own_moves)
    withdrawals = sorted((r for r in records if r.kind == "withdrawal"), key=lambda r: (r.time_ms, r.id))
    deposits = sorted((r for r in records if r.kind == "deposit" and r.state == "done"),
                      key=lambda r: (r.time_ms, r.id))
    own_addresses = ({d.address for d in deposits if d.address} | set(own_addresses)
                     | {m.address for m in moves})
    move_ids = {(m.source, m.withdrawal_id) for m in moves if m.withdrawal_id}
    move_txs = {m.tx_id for m in moves if m.tx_id}
    by_tx = {w.tx_id: w for w in withdrawals if w.tx_id}
    matched: set[tuple[str, str]] = set()
    pairs: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = []
    flows: list[Flow] = []
    undecided: list[TransferRecord] = []
    # deposits whose tx id names a withdrawal first: a tx-less one must not take that withdrawal by amount
    for d in sorted(deposits, key=lambda d: d.tx_id not in by_tx):
        source = _withdrawal_of(d, by_tx, withdrawals, matched)
        if source is not None:
            matched.add((source.venue, source.id))
            pairs.append(((source.venue, source.kind, source.id), (d.venue, d.kind, d.id)))
        elif d.tx_id and d.tx_id in move_txs or d.time_ms < since_ms:
            continue  # a treasury move whose withdrawal record is not read yet; or before inception
        elif _maybe_own(d, moves, read_ms):
            undecided.append(d)
        else:
            flows.append((f"{d.venue}:deposit:{d.id}", d.amount, f"history:{d.venue}"))
    open_times = [r.time_ms for r in all_records if r.state == "pending" and r.time_ms >= since_ms - DAY_MS]
    open_times += [d.time_ms for d in undecided]
    open_times += [m.created_ms for m in moves]
    in_flight = ZERO
    for w in withdrawals:
        if (w.venue, w.id) in matched or w.time_ms < since_ms - DAY_MS:
            continue
        own = w.address in own_addresses or (w.venue, w.id) in move_ids
        amount = _withdrawal_in_flight(w, own, since_ms, now_ms, transit_timeout_ms)
        if amount is not None:
            in_flight += amount
            open_times.append(w.time_ms)
        elif w.time_ms >= since_ms:
            flows.append((f"{w.venue}:withdrawal:{w.id}", -(w.amount + w.fee), f"history:{w.venue}"))
    return TransferView(flows, in_flight, sorted(f"{v}:{i}" for v, i in matched),
                        [f"{d.venue}:deposit:{d.id}" for d in undecided],
                        min(open_times) if open_times else None, pairs)


def _withdrawal_of(d: TransferRecord, by_tx: Mapping[str, TransferRecord], withdrawals: list[TransferRecord],
                   matched: set[tuple[str, str]]) -> TransferRecord | None:
    """The own withdrawal not matched yet that sent deposit d: the one its tx id names, else (a deposit
    without a tx id) one from another venue to its address of its amount, sent before it."""
    source = by_tx.get(d.tx_id) if d.tx_id else None
    if source is not None and (source.venue, source.id) in matched:
        source = None
    if source is None and not d.tx_id:  # a deposit with a tx id of its own is not ours without it
        source = next((w for w in withdrawals if (w.venue, w.id) not in matched and w.venue != d.venue
                       and w.address == d.address and w.amount == d.amount and w.time_ms <= d.time_ms),
                      None)
    return source


def _withdrawal_in_flight(w: TransferRecord, own: bool, since_ms: int, now_ms: int, transit_timeout_ms: int
                          ) -> Decimal | None:
    """What an unmatched withdrawal counts in transit: an own move its amount (the fee is the fund's cost of
    the move); one since inception younger than transit_timeout_ms its amount and fee (maybe ours, maybe
    not: the flow would carry the fee); None otherwise (a withdrawal since inception is then a flow)."""
    if own:
        return w.amount
    if w.time_ms >= since_ms and now_ms - w.time_ms < transit_timeout_ms:
        return w.amount + w.fee
    return None


def _maybe_own(d: TransferRecord, moves: list[OwnMove], read_ms: Mapping[str, int] | None) -> bool:
    """A credited deposit that may still turn out to be one of our moves: not decided yet."""
    if read_ms is not None and any(t < d.time_ms for t in read_ms.values()):
        return True  # a venue not read since it arrived may hold the withdrawal that sent it
    # the treasury's move to this address whose withdrawal is not in the source's history yet (lost answer)
    return any(not m.sure and m.dest == d.venue and m.address == d.address and d.amount <= m.amount
               and d.time_ms >= m.sent_ms for m in moves)


RECORDS_KEY = store_keys.TRANSFERS
KEEP_MS = 120 * DAY_MS        # settled records older than this (and than every open one) are dropped
FIRST_READ_MS = 30 * DAY_MS   # the first read ever goes this far back (own deposit addresses become known)
OVERLAP_MS = DAY_MS           # each read goes back this far before the last one (late, back-dated rows)
RETRY_MS = 10_000             # a failed read is retried after this, doubling up to MAX_RETRY_MS, for ever
MAX_RETRY_MS = 300_000
NEVER_READ_LIMIT = 10         # failures in a row of a venue never read once (~30 min): not reachable at all


@dataclass
class _Wallet:
    """One venue's funding wallet and history, read together (never one without the other)."""

    funding: Decimal | None = None
    read_ms: int = 0       # last successful read (persisted)
    fresh: bool = False    # read successfully in the last poll
    changed: bool = False  # that read differs from the one before (money moved since the last look)
    failures: int = 0
    next_ms: int = 0


class TransferWatcher:
    """Polls the bound venues' funding wallets and transfer histories; feeds `App.flow_sources` and
    `App.in_transit()`.

    A venue's funding wallet and its history are read together at every look (the wallet before and after
    the history: a credit landing in between is read again), so the two always describe one moment; when
    either fails, the venue keeps its previous pair and the read is retried with back-off (10 s doubling
    to 5 minutes), for ever. Histories are paged back past each venue's own window as far as the oldest
    record that is not settled (a pending row, an own withdrawal not yet credited, a deposit not yet
    decided, an open treasury move). The records and the read times are kept in _G (`RECORDS_KEY`), so a
    restart neither forgets an old move nor depends on how far back a venue's history reaches.
    """

    def __init__(self, exchanges: Mapping[str, Any], *, now_ms: Callable[[], int],
                 since_ms: Callable[[], int], event: Callable[..., None], asset: str = "USDT",
                 transit_timeout_ms: int = 6 * 3_600_000, own_addresses: Iterable[str] = (),
                 store: Callable[..., Any] | None = None,
                 own_moves: Callable[[], Iterable[OwnMove]] = tuple) -> None:
        self.exchanges = {k: ex for k, ex in exchanges.items()
                          if k in SUPPORTED_VENUES and callable(getattr(ex, "IO", None))}
        self._now_ms = now_ms
        self._since_ms = since_ms
        self._event = event
        self._store = store
        self.own_moves = own_moves
        self.asset = asset
        self.transit_timeout_ms = transit_timeout_ms
        self.own_addresses = frozenset(own_addresses)
        self.records: dict[tuple[str, str, str], TransferRecord] = {}
        self.wallets = {k: _Wallet() for k in self.exchanges}
        self.horizon_ms = 0
        self.view = TransferView([], ZERO, [])
        self._load()

    # --- persistence ---
    def _load(self) -> None:
        text = self._store(RECORDS_KEY) if self._store is not None else None
        if not text:
            return
        try:
            saved = json.loads(text)
            records = [_record_from_json(r) for r in saved.get("records", [])]
            read = {str(k): int(v) for k, v in (saved.get("read_ms") or {}).items()}
            horizon = int(saved.get("horizon_ms", 0))
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            self._event(f"transfers: saved transfer records unreadable ({exc.__class__.__name__}); reading "
                        f"the venues' histories again from scratch (_G key {RECORDS_KEY})", "warn")
            return
        self.records = {(r.venue, r.kind, r.id): r for r in records}
        for venue, wallet in self.wallets.items():
            wallet.read_ms = read.get(venue, 0)
        self.horizon_ms = horizon

    def _save(self) -> None:
        if self._store is None:
            return
        self._store(RECORDS_KEY, json.dumps({
            "records": [_record_to_json(r) for r in sorted(
                self.records.values(), key=lambda r: (r.time_ms, r.venue, r.kind, r.id))],
            "read_ms": {v: w.read_ms for v, w in self.wallets.items() if w.read_ms},
            "horizon_ms": self.horizon_ms}, separators=(",", ":")))

    # --- reading ---
    def read_ms(self, venue: str) -> int:
        """When `venue`'s funding wallet and history were last read together (0: never)."""
        wallet = self.wallets.get(venue)
        return wallet.read_ms if wallet is not None else 0

    def _cover_from(self, now: int, wallet: _Wallet) -> int:
        """How far back this read of a venue's history goes."""
        oldest = self.view.open_since_ms
        moves = [m.created_ms for m in self.own_moves()]
        start = wallet.read_ms - OVERLAP_MS if wallet.read_ms else min(self._since_ms() - DAY_MS,
                                                                       now - FIRST_READ_MS)
        for t in [oldest, *moves]:
            if t is not None:
                start = min(start, t - OVERLAP_MS)
        return max(start, self.horizon_ms, 0)

    def _read_venue(self, venue: str, now: int) -> bool:
        exchange = self.exchanges[venue]
        wallet = self.wallets[venue]
        since = self._cover_from(now, wallet)
        for _ in range(2):  # a credit or a debit between the two wallet reads: read the pair again
            before = read_funding_balance(exchange, venue, self.asset)
            rows = read_history(exchange, venue, self.asset, since, now) if before is not None else None
            after = read_funding_balance(exchange, venue, self.asset) if rows is not None else None
            if after is None or rows is None:
                return False
            if after == before:
                break
        else:
            return False
        kept = [r for r in rows if r.time_ms == 0 or r.time_ms >= self.horizon_ms]
        # the accounts were read between the last look and this one: if the wallets moved in between
        # (another node's treasury, a credit), the futures equity may show the money too or not at all
        wallet.changed = wallet.funding is not None and (
            after != wallet.funding or any(self.records.get((r.venue, r.kind, r.id)) != r for r in kept))
        for r in kept:
            self.records[(r.venue, r.kind, r.id)] = r
        wallet.funding = after
        wallet.read_ms = now
        return True

    def poll(self) -> None:
        now = self._now_ms()
        self._classify(now)  # what is open now decides how far back the histories are read
        changed = False
        for venue, wallet in list(self.wallets.items()):
            wallet.fresh = wallet.changed = False
            if now < wallet.next_ms:
                continue
            if self._read_venue(venue, now):
                if wallet.failures:
                    self._event(f"transfers: {venue} funding wallet / transfer history readable again after "
                                f"{wallet.failures} failed read(s)")
                wallet.failures, wallet.next_ms, wallet.fresh = 0, 0, True
                changed = True
                continue
            wallet.failures += 1
            if wallet.failures >= NEVER_READ_LIMIT and wallet.read_ms == 0:
                self._unreachable(venue)
                continue
            wallet.next_ms = now + min(RETRY_MS * 2 ** (wallet.failures - 1), MAX_RETRY_MS)
            if wallet.failures == 3:
                self._event(f"transfers: {venue} funding wallet / transfer history not readable 3 times in a "
                            "row; retried with back-off for ever, unit NAV held until it reads again", "warn")
        self._classify(now)
        if changed:
            self._prune(now)
            self._save()

    def _unreachable(self, venue: str) -> None:
        """A venue whose wallet endpoints never answered (a key without wallet read permission, an FMZ
        exchange object that does not route them) is not a venue in an outage: it is left out, loudly."""
        del self.wallets[venue]
        del self.exchanges[venue]
        self._event(f"transfers: {venue} funding wallet / transfer history never answered "
                    f"({NEVER_READ_LIMIT} reads); its wallets are left out of equity and its deposits and "
                    "withdrawals must be declared by command (deposit:AMOUNT / withdraw:AMOUNT) until the "
                    "API key may read its wallet and the robot restarts (docs/accounting.md)", "critical")

    def _classify(self, now: int) -> None:
        read = {v: w.read_ms for v, w in self.wallets.items()}
        self.view = classify(self.records.values(), self.asset, self._since_ms(), now,
                             self.transit_timeout_ms, self.own_addresses, own_moves=self.own_moves(),
                             read_ms=read)

    def _prune(self, now: int) -> None:
        horizon = now - KEEP_MS
        if self.view.open_since_ms is not None:
            horizon = min(horizon, self.view.open_since_ms - OVERLAP_MS)
        if horizon <= self.horizon_ms:
            return
        self.horizon_ms = horizon
        kept = {k: r for k, r in self.records.items() if r.time_ms == 0 or r.time_ms >= horizon}
        for pair in self.view.pairs:  # a move's records go together: its deposit alone would read as a flow
            if any(key in kept for key in pair):
                kept.update((key, self.records[key]) for key in pair if key in self.records)
        self.records = kept

    # --- what the App asks ---
    def flows(self) -> list[Flow]:
        """A flow source for `App.flow_sources`: polls, then returns every external flow since inception."""
        self.poll()
        return list(self.view.flows)

    def in_transit(self) -> Decimal:
        """Funding wallets plus own withdrawals not yet credited, as of the last poll."""
        return sum((w.funding for w in self.wallets.values() if w.funding is not None), ZERO) \
            + self.view.in_flight

    @property
    def funding(self) -> dict[str, Decimal]:
        return {v: w.funding for v, w in self.wallets.items() if w.funding is not None}

    def hold_reason(self) -> str | None:
        """Why unit NAV must not be measured now (None: it may): money is between our wallets and the
        picture of it is not whole (a venue not read this time, a deposit not yet known to be ours or
        not, a withdrawal whose answer was lost)."""
        view = self.view
        if view.undecided:
            venue, _, rid = view.undecided[0].split(":", 2)
            record = self.records.get((venue, "deposit", rid))
            behind = [v for v, w in self.wallets.items() if record is not None and w.read_ms < record.time_ms]
            why = (f"{', '.join(behind)} not read since it arrived" if behind
                   else "a withdrawal of ours whose answer was lost may have sent it")
            return f"deposit {view.undecided[0]} not yet known to be ours or from outside ({why})"
        unsure = [m for m in self.own_moves() if not m.sure]
        if unsure:
            move = unsure[0]
            return (f"withdrawal {move.source} -> {move.dest} {move.amount} USDT got no answer and is not "
                    f"in {move.source}'s history yet")
        unread = [v for v, w in self.wallets.items() if w.funding is None]
        if unread:
            return f"{', '.join(unread)} funding wallet not read since the start"
        stale = [v for v, w in self.wallets.items() if not w.fresh]
        if stale:  # money may be moving there that this node did not move itself (another node's treasury)
            return f"{', '.join(stale)} funding wallet / transfer history not readable this time"
        changed = [v for v, w in self.wallets.items() if w.changed]
        if changed:  # the accounts were read before the wallets: a move in between counts twice or not at all
            return (f"{', '.join(changed)} funding wallet / transfer history changed since the last look "
                    "(money may have moved between futures and funding wallets while the accounts were read)")
        return None


def _record_to_json(r: TransferRecord) -> list[Any]:
    return [r.venue, r.kind, r.id, r.tx_id, r.asset, str(r.amount), str(r.fee), r.address, r.network,
            r.time_ms, r.state]


def _record_from_json(data: list[Any]) -> TransferRecord:
    venue, kind, rid, tx, asset, amount, fee, address, network, time_ms, state = data
    return TransferRecord(str(venue), str(kind), str(rid), str(tx), str(asset), Decimal(amount), Decimal(fee),
                          str(address), str(network), int(time_ms), str(state))
