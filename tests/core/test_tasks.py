"""Stopping background tasks: a task that swallows its cancellation is cancelled again."""

from __future__ import annotations

import asyncio

import pytest

from hashfleet.core.tasks import cancel_all


async def test_a_swallowed_cancellation_is_cancelled_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    swallowed = 0

    async def retry_loop() -> None:
        # What a retry loop does when a cancellation comes back as a TimeoutError (an
        # aiohttp timeout or asyncio.wait_for on Python 3.11): takes it for a failed try.
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    async def failed() -> None:
        raise ValueError("broken loop")

    polite = asyncio.create_task(asyncio.sleep(60), name="polite")
    stubborn = asyncio.create_task(retry_loop(), name="stubborn")
    broken = asyncio.create_task(failed(), name="broken")
    await asyncio.sleep(0.05)
    async with asyncio.timeout(5):
        await cancel_all([polite, stubborn, broken], grace_s=0.1)
    assert polite.cancelled() and stubborn.cancelled() and swallowed == 1
    assert "stubborn" in caplog.text  # cancelled twice, and said so
    assert "broken loop" in caplog.text  # an error no one awaited is logged, not lost
