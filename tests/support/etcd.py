"""A real etcd server on loopback for tests and benchmarks (Debian's etcd-server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

__all__ = ["EtcdServer", "etcd_binary", "free_port", "running_etcd"]


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdServer:
    """One etcd member listening only on 127.0.0.1, with its data in a temp dir."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(data_dir, "etcd.log")

    def start(self, timeout: float = 20.0) -> None:
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError("etcd is not installed: run scripts/setup.sh (apt etcd-server)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            binary,
            "--name",
            "test",
            "--data-dir",
            os.path.join(self.data_dir, "member"),
            "--listen-client-urls",
            self.url,
            "--advertise-client-urls",
            self.url,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"test={peer}",
            "--log-level",
            "warn",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"etcd did not become healthy in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_etcd() -> Iterator[EtcdServer]:
    with tempfile.TemporaryDirectory(prefix="kyb-etcd-") as data_dir:
        server = EtcdServer(data_dir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
