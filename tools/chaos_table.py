"""Issue #17's table for docs/reliability.md, from the chaos runs' output folders (their chaos.json).

    python -m tools.chaos --markdown runs/chaos-default runs/chaos-tight
    python -m tools.chaos --markdown runs/chaos-default runs/chaos-tight --into docs/reliability.md

One row per seed and profile with the columns of the issue's "done when": liquidations, orphaned orders,
mismatches after recovery, seconds above one lot outside outages and in-flight orders, the unhedged exposure
while a venue was out against the policy's bound (outage.max_unhedged_s / _usdt), and how far unit NAV moved
through internal transfers. `--into FILE` replaces what stands between the two marker lines in FILE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN = "<!-- chaos-table:begin (python -m tools.chaos --markdown ... --into) -->"
END = "<!-- chaos-table:end -->"
PROFILE_ORDER = {"default": 0, "tight": 1}

HEAD = ("| profile | seed | liquidations | orphaned orders | mismatches after recovery (checks) | "
        "s above one lot outside outages / in flight | unhedged while a venue was out: longest s / largest "
        "USDT (bound) | unit NAV move on internal transfers (transfers, network fees) | result |\n"
        "|---|---|---|---|---|---|---|---|---|")


class TableError(Exception):
    """A folder or file that holds no chaos output: one line, exit 2."""


def load(paths: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """(the commands, every seed's result) from chaos output folders or their chaos.json files."""
    commands, results = [], []
    for text in paths:
        path = Path(text)
        file = path / "chaos.json" if path.is_dir() else path
        try:
            summary = json.loads(file.read_text(encoding="utf-8"))
            found = summary["results"]
        except (OSError, ValueError, KeyError, TypeError):
            raise TableError(f"--markdown {text}: no chaos.json of a chaos run there (run python -m "
                             "tools.chaos --out DIR first)") from None
        commands.append(str(summary.get("command", "")))
        profile = summary.get("profile", "default")
        results.extend({"profile": profile, **r} for r in found)
    results.sort(key=lambda r: (PROFILE_ORDER.get(r["profile"], 9), str(r["profile"]), r["seed"]))
    return commands, results


def row(r: dict[str, Any]) -> str:
    out = r.get("outage_exposure")
    if out:
        verdict = "within" if out["within_bound"] else "OVER"
        outage = (f"{out['longest_s']:g} s / {out['max_usdt']:,.0f} ({verdict} {out['bound_s']:g} s / "
                  f"{out['bound_usdt']:,.0f})")
    else:
        outage = "n/a"
    nav = r.get("nav_on_transfers")
    if nav:
        move = "0" if not nav["max_nav_error"] else f"{nav['max_nav_error']:.6f}"
        moved = f"{move} ({nav['internal_withdrawals']}, {nav['network_fees_usdt']:,.2f} USDT)"
    else:
        moved = "n/a"
    verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"]).replace("|", "\\|")
    return (f"| {r['profile']} | {r['seed']} | {r['liquidations']} | {len(r['orphaned_orders'])} | "
            f"{len(r['mismatches_after_recovery'])} ({r['mismatch_checks']}) | "
            f"{r['above_one_lot_s']['otherwise']:g} | {outage} | {moved} | {verdict} |")


def render(commands: list[str], results: list[dict[str, Any]]) -> str:
    passed = sum(r["passed"] for r in results)
    lines = [*(f"`{c}`  " for c in commands if c), "", HEAD, *(row(r) for r in results), "",
             f"**{passed} of {len(results)} pass.**"]
    return "\n".join(lines) + "\n"


def write_into(path: Path, table: str) -> None:
    """Replace what stands between BEGIN and END in `path` with `table`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TableError(f"--into {path}: {exc.strerror or exc}") from None
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise TableError(f"--into {path}: add the marker lines {BEGIN!r} and {END!r} where the table goes")
    path.write_text(text[:start + len(BEGIN)] + "\n" + table + text[end:], encoding="utf-8")


def main(paths: list[str], into: str | None) -> int:
    commands, results = load(paths)
    table = render(commands, results)
    if into:
        write_into(Path(into), table)
        print(f"chaos table of {len(results)} seed runs written into {into}")
    else:
        print(table, end="")
    return 0
