"""python -m tools.regcode: keygen, issue, verify, and one-line usage errors."""

import stat

import pytest

from tools import regcode


@pytest.fixture
def keys(tmp_path, capsys):
    assert regcode.main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    return tmp_path / "keys" / "regcode.key", tmp_path / "keys" / "regcode.pub"


def _issue(capsys, key, *, customer="acme-01", expires="2099-12-31", venues="okx,binance", cap="50000"):
    code = regcode.main(["issue", "--key", str(key), "--customer", customer, "--expires", expires,
                         "--venues", venues, "--max-capital", cap])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


def test_keygen_writes_a_private_key_only_the_owner_can_read_and_never_prints_it(tmp_path, capsys):
    assert regcode.main(["keygen", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    private = (tmp_path / "regcode.key").read_text()
    assert stat.S_IMODE((tmp_path / "regcode.key").stat().st_mode) == 0o600
    assert "PRIVATE KEY" in private and private.splitlines()[1] not in out and "PRIVATE KEY" not in out
    assert len((tmp_path / "regcode.pub").read_text().strip()) == 64


def test_keygen_refuses_to_replace_an_existing_key(keys, capsys):
    before = keys[0].read_bytes()
    assert regcode.main(["keygen", "--out", str(keys[0].parent)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert keys[0].read_bytes() == before


def test_issued_code_verifies_and_shows_its_fields(keys, capsys):
    status, code, _ = _issue(capsys, keys[0])
    assert status == 0 and code.startswith("XVH1.")
    assert regcode.main(["verify", "--pub", str(keys[1]), code]) == 0
    assert capsys.readouterr().out.strip() == ("authentic: customer acme-01, expires 2099-12-31 (end of day "
                                              "UTC), venues binance,okx, max capital 50000 USDT")


def test_issuing_is_deterministic_for_the_same_key_and_fields(keys, capsys):
    assert _issue(capsys, keys[0])[1] == _issue(capsys, keys[0])[1]


def test_verify_rejects_a_code_from_another_key_and_an_expired_code(keys, tmp_path, capsys):
    assert regcode.main(["keygen", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    _, foreign, _ = _issue(capsys, tmp_path / "other" / "regcode.key")
    assert regcode.main(["verify", "--pub", str(keys[1]), foreign]) == 1
    assert "signature is invalid" in capsys.readouterr().out
    _, old, _ = _issue(capsys, keys[0], expires="2020-01-31")
    assert regcode.main(["verify", "--pub", str(keys[1]), old]) == 1
    assert "expired: the last valid day was 2020-01-31" in capsys.readouterr().out


@pytest.mark.parametrize(("field", "value", "message"), [
    ("venues", "binance,kraken", "--venues 'binance,kraken': use a comma list of"),
    ("expires", "31/12/2099", "--expires '31/12/2099': use a date like 2027-06-30"),
    ("cap", "-5", "--max-capital '-5': use a positive USDT amount"),
    ("cap", "lots", "--max-capital 'lots': use a positive USDT amount"),
    ("customer", "a b", "--customer 'a b': use 1..64 letters"),
])
def test_bad_issue_flags_give_one_line_and_exit_2(keys, capsys, field, value, message):
    status, out, err = _issue(capsys, keys[0], **{field: value})
    assert status == 2 and out == ""
    assert err.startswith("error: " + message) and err.count("\n") == 1


def test_wrong_key_files_give_one_line_and_exit_2(keys, tmp_path, capsys):
    assert regcode.main(["verify", "--pub", str(keys[0]), "XVH1.a.b"]) == 2  # the private key as --pub
    assert "must hold 64 hex digits" in capsys.readouterr().err
    status, _, err = _issue(capsys, keys[1])  # the public key as --key
    assert status == 2 and "is not an unencrypted PEM private key" in err
    status, _, err = _issue(capsys, tmp_path / "nope.key")
    assert status == 2 and "cannot read the file" in err
    assert regcode.main(["issue", "--key", str(keys[0])]) == 2
    assert "the following arguments are required" in capsys.readouterr().err
