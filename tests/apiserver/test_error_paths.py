"""Every error path answers a Kubernetes `Status`, and nothing malformed is a 500.

Raw HTTPS requests (admin client certificate, 127.0.0.1 only) look at the
wire: code, reason, message and details as kube-apiserver sends them for
the same mistake; kubectl checks the text a user reads. After every test
the fixture asks /healthz, so a request that breaks the server fails the
test that sent it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import pytest

from kybernetes.apiserver import storage
from kybernetes.apiserver.bodies import MAX_DEPTH, check_object_types, decode_body
from kybernetes.apiserver.errors import ApiError
from tests.apiserver.conftest import Cluster

JSON = "application/json"
MERGE = "application/merge-patch+json"
CMS = "/api/v1/namespaces/default/configmaps"
MAX_BODY = 3 * 1024 * 1024


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Raw HTTPS to the test server: the body goes out exactly as given."""

    def __init__(self, cluster: Cluster) -> None:
        context = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
        cert, key = cluster.home / "admin.crt", cluster.home / "admin.key"
        cert.write_bytes(cluster.pki.admin_cert_pem)
        key.write_bytes(cluster.pki.admin_key_pem)
        context.load_cert_chain(str(cert), str(key))
        self.ssl = context
        # Only the CA: a client with no credentials of its own.
        self.anonymous_ssl = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
        self.base = cluster.api.url
        assert self.base.startswith("https://127.0.0.1:")
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = JSON,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
        timeout: float = 30,
    ) -> Reply:
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        sent = dict(headers or {})
        if content_type is not None and data is not None:
            sent["Content-Type"] = content_type
        async with self.session.request(
            method,
            self.base + path,
            data=data,
            headers=sent,
            ssl=self.anonymous_ssl if anonymous else self.ssl,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def healthy(self) -> None:
        reply = await self.call("GET", "/healthz", timeout=10)
        assert (reply.status, reply.body) == (200, b"ok")


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[Api]:
    client = Api(cluster)
    try:
        yield client
        await client.healthy()  # whatever the test sent, the server still answers
    finally:
        await client.session.close()


def assert_status(reply: Reply, code: int, reason: str) -> dict[str, Any]:
    """The reply is a failure `Status` with this code and reason; returns it."""
    assert reply.headers.get("Content-Type", "").startswith(JSON), reply.body[:300]
    status: dict[str, Any] = reply.json()
    assert reply.status == code, f"{reply.status}: {reply.body[:300]!r}"
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert isinstance(status["metadata"], dict)
    assert status["status"] == "Failure"
    assert isinstance(status["message"], str) and status["message"]
    assert status["reason"] == reason, status
    assert status["code"] == code
    return status


# -- 400 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"metadata": {"name": "x"', JSON),
        ("{'single': 'quotes'}", JSON),
        ('{"a": 1} trailing', JSON),
        ("metadata: [name: x", "application/yaml"),
        ("metadata:\n  name: x\n bad-indent: y\n", "application/yaml"),
        ("\t- tab", "application/yaml"),
        (b'{"metadata": {"name": "\xff\xfe"}}', JSON),  # invalid UTF-8
        (b"metadata:\n  name: \xff\n", "application/yaml"),
        (b"\x00\x01\x02", "application/vnd.kubernetes.protobuf"),
    ],
)
async def test_malformed_body_is_400(api: Api, body: str | bytes, content_type: str) -> None:
    reply = await api.call("POST", CMS, body, content_type=content_type)
    assert_status(reply, 400, "BadRequest")


@pytest.mark.parametrize(
    "body",
    [
        [_cm("a")],  # a list, not an object
        "just a string",
        42,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name", "x"]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ["x"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": 5}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": ["a"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": 1}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": "a"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": 3}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "finalizers": "f"}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "x", "ownerReferences": {"a": 1}}},
        {"apiVersion": 1, "kind": "ConfigMap", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": ["ConfigMap"], "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "generation": "1"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "generation": True}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "finalizers": [1]}},
    ],
)  # fmt: skip
async def test_wrong_types_are_400(api: Api, body: Any) -> None:
    reply = await api.call("POST", CMS, body)
    assert_status(reply, 400, "BadRequest")


async def test_wrong_type_message_reads_like_gos_decoder(api: Api) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}}
    status = assert_status(await api.call("POST", CMS, body), 400, "BadRequest")
    assert status["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "number into Go struct field ObjectMeta.metadata.name of type string"
    )


async def test_wrong_types_on_update_are_400(api: Api) -> None:
    assert (await api.call("POST", CMS, _cm("u"))).status == 201
    bodies: list[Any] = [[1, 2], {"metadata": []}, {"metadata": {"name": "u", "labels": "x"}}]
    for body in bodies:
        reply = await api.call("PUT", f"{CMS}/u", body)
        assert_status(reply, 400, "BadRequest")


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=1.5",
        "limit=99999999999999999999999999",
        "resourceVersion=abc",
        "resourceVersion=-1",
        "resourceVersionMatch=Sometimes&resourceVersion=1",
        "resourceVersionMatch=Exact",
        "labelSelector=a%20in%20(b",
        "labelSelector=!!a",
        "labelSelector=a%3D%3D%3Db",
        "fieldSelector=metadata.name%3D%3D%3Dx",
        "fieldSelector=spec.nodeName%3Dn1",  # not a field selector of ConfigMap
        "fieldSelector=nosuch%3Dx",
        "continue=not-a-token",
        "continue=eyJydiI6IDF9",  # base64 JSON without a start key
        "timeoutSeconds=soon",
        "timeout=forever",
        "timeout=10",  # Go durations need a unit
        "limit=%EF%BC%91",  # a fullwidth digit: Python's int() takes it, Go's does not
        "resourceVersion=%C2%B2",  # a superscript two: str.isdigit() is true for it
        "resourceVersion=99999999999999999999999",
        "limit=1&resourceVersion=99999999999999999999999",
    ],
)
async def test_bad_list_query_is_400(api: Api, query: str) -> None:
    reply = await api.call("GET", f"{CMS}?{query}")
    assert_status(reply, 400, "BadRequest")


