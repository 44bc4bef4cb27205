"""Restart policy and CrashLoopBackOff timing."""

from __future__ import annotations

from kybernetes.node.kubelet.restarts import CrashLoopBackoff, backoff_message, should_restart


def test_restart_policies() -> None:
    assert should_restart("Always", 0) and should_restart("Always", 1)
    assert should_restart("OnFailure", 1) and not should_restart("OnFailure", 0)
    assert not should_restart("Never", 1) and not should_restart("Never", 0)


def test_backoff_doubles_to_five_minutes_and_resets_after_ten_quiet_minutes() -> None:
    backoff = CrashLoopBackoff()
    # First failure: restart at once; back-off starts at 10 s.
    assert backoff.wait("k", finished_at=100, now=100) == 0
    assert backoff.restarted("k", finished_at=100) == 10
    # Second failure 1 s later: wait out the 10 s.
    assert backoff.wait("k", finished_at=101, now=101) == 10
    assert backoff.wait("k", finished_at=101, now=107) == 4
    assert backoff.wait("k", finished_at=101, now=111) == 0
    delays = [backoff.restarted("k", finished_at=111 + n) for n in range(8)]
    assert delays == [20, 40, 80, 160, 300, 300, 300, 300]
    # Quiet for more than 10 minutes: forgotten, back to an immediate restart and 10 s.
    assert backoff.wait("k", finished_at=118 + 601, now=118 + 601) == 0
    assert backoff.restarted("k", finished_at=118 + 601) == 10


def test_the_waiting_message_is_kubernetes_own() -> None:
    assert backoff_message(10, "web", "web-1", "default", "u-1") == (
        "back-off 10s restarting failed container=web pod=web-1_default(u-1)")  # fmt: skip
    assert backoff_message(160, "web", "p", "ns", "u").startswith("back-off 2m40s ")


def test_a_failed_pull_waits_from_its_own_failure_time_then_goes() -> None:
    backoff = CrashLoopBackoff()
    assert backoff.wait_since_failure("pull/x", now=100.0) == 0.0
    backoff.restarted("pull/x", finished_at=100.0)
    assert backoff.wait_since_failure("pull/x", now=104.0) == 6.0
    assert backoff.wait_since_failure("pull/x", now=110.5) == 0.0  # retried, not stuck
