"""`kyb start`, `status`, `stop` and `delete`: minikube-like lifecycle.

`start` runs `kyb server` as a detached process and waits until it has
written its state file (which it does only once ready), showing progress,
so that when `start` returns the cluster answers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kybernetes.cli.paths import LOG_FILE, pid_alive, read_state, remove_state
from kybernetes.store import StoreError, open_store

__all__ = ["delete", "start", "status", "stop"]

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def start(*, data_dir: Path, store_url: str, listen: str) -> int:
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
            [
                sys.executable,
                "-m",
                "kybernetes",
                "server",
                "--data-dir",
                str(data_dir),
                "--store",
                store_url,
                "--listen",
                listen,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    while read_state(data_dir) is None:
        if process.poll() is not None:
            print(f"kyb server exited with code {process.returncode}; last lines of {log_path}:")
            print(_tail(log_path))
            return 1
        if time.monotonic() - began > START_TIMEOUT:
            print(f"kyb server did not become ready in {START_TIMEOUT:.0f}s; see {log_path}")
            return 1
        time.sleep(0.02)
    print(f"Ready in {time.monotonic() - began:.2f}s.")
    return status(data_dir=data_dir)


def status(*, data_dir: Path) -> int:
    state = read_state(data_dir)
    if state is None or not pid_alive(state.pid):
        print("Kybernetes is not running. Start it with: kyb start")
        return 3
    try:
        revision = asyncio.run(_store_revision(state.store_endpoint))
        store_line = f"Running ({state.store_url}, revision {revision})"
    except StoreError as err:
        store_line = f"Not answering ({err})"
    print("kybernetes")
    print(f"server: Running (pid {state.pid}, data in {data_dir})")
    print(f"store: {store_line}")
    print(f"store endpoint: {state.store_endpoint}")
    print("apiserver: Not built yet (the store is all that runs so far; kubectl cannot connect)")
    return 0


async def _store_revision(endpoint: str) -> int:
    store = await open_store(endpoint)
    try:
        return await store.current_revision()
    finally:
        await store.close()


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
    stop(data_dir=data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)
        print(f"Deleted {data_dir}.")
    return 0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
