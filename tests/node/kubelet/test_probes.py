"""Probe and hook decisions (pure), probe timers with a scripted prober, netns threads."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Any

import pytest

from kybernetes.node.kubelet.podworker import _log_tail
from kybernetes.node.kubelet.prober import Outcome, ProbeManager, Prober
from kybernetes.node.kubelet.probes import (
    ProbeKind,
    ProbeSpec,
    ProbeTracker,
    dial_error,
    hook_failure_message,
    http_success,
    http_target,
    kill_message,
    next_delay,
    probe_spec,
    resolve_port,
    should_probe,
    unhealthy_message,
)

WEB = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


def spec(kind: ProbeKind = ProbeKind.LIVENESS, **fields: Any) -> ProbeSpec:
    found = probe_spec({**WEB, kind.field: {"tcpSocket": {"port": 8080}, **fields}}, kind)
    assert found is not None
    return found


# -- defaults ---------------------------------------------------------------------


def test_defaults_are_kubernetes_defaults() -> None:
    probe = spec()
    assert (probe.initial_delay, probe.period, probe.timeout) == (0, 10, 1)
    assert (probe.success_threshold, probe.failure_threshold) == (1, 3)
    assert probe.termination_grace is None


def test_given_values_win_and_liveness_needs_one_success() -> None:
    probe = spec(ProbeKind.LIVENESS, initialDelaySeconds=5, periodSeconds=2,
                 timeoutSeconds=3, successThreshold=4, failureThreshold=6,
                 terminationGracePeriodSeconds=7)  # fmt: skip
    assert (probe.initial_delay, probe.period, probe.timeout) == (5, 2, 3)
    assert (probe.success_threshold, probe.failure_threshold) == (1, 6)
    assert probe.termination_grace == 7
    assert spec(ProbeKind.STARTUP, successThreshold=3).success_threshold == 1
    assert spec(ProbeKind.READINESS, successThreshold=3).success_threshold == 3


def test_no_probe_or_no_handler_is_none() -> None:
    assert probe_spec(WEB, ProbeKind.READINESS) is None
    assert probe_spec({**WEB, "readinessProbe": {"periodSeconds": 1}}, ProbeKind.READINESS) is None


# -- thresholds -------------------------------------------------------------------


def test_initial_results() -> None:
    assert ProbeTracker.new(spec(ProbeKind.LIVENESS)).result is True
    assert ProbeTracker.new(spec(ProbeKind.READINESS)).result is False
    assert ProbeTracker.new(spec(ProbeKind.STARTUP)).result is False
    # A container that ran before this kubelet: it started already.
    assert ProbeTracker.new(spec(ProbeKind.STARTUP), started_before_kubelet=True).result is True
    assert ProbeTracker.new(spec(ProbeKind.READINESS), started_before_kubelet=True).result is False


def test_readiness_flips_after_thresholds_in_a_row() -> None:
    tracker = ProbeTracker.new(spec(ProbeKind.READINESS, successThreshold=2, failureThreshold=3))
    assert tracker.observe(True, now=1) is False and tracker.result is False
    assert tracker.observe(True, now=2) is True and tracker.result is True
    assert tracker.observe(False, now=3) is False
    assert tracker.observe(True, now=4) is False  # the failure run was broken
    assert [tracker.observe(False, now=t) for t in (5, 6, 7)] == [False, False, True]
    assert tracker.result is False and not tracker.held  # readiness keeps probing
    assert tracker.last_probe == 7


def test_liveness_failure_holds_the_probe() -> None:
    tracker = ProbeTracker.new(spec(ProbeKind.LIVENESS, failureThreshold=2))
    assert tracker.observe(False, now=1) is False and not tracker.held
    assert tracker.observe(False, now=2) is True
    assert tracker.result is False and tracker.held and tracker.run == 0


def test_startup_success_once_is_enough() -> None:
    tracker = ProbeTracker.new(spec(ProbeKind.STARTUP, failureThreshold=30))
    assert tracker.observe(False, now=1) is False
    assert tracker.observe(True, now=2) is True and tracker.result is True


def test_startup_gates_the_others() -> None:
    assert should_probe(ProbeKind.STARTUP, started=False)
    assert not should_probe(ProbeKind.STARTUP, started=True)
    for kind in (ProbeKind.LIVENESS, ProbeKind.READINESS):
        assert not should_probe(kind, started=False)
        assert should_probe(kind, started=True)


# -- timing -----------------------------------------------------------------------


def test_first_probe_waits_for_the_initial_delay_then_every_period() -> None:
    probe = spec(initialDelaySeconds=5, periodSeconds=2)
    assert next_delay(probe, started_at=100, last_probe=None, now=101) == 4
    assert next_delay(probe, started_at=100, last_probe=None, now=107) == 0
    assert next_delay(probe, started_at=100, last_probe=107, now=107.5) == 1.5
    assert next_delay(probe, started_at=100, last_probe=107, now=120) == 0


# -- handlers ---------------------------------------------------------------------


def test_ports_by_number_or_name() -> None:
    assert resolve_port(8080, WEB) == 8080
    assert resolve_port("9090", WEB) == 9090
    assert resolve_port("http", WEB) == 8080
    with pytest.raises(ValueError, match="couldn't find port: metrics in web"):
        resolve_port("metrics", WEB)
    with pytest.raises(ValueError, match="invalid port number"):
        resolve_port(70000, WEB)


def test_http_target_defaults_and_headers() -> None:
    target = http_target({"port": "http"}, WEB, "10.244.0.5")
    assert target.url == "http://10.244.0.5:8080/"
    assert dict(target.headers)["User-Agent"].startswith("kube-probe/")
    target = http_target({"port": 8443, "path": "healthz", "scheme": "HTTPS", "host": "10.0.0.9",
                          "httpHeaders": [{"name": "user-agent", "value": "mine"},
                                          {"name": "X-Token", "value": "t"}]},
                         WEB, "10.244.0.5")  # fmt: skip
    assert target.url == "https://10.0.0.9:8443/healthz"
    assert dict(target.headers) == {"Accept": "*/*", "user-agent": "mine", "X-Token": "t"}


def test_http_success_range() -> None:
    assert [http_success(c) for c in (199, 200, 302, 399, 400, 503)] == [
        False, True, True, True, False, False]  # fmt: skip


def test_messages_as_kubernetes_words_them() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert dial_error("10.244.0.5", 80, refused) == (
        "dial tcp 10.244.0.5:80: connect: connection refused")  # fmt: skip
    assert dial_error("10.244.0.5", 80, TimeoutError()) == "dial tcp 10.244.0.5:80: i/o timeout"
    assert unhealthy_message(ProbeKind.READINESS, "x") == "Readiness probe failed: x"
    assert kill_message(ProbeKind.LIVENESS, "web") == (
        "Container web failed liveness probe, will be restarted")  # fmt: skip
    assert kill_message(ProbeKind.STARTUP, "web") == (
        "Container web failed startup probe, will be restarted")  # fmt: skip
    exec_hook = {"exec": {"command": ["sh", "-c", "exit 1"]}}
    assert hook_failure_message(exec_hook, container="web", pod="p_ns(u)", error="boom",
                                output="said") == (
        'Exec lifecycle hook ([sh -c exit 1]) for Container "web" in Pod "p_ns(u)" failed - '
        'error: boom, message: "said"')  # fmt: skip
    assert hook_failure_message({"httpGet": {"path": "/stop", "port": 80}}, container="web",
                                pod="p_ns(u)", error="refused") == (
        'HTTP lifecycle hook (/stop) for Container "web" in Pod "p_ns(u)" failed - '
        "error: refused")  # fmt: skip


def test_log_tail_joins_partial_records_and_keeps_the_end() -> None:
    records = [b"2026-01-01T00:00:00.000000Z stdout F first",
               b"2026-01-01T00:00:00.000001Z stderr P par",
               b"2026-01-01T00:00:00.000002Z stderr F tial",
               b"2026-01-01T00:00:00.000003Z stdout P DONE"]  # fmt: skip
    assert _log_tail(records, 100) == "first\npartial\nDONE"
    assert _log_tail(records, 6) == "l\nDONE"


# -- the timers, with a scripted prober ----------------------------------------------


class ScriptedProber(Prober):
    """Answers from a script per probe kind (no I/O)."""

    def __init__(self, answers: dict[str, list[bool]]) -> None:
        super().__init__(runc_root="/nonexistent", host_netns=None)
        self.answers = answers
        self.asked: list[str] = []

    async def probe(self, spec: ProbeSpec, container: dict[str, Any], container_id: str,
                    pod_ip: str) -> Outcome:  # fmt: skip
        self.asked.append(spec.kind.value)
        script = self.answers[spec.kind.value]
        return Outcome(script.pop(0) if len(script) > 1 else script[0], "said no")


async def until(check: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_startup_then_liveness_and_readiness_with_events() -> None:
    prober = ScriptedProber({"startup": [False, True], "liveness": [True, False],
                             "readiness": [True]})  # fmt: skip
    changes: list[int] = []
    events: list[tuple[str, str, str]] = []
    manager = ProbeManager(prober, on_change=lambda: changes.append(1),
                           event=lambda *e: events.append(e),
                           pod_ip=lambda: "10.0.0.1")  # fmt: skip
    fast = {"tcpSocket": {"port": 8080}, "periodSeconds": 0.01}
    container = {**WEB, "startupProbe": fast, "livenessProbe": {**fast, "failureThreshold": 1},
                 "readinessProbe": fast}  # fmt: skip
    manager.ensure(container, "c1", started_at=0, adopted=False)
    try:
        assert not manager.started("web", "c1") and not manager.ready("web", "c1")
        await until(lambda: manager.failed("web", "c1") is not None)
        # Startup ran alone until it passed; only then did the others run.
        first_other = next(i for i, k in enumerate(prober.asked) if k != "startup")
        assert prober.asked[:first_other] == ["startup", "startup"]
        assert "startup" not in prober.asked[first_other:]
        assert manager.started("web", "c1")
        failed = manager.failed("web", "c1")
        assert failed is not None and failed.kind is ProbeKind.LIVENESS
        assert ("Warning", "Unhealthy", "Startup probe failed: said no") in events
        assert ("Warning", "Unhealthy", "Liveness probe failed: said no") in events
        assert changes
        # Another attempt of the container starts afresh; the old one's answers are gone.
        manager.ensure(container, "c2", started_at=0, adopted=True)
        assert manager.started("web", "c2") and manager.failed("web", "c1") is None
    finally:
        await manager.close()


async def test_grpc_probes_call_the_health_service() -> None:
    """Not a port check: a plain TCP listener that speaks no gRPC fails the probe."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    prober = Prober(runc_root="/nonexistent", host_netns=None)
    try:
        probe = probe_spec({**WEB, "livenessProbe": {"grpc": {"port": port},
                                                     "timeoutSeconds": 1}},
                           ProbeKind.LIVENESS)  # fmt: skip
        assert probe is not None
        outcome = await prober.probe(probe, WEB, "c1", "127.0.0.1")
        assert not outcome.success and outcome.warning == ""
        listener.close()
        outcome = await prober.probe(probe, WEB, "c1", "127.0.0.1")
        assert not outcome.success and "failed to connect service" in outcome.output
    finally:
        listener.close()
        prober.close()


# -- network probes from a namespace's thread --------------------------------------


@pytest.mark.root
async def test_sockets_open_inside_the_host_namespace(host_netns: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    own = os.readlink("/proc/self/ns/net")
    try:
        here = Prober(runc_root="/nonexistent", host_netns=None)
        there = Prober(runc_root="/nonexistent", host_netns=host_netns)
        action = {"port": port, "host": "127.0.0.1"}
        assert (await here.tcp_socket(action, WEB, "", 1)).success
        # The isolated namespace has its own loopback, where nothing listens.
        outcome = await there.tcp_socket(action, WEB, "", 1)
        assert not outcome.success
        assert outcome.output == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
        assert os.readlink("/proc/self/ns/net") == own  # the loop's thread never moved
        here.close()
        there.close()
    finally:
        listener.close()
