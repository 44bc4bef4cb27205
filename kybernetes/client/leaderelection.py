"""Leader election through a coordination.k8s.io/v1 Lease, as client-go does it.

A candidate takes the Lease when it is free or its holder stopped renewing
for longer than the lease duration, and then renews it every retry period.
Every write is conditioned on the Lease's resourceVersion, so of two
candidates racing for it exactly one wins (the other gets 409), and a
deposed leader's late renewal fails instead of overwriting its successor.
A leader that cannot renew within the renew deadline stops leading: the
work it runs is cancelled before another candidate can take over.

Like client-go's, this is not fencing: components also condition their own
writes on resourceVersions (see reliability.md on leases).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path

__all__ = ["LeaderElector", "LeaseConfig", "lease_is_free"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def lease_is_free(spec: Obj, identity: str, now: datetime.datetime) -> bool:
    """May `identity` take (or keep) a Lease with this spec at `now`?"""
    holder = spec.get("holderIdentity") or ""
    if not holder or holder == identity:
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return renewed is None or renewed + datetime.timedelta(seconds=duration) <= now


class LeaderElector:
    def __init__(
        self,
        client: ApiClient,
        config: LeaseConfig,
        *,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._client = client
        self.config = config
        self._now = now
        self._path = resource_path(
            "coordination.k8s.io", "v1", "leases", config.namespace, config.name
        )
        self.is_leader = False

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the Lease afterwards."""
        now = self._now()
        try:
            lease = await self._client.get(self._path)
        except ApiStatusError as err:
            if err.code != 404:
                raise
            return await self._create(now)
        spec = lease.get("spec") or {}
        if not lease_is_free(spec, self.config.identity, now):
            return False
        taking_over = spec.get("holderIdentity") != self.config.identity
        spec = {
            **spec,
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": int(self.config.lease_duration),
            "renewTime": _micro_time(now),
        }
        if taking_over:
            spec["acquireTime"] = _micro_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            await self._client.update(self._path, {**lease, "spec": spec})
        except ApiStatusError as err:
            if err.code == 409:
                return False  # someone else wrote first: its write stands
            raise
        return True

    async def _create(self, now: datetime.datetime) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": {
                "holderIdentity": self.config.identity,
                "leaseDurationSeconds": int(self.config.lease_duration),
                "acquireTime": _micro_time(now),
                "renewTime": _micro_time(now),
                "leaseTransitions": 0,
            },
        }
        collection = resource_path("coordination.k8s.io", "v1", "leases", self.config.namespace)
        try:
            await self._client.create(collection, body)
        except ApiStatusError as err:
            if err.code == 409:
                return False
            raise
        return True

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquire, then run `lead()` while renewing; returns when leadership is lost."""
        while True:  # retry on the lease's own schedule until we hold it
            if await self._attempt():
                break
            await asyncio.sleep(self.config.retry_period)
        self.is_leader = True
        log.info("%s leads %s/%s", self.config.identity, self.config.namespace, self.config.name)
        work: asyncio.Task[None] = asyncio.create_task(
            lead(), name=f"kyb-leader {self.config.name}"
        )
        try:
            await self._renew_until_lost(work)
        finally:
            self.is_leader = False
            work.cancel()
            await asyncio.wait([work])

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except Exception as err:  # noqa: BLE001 - the API is unreachable: try again later
            log.warning("leader election %s: %r", self.config.name, err)
            return False

    async def _renew_until_lost(self, work: asyncio.Task[None]) -> None:
        last_renewal = asyncio.get_running_loop().time()
        while not work.done():
            await asyncio.sleep(self.config.retry_period)
            if await self._attempt():
                last_renewal = asyncio.get_running_loop().time()
            elif asyncio.get_running_loop().time() - last_renewal > self.config.renew_deadline:
                log.warning("%s lost the lease %s", self.config.identity, self.config.name)
                return

    async def release(self) -> None:
        """Give the Lease up at shutdown so a successor need not wait it out."""
        try:
            lease = await self._client.get(self._path)
        except ApiStatusError:
            return
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.config.identity:
            return
        spec = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
        with contextlib.suppress(ApiStatusError):  # already taken over: nothing to give up
            await self._client.update(self._path, {**lease, "spec": spec})
