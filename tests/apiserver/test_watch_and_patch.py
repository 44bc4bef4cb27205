"""Watch and patch semantics, through the real kubectl and the official client."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp

from tests.apiserver.conftest import Cluster

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}


class Client:
    """Just enough HTTPS client to look at the raw wire (admin certificate)."""

    def __init__(self, cluster: Cluster) -> None:
        context = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
        cert = cluster.home / "admin.crt"
        key = cluster.home / "admin.key"
        cert.write_bytes(cluster.pki.admin_cert_pem)
        key.write_bytes(cluster.pki.admin_key_pem)
        context.load_cert_chain(str(cert), str(key))
        self.ssl = context
        self.base = cluster.api.url
        self.session = aiohttp.ClientSession()

    async def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = json.dumps(body) if body is not None else None
        async with self.session.request(
            method,
            self.base + path,
            data=data,
            ssl=self.ssl,
            headers={"Content-Type": content_type},
        ) as resp:
            return resp.status, await resp.json()

    async def watch_lines(self, path: str, count: int) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        async with self.session.get(self.base + path, ssl=self.ssl) as resp:
            assert resp.status == 200
            async with asyncio.timeout(10):
                async for line in resp.content:
                    lines.append(json.loads(line))
                    if len(lines) == count:
                        break
        return lines


async def test_watch_from_list_revision_sees_later_changes(cluster: Cluster) -> None:
    client = Client(cluster)
    try:
        _, listed = await client.request("GET", "/api/v1/namespaces/default/configmaps")
        rv = listed["metadata"]["resourceVersion"]
        watching = asyncio.create_task(
            client.watch_lines(
                f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}", 3
            )
        )
        await asyncio.sleep(0.1)
        status, created = await client.request("POST", "/api/v1/namespaces/default/configmaps", CM)
        assert status == 201
        await client.request(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c",
            {"data": {"a": "2"}},
            content_type="application/merge-patch+json",
        )
        await client.request("DELETE", "/api/v1/namespaces/default/configmaps/c")
        events = await watching
        assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
        assert events[0]["object"]["metadata"]["uid"] == created["metadata"]["uid"]
        assert events[1]["object"]["data"] == {"a": "2"}
        revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert revisions == sorted(revisions) and revisions[0] > int(rv)
    finally:
        await client.session.close()


async def test_watch_without_revision_starts_with_current_objects(cluster: Cluster) -> None:
    client = Client(cluster)
    try:
        events = await client.watch_lines("/api/v1/namespaces?watch=true", 4)
        assert {e["type"] for e in events} == {"ADDED"}
        assert {e["object"]["metadata"]["name"] for e in events} == {
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
        }
    finally:
        await client.session.close()


async def test_watch_from_compacted_revision_is_410_expired(cluster: Cluster) -> None:
    client = Client(cluster)
    try:
        _, first = await client.request("POST", "/api/v1/namespaces/default/configmaps", CM)
        old = first["metadata"]["resourceVersion"]
        for value in ("2", "3"):
            await client.request(
                "PATCH",
                "/api/v1/namespaces/default/configmaps/c",
                {"data": {"a": value}},
                content_type="application/merge-patch+json",
            )
        store = cluster.api.rest.storage.store
        await store.compact(await store.current_revision())
        events = await client.watch_lines(
            f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old}", 1
        )
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
        assert events[0]["object"]["reason"] == "Expired"
    finally:
        await client.session.close()


async def test_stale_resource_version_on_update_is_409(cluster: Cluster) -> None:
    client = Client(cluster)
    try:
        _, created = await client.request("POST", "/api/v1/namespaces/default/configmaps", CM)
        fresh = {**created, "data": {"a": "fresh"}}
        status, updated = await client.request(
            "PUT", "/api/v1/namespaces/default/configmaps/c", fresh
        )
        assert status == 200
        stale = {**created, "data": {"a": "stale"}}
        status, err = await client.request("PUT", "/api/v1/namespaces/default/configmaps/c", stale)
        assert status == 409
        assert err["reason"] == "Conflict"
        assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    finally:
        await client.session.close()


async def test_kubectl_patch_all_three_types(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27", "--labels=app=web")
    await cluster.kubectl(
        "patch", "pod", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}'
    )
    await cluster.kubectl(
        "patch",
        "pod",
        "web",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/annotations","value":{"note":"hi"}}]',
    )
    await cluster.kubectl(
        "patch", "pod", "web", "-p", '{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}'
    )
    pod = json.loads(await cluster.kubectl("get", "pod", "web", "-o", "json"))
    assert pod["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert pod["metadata"]["annotations"] == {"note": "hi"}
    containers = pod["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.28")]
    assert containers[0]["imagePullPolicy"] == "IfNotPresent"


async def test_dry_run_writes_nothing(cluster: Cluster) -> None:
    out = await cluster.kubectl("run", "ghost", "--image=busybox", "--dry-run=server", "-o", "json")
    assert json.loads(out)["metadata"]["name"] == "ghost"
    missing = await cluster.kubectl("get", "pod", "ghost", check=False)
    assert "NotFound" in missing


async def test_official_python_client_crud_and_watch(cluster: Cluster) -> None:
    from kubernetes import client, config, watch

    def scenario() -> list[str]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py"), data={"k": "v"})
        made = core.create_namespaced_config_map("default", body)
        listed = core.list_namespaced_config_map("default")
        assert [c.metadata.name for c in listed.items] == ["py"]
        made.data = {"k": "v2"}
        core.replace_namespaced_config_map("py", "default", made)
        try:
            core.replace_namespaced_config_map("py", "default", made)
        except client.ApiException as err:
            assert err.status == 409
        else:
            raise AssertionError("stale replace succeeded")
        core.delete_namespaced_config_map("py", "default")
        seen = []
        stream = watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=5,
        )
        for event in stream:
            seen.append(event["type"])
            if len(seen) == 2:
                break
        api_client.close()
        return seen

    assert await asyncio.to_thread(scenario) == ["MODIFIED", "DELETED"]


# The conformance tests' watch checks (checklist W01-W05), with the official client.


def _events(core: Any, count: int, **options: Any) -> list[dict[str, Any]]:
    """The first `count` events of a watch of default's ConfigMaps."""
    from kubernetes import watch

    stream = watch.Watch()
    seen: list[dict[str, Any]] = []
    for event in stream.stream(core.list_namespaced_config_map, "default", timeout_seconds=5,
                               **options):  # fmt: skip
        seen.append(event)
        if len(seen) == count:
            stream.stop()
            break
    return seen


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(e["type"], e["object"].metadata.name, e["object"].data) for e in events]


