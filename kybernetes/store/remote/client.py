"""`RemoteStore`: a `Store` that is a store server in another process.

Each call is one HTTP request to `server.py`; each watch is one WebSocket.
Nothing is retried: when the server cannot be reached the call raises
`StoreUnavailableError`, saying whether a write may have been applied, and
a watch whose connection drops raises it too instead of resuming on its
own. The caller (the API server, a crash test's history recorder) knows
its last revision and whether re-sending a write is safe; this module does
not. Inputs are checked with the same helpers as every backend before they
are sent, so a bad key fails at once and with the same words; the server's
backend checks them again.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import aiohttp
import orjson

from kybernetes.store import keys
from kybernetes.store.remote import protocol
from kybernetes.store.remote.protocol import JSON, Fields
from kybernetes.store.types import (
    InvalidInputError,
    KeyValue,
    ListResult,
    Store,
    StoreClosedError,
    StoreUnavailableError,
    Watch,
    WatchBatch,
)
from kybernetes.util.shared_read import SharedRead

__all__ = ["RemoteStore"]

T = TypeVar("T")

# Enough for 100 concurrent writers plus readers; beyond it requests queue.
CONNECTIONS = 256
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=None)
# Pings find a server that stopped answering without closing the socket.
HEARTBEAT = 20.0
LARGE_BODY = 1024 * 1024
_PROGRESS = orjson.dumps(protocol.PROGRESS_REQUEST)


def _encode(body: JSON) -> bytes | io.BytesIO:
    try:
        data = orjson.dumps(body)
    except TypeError as err:  # e.g. a revision beyond 64 bits
        raise InvalidInputError(f"request cannot be encoded: {err}") from None
    # aiohttp writes a big bytes body in one piece (and warns); a file-like
    # one goes out in chunks, so other requests keep flowing meanwhile.
    return data if len(data) < LARGE_BODY else io.BytesIO(data)


def _decode(read: Callable[[], T], base_url: str) -> T:
    """Run a reply decoder; a malformed reply means the server cannot be relied on."""
    try:
        return read()
    except InvalidInputError as err:
        raise StoreUnavailableError(
            f"the remote store at {base_url} sent a malformed reply: {err}"
        ) from err


class RemoteStore(Store):
    """A `Store` served by `python -m kybernetes.store.remote.server`.

    Create it with `await RemoteStore.open("http://127.0.0.1:PORT")`.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=REQUEST_TIMEOUT
        )
        # A watch holds its connection for its whole life; in the request
        # pool, a thousand watches would starve the writers.
        self._watch_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=WATCH_TIMEOUT
        )
        self._watches: set[_RemoteWatch] = set()
        self._closed = False
        # Every cached GET and LIST asks first: concurrent ones share a request.
        self._revision = SharedRead(self._read_revision)

    @classmethod
    async def open(cls, base_url: str) -> RemoteStore:
        """Connect, and fail now (StoreUnavailableError) if nobody answers."""
        store = cls(base_url)
        try:
            await store.current_revision()
        except BaseException:
            await store.close()
            raise
        return store

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def _call(self, method: str, op: str, body: JSON | None, *, write: bool) -> Fields:
        """One request; the reply's fields, or the error it carries raised."""
        self._check_open()
        url = f"{self.base_url}/v1/{op}"
        data = None if body is None else _encode(body)
        try:
            async with self._session.request(method, url, data=data) as resp:
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as err:
            # Connecting failed, so nothing was sent.
            raise StoreUnavailableError(
                f"cannot reach the remote store at {self.base_url} ({err}); nothing was sent"
            ) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            outcome = "the outcome of the write is unknown" if write else "retry the read"
            raise StoreUnavailableError(
                f"the remote store at {self.base_url} failed during {op} ({err!r}); {outcome}"
            ) from err
        try:
            reply = Fields.parse(raw, f"{op} reply")
            error = protocol.error_from_json(reply) if status != 200 else None
        except InvalidInputError as err:
            raise StoreUnavailableError(
                f"the remote store at {self.base_url} sent a malformed {op} reply "
                f"(HTTP {status}): {err}"
            ) from err
        if error is not None:
            raise error
        return reply

    async def _kv_call(self, op: str, body: JSON, *, write: bool) -> KeyValue:
        reply = await self._call("POST", op, body, write=write)
        return _decode(lambda: protocol.kv_from_json(reply.obj("kv")), self.base_url)

    # -- reads ---------------------------------------------------------------

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        keys.check_key(key)
        keys.check_revision(revision)
        return await self._kv_call("get", {"key": key, "revision": revision}, write=False)

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_key: str | None = None,
    ) -> ListResult:
        # Checked here too, so a bad request fails with the same words unsent.
        keys.list_start(prefix, revision, limit, continue_key)
        body = {
            "prefix": prefix,
            "revision": revision,
            "limit": limit,
            "continue_key": continue_key,
        }
        reply = await self._call("POST", "list", body, write=False)
        return _decode(lambda: protocol.list_from_json(reply), self.base_url)

    async def current_revision(self) -> int:
        self._check_open()
        return await self._revision()

    async def _read_revision(self) -> int:
        reply = await self._call("GET", "revision", None, write=False)
        return _decode(lambda: reply.integer("revision"), self.base_url)

    # -- writes --------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        data = keys.check_value(keys.check_key(key), value)
        return await self._kv_call("create", {"key": key, "value": protocol.b64(data)}, write=True)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        data = keys.check_value(keys.check_key(key), value)
        keys.check_revision(expected_revision, "expected_revision")
        body = {"key": key, "value": protocol.b64(data), "expected_revision": expected_revision}
        return await self._kv_call("update", body, write=True)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        keys.check_key(key)
        keys.check_revision(expected_revision, "expected_revision")
        body = {"key": key, "expected_revision": expected_revision}
        return await self._kv_call("delete", body, write=True)

    async def compact(self, revision: int) -> None:
        keys.check_revision(revision)
        await self._call("POST", "compact", {"revision": revision}, write=True)

    # -- watches and lifecycle -----------------------------------------------

    def watch(self, prefix: str, *, after: int) -> Watch:
        self._check_open()
        keys.check_prefix(prefix)
        keys.check_revision(after, "after")
        watch = _RemoteWatch(self, prefix, after)
        self._watches.add(watch)
        return watch

    async def close(self) -> None:
        """Close the sessions; open watches end with StoreClosedError."""
        if self._closed:
            return
        self._closed = True
        await self._revision.close()
        for watch in list(self._watches):
            await watch._end(store_closed=True)
        await self._session.close()
        await self._watch_session.close()