async def test_bad_get_resource_version_is_400(api: Api) -> None:
    assert (await api.call("POST", CMS, _cm("g"))).status == 201
    reply = await api.call("GET", f"{CMS}/g?resourceVersion=abc")
    assert_status(reply, 400, "BadRequest")


async def test_bad_dry_run_is_400(api: Api) -> None:
    reply = await api.call("POST", f"{CMS}?dryRun=Foo", _cm("d"))
    status = assert_status(reply, 400, "BadRequest")
    assert status["message"] == 'dryRun: Unsupported value: "Foo": supported values: "All"'
    assert (await api.call("GET", f"{CMS}/d")).status == 404


async def test_bad_timeout_reads_like_kubernetes(api: Api) -> None:
    status = assert_status(await api.call("GET", f"{CMS}?timeout=soon"), 400, "BadRequest")
    assert status["message"] == (
        'invalid timeout specified in the request URL - time: invalid duration "soon"'
    )


async def test_unsupported_field_selector_through_kubectl(cluster: Cluster) -> None:
    out = await cluster.kubectl("get", "configmaps", "--field-selector", "spec.x=1", check=False)
    assert out == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match '
        'label selector "", field selector "spec.x=1": "spec.x" is not a known field selector: '
        'only "metadata.name", "metadata.namespace"\n'
    )


async def test_watch_with_a_bad_selector_is_400_not_an_open_stream(api: Api) -> None:
    reply = await api.call("GET", f"{CMS}?watch=true&labelSelector=a%20in%20(b", timeout=10)
    assert_status(reply, 400, "BadRequest")
    reply = await api.call("GET", f"{CMS}?watch=1&resourceVersion=abc", timeout=10)
    assert_status(reply, 400, "BadRequest")


# -- 401 ----------------------------------------------------------------------


async def test_no_credentials_is_401(api: Api) -> None:
    reply = await api.call("GET", CMS, anonymous=True)
    status = assert_status(reply, 401, "Unauthorized")
    assert status["message"] == "Unauthorized"


async def test_wrong_bearer_token_is_401(api: Api) -> None:
    for header in ("Bearer wrong-token", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer  a b "):
        reply = await api.call("GET", CMS, anonymous=True, headers={"Authorization": header})
        assert_status(reply, 401, "Unauthorized")


async def test_health_needs_no_credentials(api: Api) -> None:
    reply = await api.call("GET", "/healthz", anonymous=True)
    assert (reply.status, reply.body) == (200, b"ok")
    verbose = await api.call("GET", "/readyz?verbose", anonymous=True)
    assert verbose.status == 200
    assert verbose.body.decode().splitlines() == [
        "[+]ping ok", "[+]informer-sync ok", "[+]shutdown ok", "readyz check passed"]  # fmt: skip
    excluded = await api.call("GET", "/livez?verbose&exclude=ping&exclude=etcd", anonymous=True)
    assert excluded.body.decode().splitlines() == [
        "[+]ping excluded: ok", "[+]informer-sync ok",
        'warn: some health checks cannot be excluded: no matches for "etcd"', "livez check passed",
    ]  # fmt: skip
    one = await api.call("GET", "/readyz/informer-sync", anonymous=True)
    assert (one.status, one.body) == (200, b"ok")
    assert (await api.call("GET", "/readyz/nosuch", anonymous=True)).status == 404
    assert (await api.call("GET", "/readyzz", anonymous=True)).status == 401


# -- 404 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/apis/nosuch.example.com/v1/widgets",
        "/apis/apps/v9/deployments",
        "/api/v2/pods",
        "/api/v1/nosuch",
        "/api/v1/namespaces/default/nosuch",
        "/api/v1/namespaces/default/configmaps/x/nosuch",
        "/api/v1/namespaces/default/configmaps/x/status/extra",
        "/nosuch",
        "/apis/nosuch.example.com",
        "/apis/nosuch.example.com/v1",
        "/openapi/v3/apis/nosuch/v1",
    ],
)
async def test_unknown_path_is_404(api: Api, path: str) -> None:
    reply = await api.call("GET", path)
    status = assert_status(reply, 404, "NotFound")
    assert status["message"] == "the server could not find the requested resource"


async def test_unknown_object_is_404_naming_it(api: Api) -> None:
    reply = await api.call("GET", f"{CMS}/x")
    status = assert_status(reply, 404, "NotFound")
    assert status["message"] == 'configmaps "x" not found'
    assert status["details"] == {"name": "x", "kind": "configmaps"}
    reply = await api.call("GET", "/apis/apps/v1/namespaces/default/deployments/web")
    status = assert_status(reply, 404, "NotFound")
    assert status["message"] == 'deployments.apps "web" not found'
    assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    for method in ("PUT", "PATCH", "DELETE"):
        body = _cm("x") if method == "PUT" else {}
        ctype = "application/merge-patch+json" if method == "PATCH" else JSON
        reply = await api.call(method, f"{CMS}/x", body, content_type=ctype)
        assert assert_status(reply, 404, "NotFound")["message"] == 'configmaps "x" not found'


