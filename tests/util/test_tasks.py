"""Running a process's main coroutine: it exits even when a task refuses to end."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from kybernetes.util.tasks import run_to_completion


def test_left_tasks_are_cancelled_and_a_stubborn_one_is_named_not_awaited_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []

    async def polite() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append("polite")

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # the bug this guards against

    async def main() -> None:
        asyncio.get_running_loop().create_task(polite(), name="polite")
        asyncio.get_running_loop().create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0)

    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        run_to_completion(main(), grace=0.2)
    assert time.monotonic() - began < 5
    assert ended == ["polite"]
    assert "task stubborn did not end" in caplog.text


def test_the_main_coroutines_error_reaches_the_caller() -> None:
    async def main() -> None:
        raise OSError("address already in use")

    with pytest.raises(OSError, match="address already in use"):
        run_to_completion(main())


def test_subprocesses_are_waited_for_without_a_thread_each() -> None:
    async def main() -> None:
        before = threading.active_count()
        children = [await asyncio.create_subprocess_exec("sh", "-c", f"exit {i}") for i in range(5)]
        during = threading.active_count()
        assert [await child.wait() for child in children] == [0, 1, 2, 3, 4]
        assert during == before  # pidfds in the loop, not a waiting thread per child

    run_to_completion(main())

    async def later() -> int:  # another loop after it (a test's) still runs subprocesses
        return await (await asyncio.create_subprocess_exec("sh", "-c", "exit 3")).wait()

    assert asyncio.run(later()) == 3
