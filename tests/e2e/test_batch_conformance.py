"""Jobs and CronJobs as the conformance tests drive them, with the official
Python client against a whole control plane on simulated nodes (checklist
J02, J04, J06, J08, J19)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Plane, wait_for

Obj = dict[str, Any]


def job(name: str, **spec: Any) -> Obj:
    pod = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
    return {"metadata": {"name": name, "labels": {"e2e": name}},
            "spec": {"template": {"spec": pod}, **spec}}  # fmt: skip


async def test_job_status_active_pods_and_deletion(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job("default", job("j", parallelism=2, completions=5))

        def active(n: int) -> Callable[[], bool]:
            def check() -> bool:
                status = batch.read_namespaced_job("j", "default").status
                return status.active == n and status.ready == n

            return check

        # J06: as many active pods as the parallelism.
        wait_for(active(2), what="two active pods")
        pods = core.list_namespaced_pod("default", label_selector="job-name=j").items
        assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        # J04: the status subresource, replaced and patched, then read.
        j = batch.read_namespaced_job_status("j", "default")
        start = j.status.start_time
        assert start is not None
        j.status.start_time = start.replace(year=start.year - 1)
        batch.replace_namespaced_job_status("j", "default", j)
        read = batch.read_namespaced_job_status("j", "default")
        assert read.status.start_time.year == start.year - 1
        batch.patch_namespaced_job_status(
            "j", "default", {"metadata": {"annotations": {"patchedstatus": "true"}},
                             "status": {"startTime": start.isoformat().replace("+00:00", "Z")}},
        )  # fmt: skip
        read = batch.read_namespaced_job("j", "default")
        assert read.status.start_time == start
        assert read.metadata.annotations["patchedstatus"] == "true"
        # J06: deleted in the background, its pods go with it.
        batch.delete_namespaced_job("j", "default", propagation_policy="Background")
        wait_for(lambda: not core.list_namespaced_pod("default", label_selector="job-name=j")
                 .items, what="the job's pods deleted")  # fmt: skip
        api.close()

    await asyncio.to_thread(scenario)


async def test_suspended_job_lifecycle(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job("default", job("s", suspend=True, parallelism=2))
        # J08: a suspended Job runs nothing; it is patched, replaced, listed, deleted.
        wait_for(lambda: any(c.type == "Suspended" for c in
                             batch.read_namespaced_job("s", "default").status.conditions or []),
                 what="the Suspended condition")  # fmt: skip
        assert core.list_namespaced_pod("default", label_selector="job-name=s").items == []
        batch.patch_namespaced_job("s", "default", {"metadata": {"labels": {"patched": "yes"}}})
        s = batch.read_namespaced_job("s", "default")
        assert s.metadata.labels["patched"] == "yes" and s.spec.suspend
        s.metadata.annotations = {"updated": "yes"}
        batch.replace_namespaced_job("s", "default", s)
        assert batch.read_namespaced_job("s", "default").metadata.annotations["updated"] == "yes"
        listed = batch.list_job_for_all_namespaces(label_selector="e2e=s")
        assert [j.metadata.name for j in listed.items] == ["s"]
        batch.delete_collection_namespaced_job("default", label_selector="e2e=s")
        # Jobs are orphaning by default: gone once the collector has let go.
        wait_for(lambda: not batch.list_job_for_all_namespaces(label_selector="e2e=s").items,
                 what="the jobs deleted")  # fmt: skip
        api.close()

    await asyncio.to_thread(scenario)


async def test_cronjob_api_operations(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        batch = client.BatchV1Api(api)
        listed = batch.list_namespaced_cron_job("default")
        events = watch.Watch().stream(
            batch.list_namespaced_cron_job, "default", label_selector="e2e=cj",
            resource_version=listed.metadata.resource_version, timeout_seconds=20,
        )  # fmt: skip
        spec = {"schedule": "*/1 * * * ?", "suspend": True,
                "jobTemplate": {"spec": job("x")["spec"]}}  # fmt: skip
        for name in ("cj1", "cj2"):
            batch.create_namespaced_cron_job(
                "default", {"metadata": {"name": name, "labels": {"e2e": "cj"}}, "spec": spec}
            )
        # J19: get, list (namespaced and all), watch, patch, replace, the status
        # subresource, delete and delete by collection.
        assert batch.read_namespaced_cron_job("cj1", "default").spec.suspend
        found = batch.list_cron_job_for_all_namespaces(label_selector="e2e=cj")
        assert sorted(c.metadata.name for c in found.items) == ["cj1", "cj2"]
        assert [next(events)["type"] for _ in range(2)] == ["ADDED", "ADDED"]
        batch.patch_namespaced_cron_job("cj1", "default", {"metadata": {"annotations": {"p": "1"}}})
        assert next(events)["object"].metadata.annotations["p"] == "1"
        cj = batch.read_namespaced_cron_job("cj1", "default")
        cj.metadata.annotations["u"] = "1"
        batch.replace_namespaced_cron_job("cj1", "default", cj)
        assert next(events)["object"].metadata.annotations["u"] == "1"
        now = client.V1CronJobStatus(last_schedule_time=cj.metadata.creation_timestamp)
        status = batch.read_namespaced_cron_job_status("cj1", "default")
        status.status = now
        batch.replace_namespaced_cron_job_status("cj1", "default", status)
        read = batch.read_namespaced_cron_job_status("cj1", "default")
        assert read.status.last_schedule_time == cj.metadata.creation_timestamp
        batch.patch_namespaced_cron_job_status(
            "cj1", "default", {"status": {"lastScheduleTime": "2026-01-02T03:04:05Z"}}
        )
        read = batch.read_namespaced_cron_job("cj1", "default")
        assert read.status.last_schedule_time.isoformat() == "2026-01-02T03:04:05+00:00"
        batch.delete_namespaced_cron_job("cj1", "default")
        deleted = next(e for e in events if e["type"] == "DELETED")
        assert deleted["object"].metadata.name == "cj1"
        batch.delete_collection_namespaced_cron_job("default", label_selector="e2e=cj")
        assert batch.list_namespaced_cron_job("default", label_selector="e2e=cj").items == []
        api.close()

    await asyncio.to_thread(scenario)


@pytest.mark.parametrize("action", ["Ignore", "Count"])
async def test_an_evicted_pod_fails_and_an_ignore_rule_does_not_count_it(
    plane: Plane, action: str
) -> None:
    from kubernetes import client, config

    from kybernetes.simnode.objects import EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        body = job("ev", completions=2, parallelism=2, completionMode="Indexed", backoffLimit=0,
                   podFailurePolicy={"rules": [{"action": action, "onPodConditions": [
                       {"type": "DisruptionTarget"}]}]})  # fmt: skip
        body["spec"]["template"]["metadata"] = {"annotations": {
            EXIT_CODE_ANNOTATION: "0", RUN_SECONDS_ANNOTATION: "2"}}  # fmt: skip
        batch.create_namespaced_job("default", body)

        def running() -> list[Any]:
            pods = core.list_namespaced_pod("default", label_selector="job-name=ev").items
            return [p for p in pods if p.status.phase == "Running"] if len(pods) == 2 else []

        # J02: a pod evicted (condition DisruptionTarget) is killed and fails; an
        # Ignore rule leaves it uncounted, so the Job (backoffLimit 0) runs its
        # index again and completes; counted, it fails the Job. (Upstream evicts
        # every pod; the back-off after two failures at once, 20 s, kube waits too.)
        first = wait_for(running, what="two running pods")
        for pod in first[:1]:
            eviction = client.V1Eviction(metadata=client.V1ObjectMeta(
                name=pod.metadata.name, namespace="default"))  # fmt: skip
            core.create_namespaced_pod_eviction(pod.metadata.name, "default", eviction)

        def finished() -> Any:
            j = batch.read_namespaced_job("ev", "default")
            done = {c.type for c in j.status.conditions or [] if c.status == "True"}
            return j if done & {"Complete", "Failed"} else None

        j = wait_for(finished, what="the job to finish")
        done = {c.type for c in j.status.conditions if c.status == "True"}
        if action == "Ignore":
            assert "Complete" in done and j.status.succeeded == 2 and not j.status.failed
        else:
            # The evicted pod, and the other one, killed as the Job failed.
            assert "Failed" in done and j.status.failed == 2
        api.close()

    await asyncio.to_thread(scenario)
