"""tools.testnet_check without testnet keys (its checks against the testnets are opt-in, never here)."""

from __future__ import annotations

import json

import pytest

from tools.testnet_check import main


@pytest.fixture
def no_env_keys(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("FMZC_")]:
        monkeypatch.delenv(name)


def test_without_keys_every_venue_is_skipped_and_the_exit_is_0(no_env_keys):
    lines: list[str] = []
    assert main([], out=lines.append) == 0
    assert lines[:5] == [
        'binance  skipped: no keys for binance (add a "binance" entry to the keys file or set '
        "FMZC_BINANCE_API_KEY and FMZC_BINANCE_SECRET)",
        'bybit    skipped: no keys for bybit (add a "bybit" entry to the keys file or set '
        "FMZC_BYBIT_API_KEY and FMZC_BYBIT_SECRET)",
        'okx      skipped: no keys for okx (add a "okx" entry to the keys file or set '
        "FMZC_OKX_API_KEY and FMZC_OKX_SECRET)",
        "coinex   skipped: coinex has no testnet",
        'bitmex   skipped: no keys for bitmex (add a "bitmex" entry to the keys file or set '
        "FMZC_BITMEX_API_KEY and FMZC_BITMEX_SECRET)",
    ]
    assert lines[-1] == "no check failed"


def test_a_keys_file_naming_other_venues_skips_the_rest(tmp_path, no_env_keys):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"okx": {"apiKey": "k", "secret": "s", "password": "p"}}))
    keys.chmod(0o600)
    lines: list[str] = []
    assert main(["--keys", str(keys), "--venues", "binance,coinex"], out=lines.append) == 0
    assert [line.split(":")[0] for line in lines[:2]] == ["binance  skipped", "coinex   skipped"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--venues", "kraken"], "--venues 'kraken': choose from binance"),
    (["--symbol", "BTCUSDT"], "--symbol 'BTCUSDT': use BASE_QUOTE"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys, no_env_keys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_world_readable_keys_file_is_refused(tmp_path, capsys, no_env_keys):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"okx": {"apiKey": "k", "secret": "s"}}))
    keys.chmod(0o644)
    assert main(["--keys", str(keys)]) == 2
    assert "chmod 600" in capsys.readouterr().err