async def test_not_found_through_kubectl(cluster: Cluster) -> None:
    out = await cluster.kubectl("get", "configmap", "x", check=False)
    assert out == 'Error from server (NotFound): configmaps "x" not found\n'
    out = await cluster.kubectl("get", "--raw", "/apis/nosuch.example.com/v1/widgets", check=False)
    assert out == "Error from server (NotFound): the server could not find the requested resource\n"


async def test_namespaced_item_without_namespace_is_404(api: Api) -> None:
    assert (await api.call("POST", CMS, _cm("x"))).status == 201
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        reply = await api.call(method, "/api/v1/configmaps/x", {})
        assert_status(reply, 404, "NotFound")
    # The list of every namespace's objects is not an item: it exists.
    assert (await api.call("GET", "/api/v1/configmaps")).status == 200


async def test_missing_namespace_is_404(api: Api) -> None:
    reply = await api.call("POST", "/api/v1/namespaces/nosuch/configmaps", _cm("a"))
    status = assert_status(reply, 404, "NotFound")
    assert status["message"] == 'namespaces "nosuch" not found'


# -- 405 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{CMS}/x"),  # create on an item
        ("PUT", CMS),  # update on a collection
        ("PATCH", CMS),
        ("DELETE", "/api/v1/namespaces"),  # namespaces have no deletecollection
        ("PUT", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x"),
        ("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        ("TRACE", CMS),
        ("OPTIONS", f"{CMS}/x"),
        ("DELETE", "/api/v1/namespaces/default/pods/x/status"),
        ("POST", "/api/v1/namespaces/default/pods/x/status"),
        ("PUT", "/api/v1/namespaces/default/pods/x/log"),
    ],
)
async def test_verb_not_allowed_is_405(api: Api, method: str, path: str) -> None:
    body: Any = {} if method in ("POST", "PUT", "PATCH") else None
    ctype = "application/merge-patch+json" if method == "PATCH" else JSON
    reply = await api.call(method, path, body, content_type=ctype)
    status = assert_status(reply, 405, "MethodNotAllowed")
    assert status["message"] == "the server does not allow this method on the requested resource"


async def test_post_on_item_creates_nothing(api: Api) -> None:
    await api.call("POST", f"{CMS}/x", _cm("x"))
    assert (await api.call("GET", f"{CMS}/x")).status == 404


# -- 406 ----------------------------------------------------------------------

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
REVIEW = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
          "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}}  # fmt: skip


async def test_a_table_of_a_kind_without_columns_is_406(api: Api) -> None:
    # Checklist A16: kube-apiserver has no table convertor for reviews.
    reply = await api.call("POST", SSAR, REVIEW, headers={"Accept": TABLE})
    status = assert_status(reply, 406, "NotAcceptable")
    assert status["message"] == (
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf"
    )
    # With a fallback the review is answered, as JSON.
    reply = await api.call("POST", SSAR, REVIEW, headers={"Accept": f"{TABLE},application/json"})
    assert reply.status == 201 and reply.json()["status"]["allowed"] is True
    # A kind with columns still answers with a Table.
    reply = await api.call("GET", CMS, headers={"Accept": TABLE})
    assert reply.status == 200 and reply.json()["kind"] == "Table"


# -- 409 ----------------------------------------------------------------------


async def test_already_exists_is_409(api: Api, cluster: Cluster) -> None:
    assert (await api.call("POST", CMS, _cm("dup"))).status == 201
    reply = await api.call("POST", CMS, _cm("dup"))
    status = assert_status(reply, 409, "AlreadyExists")
    assert status["message"] == 'configmaps "dup" already exists'
    assert status["details"] == {"name": "dup", "kind": "configmaps"}
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(_cm("dup")), check=False)
    assert (
        'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" '
        "already exists" in out
    ), out


