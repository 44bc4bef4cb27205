"""Cluster DNS: `svc.ns.svc.cluster.local` and friends, served from the informer caches.

Wire format: dnspython. It is the best-known DNS library for Python,
maintained, pure Python, typed (mypy strict needs no stubs), and it brings
the async UDP/TCP client the forwarder needs (with TCP fallback on
truncation) and the truncating renderer the server needs; dnslib is
smaller but untyped and has no async client. A query costs ~15 µs to parse;
answers are cached as finished wire messages, so the hot path is one parse
and a dict lookup.

Modules: view (informer caches and the change counter), resolve (pure:
names to records), cache, upstream (forwarding), server (UDP/TCP), run
(`run_dns` and the kube-dns endpoints).
"""

from kybernetes.dns.run import run_dns

__all__ = ["run_dns"]
