"""`kyb start`, `status`, `stop`, `delete` and `kubectl`: minikube-like lifecycle.

`start` runs `kyb server` as a detached process and waits until it has
written its state file (which it does only once the API answers), showing
progress; then it points the user's kubeconfig at the cluster, so when
`start` returns, `kubectl get ns` works.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kybernetes.cli.paths import (
    ADMIN_KUBECONFIG,
    LOG_FILE,
    ServerState,
    pid_alive,
    read_state,
    remove_state,
)

__all__ = ["delete", "kubectl", "start", "status", "stop"]

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CONTEXT = "kybernetes"


def start(*, data_dir: Path, server_args: list[str]) -> int:
    state = read_state(data_dir)
    if state is not None and pid_alive(state.pid):
        print(f"Kybernetes is already running (pid {state.pid}).")
        return status(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    remove_state(data_dir)
    log_path = data_dir / LOG_FILE
    began = time.monotonic()
    print(f"Starting Kybernetes (data in {data_dir}) ...", flush=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kybernetes", "server", "--data-dir", str(data_dir),
             *server_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    _import_for_the_end_of_start()
    state = None
    while state is None:
        if process.poll() is not None:
            print(f"kyb server exited with code {process.returncode}; last lines of {log_path}:")
            print(_tail(log_path))
            return 1
        if time.monotonic() - began > START_TIMEOUT:
            print(f"kyb server did not become ready in {START_TIMEOUT:.0f}s; see {log_path}")
            return 1
        time.sleep(0.01)
        state = read_state(data_dir)
    print(f"Ready in {time.monotonic() - began:.2f}s: the API server answers at {state.api_url}.")
    _configure_kubectl(data_dir, state)
    return status(data_dir=data_dir)


# What `start` needs once the server answers (cryptography, YAML, an HTTPS client:
# ~130 ms of imports), imported while the server starts on the other core. Only
# what the commands use is imported at all: `kyb start` launches the server first.
_END_OF_START = ("kybernetes.apiserver.pki", "kybernetes.cli.kubeconfig", "urllib.request")


def _import_for_the_end_of_start() -> None:
    for name in _END_OF_START:
        importlib.import_module(name)


def _configure_kubectl(data_dir: Path, state: ServerState) -> None:
    from kybernetes.apiserver.pki import ClusterPKI
    from kybernetes.cli.kubeconfig import KubeconfigError, kubeconfig_path, merge_context

    pki = ClusterPKI.load_or_create(data_dir / "pki", hostnames=[], ips=[])
    path = kubeconfig_path()
    try:
        merge_context(
            path,
            name=CONTEXT,
            server=state.api_url,
            ca_pem=pki.ca_pem,
            client_cert_pem=pki.admin_cert_pem,
            client_key_pem=pki.admin_key_pem,
        )
    except KubeconfigError as err:
        admin = data_dir / ADMIN_KUBECONFIG
        print(f"Could not update {path}: {err}. Use: kubectl --kubeconfig {admin}")
        return
    print(f'kubectl is now configured to use "{CONTEXT}" (in {path}).')


def _api_ready(data_dir: Path, state: ServerState) -> str:
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(state.api_url + "/readyz", timeout=5, context=context) as resp:
            return "Running" if resp.status == 200 else f"Not ready (HTTP {resp.status})"
    except OSError as err:
        return f"Not answering ({err})"


def status(*, data_dir: Path) -> int:
    state = read_state(data_dir)
    if state is None or not pid_alive(state.pid):
        print("Kybernetes is not running. Start it with: kyb start")
        return 3
    from kybernetes.cli.kubeconfig import kubeconfig_path

    path = kubeconfig_path()
    configured = CONTEXT in (path.read_text(errors="replace") if path.exists() else "")
    print("kybernetes")
    print("type: Control Plane")
    print(f"host: Running (pid {state.pid}, data in {data_dir})")
    processes = f", {state.api_processes} processes" if state.api_processes > 1 else ""
    print(f"apiserver: {_api_ready(data_dir, state)} ({state.api_url}{processes})")
    print(f"store: {state.store_url}")
    for name, shown in state.components.items():
        print(f"{name}: {shown}")
    print(f"kubeconfig: {'Configured' if configured else 'Not configured'} ({path})")
    return 0


def stop(*, data_dir: Path) -> int:
    state = read_state(data_dir)
    if state is None or not pid_alive(state.pid):
        remove_state(data_dir)
        print("Kybernetes is not running.")
        return 0
    print(f"Stopping Kybernetes (pid {state.pid}) ...", flush=True)
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(state.pid):
        print(f"kyb server did not stop in {STOP_TIMEOUT:.0f}s; killing it")
        os.kill(state.pid, signal.SIGKILL)
    remove_state(data_dir)
    print("Stopped.")
    return 0


def delete(*, data_dir: Path) -> int:
    from kybernetes.cli.kubeconfig import KubeconfigError, kubeconfig_path, remove_context

    stop(data_dir=data_dir)
    node_dir = data_dir / "node"
    if node_dir.is_dir():
        import asyncio

        from kybernetes.node.teardown import teardown_node
        from kybernetes.proxy.host import remove_rules

        # Containers outlive the server on purpose; deleting the cluster takes them.
        for problem in teardown_node(node_dir):
            print(f"Left behind: {problem}")
        asyncio.run(remove_rules(None))  # the service proxy's table, if a stop left it
    try:
        remove_context(kubeconfig_path(), CONTEXT)
    except KubeconfigError as err:
        print(f"Could not clean the kubeconfig: {err}")
    if data_dir.exists():
        shutil.rmtree(data_dir)
        print(f"Deleted {data_dir}.")
    return 0


def kubectl(*, data_dir: Path, args: list[str]) -> int:
    # On PATH, else beside our own interpreter (scripts/setup.sh installs it there).
    beside = Path(sys.executable).parent / "kubectl"
    binary = shutil.which("kubectl") or (str(beside) if beside.exists() else None)
    if binary is None:
        print(
            "kubectl is not installed: run scripts/setup.sh install, or see "
            "https://kubernetes.io/docs/tasks/tools/"
        )
        return 1
    config = data_dir / ADMIN_KUBECONFIG
    os.execv(binary, [binary, "--kubeconfig", str(config), *args])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
