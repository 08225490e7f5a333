"""Issue #20: other people's FMZ strategies run unchanged. Each test is a whole run through
`python -m fmz_compat backtest FILE` (fmz_compat.__main__.main) on the real simulator."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from fmz_compat.__main__ import main


def _write(tmp_path: Path, source: str, name: str = "s.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _run(tmp_path: Path, strategy: Path, *extra: str) -> tuple[int, list[str], dict]:
    """Exit code, the robot's log lines (oldest first) and its run.json."""
    out = tmp_path / "runs"
    code = main(["backtest", str(strategy), "--duration", "1h", "--venues", "binance", "--out", str(out),
                 "--quiet", *extra])
    robot_dir = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    db = sqlite3.connect(robot_dir / f"{robot_dir.name}.db3")
    logs = [row[0] for row in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    return code, logs, json.loads((robot_dir / "run.json").read_text())


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


ECHO_ARGS = """
    def main():
        Log("args", Interval, Mode, Name, Flag)
"""


@pytest.mark.parametrize("document", [
    {"Interval": 250, "Mode": 2, "Name": "grid", "Flag": True},
    [["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]],  # FMZ's args table
    {"name": "robot", "args": [["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]]},
    {"args": json.dumps([["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]])},
])
def test_args_file_makes_each_argument_a_global(tmp_path, document):
    strategy = _write(tmp_path, ECHO_ARGS)
    args = tmp_path / "args.json"
    args.write_text(json.dumps(document))
    code, logs, run_json = _run(tmp_path, strategy, "--args", str(args))
    assert code == 0
    assert "args 250 2 grid True" in logs


def test_arg_flag_overrides_the_args_file_which_overrides_the_header(tmp_path):
    strategy = _write(tmp_path, '''\
        """backtest
        args: [["Interval", 1], ["Mode", 1], ["Name", "header"], ["Flag", false]]
        """
        def main():
            Log("args", Interval, Mode, Name, Flag)
        ''')
    args = tmp_path / "args.json"
    args.write_text('{"Mode": 7, "Name": "file"}')
    code, logs, _ = _run(tmp_path, strategy, "--args", str(args), "--arg", "Name=flag")
    assert code == 0 and "args 1 7 flag False" in logs


@pytest.mark.parametrize("content, expected", [
    ("{oops", "is not valid JSON"),
    ('[["Interval", 1, 2]]', "expected [\"Name\", value]"),
    ('{"bad name": 1}', "is not a Python identifier"),
    ('"text"', "expected a JSON object"),
])
def test_bad_args_file_is_one_line(capsys, tmp_path, content, expected):
    strategy = _write(tmp_path, ECHO_ARGS)
    args = tmp_path / "args.json"
    args.write_text(content)
    assert expected in _one_line_error(capsys, ["backtest", str(strategy), "--args", str(args)])
    assert "file not found" in _one_line_error(capsys, ["backtest", str(strategy), "--args",
                                                        str(tmp_path / "none.json")])


def test_help_tells_args_from_params(capsys):
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--params PARAMS this project's PARAMS global" in text
    assert "--args FILE FMZ strategy arguments, each its own global" in text
