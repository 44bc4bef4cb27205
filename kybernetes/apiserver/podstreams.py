"""`pods/exec`, `pods/attach`, `pods/portforward`: WebSockets relayed to the kubelet.

kubectl 1.32 opens these as WebSockets (`v5.channel.k8s.io` for exec and
attach, `SPDY/3.1+portforward.k8s.io` for port-forward; kubectl-wire.md
§3). The API server checks the request as kube-apiserver does (the pod,
its container, a node assigned, at least one command and one stream),
opens a WebSocket to the pod's kubelet with the subprotocols the client
offered, upgrades the client's connection with the one the kubelet chose,
and relays messages both ways unchanged until either side closes: the
kubelet speaks the protocols (kybernetes/node/kubelet/streams.py), so the
server needs to know nothing of channels or SPDY framing. SPDY upgrades
(kubectl's fallback, and older kubectl's only way) are refused with a
Status that says what to use instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from kybernetes.apiserver import errors
from kybernetes.apiserver.podlogs import KubeletConnector, choose_container, kubelet_endpoint

__all__ = ["EXEC_PROTOCOLS", "STREAM_SUBRESOURCES", "check_upgrade", "kubelet_request",
           "serve_pod_stream"]  # fmt: skip

Obj = dict[str, Any]
STREAM_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
# Twin: kybernetes/node/kubelet/channels.py PROTOCOLS and EXEC_PROTOCOLS, and
# streams.py PORT_FORWARD_PROTOCOL.
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
# exec and attach also take the first version, `channel.k8s.io` (the exec
# conformance test opens it); port-forward never had it.
EXEC_PROTOCOLS = (*CHANNEL_PROTOCOLS, "channel.k8s.io")
PORT_FORWARD_PROTOCOLS = ("SPDY/3.1+portforward.k8s.io",)
# What a pod on a simulated node lacks, per subresource.
NOTHING_TO = {"exec": "there is nothing to exec into", "attach": "there is nothing to attach to",
              "portforward": "there is no port to forward"}  # fmt: skip
TRUE = ("1", "true")


def _flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in TRUE


def kubelet_request(subresource: str, pod: Obj, query: Any) -> tuple[str, list[tuple[str, str]]]:
    """The kubelet path and query for a stream request, or a 400 as kube-apiserver words it."""
    meta = pod["metadata"]
    namespace, name = meta.get("namespace", ""), meta["name"]
    if subresource == "portforward":
        # kubectl sends no ports (they travel inside its SPDY tunnel); the channel
        # flavour (the Python client) names them here, as `ports` (PodPortForwardOptions).
        ports = [p.strip() for value in query.getall("ports", []) for p in str(value).split(",")
                 if p.strip()]  # fmt: skip
        for port in ports:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise errors.bad_request(f"invalid port {port!r}: must be 1-65535")
        return f"/portForward/{namespace}/{name}", [("port", p) for p in ports]
    container = choose_container(pod, str(query.get("container", "")))
    streams = [s for s in ("stdin", "stdout", "stderr") if _flag(query, s)]
    if not streams:
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    params = [(s, "true") for s in streams]
    if _flag(query, "tty"):
        params.append(("tty", "true"))
    if subresource == "exec":
        command = [str(c) for c in query.getall("command", [])]
        if not command:
            raise errors.bad_request("you must specify at least 1 command")
        params += [("command", c) for c in command]
    return f"/{subresource}/{namespace}/{name}/{container}", params


def _offered(request: web.BaseRequest) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def check_upgrade(request: web.BaseRequest, supported: tuple[str, ...]) -> tuple[str, ...]:
    """The subprotocols to offer the kubelet, or a Status saying what we speak."""
    upgrade = request.headers.get("Upgrade", "").lower()
    wanted = ", ".join(supported)
    if upgrade.startswith("spdy"):
        raise errors.bad_request(
            f"SPDY upgrades are not supported by this server; it streams over WebSocket "
            f"({wanted}), which kubectl 1.30 and newer use by default"
        )
    if upgrade != "websocket":
        raise errors.bad_request("Upgrade request required")
    common = tuple(p for p in _offered(request) if p in supported)
    if not common:
        raise errors.bad_request(f"none of the offered WebSocket subprotocols is supported; "
                                 f"this server speaks {wanted}")  # fmt: skip
    return common


async def _relay(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for message in source:
        if message.type == WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type == WSMsgType.TEXT:
            await sink.send_str(message.data)


async def serve_pod_stream(
    request: web.BaseRequest,
    *,
    subresource: str,
    pod: Obj,
    node: Callable[[str], Awaitable[Obj]],
    kubelets: KubeletConnector | None,
    open_streams: set[asyncio.Task[Any]],
    stopping: Callable[[], bool],
) -> web.StreamResponse:
    """Check, connect to the kubelet, upgrade the client, relay until either side ends."""
    path, params = kubelet_request(subresource, pod, request.query)
    name = pod["metadata"]["name"]
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    # Before the protocol: kubectl retries over SPDY after any failed WebSocket
    # upgrade, and that second answer is the one it shows.
    endpoint = kubelet_endpoint(await node(node_name), NOTHING_TO[subresource])
    supported: tuple[str, ...] = EXEC_PROTOCOLS
    if subresource == "portforward":
        supported = PORT_FORWARD_PROTOCOLS + (CHANNEL_PROTOCOLS if params else ())
    offered = check_upgrade(request, supported)
    if kubelets is None:
        raise errors.ApiError(503, "ServiceUnavailable", "no kubelet connections configured")
    try:
        backend = await kubelets.websocket(endpoint, path, params=params, protocols=offered)
    except aiohttp.WSServerHandshakeError as err:
        code = err.status if err.status in (400, 403, 404) else 502
        raise errors.ApiError(code, errors.from_http_status(code).reason,
                              f"error upgrading connection to the kubelet on node "
                              f"{node_name}: {err.status} {err.message}") from None  # fmt: skip
    except (aiohttp.ClientError, OSError) as err:
        raise errors.ApiError(502, "InternalError",
                              f"error dialing backend: {err}") from None  # fmt: skip
    try:
        client = web.WebSocketResponse(protocols=(backend.protocol or offered[0],),
                                       heartbeat=None, max_msg_size=0)  # fmt: skip
        await client.prepare(request)
        tasks = [asyncio.create_task(_relay(client, backend), name="kyb-stream-up"),
                 asyncio.create_task(_relay(backend, client), name="kyb-stream-down")]  # fmt: skip
        # Listed with the open watches, so that a stopping server ends it (as a
        # watch) instead of waiting for a `kubectl port-forward` that never ends.
        this = asyncio.current_task()
        assert this is not None
        open_streams.add(this)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not stopping():
                raise
        finally:
            open_streams.discard(this)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await client.close()
        return client
    finally:
        await backend.close()
