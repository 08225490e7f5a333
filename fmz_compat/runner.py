"""Run one strategy file as an FMZ robot: globals injected, entry points in FMZ's order.

Order: module code, init(), main(), onexit(). EOFError (end of the backtest window) from anywhere
ends the run cleanly; Ctrl-C / SIGTERM stop it and run onexit(); `exit()` in the strategy stops it;
an uncaught exception writes its traceback to the robot log and the run exits 1.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import signal
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from fmz_compat.api import Runtime
from fmz_compat.core import (
    LOG_TYPE_ERROR,
    BacktestClock,
    Clock,
    ExchangeBinding,
    LogSink,
    RealClock,
    RunStopped,
    SimConfig,
    StopAwareClock,
    disarm_leave_handler,
)
from fmz_compat.header import BacktestHeader, HeaderError, parse_header
from fmz_compat.progress import ProgressBar
from fmz_compat.report import strategy_accounting, write_report
from fmz_compat.run_stats import summary_figures, summary_lines, utc_text
from fmz_compat.source_check import (
    PY2_ONLY_MODULES,
    import_problem,
    missing_module_message,
    python2_message,
    python2_shebang,
)
from fmz_compat.store import RobotStore

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_PY2_MARKERS = (
    re.compile(r"^\s*print\s+[^\s(=.,)\]]", re.MULTILINE),  # print statement
    re.compile(r"^\s*exec\s+[\"'A-Za-z_]", re.MULTILINE),  # exec statement
    re.compile(r"except\s+[\w.]+\s*,\s*\w+\s*:"),  # except E, e:
    re.compile(r"\braise\s+\w+\s*,"),  # raise E, "msg"
    re.compile(r"\bur[\"']"),  # ur"" literals
    re.compile(r"<>"),
    re.compile(r"^#!.*python2", re.MULTILINE),
)


_URL_PASSWORD = re.compile(r"//([^:@/\"]*):[^@/\"]*@")


class UsageError(Exception):
    """Bad input to a run: printed as one line, exit code 2."""


class World(Protocol):
    exchanges: list[Any]

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


WorldFactory = Callable[[SimConfig, Clock, LogSink], World]


@dataclass(frozen=True)
class RunConfig:
    mode: str  # "backtest" | "paper"
    strategy_path: Path
    bindings: tuple[ExchangeBinding, ...]
    start_ms: int
    end_ms: int | None  # None in paper mode: until stopped
    seed: int = 1
    symbols: tuple[str, ...] = ("BTC_USDT", "ETH_USDT")
    params_json: str | None = None
    params_origin: str = ""
    args: tuple[tuple[str, Any], ...] = ()
    out_root: Path = Path("runs")
    quiet: bool = False
    latency_ms: int = 0  # virtual time each exchange call takes (lets Sleep-less loops progress)
    replay: Path | None = None  # a recording (tools.record) replaces the synthetic market
    venue_server: str = ""  # a node of a venue server (fmz_compat.remote): its URL
    node: str = ""  # and this node's name there
    period_s: int | None = None  # the header's `period`: GetRecords' default period (FMZ: 1h)
    templates: tuple[Path, ...] = ()  # FMZ template libraries bound to the strategy (--template)
    dated_prices: bool = True  # the simulator starts (and follows) real prices at the window's date

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["strategy_path"] = str(self.strategy_path)
        data["out_root"] = str(self.out_root)
        data["replay"] = str(self.replay) if self.replay is not None else None
        data["bindings"] = [asdict(b) for b in self.bindings]
        if self.params_json:  # a cluster's redis_url carries its password: run.json and report.html show this
            data["params_json"] = _URL_PASSWORD.sub(r"//\1:***@", self.params_json)
        data["templates"] = [str(t) for t in self.templates]
        return data


@dataclass
class RunResult:
    exit_code: int
    robot_id: int
    robot_dir: Path
    db_path: Path
    report_path: Path
    stats: dict[str, Any] = field(default_factory=dict)
    ended_by: str = ""
    window: dict[str, Any] = field(default_factory=dict)
    final_words: list[str] = field(default_factory=list)  # what the strategy logged in onexit()


def read_strategy(path: Path) -> tuple[str, BacktestHeader | None]:
    """The source and its backtest header; UsageError for a missing, Python 2 or unparsable file."""
    if not path.is_file():
        raise UsageError(f"strategy file {path} not found: pass the path of a .py strategy")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"strategy file {path} is not UTF-8 text: save it as UTF-8") from None
    if python2_shebang(source):  # FMZ runs it under python2 even when it would compile under 3
        raise UsageError(python2_message(path, "line 1: " + source.split("\n", 1)[0].strip()))
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        if looks_like_python2(source):
            raise UsageError(python2_message(path, f"line {exc.lineno}: {exc.msg}")) from None
        raise UsageError(f"{path} line {exc.lineno}: {exc.msg}: fix the syntax error") from None
    problem = import_problem(path, source)
    if problem is not None:
        raise UsageError(problem)
    try:
        header = parse_header(source)
    except HeaderError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return source, header


def looks_like_python2(source: str) -> bool:
    return any(marker.search(source) for marker in _PY2_MARKERS)


def next_robot_id(out_root: Path) -> int:
    existing = (
        [int(p.name) for p in out_root.iterdir() if p.is_dir() and p.name.isdigit()]
        if out_root.is_dir()
        else []
    )
    return max(existing, default=0) + 1


def replay_factory(path: Path) -> WorldFactory:
    from fmz_compat.sim.replay import replay_world_factory
    from fmz_compat.sim.replay_format import RecordingError

    try:
        return replay_world_factory(path)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None


def default_world_factory() -> WorldFactory:
    from fmz_compat.sim import create_world

    return create_world


class _Stop(BaseException):
    """Raised from the SIGTERM handler so that `except Exception` in a strategy cannot swallow it."""


@contextmanager
def _signals_stop(clock: StopAwareClock) -> Iterator[None]:
    """SIGTERM and Ctrl-C stop the run; a strategy that swallows the stop gets it again (RunStopped)."""
    def on_term(signum: int, frame: Any) -> None:
        clock.request_stop("stopped")
        raise _Stop()

    def on_int(signum: int, frame: Any) -> None:
        clock.request_stop("stopped")
        raise KeyboardInterrupt()

    handlers = [(signal.SIGTERM, on_term)]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # leave an ignored/custom Ctrl-C be
        handlers.append((signal.SIGINT, on_int))
    try:
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _virtual_time_module(runtime: Runtime, g: dict[str, Any], source: str = "") -> Iterator[None]:
    """In a backtest, `import time` and `import datetime` inside the strategy follow the virtual clock:
    time()/time_ns()/sleep()/monotonic() and the no-argument localtime()/gmtime()/ctime()/strftime(),
    datetime.now()/utcnow()/today() and date.today(). FMZ's backtester replaces time.time the same way;
    strategies measure intervals and stamp days with them, and a backtest must not read the wall clock.
    Modules imported before the run keep the real modules."""
    clock = runtime.clock
    if not clock.is_virtual:
        yield
        return
    real_time, real_datetime = sys.modules["time"], sys.modules["datetime"]
    _preimport_libraries(source)
    time_proxy = _virtual_time(real_time, clock)
    datetime_proxy = _virtual_datetime(real_datetime, clock)
    sys.modules["time"], sys.modules["datetime"] = time_proxy, datetime_proxy
    g["time"] = time_proxy
    try:
        yield
    finally:
        sys.modules["time"], sys.modules["datetime"] = real_time, real_datetime


def _preimport_libraries(source: str) -> None:
    """Libraries keep the real datetime/time: import the strategy's heavy ones before the swap."""
    import importlib

    source_names = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", source, re.MULTILINE))
    for name in ("numpy", "pandas", "talib", "scipy", "matplotlib", "requests", "websocket", "ccxt"):
        if name in source_names and name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # the strategy's own import will say what is wrong
                pass


