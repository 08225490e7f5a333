"""Registration codes: Ed25519 verification (cryptography and the pure-Python fallback) and the checks
the strategy runs before its first order."""

import base64
import json
import sys
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge import license as lic_mod
from hedge.fmz import Api
from hedge.license import (
    License,
    LicenseError,
    admit,
    check,
    ed25519_verify,
    ed25519_verify_pure,
    encode_code,
    payload_bytes,
)

# RFC 8032 section 7.1, tests 1-3: (public key, message, signature)
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
     "d25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
     "4a7c15e9716ed28dc027beceea1ec40a"),
]

DAY_MS = 86_400_000
JAN_1_2027_MS = 1_798_761_600_000


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _code(key: Ed25519PrivateKey, lic: License) -> str:
    payload = payload_bytes(lic)
    return encode_code(payload, key.sign(payload))


LIC = License("acme-01", "2026-12-31", ("binance", "okx"), Decimal("50000"))
KEY = _key(7)
PUB = _public(KEY)
NOW = JAN_1_2027_MS - DAY_MS  # 2026-12-31 00:00 UTC


@pytest.mark.parametrize("verify", [ed25519_verify_pure, ed25519_verify])
@pytest.mark.parametrize(("public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_verify_and_a_flipped_bit_does_not(verify, public, message, signature):
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert verify(pub, msg, sig)
    assert not verify(pub, msg + b"x", sig)
    bad = bytearray(sig)
    bad[5] ^= 0x01
    assert not verify(pub, msg, bytes(bad))


def test_pure_verify_rejects_malformed_inputs():
    pub, _, sig = (bytes.fromhex(x) for x in RFC8032[0])
    assert not ed25519_verify_pure(pub, b"", sig[:63])
    too_big_s = sig[:32] + (2**253).to_bytes(32, "little")  # S must be below the group order
    assert not ed25519_verify_pure(pub, b"", too_big_s)
    not_on_curve = (2).to_bytes(32, "little")  # y = 2 has no x on the curve
    assert not ed25519_verify_pure(not_on_curve, b"", sig)


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200), flip=st.integers(0, 511))
def test_pure_verify_agrees_with_cryptography(seed, message, flip):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public, signature = _public(key), key.sign(message)
    assert ed25519_verify_pure(public, message, signature)
    tampered = bytearray(signature)
    tampered[flip // 8] ^= 1 << (flip % 8)
    assert ed25519_verify_pure(public, message, bytes(tampered)) == ed25519_verify(public, message,
                                                                                   bytes(tampered))
    assert not ed25519_verify_pure(public, message, bytes(tampered))


def test_verification_falls_back_to_pure_python_without_cryptography(monkeypatch):
    for name in ("cryptography", "cryptography.exceptions",
                 "cryptography.hazmat.primitives.asymmetric.ed25519"):
        monkeypatch.setitem(sys.modules, name, None)  # import now raises ImportError
    calls = []
    real = lic_mod.ed25519_verify_pure
    monkeypatch.setattr(lic_mod, "ed25519_verify_pure", lambda *a: calls.append(1) or real(*a))
    assert check(_code(KEY, LIC), PUB, NOW, ["okx"], Decimal(1)) == LIC
    with pytest.raises(LicenseError, match="signature is invalid"):
        check(_code(_key(8), LIC), PUB, NOW, ["okx"], Decimal(1))
    assert len(calls) == 2


def test_valid_code_admits_its_scope_until_the_end_of_the_expiry_day():
    code = _code(KEY, LIC)
    assert check(code, PUB, JAN_1_2027_MS - 1, ["binance", "okx"], Decimal("50000")) == LIC
    assert check(" \n".join([code[:40], code[40:]]), PUB, NOW, ["okx"], Decimal("0")) == LIC  # pasted wrapped


def test_expired_code_is_refused_by_the_runtime_clock():
    with pytest.raises(LicenseError, match=r"expired on 2026-12-31 \(UTC\)"):
        check(_code(KEY, LIC), PUB, JAN_1_2027_MS, ["okx"], Decimal(1))


def test_forged_signature_is_refused():
    with pytest.raises(LicenseError, match="signature is invalid"):
        check(_code(_key(8), LIC), PUB, NOW, ["okx"], Decimal(1))


def test_tampered_field_is_refused():
    prefix, payload, signature = _code(KEY, LIC).split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["max_capital_usdt"] = "1000000000"  # the customer raises their own limit
    edited = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    forged = ".".join([prefix, edited, signature])
    with pytest.raises(LicenseError, match="signature is invalid"):
        check(forged, PUB, NOW, ["okx"], Decimal(1))


def test_venue_outside_the_code_is_refused():
    with pytest.raises(LicenseError, match=r"does not cover venue\(s\) bybit \(allowed: binance, okx\)"):
        check(_code(KEY, LIC), PUB, NOW, ["binance", "bybit"], Decimal(1))


def test_capital_above_the_limit_is_refused():
    with pytest.raises(LicenseError, match="allows at most 50000 USDT; the bound accounts hold 50000.01"):
        check(_code(KEY, LIC), PUB, NOW, ["okx"], Decimal("50000.01"))


@pytest.mark.parametrize(("code", "reason"), [
    (None, "missing"), ("   ", "missing"), ("hello", "malformed"), ("XVH1.@@@.###", "corrupted"),
    ("XVH1.e30.AAAA", "signature is invalid"),  # {} signed by nobody
])
def test_missing_or_malformed_code_is_refused(code, reason):
    with pytest.raises(LicenseError, match=reason):
        check(code, PUB, NOW, ["okx"], Decimal(1))


@pytest.mark.parametrize("payload", [b"{}", b"not json", b'{"v": 1, "customer": "x"}',
                                     b'{"v": 2, "customer": "x", "expires": "2030-01-01", "venues": [], '
                                     b'"max_capital_usdt": "1"}'])
def test_an_authentic_but_unreadable_payload_is_refused(payload):
    with pytest.raises(LicenseError, match="payload is not valid; ask your vendor for a new code"):
        check(encode_code(payload, KEY.sign(payload)), PUB, NOW, ["okx"], Decimal(1))


class FakeExchange:
    def __init__(self, name, equity):
        self.name, self.equity = name, equity

    def GetName(self):
        return self.name

    def GetAccount(self):
        return None if self.equity is None else {"Balance": self.equity * 0.6, "Equity": self.equity}


def _api(exchanges, lines):
    return Api(log=lambda *a: lines.append(" ".join(str(x) for x in a)), log_status=print, log_profit=print,
               sleep=lambda ms: None, unix_nano=lambda: NOW * 1_000_000, store=lambda *a: None,
               exchanges=tuple(exchanges))


def test_admit_without_an_embedded_key_runs_and_says_so():
    lines = []
    assert admit(_api([], lines), None)
    assert lines == ["registration: no public key built in (source build); running without a "
                     "registration code"]


def test_admit_sums_equity_of_supported_bindings_and_logs_one_line():
    exchanges = [FakeExchange("Futures_Binance", 30000.0), FakeExchange("Futures_OKX", 20000.0),
                 FakeExchange("Futures_OKX", 99999.0), FakeExchange("Huobi", 99999.0)]  # App ignores these
    lines = []
    assert admit(_api(exchanges, lines), _code(KEY, LIC), PUB)
    assert lines == ["registration: customer acme-01, expires 2026-12-31 (end of day UTC), venues "
                     "binance,okx, max capital 50000 USDT; bound capital 50000.00 USDT"]


@pytest.mark.parametrize(("exchanges", "reason"), [
    ([FakeExchange("Futures_Binance", 30000.0), FakeExchange("Futures_OKX", 20001.0)],
     "allows at most 50000"),
    ([FakeExchange("Futures_Binance", 1.0), FakeExchange("Futures_Bybit", 1.0)], "does not cover venue"),
    ([FakeExchange("Futures_Binance", None)], "cannot read the Futures_Binance account"),
])
def test_admit_refuses_with_one_red_line(exchanges, reason):
    lines = []
    assert not admit(_api(exchanges, lines), _code(KEY, LIC), PUB)
    assert len(lines) == 1 and lines[0].startswith("not started: ") and reason in lines[0]
    assert lines[0].endswith("#ff0000")


def test_source_build_has_no_key_embedded():
    assert lic_mod.embedded_public_key() is None
