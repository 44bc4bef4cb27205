"""Capture the protobuf bodies kubectl 1.32 sends, for tests/apiserver/protobuf_samples/.

Run by hand: `.venv/bin/python tests/apiserver/capture_protobuf.py [NAME ...]`.

It starts the real API server (TLS, admin kubeconfig, as the `cluster`
fixture does) with a few extra resource types in discovery so every
generator finds its resource, records every request body that arrives as
`application/vnd.kubernetes.protobuf` before the server sees it, and
writes it to `protobuf_samples/NAME.pb`. The JSON the same command prints
with `--dry-run=client -o json` goes to `NAME.client.json` next to it; the
tests hold the decoded body to it and to the hand-written `NAME.json`
(which this script never touches). Commands whose body is not protobuf
are reported, not saved.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from aiohttp import web

from kybernetes.apiserver import server
from kybernetes.apiserver.http import make_handler
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType, builtin_registry
from kybernetes.apiserver.routing import Handler
from kybernetes.apiserver.server import ApiServer, start_apiserver
from kybernetes.cli.kubeconfig import write_admin_kubeconfig
from kybernetes.store import open_store

SAMPLES = Path(__file__).parent / "protobuf_samples"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# Types the generators create that the server may not serve (yet); discovery only.
EXTRA_TYPES = (
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",)),
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 True, ("hpa",), ("all",)),
    ResourceType("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 True, ("hpa",), ("all",)),
    ResourceType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
                 False, verbs=("create",)),
)  # fmt: skip

# Objects some commands read first (autoscale, create job --from, debug, drain); sent as JSON.
_POD_SPEC = {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
_TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": _POD_SPEC}
PREREQUISITES: list[dict[str, object]] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": _TEMPLATE},
    },
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "c", "image": "busybox:1.36", "args": ["date"]}
                            ],
                        }
                    }
                }
            },
        },
    },
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}},
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p1", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", **_POD_SPEC},
    },
]

# NAME -> (kubectl arguments, whether to add --dry-run=server). Commands without
# that flag (auth, create token, debug, drain) run as they are.
DRY = ("--dry-run=server",)
COMMANDS: dict[str, tuple[list[str], bool]] = {
    "deployment": (["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3",
                    "--port=80"], True),
    "deployment_multi": (["create", "deployment", "multi", "--image=busybox:1.36",
                          "--image=registry.example.com/team/app@sha256:" + "ab" * 32,
                          "--replicas=0"], True),
    "deployment_command": (["create", "deployment", "sleeper", "--image=busybox:1.36", "--",
                            "sleep", "3600"], True),
    "namespace": (["create", "namespace", "team-a"], True),
    "configmap": (["create", "configmap", "settings", "--from-literal=mode=fast",
                   "--from-literal=empty=", "--from-file=blob.bin"], True),
    "secret_generic": (["create", "secret", "generic", "creds", "--from-literal=user=admin",
                        "--from-literal=password=s3cr3t", "--type=Opaque"], True),
    "secret_tls": (["create", "secret", "tls", "tls-cert", "--cert=tls.crt",
                    "--key=tls.key"], True),
    "secret_docker": (["create", "secret", "docker-registry", "regcred",
                       "--docker-server=registry.example.com", "--docker-username=bob",
                       "--docker-password=hunter2", "--docker-email=bob@example.com"], True),
    "service_clusterip": (["create", "service", "clusterip", "web", "--tcp=80:8080",
                           "--tcp=443"], True),
    "service_headless": (["create", "service", "clusterip", "db", "--clusterip=None"], True),
    "service_nodeport": (["create", "service", "nodeport", "web-np", "--tcp=80:8080",
                          "--node-port=30080"], True),
    "service_loadbalancer": (["create", "service", "loadbalancer", "web-lb",
                              "--tcp=80:http"], True),
    "service_externalname": (["create", "service", "externalname", "ext",
                              "--external-name=example.com", "--tcp=443"], True),
    "job": (["create", "job", "pi", "--image=perl:5.34", "--", "perl", "-e", "print 1"], True),
    "cronjob": (["create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/5 * * * *",
                 "--restart=OnFailure", "--", "date"], True),
    "serviceaccount": (["create", "serviceaccount", "builder"], True),
    "token": (["create", "token", "builder", "--audience=api", "--audience=vault",
               "--duration=10m", "--bound-object-kind=Pod", "--bound-object-name=web-0"], False),
    "quota": (["create", "quota", "compute", "--hard=cpu=2,memory=1Gi,pods=10",
               "--scopes=NotTerminating,BestEffort"], True),
    "priorityclass": (["create", "priorityclass", "high", "--value=1000",
                       "--description=important", "--preemption-policy=Never"], True),
    "priorityclass_default": (["create", "priorityclass", "zero", "--value=0",
                               "--global-default"], True),
    "role": (["create", "role", "reader", "--verb=get,list,watch",
              "--resource=pods,deployments.apps", "--resource-name=web"], True),
    "clusterrole": (["create", "clusterrole", "metrics", "--verb=get",
                     "--non-resource-url=/metrics", "--non-resource-url=/healthz/*"], True),
    "clusterrole_aggregated": (["create", "clusterrole", "monitoring",
                                "--aggregation-rule=team=a,tier=ops"], True),
    "clusterrole_rules": (["create", "clusterrole", "pod-reader", "--verb=get,list",
                           "--resource=pods,pods/log"], True),
    "rolebinding": (["create", "rolebinding", "read", "--role=reader", "--user=alice",
                     "--group=devs", "--serviceaccount=default:builder"], True),
    "clusterrolebinding": (["create", "clusterrolebinding", "admins", "--clusterrole=admin",
                            "--user=bob"], True),
    "pdb": (["create", "poddisruptionbudget", "web", "--selector=app=web",
             "--min-available=2"], True),
    "pdb_percent": (["create", "poddisruptionbudget", "web2", "--selector=app=web",
                     "--max-unavailable=50%"], True),
    "ingress": (["create", "ingress", "site", "--class=nginx",
                 "--rule=example.com/api*=api:8080,tls=site-tls",
                 "--rule=example.com/=web:http", "--default-backend=fallback:80",
                 "--annotation=team=a"], True),
    "auth_can_i": (["auth", "can-i", "update", "deployments.apps", "--subresource=scale",
                    "--namespace=dev"], False),
    "auth_can_i_name": (["auth", "can-i", "get", "pods/web-0", "--subresource=log"], False),
    "auth_can_i_list": (["auth", "can-i", "--list", "--namespace=dev"], False),
    "auth_can_i_url": (["auth", "can-i", "get", "/healthz"], False),
    "auth_whoami": (["auth", "whoami"], False),
    "autoscale": (["autoscale", "deployment", "web", "--min=2", "--max=5",
                   "--cpu-percent=80"], True),
    "job_from_cronjob": (["create", "job", "manual", "--from=cronjob/nightly"], True),
    "debug_node": (["debug", "node/n1", "--image=busybox:1.36", "--profile=general"], False),
    "debug_copy": (["debug", "p1", "--copy-to=p1-debug", "--image=busybox:1.36",
                    "--container=dbg", "--share-processes", "--", "sh"], False),
    "drain": (["drain", "n1", "--ignore-daemonsets", "--force", "--timeout=2s"], False),
}  # fmt: skip

# Self-signed material for `create secret tls`; not a secret, only a sample.
TLS_FILES = ("tls.crt", "tls.key")


async def _serve(tmp: Path) -> tuple[ApiServer, str, list[tuple[str, str, bytes]]]:
    """The real server via `start_apiserver`; only its handler and registry are wrapped."""
    seen: list[tuple[str, str, bytes]] = []

    async def capture(request: web.BaseRequest, handler: Handler) -> web.StreamResponse:
        if request.method in ("POST", "PUT") and request.content_type == PROTOBUF:
            seen.append((request.method, request.path_qs, await request.read()))
            # The server may not decode protobuf; kubectl has what it needs to fail cleanly.
            return web.json_response(
                {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 415,
                 "reason": "UnsupportedMediaType", "message": "captured"},
                status=415,
            )  # fmt: skip
        if request.method in ("POST", "PUT"):
            # Not read: the handler still needs the stream.
            seen.append((request.method, request.path_qs, b"JSON:"))
        return await handler(request)

    def registry() -> ResourceRegistry:
        reg = builtin_registry()
        for rt in EXTRA_TYPES:
            if reg.lookup(rt.group, rt.version, rt.plural) is None:
                reg.add(rt)
        return reg

    def handler(ctx: Any) -> Handler:
        answer = make_handler(ctx)

        async def captured(request: web.BaseRequest) -> web.StreamResponse:
            return await capture(request, answer)

        return captured

    pki = await asyncio.to_thread(
        ClusterPKI.load_or_create, tmp / "pki", hostnames=["localhost"], ips=["127.0.0.1"]
    )
    store = await open_store(f"sqlite://{tmp}/state.db?compact_interval=0")
    with (
        mock.patch.object(server, "builtin_registry", registry),
        mock.patch.object(server, "make_handler", handler),
    ):
        api = await start_apiserver(store=store, pki=pki, host="127.0.0.1", port=0)
    kubeconfig = tmp / "kubeconfig"
    write_admin_kubeconfig(
        kubeconfig,
        server=api.url,
        ca_pem=pki.ca_pem,
        client_cert_pem=pki.admin_cert_pem,
        client_key_pem=pki.admin_key_pem,
    )
    return api, str(kubeconfig), seen


def _kubectl(kubeconfig: str, home: Path, args: list[str], stdin: str = "") -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is not installed"
    result = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=home,
        env={**os.environ, "HOME": str(home), "KUBECONFIG": ""},
    )
    return result.stdout + result.stderr


def _with_flags(args: list[str], flags: tuple[str, ...]) -> list[str]:
    """Flags go before `--`, or they become part of the container's command."""
    at = args.index("--") if "--" in args else len(args)
    return [*args[:at], *flags, *args[at:]]


