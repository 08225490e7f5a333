"""The golden runs (tools/golden.py, issue #19): three fixed-seed runs reproduce their pinned rows exactly.

A behaviour change on purpose re-pins them: python -m tools.golden --update (and says so in its commit).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tools import golden


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.redis] if name == "cluster" else [], id=name)
    for name in golden.RUNS])
def test_golden_run_reproduces_its_pin(name: str) -> None:
    expected = golden.pinned(name)
    assert expected, f"no pin {golden.pin_path(name)}: run python -m tools.golden --update {name}"
    diff = golden.first_differences(name, expected, golden.produce(name))
    assert not diff, f"golden run {name} differs from its pin (first differences):\n{diff}"


def test_the_pins_are_compact_and_name_no_path_of_this_machine() -> None:
    for name in golden.RUNS:
        path = golden.pin_path(name)
        assert path.stat().st_size < 300_000, path
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        assert str(golden.ROOT) not in text and "/tmp/" not in text, name
        assert "<redis>" in text if name == "cluster" else "<tmp>" in text, name


def test_only_paths_and_the_redis_url_are_normalized(tmp_path: Path) -> None:
    rows = [f"run.json.config.out_root = \"{tmp_path}\"", f"strategy {golden.ROOT}/strategy.py",
            "joined redis://127.0.0.1:5123/0 namespace golden", "OPEN open#1 ETH_USDT 0.43 at 1704071916000"]
    assert golden._normalize(rows, tmp_path, ("redis://127.0.0.1:5123/0", "<redis>")) == [
        'run.json.config.out_root = "<tmp>"', "strategy <repo>/strategy.py",
        "joined <redis> namespace golden", "OPEN open#1 ETH_USDT 0.43 at 1704071916000"]


def test_a_difference_is_shown_as_the_first_differing_rows_and_how_to_re_pin() -> None:
    pinned = [f"log [{t}, 5, \"tick\"]" for t in range(100)]
    changed = [*pinned[:50], 'log [50, 5, "OPEN open#1"]', *pinned[51:]]
    diff = golden.first_differences("outage", pinned, changed, limit=12)
    assert '-log [50, 5, "tick"]' in diff and '+log [50, 5, "OPEN open#1"]' in diff
    assert "python -m tools.golden --update" in diff
    assert golden.first_differences("outage", pinned, list(pinned)) == ""
    assert "first change: row 51, column 14" in diff
    many = golden.first_differences("outage", pinned, [r + " x" for r in pinned], limit=12)
    assert len(many.splitlines()) == 17 and "more diff lines" in many


def test_a_pin_written_twice_is_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    golden.write_pin("outage", ["a", "b"])
    first = golden.pin_path("outage").read_bytes()
    golden.write_pin("outage", ["a", "b"])
    assert golden.pin_path("outage").read_bytes() == first
    assert golden.pinned("outage") == ["a", "b"]
