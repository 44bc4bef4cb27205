"""Pod volumes and env from ConfigMaps and Secrets on a whole node (checklist §3, §4).

The conformance tests start one pod per file mode; here one pod reads many
files at once (recipe R-MODE: `stat -L` through the `..data` symlinks, then
`cat`), so the whole section costs a handful of pods on one node: every
combination of configMap / secret / downwardAPI / projected volume with
defaultMode, items[].mode, subPath, as root, as uid 1000, and with fsGroup;
emptyDirs on disk and in memory; the container environment; then a running
pod that sees ConfigMap, Secret, label and annotation changes (R-VOLUPD).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e_node.node import IMAGE, Node, until

pytestmark = pytest.mark.root

Obj = dict[str, Any]
BINARY = bytes(range(256))  # not UTF-8: binaryData must come through byte-exact
CONFIG = {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}
ODD_PREFIX = "1_!@#$%^&*()+-.:;<>?/~|"  # printable ASCII but "=" (C03, C09)
# One line per file: "== <path> <mode> <uid> <gid>", then its content.
SHOW = ("show() { for f in \"$@\"; do echo \"== $f $(stat -L -c '%a %u %g' \"$f\")\"; "
        "cat \"$f\"; echo; done; echo '== end 0 0 0'; }; ")  # fmt: skip


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def create(node: Node, *objects: Obj) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    node.kubectl("create", "-f", "-", stdin=json.dumps(items))


def pod(name: str, volumes: list[Obj], containers: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "volumes": volumes, "containers": containers,
                     **spec}}  # fmt: skip


def container(name: str, script: str, mounts: dict[str, str], **extra: Any) -> Obj:
    """busybox running `script`; mounts: mountPath -> volume (or "volume:subPath")."""
    volume_mounts = []
    for path, volume in mounts.items():
        name_, _, sub = volume.partition(":")
        volume_mounts.append(
            {"name": name_, "mountPath": path, **({"subPath": sub} if sub else {})}
        )
    return {"name": name, "image": IMAGE, "command": ["/bin/busybox", "sh", "-c", script],
            "volumeMounts": volume_mounts, **extra}  # fmt: skip


def files(output: str) -> dict[str, tuple[str, int, int, str]]:
    """`show`'s output: path -> (mode, uid, gid, content)."""
    found = {}
    for chunk in re.split(r"^== ", output, flags=re.M)[1:]:
        header, _, content = chunk.partition("\n")
        path, mode, uid, gid = header.rsplit(" ", 3)
        found[path] = (mode, int(uid), int(gid), content[:-1])
    return found


def finished(node: Node, name: str, timeout: float = 120) -> str:
    """Wait for the pod to succeed; its logs, container by container."""

    def phase() -> bool:
        now = node.jsonpath("pod", name, path="{.status.phase}")
        if now == "Failed":  # not an AssertionError: `until` would keep waiting
            raise RuntimeError(node.kubectl("logs", name, "--all-containers"))
        return now == "Succeeded"

    try:
        until(phase, timeout=timeout, what=f"pod {name} to succeed")
    except AssertionError as err:
        raise AssertionError(f"{err}\n{node.kubectl('describe', 'pod', name)}") from None
    return node.kubectl("logs", name, "--all-containers")


@pytest.fixture(scope="module")
def sources(node: Node) -> Iterator[None]:
    """The ConfigMap and Secret the pods read, and a same-named Secret elsewhere (V69)."""
    create(node,
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
            "data": CONFIG, "binaryData": {"dump.bin": _b64(BINARY)}},
           {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
            "data": {"data-1": _b64("secret-1"), "data-2": _b64("secret-2")}},
           {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})  # fmt: skip
    create(node, {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "sec", "namespace": "other"},
                  "data": {"data-1": _b64("not-yours")}})  # fmt: skip
    yield


# -- every kind of file, as root ---------------------------------------------------------

MAIN_RESOURCES = {"requests": {"cpu": "250m", "memory": "32Mi"},
                  "limits": {"cpu": "1250m", "memory": "64Mi"}}  # fmt: skip


def _downward(*items: tuple[str, str], mode: int | None = None) -> list[Obj]:
    """downwardAPI items: (path, field) with field a fieldPath or `container/resource/divisor`."""
    made = []
    for path, field in items:
        if "/" in field:
            name, resource, divisor = field.split("/")
            item: Obj = {"path": path, "resourceFieldRef": {
                "containerName": name, "resource": resource, "divisor": divisor}}  # fmt: skip
        else:
            item = {"path": path, "fieldRef": {"fieldPath": field}}
        made.append({**item, **({"mode": mode} if mode is not None else {})})
    return made


