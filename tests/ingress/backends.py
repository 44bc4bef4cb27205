"""Small aiohttp servers on 127.0.0.x standing in for pods, and a test CA for TLS."""

from __future__ import annotations

import asyncio
import datetime
import socket
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def refused_port(host: str) -> int:
    """A port on `host` where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Backend:
    """A "pod": answers with its name; /stream and /slow wait for the test."""

    name: str
    host: str
    port: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    async def start(self) -> Backend:
        app = web.Application()
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/slow", self._slow)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({
            "backend": self.name, "path": request.path_qs, "method": request.method,
            "headers": dict(request.headers), "body": body.decode(),
        })  # fmt: skip

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"first\n")
        await self.release.wait()  # the test reads "first" before letting the rest go
        await response.write(b"second\n")
        await response.write_eof()
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(text=f"slow from {self.name}")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("echo",))
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == web.WSMsgType.TEXT:
                await ws.send_str(f"{self.name}: {msg.data}")
            elif msg.type == web.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws


@dataclass(frozen=True)
class CertAuthority:
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> CertAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ingress test CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return cls(cert.public_bytes(serialization.Encoding.PEM), key)

    def issue(self, *hosts: str) -> tuple[bytes, bytes]:
        """A server certificate for `hosts` and its key, PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        ca = x509.load_pem_x509_certificate(self.cert_pem)
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           False)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        return cert.public_bytes(serialization.Encoding.PEM), key_pem
