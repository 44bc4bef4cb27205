"""Backends by URL scheme, in one registry (kine's drivers/registry.go idea).

    sqlite:///var/lib/kybernetes/state.db?compact_interval=300
    etcd://127.0.0.1:2379,10.0.0.2:2379
    etcd+https://host:2379?cacert=ca.pem&cert=client.pem&key=client-key.pem

Adding a backend is one opener function and one line in `OPENERS`; no
backend module imports another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from kybernetes.store.compactor import DEFAULT_COMPACT_INTERVAL
from kybernetes.store.types import InvalidInputError, Store

__all__ = ["OPENERS", "StoreURL", "open_store", "parse_store_url"]


class StoreURL:
    """A parsed store URL: scheme, hosts, path and query options."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.scheme:
            raise InvalidInputError(
                f"store URL {url!r} has no scheme; use sqlite:///path/state.db or etcd://host:2379"
            )
        self.url = url
        self.scheme = parts.scheme
        self.hosts = [h for h in parts.netloc.split(",") if h]
        self.path = parts.path
        self.options = {k: v[-1] for k, v in parse_qs(parts.query).items()}

    def float_option(self, name: str, default: float) -> float:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise InvalidInputError(f"store URL option {name}={raw!r} is not a number") from None


def parse_store_url(url: str) -> StoreURL:
    return StoreURL(url)


async def _open_sqlite(url: StoreURL) -> Store:
    from kybernetes.store.sqlite.backend import SqliteStore

    if not url.path or url.hosts:
        raise InvalidInputError(
            f"SQLite store URL {url.url!r} needs an absolute path: sqlite:///path/state.db"
        )
    return await SqliteStore.open(
        url.path,
        compact_interval=url.float_option("compact_interval", DEFAULT_COMPACT_INTERVAL),
    )


async def _open_etcd(url: StoreURL) -> Store:
    from kybernetes.store.etcd.backend import EtcdStore

    if not url.hosts:
        raise InvalidInputError(
            f"etcd store URL {url.url!r} names no endpoint: etcd://host:2379[,host2:2379]"
        )
    tls = url.scheme == "etcd+https"
    return await EtcdStore.open(
        [f"{'https' if tls else 'http'}://{host}" for host in url.hosts],
        prefix=url.path.rstrip("/"),
        cacert=url.options.get("cacert"),
        cert=url.options.get("cert"),
        key=url.options.get("key"),
        compact_interval=url.float_option("compact_interval", 0.0),
    )


async def _open_remote(url: StoreURL) -> Store:
    from kybernetes.store.remote.client import RemoteStore

    if len(url.hosts) != 1 or url.path not in ("", "/"):
        raise InvalidInputError(
            f"remote store URL {url.url!r} needs one HOST:PORT and no path: kyb://127.0.0.1:2390"
        )
    return await RemoteStore.open(f"http://{url.hosts[0]}")


OPENERS: dict[str, Callable[[StoreURL], Awaitable[Store]]] = {
    "sqlite": _open_sqlite,
    "etcd": _open_etcd,
    "etcd+http": _open_etcd,
    "etcd+https": _open_etcd,
    "kyb": _open_remote,
}


async def open_store(url: str) -> Store:
    """Open the backend the URL names."""
    parsed = parse_store_url(url)
    opener = OPENERS.get(parsed.scheme)
    if opener is None:
        known = ", ".join(sorted(OPENERS))
        raise InvalidInputError(
            f"store URL {url!r}: unknown scheme {parsed.scheme!r}; known: {known}"
        )
    return await opener(parsed)
