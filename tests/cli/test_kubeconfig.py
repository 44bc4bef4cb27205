"""Merging our context into a user's kubeconfig, and the real kubectl using the result."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import pytest
import yaml
from aiohttp import web

from kybernetes.apiserver.pki import ClusterPKI, UserInfo, identity_from_peer_cert
from kybernetes.cli import kubeconfig
from kybernetes.cli.kubeconfig import (
    KubeconfigError,
    kubeconfig_path,
    merge_context,
    remove_context,
    write_admin_kubeconfig,
)


class Credentials(TypedDict):
    ca_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes


CREDENTIALS: Credentials = {
    "ca_pem": b"CA PEM",
    "client_cert_pem": b"CERT PEM",
    "client_key_pem": b"KEY PEM",
}

OTHER: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
    "users": [{"name": "prod-admin", "user": {"token": "s3cr3t"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
    "current-context": "prod",
}


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [e for e in config[section] if e["name"] == name]
    [entry] = entries
    return entry


def test_merge_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".kube" / "config"
    merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = read(path)
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["current-context"] == "kybernetes"
    assert named(config, "clusters", "kybernetes")["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"CA PEM").decode(),
    }
    assert named(config, "users", "kybernetes")["user"] == {
        "client-certificate-data": base64.b64encode(b"CERT PEM").decode(),
        "client-key-data": base64.b64encode(b"KEY PEM").decode(),
    }
    assert named(config, "contexts", "kybernetes")["context"] == {
        "cluster": "kybernetes",
        "user": "kybernetes",
        "namespace": "default",
    }
    assert not (path.parent / "config.lock").exists()
    assert [p.name for p in path.parent.iterdir()] == ["config"], "no temp file left behind"


def test_merge_keeps_other_entries_and_remerge_replaces_ours(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    path.chmod(0o640)

    merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)
    merge_context(path, server="https://127.0.0.1:7443", namespace="dev", **CREDENTIALS)

    config = read(path)
    assert config["current-context"] == "kybernetes"
    assert config["preferences"] == {"colors": True}
    for section in ("clusters", "users", "contexts"):
        assert [e["name"] for e in config[section]] == [OTHER[section][0]["name"], "kybernetes"]
        assert config[section][0] == OTHER[section][0]
    assert named(config, "clusters", "kybernetes")["cluster"]["server"] == "https://127.0.0.1:7443"
    assert named(config, "contexts", "kybernetes")["context"]["namespace"] == "dev"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640, "the user's mode is kept"


def test_remove_takes_out_only_our_entries(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)

    remove_context(path)

    config = read(path)
    assert config["current-context"] == "", "unset, as minikube does"
    assert {k: v for k, v in config.items() if k != "current-context"} == {
        k: v for k, v in OTHER.items() if k != "current-context"
    }


def test_remove_keeps_someone_elses_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)
    config = read(path)
    config["current-context"] = "prod"
    path.write_text(yaml.safe_dump(config))

    remove_context(path)
    assert read(path) == OTHER


def test_remove_without_our_entries_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config"
    text = "# my comments\n" + yaml.safe_dump(OTHER)
    path.write_text(text)
    remove_context(path)
    assert path.read_text() == text
    remove_context(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_merge_follows_a_symlinked_kubeconfig(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(yaml.safe_dump(OTHER))
    link = tmp_path / "config"
    link.symlink_to(real)
    merge_context(link, server="https://127.0.0.1:6443", **CREDENTIALS)
    assert link.is_symlink()
    assert read(real)["current-context"] == "kybernetes"


def test_kubeconfig_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert kubeconfig_path() == tmp_path / ".kube" / "config"
    monkeypatch.setenv("KUBECONFIG", "")
    assert kubeconfig_path() == tmp_path / ".kube" / "config"
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/a:{tmp_path}/b")
    assert kubeconfig_path() == tmp_path / "a"
    monkeypatch.setenv("KUBECONFIG", f":{tmp_path}/b")
    assert kubeconfig_path() == tmp_path / "b"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("clusters: [\n  - name: x\n", r"is not valid YAML: .*\(line \d+, column \d+\)"),
        ("- just\n- a list\n", "is not a mapping"),
        ("clusters: {name: x}\n", "'clusters' must be a list"),
    ],
)
def test_invalid_kubeconfig_is_one_clear_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    actions: list[Callable[[], None]] = [
        lambda: merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS),
        lambda: remove_context(path),
    ]
    for action in actions:
        with pytest.raises(KubeconfigError, match=match) as caught:
            action()
        message = str(caught.value)
        assert str(path) in message and "\n" not in message
    assert path.read_text() == text, "a file we cannot parse is never overwritten"


def test_unreadable_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.mkdir()  # reading a directory fails for root too
    with pytest.raises(KubeconfigError, match=f"cannot read kubeconfig {path}"):
        merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)


def test_stale_lock_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubeconfig, "LOCK_TIMEOUT", 0.1)
    path = tmp_path / "config"
    (tmp_path / "config.lock").touch()
    with pytest.raises(KubeconfigError, match=r"locked by .*config\.lock"):
        merge_context(path, server="https://127.0.0.1:6443", **CREDENTIALS)


def test_write_admin_kubeconfig_holds_only_our_entries(tmp_path: Path) -> None:
    path = tmp_path / "admin.kubeconfig"
    path.write_text(yaml.safe_dump(OTHER))
    write_admin_kubeconfig(path, server="https://127.0.0.1:6443", **CREDENTIALS)
    config = read(path)
    for section in ("clusters", "users", "contexts"):
        assert [e["name"] for e in config[section]] == ["kybernetes"]
    assert config["current-context"] == "kybernetes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- the real kubectl ---------------------------------------------------------

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "platform": "linux/amd64"}


async def test_real_kubectl_authenticates_with_the_merged_context(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("the kubectl binary is not on PATH")
    pki = await asyncio.to_thread(
        ClusterPKI.load_or_create, tmp_path / "pki", hostnames=["localhost"], ips=[]
    )
    seen: list[tuple[str, UserInfo | None]] = []

    async def version(request: web.Request) -> web.Response:
        assert request.transport is not None
        ssl_object = request.transport.get_extra_info("ssl_object")
        seen.append(
            (
                request.headers.get("User-Agent", ""),
                identity_from_peer_cert(ssl_object.getpeercert(binary_form=True)),
            )
        )
        return web.json_response(VERSION)

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_ssl_context())
    await site.start()
    try:
        port = runner.addresses[0][1]
        config = tmp_path / "kube" / "config"
        config.parent.mkdir()
        config.write_text(yaml.safe_dump(OTHER))
        merge_context(
            config,
            server=f"https://127.0.0.1:{port}",
            ca_pem=pki.ca_pem,
            client_cert_pem=pki.admin_cert_pem,
            client_key_pem=pki.admin_key_pem,
        )
        # A private HOME keeps kubectl's (and the dispatcher's) caches out of the user's.
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(tmp_path / "home")
        process = await asyncio.create_subprocess_exec(
            kubectl,
            "--kubeconfig",
            str(config),
            "version",
            "-o",
            "json",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await runner.cleanup()

    assert process.returncode == 0, stderr.decode()
    output = yaml.safe_load(stdout)  # JSON is YAML
    assert output["serverVersion"]["gitVersion"] == "v1.32.4"
    assert seen, "kubectl never reached the server"
    admin = UserInfo("kubernetes-admin", ("system:masters",))
    assert all(identity == admin for _, identity in seen), seen
    assert any(agent.startswith("kubectl/") for agent, _ in seen), seen
