"""ccxt with only the five venue classes we use.

`import ccxt` imports every one of its ~100 exchange modules (about 65 MB of resident memory on
CPython 3.11); a live node needs five. This builds the `ccxt` package module by hand (same package
path, version, errors and base classes) and imports only binanceusdm, okx, bybit, coinex and bitmex.
If the full ccxt is already imported, that one is used as is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

CLASSES = ("binanceusdm", "okx", "bybit", "coinex", "bitmex")


def load() -> types.ModuleType:
    """The `ccxt` module: the full one if already imported, else a lean one with CLASSES."""
    existing = sys.modules.get("ccxt")
    if existing is not None:
        return existing
    spec = importlib.util.find_spec("ccxt")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("ccxt is not installed: pip install ccxt==4.5.83")
    module = types.ModuleType("ccxt", "CCXT (five venue classes, loaded by fmz_compat.ccxt_lean)")
    module.__path__ = list(spec.submodule_search_locations)
    module.__file__ = spec.origin
    module.__spec__ = spec
    module.__package__ = "ccxt"
    sys.modules["ccxt"] = module
    try:
        errors = importlib.import_module("ccxt.base.errors")
        base = importlib.import_module("ccxt.base.exchange")
        module.errors = errors  # type: ignore[attr-defined]
        module.Exchange = base.Exchange  # type: ignore[attr-defined]
        for name in dir(errors):
            value = getattr(errors, name)
            if isinstance(value, type) and issubclass(value, Exception):
                setattr(module, name, value)
        module.__version__ = _version()  # type: ignore[attr-defined]
        for name in CLASSES:
            setattr(module, name, getattr(importlib.import_module(f"ccxt.{name}"), name))
        module.exchanges = list(CLASSES)  # type: ignore[attr-defined]
    except BaseException:
        del sys.modules["ccxt"]
        raise
    return module


def _version() -> str:
    from importlib.metadata import version

    return version("ccxt")
