"""Several nodes on one set of accounts, coordinated through Redis (docs/cluster.md).

Keys (all under the cluster's namespace NS):
  NS:fence            counter: every new lease gets the next value (its fencing token)
  NS:lease:UNIT       hash node, token, expires (cluster ms): the one node that may act on UNIT
  NS:nodes            hash node -> {region, weight, seen}: heartbeats (cluster ms)
  NS:pairs            hash pair id -> pair JSON: the shared pair ledger
  NS:orders           hash client id -> {unit, node, record}: journal of executions not booked yet; and
                      pending:CLIENT ID -> the same: a fill booked at its leg's entry price whose result
                      waits for a price (Ledger.pending), the unit's like its journal (its owner prices it)
  NS:loose            hash UNIT|VENUE -> loose leg JSON: base held beyond the pairs (hedge.ledger.LooseLeg)
  NS:ver              counter bumped by every ledger or journal write (a stable-view check)
  NS:pair_id          counter: pair ids unique over the cluster
  NS:resv             hash UNIT -> in-flight opening (qty, notional, margin per venue, expiry)
  NS:events           stream: every node's order events, fills and critical events
  NS:rate:VENUE       token bucket of the account's order-rate budget
  NS:lock:VENUE:SYM   hash node, token, expires (cluster ms): the execution lock of one venue-symbol

Cluster ms: the clock every stamp in Redis is on. A live run uses Redis' own clock: every script that
stamps or compares an expiry reads the server's TIME itself (the caller passes no time), so the nodes'
clocks never meet in Redis and two nodes whose clocks differ can never both hold a lease or a lock; a
heartbeat is stamped with the node's estimate of that clock (advisory: who should own what). A run on a
virtual clock (the runtime's IsVirtual(): a backtest, the simulator, lockstep) passes its runtime time to
the scripts instead, so simulated time stays deterministic. What a node itself believes it still holds
is measured on its runtime clock from before the request that took it (a duration, so a clock offset
does not matter; the server's expiry is always later).

Every ledger or journal write names the unit's token and is refused when a newer token exists (loose legs
too: they are written under the unit they came from); an order is journaled and checked in one script
before it is sent, with at least a third of the lease left at that moment. Two units share venue-symbols
(BTC binance/okx and BTC bybit/okx both trade BTC on okx), and the executor measures fills by the change
of a venue's position, so every execution also holds the execution locks of the venue-symbols it trades,
from its first position read to its last settle: taken all at once or not at all in one script (no node
ever holds some while waiting for others: no deadlock), fenced by a token, and lapsing after one lease
TTL if the node dies. Without the `redis` package this module is never imported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hedge import store_keys
from hedge.cluster.base import Coordinator, OpenRequest, Unit
from hedge.config import ClusterConfig
from hedge.ledger import HedgePair, Ledger, LooseLeg
from hedge.orders import OrderRecord, OrderStatus

try:  # optional: a bare FMZ host without it runs one node (LocalCoordinator)
    import redis as redis_lib
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - exercised only where redis is absent
    redis_lib = None  # type: ignore[assignment]

    class RedisError(Exception):  # type: ignore[no-redef]
        pass

ROLES = ("treasury",)  # cluster-wide duties, one node each (moving money must not happen twice)
NODE_UNIT = ""  # orders journaled outside any unit (not fenced)
PENDING = "pending:"  # NS:orders field of a Ledger.pending record: PENDING + its client id
STREAM_MAXLEN = 100_000
STREAM_READ = 500
LOCK_WAIT_MS = 2_000  # runtime ms an execution waits for a venue-symbol another node is trading, then skips
LOCK_POLL_MS = 100

# Prepended to every script that reads a `now` argument: '' = Redis' own clock (a live run), otherwise the
# runtime ms the node passed (a virtual clock). Scripts are replicated by their effects (the default from
# Redis 5, the only way from 7), so reading TIME before writing is allowed.
CLOCK = """
local function clock_ms(arg)
  if arg ~= '' then return tonumber(arg) end
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: lease, fence. ARGV: node, now, ttl. -> {token, 1 if newly acquired}; token 0 = held by another.
ACQUIRE = CLOCK + """
local h = redis.call('HMGET', KEYS[1], 'node', 'token', 'expires')
local now, ttl = clock_ms(ARGV[2]), tonumber(ARGV[3])
if h[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'expires', now + ttl)
  return {tonumber(h[2]), 0}
end
if h[1] and tonumber(h[3]) > now then return {0, 0} end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'token', token, 'expires', now + ttl)
return {token, 1}
"""

# KEYS: lease. ARGV: node, token.
RELEASE = """
local h = redis.call('HMGET', KEYS[1], 'node', 'token')
if h[1] == ARGV[1] and tonumber(h[2]) == tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""

# KEYS: the execution locks (sorted), then fence. ARGV: node, now, ttl. -> {token, '', 0} when every lock was
# free (or lapsed, or this node's: a restarted process of the same node) and is now taken with a new token;
# {0, holder, i} when the i-th (1-based) is held by another node, and then none is taken.
LOCK = CLOCK + """
local n, now = #KEYS - 1, clock_ms(ARGV[2])
for i = 1, n do
  local h = redis.call('HMGET', KEYS[i], 'node', 'expires')
  if h[1] and h[1] ~= ARGV[1] and tonumber(h[2]) > now then return {0, h[1], i} end
end
local token = redis.call('INCR', KEYS[n + 1])
for i = 1, n do
  redis.call('HSET', KEYS[i], 'node', ARGV[1], 'token', token, 'expires', now + tonumber(ARGV[3]))
end
return {token, '', 0}
"""

# KEYS: an execution lock. ARGV: token, now, ttl. -> 1 (expiry moved to now + ttl) when it still carries the
# token, else 0 (it lapsed and another node took it).
RENEW = CLOCK + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'expires', clock_ms(ARGV[2]) + tonumber(ARGV[3]))
return 1
"""

# KEYS: execution locks. ARGV: token. Deletes those still carrying it (a lapsed lock taken since is kept).
UNLOCK = """
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'token') == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 0
"""

