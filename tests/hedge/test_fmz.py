import pytest

from hedge.fmz import Api, ApiMissing


def test_from_globals_names_what_is_missing_and_how_to_run(fake_runtime):
    ns = fake_runtime([]).globals()
    del ns["_G"], ns["Sleep"]
    with pytest.raises(ApiMissing, match=r"Sleep, _G; run this file on FMZ or through"):
        Api.from_globals(ns)


def test_optional_globals_default_to_harmless_stand_ins(fake_runtime):
    runtime = fake_runtime([])
    api = Api.from_globals(runtime.globals())
    chart = api.chart({"series": []})
    chart.add(0, [1, 2])  # no Chart global: accepted, nothing drawn
    assert api.get_command() is None
    runtime.Sleep(1500)
    assert api.now_ms() == runtime.now_ns // 1_000_000
