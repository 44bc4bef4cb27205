"""An aiohttp front for the real test registry: token auth, basic auth, redirects, faults.

It listens on 127.0.0.1 only, proxies `/v2/...` to the docker-registry
fixture, and can demand Bearer tokens from its own `/token` endpoint (the
Docker Hub flow: anonymous tokens for public repositories, basic
credentials for the rest) or Basic credentials, send blob GETs to a second
origin by 307 (an "S3" that must never see our Authorization header), cut
the first blob download in half, or corrupt blobs.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["FakeFront"]

_PASS_HEADERS = ("Content-Type", "Docker-Content-Digest", "Content-Range", "Content-Length")


@dataclass
class FakeFront:
    upstream: str
    auth: str | None = None  # None, "bearer" or "basic"
    users: dict[str, str] = field(default_factory=lambda: {"alice": "s3cret"})
    public: set[str] = field(default_factory=lambda: {"test/busybox"})
    redirect_blobs: bool = False
    break_first_blob: bool = False
    corrupt_blobs: bool = False
    corrupt_manifests: bool = False
    blob_gate: asyncio.Event | None = None  # blob answers wait for it when set
    # With break_first_blob: cut the connection only once the client has this file non-empty.
    watch_partial: Path | None = None
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    storage_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_get("/token", self._token)
        app.router.add_route("*", "/v2/{tail:.*}", self._v2)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.domain = f"127.0.0.1:{self.port}"
        storage = web.Application()
        storage.router.add_get("/storage/{repo:.*}/{digest}", self._storage)
        self._storage_runner = web.AppRunner(storage)
        await self._storage_runner.setup()
        await web.TCPSite(self._storage_runner, "127.0.0.1", 0).start()
        self.storage_port = self._storage_runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._storage_runner.cleanup()
        await self._session.close()

    # -- auth ----------------------------------------------------------

    def _basic_user(self, header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        header = request.headers.get("Authorization", "")
        user = self._basic_user(header)
        if header and user is None:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        scope = request.query.get("scope", "")
        return web.json_response({"token": f"{user or 'anonymous'}|{scope}", "expires_in": 300})

    def _allowed(self, request: web.Request, repo: str) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            return self._basic_user(header) is not None
        if not header.startswith("Bearer "):
            return False
        user, _, scope = header[7:].partition("|")
        if scope != f"repository:{repo}:pull":
            return False
        return user != "anonymous" or repo in self.public

    def _challenge(self, repo: str) -> web.Response:
        if self.auth == "basic":
            value = 'Basic realm="fake"'
        else:
            value = (
                f'Bearer realm="http://{self.domain}/token",service="fake.registry",'
                f'scope="repository:{repo}:pull"'
            )
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        return web.Response(
            status=401,
            body=body,
            headers={"WWW-Authenticate": value, "Content-Type": "application/json"},
        )

    # -- proxy ---------------------------------------------------------

    async def _v2(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        self.requests.append((request.method, tail, dict(request.headers)))
        repo = tail.rsplit("/", 2)[0] if tail.count("/") >= 2 else ""
        if self.auth and not self._allowed(request, repo):
            return self._challenge(repo)
        is_blob = "/blobs/" in tail
        if is_blob and self.blob_gate is not None:
            await self.blob_gate.wait()
        if is_blob and self.redirect_blobs:
            digest = tail.rsplit("/", 1)[1]
            target = f"http://127.0.0.1:{self.storage_port}/storage/{repo}/{digest}?sig=abc"
            raise web.HTTPTemporaryRedirect(target)
        return await self._proxy(request, f"/v2/{tail}", is_blob=is_blob)

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        self.storage_requests.append(dict(request.headers))
        repo, digest = request.match_info["repo"], request.match_info["digest"]
        return await self._proxy(request, f"/v2/{repo}/blobs/{digest}", is_blob=True)

    async def _proxy(self, request: web.Request, path: str, *, is_blob: bool) -> web.StreamResponse:
        headers = {k: request.headers[k] for k in ("Accept", "Range") if k in request.headers}
        async with self._session.request(
            request.method, self.upstream + path, headers=headers
        ) as upstream:
            body = await upstream.read()
            out = {k: upstream.headers[k] for k in _PASS_HEADERS if k in upstream.headers}
            status = upstream.status
        if is_blob and status in (200, 206) and self.corrupt_blobs and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if not is_blob and status == 200 and self.corrupt_manifests and request.method == "GET":
            body += b" "
        if is_blob and status == 200 and self.break_first_blob and len(body) > 1024:
            self.break_first_blob = False
            response = web.StreamResponse(status=200, headers=out)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            if self.watch_partial is not None:
                # Cut only after the client has kept some bytes, so the retry must resume.
                deadline = asyncio.get_running_loop().time() + 10
                while not (self.watch_partial.exists() and self.watch_partial.stat().st_size):
                    assert asyncio.get_running_loop().time() < deadline, "client kept nothing"
                    await asyncio.sleep(0.01)
            assert request.transport is not None
            request.transport.close()
            return response
        out.pop("Content-Length", None)
        return web.Response(status=status, body=body, headers=out)
