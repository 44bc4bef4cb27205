"""Host-local IPAM: one address per pod from the node's podCIDR, kept in files.

As the CNI host-local plugin does it: every allocated address is a file
named after the address, created with O_EXCL (so two allocations can never
hand out one address, even across a crash), holding the owner's id. The
files outlive the kubelet, so a restarted node finds its pods' addresses
where it left them. Addresses are handed out round-robin after the last
one allocated, so a just-released address is not reused at once (a stale
conntrack entry or a client's cache would reach the wrong pod).

The network, gateway (first address) and broadcast addresses are never
handed out.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["AddressesExhausted", "HostLocalIpam", "candidates", "gateway_of"]

LAST = "last_reserved_ip"


class AddressesExhausted(Exception):
    """Every address of the podCIDR is in use."""


def gateway_of(cidr: str) -> ipaddress.IPv4Interface:
    """The bridge's address: the first host of the range, with its prefix."""
    network = ipaddress.IPv4Network(cidr)
    return ipaddress.IPv4Interface(f"{network.network_address + 1}/{network.prefixlen}")


def candidates(cidr: str, last: str | None) -> Iterable[ipaddress.IPv4Address]:
    """Allocatable addresses in round-robin order, starting after `last`."""
    network = ipaddress.IPv4Network(cidr)
    first = network.network_address + 2  # .0 network, .1 gateway
    end = network.broadcast_address  # exclusive
    size = int(end) - int(first)
    if size <= 0:
        return
    start = 0
    if last:
        previous = ipaddress.IPv4Address(last)
        if previous in network and first <= previous < end:
            start = int(previous) - int(first) + 1
    for step in range(size):
        yield first + (start + step) % size


class HostLocalIpam:
    """Allocations of one podCIDR under `root` (one file per address).

    The files are the truth; who owns what is also kept in memory after one
    scan, since reading every file for every new pod made starting N pods
    cost N² reads. The node's kubelet is the one process allocating here.
    """

    def __init__(self, root: Path, cidr: str) -> None:
        self.root = root
        self.cidr = str(ipaddress.IPv4Network(cidr))
        self.root.mkdir(parents=True, exist_ok=True)
        self._owners: dict[str, ipaddress.IPv4Address] | None = None

    def _path(self, address: ipaddress.IPv4Address | str) -> Path:
        return self.root / str(address)

    def _known_owners(self) -> dict[str, ipaddress.IPv4Address]:
        if self._owners is None:
            self._owners = {owner: address for address, owner in self.allocations().items()}
        return self._owners

    def owned_by(self, owner: str) -> ipaddress.IPv4Address | None:
        address = self._known_owners().get(owner)
        if address is not None and self._holder(address) == owner:
            return address
        self._owners = None  # changed behind our back: read the files again
        address = self._known_owners().get(owner)
        return address

    def _holder(self, address: ipaddress.IPv4Address) -> str | None:
        try:
            return self._path(address).read_text().strip()
        except OSError:
            return None

    def allocations(self) -> dict[ipaddress.IPv4Address, str]:
        found = {}
        network = ipaddress.IPv4Network(self.cidr)
        for entry in self.root.iterdir():
            try:
                address = ipaddress.IPv4Address(entry.name)
            except ValueError:
                continue
            if address in network:
                found[address] = entry.read_text().strip()
        return found

    def allocate(self, owner: str) -> ipaddress.IPv4Address:
        """The owner's address: the one it already has, else the next free one."""
        known = self._known_owners().get(owner)
        if known is not None and self._holder(known) == owner:
            return known
        if known is not None:  # the files changed behind our back
            existing = self.owned_by(owner)
            if existing is not None:
                return existing
        last_file = self.root / LAST
        last = last_file.read_text().strip() if last_file.exists() else None
        for address in candidates(self.cidr, last):
            try:
                fd = os.open(self._path(address), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as file:
                file.write(owner)
                file.flush()
                os.fsync(file.fileno())
            last_file.write_text(str(address))
            self._known_owners()[owner] = address
            return address
        raise AddressesExhausted(f"no free address left in {self.cidr}")

    def release(self, owner: str) -> None:
        address = self.owned_by(owner)
        if address is not None:
            self._path(address).unlink(missing_ok=True)
            self._known_owners().pop(owner, None)
