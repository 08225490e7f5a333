"""Registration codes for rented copies of the strategy (Ed25519, see hedge/license.py).

    python -m tools.regcode keygen --out DIR
    python -m tools.regcode issue --key DIR/regcode.key --customer ID --expires YYYY-MM-DD \\
        --venues binance,okx --max-capital 50000
    python -m tools.regcode verify --pub DIR/regcode.pub CODE

keygen writes regcode.key (private, mode 0600, never printed) and regcode.pub (64 hex digits, the
file `python -m tools.bundle --pubkey` embeds). issue prints one code on stdout. verify prints the
code's fields and exits 0 when it is authentic and not expired today (UTC), 1 when it is not.
Usage errors (bad flags, unreadable key files) print one line and exit 2. Keep the private key out
of git and off the robot hosts: only the public key ever ships.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hedge.license import VENUES, License, LicenseError, encode_code, payload_bytes, verify_code

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
PRIVATE_NAME, PUBLIC_NAME = "regcode.key", "regcode.pub"
_CUSTOMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def keygen(out_dir: Path) -> tuple[Path, Path]:
    """Write a new key pair into out_dir; refuses to overwrite an existing private key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    if private_path.exists():
        raise UsageError(f"{private_path} already exists: pick another --out folder (codes issued with the "
                         "existing key would stop verifying if it were replaced)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)  # the umask may have narrowed it further, never widened
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_path.write_text(public.hex() + "\n", encoding="ascii")
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError:
        raise UsageError(f"--key {path}: cannot read the file; pass the regcode.key written by keygen") \
            from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UsageError(f"--key {path} is not an unencrypted PEM private key; pass the regcode.key "
                         "written by keygen") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"--key {path} is not an Ed25519 key; make one with `keygen`")
    return key


def load_public_key(path: Path) -> bytes:
    """The 32-byte key from a regcode.pub file (64 hex digits); UsageError otherwise."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise UsageError(f"{path}: cannot read the public key file; pass the regcode.pub written by keygen") \
            from None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise UsageError(f"{path} must hold 64 hex digits (an Ed25519 public key); pass the regcode.pub "
                         "written by keygen")
    return bytes.fromhex(text)


def make_license(customer: str, expires: str, venues: str, max_capital: str) -> License:
    if not _CUSTOMER.match(customer):
        raise UsageError(f"--customer {customer!r}: use 1..64 letters, digits or _.@- (e.g. acme-01)")
    try:
        _dt.date.fromisoformat(expires)
        if len(expires) != 10:
            raise ValueError
    except ValueError:
        raise UsageError(f"--expires {expires!r}: use a date like 2027-06-30 (valid through that UTC day)") \
            from None
    names = [v.strip().lower() for v in venues.split(",") if v.strip()]
    unknown = [v for v in names if v not in VENUES]
    if not names or unknown:
        raise UsageError(f"--venues {venues!r}: use a comma list of {', '.join(VENUES)}")
    try:
        capital = Decimal(max_capital)
    except InvalidOperation:
        capital = Decimal(-1)
    if not capital.is_finite() or capital <= 0:
        raise UsageError(f"--max-capital {max_capital!r}: use a positive USDT amount, e.g. 50000")
    return License(customer, expires, tuple(sorted(set(names))), Decimal(format(capital.normalize(), "f")))


def issue(key: Ed25519PrivateKey, lic: License) -> str:
    payload = payload_bytes(lic)
    return encode_code(payload, key.sign(payload))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tools.regcode", description="Ed25519 registration codes per customer.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("keygen", help="make a key pair (regcode.key 0600, regcode.pub)")
    p.add_argument("--out", type=Path, required=True, help="folder for the two files (keep it out of git)")
    p = sub.add_parser("issue", help="print a code for one customer")
    p.add_argument("--key", type=Path, required=True, help="regcode.key from keygen")
    p.add_argument("--customer", required=True, help="customer id, 1..64 of A-Z a-z 0-9 _.@-")
    p.add_argument("--expires", required=True, help="last valid day, YYYY-MM-DD (UTC)")
    p.add_argument("--venues", required=True, help=f"allowed venues, comma list of {','.join(VENUES)}")
    p.add_argument("--max-capital", required=True, help="most USDT equity across the bound venues")
    p = sub.add_parser("verify", help="check a code against a public key")
    p.add_argument("--pub", type=Path, required=True, help="regcode.pub from keygen")
    p.add_argument("code", help="the registration code")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        ns = build_parser().parse_args(argv)
        if ns.command == "keygen":
            private_path, public_path = keygen(ns.out)
            print(f"wrote {private_path} (private, mode 0600: never commit or share it)")
            print(f"wrote {public_path} (public: pass it to python -m tools.bundle --pubkey)")
            return EXIT_OK
        if ns.command == "issue":
            lic = make_license(ns.customer, ns.expires, ns.venues, ns.max_capital)
            print(issue(load_private_key(ns.key), lic))
            return EXIT_OK
        public = load_public_key(ns.pub)
        try:
            lic = verify_code(ns.code, public)
        except LicenseError as exc:
            print(f"invalid: {exc}")
            return EXIT_INVALID
        print(f"authentic: {lic.describe()}")
        today = _dt.datetime.now(_dt.UTC)
        if today.timestamp() * 1000 >= lic.expires_ms:
            print(f"expired: the last valid day was {lic.expires}")
            return EXIT_INVALID
        return EXIT_OK
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
