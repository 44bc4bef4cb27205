"""`kyb start|status|stop|delete|kubectl` as a user runs them, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.etcd import free_port

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\ndata: {a: b}\n"


class Kyb:
    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "cluster"
        self.kubeconfig = tmp_path / "kube" / "config"
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.port = free_port()

    def __call__(
        self, *args: str, stdin: str = "", data_dir: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KYB_DATA_DIR": str(data_dir or self.data_dir),
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(self.home),
        }
        return subprocess.run(
            [sys.executable, "-m", "kybernetes", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, *flags: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        # No local node: it would put a bridge on this machine and pull images from the
        # internet (tests/node runs real nodes, inside namespaces of their own).
        return self(
            "start", "--port", str(self.port), "--bind-address", "127.0.0.1",
            "--disable", "kubelet", *flags, data_dir=data_dir,
        )  # fmt: skip


@pytest.fixture
def kyb(tmp_path: Path) -> Iterator[Kyb]:
    runner = Kyb(tmp_path)
    yield runner
    runner("stop")


def test_start_configures_kubectl_and_stop_start_keeps_objects(kyb: Kyb) -> None:
    started = kyb.start()
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Ready in" in started.stdout
    assert 'kubectl is now configured to use "kybernetes"' in started.stdout
    config = yaml.safe_load(kyb.kubeconfig.read_text())
    assert config["current-context"] == "kybernetes"
    assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{kyb.port}"

    status = kyb("status")
    assert status.returncode == 0
    assert "apiserver: Running" in status.stdout
    assert "kubeconfig: Configured" in status.stdout
    assert "controller-manager: Running" in status.stdout
    assert "scheduler: Running" in status.stdout
    assert "kubelet: Disabled" in status.stdout  # what runs, and what does not, is said

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    created = kyb("kubectl", "--", "create", "-f", "-", "--validate=false", stdin=CONFIGMAP)
    assert created.returncode == 0, created.stderr
    assert "already running" in kyb.start().stdout

    assert kyb("stop").returncode == 0
    stopped = kyb("status")
    assert stopped.returncode == 3
    assert "not running" in stopped.stdout

    assert kyb.start().returncode == 0
    got = kyb("kubectl", "--", "get", "configmap", "kept", "-o", "name")
    assert got.stdout.strip() == "configmap/kept", got.stderr

    assert kyb("delete").returncode == 0
    assert not kyb.data_dir.exists()
    config = yaml.safe_load(kyb.kubeconfig.read_text())
    assert all(c["name"] != "kybernetes" for c in config.get("contexts") or [])


@pytest.mark.parametrize("processes", ["1", "2"])
def test_port_taken_is_one_clear_line(kyb: Kyb, tmp_path: Path, processes: str) -> None:
    """Two API processes share their port (SO_REUSEPORT), never with another server."""
    assert kyb.start("--api-processes", processes).returncode == 0
    if processes == "2":
        assert "apiserver: Running (https://127.0.0.1:" in kyb("status").stdout
        assert ", 2 processes)" in kyb("status").stdout
    other = tmp_path / "other"
    failed = kyb.start("--api-processes", processes, data_dir=other)
    kyb("stop", data_dir=other)
    assert failed.returncode == 1
    assert "kyb server: " in failed.stdout
    assert "address already in use" in failed.stdout.lower()
    assert "Traceback" not in failed.stdout


def test_bad_store_url_is_one_clear_line(kyb: Kyb) -> None:
    failed = kyb("server", "--datastore-endpoint", "nosuch://x", "--port", str(kyb.port))
    assert failed.returncode == 1
    assert "unknown scheme 'nosuch'" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_the_controller_manager_runs_as_its_own_process(kyb: Kyb) -> None:
    """`kyb server --disable controller-manager` + `kyb controller-manager` = one cluster."""
    started = kyb("start", "--port", str(kyb.port), "--bind-address", "127.0.0.1",
                  "--disable", "controller-manager", "--disable", "kubelet")  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert kyb("kubectl", "--", "create", "deployment", "web", "--image=nginx").returncode == 0
    env = {**os.environ, "KYB_DATA_DIR": str(kyb.data_dir), "HOME": str(kyb.home)}
    manager = subprocess.Popen([sys.executable, "-m", "kybernetes", "controller-manager"],
                               env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # Nothing reconciles inside the server: the ReplicaSet comes from the separate process.
        deadline = time.monotonic() + 30
        while not kyb("kubectl", "--", "get", "rs", "-l", "app=web", "-o", "name").stdout:
            assert time.monotonic() < deadline, "no ReplicaSet from the controller manager"
            time.sleep(0.2)
    finally:
        manager.terminate()
        _, errors = manager.communicate(timeout=30)
    assert manager.returncode == 0, errors
    assert "Traceback" not in errors


def test_a_component_without_a_cluster_is_one_clear_line(kyb: Kyb) -> None:
    result = kyb("controller-manager")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no kubeconfig" in result.stderr and "kyb start" in result.stderr


def _get_with_token(port: int, ca: Path, token: str) -> int:
    request = urllib.request.Request(f"https://127.0.0.1:{port}/api/v1/namespaces",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_tokens_of_a_token_auth_file_authenticate(kyb: Kyb, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('s3cret,ops,1001,"system:masters"\n')
    started = kyb("start", "--port", str(kyb.port), "--bind-address", "127.0.0.1",
                  "--disable", "kubelet", "--token-auth-file", str(tokens))  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    ca = kyb.data_dir / "pki" / "ca.crt"
    assert _get_with_token(kyb.port, ca, "s3cret") == 200
    assert _get_with_token(kyb.port, ca, "wrong") == 401


def test_a_malformed_token_auth_file_is_one_clear_line(kyb: Kyb, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,ops\n")
    failed = kyb("server", "--port", str(kyb.port), "--token-auth-file", str(tokens))
    assert failed.returncode == 1
    assert f"kyb server: token file {tokens}, record 1: needs at least 3 columns" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_the_cli_reaches_its_commands_without_the_heavy_imports() -> None:
    # `kyb start` launches the server before anything else: asyncio, cryptography,
    # YAML and an HTTPS client are imported later (while the server starts), or
    # by the commands that need them. A top-level import would undo that.
    code = (
        "import sys, kybernetes.cli.main; "
        "print(sorted(m for m in ('asyncio', 'cryptography', 'yaml', 'urllib.request', "
        "'aiohttp', 'uvloop') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
