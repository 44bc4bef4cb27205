"""The schema build: shared by every caller, and a failed one leaves skeletons."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.apiserver import openapi_source
from kybernetes.apiserver.openapi_source import EMPTY, BuiltinSchemas, SchemaSource


async def test_one_build_serves_every_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    built = BuiltinSchemas("x", {}, {})

    async def build() -> BuiltinSchemas:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return built

    monkeypatch.setattr(openapi_source, "_run_build", build)
    source = SchemaSource()
    source.warm()
    results = await asyncio.gather(*(source.get() for _ in range(5)))
    assert all(r is built for r in results) and calls == 1
    assert source.ready is built


async def test_a_failed_build_leaves_no_schemas(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def build() -> BuiltinSchemas:
        raise RuntimeError("the OpenAPI schema build failed: No module named 'kubernetes'")

    monkeypatch.setattr(openapi_source, "_run_build", build)
    assert await SchemaSource().get() is EMPTY
    assert "serving skeletons" in caplog.text


async def test_the_real_build_knows_every_builtin_kind() -> None:
    from kybernetes.apiserver.resources import BUILTIN_TYPES

    schemas = await openapi_source.builtin_schemas.get()
    missing = [rt.kind for rt in BUILTIN_TYPES
               if schemas.kind_schema(rt.group, rt.version, rt.kind) is None]  # fmt: skip
    assert missing == []
    assert schemas.kind_schema("events.k8s.io", "v1", "Event") == "io.k8s.api.events.v1.Event"
    assert schemas.kind_schema("", "v1", "Event") == "io.k8s.api.core.v1.Event"
    core_event = schemas.schemas["io.k8s.api.core.v1.Event"]["properties"]
    assert "involvedObject" in core_event and "regarding" not in core_event
    assert "regarding" in schemas.schemas["io.k8s.api.events.v1.Event"]["properties"]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas.schemas
    assert "io.k8s.api.core.v1.PodTemplateSpec" in schemas.schemas
