"""The resource metrics scraper: metrics-server's loop, inside the API server.

Every `resolution` seconds (metrics-server's `--metric-resolution`, 15 s) it
asks each node's kubelet for `/metrics/resource` through the KubeletConnector
(the API server's client certificate), all nodes at once, each with a
deadline shorter than the period, and stores what each answers
(metricsstore.py). Simulated nodes have no kubelet and are never dialled; a
node that does not answer, or no longer exists, loses its figures, as in
metrics-server. Idle, it costs one request per node per period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from kybernetes.api.resourcemetrics import parse_exposition
from kybernetes.apiserver import errors
from kybernetes.apiserver.metricsstore import MetricsStore, decode_batch
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.podlogs import SIMULATED_LABEL, KubeletConnector, kubelet_endpoint

__all__ = ["RESOLUTION", "MetricsScraper"]

log = logging.getLogger(__name__)

RESOLUTION = 15.0
TIMEOUT_SHARE = 0.9  # of the period: a slow kubelet never delays the next round
INLINE_PARSE_BYTES = 64 * 1024  # bigger answers are parsed off the event loop


def scrapable(node: Obj) -> bool:
    """A node with a kubelet to ask (simulated nodes have none)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get(SIMULATED_LABEL) != "true"


class MetricsScraper:
    def __init__(
        self,
        *,
        nodes: Callable[[], Awaitable[list[Obj]]],
        kubelets: KubeletConnector,
        resolution: float = RESOLUTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = MetricsStore(resolution)
        self._nodes = nodes
        self._kubelets = kubelets
        self._resolution = resolution
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kyb-metrics-scraper")
        self._task.add_done_callback(_report_end)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                if not self._task.cancelled():
                    raise
            self._task = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.scrape_once()
            except Exception:  # a round that fails is logged; the next one tries again
                log.exception("resource metrics: scrape failed")
            await asyncio.sleep(max(self._resolution - (time.monotonic() - started), 1.0))

    async def scrape_once(self) -> None:
        """One round: every node that has a kubelet, at once."""
        nodes = [n for n in await self._nodes() if scrapable(n)]
        names = {str(n["metadata"]["name"]) for n in nodes}
        for gone in self.store.nodes() - names:
            self.store.forget(gone)
        await asyncio.gather(*(self._scrape(node) for node in nodes))

    async def _scrape(self, node: Obj) -> None:
        name = str(node["metadata"]["name"])
        try:
            endpoint = kubelet_endpoint(node, "it has no metrics")
            async with asyncio.timeout(self._resolution * TIMEOUT_SHARE):
                text = await self._kubelets.get_text(endpoint, "/metrics/resource")
            if len(text) > INLINE_PARSE_BYTES:
                samples = await asyncio.to_thread(parse_exposition, text)
            else:
                samples = parse_exposition(text)
        except (errors.ApiError, TimeoutError, ValueError) as err:
            log.info("resource metrics: node %s: %s", name, err or type(err).__name__)
            self.store.forget(name)
            return
        self.store.store(name, decode_batch(samples, self._clock()))


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("resource metrics scraper ended", exc_info=task.exception())
