"""The everyday kubectl verbs: output formats, watch, edit, annotate, delete flags."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from pathlib import Path

import yaml

from tests.apiserver.conftest import KUBECTL, Cluster


async def test_output_formats(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27", "--labels=app=web,tier=front")
    assert await cluster.kubectl(
        "get", "pod", "web", "-o", "jsonpath={.spec.containers[0].image}"
    ) == ("nginx:1.27")
    as_yaml = yaml.safe_load(await cluster.kubectl("get", "pod", "web", "-o", "yaml"))
    assert as_yaml["metadata"]["labels"] == {"app": "web", "tier": "front"}
    listed = yaml.safe_load(await cluster.kubectl("get", "pods", "-o", "yaml"))
    assert listed["kind"] == "List" and listed["items"][0]["metadata"]["name"] == "web"
    assert await cluster.kubectl("get", "pods", "-l", "tier in (front,back)", "-o", "name") == (
        "pod/web\n"
    )
    assert await cluster.kubectl("get", "pods", "-l", "tier!=front", "-o", "name") == ""
    shown = await cluster.kubectl("get", "pods", "--show-labels")
    assert "app=web,tier=front" in shown
    columns = await cluster.kubectl(
        "get", "pods", "-o", "custom-columns=N:.metadata.name,P:.status.phase"
    )
    assert columns.split() == ["N", "P", "web", "Pending"]


async def test_get_sort_by_a_field_of_the_object(cluster: Cluster) -> None:
    # --sort-by asks for Table rows that carry whole objects (includeObject=Object).
    for name, rank in (("first", "3"), ("second", "1"), ("third", "2")):
        await cluster.kubectl("create", "configmap", name, f"--from-literal=rank={rank}")
    shown = await cluster.kubectl("get", "configmaps", "--sort-by=.data.rank", "-o", "name")
    assert shown.split() == ["configmap/second", "configmap/third", "configmap/first"]
    table = await cluster.kubectl("get", "configmaps", "--sort-by=.data.rank")
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["second", "third", "first"]
    await cluster.kubectl("create", "configmap", "zeroth", "--from-literal=rank=0")
    await cluster.kubectl("annotate", "configmap", "first", "touched=yes")
    by_version = await cluster.kubectl("get", "cm", "--sort-by=.metadata.resourceVersion")
    assert [line.split()[0] for line in by_version.splitlines()[-2:]] == ["zeroth", "first"]


async def test_get_watch_streams_changes(cluster: Cluster) -> None:
    if KUBECTL is None:
        return
    await cluster.kubectl("create", "configmap", "watched", "--from-literal=a=1")
    watcher = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "get", "cm", "watched", "-w",
        "-o", "name", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(cluster.home), "KUBECONFIG": ""},
    )  # fmt: skip
    assert watcher.stdout is not None
    try:
        async with asyncio.timeout(20):
            first = await watcher.stdout.readline()
            assert first.strip() == b"configmap/watched"
            await cluster.kubectl("label", "cm", "watched", "seen=yes")
            second = await watcher.stdout.readline()
            assert second.strip() == b"configmap/watched"
    finally:
        watcher.terminate()
        await watcher.wait()


async def test_edit_with_an_editor_script(cluster: Cluster, tmp_path: Path) -> None:
    await cluster.kubectl("create", "configmap", "edited", "--from-literal=color=blue")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    assert KUBECTL is not None
    result = await asyncio.to_thread(
        subprocess.run,
        [KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "edit", "cm", "edited"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOME": str(cluster.home), "KUBECONFIG": "", "EDITOR": str(editor)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "configmap/edited edited" in result.stdout
    cm = json.loads(await cluster.kubectl("get", "cm", "edited", "-o", "json"))
    assert cm["data"] == {"color": "green"}


async def test_annotate_and_overwrite(cluster: Cluster) -> None:
    await cluster.kubectl("create", "configmap", "notes")
    await cluster.kubectl("annotate", "cm", "notes", "owner=team-a")
    clash = await cluster.kubectl("annotate", "cm", "notes", "owner=team-b", check=False)
    assert "already has a value" in clash
    await cluster.kubectl("annotate", "cm", "notes", "owner=team-b", "--overwrite")
    await cluster.kubectl("annotate", "cm", "notes", "owner-")
    cm = json.loads(await cluster.kubectl("get", "cm", "notes", "-o", "json"))
    assert "owner" not in (cm["metadata"].get("annotations") or {})


async def test_delete_flags(cluster: Cluster) -> None:
    await cluster.kubectl("create", "configmap", "gone")
    out = await cluster.kubectl("delete", "cm", "gone", "--grace-period=0", "--wait")
    assert 'configmap "gone" deleted' in out
    await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27")
    # No garbage collector runs here: the orphan finalizer stays, so do not wait.
    out = await cluster.kubectl("delete", "deployment", "web", "--cascade=orphan", "--wait=false")
    assert 'deployment.apps "web" deleted' in out
    held = await cluster.kubectl("get", "deploy", "web", "-o", "jsonpath={.metadata.finalizers}")
    assert "orphan" in held
    for i in range(3):
        await cluster.kubectl("create", "configmap", f"bulk-{i}", "--from-literal=k=v")
    await cluster.kubectl("label", "cm", "bulk-0", "bulk-1", "batch=yes")
    await cluster.kubectl("delete", "cm", "-l", "batch=yes")
    left = await cluster.kubectl("get", "cm", "-o", "name")
    assert "bulk-2" in left and "bulk-0" not in left and "bulk-1" not in left


async def test_finalizers_hold_an_object_until_removed(cluster: Cluster) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}  # fmt: skip
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    await cluster.kubectl("delete", "cm", "held", "--wait=false")
    held = json.loads(await cluster.kubectl("get", "cm", "held", "-o", "json"))
    assert held["metadata"]["deletionTimestamp"]
    await cluster.kubectl("patch", "cm", "held", "--type=json",
                          "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')  # fmt: skip
    assert "NotFound" in await cluster.kubectl("get", "cm", "held", check=False)
