"""The protobuf decoder against bodies captured from kubectl 1.32, and hand-built edge cases.

Each `protobuf_samples/NAME.pb` is a request body kubectl sent (see
capture_protobuf.py); `NAME.json` is the object the command means, written
by hand, where a string "re:PATTERN" stands for a value the command or the
server chose at capture time (a random suffix, a uid, a fresh TLS key).
`NAME.client.json`, where the command has `--dry-run=client`, is what
kubectl itself printed as JSON for the same object: the decoded body must
equal it exactly, once its nulls (`creationTimestamp: null`) are dropped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kybernetes.apiserver.protobuf import (
    KINDS,
    ProtobufError,
    decode_kubernetes_protobuf,
)
from kybernetes.apiserver.protobuf.convert import decode_message
from kybernetes.apiserver.protobuf.messages import MESSAGES, Field

SAMPLES = Path(__file__).parent / "protobuf_samples"
SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("*.pb"))


# A tiny encoder, so edge cases are built byte by byte.
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def blob(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes, *, encoding: str = "") -> bytes:
    type_meta = blob(1, api_version) + blob(2, kind)
    return b"k8s\x00" + blob(1, type_meta) + blob(2, raw) + blob(3, encoding) + blob(4, "")


def _matches(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, str) and expected.startswith("re:"):
        assert isinstance(actual, str) and re.fullmatch(expected[3:], actual), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), path
        for key, value in expected.items():
            _matches(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            _matches(want, got, f"{path}[{i}]")
    else:
        assert actual == expected and type(actual) is type(expected), path


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_every_sample_has_an_expectation() -> None:
    assert len(SAMPLE_NAMES) >= 30
    assert {p.stem for p in SAMPLES.glob("*.json") if ".client" not in p.name} == set(SAMPLE_NAMES)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_decodes_to_what_the_command_means(name: str) -> None:
    expected = json.loads((SAMPLES / f"{name}.json").read_text())
    api_version, kind, obj = decode_kubernetes_protobuf((SAMPLES / f"{name}.pb").read_bytes())
    assert (api_version, kind) == (expected["apiVersion"], expected["kind"])
    _matches(expected, obj)


@pytest.mark.parametrize(
    "name", [n for n in SAMPLE_NAMES if (SAMPLES / f"{n}.client.json").exists()]
)
def test_sample_equals_kubectl_own_json(name: str) -> None:
    client = json.loads((SAMPLES / f"{name}.client.json").read_text())
    _, _, obj = decode_kubernetes_protobuf((SAMPLES / f"{name}.pb").read_bytes())
    assert obj == _without_nulls(client)


def test_secret_bytes_are_base64_of_the_files() -> None:
    _, _, obj = decode_kubernetes_protobuf((SAMPLES / "secret_tls.pb").read_bytes())
    cert = base64.b64decode(obj["data"]["tls.crt"], validate=True)
    assert cert.startswith(b"-----BEGIN CERTIFICATE-----\n") and cert.endswith(b"-----\n")


# The envelope


def test_bad_magic() -> None:
    with pytest.raises(ProtobufError, match="k8s"):
        decode_kubernetes_protobuf(b'{"kind": "Namespace"}')


def test_unknown_kind_is_named() -> None:
    body = envelope("example.com/v1", "Widget", blob(1, blob(1, "w")))
    with pytest.raises(ProtobufError, match=r"Widget \(example.com/v1\)"):
        decode_kubernetes_protobuf(body)


def test_missing_type_meta() -> None:
    with pytest.raises(ProtobufError, match="no apiVersion or kind"):
        decode_kubernetes_protobuf(b"k8s\x00" + blob(2, b""))


def test_content_encoding_is_refused() -> None:
    with pytest.raises(ProtobufError, match="gzip"):
        decode_kubernetes_protobuf(envelope("v1", "Namespace", b"", encoding="gzip"))


def test_every_truncation_is_a_protobuf_error() -> None:
    body = (SAMPLES / "deployment.pb").read_bytes()
    with pytest.raises(ProtobufError):
        decode_kubernetes_protobuf(body[:-1])
    for end in range(len(body)):
        with contextlib.suppress(ProtobufError):
            decode_kubernetes_protobuf(body[:end])


def test_minimal_body() -> None:
    api_version, kind, obj = decode_kubernetes_protobuf(envelope("v1", "Namespace", b""))
    assert (api_version, kind, obj) == (
        "v1",
        "Namespace",
        {"apiVersion": "v1", "kind": "Namespace"},
    )


# The wire format


def _namespace(raw: bytes) -> dict[str, Any]:
    return decode_kubernetes_protobuf(envelope("v1", "Namespace", raw))[2]


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    fixed64 = _varint(90 << 3 | 1) + b"\x01" * 8
    fixed32 = _varint(91 << 3 | 5) + b"\x02" * 4
    metadata = num(99, 7) + blob(98, b"\xff\xfe") + fixed64 + blob(1, "a") + fixed32
    assert _namespace(blob(1, metadata) + num(50, 1))["metadata"] == {"name": "a"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x0a\x05ab", "bytes announced"),  # metadata: 5 bytes announced, 2 there
        (b"\x0a", "truncated varint"),
        (b"\x0b", "wire type 3"),  # a group start
        (b"\x00", "field number 0"),
        (num(1, 5), "expected length-delimited"),  # metadata sent as a varint
        (blob(1, num(7, 1)[:-1] + b"\xff" * 11), "longer than 10 bytes"),
        (blob(1, blob(1, b"\xc3\x28")), "UTF-8"),
        (blob(1, blob(7, "x")), "expected a varint"),  # generation sent as a string
        (_varint(3 << 3 | 5) + b"\x00\x00", "truncated fixed32"),
    ],
)
def test_malformed_messages(raw: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        _namespace(raw)


def test_protobuf_error_is_a_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)


# JSON conventions


def _deployment(spec: bytes) -> dict[str, Any]:
    spec_dict: dict[str, Any] = decode_kubernetes_protobuf(
        envelope("apps/v1", "Deployment", blob(2, spec))
    )[2]["spec"]
    return spec_dict


def test_pointer_zeros_are_kept_and_plain_zeros_dropped() -> None:
    # replicas and revisionHistoryLimit are pointers; minReadySeconds and paused are not.
    spec = num(1, 0) + num(5, 0) + num(6, 0) + num(7, 0) + blob(4, blob(1, ""))
    assert _deployment(spec) == {"replicas": 0, "revisionHistoryLimit": 0, "strategy": {}}


def test_negative_numbers_and_last_value_wins() -> None:
    assert _deployment(num(1, 2) + num(1, -1)) == {"replicas": -1}
    assert _deployment(num(5, 9) + num(5, 0)) == {}  # a later zero unsets


def test_repeated_numbers_packed_or_not() -> None:
    pod_security = blob(4, _varint(1000) + _varint(2000)) + num(4, 3000) + blob(4, b"")
    pod_spec = blob(14, pod_security)
    pod = decode_kubernetes_protobuf(envelope("v1", "Pod", blob(2, pod_spec)))[2]
    assert pod["spec"]["securityContext"] == {"supplementalGroups": [1000, 2000, 3000]}


def test_empty_repeated_and_present_empty_message() -> None:
    # A packed run of zero length is an empty list (dropped); an empty message is {}.
    pod_spec = blob(14, blob(4, b"")) + blob(2, blob(1, "c") + blob(8, b""))
    pod = decode_kubernetes_protobuf(envelope("v1", "Pod", blob(2, pod_spec)))[2]
    assert pod["spec"] == {"securityContext": {}, "containers": [{"name": "c", "resources": {}}]}


def test_inline_message_and_map_of_quantities() -> None:
    empty_dir = blob(2, blob(1, "Memory") + blob(2, blob(1, "64Mi")))
    volume = blob(1, "scratch") + blob(2, empty_dir)
    limits = blob(1, blob(1, "cpu") + blob(2, blob(1, "500m"))) + blob(1, blob(1, "memory"))
    container = blob(1, "c") + blob(8, limits)
    pod = decode_kubernetes_protobuf(
        envelope("v1", "Pod", blob(2, blob(1, volume) + blob(2, container)))
    )[2]
    assert pod["spec"]["volumes"] == [
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
    ]
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "0"}}


@pytest.fixture
def specials(monkeypatch: pytest.MonkeyPatch) -> str:
    table = {
        1: Field("time", "time"),
        2: Field("micro", "mtime"),
        3: Field("quantity", "qty"),
        4: Field("intOrString", "ios"),
        5: Field("raw", "raw"),
        6: Field("data", "bytes"),
        7: Field("extra", "map", map_value="extra"),
        8: Field("binary", "map", map_value="bytes"),
        9: Field("flag", "bool", keep_zero=True),
    }
    monkeypatch.setitem(MESSAGES, "test.Specials", table)
    return "test.Specials"


def test_times(specials: str) -> None:
    instant = num(1, 1_700_000_000) + num(2, 123_456_789)
    decoded = decode_message(specials, blob(1, instant) + blob(2, instant))
    assert decoded == {"time": "2023-11-14T22:13:20Z", "micro": "2023-11-14T22:13:20.123456Z"}
    # The zero time is an empty message (JSON null: left out); the epoch is not.
    assert decode_message(specials, blob(1, b"") + blob(2, b"")) == {}
    assert decode_message(specials, blob(1, num(1, 0))) == {"time": "1970-01-01T00:00:00Z"}
    with pytest.raises(ProtobufError, match="out of range"):
        decode_message(specials, blob(1, num(1, 1 << 62)))


def test_scalar_specials(specials: str) -> None:
    decoded = decode_message(
        specials,
        blob(3, blob(1, "1.5Gi"))
        + blob(4, num(1, 0) + num(2, 8080))
        + blob(5, blob(1, b'{"a": [1, 2]}'))
        + blob(6, b"\x00\xff")
        + blob(7, blob(1, "scopes") + blob(2, blob(1, "a") + blob(1, "b")))
        + blob(8, blob(1, "empty"))
        + num(9, 0),
    )
    assert decoded == {
        "quantity": "1.5Gi",
        "intOrString": 8080,
        "raw": {"a": [1, 2]},
        "data": "AP8=",
        "extra": {"scopes": ["a", "b"]},
        "binary": {"empty": ""},
        "flag": False,
    }
    named_port = blob(4, num(1, 1) + num(2, 0) + blob(3, "http"))
    assert decode_message(specials, named_port) == {"intOrString": "http"}
    assert decode_message(specials, blob(4, b"")) == {"intOrString": 0}
    with pytest.raises(ProtobufError, match="JSON"):
        decode_message(specials, blob(5, blob(1, b"{nope")))


# The tables


def test_every_kind_has_object_meta_as_field_1() -> None:
    for message in KINDS.values():
        assert MESSAGES[message][1] == Field("metadata", "meta.ObjectMeta"), message


def test_tables_have_no_cycles() -> None:
    # The decoder recurses along the tables: no cycle means a bounded depth.
    def walk(message: str, path: tuple[str, ...]) -> None:
        assert message not in path, path
        for field in MESSAGES[message].values():
            if field.type in MESSAGES:
                walk(field.type, (*path, message))

    for message in MESSAGES:
        walk(message, ())


def test_fields_that_keep_zero() -> None:
    # Go pointers, and non-omitempty fields JSON always writes.
    keep = {
        ("apps.DeploymentSpec", 1),  # replicas
        ("batch.JobSpec", 7),  # backoffLimit
        ("batch.CronJobSpec", 4),  # suspend
        ("core.PodSpec", 4),  # terminationGracePeriodSeconds
        ("core.Secret", 5),  # immutable
        ("core.ServicePort", 3),  # port
        ("scheduling.PriorityClass", 2),  # value
    }
    drop = {("core.ServicePort", 5), ("apps.DeploymentSpec", 5), ("core.Container", 16)}
    for message, number in keep:
        assert MESSAGES[message][number].keep_zero, (message, number)
    for message, number in drop:
        assert not MESSAGES[message][number].keep_zero, (message, number)
