"""Cascading deletion: the garbage collector and the namespace controller at 1,000 objects.

    bench/run gc [--pods N]

An in-process API server (SQLite in a temp dir); N unbound pods (1,000 by
default) owned by one ReplicaSet. Figures, each beside its baseline measured
in the same run:

1. baseline: N pods deleted one by one through the API by one client with 50
   requests in flight (what deleting them costs at all);
2. background: from `DELETE replicaset` to the last of its N pods gone;
3. foreground: from `DELETE replicaset` (Foreground) to the ReplicaSet gone,
   which is after all its pods;
4. orphan: from `DELETE replicaset` (Orphan) to the ReplicaSet gone, which
   is after its reference was patched out of all N pods;
5. namespace: N ConfigMaps and N pods in a namespace; baseline one
   deletecollection per resource, figure from `DELETE namespace` to the
   namespace gone (namespace controller + collector running).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.server import start_apiserver
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.namespace import NamespaceController
from kybernetes.store import open_store
from kybernetes.util.tasks import cancel_and_wait

Obj = dict[str, Any]


async def _bounded(jobs: list[Callable[[], Awaitable[Any]]], limit: int = 50) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


async def _replicaset(client: ApiClient, namespace: str, name: str, pods: int) -> Obj:
    rs = await client.create(resource_path("apps", "v1", "replicasets", namespace), {
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}},
    })  # fmt: skip
    uid = rs["metadata"]["uid"]
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid,
           "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    path = resource_path("", "v1", "pods", namespace)
    await _bounded([
        lambda i=i: client.create(path, {  # type: ignore[misc]
            "metadata": {"name": f"{name}-{i}", "labels": {"app": name}, "ownerReferences": [ref]},
            "spec": {"containers": [{"name": "c", "image": "x"}]}})
        for i in range(pods)
    ])  # fmt: skip
    return rs


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    while not await check():  # noqa: ASYNC110 - polls the API, not a local flag
        await asyncio.sleep(0.02)


async def _gone(client: ApiClient, path: str) -> bool:
    try:
        await client.get(path)
    except ApiStatusError as err:
        return err.code == 404
    return False


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kyb-bench-gc-") as tmp:
        pki = await asyncio.to_thread(ClusterPKI.load_or_create, Path(tmp) / "pki",
                                      hostnames=["localhost"], ips=["127.0.0.1"])  # fmt: skip
        store = await open_store(f"sqlite://{tmp}/state.db?compact_interval=0")
        api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
        kubeconfig = Path(tmp) / "kubeconfig"
        write_admin_kubeconfig(kubeconfig, server=api.url, ca_pem=pki.ca_pem,
                               client_cert_pem=pki.admin_cert_pem,
                               client_key_pem=pki.admin_key_pem)  # fmt: skip
        client = ApiClient.from_kubeconfig(kubeconfig)
        pods = resource_path("", "v1", "pods", "default")
        sets = resource_path("apps", "v1", "replicasets", "default")
        try:
            await _replicaset(client, "default", "base", count)
            started = time.perf_counter()
            await _bounded([lambda i=i: client.delete(f"{pods}/base-{i}")  # type: ignore[misc]
                            for i in range(count)])  # fmt: skip
            print(f"baseline: {count} pod deletes, 50 in flight: "
                  f"{time.perf_counter() - started:.2f} s")  # fmt: skip

            informers = InformerFactory(client)
            controllers = [
                GarbageCollector(informers),
                NamespaceController(informers, recheck_interval=0.2),
            ]
            informers.start()
            tasks = [asyncio.create_task(c.run()) for c in controllers]
            try:

                async def no_pods() -> bool:
                    return not (await client.get(pods, limit="1"))["items"]

                await _replicaset(client, "default", "bg", count)
                started = time.perf_counter()
                await client.delete(f"{sets}/bg", {"propagationPolicy": "Background"})
                await _until(no_pods)
                print(f"background: {count} dependents collected in "
                      f"{time.perf_counter() - started:.2f} s")  # fmt: skip

                await _replicaset(client, "default", "fg", count)
                started = time.perf_counter()
                await client.delete(f"{sets}/fg", {"propagationPolicy": "Foreground"})
                await _until(lambda: _gone(client, f"{sets}/fg"))
                print(f"foreground: owner gone after its {count} dependents in "
                      f"{time.perf_counter() - started:.2f} s")  # fmt: skip

                await _replicaset(client, "default", "or", count)
                started = time.perf_counter()
                await client.delete(f"{sets}/or", {"propagationPolicy": "Orphan"})
                await _until(lambda: _gone(client, f"{sets}/or"))
                print(f"orphan: owner gone after releasing its {count} dependents in "
                      f"{time.perf_counter() - started:.2f} s")  # fmt: skip
                await client.delete(pods)

                namespaces = resource_path("", "v1", "namespaces")
                for ns in ("base-ns", "doomed"):
                    await client.create(namespaces, {"metadata": {"name": ns}})
                    cms = resource_path("", "v1", "configmaps", ns)
                    await _bounded([lambda i=i, cms=cms: client.create(  # type: ignore[misc]
                        cms, {"metadata": {"name": f"c-{i}"}}) for i in range(count)])  # fmt: skip
                    await _replicaset(client, ns, "web", count)
                started = time.perf_counter()
                for plural in ("pods", "configmaps"):
                    await client.delete(resource_path("", "v1", plural, "base-ns"))
                print(f"baseline: deletecollection of {count} pods and {count} configmaps: "
                      f"{time.perf_counter() - started:.2f} s")  # fmt: skip
                started = time.perf_counter()
                await client.delete(f"{namespaces}/doomed")
                await _until(lambda: _gone(client, f"{namespaces}/doomed"))
                print(f"namespace: {count} pods + {count} configmaps + 1 replicaset, "
                      f"namespace gone in {time.perf_counter() - started:.2f} s")  # fmt: skip
            finally:
                for task in tasks:
                    await cancel_and_wait(task)
                await informers.stop()
        finally:
            await client.close()
            await api.stop()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    asyncio.run(run(parser.parse_args().pods))


if __name__ == "__main__":
    main()
