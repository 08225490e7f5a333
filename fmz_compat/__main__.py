"""The CLI: `python -m fmz_compat backtest|paper FILE [options]` (see docs/runtime.md)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from fmz_compat.cli_args import (
    DEFAULT_DURATION,
    DEFAULT_START,
    DEFAULT_SYMBOLS,
    DEFAULT_VENUES,
    add_strategy_arg_flags,
    resolve_params,
    resolve_symbols,
    strategy_args,
    templates,
    venue_eid,
)
from fmz_compat.cluster_cli import add_cluster_parser
from fmz_compat.core import VENUE_NAMES, ExchangeBinding
from fmz_compat.header import BacktestHeader, parse_duration_s, parse_time_ms
from fmz_compat.live_cli import add_live_parser
from fmz_compat.run_stats import stamp
from fmz_compat.runner import EXIT_USAGE, RunConfig, UsageError, read_strategy, run
from fmz_compat.sim.replay import replay_bindings
from fmz_compat.sim.replay_format import RecordingError, RecordingHeader, read_header
from fmz_compat.venue_cli import add_venue_server_parser, node_config, node_run_kwargs

_VALUE_FLAGS = ("--duration", "--days", "--balance", "--speed", "--seed", "--latency", "--stocks")


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and name the fix."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # "--duration -1d" would read as a flag -1d ("expected one argument"): keep it the value, so the
        # check of the value answers (e.g. "must be positive")
        given, joined = list(sys.argv[1:] if args is None else args), []
        while given:
            item = given.pop(0)
            if item in _VALUE_FLAGS and given and given[0].startswith("-") and given[0][1:2].isdigit():
                item = f"{item}={given.pop(0)}"
            joined.append(item)
        return super().parse_known_args(joined, namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m fmz_compat", description="Run an FMZ Python strategy locally.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in (
        ("backtest", "run on the simulator in virtual time"),
        ("paper", "run on the simulator in real time until Ctrl-C"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("file", type=Path, help="strategy .py file (exec'd as __main__)")
        add_strategy_arg_flags(p)
        if name == "backtest":
            p.add_argument(
                "--start", help=f"window start, UTC (default {DEFAULT_START} or the file's header)"
            )
            p.add_argument("--end", help="window end, UTC")
            p.add_argument(
                "--duration", help=f"window length such as 90s, 45m, 6h, 7d (default {DEFAULT_DURATION})"
            )
        p.add_argument(
            "--latency",
            type=int,
            metavar="MS",
            help="virtual milliseconds each exchange call takes (default 0; set it for loops without Sleep)",
        )
        if name == "backtest":
            p.add_argument(
                "--replay", type=Path, metavar="RECORDING",
                help="replay a recording (python -m tools.record) instead of the synthetic market: "
                "venues, symbols and the window come from it",
            )
        p.add_argument("--seed", type=int, help="simulator seed (default 1)")
        p.add_argument("--synthetic-prices", action="store_true",
                       help="keep the simulator's synthetic price levels instead of the real ones at the "
                       "window's date (docs/simulator.md, fmz_compat.sim.history)")
        p.add_argument(
            "--venues",
            help=f"comma list of {', '.join(VENUE_NAMES)} (default: the header's "
            f"exchanges, else {','.join(DEFAULT_VENUES)}); each with its pair after a colon, "
            "binance:BTC_USD (default BTC_USDT)",
        )
        p.add_argument("--symbols", help=f"markets the simulator generates (default {DEFAULT_SYMBOLS}; "
                       "with --replay: the recorded ones)")
        p.add_argument(
            "--balance", type=float, help="starting USDT per venue (default 10000 or the header's)"
        )
        p.add_argument(
            "--stocks", type=float, help="starting base coin per venue (spot, coin-margined; default 0)"
        )
        p.add_argument(
            "--out", type=Path, default=Path("runs"), help="folder for robot folders (default runs/)"
        )
        p.add_argument("--quiet", action="store_true", help="do not echo robot log lines")
        p.add_argument("--venue-server", metavar="URL",
                       help="trade the accounts of a running venue server (python -m fmz_compat "
                       "venue-server) on its clock, as node --node; its venues, symbols, seed, window apply")
        p.add_argument("--node", help="this node's name on the venue server (e.g. tokyo)")
        _add_dashboard_args(p, "--dashboard", "serve the robot page while it runs (default host 127.0.0.1)")
    _add_dashboard_args(add_live_parser(sub), "--dashboard", "serve the robot page while it runs "
                        "(default host 127.0.0.1)")
    add_venue_server_parser(sub)
    add_cluster_parser(sub)
    d = sub.add_parser("dashboard", help="serve the robot page of a robot folder (runs/ID)")
    d.add_argument("run_dir", type=Path, help="robot folder, e.g. runs/1")
    _add_dashboard_args(d, "--listen", "address to serve on (default 127.0.0.1:8765)")
    return parser


def _add_dashboard_args(p: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    p.add_argument(flag, dest="dashboard", metavar="[HOST:]PORT", help=help_text,
                   default="127.0.0.1:8765" if flag == "--listen" else None)
    p.add_argument("--dashboard-token", help="token the page and its buttons need (required off loopback; "
                   "default: env FMZ_DASHBOARD_TOKEN, else one is made and printed once)")


def resolve_window(ns: argparse.Namespace, header: BacktestHeader | None) -> tuple[int, int]:
    try:
        if ns.end and ns.duration:
            raise UsageError("pass --end or --duration, not both")
        if ns.start:
            start_ms = parse_time_ms(ns.start)
        elif header and header.start_ms is not None:
            start_ms = header.start_ms  # --end / --duration count from the header's start
        else:
            start_ms = parse_time_ms(DEFAULT_START)
        if ns.end:
            end_ms = parse_time_ms(ns.end)
        elif ns.duration:
            end_ms = start_ms + parse_duration_s(ns.duration) * 1000
        elif not ns.start and header and header.end_ms is not None and header.start_ms is not None:
            end_ms = header.end_ms
        else:
            end_ms = start_ms + parse_duration_s(DEFAULT_DURATION) * 1000
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if end_ms <= start_ms:
        raise UsageError(
            f"the window end must be after its start (got {ns.start or 'start'} -> {ns.end or 'end'})"
        )
    return start_ms, end_ms


def _binding(item: str) -> ExchangeBinding:
    """One --venues entry: a venue or FMZ exchange id, optionally its pair after a colon (okx:BTC_USD)."""
    name, _, pair = item.partition(":")
    pair = pair.strip().upper() or "BTC_USDT"
    try:
        resolve_symbols(pair)
    except UsageError:
        raise UsageError(f"--venues {item.strip()}: the pair after ':' is BASE_QUOTE such as "
                         "BTC_USD") from None
    return ExchangeBinding(eid=venue_eid(name), currency=pair)


def resolve_bindings(ns: argparse.Namespace, header: BacktestHeader | None) -> tuple[ExchangeBinding, ...]:
    if ns.venues:
        bindings = tuple(_binding(v) for v in ns.venues.split(","))
    elif header and header.exchanges:
        bindings = header.exchanges
    else:
        bindings = tuple(ExchangeBinding(eid=VENUE_NAMES[v], currency="BTC_USDT") for v in DEFAULT_VENUES)
    if ns.balance is not None:
        if ns.balance <= 0:
            raise UsageError(f"--balance {ns.balance:g} must be a positive USDT amount")
        bindings = tuple(replace(b, balance=ns.balance) for b in bindings)
    if ns.stocks is not None:
        if ns.stocks < 0:
            raise UsageError(f"--stocks {ns.stocks:g} must be zero or a positive coin amount")
        bindings = tuple(replace(b, stocks=ns.stocks) for b in bindings)
    return bindings


def resolve_replay(ns: argparse.Namespace) -> tuple[RecordingHeader, int, int, tuple[ExchangeBinding, ...]]:
    """The recording's header, the window inside it and one binding per (chosen) recorded venue."""
    try:
        rec = read_header(ns.replay)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    start_ms, end_ms = _replay_window(ns, rec)
    if not rec.start_ms <= start_ms < end_ms <= rec.end_ms:
        raise UsageError(
            f"window {stamp(start_ms)} -> {stamp(end_ms)} is not inside the recording "
            f"({stamp(rec.start_ms)} -> {stamp(rec.end_ms)}): narrow --start/--end/--duration "
            "or drop them to replay all of it"
        )
    venues = _replay_venues(ns, rec)
    if ns.stocks is not None:
        raise UsageError("--stocks is for spot and coin-margined bindings; a replay has USDT perpetuals only")
    if ns.balance is not None and ns.balance <= 0:
        raise UsageError(f"--balance {ns.balance:g} must be a positive USDT amount")
    return rec, start_ms, end_ms, replay_bindings(rec, venues, ns.balance)