def _virtual_time(real: types.ModuleType, clock: Clock) -> types.ModuleType:
    proxy = types.ModuleType("time", real.__doc__)
    proxy.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    now_s = lambda: clock.now_ns() / 1e9
    proxy.time = now_s
    proxy.time_ns = clock.now_ns
    proxy.monotonic = now_s
    proxy.monotonic_ns = clock.now_ns
    proxy.sleep = lambda seconds: clock.sleep(float(seconds) * 1000)
    proxy.localtime = lambda secs=None: real.localtime(now_s() if secs is None else secs)
    proxy.gmtime = lambda secs=None: real.gmtime(now_s() if secs is None else secs)
    proxy.ctime = lambda secs=None: real.ctime(now_s() if secs is None else secs)
    proxy.strftime = lambda fmt, t=None: real.strftime(fmt, real.localtime(now_s()) if t is None else t)
    return proxy


def _virtual_datetime(real: types.ModuleType, clock: Clock) -> types.ModuleType:
    class _RealInstances(type):  # isinstance(x, datetime.datetime) holds for every real datetime too
        def __instancecheck__(cls, obj: Any) -> bool:
            return isinstance(obj, cls.__mro__[1])

        def __subclasscheck__(cls, sub: Any) -> bool:
            return issubclass(sub, cls.__mro__[1])

    class datetime(real.datetime, metaclass=_RealInstances):  # noqa: N801 - stands in for datetime.datetime
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return cls.fromtimestamp(clock.now_ns() / 1e9, tz)

        @classmethod
        def utcnow(cls) -> Any:
            return cls.fromtimestamp(clock.now_ns() / 1e9, real.timezone.utc).replace(tzinfo=None)

        @classmethod
        def today(cls) -> Any:
            return cls.now()

    class date(real.date, metaclass=_RealInstances):  # noqa: N801
        @classmethod
        def today(cls) -> Any:
            return cls.fromtimestamp(clock.now_ns() / 1e9)

    proxy = types.ModuleType("datetime", real.__doc__)
    proxy.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    proxy.datetime, proxy.date = datetime, date
    return proxy


