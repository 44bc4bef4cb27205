"""The kubelet's /metrics/resource: cgroup files as cAdvisor reads them, and the
exposition written from a fake cgroup tree (v1 and v2)."""

from __future__ import annotations

import json
from pathlib import Path

from kybernetes.api.resourcemetrics import parse_exposition, render_exposition
from kybernetes.node.kubelet.cgroupstats import parse_flat_keyed, read_cgroup, working_set
from kybernetes.node.kubelet.resourcemetrics import ContainerRef, collect, running_containers


def test_flat_keyed_files_and_meminfo_in_bytes() -> None:
    assert parse_flat_keyed("usage_usec 1500\nuser_usec 1000\n") == {
        "usage_usec": 1500, "user_usec": 1000}  # fmt: skip
    meminfo = parse_flat_keyed("MemTotal:       16384 kB\nMemFree:         1024 kB\n")
    assert meminfo == {"MemTotal": 16384 * 1024, "MemFree": 1024 * 1024}


def test_working_set_is_usage_less_inactive_file_never_negative() -> None:
    assert working_set(1000, 300) == 700
    assert working_set(100, 300) == 0


def _v2(root: Path, relative: str, *, usec: int, current: int | None, inactive: int) -> None:
    group = root / relative
    group.mkdir(parents=True, exist_ok=True)
    (group / "cgroup.controllers").write_text("cpu memory\n")
    (group / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec 1\n")
    (group / "memory.stat").write_text(f"anon 5\ninactive_file {inactive}\n")
    if current is not None:
        (group / "memory.current").write_text(f"{current}\n")


def test_cgroup_v2_and_its_root_from_meminfo(tmp_path: Path) -> None:
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 200 kB\n")
    _v2(root, "", usec=5_000_000, current=None, inactive=100 * 1024)
    _v2(root, "kubepods/podu/c1", usec=2500, current=4096, inactive=1024)
    node = read_cgroup("", root=root, proc=proc)
    assert (node.cpu_ns, node.memory_working_set) == (5 * 10**9, 700 * 1024)
    container = read_cgroup("kubepods/podu/c1", root=root, proc=proc)
    assert (container.cpu_ns, container.memory_working_set) == (2_500_000, 3072)


def _v1(root: Path, relative: str, *, cpu_ns: int, usage: int, inactive: int) -> None:
    (root / "cpuacct" / relative).mkdir(parents=True, exist_ok=True)
    (root / "memory" / relative).mkdir(parents=True, exist_ok=True)
    (root / "cpuacct" / relative / "cpuacct.usage").write_text(f"{cpu_ns}\n")
    (root / "memory" / relative / "memory.usage_in_bytes").write_text(f"{usage}\n")
    # inactive_file is this cgroup's own; total_ counts its children too (what cAdvisor uses).
    (root / "memory" / relative / "memory.stat").write_text(
        f"inactive_file 1\ntotal_inactive_file {inactive}\n")  # fmt: skip


def test_exposition_of_node_pods_and_containers(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _v1(root, "", cpu_ns=10**10, usage=10_000, inactive=1_000)
    _v1(root, "kubepods/podu1", cpu_ns=3 * 10**9, usage=5000, inactive=1000)
    _v1(root, "kubepods/podu1/cid", cpu_ns=2 * 10**9, usage=4000, inactive=1000)
    refs = [ContainerRef("ns", "p", "u1", "c", "cid", 1700000000.5),
            ContainerRef("ns", "gone", "u2", "c", "old", 1700000000.0)]  # fmt: skip
    text = render_exposition(collect(refs, root=root, proc=tmp_path, clock=lambda: 1800000000.0))
    assert "# TYPE container_cpu_usage_seconds_total counter" in text
    assert 'container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 2 ' \
           "1800000000000" in text  # fmt: skip
    parsed = {(s.name, tuple(sorted(s.labels.items()))): s for s in parse_exposition(text)}
    pod = (("namespace", "ns"), ("pod", "p"))
    container = (("container", "c"), *pod)
    assert parsed[("node_cpu_usage_seconds_total", ())].value == 10.0
    assert parsed[("node_memory_working_set_bytes", ())].value == 9000
    assert parsed[("container_memory_working_set_bytes", container)].value == 3000
    assert parsed[("container_start_time_seconds", container)].value == 1700000000.5
    assert parsed[("pod_cpu_usage_seconds_total", pod)].value == 3.0
    assert parsed[("pod_memory_working_set_bytes", pod)].value == 4000
    assert parsed[("scrape_error", ())].value == 0
    assert not any(s.labels.get("pod") == "gone" for s in parse_exposition(text))


def test_no_cgroups_reports_a_scrape_error(tmp_path: Path) -> None:
    samples = collect([], root=tmp_path / "none", proc=tmp_path, clock=lambda: 1.0)
    assert [(s.name, s.value) for s in samples] == [("scrape_error", 1.0)]


def test_running_containers_from_the_pod_records(tmp_path: Path) -> None:
    record = {"attempts": {
        "app": [{"container_id": "a0", "number": 0, "image": "i", "image_id": "",
                 "started_at": "2024-01-01T00:00:00Z"},
                {"container_id": "a1", "number": 1, "image": "i", "image_id": "",
                 "started_at": "2024-01-01T00:01:00Z"}],
        "done": [{"container_id": "d0", "number": 0, "image": "i", "image_id": "",
                  "started_at": "2024-01-01T00:00:00Z"}],
        "waiting": [{"container_id": "w0", "number": 0, "image": "i",
                     "image_id": ""}]}}  # fmt: skip
    (tmp_path / "u1").mkdir()
    (tmp_path / "u1" / "state.json").write_text(json.dumps(record))
    pods = [{"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}},
            {"metadata": {"namespace": "ns", "name": "unknown", "uid": "u9"}}]  # fmt: skip
    refs = running_containers(pods, pods_dir=tmp_path, exited=lambda cid: cid == "d0")
    assert refs == [ContainerRef("ns", "p", "u1", "app", "a1", 1704067260.0)]
