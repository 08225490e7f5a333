"""`python -m fmz_compat live FILE --keys KEYS [--testnet]`: the strategy on real venues.

The parser is built without importing ccxt (it is slow to import); the world factory imports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fmz_compat.core import VENUE_NAMES, Clock, ExchangeBinding, LogSink, SimConfig
from fmz_compat.runner import RunConfig, UsageError

_VENUE_BY_EID = {eid: venue for venue, eid in VENUE_NAMES.items()}


def add_live_parser(sub: Any) -> None:
    p = sub.add_parser("live", help="run on real venues through ccxt (or their testnets with --testnet)")
    p.add_argument("file", type=Path, help="strategy .py file (exec'd as __main__)")
    p.add_argument("--keys", type=Path, help="keys file (JSON, mode 0600); default: env FMZC_<VENUE>_API_KEY "
                   "/ _SECRET / _PASSWORD")
    p.add_argument("--testnet", action="store_true", help="use the venues' testnets (sandbox mode)")
    p.add_argument("--venues", default="binance,okx",
                   help=f"comma list of {', '.join(VENUE_NAMES)} (default binance,okx)")
    p.add_argument("--currency", default="BTC_USDT", help="pair each exchange object starts on")
    p.add_argument("--okx-broker-tag", default="", help="OKX broker tag for orders (default none)")
    p.add_argument("--params", help="the PARAMS global: a JSON document or the path of one")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="set another strategy global; VALUE is read as JSON when it parses")
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for robot folders (default runs/)")
    p.add_argument("--quiet", action="store_true", help="do not echo robot log lines")


def live_config(ns: argparse.Namespace) -> tuple[RunConfig, str]:
    from fmz_compat.__main__ import parse_arg, resolve_params
    from fmz_compat.runner import read_strategy

    source, _header = read_strategy(ns.file)
    params_json, origin = resolve_params(ns.params, ns.file)
    venues = [v.strip().lower() for v in ns.venues.split(",") if v.strip()]
    unknown = [v for v in venues if v not in VENUE_NAMES]
    if unknown or not venues:
        raise UsageError(f"--venues {ns.venues!r}: choose from {', '.join(VENUE_NAMES)}")
    bindings = tuple(ExchangeBinding(eid=VENUE_NAMES[v], currency=ns.currency.upper()) for v in venues)
    config = RunConfig(mode="live", strategy_path=ns.file, bindings=bindings, start_ms=0, end_ms=None,
                       symbols=(ns.currency.upper(),), params_json=params_json, params_origin=origin,
                       args=tuple(parse_arg(a) for a in ns.arg), out_root=ns.out, quiet=ns.quiet)
    return config, source


def load_credentials(keys_path: Path | None) -> dict[str, Any]:
    from fmz_compat.keys import KeysError, load_keys_env, load_keys_file

    try:
        return load_keys_file(keys_path) if keys_path is not None else load_keys_env()
    except KeysError as e:
        raise UsageError(str(e)) from None


class LiveWorld:
    """What runner.run drives: one LiveExchange per binding, no simulator behind them."""

    def __init__(self, exchanges: list[Any]) -> None:
        self.exchanges = exchanges

    def stats(self) -> dict[str, Any]:
        return {"venues": {ex.GetLabel(): {"orders_in_flight": len(ex.in_flight)} for ex in self.exchanges}}

    def close(self) -> None:
        return None


def live_world_factory(credentials: dict[str, Any], *, testnet: bool = False, broker_tag: str = "",
                       client_factory: Any = None) -> Any:
    """A runner WorldFactory: loads markets and checks the account mode of every venue at start.

    Raises ValueError (runner turns it into one line, exit 2) for missing keys, an unsupported
    account mode, or a venue that cannot be reached."""
    import ccxt

    from fmz_compat.live import AccountModeError, LiveExchange, build_client

    make_client = client_factory or build_client

    def factory(sim: SimConfig, clock: Clock, log: LogSink) -> LiveWorld:
        del clock
        venues = []
        for binding in sim.bindings:  # every refusal that needs no network comes first
            venue = _VENUE_BY_EID.get(binding.eid)
            if venue is None:
                raise ValueError(f"{binding.eid} is not a live venue: use one of {', '.join(VENUE_NAMES)}")
            if venue not in credentials:
                raise ValueError(f"no keys for {venue}: add a \"{venue}\" entry to the keys file or set "
                                 f"FMZC_{venue.upper()}_API_KEY and FMZC_{venue.upper()}_SECRET")
            venues.append(venue)
        exchanges = []
        for index, (binding, venue) in enumerate(zip(sim.bindings, venues, strict=True)):
            creds = credentials[venue]
            client = make_client(venue, creds, testnet=testnet, broker_tag=broker_tag)
            ex = LiveExchange(client, venue, binding, log, index, secrets=creds.secrets(),
                              broker_tag=broker_tag)
            try:
                client.load_markets()
                ex.check_account_mode()
            except AccountModeError as e:
                raise ValueError(str(e)) from None
            except ccxt.BaseError as e:
                raise ValueError(ex.redact(f"{binding.eid}: cannot start: {type(e).__name__}: {e}")) from None
            exchanges.append(ex)
        return LiveWorld(exchanges)

    return factory
