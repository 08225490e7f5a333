"""Build the one file users paste into FMZ's Python strategy editor.

    python -m tools.bundle [--out dist/strategy_fmz.py] [--pubkey regcode.pub]

The output is strategy.py preceded by every hedge/ module's source, served by a meta-path importer:
`import hedge.app` works as in the source tree, module names and `__file__` survive, and tracebacks
show the real lines (from `<bundle>/hedge/app.py`). Only stdlib, redis and cryptography may be
imported; fmz_compat never is. The output is reproducible: modules sorted, no timestamps, so the same
tree and key give the same bytes (the header carries a digest of the inputs).

`--pubkey` embeds a registration-code public key (regcode.pub from `python -m tools.regcode keygen`);
the bundle then refuses to start without a valid REGCODE. Without it the bundle, like strategy.py,
runs without a code.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import sys
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("dist/strategy_fmz.py")
PACKAGE = "hedge"
ALLOWED_THIRD_PARTY = ("redis", "cryptography")
KEY_LINE = 'EMBEDDED_PUBLIC_KEY_HEX = ""'
LICENSE_MODULE = "hedge.license"
EXIT_OK, EXIT_USAGE = 0, 2


class BundleError(Exception):
    """The bundle cannot be built: one line naming the problem and the fix."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BundleError(f"{message} (see: {self.prog} --help)")


# The importer that runs at the top of the bundle. Kept as text: it is part of the output.
_IMPORTER = '''
import importlib.abc as _bundle_abc
import importlib.util as _bundle_util
import linecache as _bundle_linecache
import sys as _bundle_sys


class _BundleImporter(_bundle_abc.MetaPathFinder, _bundle_abc.InspectLoader):
    """Serves the embedded hedge/ modules; tracebacks read their lines through get_source()."""

    marker = "xvenue-hedge bundle"

    def __init__(self, sources, packages):
        self.sources = sources
        self.packages = packages

    def filename(self, fullname):
        path = fullname.replace(".", "/")
        return "<bundle>/" + (path + "/__init__.py" if fullname in self.packages else path + ".py")

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.sources:
            return None
        spec = _bundle_util.spec_from_loader(fullname, self, origin=self.filename(fullname),
                                             is_package=fullname in self.packages)
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__spec__.name), module.__dict__)

    def is_package(self, fullname):
        return fullname in self.packages

    def get_source(self, fullname):
        if fullname not in self.sources:
            raise ImportError(fullname + " is not in the bundle", name=fullname)
        return self.sources[fullname]

    def get_code(self, fullname):
        source = self.get_source(fullname)
        filename = self.filename(fullname)
        _bundle_linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        return compile(source, filename, "exec", dont_inherit=True)


_bundle_sys.meta_path[:] = [f for f in _bundle_sys.meta_path
                            if getattr(f, "marker", None) != _BundleImporter.marker]
_bundle_sys.meta_path.insert(0, _BundleImporter(_BUNDLE_SOURCES, _BUNDLE_PACKAGES))
'''


def module_sources(root: Path) -> dict[str, str]:
    """Module name -> source for every .py under root/hedge, sorted by name."""
    base = root / PACKAGE
    if not (base / "__init__.py").is_file():
        raise BundleError(f"{base}/__init__.py not found: run from the repository root or pass --root")
    found: dict[str, str] = {}
    for path in base.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        if "__pycache__" in rel.parts:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


def packages_of(root: Path, names: list[str]) -> list[str]:
    return [n for n in names if (root / n.replace(".", "/") / "__init__.py").is_file()]


def embed_public_key(source: str, public_key: bytes) -> str:
    if len(public_key) != 32:
        raise BundleError("the public key must be 32 bytes (64 hex digits in regcode.pub)")
    if source.count(KEY_LINE) != 1:
        raise BundleError(f"{LICENSE_MODULE} must contain the line {KEY_LINE!r} exactly once")
    return source.replace(KEY_LINE, f'EMBEDDED_PUBLIC_KEY_HEX = "{public_key.hex()}"')


def check_imports(name: str, source: str) -> None:
    """BundleError when a module imports anything but stdlib, hedge, redis or cryptography."""
    allowed = set(sys.stdlib_module_names) | {PACKAGE, "__future__", *ALLOWED_THIRD_PARTY}
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise BundleError(f"{name} line {exc.lineno}: {exc.msg}; fix it before bundling") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module]
        else:
            continue  # relative imports stay inside hedge
        for target in targets:
            top = target.split(".")[0]
            if top not in allowed:
                raise BundleError(f"{name} imports {target}, which FMZ hosts do not have: hedge/ and "
                                  f"strategy.py may import only the stdlib, {', '.join(ALLOWED_THIRD_PARTY)}")


