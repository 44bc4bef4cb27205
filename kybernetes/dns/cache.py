"""The answer cache: cluster answers until the cluster changes, forwarded ones by TTL.

Cluster answers are kept as finished wire messages (only the ID differs
between two identical questions), tagged with the generation of what they
depend on (one namespace, or the whole cluster): an entry from an older
generation is a miss, so no answer outlives the Service, EndpointSlice or
Pod change that would alter it, whatever its TTL. They are
also dropped after the record TTL so memory follows the working set.

Forwarded answers are kept as messages with the time they arrived and
served with their TTLs counted down, as CoreDNS' cache does: at most
`max_ttl` (30 s) for answers and `max_negative_ttl` (5 s) for NXDOMAIN or
NODATA, never errors. The clock is injected so tests step it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

__all__ = ["AnswerCache", "Forwarded", "FORWARD", "negative_or_positive_ttl"]

FORWARD = b""  # a cluster-cache entry meaning "not ours: forward it"


@dataclass
class Forwarded:
    rcode: int
    sections: tuple[list[Any], list[Any], list[Any]]  # answer, authority, additional
    stored: float
    expires: float

    def aged(self, now: float) -> tuple[list[Any], list[Any], list[Any]]:
        """The sections with every TTL lowered by the time spent here."""
        age = int(now - self.stored)
        return tuple(  # type: ignore[return-value]
            [dns.rrset.from_rdata_list(rr.name, max(0, rr.ttl - age), list(rr)) for rr in section]
            for section in self.sections
        )


def negative_or_positive_ttl(response: dns.message.Message) -> tuple[int, bool] | None:
    """How long a forwarded response may be kept and whether it is a "no"; None: never."""
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    if rcode == dns.rcode.NOERROR and response.answer:
        return min(rr.ttl for rr in response.answer), False
    # RFC 2308: a "no" lives as long as the smaller of the SOA's TTL and its minimum.
    soas = [rr for rr in response.authority if rr.rdtype == dns.rdatatype.SOA]
    if not soas:
        return None
    return min(soas[0].ttl, soas[0][0].minimum), True


class AnswerCache:
    def __init__(
        self,
        *,
        ttl: float = 30.0,
        max_ttl: float = 30.0,
        max_negative_ttl: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_ttl = max_ttl
        self._max_negative_ttl = max_negative_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cluster: dict[Hashable, tuple[str | None, int, float, bytes]] = {}
        self._forwarded: dict[Hashable, Forwarded] = {}
        self.hits = 0
        self.misses = 0

    def cluster(self, key: Hashable, generation_of: Callable[[str | None], int]) -> bytes | None:
        """The kept reply, if what it depends on has not changed since."""
        entry = self._cluster.get(key)
        if (entry is None or entry[1] != generation_of(entry[0])
                or entry[2] <= self._clock()):  # fmt: skip
            self.misses += 1
            return None
        self.hits += 1
        return entry[3]

    def keep_cluster(self, key: Hashable, scope: str | None, generation: int, wire: bytes
                     ) -> None:  # fmt: skip
        """Keep `wire`, computed at `generation` of `scope` (a namespace; None: all)."""
        if len(self._cluster) >= self._max_entries:
            self._cluster.clear()  # crude but bounded; a full cache is rebuilt in one TTL
        self._cluster[key] = (scope, generation, self._clock() + self._ttl, wire)

    def forwarded(self, key: Hashable) -> Forwarded | None:
        entry = self._forwarded.get(key)
        if entry is None or entry.expires <= self._clock():
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def keep_forwarded(self, key: Hashable, response: dns.message.Message) -> None:
        lifetime = negative_or_positive_ttl(response)
        if lifetime is None:
            return
        record_ttl, negative = lifetime
        ttl = min(record_ttl, self._max_negative_ttl if negative else self._max_ttl)
        if ttl <= 0:
            return
        if len(self._forwarded) >= self._max_entries:
            self._forwarded.clear()
        now = self._clock()
        sections = (list(response.answer), list(response.authority), list(response.additional))
        self._forwarded[key] = Forwarded(response.rcode(), sections, now, now + ttl)
