"""Control-plane components as tasks: inside `kyb server`, or alone as their own process.

Every component is a client of the API like any other (STYLE.md habit 9):
it needs only a kubeconfig. `kyb server` runs them beside the API server
through the admin kubeconfig; `kyb controller-manager` and friends run one
of them in a process of its own against any cluster. Both go through
`COMPONENTS`, one entry per component.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.scheduler.scheduler import run_scheduler
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["COMPONENTS", "Component", "RunningComponent", "run_alone", "start_component"]

log = logging.getLogger("kybernetes.components")


@dataclass(frozen=True)
class Component:
    name: str
    help: str
    run: Callable[[ApiClient], Coroutine[Any, Any, None]]


def _controller_manager(client: ApiClient) -> Coroutine[Any, Any, None]:
    return run_controller_manager(client)


def _scheduler(client: ApiClient) -> Coroutine[Any, Any, None]:
    return run_scheduler(InformerFactory(client))


# One entry per component, in start order.
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("controller-manager", "run the controllers (leader-elected)",
                  _controller_manager),
        Component("scheduler", "place pending pods on nodes (leader-elected)", _scheduler),
    )
}  # fmt: skip


@dataclass
class RunningComponent:
    name: str
    task: asyncio.Task[None]
    client: ApiClient

    async def stop(self) -> None:
        await cancel_and_wait(self.task)
        await self.client.close()


def start_component(component: Component, kubeconfig: Path) -> RunningComponent:
    """Run `component` as a supervised task; an unexpected end is logged loudly."""
    client = ApiClient.from_kubeconfig(kubeconfig)
    task = asyncio.create_task(component.run(client), name=f"kyb-{component.name}")

    def report_end(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("the %s stopped", component.name, exc_info=done.exception())

    task.add_done_callback(report_end)
    return RunningComponent(component.name, task, client)


async def run_alone(component: Component, kubeconfig: Path) -> None:
    """One component in this process until SIGTERM/SIGINT or until it fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = start_component(component, kubeconfig)
    log.info("%s running against %s", component.name, kubeconfig)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([running.task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(waiter)
        failed = running.task.done() and not running.task.cancelled()
        error = running.task.exception() if failed else None
        await running.stop()
    if error is not None:
        raise error
