"""The built-in kinds' schemas, built once per process, off the event loop.

Decision: openapi_build.py runs in a subprocess (importing the `kubernetes`
client costs about a second and tens of MiB, which the server should not
keep); this process keeps only the resulting JSON and the `FieldTable`
made from it. The build starts in the background when the server starts
serving (`warm`), and whoever needs the schemas first (an /openapi request,
a write of a built-in kind) awaits the same build, so a request that
arrives in that first second waits for it rather than skipping validation:
unknown fields are never stored. One build serves every server in the
process (the schemas depend only on the installed client).
If the build fails (no `kubernetes` client installed), it is logged and the
server carries on with skeleton schemas and without unknown-field checks.

The build's output is kept in a cache file (`$KYB_CACHE_DIR`, else
~/.cache/kybernetes) named after the client's version, the builder's own
source and the list of built-in kinds, so only the first start on a machine pays for the build; the
writes that arrive first after any later start do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import kybernetes
from kybernetes.apiserver.openapi_fields import FieldTable, field_table
from kybernetes.apiserver.resources import BUILTIN_TYPES

__all__ = ["BuiltinSchemas", "SchemaSource", "builtin_schemas"]

log = logging.getLogger(__name__)

# Where the package lives, for the build subprocess's PYTHONPATH (a checkout
# may not be installed).
_PACKAGE_ROOT = str(Path(kybernetes.__file__).resolve().parent.parent)

BUILD_TIMEOUT = 60.0
BUILD_NICENESS = 5  # mild: writes that arrive first wait for the build


@dataclass(frozen=True)
class BuiltinSchemas:
    client: str  # the `kubernetes` client version they came from ("" when none)
    schemas: dict[str, Any]
    kinds: dict[str, str]  # "group/version/Kind" -> schema name
    fields: FieldTable = field(default_factory=dict)

    def kind_schema(self, group: str, version: str, kind: str) -> str | None:
        return self.kinds.get(f"{group}/{version}/{kind}")


EMPTY = BuiltinSchemas("", {}, {})


def _cache_file() -> Path | None:
    """Where this client's and this builder's output is kept (None: no client)."""
    try:
        client = importlib.metadata.version("kubernetes")
    except importlib.metadata.PackageNotFoundError:
        return None
    builder = Path(__file__).with_name("openapi_build.py").read_bytes()
    # The build covers every built-in kind: a kind added means a new build.
    kinds = ",".join(f"{rt.group}/{rt.version}/{rt.kind}" for rt in BUILTIN_TYPES).encode()
    key = hashlib.sha256(builder + b"\0" + kinds).hexdigest()[:12]
    root = Path(os.environ.get("KYB_CACHE_DIR") or Path.home() / ".cache" / "kybernetes")
    return root / f"openapi-{client}-{key}.json"


def _read_cache(path: Path | None) -> bytes | None:
    try:
        return path.read_bytes() if path is not None else None
    except OSError:
        return None


def _write_cache(path: Path | None, out: bytes) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_bytes(out)
        scratch.replace(path)
    except OSError as err:  # a read-only home: build again next time
        log.info("OpenAPI schema cache not written (%s)", err)


async def _run_build() -> BuiltinSchemas:
    started = time.monotonic()
    cache = await asyncio.to_thread(_cache_file)
    cached = await asyncio.to_thread(_read_cache, cache)
    if cached is not None:
        try:
            return await asyncio.to_thread(_parse, cached)
        except (ValueError, KeyError):
            log.info("OpenAPI schema cache %s unreadable: building again", cache)
    out = await _run_builder()
    built = await asyncio.to_thread(_parse, out)
    await asyncio.to_thread(_write_cache, cache, out)
    log.info("OpenAPI schemas for %d kinds from kubernetes client %s in %.2f s",
             len(built.kinds), built.client, time.monotonic() - started)  # fmt: skip
    return built


async def _run_builder() -> bytes:
    root = _PACKAGE_ROOT
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kybernetes.apiserver.openapi_build",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    with contextlib.suppress(OSError):
        # Lower priority: it runs while the server starts and kubectl's first
        # requests are answered, which should get the cores first.
        os.setpriority(os.PRIO_PROCESS, proc.pid, BUILD_NICENESS)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BUILD_TIMEOUT)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the OpenAPI schema build failed: {tail[0]}")
    return out


def _parse(out: bytes) -> BuiltinSchemas:
    data = orjson.loads(out)
    schemas = data["schemas"]
    return BuiltinSchemas(data["client"], schemas, data["kinds"], field_table(schemas))


class SchemaSource:
    """One build, shared by every caller; a failed build leaves EMPTY."""

    def __init__(self) -> None:
        self._task: asyncio.Task[BuiltinSchemas] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._result: BuiltinSchemas | None = None

    @property
    def ready(self) -> BuiltinSchemas | None:
        return self._result

    def warm(self) -> None:
        """Start the build in the background (a no-op once started)."""
        if self._result is not None:
            return
        loop = asyncio.get_running_loop()
        if self._task is None or self._loop is not loop:
            # Tests run a loop per test; a build started on a closed loop is restarted.
            self._loop = loop
            self._task = loop.create_task(self._build(), name="openapi-schema-build")

    async def _build(self) -> BuiltinSchemas:
        try:
            result = await _run_build()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("no OpenAPI schemas for built-in kinds; serving skeletons")
            result = EMPTY
        self._result = result
        return result

    async def get(self) -> BuiltinSchemas:
        if self._result is not None:
            return self._result
        self.warm()
        assert self._task is not None
        # shield: a caller that times out must not cancel everyone's build.
        return await asyncio.shield(self._task)


# Process-wide: the schemas depend only on the installed client.
builtin_schemas = SchemaSource()