async def test_stale_resource_version_is_409_conflict(api: Api) -> None:
    created = (await api.call("POST", CMS, _cm("c", a="1"))).json()
    stale = created["metadata"]["resourceVersion"]
    created["data"] = {"a": "2"}
    assert (await api.call("PUT", f"{CMS}/c", created)).status == 200
    created["data"] = {"a": "3"}
    reply = await api.call("PUT", f"{CMS}/c", created)  # still carries the old resourceVersion
    status = assert_status(reply, 409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    delete = {"preconditions": {"resourceVersion": stale}}
    reply = await api.call("DELETE", f"{CMS}/c", delete)
    assert_status(reply, 409, "Conflict")


# -- 410 ----------------------------------------------------------------------


async def test_expired_continue_token_is_410(api: Api, cluster: Cluster) -> None:
    for name in ("a", "b", "c"):
        assert (await api.call("POST", CMS, _cm(name))).status == 201
    first = (await api.call("GET", f"{CMS}?limit=1")).json()
    token = first["metadata"]["continue"]
    assert (await api.call("POST", CMS, _cm("d"))).status == 201
    store = cluster.api.rest.storage.store
    await store.compact(await store.current_revision())
    reply = await api.call("GET", f"{CMS}?limit=1&continue={token}")
    status = assert_status(reply, 410, "Expired")
    assert status["message"] == (
        "The provided continue parameter is too old to display a consistent list result. "
        "You can start a new list without the continue parameter."
    )
    # Listing again from the start works.
    assert len((await api.call("GET", CMS)).json()["items"]) == 4


async def test_watch_from_compacted_revision_ends_with_error_event(
    api: Api, cluster: Cluster
) -> None:
    old = (await api.call("POST", CMS, _cm("w"))).json()["metadata"]["resourceVersion"]
    assert (await api.call("POST", CMS, _cm("w2"))).status == 201
    store = cluster.api.rest.storage.store
    await store.compact(await store.current_revision())
    reply = await api.call("GET", f"{CMS}?watch=true&resourceVersion={old}", timeout=10)
    assert reply.status == 200
    events = [json.loads(line) for line in reply.body.splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["ERROR"]
    error = events[0]["object"]
    assert (error["kind"], error["code"], error["reason"]) == ("Status", 410, "Expired")
    assert error["message"].startswith(f"too old resource version: {old}")


# -- 413 ----------------------------------------------------------------------


async def _raw_exchange(
    request: bytes, writer: asyncio.StreamWriter, reader: asyncio.StreamReader
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on an open connection; read one response."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    code = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return code, await reader.readexactly(length)


async def test_body_over_3mib_is_413_and_the_connection_stays_usable(api: Api) -> None:
    host, port = api.base.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=api.ssl)
    try:
        body = b'{"metadata":{"name":"big"},"data":{"a":"' + b"x" * MAX_BODY + b'"}}'
        head = (
            f"POST {CMS} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        async with asyncio.timeout(30):
            code, payload = await _raw_exchange(head + body, writer, reader)
            assert code == 413
            status = json.loads(payload)
            assert (status["kind"], status["reason"], status["code"]) == (
                "Status", "RequestEntityTooLarge", 413)  # fmt: skip
            assert status["message"] == "Request entity too large: limit is 3145728"
            # The same connection answers the next request.
            again = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            code, payload = await _raw_exchange(again, writer, reader)
            assert (code, payload) == (200, b"ok")
    finally:
        writer.close()


async def test_a_client_that_expects_100_continue_gets_it_before_sending_its_body(
    api: Api,
) -> None:
    # curl asks before a big body and waits (1 s) for the go-ahead.
    host, port = api.base.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=api.ssl)
    try:
        body = json.dumps(_cm("expecting")).encode()
        head = (
            f"POST {CMS} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
        ).encode()
        async with asyncio.timeout(30):
            writer.write(head)
            await writer.drain()
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            code, payload = await _raw_exchange(body, writer, reader)
        assert code == 201 and json.loads(payload)["metadata"]["name"] == "expecting"
    finally:
        writer.close()
    reply = await api.call("POST", CMS, _cm("other"), headers={"Expect": "something-else"})
    assert_status(reply, 417, "Unknown")
    assert (await api.call("GET", f"{CMS}/other")).status == 404


async def test_chunked_body_over_3mib_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"metadata":{"name":"big"},"data":{"a":"'
        for _ in range(5):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    async with api.session.post(
        api.base + CMS, data=chunks(), ssl=api.ssl, headers={"Content-Type": JSON}
    ) as resp:
        reply = Reply(resp.status, resp.headers, await resp.read())
    assert_status(reply, 413, "RequestEntityTooLarge")
    assert (await api.call("GET", f"{CMS}/big")).status == 404


async def test_body_just_under_the_limit_is_not_413(api: Api) -> None:
    # 1 MiB of data: accepted by the API, stored (the store's value limit is 1.5 MiB).
    reply = await api.call("POST", CMS, _cm("fits", a="x" * (1024 * 1024)))
    assert reply.status == 201


# -- 415 ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png"])
async def test_unknown_content_type_is_415(api: Api, content_type: str) -> None:
    reply = await api.call("POST", CMS, json.dumps(_cm("t")), content_type=content_type)
    status = assert_status(reply, 415, "UnsupportedMediaType")
    assert status["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include: "
    )
    assert (await api.call("POST", CMS, _cm("t"))).status == 201
    for ctype in (content_type, "application/json"):
        reply = await api.call("PATCH", f"{CMS}/t", {"data": {"a": "1"}}, content_type=ctype)
        status = assert_status(reply, 415, "UnsupportedMediaType")
        assert "application/merge-patch+json" in status["message"]
    # Server-side apply is served, but only for a named field manager.
    reply = await api.call(
        "PATCH", f"{CMS}/t", {"data": {"a": "1"}}, content_type="application/apply-patch+yaml"
    )
    assert_status(reply, 400, "BadRequest")


async def test_empty_body_with_unknown_content_type_is_415(api: Api) -> None:
    reply = await api.call("POST", CMS, b"", content_type="text/plain")
    assert_status(reply, 415, "UnsupportedMediaType")


async def test_delete_without_a_body_needs_no_content_type(api: Api) -> None:
    assert (await api.call("POST", CMS, _cm("del"))).status == 201
    reply = await api.call("DELETE", f"{CMS}/del", b"", content_type="text/plain")
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    "options",
    [
        {"gracePeriodSeconds": "5"},
        {"propagationPolicy": 1},
        {"preconditions": []},
        {"preconditions": {"uid": 5}},
        {"dryRun": "All"},
        [1],
    ],
)
async def test_delete_options_of_the_wrong_type_are_400(api: Api, options: Any) -> None:
    assert (await api.call("POST", CMS, _cm("del"))).status == 201
    reply = await api.call("DELETE", f"{CMS}/del", options)
    assert_status(reply, 400, "BadRequest")
    assert (await api.call("GET", f"{CMS}/del")).status == 200


# -- 422 ----------------------------------------------------------------------


async def test_missing_name_is_422_with_causes(api: Api, cluster: Cluster) -> None:
    reply = await api.call("POST", CMS, {"metadata": {}, "data": {"a": "b"}})
    status = assert_status(reply, 422, "Invalid")
    assert status["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )
    # kubectl rebuilds its message from these (Go omits the empty name).
    assert status["details"] == {
        "kind": "ConfigMap",
        "causes": [{"reason": "FieldValueRequired", "field": "metadata.name",
                    "message": "Required value: name or generateName is required"}],
    }  # fmt: skip
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    out = await cluster.kubectl("create", "-f", "-", stdin=manifest, check=False)
    assert (
        'The ConfigMap "" is invalid: metadata.name: Required value: '
        "name or generateName is required" in out
    ), out


async def test_bad_name_is_422(api: Api, cluster: Cluster) -> None:
    reply = await api.call("POST", CMS, _cm("Bad_Name"))
    status = assert_status(reply, 422, "Invalid")
    assert status["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        "a lowercase RFC 1123 subdomain"
    )
    (cause,) = status["details"]["causes"]
    assert (cause["field"], cause["reason"]) == ("metadata.name", "FieldValueInvalid")
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(_cm("Bad_Name")), check=False)
    assert 'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in out


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "test", "path": "/data/a", "value": "2"}],
        [{"op": "remove", "path": "/data/nosuch"}],
        [{"op": "frobnicate", "path": "/data/a"}],  # kube's json-patch fails it when applied
    ],
)
async def test_json_patch_that_does_not_apply_is_422(api: Api, patch: Any) -> None:
    assert (await api.call("POST", CMS, _cm("p", a="1"))).status == 201
    reply = await api.call("PATCH", f"{CMS}/p", patch, content_type="application/json-patch+json")
    assert_status(reply, 422, "Invalid")
    assert (await api.call("GET", f"{CMS}/p")).json()["data"] == {"a": "1"}


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"metadata": {"labels": "x"}}),
        ("application/merge-patch+json", {"metadata": {"annotations": {"a": 1}}}),
        ("application/strategic-merge-patch+json", {"metadata": {"finalizers": "x"}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/metadata", "value": []}]),
        ("application/json-patch+json", [{"op": "add", "path": "/metadata/labels", "value": 1}]),
    ],
)
async def test_patch_that_makes_a_wrong_type_is_422(
    api: Api, content_type: str, patch: Any
) -> None:
    assert (await api.call("POST", CMS, _cm("p", a="1"))).status == 201
    reply = await api.call("PATCH", f"{CMS}/p", patch, content_type=content_type)
    status = assert_status(reply, 422, "Invalid")
    assert status["message"].startswith('ConfigMap "p" is invalid: patch: Invalid value: ')


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/json-patch+json", {"op": "add"}),  # must be a list
        ("application/json-patch+json", ["add"]),
        ("application/merge-patch+json", [1, 2]),  # must be an object
        ("application/merge-patch+json", "text"),
        ("application/strategic-merge-patch+json", [{"op": "add"}]),
        ("application/strategic-merge-patch+json", 7),
        ("application/merge-patch+json", "{not json"),
    ],
)
async def test_patch_of_the_wrong_type_is_400(api: Api, content_type: str, patch: Any) -> None:
    assert (await api.call("POST", CMS, _cm("p"))).status == 201
    body = patch if not (isinstance(patch, str) and patch.startswith("{")) else patch.encode()
    reply = await api.call("PATCH", f"{CMS}/p", body, content_type=content_type)
    assert_status(reply, 400, "BadRequest")