async def test_a_watch_reopened_from_its_last_revision_misses_and_repeats_nothing(
    cluster: Cluster,
) -> None:
    from kubernetes import client, config

    def scenario() -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, Any]]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        selector = "watch-this-configmap=restart"
        start = core.list_namespaced_config_map("default").metadata.resource_version
        meta = client.V1ObjectMeta(name="w01", labels={"watch-this-configmap": "restart"})
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta))
        for n in ("1", "2"):
            core.patch_namespaced_config_map("w01", "default", {"data": {"mutation": n}})
        first = _events(core, 2, label_selector=selector, resource_version=start)
        last = first[-1]["object"].metadata.resource_version
        core.patch_namespaced_config_map("w01", "default", {"data": {"mutation": "3"}})
        core.delete_namespaced_config_map("w01", "default")
        second = _events(core, 3, label_selector=selector, resource_version=last)
        api_client.close()
        return _summary(first), _summary(second)

    first, second = await asyncio.to_thread(scenario)
    assert first == [("ADDED", "w01", None), ("MODIFIED", "w01", {"mutation": "1"})]
    assert second == [
        ("MODIFIED", "w01", {"mutation": "2"}),
        ("MODIFIED", "w01", {"mutation": "3"}),
        ("DELETED", "w01", {"mutation": "3"}),
    ]


