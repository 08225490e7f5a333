"""tools/chaos_table.py through `python -m tools.chaos --markdown`: issue #17's table for docs/reliability.md,
one row per seed and profile, from the output folders of two short chaos runs."""

import re

import pytest

from tools import chaos, chaos_table

ONE_LEGGED = '''
def main():
    if not _G("bought"):
        exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)
        _G("bought", 1)
    while True:
        Sleep(5000)
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory, own_hedge_modules_for_module):
    root = tmp_path_factory.mktemp("chaos")
    strategy = root / "one_leg.py"
    strategy.write_text(ONE_LEGGED)
    folders = []
    for profile in ("tight", "default"):
        out = root / profile
        # without ee28a03's refuse_definite windows: one on binance (the leg's venue) inside another venue's
        # outage makes that part "held on the venue that was out" and splits the stretch this test pins
        assert chaos.main(["--days", "0.25", "--seed", "2", "--symbols", "BTC_USDT", "--profile", profile,
                           "--strategy", str(strategy), "--without", "refuse_definite",
                           "--out", str(out)]) == 1
        folders.append(str(out))
    return folders


def test_the_table_has_the_done_when_columns_and_one_row_per_seed_and_profile(runs, capsys):
    assert chaos.main(["--markdown", *runs]) == 0
    table = capsys.readouterr().out
    head = next(line for line in table.splitlines() if line.startswith("| profile"))
    for column in ("liquidations", "orphaned orders", "mismatches after recovery",
                   "outside outages / in flight", "unhedged while a venue was out",
                   "unit NAV move on internal transfers"):
        assert column in head
    rows = [line for line in table.splitlines() if line.startswith(("| default", "| tight"))]
    assert [r.split(" | ")[:2] for r in rows] == [["| default", "2"], ["| tight", "2"]]  # default first
    for r in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", r.strip("|"))]  # a failure's "\|" is no cell
        assert cells[2] == "0" and float(cells[5]) > 0  # no liquidation; the one leg held "otherwise"
        # held through a venue's outage, 3 h 10 min, from the outage's start (not the sample 1.2 s before it)
        assert cells[6] == "11418.8 s / 620 (OVER 60 s / 5,000)"
        assert cells[7] == "0 (0, 0.00 USDT)"  # this strategy moves no money
        assert cells[8].startswith("FAIL: ") and "\\|net exposure\\| above one lot" in cells[8]
    assert "--profile tight" in table and "**0 of 2 pass.**" in table


def test_into_replaces_the_table_between_the_markers_and_keeps_the_rest(runs, tmp_path):
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Reliability\nbefore\n{chaos_table.BEGIN}\nold table\n{chaos_table.END}\nafter\n")
    assert chaos.main(["--markdown", *runs, "--into", str(doc)]) == 0
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Reliability\nbefore\n")
    assert text.endswith(f"**0 of 2 pass.**\n{chaos_table.END}\nafter\n") and text.count("| tight | 2 |") == 1
    assert chaos.main(["--markdown", *runs, "--into", str(doc)]) == 0
    assert doc.read_text() == text  # written again: the same


@pytest.mark.parametrize(("args", "message"), [
    (["--markdown", "{empty}"], "no chaos.json of a chaos run there"),
    (["--markdown", "{run}", "--into", "{plain}"], "add the marker lines"),
    (["--into", "{plain}"], "--into goes with --markdown"),
])
def test_bad_table_arguments_get_one_line_and_exit_2(runs, tmp_path, capsys, args, message):
    plain = tmp_path / "plain.md"
    plain.write_text("no markers here\n")
    (tmp_path / "empty").mkdir()
    names = {"empty": str(tmp_path / "empty"), "run": runs[0], "plain": str(plain)}
    assert chaos.main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("chaos: ") and "\n" not in err
    assert plain.read_text() == "no markers here\n"


def test_docs_reliability_holds_the_markers_the_writer_fills():
    text = (chaos.ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert text.count(chaos_table.BEGIN) == 1 and text.count(chaos_table.END) == 1
    assert text.index(chaos_table.BEGIN) < text.index(chaos_table.END)


def test_a_chaos_run_leaves_hedge_app_unpatched_for_whoever_imports_it_next(runs):
    """The run hooks App.refresh_account and App.observe for its NAV watch in each life's fresh hedge.app;
    that module stays in sys.modules after the run, so the hooks are taken off again."""
    import hedge.app

    assert hedge.app.App.observe.__qualname__ == "App.observe"
    assert hedge.app.App.refresh_account.__qualname__ == "App.refresh_account"