@pytest.mark.parametrize(
    ("path", "patch"),
    [
        (f"{CMS}/p", {"$patch": "foo"}),
        (f"{CMS}/p", {"$setElementOrder/finalizers": "x"}),
        (f"{CMS}/p", {"metadata": {"finalizers": [{"$patch": "delete"}]}}),
        ("/api/v1/namespaces/default/pods/p", {"spec": {"containers": [5]}}),
        ("/api/v1/namespaces/default/pods/p",
         {"spec": {"$setElementOrder/containers": [{"name": "c"}, 5]}}),
    ],
)  # fmt: skip
async def test_malformed_strategic_merge_patch_is_400(api: Api, path: str, patch: Any) -> None:
    assert (
        await api.call("POST", CMS, {"metadata": {"name": "p", "finalizers": ["a"]}})
    ).status == 201
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert (await api.call("POST", "/api/v1/namespaces/default/pods", pod)).status == 201
    reply = await api.call(
        "PATCH", path, patch, content_type="application/strategic-merge-patch+json"
    )
    assert_status(reply, 400, "BadRequest")


# -- 504 ----------------------------------------------------------------------


async def test_resource_version_far_ahead_is_504_within_bounds(api: Api) -> None:
    assert (await api.call("POST", CMS, _cm("f"))).status == 201
    # kube-apiserver waits ~3 s for its watch cache to catch up, then answers 504.
    for path in (f"{CMS}/f?resourceVersion=999999",
                 f"{CMS}?resourceVersion=999999&resourceVersionMatch=NotOlderThan"):  # fmt: skip
        started = time.monotonic()
        reply = await api.call("GET", path)
        elapsed = time.monotonic() - started
        status = assert_status(reply, 504, "Timeout")
        assert status["message"].startswith(
            "Timeout: Too large resource version: 999999, current: "
        )
        # client-go's reflector knows this case by its cause.
        assert status["details"] == {
            "causes": [{"reason": "ResourceVersionTooLarge",
                        "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        }  # fmt: skip
        assert reply.headers["Retry-After"] == "1"
        assert 2.5 <= elapsed <= 6, elapsed


async def test_request_deadline_is_504(api: Api) -> None:
    # The client's own ?timeout= (kubectl --request-timeout) cuts the 3 s wait short.
    assert (await api.call("POST", CMS, _cm("f"))).status == 201
    started = time.monotonic()
    reply = await api.call("GET", f"{CMS}/f?resourceVersion=999999&timeout=500ms")
    elapsed = time.monotonic() - started
    status = assert_status(reply, 504, "Timeout")
    assert status["message"] == "Timeout: request did not complete within 500ms"
    assert 0.4 <= elapsed < 2.5, elapsed


@pytest.mark.one_api_process
async def test_server_request_timeout_bounds_every_request(api: Api, cluster: Cluster) -> None:
    cluster.api.runner.ctx.request_timeout = 1.0
    started = time.monotonic()
    reply = await api.call("GET", f"{CMS}?resourceVersion=999999&timeout=1h")
    status = assert_status(reply, 504, "Timeout")
    assert status["message"] == "Timeout: request did not complete within 1s"
    assert time.monotonic() - started < 2.5


async def test_exact_resource_version_far_ahead_is_504_at_once(api: Api) -> None:
    started = time.monotonic()
    reply = await api.call("GET", f"{CMS}?resourceVersion=999999&resourceVersionMatch=Exact")
    assert_status(reply, 504, "Timeout")
    assert time.monotonic() - started < 2


# -- hostile input ------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = {"leaf": "x"}
    for i in range(depth - 1):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 2_000, 100_000])
async def test_deep_json_is_400_not_500(api: Api, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = '{"metadata": {"name": "deep"}, "x": ' + nested + "}"
    status = assert_status(await api.call("POST", CMS, body), 400, "BadRequest")
    assert "nested" in status["message"] or "depth" in status["message"]
    deep_object = '{"a":' * depth + "1" + "}" * depth
    assert_status(await api.call("POST", CMS, deep_object), 400, "BadRequest")
    patch = '{"metadata": {"annotations": ' + nested + "}}"
    reply = await api.call("PATCH", f"{CMS}/deep", patch, content_type=MERGE)
    assert_status(reply, 400, "BadRequest")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 2_000, 100_000])
