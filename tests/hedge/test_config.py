import json
from decimal import Decimal
from pathlib import Path

import pytest

from hedge.config import ConfigError, HedgeConfig, parse_params

ROOT = Path(__file__).resolve().parents[2]


def test_missing_params_gives_defaults():
    assert parse_params(None) == HedgeConfig()
    assert parse_params("  ") == HedgeConfig()


def test_params_json_in_repo_is_valid_and_documented():
    cfg = parse_params((ROOT / "params.json").read_text())
    assert cfg.symbols == ("BTC_USDT", "ETH_USDT")
    doc = (ROOT / "docs" / "params.md").read_text()
    for key in json.loads((ROOT / "params.json").read_text()):
        assert f"`{key}`" in doc, f"{key} is not documented in docs/params.md"


def test_fee_override_keeps_other_defaults():
    cfg = parse_params('{"fees": {"okx": {"taker_bps": 2}}}')
    assert cfg.fee("okx").taker_bps == Decimal("2")
    assert cfg.fee("okx").maker_bps == HedgeConfig().fee("okx").maker_bps
    assert cfg.fee("binance") == HedgeConfig().fee("binance")


BAD = [
    ("{x", "PARAMS"),
    ("[1, 2]", "PARAMS"),
    ('{"symbol": ["BTC_USDT"]}', "symbol"),
    ('{"symbols": []}', "symbols"),
    ('{"symbols": ["btc_usdt"]}', "symbols"),
    ('{"symbols": ["BTC_USD"]}', "symbols"),
    ('{"symbols": ["BTC_USDT", "BTC_USDT"]}', "symbols"),
    ('{"order_notional_usdt": "lots"}', "order_notional_usdt"),
    ('{"order_notional_usdt": 1}', "order_notional_usdt"),
    ('{"order_notional_usdt": true}', "order_notional_usdt"),
    ('{"max_position_usdt": 100, "order_notional_usdt": 500}', "max_position_usdt"),
    ('{"max_close_usdt": 500, "order_notional_usdt": 1000}', "max_close_usdt"),
    ('{"max_close_usdt": "big"}', "max_close_usdt"),
    ('{"min_order_usdt": 2000, "order_notional_usdt": 1000}', "min_order_usdt"),
    ('{"min_order_usdt": -1}', "min_order_usdt"),
    ('{"outage": {"maintenance_lead_s": -5}}', "outage.maintenance_lead_s"),
    ('{"outage": {"maintenance_poll_s": 1}}', "outage.maintenance_poll_s"),
    ('{"outage": {"maintenance_lead": 60}}', "outage.maintenance_lead"),
    ('{"outage": {"timeout_cooldown_s": -1}}', "outage.timeout_cooldown_s"),
    ('{"outage": {"timeout_cooldown_s": 7200}}', "outage.timeout_cooldown_s"),
    ('{"outage": {"timeout_cooldown_s": 1.5}}', "outage.timeout_cooldown_s"),
    ('{"outage": {"refusal_cooldown_s": -1}}', "outage.refusal_cooldown_s"),
    ('{"outage": {"refusal_cooldown_s": 7200}}', "outage.refusal_cooldown_s"),
    ('{"open_threshold_bps": -1}', "open_threshold_bps"),
    ('{"close_threshold_bps": 5, "open_threshold_bps": 3}', "close_threshold_bps"),
    ('{"cooldown_s": 1.5}', "cooldown_s"),
    ('{"cooldown_s": -1}', "cooldown_s"),
    ('{"fees": []}', "fees"),
    ('{"fees": {"kraken": {"taker_bps": 1}}}', "fees.kraken"),
    ('{"fees": {"okx": {"taker": 1}}}', "fees.okx.taker"),
    ('{"fees": {"okx": 2}}', "fees.okx"),
    ('{"fees": {"okx": {"taker_bps": -2}}}', "fees.okx.taker_bps"),
    ('{"fees": {"okx": {"maker_bps": "x"}}}', "fees.okx.maker_bps"),
    ('{"leverage": {"okx": 0}}', "leverage.okx"),
    ('{"leverage": {"okx": 2.5}}', "leverage.okx"),
    ('{"leverage": {"ftx": 2}}', "leverage.ftx"),
    ('{"max_effective_leverage": 100}', "max_effective_leverage"),
    ('{"margin_buffer": 0.5}', "margin_buffer"),
    ('{"loop_interval_ms": 10}', "loop_interval_ms"),
    ('{"status_interval_s": 0}', "status_interval_s"),
    ('{"max_book_age_ms": "NaN"}', "max_book_age_ms"),
    ('{"max_slippage_bps": "Infinity"}', "max_slippage_bps"),
    ('{"max_depth_share": 0}', "max_depth_share"),
    ('{"max_depth_share": 1.5}', "max_depth_share"),
    ('{"reconcile_policy": "guess"}', "reconcile_policy"),
    ('{"log_keep_rows": 10}', "log_keep_rows"),
    ('{"log_reset_interval_s": 0}', "log_reset_interval_s"),
    ('{"open_threshold_bps": 8, "cooldown_s": 60, "open_threshold_bps": 3}', "open_threshold_bps"),
    ('{"fees": {"okx": {"taker_bps": 1, "taker_bps": 2}}}', "taker_bps"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_every_bad_value_gives_one_line_naming_key_and_fix(text, key):
    with pytest.raises(ConfigError) as info:
        parse_params(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"PARAMS key '{key}' = ")
    assert " is invalid: " in message and len(message.split(" is invalid: ", 1)[1]) > 10
    assert info.value.key == key


def test_max_close_usdt_defaults_to_5000_or_one_order_whichever_is_larger():
    assert parse_params("{}").close_chunk_usdt == Decimal(5000)
    assert parse_params('{"order_notional_usdt": 8000, "max_position_usdt": 16000}').close_chunk_usdt == 8000
    assert parse_params('{"max_close_usdt": 2500}').close_chunk_usdt == 2500


def test_a_misspelt_key_is_answered_with_the_closest_known_one():
    with pytest.raises(ConfigError) as info:
        parse_params('{"open_treshold_bps": 5}')
    assert str(info.value).endswith("unknown key; did you mean 'open_threshold_bps'?")
    with pytest.raises(ConfigError) as info:
        parse_params('{"stops": {"retry": 5}}')
    assert "did you mean 'retry_s'?" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_params('{"fees": {"binance": {"taker_bp": 2}}}')
    assert str(info.value) == ("PARAMS key 'fees.binance.taker_bp' = 2 is invalid: unknown key; "
                               "did you mean 'taker_bps'?")
    with pytest.raises(ConfigError) as info:
        parse_params('{"zzz": 1}')
    assert "check the spelling (known: symbols, " in str(info.value)


def test_a_key_given_twice_is_refused_not_silently_the_last():
    """json.loads keeps the last of two equal keys: a user adding "open_threshold_bps": 8 above the
    existing line would run with the old 3 and not know."""
    with pytest.raises(ConfigError) as info:
        parse_params('{"open_threshold_bps": 8, "cooldown_s": 60, "open_threshold_bps": 3}')
    assert str(info.value) == ("PARAMS key 'open_threshold_bps' = 3 is invalid: the key appears twice "
                               "(also = 8); keep one of the two lines")


def test_the_rehedge_margin_is_read_and_kept_between_the_stop_level_and_the_opening_check():
    """stops.rehedge_margin: the re-hedge floor as a multiple of the first stop level (hedge/rehedge.py);
    default 1.1, above 1 (at the level itself the next stop would undo the re-hedge) and at most the opening
    check's 1.25 (risk.OPEN_MARGIN)."""
    assert parse_params("{}").stops.rehedge_margin == Decimal("1.1")
    assert parse_params('{"stops": {"rehedge_margin": 1.2}}').stops.rehedge_margin == Decimal("1.2")
    for bad in ("1", "1.3", '"x"'):
        with pytest.raises(ConfigError) as info:
            parse_params('{"stops": {"rehedge_margin": ' + bad + '}}')
        assert "stops.rehedge_margin" in str(info.value)
