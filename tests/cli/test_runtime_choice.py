"""Which runtime the kubelet runs, and what `kyb status` says about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.cli import components
from kybernetes.cli.components import COMPONENTS, Settings, describe_running, kubelet_runtime


def test_runc_when_possible_else_process(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=Path("/nonexistent"), node_name="n1")
    monkeypatch.setattr(components, "kubelet_unavailable", lambda: "")
    assert kubelet_runtime(settings) == "runc"
    assert "runtime runc" in describe_running("kubelet", settings)
    monkeypatch.setattr(components, "kubelet_unavailable", lambda: "runs only as root")
    assert kubelet_runtime(settings) == "process"
    said = describe_running("kubelet", settings)
    assert "runtime process" in said and "no isolation" in said
    # Without root the server still runs a node: on the process runtime.
    assert COMPONENTS["kubelet"].in_server(settings)
    # Asking for runc where it cannot run keeps the kubelet out of the server.
    assert not COMPONENTS["kubelet"].in_server(Settings(data_dir=Path("/x"), runtime="runc"))


def test_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(components, "kubelet_unavailable", lambda: "")
    assert kubelet_runtime(Settings(data_dir=Path("/x"), runtime="process")) == "process"


def test_a_process_runtime_node_gets_the_userspace_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    import kybernetes.proxy.host as host

    monkeypatch.setattr(components, "kubelet_unavailable", lambda: "")
    monkeypatch.setattr(host, "proxy_unavailable", lambda: "")
    runc = Settings(data_dir=Path("/x"))
    process = Settings(data_dir=Path("/x"), runtime="process")
    assert components.userspace_proxy_reason(runc) == ""
    assert "nftables" in describe_running("proxy", runc)
    assert "process runtime" in components.userspace_proxy_reason(process)
    assert "userspace mode" in describe_running("proxy", process)
