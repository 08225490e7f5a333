"""The CLI ends of the shared simulated venues (docs/simulator.md, "Venue server"):

    python -m fmz_compat venue-server --port P [--venues ...] [--symbols ...] [--seed N] [--start T]
                                      [--days D] [--speed X | --lockstep] [--latency node=venue:ms,...]
    python -m fmz_compat backtest|paper STRATEGY --venue-server URL --node NAME [--params ...]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from fmz_compat.cli_args import DEFAULT_START, DEFAULT_SYMBOLS, DEFAULT_VENUES, resolve_symbols, venue_eid
from fmz_compat.core import ExchangeBinding, SimConfig
from fmz_compat.runner import RunConfig, UsageError, market_symbols

DEFAULT_SPEED = 1.0
_SERVER_OWNED = (("start", "--start"), ("end", "--end"), ("duration", "--duration"), ("seed", "--seed"),
                 ("symbols", "--symbols"), ("balance", "--balance"), ("stocks", "--stocks"),
                 ("latency", "--latency"))


def add_venue_server_parser(sub: Any) -> None:
    p = sub.add_parser("venue-server", help="serve the simulated venues to several node processes (loopback)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default 0: any free port; "
                   "the ready line prints the URL)")
    p.add_argument("--venues", help="comma list of binance, bybit, okx, coinex, bitmex or FMZ exchange ids "
                   "(default binance,bybit,okx)")
    p.add_argument("--symbols", help="markets the simulator generates (default BTC_USDT,ETH_USDT)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    p.add_argument("--start", help="simulated start, UTC (default 2024-01-01 00:00:00)")
    p.add_argument("--days", type=float, help="simulated days to serve (default: until stopped)")
    p.add_argument("--speed", type=float,
                   help="simulated seconds per wall second (default 1; 1000 = one day in 86 s)")
    p.add_argument("--lockstep", action="store_true",
                   help="instead of --speed: simulated time moves only when every node sleeps (or waits out "
                   "a link's latency), as fast as the nodes run; the same simulated run however loaded the "
                   "machine is")
    p.add_argument("--lockstep-timeout", type=float, default=10.0, metavar="S",
                   help="with --lockstep: a node running S wall seconds without a request counts as hung and "
                   "time goes on without it until it waits again (default 10)")
    p.add_argument("--latency", default="", metavar="NODE=VENUE:MS,...",
                   help="round-trip simulated ms of node-venue links, e.g. tokyo=binance:5,tokyo=okx:80; "
                   "NODE * applies to every node without its own entry")
    p.add_argument("--balance", type=float, help="starting USDT per venue (default 10000)")
    p.add_argument("--wait-nodes", type=int, default=0, metavar="N",
                   help="hold simulated time at the start until N nodes have connected "
                   "(default 0: start now)")
    p.add_argument("--linger", type=float, metavar="S",
                   help="after the window ends, stop this many wall seconds later "
                   "(default: serve until stopped)")
    p.add_argument("--stats-out", type=Path, metavar="FILE",
                   help="write the final stats (JSON) here at the stop")
    p.add_argument("--quiet", action="store_true", help="do not echo the venues' own log rows")


def server_config(ns: argparse.Namespace) -> tuple[Any, int]:
    """(ServerConfig, port) from the venue-server arguments; UsageError names the fix."""
    from fmz_compat.header import parse_time_ms
    from fmz_compat.sim.server import ServerConfig, parse_latency
    from fmz_compat.sim.world import venue_of

    speed = _checked_pace(ns)
    _check_run_numbers(ns)
    try:
        start_ms = parse_time_ms(ns.start or DEFAULT_START)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    names = ns.venues.split(",") if ns.venues else list(DEFAULT_VENUES)
    bindings = tuple(ExchangeBinding(eid=venue_eid(v), currency="BTC_USDT",
                                     balance=10_000.0 if ns.balance is None else ns.balance) for v in names)
    try:
        venues = {venue_of(b.eid)[0] for b in bindings}
        latency = parse_latency(ns.latency, venues)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sim = SimConfig(seed=ns.seed, start_ms=start_ms, bindings=bindings,
                    symbols=resolve_symbols(ns.symbols or DEFAULT_SYMBOLS))
    end_ms = None if ns.days is None else start_ms + int(ns.days * 86_400_000)
    return ServerConfig(sim=sim, end_ms=end_ms, speed=speed, latency=latency, linger_s=ns.linger,
                        wait_nodes=ns.wait_nodes, lockstep=ns.lockstep,
                        lockstep_drop_s=ns.lockstep_timeout), ns.port


def _checked_pace(ns: argparse.Namespace) -> float:
    """--port, --speed/--lockstep and --lockstep-timeout checked; returns the speed."""
    if not 0 <= ns.port <= 65535:
        raise UsageError(f"--port {ns.port} must be 0..65535 (0 picks a free port)")
    if ns.lockstep and ns.speed is not None:
        raise UsageError("--speed and --lockstep exclude each other: with --lockstep simulated time moves "
                         "when every node sleeps; drop one")
    speed: float = DEFAULT_SPEED if ns.speed is None else ns.speed
    if not speed > 0 or speed > 1_000_000:
        raise UsageError(f"--speed {speed:g} must be more than 0 and at most 1000000 (e.g. 1000)")
    if not ns.lockstep_timeout > 0:
        raise UsageError(f"--lockstep-timeout {ns.lockstep_timeout:g} must be a positive number of seconds")
    return speed


def _check_run_numbers(ns: argparse.Namespace) -> None:
    """--days, --seed, --balance, --wait-nodes and --linger checked."""
    if ns.days is not None and not ns.days > 0:
        raise UsageError(f"--days {ns.days:g} must be a positive number of days (e.g. 1 or 0.25)")
    if ns.seed < 0:
        raise UsageError(f"--seed {ns.seed} must be zero or positive")
    if ns.balance is not None and not ns.balance > 0:
        raise UsageError(f"--balance {ns.balance:g} must be a positive USDT amount")
    if ns.wait_nodes < 0:
        raise UsageError(f"--wait-nodes {ns.wait_nodes} must be zero or a positive number of nodes")
    if ns.linger is not None and ns.linger < 0:
        raise UsageError(f"--linger {ns.linger:g} must be zero or a positive number of seconds")


def main_venue_server(ns: argparse.Namespace) -> int:
    from fmz_compat.sim.server import serve

    cfg, port = server_config(ns)
    try:
        return serve(cfg, port, quiet=ns.quiet, stats_out=ns.stats_out)
    except ValueError as exc:  # a venue or symbol the simulator does not know
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"venue-server cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): "
                         "pick another --port (0 picks a free one)") from None


def node_config(ns: argparse.Namespace, params_json: str | None, origin: str,
                args: tuple[tuple[str, Any], ...]) -> RunConfig:
    """A node's RunConfig before it meets the server: the window and bindings come from there."""
    if not ns.venue_server or not ns.node:
        raise UsageError("--venue-server URL and --node NAME go together: pass both "
                         "(e.g. --venue-server http://127.0.0.1:8700 --node tokyo)")
    for attr, flag in _SERVER_OWNED:
        if getattr(ns, attr, None) is not None:
            raise UsageError(f"{flag} belongs to the venue server (python -m fmz_compat venue-server "
                             f"{flag} ...): drop it from the node's command")
    bindings = tuple(ExchangeBinding(eid=venue_eid(v)) for v in ns.venues.split(",")) if ns.venues else ()
    return RunConfig(mode=ns.command, strategy_path=ns.file, bindings=bindings, start_ms=0, end_ms=None,
                     params_json=params_json, params_origin=origin, args=args, out_root=ns.out,
                     quiet=ns.quiet, venue_server=ns.venue_server, node=ns.node)


