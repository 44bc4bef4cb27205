"""Any `Store`, served over HTTP from the one process that owns it.

Why a server at all: SQLite allows one writing process, and crash tests must
SIGKILL that process while the processes recording history live on, so the
store has to sit behind a socket. `kyb start` uses the same server to bring
the store up before the API server exists. It is a plain translation: each
POST /v1/<op> is one `Store` call, each WebSocket on /v1/watch is one
`Store.watch`, and errors keep their class (see `protocol.py`). Nothing is
cached or retried here; the backend stays the only place that validates
and decides.

Run it with
``python -m kybernetes.store.remote.server --store-url sqlite:///path/db --listen 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import WSMsgType, web

from kybernetes.store.remote import protocol
from kybernetes.store.remote.protocol import JSON, Fields
from kybernetes.store.types import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    InvalidInputError,
    Store,
    StoreError,
    StoreUnavailableError,
    Watch,
)
from kybernetes.util.addresses import split_host_port
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["listening_url", "main", "serve_store"]

log = logging.getLogger(__name__)

# A value at the limit grows by 4/3 in base64; leave room for the key and JSON.
MAX_REQUEST_BYTES = MAX_VALUE_BYTES * 4 // 3 + 4 * MAX_KEY_BYTES + 4096
# Pings find clients that vanished without closing, so their watches end.
HEARTBEAT = 20.0
SHUTDOWN_TIMEOUT = 10.0
PUMP_GRACE = 1.0


class _State:
    """The served store and the watches open on it, for an orderly shutdown."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.watches: set[Watch] = set()
        self.closing = False


STATE = web.AppKey("kyb_remote_store", _State)

Operation = Callable[[Store, Fields], Awaitable[JSON]]


# -- unary calls: one handler per Store method --------------------------------


async def _get(store: Store, body: Fields) -> JSON:
    key, revision = body.text("key"), body.integer("revision", 0)
    body.done()
    return {"kv": protocol.kv_to_json(await store.get(key, revision=revision))}


async def _list(store: Store, body: Fields) -> JSON:
    prefix = body.text("prefix")
    revision, limit = body.integer("revision", 0), body.integer("limit", 0)
    continue_key = body.optional_text("continue_key")
    body.done()
    result = await store.list(prefix, revision=revision, limit=limit, continue_key=continue_key)
    return protocol.list_to_json(result)


async def _create(store: Store, body: Fields) -> JSON:
    key, value = body.text("key"), body.blob("value")
    body.done()
    return {"kv": protocol.kv_to_json(await store.create(key, value))}


async def _update(store: Store, body: Fields) -> JSON:
    key, value = body.text("key"), body.blob("value")
    expected = body.integer("expected_revision")
    body.done()
    kv = await store.update(key, value, expected_revision=expected)
    return {"kv": protocol.kv_to_json(kv)}


async def _delete(store: Store, body: Fields) -> JSON:
    key, expected = body.text("key"), body.integer("expected_revision", 0)
    body.done()
    return {"kv": protocol.kv_to_json(await store.delete(key, expected_revision=expected))}


async def _compact(store: Store, body: Fields) -> JSON:
    revision = body.integer("revision")
    body.done()
    await store.compact(revision)
    return {}


async def _revision(store: Store, body: Fields) -> JSON:
    return {"revision": await store.current_revision()}


# POST /v1/<name>; the client's calls name the same operations (client.py).
OPERATIONS: dict[str, Operation] = {
    "get": _get,
    "list": _list,
    "create": _create,
    "update": _update,
    "delete": _delete,
    "compact": _compact,
}


def _reply(status: int, body: JSON) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error_reply(err: StoreError) -> web.Response:
    return _reply(protocol.error_status(err), protocol.error_to_json(err))


async def _read_body(request: web.Request, name: str) -> bytes:
    if request.method != "POST":
        return b"{}"
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise InvalidInputError(
            f"{name} request is larger than {MAX_REQUEST_BYTES} bytes"
        ) from None


