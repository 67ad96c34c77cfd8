"""get_plots (every plot listed) only when it can say something new (127.98.2.20)."""

from __future__ import annotations

from typing import Any

from hashfleet.drivers.chia import driver as chia_driver
from hashfleet.drivers.chia.driver import ChiaDriver
from tests.drivers.chia.test_driver_sim import collect, driver, farm


def spy(drv: ChiaDriver) -> list[str]:
    asked: list[str] = []
    for client in drv.clients.values():
        real = client.request

        async def request(method: str, path: str, *a: Any, _real: Any = real, **kw: Any) -> Any:
            asked.append(path)
            return await _real(method, path, *a, **kw)

        client.request = request  # type: ignore[method-assign]
    return asked


async def test_plot_list_is_read_when_the_farmer_count_changes_or_it_is_old() -> None:
    async with farm(20) as sim:
        drv = driver(sim)
        asked = spy(drv)
        try:
            first = await collect(drv)
            assert "/get_plots" in asked
            asked.clear()
            await collect(drv)
            assert "/get_plots" not in asked and "/get_signage_points" in asked
            sim.set_fault("dead_board")  # a plot directory is lost: the farmer's count drops
            lost = await collect(drv)
            assert "/get_plots" in asked
            asked.clear()
            drv._plots_at -= chia_driver.PLOTS_REFRESH_S
            await collect(drv)
            assert "/get_plots" in asked
        finally:
            await drv.close()
    assert first.stats.chia is not None and lost.stats.chia is not None
    assert first.stats.chia.plots_missing == 0
    assert lost.stats.chia.plots_missing and "ERR_CHIA_PLOTS_MISSING" in lost.stats.errors
