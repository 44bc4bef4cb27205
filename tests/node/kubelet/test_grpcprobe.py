"""gRPC probes against a small gRPC health server of our own (h2, on loopback)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded

from kybernetes.node.kubelet.grpcprobe import encode_request, grpc_health_check, parse_status


def test_messages_are_framed_as_grpc_and_protobuf() -> None:
    assert encode_request("") == b"\x00\x00\x00\x00\x00"
    assert encode_request("db") == b"\x00\x00\x00\x00\x04\x0a\x02db"
    assert parse_status(b"\x00\x00\x00\x00\x02\x08\x01") == 1
    assert parse_status(b"\x00\x00\x00\x00\x00") == 0


def _answer(h2: H2Connection, stream: int, code: str, status: int) -> None:
    h2.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc")])
    if code == "0":
        message = b"\x08" + bytes([status])
        h2.send_data(stream, b"\x00" + len(message).to_bytes(4, "big") + message)
    h2.send_headers(stream, [("grpc-status", code), ("grpc-message", "nope")], end_stream=True)


def _serve(listener: socket.socket, answers: dict[str, tuple[str, int]]) -> None:
    """Answer each Check by service name: (grpc-status, health status)."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            h2 = H2Connection(config=H2Configuration(client_side=False, header_encoding="utf-8"))
            h2.initiate_connection()
            conn.sendall(h2.data_to_send())
            body: dict[int, bytes] = {}
            done = False
            while not done:
                data = conn.recv(65536)
                if not data:
                    break
                for event in h2.receive_data(data):
                    if isinstance(event, RequestReceived):
                        body[event.stream_id] = b""
                    elif isinstance(event, DataReceived):
                        body[event.stream_id] += event.data
                    elif isinstance(event, StreamEnded):
                        raw = body[event.stream_id][5:]
                        service = raw[2:].decode() if raw else ""
                        _answer(h2, event.stream_id, *answers.get(service, ("5", 0)))
                        done = True
                conn.sendall(h2.data_to_send())
            # Closed with the client's last frames unread, the socket would send a
            # reset that can overtake the answer: end writing, then read to its end.
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                while conn.recv(65536):
                    pass


@pytest.fixture
def server() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    answers = {"": ("0", 1), "db": ("0", 2), "missing": ("5", 0)}
    thread = threading.Thread(target=_serve, args=(listener, answers), daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


def test_serving_not_serving_and_errors(server: int) -> None:
    assert grpc_health_check("127.0.0.1", server, "", 2) == (True, "")
    assert grpc_health_check("127.0.0.1", server, "db", 2) == (
        False, 'service unhealthy (responded with "NOT_SERVING")')  # fmt: skip
    assert grpc_health_check("127.0.0.1", server, "missing", 2) == (
        False, "rpc error: code = NotFound desc = nope")  # fmt: skip


def test_a_closed_port_fails_with_the_kubelet_words() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    ok, said = grpc_health_check("127.0.0.1", port, "", 1)
    assert not ok and said == f'timeout: failed to connect service "127.0.0.1:{port}" within 1s'
