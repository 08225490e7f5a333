"""Every `_G` key the strategy keeps its state under (FMZ's per-robot key-value store; locally the kvdb
table of the robot's SQLite file). A running robot finds its ledger, accounting and treasury under these
names after a restart or an upgrade: renaming one loses that state, so a change of shape gets a new key
(`_v2`) and a reader of the old one. tests/hedge/test_store_keys.py lists them literally."""

from __future__ import annotations

LEDGER = "hedge_ledger_v1"  # hedge pairs, loose legs, watched orders, next_id (hedge/ledger.py)
# + 1, 2, ...: what each save changed since the ledger's whole document was written (hedge/ledger.py _Journal)
LEDGER_JOURNAL_PREFIX = "hedge_ledger_v1_journal_"
# loose legs as a version before the ledger kept them ([venue, symbol, qty, price, pair_id]); read once
LEGACY_LOOSE_LEGS = "hedge_pending_legs_v1"
TRADING_STATE = "hedge_state_v1"  # ACTIVE / REDUCING / HALTED, its reason and source
EVENTS = "hedge_events_v1"  # the graded events the status table keeps (hedge/events.py)
ACCOUNTING = "hedge_accounting_v1"  # shares, totals, flows, the live NAV point (hedge/accounting.py)
ACCOUNTING_DAYS = "hedge_accounting_days_v1"  # one NAV point per day
ACCOUNTING_HOURS_PREFIX = "hedge_accounting_hours_v1_"  # + day number: that day's hourly NAV points
LEGACY_NAV_BASE = "hedge_nav_base_v1"  # before accounting existed: shares = that equity
GUARD_PEAK_NAV = "hedge_guard_peak_nav_v1"  # the drawdown guard's peak unit NAV (hedge/guards.py)
TRANSFERS = "hedge_transfers_v1"  # deposits and withdrawals read from the venues (hedge/transfers.py)
TREASURY = "treasury_v1"  # the treasury's moves in flight and acknowledged (hedge/treasury.py)
CONTRACT_SPECS = "hedge_specs_v1"  # each venue's contract specs, for a start while GetMarkets fails
CLUSTER_STREAM_PREFIX = "cluster_stream_"  # + namespace: the last cluster stream entry read (cluster/redis)


def accounting_hours(day: int) -> str:
    return f"{ACCOUNTING_HOURS_PREFIX}{day}"


def cluster_stream(namespace: str) -> str:
    return f"{CLUSTER_STREAM_PREFIX}{namespace}"
