"""Registration codes: one Ed25519-signed code per customer, checked before the first order.

A code is `XVH1.<payload>.<signature>` (both base64url without padding). The payload is compact JSON:
customer id, expiry date (valid through the end of that UTC day), allowed venues and the most capital
(USDT, total equity across the bound venues at start) the strategy may run with.

The strategy holds only the public key. A build from source has none (`EMBEDDED_PUBLIC_KEY_HEX` is
empty) and runs without a code; `python -m tools.bundle --pubkey FILE` fills it in, and then a missing,
forged, tampered, expired or out-of-scope code stops the strategy with one line. Expiry is judged by
the runtime clock (`UnixNano()`), never the wall clock. Verification uses `cryptography` when the host
has it and falls back to the pure-Python Ed25519 below (RFC 8032 section 5.1.7) when it does not.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from hedge.decimals import to_decimal

# Filled in by tools/bundle.py --pubkey (64 hex digits). Empty: the source build, no code needed.
EMBEDDED_PUBLIC_KEY_HEX = ""

PREFIX = "XVH1"
PAYLOAD_VERSION = 1
VENUES = ("binance", "bybit", "okx", "coinex", "bitmex")
_DAY_MS = 86_400_000
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class LicenseError(ValueError):
    """The registration code cannot be used. The message is one line saying why and what to do."""


@dataclass(frozen=True)
class License:
    customer: str
    expires: str  # YYYY-MM-DD, valid through the end of that UTC day
    venues: tuple[str, ...]
    max_capital_usdt: Decimal

    @property
    def expires_ms(self) -> int:
        """First millisecond (UTC) at which the code no longer admits a start."""
        day = _dt.date.fromisoformat(self.expires)
        return (day.toordinal() - _dt.date(1970, 1, 1).toordinal()) * _DAY_MS + _DAY_MS

    def payload(self) -> dict[str, Any]:
        return {
            "v": PAYLOAD_VERSION,
            "customer": self.customer,
            "expires": self.expires,
            "venues": list(self.venues),
            "max_capital_usdt": str(self.max_capital_usdt),
        }

    def describe(self) -> str:
        return (f"customer {self.customer}, expires {self.expires} (end of day UTC), venues "
                f"{','.join(self.venues)}, max capital {self.max_capital_usdt} USDT")


def payload_bytes(lic: License) -> bytes:
    """The exact bytes that are signed (compact, sorted JSON)."""
    return json.dumps(lic.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def encode_code(payload: bytes, signature: bytes) -> str:
    return f"{PREFIX}.{_b64(payload)}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_code(code: str) -> tuple[bytes, bytes]:
    """(signed payload bytes, signature); LicenseError when the code is not well formed."""
    text = "".join(str(code).split())  # codes pasted across lines keep working
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise LicenseError(f"registration code is malformed: it must look like "
                           f"{PREFIX}.<payload>.<signature>; paste the whole code you were given")
    try:
        if not all(_B64URL.fullmatch(part) for part in parts[1:]):
            raise ValueError("not base64url")
        return _unb64(parts[1]), _unb64(parts[2])
    except (ValueError, binascii.Error):
        raise LicenseError("registration code is corrupted (bad encoding); paste the whole code again") \
            from None


def license_from_payload(payload: bytes) -> License:
    bad = LicenseError("registration code payload is not valid; ask your vendor for a new code")
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(raw, dict) or raw.get("v") != PAYLOAD_VERSION:
        raise bad
    customer, expires, venues, cap = (raw.get(k) for k in
                                      ("customer", "expires", "venues", "max_capital_usdt"))
    if not isinstance(customer, str) or not customer or not isinstance(expires, str) \
            or not isinstance(venues, list) or not all(isinstance(v, str) for v in venues) \
            or not isinstance(cap, str):
        raise bad
    try:
        _dt.date.fromisoformat(expires)
        capital = Decimal(cap)
    except (ValueError, InvalidOperation):
        raise bad from None
    return License(customer, expires, tuple(venues), capital)


def verify_code(code: str | None, public_key: bytes) -> License:
    """The fields of an authentic code; LicenseError for a missing, malformed, forged or tampered one."""
    if code is None or not str(code).strip():
        raise LicenseError("registration code missing: set the strategy parameter REGCODE to the code "
                           "you were given (docs/params.md)")
    payload, signature = decode_code(str(code))
    if not ed25519_verify(public_key, payload, signature):
        raise LicenseError("registration code signature is invalid (forged, altered or issued for another "
                           "build); ask your vendor for a code for this strategy")
    return license_from_payload(payload)  # fields are read only once the signature holds


def check_scope(lic: License, now_ms: int, venues: Iterable[str], capital_usdt: Decimal) -> None:
    """LicenseError when the code has expired at `now_ms` or does not cover these venues or capital."""
    if now_ms >= lic.expires_ms:
        raise LicenseError(f"registration code for {lic.customer} expired on {lic.expires} (UTC); "
                           "ask your vendor to renew it")
    outside = sorted(set(venues) - set(lic.venues))
    if outside:
        raise LicenseError(f"registration code for {lic.customer} does not cover venue(s) "
                           f"{', '.join(outside)} (allowed: {', '.join(lic.venues)}); unbind them or get a "
                           "code that includes them")
    if capital_usdt > lic.max_capital_usdt:
        raise LicenseError(f"registration code for {lic.customer} allows at most {lic.max_capital_usdt} "
                           f"USDT; the bound accounts hold {capital_usdt:.2f} USDT: move the excess out or "
                           "get a code with a higher limit")


def check(code: str | None, public_key: bytes, now_ms: int, venues: Iterable[str],
          capital_usdt: Decimal) -> License:
    lic = verify_code(code, public_key)
    check_scope(lic, now_ms, venues, capital_usdt)
    return lic


def embedded_public_key() -> bytes | None:
    """The public key built into this copy of the strategy, None for a source build."""
    text = EMBEDDED_PUBLIC_KEY_HEX.strip()
    return bytes.fromhex(text) if text else None


# --- Ed25519 signature verification ---

def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s Ed25519 signature of `message`."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:  # bare FMZ host
        return ed25519_verify_pure(public_key, message, signature)
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), bytes(message))
    except (InvalidSignature, ValueError):
        return False
    return True


_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _add(a: Point, b: Point) -> Point:
    # Unified addition on -x^2 + y^2 = 1 + d x^2 y^2; also correct for doubling.
    pa = (a[1] - a[0]) * (b[1] - b[0]) % _P
    pb = (a[1] + a[0]) * (b[1] + b[0]) % _P
    pc = 2 * a[3] * b[3] * _D % _P
    pd = 2 * a[2] * b[2] % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _decompress(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE_X = _recover_x(_BASE_Y, 0) or 0
_BASE: Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)


def ed25519_verify_pure(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7 verification in pure Python (slow but fine once per start)."""
    if len(signature) != 64:
        return False
    a = _decompress(bytes(public_key))
    r = _decompress(bytes(signature[:32]))
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    digest = hashlib.sha512(bytes(signature[:32]) + bytes(public_key) + bytes(message)).digest()
    k = int.from_bytes(digest, "little") % _L
    return _same(_mul(s, _BASE), _add(r, _mul(k, a)))


