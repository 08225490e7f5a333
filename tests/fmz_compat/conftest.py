"""Fixtures for runtime tests: a tiny fake simulator world with the interface helper A's provides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fmz_compat.core import LOG_TYPE_BUY, BacktestClock, ExchangeBinding, SimConfig, to_struct
from fmz_compat.runner import RunConfig, RunResult, run


class FakeExchange:
    """Just enough of an FMZ exchange object: a price path that moves with the clock."""

    def __init__(self, index: int, binding: ExchangeBinding, clock: Any, sink: Any, seed: int) -> None:
        self.index, self.binding, self.clock, self.sink, self.seed = index, binding, clock, sink, seed
        self.trades = 0
        self.latency_ms = 0

    def GetName(self) -> str:
        return self.binding.eid

    def GetLabel(self) -> str:
        return self.binding.label or self.binding.eid

    def GetCurrency(self) -> str:
        return self.binding.currency

    def GetTicker(self, symbol: str = "") -> Any:
        self.clock.check()
        minute = self.clock.now_ns() // 60_000_000_000
        last = 100.0 + self.index + (minute * (self.seed + 7)) % 13
        return to_struct({"Buy": last - 0.5, "Sell": last + 0.5, "Last": last, "Time": minute * 60_000})

    def GetAccount(self) -> Any:
        self.clock.check()
        return to_struct({"Balance": self.binding.balance, "Stocks": 0.0, "Equity": self.binding.balance})

    def Buy(self, price: float, amount: float, *extra: Any) -> str:
        self.clock.check()
        self.trades += 1
        self.sink.log(
            LOG_TYPE_BUY,
            " ".join(map(str, extra)),
            exchange_index=self.index,
            order_id=str(self.trades),
            price=price,
            amount=amount,
        )
        return str(self.trades)

    def GetPositions(self, symbol: str = "") -> list:
        self._call()
        return []

    def GetOrders(self, symbol: str = "") -> list:
        self._call()
        return []

    def CancelOrder(self, order_id: Any, *extra: Any) -> bool:
        self._call()
        return False

    def IO(self, key: str, *args: Any) -> Any:
        return True

    def _call(self) -> None:
        self.clock.check()
        if self.latency_ms:
            self.clock.advance(self.latency_ms * 1_000_000)


class FakeWorld:
    def __init__(self, cfg: SimConfig, clock: Any, sink: Any) -> None:
        unknown = [b.eid for b in cfg.bindings if not b.eid.startswith("Futures_")]
        if unknown:
            raise ValueError(f"exchange {unknown[0]!r} is not simulated; use a Futures_ venue")
        self.cfg = cfg
        self.exchanges = [FakeExchange(i, b, clock, sink, cfg.seed) for i, b in enumerate(cfg.bindings)]
        for exchange in self.exchanges:
            exchange.latency_ms = cfg.latency_ms
        self.closed = False

    def stats(self) -> dict[str, Any]:
        venues = {
            e.binding.eid: {
                "trades": e.trades,
                "volume_usdt": 100.0 * e.trades,
                "fees_usdt": 0.05 * e.trades,
                "funding_usdt": 0.0,
                "realized_pnl_usdt": 0.0,
                "equity_start_usdt": e.binding.balance,
                "equity_end_usdt": e.binding.balance + e.trades,
                "liquidations": 0,
            }
            for e in self.exchanges
        }
        return {
            "seed": self.cfg.seed,
            "venues": venues,
            "max_abs_net_exposure_usdt": 12.5,
            "max_net_exposure": {"usdt": -12.5, "coin": "BTC", "time_ms": self.cfg.start_ms},
        }

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_world_factory():
    worlds: list[FakeWorld] = []

    def factory(cfg: SimConfig, clock: Any, sink: Any) -> FakeWorld:
        world = FakeWorld(cfg, clock, sink)
        worlds.append(world)
        return world

    factory.worlds = worlds  # type: ignore[attr-defined]
    return factory


START_MS = 1_704_067_200_000  # 2024-01-01 UTC


@pytest.fixture
def run_source(tmp_path: Path, fake_world_factory):
    """Run strategy source text through the runner on the fake world; returns (RunResult, output lines)."""

    def go(
        source: str,
        *,
        hours: float = 1,
        params: str | None = None,
        seed: int = 1,
        args: tuple = (),
        venues: tuple[str, ...] = ("Futures_Binance", "Futures_OKX"),
        commands: tuple[str, ...] = (),
        latency_ms: int = 0,
    ) -> tuple[RunResult, list]:
        path = tmp_path / "strategy.py"
        path.write_text(source, encoding="utf-8")
        config = RunConfig(
            mode="backtest",
            strategy_path=path,
            bindings=tuple(ExchangeBinding(eid=v) for v in venues),
            start_ms=START_MS,
            end_ms=START_MS + int(hours * 3_600_000),
            seed=seed,
            params_json=params,
            args=args,
            out_root=tmp_path / "runs",
            quiet=True,
            latency_ms=latency_ms,
        )
        lines: list[str] = []

        def queue(runtime: Any) -> None:
            for command in commands:
                runtime.send_command(command)

        return run(config, world_factory=fake_world_factory, out=lines.append, on_runtime=queue), lines

    return go


@pytest.fixture
def clock() -> BacktestClock:
    return BacktestClock(START_MS * 1_000_000, (START_MS + 86_400_000) * 1_000_000)
