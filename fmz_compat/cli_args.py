"""What the command lines of `python -m fmz_compat` share (backtest, paper, live, venue-server, cluster):
the defaults, the strategy-argument flags (--params, --args, --arg, --template) and reading them, venue
and symbol names. Every error is a UsageError of one line naming the fix."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from fmz_compat.core import VENUE_NAMES
from fmz_compat.header import BacktestHeader
from fmz_compat.runner import UsageError, read_strategy
from fmz_compat.strategy_args import ArgsFileError, read_args_file

DEFAULT_START = "2024-01-01 00:00:00"
DEFAULT_DURATION = "7d"
DEFAULT_VENUES = ("binance", "bybit", "okx")
DEFAULT_SYMBOLS = "BTC_USDT,ETH_USDT"
_SYMBOL = re.compile(r"^[A-Z0-9]+_[A-Z0-9]+$")
_EID = re.compile(r"^[A-Z][A-Za-z0-9]*(_[A-Za-z0-9]+)?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_strategy_arg_flags(p: argparse.ArgumentParser, params_default: bool = True) -> None:
    """--params (this project's own PARAMS) and --args/--arg (FMZ strategy arguments)."""
    p.add_argument(
        "--params",
        help="this project's PARAMS global (one string argument holding JSON): a JSON document or the "
        "path of one" + (" (default: params.json beside FILE, if present)" if params_default else ""),
    )
    p.add_argument(
        "--args", dest="args_file", type=Path, metavar="FILE",
        help="FMZ strategy arguments, each its own global: a JSON file {\"Name\": value, ...} or FMZ's "
        "args table [[\"Name\", value], ...] (also a robot settings object with \"args\")",
    )
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one FMZ strategy argument (overrides --args and the header's args); VALUE is read as "
        "JSON when it parses, else a string",
    )
    p.add_argument(
        "--template", action="append", default=[], type=Path, metavar="FILE",
        help="an FMZ template library (repeatable, in order): its module code and init() run before "
        "the strategy's, and what it exports on ext (ext.Buy = Buy) is the strategy's ext",
    )


def templates(ns: argparse.Namespace) -> tuple[tuple[Path, ...], tuple[tuple[str, Any], ...]]:
    """The --template files, checked like a strategy, and the args their headers declare."""
    paths, args = [], []
    for path in getattr(ns, "template", []):
        _source, header = read_strategy(path)
        paths.append(path)
        args.extend(header.args if header else ())
    return tuple(paths), tuple(args)


def strategy_args(ns: argparse.Namespace,
                  header: BacktestHeader | None = None) -> tuple[tuple[str, Any], ...]:
    """The templates' header args, the strategy header's, then --args FILE, then each --arg:
    later ones win."""
    from_file: tuple[tuple[str, Any], ...] = ()
    if getattr(ns, "args_file", None) is not None:
        try:
            from_file = read_args_file(ns.args_file)
        except ArgsFileError as exc:
            raise UsageError(str(exc)) from None
    return (templates(ns)[1] + tuple(header.args if header else ()) + from_file
            + tuple(parse_arg(a) for a in ns.arg))


def resolve_params(value: str | None, strategy: Path) -> tuple[str | None, str]:
    """(PARAMS JSON text, one line saying where it came from)."""
    if value is None:
        beside = strategy.parent / "params.json"
        if not beside.is_file():
            return None, ""
        return _read_json_file(beside, "params.json beside the strategy"), f"using params from {beside}"
    text = value.strip()
    if text.startswith(("{", "[")):
        _check_json(text, "--params")
        return text, "using params from --params"
    path = Path(value)
    if not path.is_file():
        raise UsageError(
            f"--params {value!r} is neither JSON nor an existing file: pass a JSON document or a path"
        )
    return _read_json_file(path, f"--params {path}"), f"using params from {path}"


def _read_json_file(path: Path, what: str) -> str:
    text = path.read_text(encoding="utf-8")
    _check_json(text, what)
    return text


def _check_json(text: str, what: str) -> None:
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def parse_arg(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    name = name.strip()
    if not sep or not _IDENTIFIER.match(name):
        raise UsageError(
            f"--arg {item!r} must be NAME=VALUE with NAME a Python identifier, e.g. --arg Interval=500"
        )
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def venue_eid(name: str) -> str:
    """'binance' -> Futures_Binance; an FMZ exchange id such as 'Binance' (spot) passes through."""
    name = name.strip()
    if name.lower() in VENUE_NAMES and name == name.lower():
        return VENUE_NAMES[name]
    if _EID.match(name):
        return name
    raise UsageError(
        f"unknown venue {name or '(empty)'}: choose from {', '.join(VENUE_NAMES)} "
        "or give an FMZ exchange id such as Futures_OKX or Binance"
    )


def resolve_symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    bad = [s for s in symbols if not _SYMBOL.match(s)]
    if bad or not symbols:
        raise UsageError(f"--symbols {text!r}: use FMZ pairs such as BTC_USDT,ETH_USDT")
    return symbols
