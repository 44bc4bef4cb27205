"""The OCI spec of a container: Kubernetes' command rules, users, capabilities, resources."""

from __future__ import annotations

import pytest

from kybernetes.node.runtime.spec import (
    DEFAULT_CAPABILITIES,
    ContainerConfig,
    Mount,
    Resources,
    SandboxPaths,
    command_line,
    cpu_quota,
    cpu_shares,
    oci_spec,
)

SANDBOX = SandboxPaths(netns="/run/netns/kyb-u1", ipc="/pods/u1/ipc", uts="/pods/u1/uts",
                       cgroup_parent="/kubepods/podu1", shm="/pods/u1/shm")  # fmt: skip
IMAGE = {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
         "Env": ["PATH=/usr/bin:/bin", "NGINX_VERSION=1.27"], "WorkingDir": "/srv",
         "User": "101:102"}  # fmt: skip


def test_command_and_args_follow_kubernetes_rules() -> None:
    assert command_line(ContainerConfig("c", IMAGE)) == [
        "/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]  # fmt: skip
    assert command_line(ContainerConfig("c", IMAGE, args=["-v"])) == ["/docker-entrypoint.sh", "-v"]
    assert command_line(ContainerConfig("c", IMAGE, command=["sh"])) == ["sh"]  # Cmd dropped
    assert command_line(ContainerConfig("c", IMAGE, command=["sh"], args=["-c", "x"])) == [
        "sh", "-c", "x"]  # fmt: skip
    with pytest.raises(ValueError, match="no command"):
        oci_spec(ContainerConfig("c", {}), SANDBOX, container_id="x")


def test_process_env_user_and_cwd() -> None:
    spec = oci_spec(ContainerConfig("c", IMAGE, env={"NGINX_VERSION": "mine", "A": "1"}),
                    SANDBOX, container_id="abc")  # fmt: skip
    process = spec["process"]
    assert process["env"] == ["PATH=/usr/bin:/bin", "NGINX_VERSION=mine", "A=1"]
    assert process["user"] == {"uid": 101, "gid": 102, "additionalGids": []}
    assert process["cwd"] == "/srv"
    assert process["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    overridden = oci_spec(ContainerConfig("c", IMAGE, run_as_user=1000, working_dir="/w",
                                          supplemental_groups=[5, 5, 3]),
                          SANDBOX, container_id="abc")["process"]  # fmt: skip
    assert overridden["user"] == {"uid": 1000, "gid": 102, "additionalGids": [3, 5]}
    assert overridden["cwd"] == "/w"
    bare = oci_spec(ContainerConfig("c", {"Cmd": ["sh"]}), SANDBOX, container_id="x")["process"]
    assert bare["env"][0].startswith("PATH=/usr/local/sbin") and bare["cwd"] == "/"


def test_namespaces_are_joined_by_path_and_no_hostname_is_set() -> None:
    spec = oci_spec(ContainerConfig("c", IMAGE), SANDBOX, container_id="abc")
    assert spec["linux"]["namespaces"] == [
        {"type": "pid"}, {"type": "mount"},
        {"type": "network", "path": "/run/netns/kyb-u1"},
        {"type": "ipc", "path": "/pods/u1/ipc"}, {"type": "uts", "path": "/pods/u1/uts"},
    ]  # fmt: skip
    assert "hostname" not in spec
    assert spec["linux"]["cgroupsPath"] == "/kubepods/podu1/abc"
    host_network = SandboxPaths(netns="", ipc="i", uts="u", cgroup_parent="/p")
    types = [n["type"] for n in oci_spec(ContainerConfig("c", IMAGE), host_network,
                                         container_id="x")["linux"]["namespaces"]]  # fmt: skip
    assert "network" not in types
    shm = [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]
    assert shm[0]["source"] == "/pods/u1/shm"


def test_capabilities_add_drop_and_privileged() -> None:
    def caps(**kwargs: object) -> list[str]:
        config = ContainerConfig("c", IMAGE, **kwargs)  # type: ignore[arg-type]
        return list(oci_spec(config, SANDBOX, container_id="x")["process"]["capabilities"]
                    ["effective"])  # fmt: skip

    assert "CAP_NET_ADMIN" in caps(add_capabilities=["NET_ADMIN"])
    assert "CAP_NET_RAW" not in caps(drop_capabilities=["NET_RAW"])
    assert caps(drop_capabilities=["ALL"], add_capabilities=["NET_BIND_SERVICE"]) == [
        "CAP_NET_BIND_SERVICE"]  # fmt: skip
    assert "CAP_SYS_ADMIN" in caps(privileged=True)
    privileged = oci_spec(ContainerConfig("c", IMAGE, privileged=True), SANDBOX, container_id="x")
    assert "maskedPaths" not in privileged["linux"]


def test_resources_become_cgroup_limits() -> None:
    assert cpu_shares(None) == 2 and cpu_shares(250) == 256 and cpu_shares(1) == 2
    assert cpu_quota(None) is None and cpu_quota(500) == 50_000 and cpu_quota(1) == 1000
    resources = Resources(memory_limit=64 << 20, cpu_request_millis=100, cpu_limit_millis=500,
                          pids_limit=128)  # fmt: skip
    linux = oci_spec(ContainerConfig("c", IMAGE, resources=resources), SANDBOX,
                     container_id="x")["linux"]  # fmt: skip
    assert linux["resources"]["memory"] == {"limit": 64 << 20}
    assert linux["resources"]["cpu"] == {"shares": 102, "quota": 50_000, "period": 100_000}
    assert linux["resources"]["pids"] == {"limit": 128}


def test_read_only_root_and_volume_mounts() -> None:
    config = ContainerConfig("c", IMAGE, read_only_root=True,
                             mounts=[Mount("/data", "/var/lib/x", read_only=True)])  # fmt: skip
    spec = oci_spec(config, SANDBOX, container_id="x")
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["mounts"][-1] == {"destination": "/data", "type": "bind", "source": "/var/lib/x",
                                  "options": ["rbind", "rprivate", "ro"]}  # fmt: skip


def test_no_new_privileges_and_sysctls() -> None:
    plain = oci_spec(ContainerConfig("c", IMAGE), SANDBOX, container_id="x")
    assert plain["process"]["noNewPrivileges"] is False and "sysctl" not in plain["linux"]
    locked = oci_spec(ContainerConfig("c", IMAGE, no_new_privileges=True,
                                      sysctls={"kernel.shm_rmid_forced": "1"}),
                      SANDBOX, container_id="x")  # fmt: skip
    assert locked["process"]["noNewPrivileges"] is True
    assert locked["linux"]["sysctl"] == {"kernel.shm_rmid_forced": "1"}
