"""gRPC probes: one `grpc.health.v1.Health/Check` call, as the kubelet makes it.

HTTP/2 comes from `h2` (the hyper project's protocol library: pure Python,
no I/O of its own), so this module only frames one unary call: the request
`HealthCheckRequest{service}` and the answer's `status` field (1 is
SERVING) are one-field protobuf messages, written and read here. Blocking:
it runs on the prober's threads that sit in the node's network namespace.
The results read as the kubelet's (`service unhealthy (responded with
"NOT_SERVING")`, `rpc error: code = …`).
"""

from __future__ import annotations

import socket

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded, StreamReset, TrailersReceived

__all__ = ["STATUSES", "encode_request", "grpc_health_check", "parse_status"]

STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
CODES = {"0": "OK", "1": "Canceled", "2": "Unknown", "4": "DeadlineExceeded", "5": "NotFound",
         "12": "Unimplemented", "13": "Internal", "14": "Unavailable"}  # fmt: skip


def encode_request(service: str) -> bytes:
    """The gRPC message (5-byte prefix) of HealthCheckRequest{service: 1}."""
    raw = service.encode()
    body = b"\x0a" + _varint(len(raw)) + raw if raw else b""
    return b"\x00" + len(body).to_bytes(4, "big") + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def parse_status(message: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint) from a gRPC message; 0 when absent."""
    body = message[5:]
    i = 0
    while i < len(body):
        key = body[i]
        i += 1
        if key == 0x08:  # field 1, varint
            value, shift = 0, 0
            while i < len(body):
                byte = body[i]
                i += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    return value
        break  # anything else: not a status we know
    return 0


def grpc_health_check(host: str, port: int, service: str, timeout: float) -> tuple[bool, str]:
    """(serving, what the kubelet would say) for one Check call."""
    target = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return False, f'timeout: failed to connect service "{target}" within {timeout:g}s'
    try:
        with sock:
            return _call(sock, target, service)
    except (OSError, TimeoutError):
        return False, f"timeout: health rpc did not complete within {timeout:g}s"


def _call(sock: socket.socket, target: str, service: str) -> tuple[bool, str]:
    conn = H2Connection(config=H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"),
                               (":path", "/grpc.health.v1.Health/Check"),
                               (":authority", target), ("content-type", "application/grpc"),
                               ("te", "trailers")])  # fmt: skip
    conn.send_data(stream, encode_request(service), end_stream=True)
    sock.sendall(conn.data_to_send())
    body = b""
    headers: dict[str, str] = {}
    ended = False
    while not ended:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, ResponseReceived | TrailersReceived):
                headers.update({str(k): str(v) for k, v in event.headers})
            elif isinstance(event, StreamEnded | StreamReset):
                ended = True
        if not ended:  # the answer is whole: a server that has closed needs no acks
            sock.sendall(conn.data_to_send())
    code = headers.get("grpc-status", "2" if not body else "0")
    if code != "0":
        desc = headers.get("grpc-message", "")
        return False, f"rpc error: code = {CODES.get(code, code)} desc = {desc}"
    status = parse_status(body)
    if status != 1:
        return False, f'service unhealthy (responded with "{STATUSES.get(status, status)}")'
    return True, ""
