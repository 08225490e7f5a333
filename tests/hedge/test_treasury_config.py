"""The "treasury" keys of PARAMS: defaults, and one clear line for each bad value."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from hedge.config import ConfigError, WhitelistEntry, parse_params

OKX = {"venue": "okx", "network": "TRC20", "address": "TNokxdeposit"}


def _parse(**treasury):
    return parse_params(json.dumps({"treasury": treasury})).treasury


def test_defaults_notify_with_equal_weights_and_known_networks():
    cfg = parse_params(None).treasury
    assert cfg.mode == "notify" and cfg.whitelist == () and cfg.weight("okx") == 1
    assert cfg.networks["TRC20"].fee_usdt == 1 and cfg.trigger_distance_pct < cfg.target_distance_pct


def test_a_full_section_is_read_into_frozen_values():
    cfg = _parse(mode="auto", weights={"binance": 2, "okx": 0.5}, whitelist=[OKX, {**OKX, "venue": "bybit",
                                                                                  "memo": "77"}],
                 networks={"TRC20": {"fee_usdt": 0.8}, "TON": {"fee_usdt": 0.2, "transit_s": 60}},
                 max_transfer_usdt=2000, max_daily_usdt=6000, timeout_s=3600)
    assert cfg.weight("binance") == 2 and cfg.weight("bybit") == 1
    assert cfg.addresses("bybit") == [WhitelistEntry("bybit", "TRC20", "TNokxdeposit", "77")]
    assert cfg.networks["TRC20"].fee_usdt == Decimal("0.8") and cfg.networks["TRC20"].transit_s == 300
    assert cfg.networks["TON"].transit_s == 60


@pytest.mark.parametrize(("treasury", "key", "fix"), [
    ({"mode": "sometimes"}, "treasury.mode", "must be one of 'auto', 'notify', 'off'"),
    ({"mode": "auto"}, "treasury.mode", "needs treasury.whitelist"),
    ({"weights": {"kraken": 1}}, "treasury.weights.kraken", "unknown venue"),
    ({"weights": {"okx": -1}}, "treasury.weights.okx", "between 0 and 1000"),
    ({"whitelist": [{"venue": "okx", "network": "TRC20"}]}, "treasury.whitelist[0]", "needs venue, network"),
    ({"whitelist": [{**OKX, "network": "XYZ"}]}, "treasury.whitelist[0].network", "unknown network"),
    ({"whitelist": [{**OKX, "address": "T with space"}]}, "treasury.whitelist[0].address", "no spaces"),
    ({"whitelist": [OKX, OKX]}, "treasury.whitelist[1]", "listed twice"),
    ({"networks": {"trc20": {"fee_usdt": 1}}}, "treasury.networks.trc20", "upper-case"),
    ({"networks": {"TRC20": {"fee_usdt": -1}}}, "treasury.networks.TRC20.fee_usdt", "between 0 and 1000"),
    ({"trigger_distance_pct": 80, "target_distance_pct": 70}, "treasury.target_distance_pct", "hysteresis"),
    ({"min_transfer_usdt": 500, "max_transfer_usdt": 100}, "treasury.max_transfer_usdt", "at least"),
    ({"max_transfer_usdt": 5000, "max_daily_usdt": 1000}, "treasury.max_daily_usdt", "at least"),
    ({"whitelist": [{**OKX, "network": "ERC20"}], "timeout_s": 1000}, "treasury.timeout_s",
     "twice the slowest"),
    ({"wieghts": {}}, "treasury.wieghts", "unknown key"),
    ({"timeout_s": 10}, "treasury.timeout_s", "between 60 and"),
])
def test_a_bad_value_names_its_key_and_the_fix_in_one_line(treasury, key, fix):
    with pytest.raises(ConfigError) as raised:
        _parse(**treasury)
    message = str(raised.value)
    assert raised.value.key == key and fix in message and "\n" not in message
