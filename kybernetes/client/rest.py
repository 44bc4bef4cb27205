"""An async REST client for the Kubernetes API, the way every component talks.

Components never touch the store: they list, watch and write through the
API over HTTPS like any client (DESIGN.md principle 1). This client is thin
on purpose: JSON in and out, Kubernetes `Status` errors raised as
`ApiStatusError` with their code and reason, a watch as an async iterator
of events. It takes an aiohttp session, so tests and components can share
one, and builds its TLS context from a kubeconfig.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from kybernetes.util.tls import client_context, unverified_client_context

__all__ = ["ApiClient", "ApiStatusError", "resource_path"]

Obj = dict[str, Any]
WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)


class ApiStatusError(Exception):
    """The API answered with a failure `Status`."""

    def __init__(self, status: Obj) -> None:
        super().__init__(status.get("message") or status.get("reason") or "API error")
        self.status = status
        self.code = int(status.get("code") or 0)
        self.reason = str(status.get("reason") or "")


def resource_path(
    group: str, version: str, plural: str, namespace: str = "", name: str = "", sub: str = ""
) -> str:
    """/api/v1/namespaces/NS/pods/NAME/status and the like."""
    root = f"/apis/{group}/{version}" if group else f"/api/{version}"
    parts = [root]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    if sub:
        parts.append(sub)
    return "/".join(parts)


def _ssl_from_kubeconfig(cluster: Obj, user: Obj, scratch: Path) -> ssl.SSLContext:
    # The kubeconfig's CA alone, as client-go trusts it; the system's CAs only
    # when it names none.
    if cluster.get("insecure-skip-tls-verify"):
        context = unverified_client_context()
    elif cluster.get("certificate-authority-data"):
        context = client_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    else:
        context = client_context(cafile=cluster.get("certificate-authority"))
    if user.get("client-certificate-data"):
        cert, key = scratch / "client.crt", scratch / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(str(cert), str(key))
    elif user.get("client-certificate"):
        context.load_cert_chain(user["client-certificate"], user.get("client-key"))
    return context


class ApiClient:
    def __init__(
        self,
        server: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        token: str = "",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ca_pem: bytes = b""  # the cluster CA, when the kubeconfig names one
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str = "") -> ApiClient:
        """A client for `context` (default: the current one) of a kubeconfig file."""
        config = yaml.safe_load(path.read_text())
        name = context or config.get("current-context", "")
        ctx = _named(config.get("contexts"), name)["context"]
        cluster = _named(config.get("clusters"), ctx["cluster"])["cluster"]
        user = _named(config.get("users"), ctx["user"])["user"]
        # The key must be a file for the ssl module; it lives only while loading.
        with tempfile.TemporaryDirectory(prefix="kyb-client-") as scratch:
            context_ = _ssl_from_kubeconfig(cluster, user, Path(scratch))
        client = cls(cluster["server"], ssl_context=context_, token=str(user.get("token") or ""))
        if cluster.get("certificate-authority-data"):
            client.ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        elif cluster.get("certificate-authority"):
            client.ca_pem = Path(cluster["certificate-authority"]).read_bytes()
        return client

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = {**self._headers, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = orjson.dumps(body)
        async with self._session.request(
            method, self.server + path, params=params, data=data, headers=headers, ssl=self._ssl
        ) as resp:
            raw = await resp.read()
        reply: Obj = orjson.loads(raw) if raw else {}
        if resp.status >= 400:
            if reply.get("kind") != "Status":  # not from our API (a proxy, say)
                reply = {"code": resp.status, "message": raw[:200].decode(errors="replace")}
            raise ApiStatusError(reply)
        return reply

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def update(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(
        self, path: str, body: Any, content_type: str = "application/merge-patch+json"
    ) -> Obj:
        return await self.request("PATCH", path, body=body, content_type=content_type)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, **params: str) -> AsyncIterator[Obj]:
        """The events of one watch request, until the server ends the stream."""
        query = {**params, "watch": "true"}
        async with self._session.get(
            self.server + path, params=query, headers=self._headers, ssl=self._ssl,
            timeout=WATCH_TIMEOUT,
        ) as resp:  # fmt: skip
            if resp.status >= 400:
                raise ApiStatusError(orjson.loads(await resp.read()))
            async for line in resp.content:
                if line.strip():
                    event: Obj = orjson.loads(line)
                    yield event


def _named(entries: Any, name: str) -> Obj:
    for entry in entries or []:
        if entry.get("name") == name:
            found: Obj = entry
            return found
    raise KeyError(f"kubeconfig has no entry named {name!r}")