# KEYS: pairs, orders, ver, events, loose. ARGV: namespace, node, now, groups JSON, events JSON, maxlen.
# Each group {unit, token, strict_ms, pairs_put, pairs_del, orders_put, orders_del, loose_put, loose_del} is
# applied only when its token is the unit's current one (and, when strict_ms >= 0, the lease has that long
# left). Returns the units refused.
WRITE = CLOCK + """
local ns, node, now = ARGV[1], ARGV[2], clock_ms(ARGV[3])
local refused = {}
local wrote = false
for _, g in ipairs(cjson.decode(ARGV[4])) do
  local ok = true
  if g.unit ~= '' then
    local h = redis.call('HMGET', ns .. ':lease:' .. g.unit, 'node', 'token', 'expires')
    ok = h[1] == node and tonumber(h[2]) == tonumber(g.token)
    if ok and tonumber(g.strict_ms) >= 0 then ok = tonumber(h[3]) - now >= tonumber(g.strict_ms) end
  end
  if ok then
    for id, v in pairs(g.pairs_put) do redis.call('HSET', KEYS[1], id, v) wrote = true end
    for _, id in ipairs(g.pairs_del) do redis.call('HDEL', KEYS[1], id) wrote = true end
    for id, v in pairs(g.orders_put) do redis.call('HSET', KEYS[2], id, v) wrote = true end
    for _, id in ipairs(g.orders_del) do redis.call('HDEL', KEYS[2], id) wrote = true end
    for id, v in pairs(g.loose_put) do redis.call('HSET', KEYS[5], id, v) wrote = true end
    for _, id in ipairs(g.loose_del) do redis.call('HDEL', KEYS[5], id) wrote = true end
  else
    table.insert(refused, g.unit)
  end
end
if wrote then redis.call('INCR', KEYS[3]) end
for _, e in ipairs(cjson.decode(ARGV[5])) do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'node', node, 'data', e)
end
return refused
"""

# KEYS: lease, pairs, resv, pair_id. ARGV: node, token, now, strict_ms, ttl, request JSON.
# -> {pair id, ''} or {0, problem}.
RESERVE = CLOCK + """
local h = redis.call('HMGET', KEYS[1], 'node', 'token', 'expires')
local now = clock_ms(ARGV[3])
if h[1] ~= ARGV[1] or tonumber(h[2]) ~= tonumber(ARGV[2]) then return {0, 'lease lost to another node'} end
if tonumber(h[3]) - now < tonumber(ARGV[4]) then return {0, 'lease too close to expiry'} end
local req = cjson.decode(ARGV[6])
local held, inflight = 0, 0
local longs, shorts, margin = {}, {}, {}
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  local p = cjson.decode(v)
  if p.symbol == req.symbol then
    held = held + tonumber(p.qty)
    longs[p.long_venue] = true
    shorts[p.short_venue] = true
  end
end
local resv = redis.call('HGETALL', KEYS[3])
for i = 1, #resv, 2 do
  local r = cjson.decode(resv[i + 1])
  if resv[i] ~= req.unit and tonumber(r.expires) > now then
    inflight = inflight + 2 * tonumber(r.notional)
    if r.symbol == req.symbol then
      held = held + tonumber(r.qty)
      longs[r.buy] = true
      shorts[r.sell] = true
    end
    for venue, amount in pairs(r.margin) do margin[venue] = (margin[venue] or 0) + tonumber(amount) end
  end
end
if longs[req.sell] or shorts[req.buy] then
  return {0, 'would net against another pair leg on the same venue (another node)'}
end
if (held + tonumber(req.qty)) * tonumber(req.price) > tonumber(req.max_symbol_notional) then
  return {0, 'max_position_usdt reached with in-flight openings of other nodes'}
end
for venue, need in pairs(req.margin_need) do
  local free = tonumber(req.margin_available[venue]) - (margin[venue] or 0)
  if free < tonumber(need) then
    return {0, venue .. ' margin reserved by other nodes: ' .. string.format('%.2f', free) .. ' free < '
      .. string.format('%.2f', tonumber(need)) .. ' needed'}
  end
end
local equity = tonumber(req.equity)
if equity <= 0 or (tonumber(req.gross) + inflight + 2 * tonumber(req.notional)) / equity
    > tonumber(req.max_effective_leverage) then
  return {0, 'effective leverage with in-flight openings of other nodes over max_effective_leverage'}
end
redis.call('HSET', KEYS[3], req.unit, cjson.encode({node = ARGV[1], token = ARGV[2], symbol = req.symbol,
  buy = req.buy, sell = req.sell, qty = req.qty, notional = req.notional, margin = req.margin_need,
  expires = now + tonumber(ARGV[5])}))
return {redis.call('INCR', KEYS[4]), ''}
"""

# KEYS: lease, pair_id. ARGV: node, token, now, strict_ms. -> {pair id, ''} or {0, problem}: a pair id for
# the lease's holder only (a re-hedge's new pair, hedge/rehedge.py), with strict_ms of the lease left.
PAIR_ID = CLOCK + """
local h = redis.call('HMGET', KEYS[1], 'node', 'token', 'expires')
if h[1] ~= ARGV[1] or tonumber(h[2]) ~= tonumber(ARGV[2]) then return {0, 'lease lost to another node'} end
if tonumber(h[3]) - clock_ms(ARGV[3]) < tonumber(ARGV[4]) then return {0, 'lease too close to expiry'} end
return {redis.call('INCR', KEYS[2]), ''}
"""

# KEYS: resv. ARGV: unit, node.
UNRESERVE = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v).node == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0
"""

# KEYS: the venue's buckets. ARGV: now, orders capacity, orders period ms, weight capacity, weight period
# ms, orders, weight, mode (reserve | release | spend), floor share (reserve), max wait ms, priority (0/1).
# -> wait ms (reserve; -1 = refused, nothing taken), 0 otherwise. Two token buckets refilled
# continuously on the cluster clock (hedge/ratelimit.py TokenBuckets, shared by every node).
RATE = CLOCK + """
local h = redis.call('HMGET', KEYS[1], 'ol', 'wl', 'ts')
local now = clock_ms(ARGV[1])
local ocap, oper, wcap, wper = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ol, wl, ts = tonumber(h[1]) or ocap, tonumber(h[2]) or wcap, tonumber(h[3]) or now
if ts > now + math.max(oper, wper) then
  ts = now  -- stamped by a clock far ahead (a state left by a later simulated run): refill from now on
end
if now > ts then
  ol = math.min(ocap, ol + (now - ts) * ocap / oper)
  wl = math.min(wcap, wl + (now - ts) * wcap / wper)
  ts = now
end
local orders, weight, mode = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local wait = 0
if mode == 'release' then
  ol = math.min(ocap, ol + orders)
  wl = math.min(wcap, wl + weight)
else
  if mode == 'reserve' then
    local share = tonumber(ARGV[9])
    local function need(amount, level, cap, per)
      if amount <= 0 then return 0 end
      local missing = amount + cap * share - level
      if missing <= 0 then return 0 end
      return math.ceil(missing * per / cap)
    end
    wait = math.max(need(orders, ol, ocap, oper), need(weight, wl, wcap, wper))
    if wait > tonumber(ARGV[10]) then
      if ARGV[11] ~= '1' then
        redis.call('HSET', KEYS[1], 'ol', ol, 'wl', wl, 'ts', ts)
        return -1
      end
      wait = tonumber(ARGV[10])
    end
  end
  ol = ol - orders
  wl = wl - weight