# --- the check strategy.py runs before anything else ---

def admit(api: Any, code: str | None, public_key: bytes | None = None) -> bool:
    """Log one line and return whether the strategy may start. `api` is a hedge.fmz.Api."""
    key = embedded_public_key() if public_key is None else public_key
    if key is None:
        api.log("registration: no public key built in (source build); running without a registration code")
        return True
    try:
        lic = verify_code(code, key)
        venues, capital = _bound_venues_and_capital(api.exchanges)
        check_scope(lic, api.now_ms(), venues, capital)
    except LicenseError as exc:
        api.log(f"not started: {exc}", "#ff0000")
        return False
    api.log(f"registration: {lic.describe()}; bound capital {capital:.2f} USDT")
    return True


def _bound_venues_and_capital(exchanges: Iterable[Any]) -> tuple[list[str], Decimal]:
    from hedge.market import venue_key

    venues: list[str] = []
    capital = Decimal(0)
    for exchange in exchanges:
        name = exchange.GetName()
        venue = venue_key(name)
        if venue is None or venue in venues:
            continue  # the strategy ignores these bindings too
        account = exchange.GetAccount()
        if account is None:
            raise LicenseError(f"cannot read the {name} account to check the licensed capital; "
                               "check the API key and restart")
        equity = account.get("Equity")
        if equity is None:
            equity = float(account.get("Balance") or 0) + float(account.get("FrozenBalance") or 0)
        venues.append(venue)
        capital += to_decimal(equity)
    return venues, capital
