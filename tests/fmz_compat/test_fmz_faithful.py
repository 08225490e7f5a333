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


# --- item 3: Python 2 and missing modules: one line, never a traceback ---

@pytest.mark.parametrize("first_line", ["#!python2", "#!/usr/bin/python2.7", "#!/usr/bin/env python2"])
def test_python2_shebang_is_honoured_even_when_the_file_compiles_under_3(capsys, tmp_path, first_line):
    # FMZ's syntax guide: the first line picks the interpreter (#!python2 / #!python3). This file
    # compiles under Python 3 but would divide differently (3 / 2 == 1 under Python 2).
    strategy = _write(tmp_path, f"{first_line}\ndef main():\n    Log(3 / 2)\n")
    line = _one_line_error(capsys, ["backtest", str(strategy), "--out", str(tmp_path / "runs")])
    assert "is a Python 2 strategy (line 1: #!" in line and "port it" in line
    assert not (tmp_path / "runs").exists()  # refused before a robot is made


def test_python3_shebang_runs(tmp_path):
    strategy = _write(tmp_path, "#!python3\ndef main():\n    Log('half', 3 / 2)\n")
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "half 1.5" in logs


@pytest.mark.parametrize("statement", ["import urllib2", "from urlparse import urljoin",
                                       "import Queue, json", "import cPickle as pickle"])
def test_python2_only_module_gets_the_python2_line(capsys, tmp_path, statement):
    strategy = _write(tmp_path, f"import json\n{statement}\ndef main():\n    pass\n")
    line = _one_line_error(capsys, ["backtest", str(strategy)])
    assert "is a Python 2 strategy (line 2: import " in line


def test_python2_module_imported_inside_a_function_gets_the_same_line(capsys, tmp_path):
    strategy = _write(tmp_path, "def main():\n    import urllib2\n    urllib2.urlopen('x')\n")
    assert "is a Python 2 strategy (line 2: import urllib2)" in _one_line_error(capsys, ["backtest",
                                                                                         str(strategy)])


def test_missing_module_names_it_and_the_install_command(capsys, tmp_path):
    strategy = _write(tmp_path, "import json\nimport sklearn_not_here\ndef main():\n    pass\n")
    line = _one_line_error(capsys, ["backtest", str(strategy)])
    assert "imports sklearn_not_here (line 2), which is not installed" in line
    assert "-m pip install sklearn-not-here" in line


def test_guarded_import_and_local_module_are_left_to_the_strategy(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 42\n")
    strategy = _write(tmp_path, """
        try:
            import urllib2
        except ImportError:
            import urllib.request as urllib2
        import helper_mod
        def main():
            Log("ok", helper_mod.VALUE, urllib2.__name__)
        """)
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "ok 42 urllib.request" in logs


def test_dynamic_import_of_a_missing_module_ends_the_run_with_one_line(capsys, tmp_path):
    strategy = _write(tmp_path, "def main():\n    __import__('absent_pkg_xyz')\n")
    code, logs, run_json = _run(tmp_path, strategy)
    assert code == 2 and run_json["ended_by"] == "module absent_pkg_xyz not installed"
    assert any("imports absent_pkg_xyz, which is not installed" in line for line in logs)
    assert not any("Traceback" in line for line in logs)
    printed = capsys.readouterr().out
    assert "imports absent_pkg_xyz, which is not installed" in printed