end
redis.call('HSET', KEYS[1], 'ol', ol, 'wl', wl, 'ts', ts)
return wait
"""


def _pair_json(pair: HedgePair) -> str:
    return json.dumps(pair.to_json(), sort_keys=True)


def _order_json(unit: str, node: str, record: OrderRecord) -> str:
    return json.dumps({"unit": unit, "node": node, "record": record.to_json()}, sort_keys=True)


def _loose_field(leg: LooseLeg) -> str:
    return f"{leg.unit}|{leg.venue}"


def _loose_json(leg: LooseLeg) -> str:
    return json.dumps(leg.to_json(), sort_keys=True)


def client_tag(node: str) -> str:
    """A short alphanumeric tag of the node for client order ids (venues accept [0-9a-zA-Z] only)."""
    return "c" + hashlib.sha1(node.encode()).hexdigest()[:4]


def assign(units: list[Unit], nodes: dict[str, dict[str, Any]], venue_regions: dict[str, str]
           ) -> dict[Unit, str]:
    """The owner each unit should have among the live nodes that can trade it (both venues bound), the
    same on every node: most legs in the node's region first, then highest weight, then the node with
    fewer units so far (ties spread evenly), then a hash of node and unit. Weight 0 nodes (standby) only
    when no positive-weight node is alive."""
    candidates = {name: info for name, info in nodes.items() if int(info.get("weight", 1)) > 0} or nodes
    load = dict.fromkeys(candidates, 0)
    owners: dict[Unit, str] = {}
    for unit in sorted(units):
        best: tuple[Any, ...] | None = None
        for name, info in candidates.items():
            if "units" in info and unit.key not in info["units"]:
                continue  # that node does not bind both venues (or trade the symbol)
            near = sum(1 for venue in unit.venues if venue_regions.get(venue) and
                       venue_regions.get(venue) == info.get("region"))
            spread = hashlib.sha1(f"{name}|{unit.key}".encode()).hexdigest()
            score = (near, int(info.get("weight", 1)), -load[name], spread)
            if best is None or score > best:
                best, owners[unit] = score, name
        if unit in owners:
            load[owners[unit]] += 1
    return owners


def role_owner(nodes: dict[str, dict[str, Any]]) -> str | None:
    """The live node that runs the cluster-wide duties (treasury): highest weight, then name."""
    if not nodes:
        return None
    return min(nodes, key=lambda name: (-int(nodes[name].get("weight", 1)), name))


def preferred_node(unit: Unit, nodes: dict[str, dict[str, Any]], venue_regions: dict[str, str],
                   units: list[Unit] | None = None) -> str | None:
    """The live node that should own `unit` (see assign) given every unit of the cluster."""
    return assign(units or [unit], nodes, venue_regions).get(unit)


class RedisCoordinator(Coordinator):
    shared = True

    def __init__(self, cfg: ClusterConfig, now_ms: Callable[[], int],
                 client: Any | None = None, *, clock: Callable[[], int] | None = None,
                 sleep: Callable[[float], Any] | None = None, server_clock: bool = False) -> None:
        if client is None and redis_lib is None:
            raise RuntimeError("params cluster.redis_url is set but the Python package redis is not "
                               "installed on this host; install it (pip install redis) or remove the "
                               "cluster section")
        self.cfg = cfg
        self.node = cfg.node
        self.client_prefix = "hg" + client_tag(cfg.node)
        self._now_ms = now_ms  # the loop turn's runtime time (leases are renewed once a turn)
        self._clock = clock or now_ms  # the runtime time now (execution locks, taken mid-turn)
        self._sleep = sleep  # the runtime's Sleep: waiting for a lock (None: one try)
        # True (a live run): expiries are stamped and compared on Redis' clock (TIME, inside the scripts);
        # False (a virtual clock): on the runtime time this node passes
        self.server_clock = server_clock
        self._offset_ms = 0  # Redis' clock minus the runtime clock as last measured (0: virtual clock)
        self.ttl_ms = cfg.lease_ttl_s * 1000
        self.strict_ms = self.ttl_ms // 3
        ns = cfg.namespace
        self.ns = ns
        self.k_fence, self.k_nodes, self.k_pairs = f"{ns}:fence", f"{ns}:nodes", f"{ns}:pairs"
        self.k_orders, self.k_ver, self.k_pair_id = f"{ns}:orders", f"{ns}:ver", f"{ns}:pair_id"
        self.k_resv, self.k_events, self.k_seeded = f"{ns}:resv", f"{ns}:events", f"{ns}:seeded"
        self.k_loose = f"{ns}:loose"
        self.r = client if client is not None else redis_lib.Redis.from_url(
            cfg.redis_url, socket_timeout=2.0, socket_connect_timeout=1.0, decode_responses=True)
        self._acquire = self.r.register_script(ACQUIRE)
        self._release = self.r.register_script(RELEASE)
        self._write = self.r.register_script(WRITE)
        self._reserve = self.r.register_script(RESERVE)
        self._unreserve = self.r.register_script(UNRESERVE)
        self._pair_id = self.r.register_script(PAIR_ID)
        self._lock_script = self.r.register_script(LOCK)
        self._unlock_script = self.r.register_script(UNLOCK)
        self._renew_script = self.r.register_script(RENEW)
        self.units: list[Unit] = []
        self.held: dict[Unit, tuple[int, int]] = {}  # unit -> (token, lease expiry runtime ms as we know it)
        self.pending: set[Unit] = set()              # adopted, not reconciled yet
        self.roles: dict[str, tuple[int, int]] = {}  # cluster-wide duty -> (token, expiry) held here
        self.peers: dict[str, dict[str, Any]] = {}   # live nodes (including this one)
        self.reachable = True
        self._settle_until = 0                       # after a reconnect: renew only, adopt nothing new
        self._acting: Unit | None = None
        self._order_unit: dict[str, str] = {}        # client id -> unit key (own journal)
        # others' journal: client id -> (node, venue, symbol)
        self._foreign_orders: dict[str, tuple[str, str, str]] = {}
        self._pushed_pairs: dict[int, str] = {}
        self._pushed_orders: dict[str, str] = {}
        self._pushed_loose: dict[str, str] = {}  # field UNIT|VENUE -> leg JSON, as last read or written
        self._fenced_out: set[str] = set()
        self._events: list[str] = []
        self._dirty = False
        self._stream_id = "$"
        self._ledger: Ledger | None = None
        self._ver = -1
        self.adoptions: list[tuple[Unit, int]] = []   # (unit, runtime ms) of each adoption, for status/tests
        self.store: Callable[..., Any] | None = None
        self._budget: RedisRateBudget | None = None
        self._locks: dict[tuple[str, str], tuple[int, int]] = {}  # (venue, symbol) -> (token, expiry) held

    # --- lifecycle ---
    def start(self, now_ms: int, ledger: Ledger, venues: list[str], symbols: tuple[str, ...]) -> Ledger:
        self.units = [Unit.of(s, a, b) for s in symbols for i, a in enumerate(sorted(venues))
                      for b in sorted(venues)[i + 1:]]
        saved = self.store(store_keys.cluster_stream(self.ns)) if self.store is not None else None
        self._stream_id = str(saved) if saved else "$"
        try:
            if self._stream_id == "$":
                last = self.r.xrevrange(self.k_events, count=1)
                self._stream_id = str(last[0][0]) if last else "0-0"
            brought = ledger.pairs or ledger.loose or ledger.pending
            if brought and self.r.set(self.k_seeded, self.node, nx=True):
                # the first node of a new cluster brings its single-node ledger along
                if ledger.pairs:
                    self.r.hset(self.k_pairs,
                                mapping={str(p.id): _pair_json(p) for p in ledger.pairs.values()})
                    self.r.set(self.k_pair_id, max(ledger.pairs))
                if ledger.loose:
                    self.r.hset(self.k_loose, mapping={_loose_field(leg): _loose_json(leg)
                                                       for leg in ledger.loose.values()})
                if ledger.pending:  # results waiting for a price: this node's until it holds their unit
                    self.r.hset(self.k_orders, mapping={PENDING + cid: _order_json(NODE_UNIT, self.node, r)
                                                        for cid, r in ledger.pending.items()})
                self.r.incr(self.k_ver)
                self._host.event(f"cluster: seeded the shared ledger with this node's {len(ledger.pairs)} "
                                 f"open pairs and {len(ledger.loose)} loose legs")
            else:
                self.r.set(self.k_seeded, self.node, nx=True)
            # the shared journal is the truth: an own unfinished order is in it, and a result waiting for a
            # price (one node prices it: another that took its unit over may have already)
            ledger.take_shared(orders={}, pending={})
            self._ledger = ledger
            self._pull(ledger)
            if self.server_clock:
                self._measure_offset(now_ms, self.r.time())
            self._heartbeat(now_ms)
        except RedisError as exc:
            raise RuntimeError(f"cluster: Redis at {self.cfg.redis_url_shown()} unreachable at start "
                               f"({type(exc).__name__}); start Redis or fix cluster.redis_url") from None
        self._host.event(f"cluster: node {self.node} (region {self.cfg.region or '-'}, weight "
                         f"{self.cfg.node_weight}) joined {self.cfg.redis_url_shown()} namespace {self.ns}; "
                         f"{len(self.peers)} node(s) alive; {len(self.units)} units")
        return ledger

    def close(self) -> None:
        """Leave cleanly: hand every lease back (peers adopt at once instead of after the TTL)."""
        try:
            pipe = self.r.pipeline(transaction=False)
            for unit, (token, _) in self.held.items():
                self._release(keys=[self._lease_key(unit)], args=[self.node, token], client=pipe)
            for role, (token, _) in self.roles.items():
                self._release(keys=[self._role_key(role)], args=[self.node, token], client=pipe)
            pipe.hdel(self.k_nodes, self.node)
            pipe.execute()
        except RedisError:
            pass
        self.held.clear()

    def import_loose(self, ledger: Ledger, legs: list[LooseLeg], store: Callable[..., Any]) -> None:
        """An earlier version's loose legs from this node's _G, written once beside the shared ones (not
        fenced: no lease is held at start; a leg already there is kept as it is)."""
        try:
            pipe = self.r.pipeline(transaction=True)
            for leg in legs:
                pipe.hsetnx(self.k_loose, _loose_field(leg), _loose_json(leg))
            pipe.incr(self.k_ver)
            pipe.execute()
            self._pull(ledger)
        except RedisError as exc:
            raise RuntimeError(f"cluster: Redis at {self.cfg.redis_url_shown()} unreachable at start "
                               f"({type(exc).__name__}); start Redis or fix cluster.redis_url") from None
        ledger.save(store)

    # --- per loop turn ---
    def sync(self, now_ms: int) -> list[Unit]:
        try:
            adopted = self._sync(now_ms)
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return []
        if not self.reachable:
            self.reachable = True
            self._settle_until = now_ms + self.ttl_ms
            self._host.event("cluster: Redis reachable again; renewing leases, adopting nothing new for one "
                             "lease TTL", "warn")
            self._host.coordination_back()
        return adopted

    def _lost(self, reason: str) -> None:
        if self.reachable:
            self.reachable = False
            self._host.coordination_lost(reason)

    def _sync(self, now_ms: int) -> list[Unit]:
        if self._dirty and self._ledger is not None:
            self._push(self._ledger, now_ms)
        heartbeat = self._heartbeat_value(now_ms)
        settling = now_ms < self._settle_until
        known = set(self.peers)
        # peers as of the last turn, less those whose heartbeat lapsed since (their units are free now)
        self.peers = {n: i for n, i in self.peers.items()
                      if n == self.node or int(i.get("seen", 0)) + self.ttl_ms > self._cluster_ms(now_ms)}
        owners = self._owners()
        wanted = [u for u in self.units if u in self.held or (not settling and owners.get(u) == self.node)]
        leader = role_owner(self.peers)
        roles = [r for r in ROLES if r in self.roles or (not settling and leader == self.node)]
        results = self._sync_round_trip(heartbeat, wanted, roles, now_ms)
        if self.server_clock:
            self._measure_offset(now_ms, results[-1])
        self._read_peers(results[1], self._cluster_ms(now_ms))
        self._note_lost(known, results[1])
        self._read_stream(results[3])
        adopted = self._take_leases(wanted, results[4:4 + len(wanted)], now_ms)
        first = 4 + len(wanted)
        self._take_roles(roles, results[first:first + len(roles)], now_ms)
        if adopted or int(results[2] or 0) != self._ver:
            if self._ledger is not None:
                self._pull(self._ledger)
        self._hand_over(now_ms)
        if adopted:
            self._host.event(f"cluster: node {self.node} adopted {', '.join(str(u) for u in adopted)}; "
                             "reconciling with the venues before acting on them")
        return adopted

    def _sync_round_trip(self, heartbeat: str, wanted: list[Unit], roles: list[str], now_ms: int
                         ) -> list[Any]:
        """One pipeline: the heartbeat, the peers, the ledger's version, the events stream, a lease per unit
        and role wanted, this node's events, the request budget, the server's clock (when it is the clock)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self.k_nodes, self.node, heartbeat)
        pipe.hgetall(self.k_nodes)
        pipe.get(self.k_ver)
        pipe.xread({self.k_events: self._stream_id}, count=STREAM_READ)
        for unit in wanted:
            self._acquire(keys=[self._lease_key(unit), self.k_fence],
                          args=[self.node, self._now_arg(now_ms), self.ttl_ms], client=pipe)
        for role in roles:
            self._acquire(keys=[self._role_key(role), self.k_fence],
                          args=[self.node, self._now_arg(now_ms), self.ttl_ms], client=pipe)
        if self._events:
            events, self._events = self._events, []
            for data in events:
                pipe.xadd(self.k_events, {"node": self.node, "data": data}, maxlen=STREAM_MAXLEN,
                          approximate=True)
        if self._budget is not None:
            self._budget.flush(pipe)  # the requests counted this turn, after everything read above
        if self.server_clock:
            pipe.time()
        results: list[Any] = pipe.execute()
        return results

    def _take_leases(self, wanted: list[Unit], answers: list[Any], now_ms: int) -> list[Unit]:
        """The units' leases as Redis answered: lost ones dropped, new ones pending; returns the adopted."""
        adopted: list[Unit] = []
        for unit, (token, new) in zip(wanted, answers, strict=True):
            token = int(token)
            if token == 0:
                if unit in self.held:
                    self._host.event(f"cluster: lease of {unit} lost to another node", "warn")
                    self.held.pop(unit, None)
                    self.pending.discard(unit)
                continue
            if int(new) or unit not in self.held:
                adopted.append(unit)
                self.pending.add(unit)
                self.adoptions.append((unit, now_ms))
            self.held[unit] = (token, now_ms + self.ttl_ms)
        return adopted

    def _take_roles(self, roles: list[str], answers: list[Any], now_ms: int) -> None:
        """The roles' leases as Redis answered: taken ones kept, lost ones said."""
        for role, (token, _new) in zip(roles, answers, strict=True):
            if int(token):
                if role not in self.roles:
                    self._host.event(f"cluster: node {self.node} now runs the {role} for the cluster")
                self.roles[role] = (int(token), now_ms + self.ttl_ms)
            elif self.roles.pop(role, None) is not None:
                self._host.event(f"cluster: the {role} lease went to another node", "warn")

    def _hand_over(self, now_ms: int) -> None:
        """Give a unit back when a better-placed live node wants it and nothing of it is in flight here."""
        owners = self._owners()
        busy = {self._order_unit.get(cid) for cid in self._ledger.orders} if self._ledger else set()
        give = [u for u in self.held if owners.get(u) not in (None, self.node)
                and u.key not in busy and u not in self.pending]
        if not give:
            return
        pipe = self.r.pipeline(transaction=False)
        for unit in give:
            self._release(keys=[self._lease_key(unit)], args=[self.node, self.held[unit][0]], client=pipe)
            self.held.pop(unit)
        pipe.execute()
        self._host.event(f"cluster: handed {', '.join(str(u) for u in give)} to better-placed nodes")

    def _owners(self) -> dict[Unit, str]:
        """Every unit any live node can trade, with the owner it should have."""
        units = set(self.units)
        for info in self.peers.values():
            units.update(Unit.parse(key) for key in info.get("units", ()))
        return assign(sorted(units), self.peers, dict(self.cfg.venue_regions))

    def _heartbeat_value(self, now_ms: int) -> str:
        return json.dumps({"region": self.cfg.region, "weight": self.cfg.node_weight,
                           "seen": self._cluster_ms(now_ms), "units": [u.key for u in self.units]})

    def _heartbeat(self, now_ms: int) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self.k_nodes, self.node, self._heartbeat_value(now_ms))
        pipe.hgetall(self.k_nodes)
        self._read_peers(pipe.execute()[1], self._cluster_ms(now_ms))

    # --- the cluster clock ---
    def _now_arg(self, runtime_ms: int) -> int | str:
        """The `now` a script gets: '' makes it read Redis' own clock (live), else the runtime time."""
        return "" if self.server_clock else runtime_ms

    def _cluster_ms(self, runtime_ms: int) -> int:
        """The runtime time on the cluster's clock, for heartbeats (advisory: an estimate within a round
        trip of Redis' clock in a live run; leases and locks never use it)."""
        return runtime_ms + self._offset_ms

    def _measure_offset(self, runtime_ms: int, server_time: Any) -> None:
        seconds, micros = server_time
        self._offset_ms = int(seconds) * 1000 + int(micros) // 1000 - runtime_ms

    def _note_lost(self, known: set[str], raw: dict[str, str]) -> None:
        """A node alive last turn whose heartbeat is still there but lapsed died (a clean exit deletes its
        heartbeat): a critical event, pushed to the operator."""
        for name in sorted(known - set(self.peers) - {self.node}):
            if name in raw:
                self._host.event(f"cluster: node {name} lost (no heartbeat for {self.ttl_ms // 1000} s); the "
                                 "live nodes adopt its units", "critical")

    def _read_peers(self, raw: dict[str, str], now_ms: int) -> None:
        peers: dict[str, dict[str, Any]] = {}
        for name, text in raw.items():
            try:
                info = json.loads(text)
            except ValueError:
                continue
            if name == self.node or int(info.get("seen", 0)) + self.ttl_ms > now_ms:
                peers[name] = info
        self.peers = peers

    def _read_stream(self, raw: list[Any]) -> None:
        for _stream, entries in raw or []:
            for entry_id, fields in entries:
                self._stream_id = entry_id
                if fields.get("node") == self.node:
                    continue
                try:
                    data = json.loads(fields.get("data", "{}"))
                except ValueError:
                    continue
                if data.get("kind") in ("order", "fill"):
                    self._host.remote_order_log(fields["node"], data["venue"], int(data["log_type"]),
                                                float(data["price"]), float(data["amount"]), data["text"])
                elif data.get("kind") == "event":
                    self._host.remote_event(fields["node"], data["level"], data["text"])
        if self.store is not None and self._stream_id not in ("$", "0-0"):
            self.store(store_keys.cluster_stream(self.ns), self._stream_id)

    # --- ownership ---
    def _lease_key(self, unit: Unit) -> str:
        return f"{self.ns}:lease:{unit.key}"

    def may_act(self, unit: Unit) -> bool:
        held = self.held.get(unit)
        return (self.reachable and held is not None and unit not in self.pending
                and held[1] - self._clock() >= self.strict_ms)

    def may_protect(self, unit: Unit) -> bool:
        held = self.held.get(unit)
        return held is not None and held[1] - self._clock() >= self.strict_ms

    def owns_pair(self, pair: HedgePair) -> bool:
        return self.may_act(Unit.of_pair(pair))

    def holds(self, unit: Unit) -> bool:
        return unit in self.held

    def leads(self, role: str) -> bool:
        held = self.roles.get(role)
        return self.reachable and held is not None and held[1] - self._clock() >= self.strict_ms

    def _role_key(self, role: str) -> str:
        return f"{self.ns}:lease:role:{role}"

    def reconciled(self, mismatched: set[tuple[str, str]] | None = None) -> None:
        bad = mismatched or set()
        self.pending = {u for u in self.pending if any((v, u.symbol) in bad for v in u.venues)}

    # --- shared budgets ---
    def reserve_open(self, request: OpenRequest) -> tuple[int | None, str | None]:
        unit = request.unit
        held = self.held.get(unit)
        if held is None or not self.reachable:
            return None, f"{unit} not leased by this node"
        notional = request.qty * request.price
        payload = {
            "unit": unit.key, "symbol": unit.symbol, "buy": request.buy_venue, "sell": request.sell_venue,
            "qty": str(request.qty), "price": str(request.price), "notional": str(notional),
            "max_symbol_notional": str(request.max_symbol_notional),
            "margin_need": {k: str(v) for k, v in request.margin_need.items()},
            "margin_available": {k: str(v) for k, v in request.margin_available.items()},
            "equity": str(request.equity), "gross": str(request.gross),
            "max_effective_leverage": str(request.max_effective_leverage),
        }
        try:
            pair_id, problem = self._reserve(
                keys=[self._lease_key(unit), self.k_pairs, self.k_resv, self.k_pair_id],
                args=[self.node, held[0], self._now_arg(self._clock()), self.strict_ms, self.ttl_ms,
                      json.dumps(payload)])
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return None, "redis unreachable"
        return self._pair_id_answer(unit, pair_id, problem)

    def reserve_pair_id(self, unit: Unit) -> tuple[int | None, str | None]:
        held = self.held.get(unit)
        if held is None or not self.reachable:  # the script checks the lease (recovery asks while pending)
            return None, f"{unit} not leased by this node"
        try:
            pair_id, problem = self._pair_id(keys=[self._lease_key(unit), self.k_pair_id],
                                             args=[self.node, held[0], self._now_arg(self._clock()),
                                                   self.strict_ms])
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return None, "redis unreachable"
        return self._pair_id_answer(unit, pair_id, problem)

    def _pair_id_answer(self, unit: Unit, pair_id: Any, problem: Any) -> tuple[int | None, str | None]:
        """A reservation script's answer: the id, or 0 and why (a lost lease is forgotten here)."""
        if int(pair_id) == 0:
            if "lease" in str(problem):
                self.held.pop(unit, None)
            return None, str(problem)
        return int(pair_id), None

    def release_open(self, unit: Unit) -> None:
        try:
            self._unreserve(keys=[self.k_resv], args=[unit.key, self.node])
        except RedisError:
            pass  # the reservation lapses by itself after one lease TTL

    # --- the shared ledger and journal ---
    @contextmanager
    def acting(self, unit: Unit | None) -> Iterator[None]:
        previous, self._acting = self._acting, unit
        try:
            yield
        finally:
            self._acting = previous

    @contextmanager
    def exclusive(self, keys: Iterable[tuple[str, str]]) -> Iterator[bool]:
        """Take the execution locks of `keys` not held yet (all or none, waiting up to LOCK_WAIT_MS of
        runtime while another node holds one), hold them for the block, release them after. False: another
        node kept one, or Redis failed now; nothing may be sent. While Redis is known to be unreachable no
        lock can be taken: True, and may_send lets only orders inside a lease this node still holds go out
        (the stops that must keep working then)."""
        wanted = sorted(set(keys) - set(self._locks))
        if not wanted or not self.reachable:
            yield True
            return
        token = self._take_locks(wanted)
        if token is None:
            yield False
            return
        try:
            yield True
        finally:
            self._release_locks(wanted, token)

    def _lock_key(self, key: tuple[str, str]) -> str:
        return f"{self.ns}:lock:{key[0]}:{key[1]}"

    def _take_locks(self, wanted: list[tuple[str, str]]) -> int | None:
        """The new token of the locks, now held; None when another node kept one past the wait (or Redis
        failed)."""
        keys = [self._lock_key(k) for k in wanted] + [self.k_fence]
        waited = 0
        while True:
            now = self._clock()
            try:
                token, holder, index = self._lock_script(keys=keys,
                                                         args=[self.node, self._now_arg(now), self.ttl_ms])
            except RedisError as exc:
                self._lost(f"redis unreachable ({type(exc).__name__})")
                return None
            if int(token):
                self._locks.update({k: (int(token), now + self.ttl_ms) for k in wanted})
                return int(token)
            if self._sleep is None or waited >= LOCK_WAIT_MS:
                venue, symbol = wanted[int(index) - 1]
                self._host.event(f"cluster: node {holder} is trading {venue} {symbol} (waited {waited} ms)")
                return None
            self._sleep(LOCK_POLL_MS)
            waited += LOCK_POLL_MS

    def _release_locks(self, wanted: list[tuple[str, str]], token: int) -> None:
        for key in wanted:
            self._locks.pop(key, None)
        try:
            self._unlock_script(keys=[self._lock_key(k) for k in wanted], args=[token])
        except RedisError:
            pass  # they lapse by themselves after one lease TTL

    def unit_of_order(self, client_id: str) -> Unit | None:
        key = self._order_unit.get(client_id)
        return Unit.parse(key) if key else None

    def may_send(self, record: OrderRecord) -> bool:
        if record.client_id in self._fenced_out:
            return False
        if not self.reachable:  # Redis gone: act only inside the lease we know we still hold
            unit = Unit.parse(self._order_unit[record.client_id]) if self._order_unit.get(record.client_id) \
                else None
            held = self.held.get(unit) if unit is not None else None
            return unit is None or (held is not None and held[1] - self._clock() >= self.strict_ms)
        if not self._lock_held((record.venue, record.symbol)):
            if not self.reachable:  # Redis failed while renewing the lock: as above, from now on
                return self.may_send(record)
            self._host.event(f"cluster: {record.venue} {record.symbol} order {record.client_id} not sent: "
                             "this node does not hold its execution lock (lapsed?)", "error")
            return False  # never traded unlocked
        return True

    def _lock_held(self, key: tuple[str, str]) -> bool:
        """This node holds key's execution lock for at least half a TTL more (renewed when less was left: a
        long execution keeps it as long as it sends; a node that died loses it one TTL after its last)."""
        lock = self._locks.get(key)
        if lock is None:
            return False
        now = self._clock()
        if lock[1] - now >= self.ttl_ms // 2:
            return True
        try:
            renewed = int(self._renew_script(keys=[self._lock_key(key)],
                                             args=[lock[0], self._now_arg(now), self.ttl_ms]))
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return False
        if renewed:
            self._locks[key] = (lock[0], now + self.ttl_ms)
        return bool(renewed)

    def save(self, ledger: Ledger, store: Callable[..., Any]) -> None:
        ledger.save(store)
        self._ledger = ledger
        for cid in (*ledger.orders, *ledger.pending):  # a pending record keeps its journaled order's unit
            if cid not in self._order_unit:
                self._order_unit[cid] = self._acting.key if self._acting is not None else NODE_UNIT
        urgent = any(r.status is OrderStatus.INITIALIZED and cid not in self._pushed_orders
                     for cid, r in ledger.orders.items())
        urgent = urgent or bool(set(self._pushed_orders) - set(ledger.orders)
                                - {PENDING + cid for cid in ledger.pending}) \
            or any(PENDING + cid not in self._pushed_orders for cid in ledger.pending) \
            or {p.id: _pair_json(p) for p in ledger.pairs.values()} != self._pushed_pairs \
            or {_loose_field(leg): _loose_json(leg) for leg in ledger.loose.values()} != self._pushed_loose
        if not urgent:
            self._dirty = True  # status updates of sent orders ride along with the next write
            return
        if not self.reachable:
            self._dirty = True
            for cid, record in ledger.orders.items():
                if record.status is OrderStatus.INITIALIZED and not self.may_send(record):
                    self._fenced_out.add(cid)
            return
        try:
            self._push(ledger, self._clock())
        except RedisError as exc:
            self._dirty = True
            self._lost(f"redis unreachable ({type(exc).__name__})")
            for cid, record in ledger.orders.items():
                if record.status is OrderStatus.INITIALIZED and cid not in self._pushed_orders:
                    self._fenced_out.add(cid)  # not journaled in the cluster: never sent

    def _push(self, ledger: Ledger, now_ms: int) -> None:
        groups = self._changes(ledger)
        events, self._events = self._events, []
        if not groups and not events:
            self._dirty = False
            return
        refused = self._write(keys=[self.k_pairs, self.k_orders, self.k_ver, self.k_events, self.k_loose],
                              args=[self.ns, self.node, self._now_arg(now_ms), _groups_json(groups),
                                    json.dumps(events), STREAM_MAXLEN])
        refused = set(refused or [])
        for unit_key, g in groups.items():
            if unit_key in refused:
                self._fenced(ledger, unit_key, g)
                continue
            self._note_pushed(g)
        self._dirty = False

    def _changes(self, ledger: Ledger) -> dict[str, dict[str, Any]]:
        """What changed since the last push, grouped by unit (each written under its lease's token): the
        pairs, journaled orders and loose legs to put and to delete."""
        groups: dict[str, dict[str, Any]] = {}

        def group(unit_key: str) -> dict[str, Any]:
            if unit_key not in groups:
                held = self.held.get(Unit.parse(unit_key)) if unit_key else None
                groups[unit_key] = {"unit": unit_key, "token": held[0] if held else 0, "strict_ms": -1,
                                    "pairs_put": {}, "pairs_del": [], "orders_put": {}, "orders_del": [],
                                    "loose_put": {}, "loose_del": []}
            return groups[unit_key]

        self._pair_changes(ledger, group)
        self._order_changes(ledger, group)
        self._loose_changes(ledger, group)
        return groups

    def _pair_changes(self, ledger: Ledger, group: Callable[[str], dict[str, Any]]) -> None:
        pairs = {p.id: _pair_json(p) for p in ledger.pairs.values()}
        for pair_id, text in pairs.items():
            if self._pushed_pairs.get(pair_id) != text:
                group(Unit.of_pair(ledger.pairs[pair_id]).key)["pairs_put"][str(pair_id)] = text
        for pair_id in set(self._pushed_pairs) - set(pairs):
            old = HedgePair.from_json(json.loads(self._pushed_pairs[pair_id]))
            group(Unit.of_pair(old).key)["pairs_del"].append(str(pair_id))

    def _order_changes(self, ledger: Ledger, group: Callable[[str], dict[str, Any]]) -> None:
        """A new order's group is strict: refused unless its lease has strict_ms left. A pending result
        (Ledger.pending) is written beside the journal, under its order's unit, in the same write."""
        orders = {cid: _order_json(self._order_unit.get(cid, NODE_UNIT), self.node, r)
                  for cid, r in ledger.orders.items()}
        orders |= {PENDING + cid: _order_json(self._order_unit.get(cid, NODE_UNIT), self.node, r)
                   for cid, r in ledger.pending.items()}
        for field, text in orders.items():
            if self._pushed_orders.get(field) != text:
                g = group(self._order_unit.get(field.removeprefix(PENDING), NODE_UNIT))
                g["orders_put"][field] = text
                record = ledger.orders.get(field)
                if record is not None and record.status is OrderStatus.INITIALIZED \
                        and field not in self._pushed_orders:
                    g["strict_ms"] = self.strict_ms
        for field in set(self._pushed_orders) - set(orders):
            group(self._order_unit.get(field.removeprefix(PENDING), NODE_UNIT))["orders_del"].append(field)

    def _loose_changes(self, ledger: Ledger, group: Callable[[str], dict[str, Any]]) -> None:
        loose = {_loose_field(leg): (leg.unit, _loose_json(leg)) for leg in ledger.loose.values()}
        for name, (unit_key, text) in loose.items():
            if self._pushed_loose.get(name) != text:
                group(unit_key)["loose_put"][name] = text
        for name in set(self._pushed_loose) - set(loose):
            group(name.rpartition("|")[0])["loose_del"].append(name)

    def _fenced(self, ledger: Ledger, unit_key: str, g: dict[str, Any]) -> None:
        """Redis refused the unit's write (another node holds a newer lease): its new orders are fenced out,
        the lease is dropped, and the truth is pulled at the next turn."""
        for cid in g["orders_put"]:
            record = ledger.orders.get(cid)
            if record is not None and record.status is OrderStatus.INITIALIZED:
                self._fenced_out.add(cid)
        unit = Unit.parse(unit_key)
        if self.held.pop(unit, None) is not None or g["pairs_put"] or g["pairs_del"]:
            self._host.event(f"cluster: write for {unit} refused: another node holds a newer lease "
                             "(fenced out); nothing more is sent for it, its new owner reconciles",
                             "error")
        self._ver = -1  # pull the truth at the next turn

    def _note_pushed(self, g: dict[str, Any]) -> None:
        """The unit's write was taken: what Redis holds now."""
        self._pushed_pairs.update({int(k): v for k, v in g["pairs_put"].items()})
        for k in g["pairs_del"]:
            self._pushed_pairs.pop(int(k), None)
        self._pushed_orders.update(g["orders_put"])
        for cid in g["orders_del"]:
            self._pushed_orders.pop(cid, None)
        self._pushed_loose.update(g["loose_put"])
        for name in g["loose_del"]:
            self._pushed_loose.pop(name, None)

    def _pull(self, ledger: Ledger) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.get(self.k_ver)
        pipe.hgetall(self.k_pairs)
        pipe.hgetall(self.k_orders)
        pipe.hgetall(self.k_loose)
        ver, raw_pairs, raw_orders, raw_loose = pipe.execute()
        self._ver = int(ver or 0)
        pairs = {int(k): HedgePair.from_json(json.loads(v)) for k, v in raw_pairs.items()}
        self._pushed_pairs = {pid: _pair_json(p) for pid, p in pairs.items()}
        mine: dict[str, OrderRecord] = {}
        pending: dict[str, OrderRecord] = {}  # results waiting for a price, of the units held here
        foreign: dict[str, tuple[str, str, str]] = {}
        held_keys = {u.key for u in self.held}
        for field, text in raw_orders.items():
            entry = json.loads(text)
            record = OrderRecord.from_json(entry["record"])
            cid = field.removeprefix(PENDING)
            if entry["unit"] in held_keys or (entry["unit"] == NODE_UNIT and entry["node"] == self.node):
                (pending if field.startswith(PENDING) else mine)[cid] = record
                self._order_unit[cid] = entry["unit"]
            elif not field.startswith(PENDING):  # a result waiting for a price trades nothing
                foreign[cid] = (entry["node"], record.venue, record.symbol)
        loose = [LooseLeg.from_json(json.loads(text)) for text in raw_loose.values()]
        ledger.take_shared(pairs=dict(sorted(pairs.items())), orders=mine,
                           loose={leg.key: leg for leg in sorted(loose, key=lambda leg: leg.key)},
                           pending=dict(sorted(pending.items())))
        self._pushed_loose = {_loose_field(leg): _loose_json(leg) for leg in loose}
        # as stored: an adopted order (journaled by another node) is re-written under this node next push
        self._pushed_orders = {cid: raw_orders[cid] for cid in mine} \
            | {PENDING + cid: raw_orders[PENDING + cid] for cid in pending}
        self._foreign_orders = foreign

    def view(self, ledger: Ledger) -> Any:
        if not self.reachable:
            return None
        try:
            if self._dirty:
                self._push(ledger, self._clock())
            self._pull(ledger)
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return None
        return self._ver

    def stable(self, mark: Any) -> bool:
        if mark is None:
            return False
        try:
            return bool(int(self.r.get(self.k_ver) or 0) == mark)
        except RedisError as exc:
            self._lost(f"redis unreachable ({type(exc).__name__})")
            return False

    def busy_keys(self) -> set[tuple[str, str]]:
        return {(venue, symbol) for _node, venue, symbol in self._foreign_orders.values()}

    def rate_budget(self, cfg: Any, local: Any) -> RedisRateBudget:
        self._budget = RedisRateBudget(self.r, self.ns, cfg, self._now_ms, fallback=local,
                                       server_clock=self.server_clock)
        return self._budget

    # --- event stream ---
    def publish(self, kind: str, fields: dict[str, Any]) -> None:
        self._events.append(json.dumps({"kind": kind, **fields}, default=str))
        if len(self._events) > STREAM_READ:
            del self._events[: len(self._events) - STREAM_READ]  # Redis away for long: keep the newest

    def status_rows(self) -> list[list[str]]:
        now = self._now_ms()
        rows = []
        for unit in self.units:
            held = self.held.get(unit)
            state = "pending reconcile" if unit in self.pending else ("held" if held else "-")
            left = f"{(held[1] - now) / 1000:.0f} s" if held else ""
            rows.append([str(unit), state, str(held[0]) if held else "", left])
        return rows


