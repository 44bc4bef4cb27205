"""WebSockets through `pods/proxy`, `services/proxy` and `nodes/proxy`.

kube-apiserver's proxy is upgrade-aware: a request asking to upgrade to a
WebSocket (a notebook's kernel, a dashboard's live view, reached through
`kubectl proxy`) is passed to the backend, and once the backend agrees the
two connections are joined. Here the API server opens its own WebSocket to
the backend, offering the subprotocols the client offered (except the one
that carries the client's bearer token, which stays here, as its
Authorization header does), answers the client with the one the backend
chose, and relays every message both ways until either side closes; the
close code goes through (util/websockets.py, as the ingress relays). A
backend that refuses the upgrade answers the client with its status (a
redirect, though, is followed by the client library here, where kube would
pass it on).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import aiohttp
from aiohttp import web
from yarl import URL

from kybernetes.apiserver import errors
from kybernetes.apiserver.auth import WEBSOCKET_TOKEN_PREFIX
from kybernetes.util.websockets import join_websockets

__all__ = ["offered_protocols", "relay_websocket", "wants_websocket"]

# Made afresh for the backend by the client library (its own key and extensions).
_HANDSHAKE = frozenset({"sec-websocket-key", "sec-websocket-version",
                        "sec-websocket-extensions", "sec-websocket-protocol"})  # fmt: skip


def wants_websocket(headers: Mapping[str, str]) -> bool:
    """Whether a request's headers ask to upgrade to a WebSocket."""
    upgrade = headers.get("Upgrade", "").lower()
    return upgrade == "websocket" and "upgrade" in headers.get("Connection", "").lower()


def offered_protocols(header: str) -> list[str]:
    """The subprotocols a client offered, less the one carrying its credentials."""
    offered = (p.strip() for p in header.split(","))
    return [p for p in offered if p and not p.startswith(WEBSOCKET_TOKEN_PREFIX)]


async def relay_websocket(
    request: web.BaseRequest,
    session: aiohttp.ClientSession,
    url: URL,
    headers: dict[str, str],
    tls: ssl.SSLContext | bool,
) -> web.StreamResponse:
    """Join the client's WebSocket to one opened to `url` with `headers`."""
    forwarded = {k: v for k, v in headers.items() if k.lower() not in _HANDSHAKE}
    protocols = offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
    try:
        upstream = await session.ws_connect(url, headers=forwarded, protocols=protocols, ssl=tls,
                                            autoclose=False, autoping=False,
                                            max_msg_size=0)  # fmt: skip
    except aiohttp.WSServerHandshakeError as err:  # the backend said no: say what it said
        return web.Response(status=err.status, text=f"{err.message}\n")
    except (aiohttp.ClientError, OSError) as err:
        raise errors.service_unavailable(f"error trying to reach service: {err}") from err
    async with upstream:
        chosen = (upstream.protocol,) if upstream.protocol else ()
        client = web.WebSocketResponse(protocols=chosen, autoclose=False, autoping=False,
                                       max_msg_size=0)  # fmt: skip
        await client.prepare(request)
        await join_websockets(client, upstream, name="apiserver-proxy")
        return client
