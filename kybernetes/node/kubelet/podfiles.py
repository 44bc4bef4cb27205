"""The files the kubelet gives every container: /etc/hosts, /etc/hostname, /etc/resolv.conf.

Pure contents (as the kubelet writes them: the managed-hosts header, the
pod's own name and FQDN, hostAliases, or for a hostNetwork pod the node's
own hosts file and hostname; resolv.conf per `dnsPolicy`), and
one small writer. ClusterFirst pods resolve through the cluster DNS at
10.96.0.10 with the Kubernetes search path and `ndots:5`.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CLUSTER_DNS", "CLUSTER_DOMAIN", "hostname_of", "hosts_file", "resolv_conf",
           "write_pod_files"]  # fmt: skip

Obj = dict[str, Any]
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"


def hostname_of(pod: Obj) -> str:
    """spec.hostname, else the pod's name (cut to 63 characters, as the kubelet does)."""
    spec = pod.get("spec") or {}
    name = str(spec.get("hostname") or pod["metadata"]["name"])
    return name[:63].rstrip("-.")


def hosts_file(pod: Obj, pod_ip: str, node_hosts: str = "") -> str:
    """The pod's /etc/hosts: the kubelet's own, or for a pod on the node's network
    the node's file (`node_hosts`), with the pod's host aliases after either."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        header = "# Kubernetes-managed hosts file (host network)."
        return _with_aliases([header, *node_hosts.rstrip("\n").splitlines()], spec)
    hostname = hostname_of(pod)
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if pod_ip:
        subdomain = spec.get("subdomain")
        namespace = pod["metadata"].get("namespace", "default")
        if subdomain:
            fqdn = f"{hostname}.{subdomain}.{namespace}.svc.{CLUSTER_DOMAIN}"
            lines.append(f"{pod_ip}\t{fqdn}\t{hostname}")
        else:
            lines.append(f"{pod_ip}\t{hostname}")
    return _with_aliases(lines, spec)


def _with_aliases(lines: list[str], spec: Obj) -> str:
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        for alias in aliases:
            names = "\t".join(alias.get("hostnames") or [])
            lines.append(f"{alias.get('ip', '')}\t{names}")
    return "\n".join(lines) + "\n"


def resolv_conf(pod: Obj, host_resolv: str) -> str:
    """resolv.conf for the pod's dnsPolicy (ClusterFirst, Default, None + dnsConfig)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet" and not spec.get("hostNetwork"):
        policy = "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"  # a host-network pod without WithHostNet uses the node's DNS
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        namespace = pod["metadata"].get("namespace", "default")
        servers = [CLUSTER_DNS]
        searches = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
        options = ["ndots:5"]
    elif policy == "Default":
        servers, searches, options = _parse_resolv(host_resolv)
    config = spec.get("dnsConfig") or {}
    servers += [s for s in config.get("nameservers") or [] if s not in servers]
    searches += [s for s in config.get("searches") or [] if s not in searches]
    for option in config.get("options") or []:
        name = option.get("name", "")
        text = f"{name}:{option['value']}" if option.get("value") is not None else name
        options = [o for o in options if o.split(":")[0] != name] + [text]
    lines = [f"search {' '.join(searches)}"] if searches else []
    lines += [f"nameserver {s}" for s in servers[:3]]  # the resolver reads three at most
    if options:
        lines.append(f"options {' '.join(options)}")
    return "\n".join(lines) + "\n"


def _parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, searches, options


def write_pod_files(directory: Path, pod: Obj, pod_ip: str, host_resolv: str) -> dict[str, str]:
    """Write the three files; container path -> host path, for bind mounts (blocking)."""
    directory.mkdir(parents=True, exist_ok=True)
    on_node = bool((pod.get("spec") or {}).get("hostNetwork"))
    node_hosts = _read(Path("/etc/hosts")) if on_node else ""
    hostname = socket.gethostname() if on_node else hostname_of(pod)
    contents: Sequence[tuple[str, str, str]] = (
        ("/etc/hosts", "hosts", hosts_file(pod, pod_ip, node_hosts)),
        ("/etc/hostname", "hostname", hostname + "\n"),
        ("/etc/resolv.conf", "resolv.conf", resolv_conf(pod, host_resolv)),
    )
    mounts = {}
    for target, name, text in contents:
        path = directory / name
        path.write_text(text)
        mounts[target] = str(path)
    return mounts


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
