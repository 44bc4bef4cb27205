"""Service ClusterIP and NodePort allocation, persisted as claims in the store.

Each allocated IP or port is a key of its own (`/registry/ranges/...`),
created with the store's create-if-absent, so two API servers can never
hand out the same one and a restart forgets nothing. The choice of a free
value is a pure function; the claim is the only I/O.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
from collections.abc import Callable, Iterable

from kybernetes.store import AlreadyExistsError, NotFoundError, Store

__all__ = [
    "DEFAULT_NODE_PORTS",
    "DEFAULT_SERVICE_CIDR",
    "RangeFull",
    "ServiceIPs",
    "NodePorts",
    "pick_free",
]

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORTS = (30000, 32767)
CLAIM_ATTEMPTS = 32


class RangeFull(Exception):
    pass


def pick_free(candidates: int, used: Callable[[int], bool], rng: random.Random) -> int | None:
    """An index in [0, candidates) that is not used: random first, then a scan."""
    for _ in range(min(candidates, 64)):
        index = rng.randrange(candidates)
        if not used(index):
            return index
    start = rng.randrange(candidates)
    for offset in range(candidates):
        index = (start + offset) % candidates
        if not used(index):
            return index
    return None


class _Claims:
    """Values claimed as store keys under one prefix."""

    def __init__(self, store: Store, prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    async def used(self) -> set[str]:
        page = await self._store.list(self._prefix)
        return {kv.key[len(self._prefix) :] for kv in page.kvs}

    async def claim(self, value: str, owner: str) -> bool:
        try:
            await self._store.create(self._prefix + value, owner.encode())
        except AlreadyExistsError:
            return False
        return True

    async def release(self, value: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._store.delete(self._prefix + value)


class ServiceIPs:
    """ClusterIPs from the service CIDR; the first address is the `kubernetes` service's."""

    def __init__(self, store: Store, cidr: str = DEFAULT_SERVICE_CIDR, *, seed: int | None = None):
        self.network = ipaddress.ip_network(cidr)
        self._claims = _Claims(store, "/registry/ranges/serviceips/")
        self._rng = random.Random(seed)

    @property
    def first(self) -> str:
        return str(self.network.network_address + 1)

    def contains(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return (
            address in self.network
            and address != self.network.network_address
            and address != self.network.broadcast_address
        )

    async def allocate(self, owner: str) -> str:
        used = await self._claims.used()
        # Skip the network address, the first IP (reserved for `kubernetes`) and broadcast.
        size = self.network.num_addresses - 3
        base = int(self.network.network_address) + 2
        for _ in range(CLAIM_ATTEMPTS):
            index = pick_free(
                size, lambda i: str(ipaddress.ip_address(base + i)) in used, self._rng
            )
            if index is None:
                break
            ip = str(ipaddress.ip_address(base + index))
            if await self._claims.claim(ip, owner):
                return ip
            used.add(ip)
        raise RangeFull(f"no free ClusterIP left in {self.network}")

    async def claim(self, ip: str, owner: str) -> bool:
        return await self._claims.claim(ip, owner)

    async def release(self, ip: str) -> None:
        await self._claims.release(ip)


class NodePorts:
    def __init__(
        self, store: Store, ports: tuple[int, int] = DEFAULT_NODE_PORTS, *, seed: int | None = None
    ):
        self.low, self.high = ports
        self._claims = _Claims(store, "/registry/ranges/servicenodeports/")
        self._rng = random.Random(seed)

    def contains(self, port: int) -> bool:
        return self.low <= port <= self.high

    async def allocate(self, owner: str, taken: Iterable[int] = ()) -> int:
        used = await self._claims.used() | {str(p) for p in taken}
        size = self.high - self.low + 1
        for _ in range(CLAIM_ATTEMPTS):
            index = pick_free(size, lambda i: str(self.low + i) in used, self._rng)
            if index is None:
                break
            port = self.low + index
            if await self._claims.claim(str(port), owner):
                return port
            used.add(str(port))
        raise RangeFull(f"no free NodePort left in {self.low}-{self.high}")

    async def claim(self, port: int, owner: str) -> bool:
        return await self._claims.claim(str(port), owner)

    async def release(self, port: int) -> None:
        await self._claims.release(str(port))