async def test_deep_yaml_is_400_not_500(api: Api, depth: int) -> None:
    body = "metadata: {name: deep}\nx: " + "[" * depth + "]" * depth + "\n"
    reply = await api.call("POST", CMS, body, content_type="application/yaml")
    assert_status(reply, 400, "BadRequest")
    block = "metadata: {name: deep}\nx:\n" + "".join(
        " " * i + f"k{i}:\n" for i in range(min(depth, 300))
    )
    reply = await api.call("POST", CMS, block, content_type="application/yaml")
    assert_status(reply, 400, "BadRequest")


async def _open_kind(api: Api) -> str:
    """The collection of a custom resource kind `Deep` that keeps unknown fields.

    Built-in kinds drop the fields their schema lacks, as kube-apiserver does;
    tests that need an arbitrary field to reach the store use this kind.
    """
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "deeps.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "deeps", "singular": "deep", "kind": "Deep"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]},
    }  # fmt: skip
    reply = await api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert reply.status == 201, reply.body[:300]
    return "/apis/example.com/v1/namespaces/default/deeps"


async def test_the_deepest_allowed_object_works_everywhere(api: Api) -> None:
    """An object at the depth limit goes through every path that copies,
    patches or encodes it: none may hit a recursion limit (a 500).

    The deep part is a field of a custom resource that keeps unknown fields
    (a built-in kind drops fields its schema lacks), so it reaches every
    code path.
    """
    deeps = await _open_kind(api)
    deep = _nested(MAX_DEPTH - 1)  # one level less: it is a field of the object
    reply = await api.call("POST", deeps, {"apiVersion": "example.com/v1", "kind": "Deep",
                                         "metadata": {"name": "deep"}, "x": deep})  # fmt: skip
    assert reply.status == 201, reply.body[:300]
    assert reply.json()["x"] == deep
    table = "application/json;as=Table;v=v1;g=meta.k8s.io"
    for path, accept in ((f"{deeps}/deep", "application/yaml"), (f"{deeps}/deep", table),
                         (deeps, JSON), (deeps, table)):  # fmt: skip
        reply = await api.call("GET", path, headers={"Accept": accept})
        assert reply.status == 200, (path, accept, reply.body[:300])
    for ctype, patch in (
        (MERGE, {"x": _nested(MAX_DEPTH - 1), "metadata": {"labels": {"a": "b"}}}),
        # The operation list and the operation are two levels of the body.
        (
            "application/json-patch+json",
            [{"op": "replace", "path": "/x", "value": _nested(MAX_DEPTH - 2)}],
        ),
        ("application/strategic-merge-patch+json", {"x": deep}),
    ):
        reply = await api.call("PATCH", f"{deeps}/deep", patch, content_type=ctype)
        assert reply.status == 200, (ctype, reply.body[:300])
    # One level more, made by a patch: refused as the patched object is.
    grow = [{"op": "add", "path": "/x/0/k/0", "value": _nested(MAX_DEPTH - 2)}]
    reply = await api.call(
        "PATCH", f"{deeps}/deep", grow, content_type="application/json-patch+json"
    )
    assert_status(reply, 422, "Invalid")
    reply = await api.call("GET", f"{deeps}?watch=true&timeoutSeconds=1", timeout=10)
    assert reply.status == 200
    assert json.loads(reply.body.splitlines()[0])["object"]["x"] == deep


