"""The bench entry point runs and rejects bad flags with exit code 2 (figures are not asserted)."""

import pytest

from fmz_compat.sim import bench


def test_bench_reports_its_figures():
    figures = bench.run(venues=2, symbols=3, minutes=2, poll_ms=1000)
    assert (figures["venues"], figures["symbols"]) == (2, 3)
    assert figures["venue_symbol_updates_per_s"] > 0 and figures["tick_p99_ms"] >= figures["tick_p50_ms"]


def test_bench_bad_flag_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--minutes", "-1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--minutes" in err
