"""Events (core/v1 and events.k8s.io/v1) and Leases through the official Python
client, as the conformance tests drive them (checklist E01-E05)."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

from tests.apiserver.conftest import Cluster


def _now(microsecond: int = 0) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=microsecond)


async def test_events_k8s_io_lifecycle(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        events = client.EventsV1Api(api_client)

        def event(name: str) -> Any:
            return client.EventsV1Event(
                metadata=client.V1ObjectMeta(name=name, labels={"test-event": "e2e"}),
                event_time=_now(123456), reason="Test", type="Normal", action="Do",
                note="This is a test event", reporting_controller="test-controller",
                reporting_instance="test-node",
                regarding=client.V1ObjectReference(kind="Namespace", name="default"),
            )  # fmt: skip

        # E01: a list of events, then deleted as a collection.
        for i in range(3):
            events.create_namespaced_event("default", event(f"e{i}"))
        assert len(events.list_namespaced_event("default", label_selector="test-event").items) == 3
        assert len(events.list_event_for_all_namespaces(label_selector="test-event").items) == 3
        events.delete_collection_namespaced_event("default", label_selector="test-event=e2e")
        assert events.list_namespaced_event("default", label_selector="test-event").items == []
        # E02: one event: get, patch its note, update its series, delete.
        made = events.create_namespaced_event("default", event("single"))
        got = events.read_namespaced_event("single", "default")
        assert got.event_time == made.event_time and got.event_time.microsecond == 123456
        patched = events.patch_namespaced_event("single", "default", {"note": "patched"})
        assert patched.note == "patched"
        patched.series = client.EventsV1EventSeries(count=100, last_observed_time=_now())
        updated = events.replace_namespaced_event("single", "default", patched)
        assert updated.series.count == 100
        events.delete_namespaced_event("single", "default")
        assert events.list_namespaced_event("default").items == []
        api_client.close()

    await asyncio.to_thread(scenario)


async def test_core_events_lifecycle(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        for i in range(3):
            core.create_namespaced_event("default", client.CoreV1Event(
                metadata=client.V1ObjectMeta(name=f"c{i}", labels={"testevent-set": "true"}),
                involved_object=client.V1ObjectReference(namespace="default"),
                reason="Test", message="This is a test event", type="Normal", count=1,
            ))  # fmt: skip
        # E04: listed across namespaces by label, patched, its series updated, deleted.
        listed = core.list_event_for_all_namespaces(label_selector="testevent-set=true")
        assert len(listed.items) == 3
        patched = core.patch_namespaced_event("c0", "default", {"message": "patched"})
        assert patched.message == "patched"
        patched.series = client.CoreV1EventSeries(count=100, last_observed_time=_now())
        assert core.replace_namespaced_event("c0", "default", patched).series.count == 100
        core.delete_namespaced_event("c0", "default")
        # E03: the rest deleted as a collection by label.
        core.delete_collection_namespaced_event("default", label_selector="testevent-set=true")
        assert core.list_namespaced_event("default", label_selector="testevent-set").items == []
        api_client.close()

    await asyncio.to_thread(scenario)
    assert "No resources found" in await cluster.kubectl(
        "get", "events", "-A", "-l", "testevent-set=true", check=False
    )


async def test_lease_api(cluster: Cluster) -> None:
    # E05: every write round-trips the spec, times to the microsecond.
    from kubernetes import client, config

    def scenario() -> Any:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        leases = client.CoordinationV1Api(api_client)
        first = _now(123456)
        spec = client.V1LeaseSpec(
            holder_identity="holder", lease_duration_seconds=30, acquire_time=first,
            renew_time=first, lease_transitions=0,
        )  # fmt: skip
        meta = client.V1ObjectMeta(name="lease", labels={"lease": "e2e"})
        made = leases.create_namespaced_lease("default", client.V1Lease(metadata=meta, spec=spec))
        assert made.spec == spec
        got = leases.read_namespaced_lease("lease", "default")
        got.spec.holder_identity, got.spec.renew_time = "holder2", _now(654321)
        got.spec.lease_transitions = 1
        updated = leases.replace_namespaced_lease("lease", "default", got)
        assert updated.spec == got.spec
        patched = leases.patch_namespaced_lease(
            "lease", "default", {"spec": {"holderIdentity": "holder3", "leaseTransitions": 2}}
        )
        assert patched.spec.holder_identity == "holder3"
        assert patched.spec.renew_time == got.spec.renew_time
        meta2 = client.V1ObjectMeta(name="lease2", labels={"lease": "e2e"})
        leases.create_namespaced_lease("default", client.V1Lease(metadata=meta2, spec=spec))
        assert len(leases.list_lease_for_all_namespaces(label_selector="lease=e2e").items) == 2
        leases.delete_collection_namespaced_lease("default", label_selector="lease=e2e")
        assert leases.list_namespaced_lease("default").items == []
        leases.create_namespaced_lease("default", client.V1Lease(metadata=meta, spec=spec))
        leases.delete_namespaced_lease("lease", "default")
        try:
            leases.read_namespaced_lease("lease", "default")
        except client.ApiException as err:
            status = err.status
        api_client.close()
        return status

    assert await asyncio.to_thread(scenario) == 404
    assert json.loads(await cluster.kubectl("get", "leases", "-o", "json"))["items"] == []


async def test_the_two_event_apis_serve_the_same_events(cluster: Cluster) -> None:
    """As in kube-apiserver, an events.k8s.io/v1 Event is a core/v1 Event under
    other field names: written through one, it is read, watched, selected and
    deleted through the other (a namespace's deletion empties both)."""
    from kubernetes import client, config, watch

    def scenario() -> None:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core, events = client.CoreV1Api(api_client), client.EventsV1Api(api_client)
        start = core.list_namespaced_event("default").metadata.resource_version
        events.create_namespaced_event("default", client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="new-api"), event_time=_now(), reason="Pulled",
            type="Normal", action="Pull", note="pulled it", reporting_controller="kubelet",
            reporting_instance="node-1",
            regarding=client.V1ObjectReference(kind="Pod", name="web", namespace="default"),
        ))  # fmt: skip
        # (With an eventTime: the Python client cannot read an events.k8s.io Event
        # without one, from any cluster.)
        core.create_namespaced_event("default", client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="old-api"), reason="Started", type="Normal",
            event_time=_now(),
            message="started it", source=client.V1EventSource(component="kubelet"),
            involved_object=client.V1ObjectReference(kind="Pod", name="web", namespace="default"),
        ))  # fmt: skip
        seen = core.read_namespaced_event("new-api", "default")
        assert (seen.message, seen.involved_object.name) == ("pulled it", "web")
        assert seen.reporting_component == "kubelet"
        seen = events.read_namespaced_event("old-api", "default")
        assert (seen.note, seen.regarding.name, seen.deprecated_source.component) == (
            "started it", "web", "kubelet")  # fmt: skip
        # Field selectors in each API's own names.
        listed = events.list_namespaced_event("default", field_selector="regarding.name=web")
        assert sorted(e.metadata.name for e in listed.items) == ["new-api", "old-api"]
        listed = core.list_namespaced_event("default", field_selector="involvedObject.name=web")
        assert len(listed.items) == 2
        stream = watch.Watch().stream(events.list_namespaced_event, "default",
                                      resource_version=start, timeout_seconds=2)  # fmt: skip
        watched = {e["object"].metadata.name: e["object"] for e in stream}
        assert watched["old-api"].note == "started it"
        events.delete_namespaced_event("old-api", "default")
        assert [e.metadata.name for e in core.list_namespaced_event("default").items] == ["new-api"]
        api_client.close()

    await asyncio.to_thread(scenario)