async def test_watchers_with_different_selectors_see_only_their_objects(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> dict[str, list[tuple[str, str, Any]]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for name, label in (("a", "A"), ("b", "B")):
            meta = client.V1ObjectMeta(name=name, labels={"multi-watch": label})
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta))
        core.patch_namespaced_config_map("a", "default", {"data": {"mutation": "1"}})
        core.delete_namespaced_config_map("a", "default")
        core.patch_namespaced_config_map("b", "default", {"data": {"mutation": "1"}})
        core.delete_namespaced_config_map("b", "default")
        seen = {selector: _summary(_events(core, count, label_selector=selector,
                                           resource_version=start))
                for selector, count in (("multi-watch=A", 3), ("multi-watch=B", 3),
                                        ("multi-watch in (A,B)", 6))}  # fmt: skip
        api_client.close()
        return seen

    seen = await asyncio.to_thread(scenario)
    a = [("ADDED", "a", None), ("MODIFIED", "a", {"mutation": "1"}),
         ("DELETED", "a", {"mutation": "1"})]  # fmt: skip
    b = [("ADDED", "b", None), ("MODIFIED", "b", {"mutation": "1"}),
         ("DELETED", "b", {"mutation": "1"})]  # fmt: skip
    assert seen["multi-watch=A"] == a
    assert seen["multi-watch=B"] == b
    assert seen["multi-watch in (A,B)"] == [a[0], b[0], *a[1:], *b[1:]]


async def test_an_object_leaving_a_selector_is_deleted_and_added_when_it_returns(
    cluster: Cluster,
) -> None:
    from kubernetes import client, config

    def scenario() -> list[tuple[str, Any, Any, int]]:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        labels = {"watch-this-configmap": "label-changed"}
        start = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w04", labels=labels))
        )
        steps: list[Any] = [
            {"data": {"mutation": "1"}},
            {"metadata": {"labels": {"watch-this-configmap": "wrong-value"}}},
            {"data": {"mutation": "2"}},  # not seen: it does not match
            {"metadata": {"labels": labels}},
            {"data": {"mutation": "3"}},
        ]
        revisions = [core.patch_namespaced_config_map("w04", "default", step)
                     .metadata.resource_version for step in steps]  # fmt: skip
        core.delete_namespaced_config_map("w04", "default")
        seen = _events(core, 6, label_selector="watch-this-configmap=label-changed",
                       resource_version=start)  # fmt: skip
        api_client.close()
        relabelled = int(revisions[1])
        return [(e["type"], e["object"].data, e["object"].metadata.labels["watch-this-configmap"],
                 int(e["object"].metadata.resource_version) - relabelled)
                for e in seen]  # fmt: skip

    seen = await asyncio.to_thread(scenario)
    # Leaving the selector is DELETED with the object as it last matched, at the
    # revision of the change (kube-apiserver's watch cache does the same).
    assert [s[:3] for s in seen] == [
        ("ADDED", None, "label-changed"),
        ("MODIFIED", {"mutation": "1"}, "label-changed"),
        ("DELETED", {"mutation": "1"}, "label-changed"),
        ("ADDED", {"mutation": "2"}, "label-changed"),
        ("MODIFIED", {"mutation": "3"}, "label-changed"),
        ("DELETED", {"mutation": "3"}, "label-changed"),
    ]
    assert seen[2][3] == 0


async def test_watches_from_each_revision_replay_the_same_later_events(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(6):
            meta = client.V1ObjectMeta(name=f"c{i}")
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta))
            core.patch_namespaced_config_map(f"c{i}", "default", {"data": {"n": str(i)}})
            if i % 2:
                core.delete_namespaced_config_map(f"c{i}", "default")
        every = [e["object"].metadata.resource_version
                 for e in _events(core, 15, resource_version=start)]  # fmt: skip
        assert len(every) == 15 and every == sorted(every, key=int)
        for i, revision in enumerate(every[:-1]):
            later = _events(core, len(every) - i - 1, resource_version=revision)
            assert [e["object"].metadata.resource_version for e in later] == every[i + 1 :]
        api_client.close()

    await asyncio.to_thread(scenario)
