"""Keys: file mode 0600 only, environment fallback, values never shown."""

from __future__ import annotations

import json

import pytest

from fmz_compat.keys import KeysError, load_keys_env, load_keys_file


def _write(tmp_path, data, mode=0o600):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return path


def test_a_private_keys_file_loads_every_venue(tmp_path):
    path = _write(tmp_path, {"binance": {"apiKey": "k1", "ed25519": "-----BEGIN PRIVATE KEY-----x"},
                             "okx": {"apiKey": "k2", "secret": "s2", "password": "p2"}})
    keys = load_keys_file(path)
    assert keys["binance"].secret.startswith("-----BEGIN PRIVATE KEY")
    assert keys["okx"].ccxt_config() == {"apiKey": "k2", "secret": "s2", "password": "p2"}
    assert "k2" not in repr(keys) and "s2" not in str(keys["okx"])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_keys_file_others_can_read_is_refused_with_the_fix(tmp_path, mode):
    path = _write(tmp_path, {"binance": {"apiKey": "k", "secret": "s"}}, mode)
    with pytest.raises(KeysError, match=f"mode {mode:04o}.*chmod 600"):
        load_keys_file(path)


@pytest.mark.parametrize(("data", "message"), [
    ({"kraken": {"apiKey": "k", "secret": "s"}}, "unknown venue 'kraken'"),
    ({"binance": {"apiKey": "k"}}, "needs both apiKey and secret"),
    ({"okx": {"apiKey": "k", "secret": "s"}}, "okx needs the API passphrase"),
    ({"binance": {"apiKey": "k", "secret": "s", "token": "t"}}, "unknown field 'token'"),
    (["binance"], "must map venue names"),
])
def test_bad_keys_files_name_the_problem_without_values(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(KeysError, match=message) as info:
        load_keys_file(path)
    assert "\n" not in str(info.value) and "'s'" not in str(info.value)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(KeysError, match="not found"):
        load_keys_file(tmp_path / "nope.json")
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(KeysError, match="keys file .* (is not valid JSON|neither valid JSON nor YAML)"):
        load_keys_file(path)


def test_environment_variables():
    env = {"FMZC_OKX_API_KEY": "k", "FMZC_OKX_SECRET": "s", "FMZC_OKX_PASSWORD": "p", "OTHER": "x"}
    keys = load_keys_env(env)
    assert list(keys) == ["okx"] and keys["okx"].password == "p"
    with pytest.raises(KeysError, match="set both FMZC_BINANCE_API_KEY and FMZC_BINANCE_SECRET"):
        load_keys_env({"FMZC_BINANCE_API_KEY": "k"})