@contextmanager
def _strategy_on_path(folder: Path) -> Iterator[None]:
    entry = str(folder.resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        try:
            sys.path.remove(entry)
        except ValueError:
            pass


def build_strategy_globals(runtime: Runtime, config: RunConfig, source: str | None = None) -> dict[str, Any]:
    """`source`: the strategy's text, so that `talib` is imported only when it or a template names it."""
    sources = None if source is None else [source, *_template_sources(config)]
    g = runtime.build_globals(sources)
    g["__name__"] = "__main__"
    g["__file__"] = str(config.strategy_path)
    g["__builtins__"] = __builtins__
    for name, value in config.args:
        g[name] = value
    if config.params_json is not None:
        g["PARAMS"] = config.params_json
    return g


def run(
    config: RunConfig,
    *,
    world_factory: WorldFactory | None = None,
    out: Callable[[str], None] = print,
    source: str | None = None,
    on_runtime: Callable[[Runtime], None] | None = None,
    clock: Clock | None = None,
) -> RunResult:
    """Run the strategy to its end; never raises for strategy failures (see RunResult.exit_code).

    `clock` replaces the mode's own (a node follows its venue server's clock)."""
    if source is None:
        source, _header = read_strategy(config.strategy_path)
    factory = world_factory or (replay_factory(config.replay) if config.replay is not None
                                else default_world_factory())
    if config.replay is None and not config.venue_server:
        config = replace(config, symbols=tuple(dict.fromkeys((*config.symbols,
                                                              *named_pairs(source, config.args)))))
    alerts = _alerts_config(config)  # a bad alerts file is refused before anything is made
    robot_id, robot_dir = _robot_folder(config.out_root)
    db_path = robot_dir / f"{robot_id}.db3"
    result = RunResult(EXIT_OK, robot_id, robot_dir, db_path, robot_dir / "report.html")

    if clock is None:
        clock = _mode_clock(config)
    clock = StopAwareClock(clock)
    store = RobotStore(db_path)
    runtime = Runtime(clock=clock, store=store, robot_id=robot_id, echo=None if config.quiet else out)
    runtime.latency_ms = config.latency_ms
    notifier = _notifier(alerts, robot_dir, robot_id, clock, runtime)
    start_ms = config.start_ms if config.mode == "backtest" or config.venue_server else \
        clock.now_ns() // 1_000_000
    sim_config = SimConfig(
        seed=config.seed,
        start_ms=start_ms,
        bindings=config.bindings,
        symbols=market_symbols(config),
        latency_ms=config.latency_ms,
        dated_prices=config.dated_prices and config.replay is None,
    )
    try:
        world = factory(sim_config, clock, runtime)
    except ValueError as exc:  # an exchange or symbol the simulator does not know
        store.close()
        shutil.rmtree(robot_dir, ignore_errors=True)
        raise UsageError(str(exc)) from None
    _bind_exchanges(runtime, world, config)
    if on_runtime is not None:  # the dashboard (and tests) get the runtime to queue commands
        on_runtime(runtime)
    _announce(config, robot_id, robot_dir, world, sim_config, out)

    g = build_strategy_globals(runtime, config, source)
    progress = ProgressBar(clock, config.start_ms, config.end_ms) if config.mode == "backtest" else None
    try:
        if progress is not None:
            progress.start()
        result.exit_code, result.ended_by = _run_entry_points(config, source, g, runtime, result)
    finally:
        if progress is not None:
            progress.stop()
        _close_run(config, result, runtime, notifier, world, store, start_ms, clock, out)
    out(summary_text(config, result))
    return result


def _robot_folder(out_root: Path) -> tuple[int, Path]:
    """The next robot id and its folder, made (another run in the same folder may take an id between the
    scan and the mkdir: the next one is tried)."""
    out_root.mkdir(parents=True, exist_ok=True)
    robot_id = next_robot_id(out_root)
    while True:
        robot_dir = out_root / str(robot_id)
        try:
            robot_dir.mkdir(parents=True, exist_ok=False)
            return robot_id, robot_dir
        except FileExistsError:
            robot_id += 1


def _notifier(alerts: Any, robot_dir: Path, robot_id: int, clock: Clock, runtime: Runtime) -> Any:
    """Log("...@") in paper and live: the alerts channels, recorded in alerts.jsonl; None without alerts."""
    if alerts is None:
        return None
    from fmz_compat.alerts import Notifier

    notifier = Notifier(alerts, robot_dir / "alerts.jsonl", robot=f"robot {robot_id}",
                        now_ms=lambda: clock.now_ns() // 1_000_000)
    runtime.on_push = notifier.push
    return notifier


def _bind_exchanges(runtime: Runtime, world: Any, config: RunConfig) -> None:
    """The world's exchanges join the runtime, hear its go() completions (and their books' moved tops) and
    take --period."""
    runtime.exchanges.extend(world.exchanges)
    for exchange in world.exchanges:
        try:
            exchange.go_listener = runtime.go_done
        except AttributeError:  # an exchange stand-in with slots
            pass
        if hasattr(exchange, "book_listener"):  # live exchanges with websocket books: "Book" events
            exchange.book_listener = runtime.book_moved
    if config.period_s:
        for exchange in world.exchanges:
            if hasattr(exchange, "period_s"):
                exchange.period_s = config.period_s


def _announce(config: RunConfig, robot_id: int, robot_dir: Path, world: Any, sim_config: SimConfig,
              out: Callable[[str], None]) -> None:
    """The run's first lines, and robot.json: what the robot page of this folder shows while it runs
    (run.json is written when it stops)."""
    out(f"robot {robot_id}: {config.mode} {config.strategy_path} -> {robot_dir}")
    (robot_dir / "robot.json").write_text(json.dumps({
        "robot_id": robot_id, "mode": config.mode, "strategy": config.strategy_path.name,
        "venues": [b.label or b.eid for b in config.bindings], "node": config.node}), encoding="utf-8")
    if getattr(world, "price_levels", None):
        from fmz_compat.sim.history import describe

        for line in describe(world.price_levels):
            out(line)
    if config.params_origin:
        out(config.params_origin)
    if config.replay is None and not config.venue_server and config.mode in ("backtest", "paper"):
        from fmz_compat.sim.params import invented_note

        for line in invented_note(sim_config.symbols):  # a coin without a real market: say so first
            out(line)


def _close_run(config: RunConfig, result: RunResult, runtime: Runtime, notifier: Any, world: Any,
               store: RobotStore, start_ms: int, clock: Clock, out: Callable[[str], None]) -> None:
    """After the strategy stopped: connections and alerts closed, the world's stats kept, the outputs
    written, the stop's reason shown when a quiet run failed, the store closed."""
    runtime.close_connections()
    if notifier is not None:
        notifier.close()
    try:
        result.stats = _plain(world.stats())
    finally:
        world.close()
    _write_outputs(config, result, store, start_ms, clock)
    if result.exit_code != EXIT_OK and config.quiet:  # not echoed yet: the user must see why
        for line in _stop_reason(store, result.exit_code):
            out(line)
    store.close()


def _alerts_config(config: RunConfig) -> Any:
    """The alerts file of env FMZ_ALERTS for a paper or live run (a backtest never pushes); None without."""
    if config.mode == "backtest":
        return None
    from fmz_compat.alerts import AlertsConfigError, config_from_env

    try:
        return config_from_env()
    except AlertsConfigError as exc:
        raise UsageError(str(exc)) from None


def _mode_clock(config: RunConfig) -> Clock:
    if config.mode != "backtest":
        return RealClock()
    if config.end_ms is None:
        raise UsageError("a backtest needs an end time: pass --end or --duration")
    return BacktestClock(config.start_ms * 1_000_000, config.end_ms * 1_000_000)


def _stop_reason(store: RobotStore, exit_code: int) -> list[str]:
    """The log line(s) that explain a non-zero exit: the traceback of a crash, else the last words."""
    if exit_code == EXIT_CRASH:
        return [row["Extra"] for row in store.logs(limit=1, log_types=[LOG_TYPE_ERROR])]
    rows = [row["Extra"] for row in store.logs(limit=3) if not str(row["Extra"]).startswith("robot stopping")]
    return rows[:1]


def market_symbols(config: RunConfig) -> tuple[str, ...]:
    """--symbols, every pair an exchange is bound to, and the pairs the parameter document lists
    under "symbols" (so adding a symbol to params.json is enough on the simulator), in order."""
    return tuple(dict.fromkeys((*config.symbols, *(b.currency for b in config.bindings),
                                *_params_symbols(config.params_json))))


_NAMED_PAIR = re.compile(r"\b([A-Z0-9]{2,15}_USDT)\b")


def named_pairs(source: str, args: tuple[tuple[str, Any], ...] = ()) -> list[str]:
    """USDT pairs the strategy names in its string literals and argument values: the simulator lists
    them from the start, so `IO("currency", "XRP_USDT")` or `GetTicker("SOL_USDT.swap")` finds them.
    A strategy that builds pairs (`coin + "_USDT"`) gets every coin the simulator knows by name among
    its strings (`["SOL", "DOGE"]`, an argument "SOL,DOGE")."""
    texts = [value for name, value in args if isinstance(value, str)]
    try:
        texts += [node.value for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    except SyntaxError:
        pass
    pairs = [m for text in texts for m in _NAMED_PAIR.findall(text)]
    if any(text.startswith("_USDT") for text in texts):
        from fmz_compat.sim.params import known_coins

        words = {word for text in texts for word in re.split(r"[\s,;|]+", text.upper()) if word}
        pairs += [f"{coin}_USDT" for coin in sorted(words & known_coins())]
    return list(dict.fromkeys(pairs))


def _params_symbols(params_json: str | None) -> list[str]:
    try:
        document = json.loads(params_json) if params_json else None
    except ValueError:
        return []
    listed = document.get("symbols") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        return []
    return [s for s in listed if isinstance(s, str) and re.fullmatch(r"[A-Z0-9]+_[A-Z]+", s)]


def _run_entry_points(config: RunConfig, source: str, g: dict[str, Any], runtime: Runtime,
                      result: RunResult | None = None) -> tuple[int, str]:
    code = compile(source, str(config.strategy_path), "exec")
    template_sources = _template_sources(config)
    templates = [(path, compile(text, str(path), "exec"))
                 for path, text in zip(config.templates, template_sources, strict=True)]
    clock = runtime.clock if isinstance(runtime.clock, StopAwareClock) else StopAwareClock(runtime.clock)
    interrupted_code = EXIT_OK if config.mode == "paper" else EXIT_INTERRUPTED
    with (
        _strategy_on_path(config.strategy_path.parent),
        _signals_stop(clock),
        _virtual_time_module(runtime, g, "\n".join([source, *template_sources])),
    ):
        try:
            _call_entry_points(templates, code, g)
            ended = (EXIT_OK, "main() returned")
        except EOFError as exc:
            ended = (EXIT_OK, str(exc) or "backtest window ended")
        except RunStopped as exc:
            disarm_leave_handler()
            ended = (interrupted_code if exc.reason == "stopped" else EXIT_OK,
                     f"{exc.reason} (the strategy caught the stop and went on {clock.swallowed} times: "
                     "a bare except: or except Exception around API calls)")
        except ModuleNotFoundError as exc:  # an import the source check could not see (dynamic ones)
            return _module_not_found(exc, config, runtime)
        except (KeyboardInterrupt, _Stop):
            ended = (interrupted_code, "stopped")
        except SystemExit as exc:
            ended = (
                _system_exit_code(exc),
                f"exit({exc.code!r}) called" if exc.code is not None else "exit()",
            )
        except BaseException:  # Exception, and a strategy's own BaseException subclasses
            disarm_leave_handler()
            _log_traceback(runtime, config)
            return EXIT_CRASH, "uncaught exception"
        runtime.log(5, f"robot stopping: {ended[1]}")
        onexit = g.get("onexit")
        if callable(onexit):
            crashed = _run_onexit(onexit, config, clock, runtime, result)
            if crashed is not None:
                return crashed
        return ended


def _call_entry_points(templates: list[tuple[Path, Any]], code: Any, g: dict[str, Any]) -> None:
    """The templates' module code, the strategy's, then the templates' init() (FMZ runs them before the
    strategy's), the strategy's init() and main()."""
    template_namespaces = _run_templates(templates, g)
    exec(code, g)
    for namespace in template_namespaces:
        fn = namespace.get("init")
        if callable(fn):
            fn()
    for name in ("init", "main"):
        fn = g.get(name)
        if callable(fn):
            fn()


def _module_not_found(exc: ModuleNotFoundError, config: RunConfig, runtime: Runtime) -> tuple[int, str]:
    """A strategy's import of a module not installed is a usage error (one line naming the fix); an import
    failing inside an installed package is a crash."""
    if not _import_failed_in_strategy(exc, config):
        _log_traceback(runtime, config)
        return EXIT_CRASH, "uncaught exception"
    module = (exc.name or "").split(".")[0]
    path = config.strategy_path
    runtime.log(LOG_TYPE_ERROR, python2_message(path, f"import {module}")
                if module in PY2_ONLY_MODULES else missing_module_message(path, module))
    return EXIT_USAGE, f"module {module} not installed"


def _run_onexit(onexit: Callable[[], Any], config: RunConfig, clock: StopAwareClock, runtime: Runtime,
                result: RunResult | None) -> tuple[int, str] | None:
    """The strategy's onexit(); its log rows become the result's final words. -> the crash, or None."""
    clock.for_onexit()
    logged_before = runtime.store.count_logs()
    try:
        onexit()
    except (EOFError, KeyboardInterrupt, _Stop, SystemExit, RunStopped):
        disarm_leave_handler()
    except BaseException:
        disarm_leave_handler()
        _log_traceback(runtime, config)
        return EXIT_CRASH, "uncaught exception in onexit()"
    new_rows = runtime.store.count_logs() - logged_before
    if result is not None and new_rows > 0:
        rows = runtime.store.logs(limit=min(new_rows, 20))
        result.final_words = [str(r["Extra"]) for r in reversed(rows)]
    return None


def _template_sources(config: RunConfig) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in config.templates]


def _run_templates(templates: list[tuple[Path, Any]], g: dict[str, Any]) -> list[dict[str, Any]]:
    """Run each template library's module code in its own namespace with the same API globals and
    arguments as the strategy; what it exports on `ext` (ext.Buy = Buy) is the strategy's `ext`."""
    namespaces = []
    for path, code in templates:
        namespace = dict(g)
        namespace["__name__"] = path.stem
        namespace["__file__"] = str(path)
        exec(code, namespace)
        namespaces.append(namespace)
    return namespaces


def _import_failed_in_strategy(exc: ModuleNotFoundError, config: RunConfig) -> bool:
    """The strategy's own import statement failed (not an import inside an installed package)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(exc.name) and bool(frames) and frames[-1].filename == str(config.strategy_path)


def _system_exit_code(exc: SystemExit) -> int:
    if exc.code is None or exc.code == 0:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_CRASH


def _log_traceback(runtime: Runtime, config: RunConfig) -> None:
    etype, value, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    strategy = str(config.strategy_path)
    # Drop the runner's own frames: the user wants to see their code first.
    while frames and frames[0].filename != strategy and any(f.filename == strategy for f in frames):
        frames.pop(0)
    text = (
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(frames))
        + "".join(traceback.format_exception_only(etype, value))
    )
    runtime.log(LOG_TYPE_ERROR, text.rstrip())


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_outputs(
    config: RunConfig, result: RunResult, store: RobotStore, start_ms: int, clock: Any
) -> None:
    store.flush()
    accounting = strategy_accounting(store)  # the strategy's own unit NAV and profit, when it keeps them
    if accounting is not None:
        result.stats["accounting"] = accounting
    end_ms = clock.now_ns() // 1_000_000
    result.window = {"start_ms": start_ms, "end_ms": config.end_ms if config.end_ms is not None else end_ms}
    run_json = {
        "robot_id": result.robot_id,
        "config": config.to_json(),
        "window": result.window,
        "exit_code": result.exit_code,
        "ended_by": result.ended_by,
        "stats": result.stats,
    }
    (result.robot_dir / "run.json").write_text(json.dumps(run_json, indent=2), encoding="utf-8")
    write_report(result.report_path, store, run_json)


def _replay_lines(config: RunConfig, result: RunResult) -> list[str]:
    if config.replay is None:
        return []
    info = result.stats.get("replay") or {}
    applied = info.get("events_applied") or {}
    line = (f"replay of {config.replay}: {applied.get('book', 0):,} books, "
            f"{applied.get('trade', 0):,} trades, {applied.get('funding', 0):,} funding updates, "
            f"{applied.get('gap', 0)} gaps replayed")
    source = f"source  {info['source']}" if info.get("source") else ""
    return [line, *([source] if source else []), *[f"note    {n}" for n in info.get("notes") or []]]


def summary_text(config: RunConfig, result: RunResult) -> str:
    window = result.window
    start_ms, end_ms = window.get("start_ms", config.start_ms), window.get("end_ms", config.end_ms)

    from fmz_compat.alerts import summary_line as alerts_summary

    f = summary_figures(result.stats, window)
    if result.exit_code == EXIT_USAGE and not f["trades"]:
        # the strategy refused its input before trading: the line above says what to fix; no figures
        return (f"\n=== robot {result.robot_id} {config.mode}: stopped on bad input "
                f"(exit {result.exit_code}); nothing was traded: fix what the line above names and run "
                "again ===")
    venues = ", ".join(b.eid for b in config.bindings) + "   symbols " + ", ".join(market_symbols(config))
    lines = [
        "",
        f"=== robot {result.robot_id} {config.mode}: {result.ended_by} (exit {result.exit_code}) ===",
        *_replay_lines(config, result),
        f"seed {config.seed}   window {utc_text(start_ms)} -> "
        f"{utc_text(end_ms) if end_ms is not None else 'now'}",
        f"venues {venues}",
        *summary_lines(f),
        *[f"strategy: {line}" for line in result.final_words],
        *alerts_summary(result.robot_dir),
        f"db      {result.db_path}",
        f"report  {result.report_path}  (open it in a browser)",
        f"page    {python_command()} -m fmz_compat dashboard {result.robot_dir}  (the robot page: status, "
        "charts, log)",
        f"run     {result.robot_dir / 'run.json'}",
    ]
    return "\n".join(lines)


def python_command() -> str:
    """The interpreter as the user can type it: `.venv/bin/python` from the repo (a fresh Debian has no
    `python` command, and the one on PATH may lack the packages), `python` when that is this one."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        pass
    found = shutil.which("python")
    if found and Path(found).absolute() == exe.absolute():  # not resolved: a venv's python links to the base
        return "python"
    return str(exe)
