"""python -m tools.bundle: a reproducible one-file strategy that trades exactly like strategy.py."""

import ast
import json
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fmz_compat.__main__ import config_from_args
from fmz_compat.header import parse_header
from fmz_compat.runner import run
from hedge.license import License, encode_code, payload_bytes
from tools import bundle

ROOT = Path(__file__).resolve().parents[2]
WINDOW = ["--duration", "6h", "--seed", "3", "--venues", "binance,bybit,okx", "--quiet",
          "--params", str(ROOT / "params.json")]
LOG_COLUMNS = "LogType, Eid, OrderId, Price, Amount, Extra, Date, ContractType, Direction, Color"


@contextmanager
def _fresh_hedge_modules():
    """Let the bundle's importer serve `hedge` (it is already imported from the source tree here)."""
    ours = [k for k in sys.modules if k == "hedge" or k.startswith("hedge.")]
    saved = {k: sys.modules.pop(k) for k in ours}
    meta_path = list(sys.meta_path)
    try:
        yield
    finally:
        for k in [k for k in sys.modules if k == "hedge" or k.startswith("hedge.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        sys.meta_path[:] = meta_path


def _backtest(strategy: Path, out: Path, *extra: str):
    config, source = config_from_args(["backtest", str(strategy), "--out", str(out), *WINDOW, *extra])
    result = run(config, source=source, out=lambda _line: None)
    with sqlite3.connect(result.db_path) as db:
        rows = db.execute(f"SELECT {LOG_COLUMNS} FROM log ORDER BY Id").fetchall()
    return result, rows


def _write_bundle(path: Path, **kwargs) -> Path:
    path.write_text(bundle.build_bundle(**kwargs), encoding="utf-8")
    return path


@pytest.mark.slow
def test_bundle_trades_exactly_like_strategy_py(tmp_path):
    source_run, source_rows = _backtest(ROOT / "strategy.py", tmp_path / "source")
    built = _write_bundle(tmp_path / "strategy_fmz.py")
    with _fresh_hedge_modules():
        bundle_run, bundle_rows = _backtest(built, tmp_path / "bundle")
        served_from = sys.modules["hedge.app"].__file__
    assert served_from == "<bundle>/hedge/app.py"
    assert bundle_run.exit_code == source_run.exit_code == 0
    assert bundle_run.stats == source_run.stats
    assert bundle_run.stats["totals"]["trades"] > 0
    orders = [row for row in source_rows if row[0] in (0, 1)]  # LOG_TYPE_BUY, LOG_TYPE_SELL
    assert orders and orders == [row for row in bundle_rows if row[0] in (0, 1)]
    assert bundle_rows == source_rows


@pytest.mark.slow
def test_bundle_is_reproducible_and_embeds_only_the_strategy(tmp_path):
    text = bundle.build_bundle()
    assert text == bundle.build_bundle()
    table = next(node for node in ast.parse(text).body
                 if isinstance(node, ast.Assign) and node.targets[0].id == "_BUNDLE_SOURCES")
    sources = ast.literal_eval(table.value)
    assert list(sources) == sorted(sources) and "hedge.app" in sources and "hedge.license" in sources
    assert sources["hedge.app"] == (ROOT / "hedge" / "app.py").read_text(encoding="utf-8")
    assert not any(name.startswith("fmz_compat") for name in sources)
    assert text.rstrip().endswith((ROOT / "strategy.py").read_text(encoding="utf-8").rstrip())


def _fake_tree(root: Path, modules: dict[str, str], strategy: str) -> Path:
    for name, source in modules.items():
        path = root / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    (root / "strategy.py").write_text(strategy, encoding="utf-8")
    return root


def test_tracebacks_show_the_embedded_file_and_line(tmp_path):
    root = _fake_tree(tmp_path / "tree", {
        "hedge/__init__": "",
        "hedge/boom": "def explode():\n    raise RuntimeError('boom from the bundle')\n",
    }, "import traceback\nfrom hedge.boom import explode\ntry:\n    explode()\nexcept RuntimeError:\n"
       "    print(traceback.format_exc())\n")
    built = _write_bundle(tmp_path / "one.py", root=root)
    done = subprocess.run([sys.executable, str(built)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert 'File "<bundle>/hedge/boom.py", line 2, in explode' in done.stdout
    assert "raise RuntimeError('boom from the bundle')" in done.stdout


HEADED_STRATEGY = '''#!python3
# my strategy
"""backtest
start: 2024-02-01 00:00:00
end: 2024-02-01 01:00:00
"""
from __future__ import annotations

import hedge.tool


def main():
    Log(hedge.tool.answer(), __doc__.split()[0])
'''


def test_shebang_backtest_header_and_future_imports_stay_in_front(tmp_path):
    modules = {"hedge/__init__": "", "hedge/tool": "def answer():\n    return 42\n"}
    root = _fake_tree(tmp_path / "tree", modules, HEADED_STRATEGY)
    built = _write_bundle(tmp_path / "one.py", root=root)
    text = built.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "#!python3"
    assert parse_header(text) == parse_header(HEADED_STRATEGY) is not None
    with _fresh_hedge_modules():
        config, source = config_from_args(["backtest", str(built), "--out", str(tmp_path / "runs"), "--quiet",
                                           "--venues", "binance"])
        result = run(config, source=source, out=lambda _line: None)
    assert result.exit_code == 0
    assert result.window == {"start_ms": 1_706_745_600_000, "end_ms": 1_706_749_200_000}
    with sqlite3.connect(result.db_path) as db:
        assert db.execute("SELECT Extra FROM log ORDER BY Id").fetchone() == ("42 backtest",)


BARE_HOST_DRIVER = '''
import importlib.util, sys
print("cryptography importable:", importlib.util.find_spec("cryptography") is not None)
print("hedge importable:", importlib.util.find_spec("hedge") is not None)

class Exchange:
    def __init__(self, name):
        self.name = name
    def GetName(self):
        return self.name
    def GetAccount(self):
        return {"Balance": 500.0, "Equity": 1000.0}
    def __getattr__(self, attr):
        return lambda *args: None  # every other call fails, as FMZ reports errors

path, code = sys.argv[1], sys.argv[2]
g = {"__name__": "__main__", "Log": lambda *a: print("LOG", *a), "LogStatus": print, "LogProfit": print,
     "Sleep": lambda ms: None, "UnixNano": lambda: 1_706_745_600_000_000_000, "_G": lambda *a: None,
     "exchanges": [Exchange("Futures_Binance"), Exchange("Futures_OKX")], "REGCODE": code, "PARAMS": "{}"}
exec(compile(open(path, encoding="utf-8").read(), path, "exec"), g)
try:
    g["main"]()
except SystemExit as stop:  # the strategy stops the robot with a status, as exit() does on FMZ
    print("EXIT", stop.code)
'''


@pytest.mark.slow
def test_bundle_runs_on_a_bare_python_and_checks_codes_in_pure_python(tmp_path):
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    built = _write_bundle(tmp_path / "strategy_fmz.py", public_key=public)
    driver = tmp_path / "driver.py"
    driver.write_text(BARE_HOST_DRIVER, encoding="utf-8")

    def start(scope: License) -> list[str]:
        payload = payload_bytes(scope)
        code = encode_code(payload, key.sign(payload))
        done = subprocess.run([sys.executable, "-S", "-I", str(driver), str(built), code], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    lines = start(License("acme-01", "2024-02-01", ("binance", "okx"), Decimal("2000")))
    assert lines[:2] == ["cryptography importable: False", "hedge importable: False"]
    assert lines[2].startswith("LOG registration: customer acme-01, expires 2024-02-01")
    assert lines[-2].startswith("LOG need at least two supported futures exchanges")  # the fake venues fail
    assert lines[-1] == "EXIT 1"
    lines = start(License("acme-01", "2024-01-31", ("binance", "okx"), Decimal("2000")))
    assert lines[2:] == ["LOG not started: registration code for acme-01 expired on 2024-01-31 (UTC); "
                         "ask your vendor to renew it #ff0000", "EXIT 2"]


def test_imports_fmz_hosts_lack_are_refused(tmp_path):
    root = _fake_tree(tmp_path, {"hedge/__init__": "", "hedge/oops": "from fmz_compat.api import Runtime\n"},
                      "import hedge.oops\n")
    with pytest.raises(bundle.BundleError, match="hedge.oops imports fmz_compat.api, which FMZ hosts do not"):
        bundle.build_bundle(root=root)


@pytest.mark.slow
def test_cli_writes_the_file_and_rejects_a_private_key_as_pubkey(tmp_path, capsys):
    out = tmp_path / "dist" / "strategy_fmz.py"
    assert bundle.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == bundle.build_bundle()
    assert "no registration key" in capsys.readouterr().out
    private = tmp_path / "regcode.key"
    private.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert bundle.main(["--out", str(out), "--pubkey", str(private)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --pubkey") and "not the private regcode.key" in err and err.count("\n") == 1


def _cli_backtest(strategy: Path, out: Path, *extra: str):
    cmd = [sys.executable, "-m", "fmz_compat", "backtest", str(strategy), "--out", str(out),
           "--duration", "2h", "--venues", "binance,okx", "--quiet", *extra]
    done = subprocess.run(cmd, cwd=strategy.parent, capture_output=True, text=True, timeout=300)
    robot = next(p for p in out.iterdir() if p.is_dir())
    with sqlite3.connect(robot / f"{robot.name}.db3") as db:
        lines = [row[0] for row in db.execute("SELECT Extra FROM log ORDER BY Id")]
    return done, json.loads((robot / "run.json").read_text()), lines


@pytest.mark.slow
def test_bundle_with_a_key_runs_as_is_under_the_cli_only_with_a_valid_code(tmp_path):
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    built = _write_bundle(tmp_path / "strategy_fmz.py", public_key=public)
    # The simulator's window is 2024-01-01 and each venue starts with 10000 USDT.
    payload = payload_bytes(License("acme-01", "2024-01-01", ("binance", "okx"), Decimal("20000")))
    good = encode_code(payload, key.sign(payload))

    done, run_json, lines = _cli_backtest(built, tmp_path / "missing")
    assert done.returncode == 2
    assert run_json["stats"]["totals"]["trades"] == 0
    assert [line for line in lines if "REGCODE" in line] == [
        "not started: registration code missing: set the strategy parameter REGCODE to the code you were "
        "given (docs/params.md)"]

    done, run_json, lines = _cli_backtest(built, tmp_path / "good", "--arg", f"REGCODE={good}")
    assert done.returncode == 0, done.stderr
    assert run_json["stats"]["totals"]["trades"] > 0
    assert any(line.startswith("registration: customer acme-01") for line in lines)

    done, run_json, lines = _cli_backtest(built, tmp_path / "small", "--arg", f"REGCODE={good}",
                                          "--balance", "10000.01")
    assert run_json["stats"]["totals"]["trades"] == 0
    assert any(line.startswith("not started: registration code for acme-01 allows at most 20000 USDT")
               for line in lines)
