"""etcd's v3 JSON gateway, as plain HTTP calls with aiohttp.

Why the gateway and not gRPC: etcd serves the same KV/Watch API as JSON on
its client port (`/v3/kv/range`, `/v3/kv/txn`, `/v3/watch`, ...), so one
well-kept asyncio HTTP library (aiohttp, which the API server needs anyway)
is the whole client. The asyncio gRPC clients for etcd on PyPI either wrap
the synchronous grpcio stubs or are thin, seldom-released forks, and would
bring grpcio and protobuf along with their version coupling. The gateway
costs a little JSON and base64 per call, which the benchmark measures.

This module knows the wire format (base64 keys, int64 as strings, error
codes) and endpoint fail-over; `backend.py` maps it onto the `Store`.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from kybernetes.store.types import (
    CompactedError,
    FutureRevisionError,
    InvalidInputError,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["Gateway", "b64", "kv_fields", "unb64"]

JSON = dict[str, Any]

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=None)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def kv_fields(kv: JSON) -> tuple[bytes, bytes, int, int]:
    """Key, value, create_revision and mod_revision of a gateway KeyValue."""
    return (
        unb64(kv.get("key")),
        unb64(kv.get("value")),
        int(kv.get("create_revision", 0)),
        int(kv.get("mod_revision", 0)),
    )


def error_from_reply(status: int, body: JSON, revision: int) -> StoreError:
    message = str(body.get("message") or body.get("error") or f"HTTP {status}")
    if "required revision has been compacted" in message:
        return CompactedError(revision)
    if "required revision is a future revision" in message:
        return FutureRevisionError(revision, 0)
    if "request is too large" in message:
        return InvalidInputError(
            "etcd refused the request as too large; values up to 1.5 MiB need etcd "
            "started with --max-request-bytes=2097152"
        )
    return StoreUnavailableError(f"etcd refused the request: {message}")


class Gateway:
    """Calls to a list of etcd endpoints, failing over when one cannot be reached.

    Only a failure to *connect* moves on to the next endpoint: the request
    was never sent, so retrying it elsewhere cannot apply it twice. A
    connection lost mid-request raises StoreUnavailableError, since the
    write may or may not have happened.
    """

    def __init__(
        self,
        endpoints: list[str],
        *,
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        connections: int = 256,
    ) -> None:
        self.endpoints = endpoints
        self._current = 0
        ssl_context: ssl.SSLContext | bool = True
        if any(e.startswith("https://") for e in endpoints):
            ssl_context = ssl.create_default_context(cafile=cacert)
            if cert:
                ssl_context.load_cert_chain(cert, key)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=ssl_context),
            timeout=REQUEST_TIMEOUT,
        )
        # Watches hold their connection open; they must not starve requests.
        self._watch_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=ssl_context),
            timeout=WATCH_TIMEOUT,
        )

    async def close(self) -> None:
        await self._session.close()
        await self._watch_session.close()

    def _order(self) -> list[int]:
        n = len(self.endpoints)
        return [(self._current + i) % n for i in range(n)]

    async def call(
        self, path: str, body: JSON, *, revision: int = 0, idempotent: bool = False
    ) -> JSON:
        """POST one unary request; raise the store error etcd's reply means.

        A read (`idempotent`) that loses its connection mid-request is tried
        once more, since a pooled connection can be stale after etcd
        restarted; a write is not, since it may have been applied.
        """
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            try:
                return await self._call_once(path, body, revision)
            except StoreUnavailableError as err:
                if attempt + 1 == attempts or not isinstance(err.__cause__, aiohttp.ClientError):
                    raise
        raise AssertionError("unreachable")

    async def _call_once(self, path: str, body: JSON, revision: int) -> JSON:
        data = orjson.dumps(body)
        last_error: Exception | None = None
        for index in self._order():
            url = self.endpoints[index] + path
            try:
                async with self._session.post(url, data=data) as resp:
                    raw = await resp.read()
                    status = resp.status
            except aiohttp.ClientConnectorError as err:
                last_error = err
                continue
            except (aiohttp.ClientError, TimeoutError) as err:
                raise StoreUnavailableError(
                    f"etcd at {self.endpoints[index]} failed mid-request ({err!r}); "
                    "the outcome of a write is unknown"
                ) from err
            self._current = index
            reply: JSON = orjson.loads(raw) if raw else {}
            if status != 200:
                raise error_from_reply(status, reply, revision)
            return reply
        raise StoreUnavailableError(
            f"no etcd endpoint reachable ({', '.join(self.endpoints)}): {last_error}"
        )

    async def server_version(self) -> str:
        """etcd's own version ("3.4.23"), from the endpoint in use."""
        url = self.endpoints[self._current] + "/version"
        try:
            async with self._session.get(url) as resp:
                body = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as err:
            raise StoreUnavailableError(f"cannot read etcd's version at {url}: {err}") from err
        return str(body.get("etcdserver", ""))

    async def stream(
        self, path: str, requests: AsyncIterator[bytes]
    ) -> tuple[aiohttp.ClientResponse, str]:
        """Open a bidirectional stream (the watch); `requests` feeds its body."""
        last_error: Exception | None = None
        for index in self._order():
            url = self.endpoints[index] + path
            try:
                # Without "Expect: 100-continue", Go's HTTP/1.1 server (etcd
                # 3.4) drains the request body before it sends the response
                # headers, so a stream whose body never ends would hang.
                resp = await self._watch_session.post(url, data=requests, expect100=True)
            except aiohttp.ClientConnectorError as err:
                last_error = err
                continue
            except (aiohttp.ClientError, TimeoutError) as err:
                raise StoreUnavailableError(f"etcd watch at {url} failed: {err!r}") from err
            self._current = index
            if resp.status != 200:
                body = await resp.read()
                resp.release()
                reply = orjson.loads(body) if body else {}
                raise error_from_reply(resp.status, reply, 0)
            return resp, self.endpoints[index]
        raise StoreUnavailableError(
            f"no etcd endpoint reachable ({', '.join(self.endpoints)}): {last_error}"
        )
