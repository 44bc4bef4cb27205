"""The exec/attach channel protocol: frames, resizes and the error channel's Status."""

from __future__ import annotations

import json

from kybernetes.node.kubelet import channels
from kybernetes.node.kubelet.streams import attach_refusal, runc_failure


def test_frames_carry_the_channel_in_their_first_byte() -> None:
    assert channels.frame(channels.STDOUT, b"hi\n") == b"\x01hi\n"
    assert channels.parse_frame(b"\x00typed") == (channels.STDIN, b"typed")
    assert channels.parse_frame(b"\xff\x00") == (channels.CLOSE, b"\x00")
    assert channels.parse_frame(b"") == (channels.STDIN, b"")
    assert channels.PROTOCOLS[0] == "v5.channel.k8s.io"


def test_resize_reads_kubectl_json_and_rejects_nonsense() -> None:
    assert channels.parse_resize(b'{"Width":132,"Height":40}') == channels.Resize(132, 40)
    for bad in (b"", b"[]", b"{}", b'{"Width":0,"Height":10}', b'{"Width":"x","Height":1}',
                b'{"Width":70000,"Height":1}'):  # fmt: skip
        assert channels.parse_resize(bad) is None


def test_success_and_exit_codes_as_kubectl_reads_them() -> None:
    assert json.loads(channels.exit_status(0, ["true"])) == {"metadata": {}, "status": "Success"}
    failed = json.loads(channels.exit_status(3, ["sh", "-c", "exit 3"]))
    assert failed["status"] == "Failure" and failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert failed["message"].startswith("command terminated with non-zero exit code: ")
    internal = json.loads(channels.internal_error("boom"))
    assert internal["reason"] == "InternalError" and internal["code"] == 500
    assert internal["message"] == "Internal error occurred: boom"


def test_the_first_protocol_says_only_failures_and_as_text() -> None:
    failed = channels.exit_status(3, ["sh", "-c", "exit 3"])
    for protocol in channels.PROTOCOLS:  # v5, v4: the Status itself
        assert channels.error_payload(protocol, failed) == failed
    assert channels.error_payload("channel.k8s.io", channels.exit_status(0, ["true"])) is None
    assert channels.error_payload("channel.k8s.io", failed) == json.loads(failed)[
        "message"].encode()  # fmt: skip
    assert channels.error_payload("channel.k8s.io", channels.internal_error("boom")) == (
        b"Internal error occurred: boom")  # fmt: skip
    assert "channel.k8s.io" in channels.EXEC_PROTOCOLS
    assert "channel.k8s.io" not in channels.PROTOCOLS  # port-forward never spoke it


def test_runc_failure_is_found_in_its_json_log() -> None:
    log = "\n".join([
        json.dumps({"level": "info", "msg": "starting"}),
        "not json",
        json.dumps({"level": "error", "msg": 'exec failed: exec: "x": not found'}),
    ])  # fmt: skip
    assert runc_failure(log) == 'exec failed: exec: "x": not found'
    assert runc_failure(json.dumps({"level": "warning", "msg": "meh"})) is None
    assert runc_failure("") is None


def test_attach_refuses_stdin_only_to_containers_without_it() -> None:
    plain = {"name": "app"}
    assert attach_refusal(plain, stdin=False) is None
    refusal = attach_refusal(plain, stdin=True)
    assert refusal is not None and "stdin is not enabled" in refusal and "container app" in refusal
    for spec in ({"name": "app", "stdin": True}, {"name": "app", "tty": True}):
        assert attach_refusal(spec, stdin=True) is None
        assert attach_refusal(spec, stdin=False) is None