def _prepare_files(home: Path) -> None:
    (home / "blob.bin").write_bytes(bytes(range(256)))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=example.com",
         "-keyout", "tls.key", "-out", "tls.crt"],
        cwd=home, check=True, capture_output=True,
    )  # fmt: skip


async def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home = tmp / "home"
        home.mkdir()
        api, kubeconfig, seen = await _serve(tmp)
        try:
            await asyncio.to_thread(_prepare_files, home)
            for obj in PREREQUISITES:
                out = await asyncio.to_thread(
                    _kubectl, kubeconfig, home, ["create", "--validate=false", "-f", "-"],
                    json.dumps(obj),
                )  # fmt: skip
                print(f"prerequisite: {out.strip()}")
            SAMPLES.mkdir(exist_ok=True)
            for name, (args, dry) in COMMANDS.items():
                if names and name not in names:
                    continue
                seen.clear()
                out = await asyncio.to_thread(
                    _kubectl, kubeconfig, home, _with_flags(args, DRY if dry else ())
                )
                bodies = [b for b in seen if not b[2].startswith(b"JSON:")]
                if not bodies:
                    kinds = [f"{m} {p} (JSON)" for m, p, _ in seen] or ["no body"]
                    print(f"{name}: NOT protobuf: {', '.join(kinds)}\n  {out.strip()[:300]}")
                    continue
                method, path, body = bodies[-1]
                (SAMPLES / f"{name}.pb").write_bytes(body)
                print(f"{name}: protobuf {method} {path} ({len(body)} bytes)")
                if dry:
                    client = await asyncio.to_thread(
                        _kubectl,
                        kubeconfig,
                        home,
                        _with_flags(args, ("--dry-run=client", "-o", "json")),
                    )
                    (SAMPLES / f"{name}.client.json").write_text(client)
        finally:
            await api.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
