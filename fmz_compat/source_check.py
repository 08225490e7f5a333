"""Checks on a strategy's source before it runs: Python 2, and modules that are not installed.

FMZ picks the interpreter from the first line (`#!python2`, `#!python3`, `#!/usr/bin/python2.7`), and a
strategy runs with whatever packages its docker host has. Here: a Python 2 strategy, or one importing a
module this machine lacks, gets one line naming the problem and the fix before a robot is made.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from pathlib import Path

PY2_FIX = ("fmz_compat runs Python 3 only: port it (print x -> print(x), urllib2 -> urllib.request) "
           "or run it on a python2 docker on FMZ")

_PY2_SHEBANG = re.compile(r"^#!.*python2(\.\d+)?\b")
# Standard modules of Python 2 that Python 3 renamed or removed.
PY2_ONLY_MODULES = frozenset({
    "urllib2", "urlparse", "httplib", "cookielib", "Cookie", "Queue", "ConfigParser", "cPickle",
    "cStringIO", "StringIO", "HTMLParser", "htmlentitydefs", "Tkinter", "tkMessageBox", "commands",
    "sets", "md5", "sha", "thread", "dummy_thread", "xmlrpclib", "SimpleXMLRPCServer", "SocketServer",
    "SimpleHTTPServer", "BaseHTTPServer", "CGIHTTPServer", "__builtin__", "exceptions", "anydbm",
    "dbhash", "whichdb", "repr", "copy_reg", "UserDict", "UserList", "UserString", "robotparser",
    "mimetools", "rfc822", "popen2", "new",
})
# Import name -> PyPI name, where they differ (the packages FMZ strategies commonly import).
PIP_NAMES = {
    "talib": "ta-lib", "cv2": "opencv-python", "sklearn": "scikit-learn", "yaml": "pyyaml",
    "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "websocket": "websocket-client",
    "Crypto": "pycryptodome", "jwt": "PyJWT", "telegram": "python-telegram-bot", "dotenv": "python-dotenv",
    "binance": "python-binance", "okx": "python-okx", "PIL": "pillow", "zmq": "pyzmq",
    "MySQLdb": "mysqlclient", "google.protobuf": "protobuf", "attr": "attrs", "serial": "pyserial",
}


def python2_shebang(source: str) -> bool:
    """FMZ's `#!python2` (or a python2 interpreter path) on the first line."""
    first = source.split("\n", 1)[0].lstrip("\ufeff").strip()
    return bool(_PY2_SHEBANG.match(first))


def python2_message(path: Path, reason: str) -> str:
    return f"{path} is a Python 2 strategy ({reason}); {PY2_FIX}"


def install_command(module: str) -> str:
    package = PIP_NAMES.get(module, module.replace("_", "-"))
    python = sys.executable or "python"
    relative = os.path.relpath(python) if os.path.isabs(python) else python
    if len(relative) < len(python) and not relative.startswith(".."):
        python = relative
    return f"{python} -m pip install {package}"


def missing_module_message(path: Path, module: str, line: int | None = None) -> str:
    where = f" (line {line})" if line else ""
    return (f"{path} imports {module}{where}, which is not installed: install it with "
            f"`{install_command(module)}` (an FMZ docker host needs it too)")


def unguarded_imports(source: str) -> list[tuple[str, int]]:
    """(top-level module, line) of each absolute import that no try/except protects."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import) and not guarded:
            found.extend((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not guarded and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded or (isinstance(node, ast.Try) and child in node.body))

    visit(tree, False)
    return found


def module_exists(name: str, strategy_dir: Path) -> bool:
    if (strategy_dir / f"{name}.py").is_file() or (strategy_dir / name).is_dir():
        return True
    if name in sys.builtin_module_names or name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_problem(path: Path, source: str) -> str | None:
    """One line about the first Python 2 or missing module the source imports unguarded, else None."""
    for module, line in unguarded_imports(source):
        if module_exists(module, path.parent):
            continue
        if module in PY2_ONLY_MODULES:
            return python2_message(path, f"line {line}: import {module}")
        return missing_module_message(path, module, line)
    return None