def _handler(name: str, operation: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        store = request.app[STATE].store
        try:
            raw = await _read_body(request, name)
            reply = await operation(store, Fields.parse(raw, f"{name} request"))
        except StoreError as err:
            return _error_reply(err)
        except Exception:
            # A bug in the backend or here: log it, keep serving, and tell the
            # client what it cannot know otherwise, that a write may have happened.
            log.exception("remote store: %s failed", name)
            return _error_reply(
                StoreUnavailableError(
                    f"{name} failed inside the store server (see its log); "
                    "the outcome of a write is unknown"
                )
            )
        return _reply(200, reply)

    return handle


# -- watches -----------------------------------------------------------------


def _watch_params(query: Mapping[str, str]) -> tuple[str, int]:
    unknown = sorted(set(query) - {"prefix", "after"})
    if unknown:
        raise InvalidInputError(f"watch request has unknown parameters: {', '.join(unknown)}")
    raw_after = query.get("after")
    if raw_after is None:
        raise InvalidInputError("watch request lacks the parameter 'after'")
    try:
        after = int(raw_after)
    except ValueError:
        raise InvalidInputError(
            f"watch parameter after={raw_after[:40]!r} is not an integer"
        ) from None
    # The same int64 check as every revision in a request body.
    after = Fields({"after": after}, "watch request").integer("after")
    return query.get("prefix", ""), after


def _check_progress_request(kind: WSMsgType, data: object) -> None:
    if kind in (WSMsgType.TEXT, WSMsgType.BINARY) and isinstance(data, str | bytes):
        try:
            if orjson.loads(data) == protocol.PROGRESS_REQUEST:
                return
        except orjson.JSONDecodeError:
            pass
    raise InvalidInputError('a watch accepts only {"progress": true} messages')


async def _send_final(ws: web.WebSocketResponse, err: StoreError) -> None:
    # A client that is gone has nobody left to tell.
    with contextlib.suppress(ConnectionResetError):
        await ws.send_bytes(orjson.dumps(protocol.error_to_json(err)))


async def _pump(state: _State, watch: Watch, ws: web.WebSocketResponse) -> None:
    """Send every batch of the store watch, then the error that ended it."""
    final: StoreError
    try:
        async for batch in watch:
            await ws.send_bytes(orjson.dumps(protocol.batch_to_json(batch)))
        if not state.closing:
            return  # the handler closed the watch: the client left
        # Shutdown closed the watch; the client must watch again elsewhere or later.
        final = StoreUnavailableError(
            "the store server is shutting down; watch again from your last revision"
        )
    except StoreError as err:
        final = err
    except ConnectionResetError:
        return
    except Exception:
        log.exception("remote store: watch on %r failed", watch.prefix)
        final = StoreUnavailableError("the watch failed inside the store server; see its log")
    await _send_final(ws, final)
    await ws.close()


async def _watch(request: web.Request) -> web.WebSocketResponse:
    """One WebSocket per store watch: batches out, progress requests in."""
    state = request.app[STATE]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    try:
        if state.closing:
            raise StoreUnavailableError("the store server is shutting down")
        prefix, after = _watch_params(request.query)
        watch = state.store.watch(prefix, after=after)
    except StoreError as err:
        # Errors go in-band even before the first batch: the client reads
        # every ending the same way, and a handshake error would lose the body.
        await _send_final(ws, err)
        await ws.close()
        return ws
    state.watches.add(watch)
    pump = asyncio.get_running_loop().create_task(
        _pump(state, watch, ws), name=f"kyb-remote-watch {prefix!r}"
    )
    refused: StoreError | None = None
    try:
        async for msg in ws:
            try:
                _check_progress_request(msg.type, msg.data)
            except InvalidInputError as err:
                refused = err
                break
            await watch.request_progress()
    finally:
        state.watches.discard(watch)
        await watch.close()
        # The pump then ends by itself (after finishing a close it began),
        # unless it is stuck sending to a client that stopped reading.
        await asyncio.wait([pump], timeout=PUMP_GRACE)
        await cancel_and_wait(pump)
    if refused is not None:
        await _send_final(ws, refused)
    await ws.close()
    return ws


# -- the application ---------------------------------------------------------


async def _close_watches(app: web.Application) -> None:
    state = app[STATE]
    state.closing = True
    for watch in list(state.watches):
        await watch.close()


async def _close_store(app: web.Application) -> None:
    await app[STATE].store.close()


def make_app(store: Store) -> web.Application:
    """The HTTP face of `store`; cleaning the app up closes the store."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STATE] = _State(store)
    for name, operation in OPERATIONS.items():
        app.router.add_post(f"/v1/{name}", _handler(name, operation))
    app.router.add_get("/v1/revision", _handler("revision", _revision))
    app.router.add_get("/v1/watch", _watch)
    # aiohttp runs on_shutdown while handlers may still run, on_cleanup after
    # they ended: watches first, then the store (its close ends the rest).
    app.on_shutdown.append(_close_watches)
    app.on_cleanup.append(_close_store)
    return app


async def serve_store(store: Store, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Serve `store` on host:port (0: any free port) and hand it to the server.

    host and port are positional too: `kyb server` calls it that way.

    `await runner.cleanup()` stops serving, ends the open watches and closes
    the store. If the server cannot start, the store is closed too, so the
    caller never has to know which of the two failed.
    """
    runner = web.AppRunner(make_app(store), shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        await store.close()
        raise
    return runner


def listening_url(runner: web.AppRunner) -> str:
    """The http:// URL the runner's first site listens on (port 0 resolved)."""
    host, port = runner.addresses[0][:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# -- the command -------------------------------------------------------------


def _parse_listen(text: str) -> tuple[str, int]:
    try:
        return split_host_port(text, default_host="127.0.0.1")
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--listen: {err}") from None


async def _serve(store_url: str, host: str, port: int) -> None:
    from kybernetes.store.registry import open_store

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = await serve_store(await open_store(store_url), host=host, port=port)
    try:
        print(f"listening on {listening_url(runner)}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kybernetes.store.remote.server",
        description="Serve a kybernetes store over HTTP (kyb://HOST:PORT).",
    )
    parser.add_argument("--store-url", required=True, help="e.g. sqlite:///var/lib/kyb/state.db")
    parser.add_argument(
        "--listen", type=_parse_listen, default=("127.0.0.1", 0), help="HOST:PORT (port 0: any)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    host, port = args.listen
    try:
        asyncio.run(_serve(args.store_url, host, port))
    except (StoreError, OSError) as err:
        # Expected failures (bad URL, port taken) get one line, not a traceback.
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
