"""Strategy arguments from a file (`--args FILE`): FMZ makes each argument its own global.

Accepted shapes, all JSON:
  {"Interval": 500, "Mode": 1}                      an object, one key per argument
  [["Interval", 500], ["Mode", 1]]                  FMZ's args table: the backtest header's `args:`
                                                     and the `args` of a robot's settings
  {"args": [["Interval", 500]], ...}                 a robot settings object (RestartRobot, GetRobotDetail)
The `args` value of a settings object may itself be a JSON string, as FMZ's API returns it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ArgsFileError(ValueError):
    """The file cannot be read as strategy arguments; the message names the file and the fix."""


def read_args_file(path: Path) -> tuple[tuple[str, Any], ...]:
    if not path.is_file():
        raise ArgsFileError(f"--args {path}: file not found: pass a JSON file of strategy arguments")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArgsFileError(f"--args {path} is not valid JSON ({exc}): fix the file") from None
    return args_from_document(document, str(path))


def args_from_document(document: Any, where: str) -> tuple[tuple[str, Any], ...]:
    if isinstance(document, dict) and isinstance(document.get("args"), (list, str)):
        table = document["args"]
        if isinstance(table, str):
            try:
                table = json.loads(table)
            except ValueError:
                raise ArgsFileError(f"--args {where}: its \"args\" string is not JSON: fix the file") \
                    from None
        return _from_table(table, where)
    if isinstance(document, dict):
        return tuple(_checked(name, value, where) for name, value in document.items())
    if isinstance(document, list):
        return _from_table(document, where)
    raise ArgsFileError(f"--args {where}: expected a JSON object {{\"Name\": value}} or FMZ's args table "
                        "[[\"Name\", value], ...]")


def _from_table(table: Any, where: str) -> tuple[tuple[str, Any], ...]:
    if not isinstance(table, list):
        raise ArgsFileError(f"--args {where}: \"args\" must be a list of [\"Name\", value] pairs")
    found = []
    for position, row in enumerate(table):
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)):
            raise ArgsFileError(f"--args {where}: row {position} is {json.dumps(row)[:60]}, expected "
                                "[\"Name\", value]")
        found.append(_checked(row[0], row[1], where))
    return tuple(found)


def _checked(name: str, value: Any, where: str) -> tuple[str, Any]:
    if not _IDENTIFIER.match(name):
        raise ArgsFileError(f"--args {where}: {name!r} is not a Python identifier, so it cannot be a "
                            "strategy global: rename it")
    return name, value
