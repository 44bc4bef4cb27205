"""A real kopf operator reconciles objects of a CRD on our API server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apiserver.conftest import Cluster
from tests.apiserver.test_crds import CRD, CRONTAB

OPERATOR = Path(__file__).parent / "operators" / "crontab_operator.py"


def _annotation(obj: dict[str, Any], key: str) -> str | None:
    value = obj["metadata"].get("annotations", {}).get(key)
    return str(value) if value is not None else None


async def wait_for(
    cluster: Cluster, check: Callable[[dict[str, Any]], object], *args: str, timeout: float = 30
) -> dict[str, Any]:
    """Poll `kubectl get -o json` until `check` holds for the object (with a deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        obj: dict[str, Any] = json.loads(await cluster.kubectl("get", *args, "-o", "json"))
        if check(obj):
            return obj
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{check} never held: {obj}")
        await asyncio.sleep(0.2)


def kopf_ready_crd() -> str:
    """The CRD with a free-form status, where kopf keeps its handlers' results."""
    crd = yaml.safe_load(CRD)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["status"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return json.dumps(crd)


async def test_kopf_operator_reconciles_custom_objects(cluster: Cluster) -> None:
    pytest.importorskip("kopf")
    await cluster.kubectl("apply", "-f", "-", stdin=kopf_ready_crd())
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.home)}
    log = open(cluster.home / "kopf.log", "wb")  # noqa: SIM115 - closed below
    operator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
        str(OPERATOR), env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # CRONTAB carries a field its schema lacks (test_crds.py prunes it): not here.
        spec = {k: v for k, v in CRONTAB["spec"].items() if k != "unknown"}
        await cluster.kubectl("apply", "-f", "-", stdin=json.dumps({**CRONTAB, "spec": spec}))
        obj = await wait_for(
            cluster, lambda o: o.get("status", {}).get("created"), "crontab", "nightly"
        )
        assert obj["status"]["created"] == {"schedule": "* * * * */5", "phase": "Scheduled"}
        await cluster.kubectl("patch", "crontab", "nightly", "--type=merge",
                              "-p", '{"spec":{"image":"backup:2"}}')  # fmt: skip
        # The field handler also runs on creation (old is None): 1, then 2 after the change.
        obj = await wait_for(
            cluster, lambda o: _annotation(o, "example.com/image-changes") == "2",
            "crontab", "nightly",
        )  # fmt: skip
        await cluster.kubectl("delete", "crontab", "nightly", "--timeout=30s")
    finally:
        operator.terminate()
        await operator.wait()
        log.close()
    text = (cluster.home / "kopf.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
