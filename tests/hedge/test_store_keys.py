"""The `_G` keys never change: a robot restarted on a new version finds its ledger, accounting and treasury
under the names an earlier version saved them (hedge/store_keys.py). The keys are written out here, not
read from the module, so renaming one fails this test instead of silently starting a robot from empty."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hedge import store_keys

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "LEDGER": "hedge_ledger_v1",
    "LEDGER_JOURNAL_PREFIX": "hedge_ledger_v1_journal_",
    "LEGACY_LOOSE_LEGS": "hedge_pending_legs_v1",
    "TRADING_STATE": "hedge_state_v1",
    "EVENTS": "hedge_events_v1",
    "ACCOUNTING": "hedge_accounting_v1",
    "ACCOUNTING_DAYS": "hedge_accounting_days_v1",
    "ACCOUNTING_HOURS_PREFIX": "hedge_accounting_hours_v1_",
    "LEGACY_NAV_BASE": "hedge_nav_base_v1",
    "GUARD_PEAK_NAV": "hedge_guard_peak_nav_v1",
    "TRANSFERS": "hedge_transfers_v1",
    "TREASURY": "treasury_v1",
    "CONTRACT_SPECS": "hedge_specs_v1",
    "CLUSTER_STREAM_PREFIX": "cluster_stream_",
}
_LOOKS_LIKE_A_KEY = re.compile(r"^(hedge_\w+_v\d+_?|treasury_v\d+|cluster_stream_)$")


def test_the_keys_are_the_ones_robots_saved_their_state_under() -> None:
    found = {name: value for name, value in vars(store_keys).items() if name.isupper()}
    assert found == KEYS
    assert store_keys.accounting_hours(19_723) == "hedge_accounting_hours_v1_19723"
    assert store_keys.cluster_stream("golden") == "cluster_stream_golden"


def test_no_other_module_spells_a_key() -> None:
    """A key written out elsewhere is a second definition that a rename here would miss."""
    spelled = []
    for package in ("hedge", "fmz_compat", "tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "hedge" / "store_keys.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                        node.value in KEYS.values() or _LOOKS_LIKE_A_KEY.match(node.value)):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not spelled, "use hedge.store_keys instead: " + "; ".join(spelled)
