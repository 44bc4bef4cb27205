"""A real etcd server on loopback for tests and benchmarks (Debian's etcd-server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

from tests.support.certs import TestPKI

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

    def __init__(self, data_dir: str, *, tls: TestPKI | None = None) -> None:
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.client_port}"
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
            # Room for a 1.5 MiB value plus the request around it (see README).
            "--max-request-bytes",
            str(2 * 1024 * 1024),
        ]
        if self.tls is not None:
            args += [
                "--cert-file",
                str(self.tls.server_cert),
                "--key-file",
                str(self.tls.server_key),
                "--trusted-ca-file",
                str(self.tls.ca),
                "--client-cert-auth",
            ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited early; see {self.log_path}")
            if self._healthy():
                return
            time.sleep(0.05)
        raise RuntimeError(f"etcd did not become healthy in {timeout}s; see {self.log_path}")

    def _healthy(self) -> bool:
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(cafile=str(self.tls.ca))
            context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1, context=context) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

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