def _groups_json(groups: dict[str, dict[str, Any]]) -> str:
    """cjson decodes [] and {} alike as an empty table; ipairs/pairs over either is a no-op, so plain
    JSON is enough."""
    return json.dumps(list(groups.values()))


class RedisRateBudget:
    """The account's request budget shared by every node (the RateBudget seam of hedge/ratelimit.py): per
    venue an order bucket and a weight bucket in Redis, on the cluster clock (Redis' own in a live run,
    so no node's clock can refill it early; the runtime's on a virtual clock), with the same answers as
    the one-node TokenBuckets: reserve -> 0 (send now), n (send after n ms) or None (refused, nothing
    taken); closes and stops (`priority`) may use the whole bucket and are never refused.

    `spend` (market data, order queries: every request the venue counts) is added up here and written
    with the next reserve or `flush` (the coordinator flushes once a loop turn), so a request to a venue
    never waits for Redis. While Redis is unreachable, a local TokenBuckets with the same limits answers
    (`fallback`): each node then keeps to the whole budget on its own, which is why REDUCING holds then.
    """

    def __init__(self, client: Any, namespace: str, cfg: Any, now_ms: Callable[[], int],
                 fallback: Any | None = None, server_clock: bool = False) -> None:
        self._r = client
        self._ns = namespace
        self._cfg = cfg  # RateConfig: venue(key) -> (orders, window_s, weight_per_min), max_wait_ms, ...
        self._now_ms = now_ms
        self._server_clock = server_clock
        self._script = client.register_script(RATE)
        self._spent: dict[str, list[int]] = {}  # venue -> [orders, weight] not written yet
        self._fallback = fallback
        self.waited_ms = 0
        self.refused = 0

    def _call(self, venue: str, orders: int, weight: int, mode: str, priority: bool = False,
              client: Any | None = None) -> Any:
        rate = self._cfg.venue(venue)
        share = 0.0 if priority else self._cfg.close_reserve_pct / 100
        now: int | str = "" if self._server_clock else self._now_ms()  # '': Redis' own clock
        return self._script(keys=[f"{self._ns}:rate:{venue}"],
                            args=[now, rate.orders, rate.window_s * 1000, rate.weight_per_min,
                                  60_000, orders, weight, mode, share, self._cfg.max_wait_ms,
                                  1 if priority else 0], client=client)

    def reserve(self, venue: str, cost: Any, *, priority: bool = False) -> int | None:
        try:
            self.flush()
            wait = int(self._call(venue, cost.orders, cost.weight, "reserve", priority))
        except RedisError:
            if self._fallback is None:
                return self._cfg.max_wait_ms if priority else None
            held: int | None = self._fallback.reserve(venue, cost, priority=priority)
            return held
        if wait < 0:
            self.refused += 1
            return None
        self.waited_ms += wait
        return wait

    def release(self, venue: str, cost: Any) -> None:
        try:
            self._call(venue, cost.orders, cost.weight, "release")
        except RedisError:
            if self._fallback is not None:
                self._fallback.release(venue, cost)

    def spend(self, venue: str, cost: Any) -> None:
        spent = self._spent.setdefault(venue, [0, 0])
        spent[0] += cost.orders
        spent[1] += cost.weight
        if self._fallback is not None:
            self._fallback.spend(venue, cost)

    def flush(self, pipe: Any | None = None) -> None:
        """Write the spends counted since the last flush (in `pipe` when given: the caller executes it)."""
        if not self._spent:
            return
        spent, self._spent = self._spent, {}
        target = pipe if pipe is not None else self._r.pipeline(transaction=False)
        for venue, (orders, weight) in spent.items():
            self._call(venue, orders, weight, "spend", client=target)
        if pipe is None:
            try:
                target.execute()
            except RedisError:
                for venue, (orders, weight) in spent.items():  # counted again with the next flush
                    again = self._spent.setdefault(venue, [0, 0])
                    again[0] += orders
                    again[1] += weight
                raise