def node_run_kwargs(config: RunConfig) -> tuple[RunConfig, dict[str, Any]]:
    """For a node: connect, take the server's window, seed, symbols and accounts (or the --venues
    among them) and return the config with the runner's world_factory and clock. Others: as is."""
    if not config.venue_server:
        return config, {}
    from fmz_compat.remote import RemoteClock, connect, remote_world_factory, server_bindings

    try:
        session = connect(config.venue_server, config.node)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    served = server_bindings(session)
    if config.bindings:
        wanted = [b.eid for b in config.bindings]
        indexes = []
        for eid in wanted:
            hit = [i for i, b in served if b.eid == eid and i not in indexes]
            if not hit:
                served_eids = ", ".join(b.eid for _, b in served)
                raise UsageError(f"--venues: {eid} is not served by {session.url} (it serves {served_eids}): "
                                 "drop it or restart the server with it")
            indexes.append(hit[0])
    else:
        indexes = [i for i, _ in served]
    by_index = dict(served)
    symbols = tuple(session.info["symbols"])
    config = replace(config, bindings=tuple(by_index[i] for i in indexes), start_ms=session.start_ms,
                     end_ms=session.end_ms, seed=int(session.info["seed"]), symbols=symbols)
    missing = [s for s in market_symbols(config) if s not in symbols]
    if missing:
        session.close()
        raise UsageError(f"the parameters trade {', '.join(missing)} but the venue server generates only "
                         f"{', '.join(symbols)}: restart it with --symbols {','.join((*symbols, *missing))}")
    return config, {"world_factory": remote_world_factory(session, indexes), "clock": RemoteClock(session)}