def build_bundle(root: Path = ROOT, public_key: bytes | None = None) -> str:
    sources = module_sources(root)
    if public_key is not None:
        sources[LICENSE_MODULE] = embed_public_key(sources[LICENSE_MODULE], public_key)
    strategy_path = root / "strategy.py"
    if not strategy_path.is_file():
        raise BundleError(f"{strategy_path} not found: run from the repository root or pass --root")
    strategy = strategy_path.read_text(encoding="utf-8")
    packages = packages_of(root, list(sources))
    for name, source in sources.items():
        check_imports(name, source)
    check_imports("strategy.py", strategy)

    digest = hashlib.sha256()
    for name, source in [*sources.items(), ("strategy.py", strategy)]:
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    key_note = f"registration public key {public_key.hex()[:16]}..." if public_key else \
        "no registration key (runs without a code)"
    shebang, preamble, rest = split_strategy(strategy)
    lines = [
        *([shebang] if shebang else []),
        "# Cross-venue USDT-perpetual hedging for FMZ Quant: one-file build, paste it as a Python strategy.",
        "# Parameters: PARAMS (string, JSON like params.json) and REGCODE (string, registration code);",
        "# see docs/params.md and docs/manual.en.md. Generated by `python -m tools.bundle`; do not edit:",
        "# change the sources and rebuild.",
        f"# inputs sha256 {digest.hexdigest()}; {len(sources)} modules; {key_note}",
        *([preamble] if preamble else []),
        "",
        "_BUNDLE_SOURCES = {",
        *[f"    {name!r}: {source_literal(source)}," for name, source in sources.items()],
        "}",
        f"_BUNDLE_PACKAGES = frozenset({sorted(packages)!r})",
        _IMPORTER.strip("\n"),
        "",
        "# ---- strategy.py ----",
        rest,
        "",
    ]
    return "\n".join(lines)


def split_strategy(source: str) -> tuple[str, str, str]:
    """(shebang line, leading docstring and __future__ imports, the rest) of strategy.py.

    FMZ picks the interpreter from a first-line shebang, a backtest header must be the leading
    docstring, and __future__ imports must precede other code: these go first in the bundle."""
    shebang = source.splitlines(keepends=True)[0] if source.startswith("#!") else ""
    body = source[len(shebang):]
    end = 0
    for index, node in enumerate(ast.parse(body).body):
        docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            break
        end = node.end_lineno or end
    lines = body.splitlines(keepends=True)
    return shebang.rstrip("\n"), "".join(lines[:end]).strip("\n"), "".join(lines[end:]).strip("\n")


def source_literal(source: str) -> str:
    """A raw triple-quoted literal when it reproduces the source exactly (the bundle stays readable,
    one source line per line), else repr()."""
    for quote in ("\'\'\'", '\"\"\"'):
        literal = f"r{quote}{source}{quote}"
        if quote not in source and not source.endswith("\\") and _evaluates_to(literal, source):
            return literal
    return repr(source)


def _evaluates_to(literal: str, source: str) -> bool:
    try:
        return ast.literal_eval(literal) == source
    except (SyntaxError, ValueError):
        return False


def read_public_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise BundleError(f"--pubkey {path}: cannot read it; pass the regcode.pub written by "
                          "`python -m tools.regcode keygen`") from None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise BundleError(f"--pubkey {path} must hold 64 hex digits (regcode.pub, not the private "
                          "regcode.key)")
    return bytes.fromhex(text)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m tools.bundle", description="Build the one-file FMZ strategy.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    parser.add_argument("--pubkey", type=Path, help="regcode.pub to embed; the bundle then requires REGCODE")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    try:
        ns = parser.parse_args(argv)
        public_key = read_public_key(ns.pubkey) if ns.pubkey else None
        text = build_bundle(ns.root, public_key)
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(text, encoding="utf-8")
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot write {ns.out}: {exc.strerror}; pick another --out", file=sys.stderr)
        return EXIT_USAGE
    inputs = next(line for line in text.splitlines() if line.startswith("# inputs sha256"))
    print(f"wrote {ns.out} ({len(text.encode()):,} bytes; {inputs[2:]})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