def _replay_window(ns: argparse.Namespace, rec: RecordingHeader) -> tuple[int, int]:
    """(start_ms, end_ms) from --start/--end/--duration, the recording's own window by default."""
    try:
        if ns.end and ns.duration:
            raise UsageError("pass --end or --duration, not both")
        start_ms = parse_time_ms(ns.start) if ns.start else rec.start_ms
        if ns.end:
            end_ms = parse_time_ms(ns.end)
        elif ns.duration:
            end_ms = start_ms + parse_duration_s(ns.duration) * 1000
        else:
            end_ms = rec.end_ms
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return start_ms, end_ms


def _replay_venues(ns: argparse.Namespace, rec: RecordingHeader) -> tuple[str, ...] | None:
    """The --venues chosen from the recording's; None for all of them."""
    if not ns.venues:
        return None
    venues = tuple(v.strip().lower() for v in ns.venues.split(","))
    missing = [v for v in venues if v not in rec.venues]
    if missing:
        raise UsageError(f"--venues {ns.venues}: {', '.join(missing)} not in the recording "
                         f"(it has {', '.join(rec.venues)})")
    return venues


def config_from_args(argv: list[str]) -> tuple[RunConfig, str]:
    ns = build_parser().parse_args(argv)
    source, header = read_strategy(ns.file)
    params_json, origin = resolve_params(ns.params, ns.file)
    args = strategy_args(ns, header)
    replay = getattr(ns, "replay", None)
    if ns.venue_server is not None or ns.node is not None:
        if replay is not None:
            raise UsageError("--replay runs its own market in this process: drop --venue-server/--node")
        return node_config(ns, params_json, origin, args), source
    if replay is not None:
        _rec, start_ms, end_ms, bindings = resolve_replay(ns)
        symbols = resolve_symbols(ns.symbols) if ns.symbols else ()
    elif ns.command == "backtest":
        start_ms, end_ms = resolve_window(ns, header)
    else:
        start_ms, end_ms = 0, None
    if replay is None:
        bindings = resolve_bindings(ns, header)
        symbols = resolve_symbols(ns.symbols or DEFAULT_SYMBOLS)
    seed = 1 if ns.seed is None else ns.seed
    latency = 0 if ns.latency is None else ns.latency
    if seed < 0:
        raise UsageError(f"--seed {seed} must be zero or positive")
    if latency < 0:
        raise UsageError(f"--latency {latency} must be zero or a positive number of milliseconds")
    config = RunConfig(
        mode=ns.command,
        strategy_path=ns.file,
        bindings=bindings,
        start_ms=start_ms,
        end_ms=end_ms,
        seed=seed,
        symbols=symbols,
        params_json=params_json,
        params_origin=origin,
        args=args,
        out_root=ns.out,
        quiet=ns.quiet,
        latency_ms=latency,
        replay=replay,
        period_s=header.period_s if header else None,
        templates=templates(ns)[0],
        dated_prices=not ns.synthetic_prices,
    )
    return config, source


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["dashboard"]:
            from fmz_compat.dashboard.cli import serve_folder

            ns = build_parser().parse_args(argv)
            return serve_folder(ns.run_dir, ns.dashboard, ns.dashboard_token)
        if argv[:1] == ["live"]:
            return _main_live(build_parser().parse_args(argv))
        if argv[:1] == ["venue-server"]:
            from fmz_compat.venue_cli import main_venue_server

            return main_venue_server(build_parser().parse_args(argv))
        if argv[:1] == ["cluster"]:
            from fmz_compat.cluster_cli import main_cluster

            return main_cluster(build_parser().parse_args(argv))
        config, source = config_from_args(argv)
        ns = build_parser().parse_args(argv)
        config, extra = node_run_kwargs(config)  # a node: the venue server's window, world and clock
        if ns.dashboard is not None:
            from fmz_compat.dashboard.cli import run_with_dashboard

            return run_with_dashboard(config, source, ns.dashboard, ns.dashboard_token, **extra)
        return run(config, source=source, **extra).exit_code
    except UsageError as exc:
        print(f"fmz_compat: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _main_live(ns: argparse.Namespace) -> int:
    from fmz_compat.live_cli import main_live

    return main_live(ns)


if __name__ == "__main__":
    sys.exit(main())