BILLION_LAUGHS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


async def test_yaml_alias_bomb_is_400(api: Api) -> None:
    async with asyncio.timeout(10):
        reply = await api.call("POST", CMS, BILLION_LAUGHS, content_type="application/yaml")
    assert_status(reply, 400, "BadRequest")
    assert (await api.call("GET", f"{CMS}/lol")).status == 404


@pytest.mark.parametrize(
    "body",
    [
        "metadata: {name: y}\nx: !!binary aGVsbG8=\n",
        "metadata: {name: y}\nx: !!set {a, b}\n",
        "metadata: {name: y}\nx: .inf\n",
        "metadata: {name: y}\nx: .nan\n",
        'metadata: {name: y}\nx: "\\ud800"\n',  # a lone surrogate
        "metadata: {name: y}\nx: !!python/object:os.system ls\n",
        "metadata: {name: y}\n? [a, b]\n: c\n",
        "metadata: {name: y}\n? {a: b}\n: c\n",
        "metadata: {name: y}\nx: !!timestamp 2001-12-14\n",
        "metadata: {name: y}\nx: !!omap [a: 1]\n",
        "metadata: {name: y}\nx: {~: null}\n",
        "metadata: &m {name: y}\nother: *m\n",
        "base: &b {a: 1}\nmetadata: {name: y, <<: *b}\n",
        "--- {metadata: {name: y}}\n--- {metadata: {name: z}}\n",
    ],
)
async def test_yaml_that_is_not_json_is_400(api: Api, body: str) -> None:
    reply = await api.call("POST", CMS, body, content_type="application/yaml")
    assert_status(reply, 400, "BadRequest")


async def test_yaml_becomes_json_as_in_kubernetes(api: Api) -> None:
    body = (
        "apiVersion: example.com/v1\nkind: Deep\n"
        "metadata: {name: ts, annotations: {when: 2024-01-02}}\n"
        "data: {d: 2001-12-14, 1: one, 1.5: float-key, false: bool-key}\n"
        "big: 123456789012345678901234567890\n"
    )
    # `big` is no ConfigMap field: a kind that keeps unknown fields stores it.
    reply = await api.call("POST", await _open_kind(api), body, content_type="application/yaml")
    assert reply.status == 201, reply.body
    created = reply.json()
    assert created["metadata"]["annotations"] == {"when": "2024-01-02"}  # not a date
    assert created["data"] == {
        "d": "2001-12-14", "1": "one", "1.5": "float-key", "false": "bool-key"
    }  # fmt: skip
    assert created["big"] == 1.2345678901234568e29  # too big for 64 bits: a float, as in Go


async def test_yaml_with_many_keys_is_answered_in_bounded_time(api: Api) -> None:
    lines = ["metadata: {name: many}", "data:"]
    size = 0
    i = 0
    while size < MAX_BODY - 64:
        line = f"  k{i}: v"
        lines.append(line)
        size += len(line) + 1
        i += 1
    body = "\n".join(lines[:-1]) + "\n"
    assert len(body) <= MAX_BODY
    started = time.monotonic()
    async with asyncio.timeout(20):
        health = asyncio.create_task(_health_while_busy(api))
        reply = await api.call("POST", CMS, body, content_type="application/yaml", timeout=20)
        answered_health = await health
    # Decoded (in a worker thread), then refused by the store: over 1.5 MiB stored.
    assert_status(reply, 413, "RequestEntityTooLarge")
    assert time.monotonic() - started < 20
    assert answered_health


async def _health_while_busy(api: Api) -> bool:
    # A second connection: /healthz answers while the big body is decoded.
    async with aiohttp.ClientSession() as session:
        await asyncio.sleep(0.5)
        async with session.get(api.base + "/healthz", ssl=api.ssl) as resp:
            return resp.status == 200


async def test_body_that_does_not_decompress_is_400(api: Api) -> None:
    headers = {"Content-Encoding": "gzip"}
    reply = await api.call("POST", CMS, b"not gzip at all", headers=headers)
    assert_status(reply, 400, "BadRequest")


async def test_duplicate_json_keys_take_the_last(api: Api) -> None:
    body = '{"metadata": {"name": "first", "name": "dupkeys"}, "data": {"a": "1", "a": "2"}}'
    reply = await api.call("POST", CMS, body)
    assert reply.status == 201, reply.body
    assert reply.json()["metadata"]["name"] == "dupkeys"
    assert reply.json()["data"] == {"a": "2"}


# -- fuzzing ------------------------------------------------------------------

_PATHS = [
    CMS,
    f"{CMS}/a",
    f"{CMS}/a/status",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/a",
    "/api/v1/namespaces/default/services",
    "/api/v1/namespaces/default/secrets",
    "/api/v1/nodes",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/a/scale",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    "/apis",
    "/api/v1",
]
_SEGMENTS = ["api", "apis", "v1", "namespaces", "default", "configmaps", "pods", "a", "status",
             "scale", "apps", "%FF", "%ED%A0%80", "%00", "%2F", "..", "."]  # fmt: skip
_PARAMS = ["limit", "continue", "labelSelector", "fieldSelector", "resourceVersion",
           "resourceVersionMatch", "watch", "dryRun", "timeout", "timeoutSeconds",
           "gracePeriodSeconds", "propagationPolicy", "allowWatchBookmarks"]  # fmt: skip
