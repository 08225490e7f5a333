"""API keys for live runs: a keys file (mode 0600 only) or environment variables.

Keys never travel through params or the robot log. `Credentials` hides its values in repr so a
stray print or traceback does not leak them; `secrets()` lists the values to scrub from messages.

Keys file (JSON, or YAML when PyYAML is installed), one entry per venue:
    {"binance": {"apiKey": "...", "secret": "..."},            # or "ed25519": PEM private key
     "okx": {"apiKey": "...", "secret": "...", "password": "..."}}
Environment: FMZC_<VENUE>_API_KEY, FMZC_<VENUE>_SECRET, FMZC_<VENUE>_PASSWORD (e.g. FMZC_OKX_SECRET).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fmz_compat.core import VENUE_NAMES

_FIELDS = {"apiKey": "api_key", "apikey": "api_key", "api_key": "api_key", "key": "api_key",
           "secret": "secret", "secretKey": "secret", "ed25519": "secret", "privateKey": "secret",
           "password": "password", "passphrase": "password"}


class KeysError(Exception):
    """The keys are unusable; the message is one line naming the problem and the fix (no key values)."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    password: str = ""

    def __repr__(self) -> str:
        return "Credentials(api_key=***, secret=***, password=***)"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.api_key, self.secret, self.password) if v)

    def ccxt_config(self) -> dict[str, str]:
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            config["password"] = self.password
        return config


def load_keys_file(path: str | Path) -> dict[str, Credentials]:
    """Venue -> credentials from a keys file; refused unless only its owner can read it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise KeysError(f"keys file {path} not found: pass --keys PATH to a JSON file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysError(f"keys file {path} is readable by others (mode {stat.S_IMODE(mode):04o}): "
                        f"run chmod 600 {path}")
    text = path.read_text(encoding="utf-8")
    data = _parse(text, path)
    if not isinstance(data, dict):
        raise KeysError(f"keys file {path} must map venue names to key objects")
    return {venue: _credentials(venue, entry, str(path)) for venue, entry in data.items()}


def load_keys_env(environ: Mapping[str, str] | None = None) -> dict[str, Credentials]:
    """Venue -> credentials from FMZC_<VENUE>_API_KEY / _SECRET / _PASSWORD."""
    env = os.environ if environ is None else environ
    out = {}
    for venue in VENUE_NAMES:
        prefix = f"FMZC_{venue.upper()}_"
        key, secret = env.get(prefix + "API_KEY", ""), env.get(prefix + "SECRET", "")
        if not key and not secret:
            continue
        if not key or not secret:
            raise KeysError(f"set both {prefix}API_KEY and {prefix}SECRET (only one is set)")
        out[venue] = Credentials(key, secret, env.get(prefix + "PASSWORD", ""))
    return out


def _parse(text: str, path: Path) -> object:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise KeysError(f"keys file {path} is not valid JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise KeysError(f"keys file {path} is neither valid JSON nor YAML") from None


def _credentials(venue: str, entry: object, where: str) -> Credentials:
    if venue not in VENUE_NAMES:
        raise KeysError(f"{where}: unknown venue {venue!r}: use one of {', '.join(VENUE_NAMES)}")
    if not isinstance(entry, dict):
        raise KeysError(f"{where}: {venue} must be an object with apiKey and secret")
    values: dict[str, str] = {}
    for name, value in entry.items():
        field_name = _FIELDS.get(name)
        if field_name is None:
            raise KeysError(f"{where}: {venue} has unknown field {name!r}: use apiKey, secret "
                            f"(or ed25519), password")
        text = str(value)
        if "PRIVATE KEY" in text:  # PEM: ccxt tells Ed25519 from RSA by length, so no stray whitespace
            text = "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"
        values[field_name] = text
    if not values.get("api_key") or not values.get("secret"):
        raise KeysError(f"{where}: {venue} needs both apiKey and secret")
    if venue == "okx" and not values.get("password"):
        raise KeysError(f"{where}: okx needs the API passphrase as password")
    return Credentials(values["api_key"], values["secret"], values.get("password", ""))