class _RemoteWatch(Watch):
    """One WebSocket on /v1/watch, opened when iteration starts.

    Ends quietly after `close()`, with StoreClosedError after the store's
    `close()`, with the server's error when it sends one, and with
    StoreUnavailableError when the connection drops.
    """

    def __init__(self, store: RemoteStore, prefix: str, after: int) -> None:
        self.prefix = prefix
        self._store = store
        self._last = after  # the revision delivered up to, to resume from
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._progress_wanted = False
        self._closed = False
        self._store_closed = False

    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[WatchBatch]:
        try:
            ws = await self._connect()
            while ws is not None:
                msg = await ws.receive()
                if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    break  # closed by us, by the server or by the network
                yield self._batch(msg.data)
            if self._store_closed:
                raise StoreClosedError()
            if not self._closed:
                raise StoreUnavailableError(
                    f"the watch on {self.prefix!r} lost its connection to the remote store at "
                    f"{self._store.base_url}; watch again after revision {self._last}"
                )
        finally:
            await self._end(store_closed=False)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        if self._closed:
            return None
        base = self._store.base_url
        try:
            ws = await self._store._watch_session.ws_connect(
                f"{base}/v1/watch",
                params={"prefix": self.prefix, "after": str(self._last)},
                heartbeat=HEARTBEAT,
                compress=0,
                # Batches are as large as the store makes them (catch-up
                # pages of big values); the server is trusted to be sane.
                max_msg_size=0,
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            if self._closed:
                return None
            raise StoreUnavailableError(
                f"cannot open a watch on the remote store at {base}: {err}"
            ) from err
        if self._closed:  # closed while connecting
            await ws.close()
            return None
        self._ws = ws
        if self._progress_wanted:
            await self._send(_PROGRESS)
        return ws

    def _batch(self, data: str | bytes) -> WatchBatch:
        base = self._store.base_url
        message = _decode(lambda: Fields.parse(data, "watch message"), base)
        if message.has("error"):
            raise _decode(lambda: protocol.error_from_json(message), base)
        batch = _decode(lambda: protocol.batch_from_json(message), base)
        self._last = max(self._last, batch.revision)
        return batch

    async def _send(self, data: bytes) -> None:
        assert self._ws is not None
        # A lost connection is for the iteration to report, not the request.
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await self._ws.send_bytes(data)

    async def request_progress(self) -> None:
        if self._ws is None:
            self._progress_wanted = True  # sent once connected
            return
        await self._send(_PROGRESS)

    async def _end(self, *, store_closed: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._store_closed = store_closed
        self._store._watches.discard(self)
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        await self._end(store_closed=False)
