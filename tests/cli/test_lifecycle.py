"""`kyb start|status|stop|delete` as a user runs them, on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.store import open_store
from tests.support.etcd import free_port


def kyb(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KYB_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "kybernetes", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def write_and_read(endpoint: str, key: str, value: bytes | None) -> bytes:
    store = await open_store(endpoint)
    try:
        if value is not None:
            await store.create(key, value)
        return (await store.get(key)).value
    finally:
        await store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "cluster"
    yield path
    kyb("stop", data_dir=path)


def test_start_status_stop_keeps_data_and_delete_removes_it(data_dir: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    started = kyb("start", "--listen", listen, data_dir=data_dir)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Ready in" in started.stdout
    assert f"kyb://{listen}" in started.stdout

    status = kyb("status", data_dir=data_dir)
    assert status.returncode == 0
    assert "store: Running (sqlite://" in status.stdout

    endpoint = f"kyb://{listen}"
    assert asyncio.run(write_and_read(endpoint, "/kept", b"across restarts")) == b"across restarts"
    assert "already running" in kyb("start", "--listen", listen, data_dir=data_dir).stdout

    assert kyb("stop", data_dir=data_dir).returncode == 0
    stopped = kyb("status", data_dir=data_dir)
    assert stopped.returncode == 3
    assert "not running" in stopped.stdout

    assert kyb("start", "--listen", listen, data_dir=data_dir).returncode == 0
    assert asyncio.run(write_and_read(endpoint, "/kept", None)) == b"across restarts"

    assert kyb("delete", data_dir=data_dir).returncode == 0
    assert not data_dir.exists()


def test_port_taken_is_one_clear_line(data_dir: Path, tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    assert kyb("start", "--listen", listen, data_dir=data_dir).returncode == 0
    other = tmp_path / "other"
    failed = kyb("start", "--listen", listen, data_dir=other)
    kyb("stop", data_dir=other)
    assert failed.returncode == 1
    assert "kyb server: " in failed.stdout
    assert "address already in use" in failed.stdout.lower()
    assert "Traceback" not in failed.stdout


def test_bad_store_url_is_one_clear_line(data_dir: Path) -> None:
    failed = kyb("server", "--store", "nosuch://x", data_dir=data_dir)
    assert failed.returncode == 1
    assert "unknown scheme 'nosuch'" in failed.stderr
    assert "Traceback" not in failed.stderr
