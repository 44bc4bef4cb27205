"""Events as client-go's correlator writes them: deduplicated, combined when
similar, and cut short when one source floods one object."""

from __future__ import annotations

from typing import Any

from kybernetes.client.eventcorrelation import AGGREGATE_PREFIX, EventAggregator, SpamFilter
from kybernetes.client.events import EventRecorder, event_for
from kybernetes.client.rest import ApiClient
from tests.apiserver.conftest import Cluster

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default", "uid": "u1"}}  # fmt: skip


def _event(message: str, *, reason: str = "FailedCreate", name: str = "web") -> dict[str, Any]:
    obj = {**POD, "metadata": {**POD["metadata"], "name": name}}
    return event_for(obj, type_="Warning", reason=reason, message=message, component="ctl")


def test_the_tenth_different_message_starts_one_combined_event() -> None:
    aggregator = EventAggregator()
    written = [aggregator.aggregate(_event(f"pod {n} refused"), float(n)) for n in range(12)]
    assert all(key is None for _, key in written[:9])
    assert [e["message"] for e, _ in written[:2]] == ["pod 0 refused", "pod 1 refused"]
    combined = written[9:]
    assert {key for _, key in combined} != {None} and len({key for _, key in combined}) == 1
    assert [e["message"] for e, _ in combined] == [
        f"{AGGREGATE_PREFIX}pod {n} refused" for n in (9, 10, 11)
    ]


def test_similar_means_same_object_source_type_and_reason() -> None:
    aggregator = EventAggregator()
    for n in range(9):
        aggregator.aggregate(_event(f"m{n}"), 0.0)
    # Another reason or another object does not join the group...
    assert aggregator.aggregate(_event("x", reason="Other"), 1.0)[1] is None
    assert aggregator.aggregate(_event("x", name="db"), 1.0)[1] is None
    # ... and ten minutes of quiet start it afresh.
    assert aggregator.aggregate(_event("late"), 1000.0)[1] is None


def test_one_source_may_write_25_events_about_an_object_then_one_per_5_minutes() -> None:
    spam = SpamFilter()
    assert all(spam.allow(_event(f"m{n}"), 0.0) for n in range(25))
    assert not spam.allow(_event("26th"), 1.0)
    assert spam.allow(_event("other object", name="db"), 1.0)
    assert spam.allow(_event("refilled"), 301.0)
    assert not spam.allow(_event("again"), 302.0)


async def test_recorder_writes_nine_events_then_one_combined_event(cluster: Cluster) -> None:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        recorder = EventRecorder(client, "job-controller")
        for n in range(14):
            recorder.record(POD, "Warning", "FailedCreate", f'pods "web-{n}" is forbidden')
        await recorder.flush()
        events = (await client.get("/api/v1/namespaces/default/events"))["items"]
    messages = sorted((e["message"], e["count"]) for e in events)
    assert len(messages) == 10
    combined = [m for m in messages if m[0].startswith(AGGREGATE_PREFIX)]
    # The combined Event counts the 10th to the 14th and shows the latest message.
    assert combined == [(f'{AGGREGATE_PREFIX}pods "web-13" is forbidden', 5)]