RESOURCES = (("cpu_limit", "main/limits.cpu/1m"), ("cpu_request", "main/requests.cpu/1m"),
             ("memory_limit", "main/limits.memory/1Mi"),
             ("memory_request", "main/requests.memory/1Mi"),
             ("node_cpu", "helper/limits.cpu/1"),
             ("node_memory", "helper/limits.memory/1"))  # fmt: skip
ROOT_VOLUMES = [
    {"name": "cm-all", "configMap": {"name": "cm"}},
    {"name": "cm-0400", "configMap": {"name": "cm", "defaultMode": 0o400}},
    {"name": "cm-map", "configMap": {"name": "cm", "items": [
        {"key": "data-1", "path": "path/to/data-2"}]}},
    {"name": "cm-map-0400", "configMap": {"name": "cm", "items": [
        {"key": "data-2", "path": "path/to/data-2", "mode": 0o400}]}},
    {"name": "sec-all", "secret": {"secretName": "sec"}},
    {"name": "sec-0400", "secret": {"secretName": "sec", "defaultMode": 0o400}},
    {"name": "sec-map", "secret": {"secretName": "sec", "items": [
        {"key": "data-1", "path": "new-path-data-1"}]}},
    {"name": "sec-map-0400", "secret": {"secretName": "sec", "items": [
        {"key": "data-1", "path": "new-path-data-1", "mode": 0o400}]}},
    {"name": "dapi", "downwardAPI": {"items": [
        *_downward(("podname", "metadata.name"), ("labels", "metadata.labels"),
                   ("annotations", "metadata.annotations"), *RESOURCES),
        *_downward(("podname-0400", "metadata.name"), mode=0o400)]}},
    {"name": "dapi-0400", "downwardAPI": {"defaultMode": 0o400,
                                          "items": _downward(("podname", "metadata.name"))}},
    {"name": "proj", "projected": {"sources": [
        {"secret": {"name": "sec", "items": [{"key": "data-1", "path": "proj-secret"}]}},
        {"configMap": {"name": "cm", "items": [{"key": "data-1", "path": "proj-cm"}]}},
        {"downwardAPI": {"items": [*_downward(("podname", "metadata.name"), *RESOURCES),
                                   *_downward(("podname-0400", "metadata.name"), mode=0o400)]}},
    ]}},
    {"name": "proj-all", "projected": {"sources": [
        {"configMap": {"name": "cm"}},
        {"secret": {"name": "sec", "items": [{"key": "data-2", "path": "secret-data-2"}]}}]}},
    {"name": "proj-0400", "projected": {"defaultMode": 0o400, "sources": [
        {"configMap": {"name": "cm", "items": [{"key": "data-1", "path": "cm-data-1"}]}},
        {"secret": {"name": "sec", "items": [{"key": "data-1", "path": "secret-data-1"}]}},
        {"downwardAPI": {"items": _downward(("podname", "metadata.name"))}}]}},
    {"name": "proj-map-0400", "projected": {"sources": [
        {"configMap": {"name": "cm", "items": [
            {"key": "data-1", "path": "path/to/cm", "mode": 0o400}]}},
        {"secret": {"name": "sec", "items": [
            {"key": "data-1", "path": "path/to/secret", "mode": 0o400}]}}]}},
    {"name": "empty-disk", "emptyDir": {}},
    {"name": "empty-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "32Mi"}},
]  # fmt: skip
ROOT_MOUNTS = {
    "/etc/cm-all": "cm-all", "/etc/cm-0400": "cm-0400", "/etc/cm-map": "cm-map",
    "/etc/cm-map-0400": "cm-map-0400", "/etc/sec-all": "sec-all", "/etc/sec-0400": "sec-0400",
    "/etc/sec-map": "sec-map", "/etc/sec-map-0400": "sec-map-0400", "/etc/podinfo": "dapi",
    "/etc/podinfo-0400": "dapi-0400", "/etc/proj": "proj", "/etc/proj-all": "proj-all",
    "/etc/proj-0400": "proj-0400", "/etc/proj-map-0400": "proj-map-0400",
    "/ed": "empty-disk", "/em": "empty-mem",
    # subPath: one file of a volume (V77-V81), one over a file the node manages (V78)
    "/sub/cm": "cm-all:data-1", "/etc/resolv.conf": "cm-all:data-2",
    "/sub/dapi": "dapi:podname", "/sub/proj": "proj:proj-cm", "/sub/sec": "sec-all:data-1",
}  # fmt: skip
SHOWN = [
    "/etc/cm-all/data-1", "/etc/cm-all/data-3", "/etc/cm-0400/data-1",
    "/etc/cm-map/path/to/data-2", "/etc/cm-map-0400/path/to/data-2",
    "/etc/sec-all/data-1", "/etc/sec-0400/data-1", "/etc/sec-map/new-path-data-1",
    "/etc/sec-map-0400/new-path-data-1",
    *(f"/etc/podinfo/{p}" for p in ("podname", "labels", "annotations", "podname-0400")),
    *(f"/etc/podinfo/{p}" for p, _ in RESOURCES), "/etc/podinfo-0400/podname",
    *(f"/etc/proj/{p}" for p in ("proj-secret", "proj-cm", "podname", "podname-0400")),
    *(f"/etc/proj/{p}" for p, _ in RESOURCES),
    "/etc/proj-all/data-1", "/etc/proj-all/secret-data-2", "/etc/proj-0400/cm-data-1",
    "/etc/proj-0400/secret-data-1", "/etc/proj-0400/podname",
    "/etc/proj-map-0400/path/to/cm", "/etc/proj-map-0400/path/to/secret",
    "/sub/cm", "/etc/resolv.conf", "/sub/dapi", "/sub/proj", "/sub/sec",
]  # fmt: skip


def _emptydir_script(*dirs: str) -> str:
    """R-MODE on emptyDirs: the directory, its filesystem, files made with each mode."""
    lines = []
    for d in dirs:
        lines.append(f"echo \"dir {d} $(stat -c '%a' {d}) $(stat -f -c %T {d})\"")
        for mode in ("0644", "0666", "0777"):
            lines.append(f"(umask 0; echo {mode} > {d}/f{mode}; chmod {mode} {d}/f{mode})")
            lines.append(f"echo \"file {d}/f{mode} $(stat -c '%a %u' {d}/f{mode}) "
                         f"$(cat {d}/f{mode})\"")  # fmt: skip
    return "; ".join(lines) + "; "


def _emptydirs(output: str) -> dict[str, str]:
    """_emptydir_script's lines: 'dir /ed' or 'file /ed/f0644' -> the rest."""
    found = {}
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("dir", "file"):
            path, _, value = rest.partition(" ")
            found[f"{kind} {path}"] = value
    return found


def test_every_volume_file_as_root(node: Node, sources: None) -> None:
    """V01, V03, V05, V06, V07, V09, V12, V13, V14, V15, V16, V17, V18, V19, V20, V23,
    V30, V31, V32, V33, V34, V35, V36, V37, V39, V40, V42, V44, V45, V46, V48, V50, V51,
    V52, V53, V54, V55, V56, V57, V58, V62, V64, V65, V66, V67, V69, V70, V72, V73, V74,
    V75, V77, V78, V79, V80, V81; env: C01-C03, C07-C09."""
    wait_shared = "for i in $(seq 100); do [ -f /ed/shared ] && break; sleep 0.1; done; "
    script = (SHOW + wait_shared + "cat /ed/shared; echo; "
              + "show " + " ".join(SHOWN) + "; "
              + "echo \"md5 $(md5sum /etc/cm-all/dump.bin)\"; "
              + "echo \"md5 $(md5sum /etc/proj-all/dump.bin)\"; "
              + _emptydir_script("/ed", "/em")
              + "echo \"df $(df -k /em | tail -1)\"; "
              + "echo \"expr $(cat /ed/$POD_NAME/hello)\"; "
              # The environment runc gave the process: Debian's busybox sh drops the
              # names it could not declare itself (data-1) before `env` would see them.
              + "tr '\\0' '\\n' < /proc/1/environ | sed 's/^/env /'")  # fmt: skip
    main = container("main", script, ROOT_MOUNTS, resources=MAIN_RESOURCES, env=[
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "CONFIG_DATA_1",
         "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "data-1"}}},
        {"name": "SECRET_DATA", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "data-1"}}},
        {"name": "MAYBE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope",
                                                            "optional": True}}},
    ], envFrom=[{"configMapRef": {"name": "cm"}}, {"prefix": "p-", "configMapRef": {"name": "cm"}},
                {"prefix": ODD_PREFIX, "configMapRef": {"name": "cm"}},
                {"prefix": "s-", "secretRef": {"name": "sec"}},
                {"prefix": f"s{ODD_PREFIX}", "secretRef": {"name": "sec"}}])  # fmt: skip
    main["volumeMounts"].append({"name": "empty-disk", "mountPath": "/expr",
                                 "subPathExpr": "$(POD_NAME)"})  # fmt: skip
    main["command"][-1] = "echo expr > /expr/hello; " + main["command"][-1]
    helper = container("helper", "echo from the helper > /ed/shared", {"/ed": "empty-disk"})
    manifest = pod("files", ROOT_VOLUMES, [main, helper])
    manifest["metadata"].update(labels={"app": "files", "tier": "one"},
                                annotations={"note": 'say "hi"\\now'})  # fmt: skip
    create(node, manifest)
    out = finished(node, "files")
    allocatable = json.loads(node.kubectl("get", "node", "node1", "-o",
                                          "jsonpath={.status.allocatable}"))  # fmt: skip
    cpu = allocatable["cpu"]
    node_cpu = str(-(-int(cpu[:-1]) // 1000) if cpu.endswith("m") else int(cpu))
    seen = files(out)

    def expect(path: str, mode: str, content: str, gid: int = 0) -> None:
        assert seen.get(path) == (mode, 0, gid, content), (path, seen.get(path))

    assert "from the helper" in out  # V23: the helper's file, through the shared emptyDir
    expect("/etc/cm-all/data-1", "644", "value-1")
    expect("/etc/cm-all/data-3", "644", "value-3")
    expect("/etc/cm-0400/data-1", "400", "value-1")
    expect("/etc/cm-map/path/to/data-2", "644", "value-1")
    expect("/etc/cm-map-0400/path/to/data-2", "400", "value-2")
    expect("/etc/sec-all/data-1", "644", "secret-1")  # not the other namespace's (V69)
    expect("/etc/sec-0400/data-1", "400", "secret-1")
    expect("/etc/sec-map/new-path-data-1", "644", "secret-1")
    expect("/etc/sec-map-0400/new-path-data-1", "400", "secret-1")
    for where in ("/etc/podinfo", "/etc/proj"):
        expect(f"{where}/podname", "644", "files")
        expect(f"{where}/podname-0400", "400", "files")
        expect(f"{where}/cpu_limit", "644", "1250")
        expect(f"{where}/cpu_request", "644", "250")
        expect(f"{where}/memory_limit", "644", "64")
        expect(f"{where}/memory_request", "644", "32")
        expect(f"{where}/node_cpu", "644", node_cpu)  # no limit: the node's allocatable
        memory = seen[f"{where}/node_memory"][3]
        assert int(memory) == _bytes(allocatable["memory"]), (memory, allocatable)
    expect("/etc/podinfo/labels", "644", 'app="files"\ntier="one"')
    expect("/etc/podinfo/annotations", "644", 'note="say \\"hi\\"\\\\now"')
    expect("/etc/podinfo-0400/podname", "400", "files")
    expect("/etc/proj/proj-secret", "644", "secret-1")
    expect("/etc/proj/proj-cm", "644", "value-1")
    expect("/etc/proj-all/data-1", "644", "value-1")
    expect("/etc/proj-all/secret-data-2", "644", "secret-2")
    expect("/etc/proj-0400/cm-data-1", "400", "value-1")
    expect("/etc/proj-0400/secret-data-1", "400", "secret-1")
    expect("/etc/proj-0400/podname", "400", "files")
    expect("/etc/proj-map-0400/path/to/cm", "400", "value-1")
    expect("/etc/proj-map-0400/path/to/secret", "400", "secret-1")
    expect("/sub/cm", "644", "value-1")
    expect("/etc/resolv.conf", "644", "value-2")  # the node's own resolv.conf gives way
    expect("/sub/dapi", "644", "files")
    expect("/sub/proj", "644", "value-1")
    expect("/sub/sec", "644", "secret-1")
    digest = hashlib.md5(BINARY).hexdigest()
    assert out.count(f"md5 {digest}") == 2, out  # V01: binaryData byte-exact, twice

    dirs = _emptydirs(out)
    assert dirs["dir /ed"].split()[0] == "777" and dirs["dir /ed"].split()[1] != "tmpfs"
    assert dirs["dir /em"] == "1777 tmpfs"  # tmpfs' own mode, as on a kubelet
    for d in ("/ed", "/em"):
        for mode in ("0644", "0666", "0777"):
            assert dirs[f"file {d}/f{mode}"] == f"{mode[1:]} 0 {mode}"
    df = re.search(r"^df \S+\s+(\d+)", out, re.M)
    assert df and int(df.group(1)) == 32 * 1024, out  # the sizeLimit is the tmpfs' size
    assert "expr expr" in out  # subPathExpr: a directory named after the pod, made for it

    env = {line[4:].partition("=")[0]: line[4:].partition("=")[2]
           for line in out.splitlines() if line.startswith("env ")}  # fmt: skip
    assert env["CONFIG_DATA_1"] == "value-1" and env["SECRET_DATA"] == "secret-1"
    assert "MAYBE" not in env
    for key, value in CONFIG.items():
        assert env[key] == env[f"p-{key}"] == env[f"{ODD_PREFIX}{key}"] == value
    assert env["s-data-1"] == env[f"s{ODD_PREFIX}data-1"] == "secret-1"
    assert "dump.bin" not in env  # envFrom reads data, not binaryData
    node.kubectl("delete", "pod", "files", "--wait=false")


def _bytes(quantity: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "": 1}
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units[unit or ""]


# -- as uid 1000, with and without fsGroup ------------------------------------------------

NONROOT_VOLUMES = [
    {"name": "cm-all", "configMap": {"name": "cm"}},
    {"name": "cm-map", "configMap": {"name": "cm", "items": [
        {"key": "data-2", "path": "path/to/data-2"}]}},
    {"name": "proj-cm", "projected": {"sources": [{"configMap": {"name": "cm"}}]}},
    {"name": "proj-map", "projected": {"sources": [{"configMap": {"name": "cm", "items": [
        {"key": "data-2", "path": "path/to/data-2"}]}}]}},
    {"name": "empty-disk", "emptyDir": {}},
    {"name": "empty-mem", "emptyDir": {"medium": "Memory"}},
]  # fmt: skip


def test_files_as_a_user_and_with_an_fs_group(node: Node, sources: None) -> None:
    """V04, V08, V24, V25, V26, V27, V28, V29, V43, V47 as uid 1000; V63, V71 with
    fsGroup 1001 and mode 0440."""
    shown = ["/etc/cm-all/data-1", "/etc/cm-map/path/to/data-2", "/etc/proj-cm/data-1",
             "/etc/proj-map/path/to/data-2"]  # fmt: skip
    user = container("main", SHOW + "show " + " ".join(shown) + "; "
                     + _emptydir_script("/ed", "/em"),
                     {"/etc/cm-all": "cm-all", "/etc/cm-map": "cm-map",
                      "/etc/proj-cm": "proj-cm", "/etc/proj-map": "proj-map",
                      "/ed": "empty-disk", "/em": "empty-mem"})  # fmt: skip
    grouped = container("main", SHOW + "id -G; show /etc/sec/data-1 /etc/proj/data-1",
                        {"/etc/sec": "sec", "/etc/proj": "proj"})  # fmt: skip
    create(node,
           pod("as-user", NONROOT_VOLUMES, [user], securityContext={"runAsUser": 1000}),
           pod("fs-group", [
               {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o440}},
               {"name": "proj", "projected": {"defaultMode": 0o440,
                                              "sources": [{"secret": {"name": "sec"}}]}}],
               [grouped], securityContext={"runAsUser": 1000, "fsGroup": 1001}))  # fmt: skip
    seen = files(finished(node, "as-user"))
    assert seen["/etc/cm-all/data-1"] == ("644", 0, 0, "value-1")
    assert seen["/etc/cm-map/path/to/data-2"] == ("644", 0, 0, "value-2")
    assert seen["/etc/proj-cm/data-1"] == ("644", 0, 0, "value-1")
    assert seen["/etc/proj-map/path/to/data-2"] == ("644", 0, 0, "value-2")
    dirs = _emptydirs(node.kubectl("logs", "as-user"))
    assert dirs["dir /em"].endswith(" tmpfs")
    for d in ("/ed", "/em"):
        for mode in ("0644", "0666", "0777"):
            assert dirs[f"file {d}/f{mode}"] == f"{mode[1:]} 1000 {mode}"
    out = finished(node, "fs-group")
    assert "1001" in out.splitlines()[0].split()  # fsGroup is one of the process' groups
    seen = files(out)
    assert seen["/etc/sec/data-1"] == ("440", 0, 1001, "secret-1")
    assert seen["/etc/proj/data-1"] == ("440", 0, 1001, "secret-1")
    node.kubectl("delete", "pod", "as-user", "fs-group", "--wait=false")


# -- a running pod sees its sources change (R-VOLUPD) -------------------------------------


def _optional(name: str, kind: str = "configMap") -> Obj:
    key = "secretName" if kind == "secret" else "name"
    return {"name": name, kind: {key: name, "optional": True}}


def test_a_running_pod_sees_changes(node: Node, sources: None) -> None:
    """V02, V11, V21, V22, V41, V49, V59, V60, V61, V68: optional sources created, updated,
    deleted; labels and annotations changed, all while the pod runs."""
    create(node,
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-update"},
            "data": {"data-1": "value-1"}},
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-delete"},
            "data": {"data-1": "value-1"}},
           {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec-delete"},
            "data": {"data-1": _b64("value-1")}})  # fmt: skip
    labels = {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
    annotations = {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
    volumes = [
        _optional("cm-create"), _optional("cm-update"), _optional("cm-delete"),
        _optional("sec-create", "secret"), _optional("sec-delete", "secret"),
        {"name": "proj", "projected": {"sources": [
            {"configMap": {"name": "cm-create", "optional": True,
                           "items": [{"key": "data-1", "path": "created"}]}},
            {"configMap": {"name": "cm-update", "optional": True,
                           "items": [{"key": "data-1", "path": "updated"}]}},
            {"secret": {"name": "sec-create", "optional": True,
                        "items": [{"key": "data-1", "path": "secret"}]}},
            {"downwardAPI": {"items": [labels, annotations]}}]}},
        {"name": "podinfo", "downwardAPI": {"items": [labels, annotations]}},
    ]  # fmt: skip
    mounts = {f"/etc/{v['name']}": v["name"] for v in volumes}
    running = pod("watcher", volumes, [container("main", "exec sleep 3600", mounts)],
                  restartPolicy="Always", terminationGracePeriodSeconds=1)  # fmt: skip
    running["metadata"]["labels"] = {"app": "watcher"}
    create(node, running)
    node.kubectl("wait", "--for=condition=Ready", "pod/watcher", "--timeout=90s")

    def cat(*paths: str) -> dict[str, str]:
        script = " ".join(f'echo "== {p}"; cat {p} 2>/dev/null; echo;' for p in paths)
        out = node.kubectl("exec", "watcher", "--", "/bin/busybox", "sh", "-c", script)
        return {path: content for path, (_, _, _, content) in files(
            re.sub(r"^(== \S+)$", r"\1 0 0 0", out, flags=re.M)).items()}  # fmt: skip

    before = cat("/etc/cm-create/data-1", "/etc/cm-update/data-1", "/etc/cm-delete/data-1",
                 "/etc/podinfo/labels")  # fmt: skip
    assert before == {"/etc/cm-create/data-1": "", "/etc/cm-update/data-1": "value-1",
                      "/etc/cm-delete/data-1": "value-1",
                      "/etc/podinfo/labels": 'app="watcher"'}  # fmt: skip
    create(node,
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-create"},
            "data": {"data-1": "created"}},
           {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec-create"},
            "data": {"data-1": _b64("secret-created")}})  # fmt: skip
    node.kubectl("patch", "configmap", "cm-update", "-p",
                 '{"data": {"data-1": "value-2", "data-3": "value-3"}}')  # fmt: skip
    node.kubectl("delete", "configmap", "cm-delete")
    node.kubectl("delete", "secret", "sec-delete")
    node.kubectl("label", "pod", "watcher", "new=yes")
    node.kubectl("annotate", "pod", "watcher", "builder=bar")
    wanted = {
        "/etc/cm-create/data-1": "created", "/etc/cm-update/data-1": "value-2",
        "/etc/cm-update/data-3": "value-3", "/etc/cm-delete/data-1": "",
        "/etc/sec-create/data-1": "secret-created", "/etc/sec-delete/data-1": "",
        "/etc/proj/created": "created", "/etc/proj/updated": "value-2",
        "/etc/proj/secret": "secret-created",
        "/etc/podinfo/labels": 'app="watcher"\nnew="yes"',
        "/etc/proj/labels": 'app="watcher"\nnew="yes"',
    }  # fmt: skip
    until(lambda: cat(*wanted) == wanted, timeout=120, what="the changes in the files")
    for where in ("/etc/podinfo", "/etc/proj"):
        assert 'builder="bar"' in cat(f"{where}/annotations")[f"{where}/annotations"]
    # A ConfigMap change alone, with nothing happening to the pod: the kubelet's
    # periodic sync brings it (V11, V49 as the conformance test does them).
    node.kubectl("patch", "configmap", "cm-update", "-p", '{"data": {"data-1": "value-3"}}')
    again = {"/etc/cm-update/data-1": "value-3", "/etc/proj/updated": "value-3"}
    until(lambda: cat(*again) == again, timeout=120, what="the update without a pod event")
    node.kubectl("delete", "pod", "watcher", "--wait=false")


# -- env from what is not there ---------------------------------------------------------


def test_env_from_missing_keys_and_objects(node: Node, sources: None) -> None:
    """A key or object a container's env needs is missing: CreateContainerConfigError with
    the kubelet's message, and the pod waits for it rather than failing."""
    key = {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}
    secret = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nosuch", "key": "k"}}}
    create(node, pod("badenv", [], [container("key", "true", {}, env=[key]),
                                    container("secret", "true", {}, env=[secret])]))  # fmt: skip

    def waiting(name: str) -> str:
        path = (
            f'{{.status.containerStatuses[?(@.name=="{name}")].state.waiting.reason}}:'
            f'{{.status.containerStatuses[?(@.name=="{name}")].state.waiting.message}}'
        )
        return node.jsonpath("pod", "badenv", path=path)

    until(lambda: waiting("key").startswith("CreateContainerConfigError"), what="key error")
    assert (
        waiting("key")
        == "CreateContainerConfigError:couldn't find key nope in ConfigMap default/cm"
    )
    until(lambda: waiting("secret").startswith("CreateContainerConfigError"), what="secret")
    assert waiting("secret") == 'CreateContainerConfigError:secret "nosuch" not found'
    assert node.jsonpath("pod", "badenv", path="{.status.phase}") == "Pending"
    node.kubectl("delete", "pod", "badenv", "--wait=false")


# -- many atomic-writer volumes at once ---------------------------------------------------


def test_many_configmap_volumes_in_many_pods(node: Node) -> None:
    """V38: 5 replicas, each mounting the same 50 ConfigMaps, all start (no race between
    the volumes' setup, which share the wrapped emptyDir machinery)."""
    count = 50
    create(node, *({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"racey-configmap-{i}", "labels": {"race": "yes"}}, "data": {"data-1": "value-1"}}
        for i in range(count)))  # fmt: skip
    volumes = [{"name": f"racey-configmap-{i}", "configMap": {
        "name": f"racey-configmap-{i}", "items": [{"key": "data-1", "path": "data-1"}]}}
        for i in range(count)]  # fmt: skip
    mounts = {f"/etc/config-{i}": f"racey-configmap-{i}" for i in range(count)}
    template = pod("", volumes, [container("test-container", "exec sleep 3600", mounts)],
                   restartPolicy="Always", terminationGracePeriodSeconds=1)  # fmt: skip
    del template["apiVersion"], template["kind"]
    template["metadata"] = {"labels": {"name": "wrapped-volume-race"}}
    create(node, {"apiVersion": "v1", "kind": "ReplicationController",
                  "metadata": {"name": "wrapped-volume-race"},
                  "spec": {"replicas": 5, "selector": {"name": "wrapped-volume-race"},
                           "template": template}})  # fmt: skip

    def all_ready() -> bool:
        found = json.loads(node.kubectl("get", "pods", "-l", "name=wrapped-volume-race",
                                        "-o", "json"))["items"]  # fmt: skip
        return len(found) == 5 and all(
            any(c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions") or []) for p in found)  # fmt: skip

    until(all_ready, timeout=300, what="five pods with 50 configMap volumes each")
    some = node.kubectl("get", "pods", "-l", "name=wrapped-volume-race", "-o", "name").split()[0]
    assert node.kubectl("exec", some, "--", "/bin/busybox", "cat",
                        f"/etc/config-{count - 1}/data-1") == "value-1"  # fmt: skip
    node.kubectl("delete", "rc", "wrapped-volume-race", "--wait=false")
    node.kubectl("delete", "configmap", "-l", "race=yes", "--wait=false")