_CONTENT_TYPES = [JSON, JSON, "application/yaml", MERGE, "application/json-patch+json",
                  "application/strategic-merge-patch+json", "application/vnd.kubernetes.protobuf",
                  "text/plain", "application/apply-patch+yaml"]  # fmt: skip


def _fuzz_requests() -> Any:
    """Requests shaped like the API's, with anything in their bodies and queries."""
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
              allow_infinity=False) | st.text(max_size=12)  # fmt: skip
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                      max_size=4),
        max_leaves=16,
    )  # fmt: skip
    names = st.sampled_from(["a", "b", "", "A_b", "a" * 300]) | st.text(max_size=10) | values
    metadata = st.fixed_dictionaries(
        {"name": names},
        optional={"labels": values, "annotations": values, "namespace": names,
                  "generateName": names, "resourceVersion": values, "finalizers": values},
    ) | values  # fmt: skip
    objects = st.fixed_dictionaries(
        {"metadata": metadata},
        optional={"apiVersion": st.sampled_from(["v1", "apps/v1"]) | values,
                  "kind": st.sampled_from(["ConfigMap", "Pod"]) | values,
                  "data": values, "spec": values, "status": values},
    )  # fmt: skip
    bodies = (
        objects.map(json.dumps)
        | values.map(json.dumps)
        | st.lists(st.fixed_dictionaries({"op": st.text(max_size=8), "path": st.text(max_size=8)},
                                         optional={"value": values}), max_size=3).map(json.dumps)
        | st.integers(1, 5000).map(lambda d: '{"metadata":{"name":"d"},"x":' + "[" * d + "]" * d
                                   + "}")
        | st.binary(max_size=64)
        | st.none()
    )  # fmt: skip
    # Mostly real paths, so that the bodies reach the REST code behind them.
    known = st.sampled_from(_PATHS)
    paths = (
        known
        | known
        | known
        | st.lists(
            st.sampled_from(_SEGMENTS) | st.text(max_size=6).map(lambda t: quote(t, safe="")),
            max_size=7,
        ).map(lambda parts: "/" + "/".join(parts))
    )
    queries: Any = st.just({}) | st.dictionaries(
        st.sampled_from(_PARAMS) | st.text(max_size=5),
        st.sampled_from(["", "0", "1", "-1", "true", "All", "abc", "1s", "a=b", "x in (y)"])
        | st.text(max_size=12),
        max_size=4,
    )
    return st.fixed_dictionaries({
        "method": st.sampled_from(["POST", "POST", "POST", "PUT", "PATCH", "DELETE", "GET"]),
        "path": paths,
        "query": queries,
        "body": bodies,
        "content_type": st.sampled_from(_CONTENT_TYPES),
    })  # fmt: skip


async def test_fuzzed_requests_never_get_a_500(
    api: Api, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random bodies, paths and queries: never a 500, and a Status for every failure.

    Hypothesis drives a blocking HTTPS client in a worker thread while the
    server goes on running on this event loop. The examples are the same on
    every run; KYB_FUZZ_EXAMPLES=5000 runs more, and new ones each time.
    """
    hypothesis = pytest.importorskip("hypothesis")
    # A resourceVersion far ahead waits 3 s for the store; that wait is not what is fuzzed.
    monkeypatch.setattr(storage, "FUTURE_RV_WAIT", 0.1)
    host, port = api.base.removeprefix("https://").split(":")

    def send(request: dict[str, Any]) -> None:
        query = dict(request["query"])
        if "watch" in query or "allowWatchBookmarks" in query:
            query["timeoutSeconds"] = "1"  # a watch that works would never end
        target = request["path"] + ("?" + urlencode(query) if query else "")
        body = request["body"]
        data = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": request["content_type"]} if data is not None else {}
        connection = http.client.HTTPSConnection(host, int(port), context=api.ssl, timeout=15)
        try:
            connection.request(request["method"], target, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        assert response.status < 500 or response.status == 504, (response.status, payload[:500])
        if response.status >= 300:
            reply = Reply(response.status, dict(response.getheaders()), payload)
            assert_status(reply, response.status, reply.json()["reason"])

    settings = hypothesis.settings(
        max_examples=int(os.environ.get("KYB_FUZZ_EXAMPLES", "200")), deadline=None,
        derandomize="KYB_FUZZ_EXAMPLES" not in os.environ, database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )  # fmt: skip
    fuzz = settings(hypothesis.given(_fuzz_requests())(send))
    await asyncio.to_thread(fuzz)


def test_fuzzed_bodies_decode_or_are_a_400() -> None:
    """The body decoders alone, many more examples: a value JSON can encode, or a 400."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    raw = st.binary(max_size=120) | st.text(max_size=120).map(str.encode)
    bodies = raw | raw.map(lambda b: b"k8s\x00" + b)  # past the protobuf magic
    content_types = st.sampled_from([JSON, "application/yaml", MERGE,
                                     "application/vnd.kubernetes.protobuf"])  # fmt: skip

    def decode(body: bytes, content_type: str) -> None:
        try:
            value = decode_body(body, content_type)
            check_object_types(value, kind="ConfigMap", version="v1")
        except ApiError as err:
            assert (err.code, err.reason) == (400, "BadRequest"), err
            return
        orjson.dumps(value)  # what the store will do with it

    settings = hypothesis.settings(
        max_examples=2000, deadline=None, derandomize=True, database=None
    )
    settings(hypothesis.given(bodies, content_types)(decode))()
