"""`pods/log`: the API server asks the pod's kubelet and streams the answer back.

As kube-apiserver does it: pick the container (the only one, or the one
asked for, with Kubernetes' BadRequest words otherwise), find the pod's
node and its kubelet endpoint (`status.daemonEndpoints.kubeletEndpoint`
on the node's InternalIP, else its Hostname), and call the kubelet's
`/containerLogs` with the API server's client certificate. Kubelet serving
certificates are not verified (kube-apiserver's default without
--kubelet-certificate-authority). A pod not yet on a node has no logs: an
empty answer, as in Kubernetes.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kybernetes.apiserver import errors
from kybernetes.apiserver.streamsink import open_sink
from kybernetes.util.tls import unverified_client_context

__all__ = ["KubeletConnector", "choose_container", "kubelet_endpoint"]

Obj = dict[str, Any]
LOG_OPTIONS = ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines",
               "limitBytes")  # fmt: skip
DEFAULT_PORT = 10250


def _names(containers: Any) -> list[str]:
    return [str(c.get("name", "")) for c in containers or []]


def choose_container(pod: Obj, requested: str) -> str:
    """The container whose logs are asked for, or a 400 as kube words it."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    app = _names(spec.get("containers"))
    init = _names(spec.get("initContainers"))
    ephemeral = _names(spec.get("ephemeralContainers"))
    if requested:
        if requested not in (*app, *init, *ephemeral):
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(app) == 1:
        return app[0]
    if not app:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(app)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    if ephemeral:
        message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
    raise errors.bad_request(message)


SIMULATED_LABEL = "kybernetes.io/simulated"  # as kybernetes.simnode labels its nodes


def kubelet_endpoint(node: Obj, wanted: str = "there are no logs to read") -> tuple[str, int]:
    """Where the node's kubelet listens (InternalIP first, then Hostname).

    A simulated node has no kubelet to ask (and its made-up address must never
    be dialled): a clear 400 instead, saying what there is `wanted` of.
    """
    labels = (node.get("metadata") or {}).get("labels") or {}
    if labels.get(SIMULATED_LABEL) == "true":
        raise errors.bad_request(f"node {node['metadata']['name']} is simulated: its pods run "
                                 f"no containers, so {wanted}")  # fmt: skip
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    by_type: dict[str, str] = {}
    for address in addresses:
        by_type.setdefault(str(address.get("type")), str(address.get("address")))
    host = by_type.get("InternalIP") or by_type.get("Hostname") or by_type.get("ExternalIP")
    if not host:
        name = node["metadata"]["name"]
        raise errors.ApiError(503, "ServiceUnavailable",
                              f"node {name} has no address to reach its kubelet")  # fmt: skip
    port = int(((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
               .get("Port") or DEFAULT_PORT)  # fmt: skip
    return host, port


class KubeletConnector:
    """HTTPS to kubelets with the API server's client certificate."""

    def __init__(self, client_cert_pem: bytes, client_key_pem: bytes) -> None:
        context = unverified_client_context()
        with tempfile.TemporaryDirectory(prefix="kyb-kubelet-client-") as scratch:
            cert, key = Path(scratch, "c.pem"), Path(scratch, "k.pem")
            cert.write_bytes(client_cert_pem)
            key.write_bytes(client_key_pem)
            context.load_cert_chain(cert, key)
        self._ssl = context
        self._session: aiohttp.ClientSession | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """TLS to kubelets: the API server's client certificate, the kubelet's not verified."""
        return self._ssl

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
            )
        return self._session

    async def websocket(
        self,
        endpoint: tuple[str, int],
        path: str,
        *,
        params: list[tuple[str, str]],
        protocols: tuple[str, ...],
    ) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket to the kubelet at `endpoint` (`kubelet_endpoint`: exec, attach,
        port-forward; podstreams.py)."""
        host, port = endpoint
        return await self._client().ws_connect(
            f"https://{host}:{port}{path}", params=params, protocols=protocols, ssl=self._ssl,
            heartbeat=None, max_msg_size=0, autoclose=False, autoping=True,
        )  # fmt: skip

    async def get_text(self, endpoint: tuple[str, int], path: str) -> str:
        """A kubelet's answer to GET `path` (metrics); a refusal or failure is an
        ApiError saying what went wrong, as for logs."""
        host, port = endpoint
        url = f"https://{host}:{port}{path}"
        try:
            async with self._client().get(url, ssl=self._ssl) as answer:
                text = await answer.text()
        except (aiohttp.ClientError, UnicodeDecodeError) as err:
            raise errors.ApiError(
                502, "InternalError", f'Get "{url}": {err or type(err).__name__}'
            ) from None
        if answer.status >= 400:
            raise errors.ApiError(502, "InternalError",
                                  f'Get "{url}": {answer.status}: {text.strip()}')  # fmt: skip
        return text

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def stream_logs(
        self,
        request: web.BaseRequest,
        *,
        node: Obj,
        namespace: str,
        pod: str,
        container: str,
        query: Mapping[str, str],
    ) -> web.StreamResponse:
        host, port = kubelet_endpoint(node)
        params = {k: v for k, v in query.items() if k in LOG_OPTIONS}
        url = f"https://{host}:{port}/containerLogs/{namespace}/{pod}/{container}"
        try:
            async with self._client().get(url, params=params, ssl=self._ssl) as answer:
                if answer.status >= 400:
                    text = (await answer.text()).strip()
                    raise errors.ApiError(answer.status if answer.status < 500 else 502,
                                          "BadRequest" if answer.status == 400 else "InternalError",
                                          text)  # fmt: skip
                sink = await open_sink(request)
                async for chunk in answer.content.iter_any():
                    await sink.write(chunk)
                await sink.finish()
                return sink.response
        except (aiohttp.ClientError, TimeoutError) as err:
            raise errors.ApiError(
                502, "InternalError", f'Get "{url}": {err or type(err).__name__}'
            ) from None
