"""The root CA publisher's decision, and the whole controller manager keeping
`kube-root-ca.crt` in every namespace (checklist Q05)."""

from __future__ import annotations

import asyncio
from typing import Any

from kybernetes.controllers.rootcacert import DESCRIPTION, DESCRIPTION_KEY, NAME, wanted_config_map
from tests.e2e.conftest import Plane, plane, wait_for  # noqa: F401 - the fixture

ACTIVE = {"metadata": {"name": "ns"}, "status": {"phase": "Active"}}
TERMINATING = {"metadata": {"name": "ns"}, "status": {"phase": "Terminating"}}
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_made_for_an_active_namespace_only() -> None:
    made = wanted_config_map(ACTIVE, None, CA)
    assert made == {"metadata": {"name": NAME, "annotations": {DESCRIPTION_KEY: DESCRIPTION}},
                    "data": {"ca.crt": CA}}  # fmt: skip
    assert wanted_config_map(TERMINATING, None, CA) is None
    assert wanted_config_map(None, None, CA) is None


def test_put_back_when_edited_keeping_what_is_not_ours() -> None:
    kept = {"metadata": {"name": NAME, "labels": {"x": "y"},
                         "annotations": {DESCRIPTION_KEY: DESCRIPTION, "mine": "1"}},
            "data": {"ca.crt": CA}}  # fmt: skip
    assert wanted_config_map(ACTIVE, kept, CA) is None
    edited = {**kept, "data": {"ca.crt": "junk", "extra": "1"}}
    fixed = wanted_config_map(ACTIVE, edited, CA)
    assert fixed is not None and fixed["data"] == {"ca.crt": CA}
    assert fixed["metadata"]["labels"] == {"x": "y"}
    assert fixed["metadata"]["annotations"] == {DESCRIPTION_KEY: DESCRIPTION, "mine": "1"}


async def test_every_namespace_has_the_root_ca_and_keeps_it(plane: Plane) -> None:  # noqa: F811
    from kubernetes import client, config

    ca = plane.cluster.pki.ca_pem.decode()

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        core = client.CoreV1Api(api)

        def published(namespace: str) -> Any:
            named = f"metadata.name={NAME}"
            found = core.list_namespaced_config_map(namespace, field_selector=named)
            return [cm for cm in found.items if (cm.data or {}).get("ca.crt") == ca]

        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
            wait_for(lambda namespace=namespace: published(namespace), what=namespace)
        core.create_namespace({"metadata": {"name": "e2e-rootca"}})
        (cm,) = wait_for(lambda: published("e2e-rootca"), what="the new namespace's ConfigMap")
        assert cm.metadata.annotations == {DESCRIPTION_KEY: DESCRIPTION}
        core.delete_namespaced_config_map(NAME, "e2e-rootca")
        wait_for(lambda: published("e2e-rootca"), what="the ConfigMap made again")
        core.patch_namespaced_config_map(NAME, "e2e-rootca", {"data": {"ca.crt": "changed"}})
        wait_for(lambda: published("e2e-rootca"), what="the ConfigMap reset")
        api.close()

    await asyncio.to_thread(scenario)
