"""Workload defaults and validation, as kubectl shows them back."""

from __future__ import annotations

import copy
import json

from tests.apiserver.conftest import Cluster
from tests.apiserver.test_kubectl_basics import DEPLOYMENT


async def test_deployment_defaults(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
    deploy = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    spec = deploy["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert "creationTimestamp" not in spec["template"].get("metadata", {})


async def test_selector_must_match_template_labels(cluster: Cluster) -> None:
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert 'The Deployment "web" is invalid' in out
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    shown = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    assert (
        f"spec.template.metadata.labels: Invalid value: map[string]string{{{shown}}}: "
        "`selector` does not match template `labels`"
    ) in out


async def test_deployment_selector_is_immutable(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
    changed = copy.deepcopy(DEPLOYMENT)
    changed["spec"]["selector"]["matchLabels"]["tier"] = "x"
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(changed), check=False)
    assert "spec.selector: Invalid value: field is immutable" in out


async def test_job_gets_a_generated_selector(cluster: Cluster) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "pi", "image": "perl"}]}}},
    }  # fmt: skip
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    got = json.loads(await cluster.kubectl("get", "job", "pi", "-o", "json"))
    uid = got["metadata"]["uid"]
    assert got["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = got["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "pi"
    assert got["spec"]["backoffLimit"] == 6
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    job["metadata"]["name"] = "bad"
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(job), check=False)
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Always"' in out


async def test_a_new_workload_reads_the_status_of_its_zero_value(cluster: Cluster) -> None:
    # kube-apiserver prints a new object's status as its Go zero value: the
    # fields without omitempty are 0, the official client's status is no None.
    labels = {"matchLabels": {"app": "web"}}
    template = DEPLOYMENT["spec"]["template"]
    kinds = {
        "Deployment": ({}, {"selector": labels}),
        "ReplicaSet": ({"replicas": 0}, {"selector": labels}),
        "StatefulSet": ({"replicas": 0, "availableReplicas": 0},
                        {"selector": labels, "serviceName": "web"}),
        "DaemonSet": ({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                       "desiredNumberScheduled": 0, "numberReady": 0}, {"selector": labels}),
    }  # fmt: skip
    for kind, (status, spec) in kinds.items():
        obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "z"},
               "spec": {**spec, "template": template},
               "status": {"observedGeneration": 7}}  # fmt: skip
        out = await cluster.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(obj))
        assert json.loads(out)["status"] == status, kind
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "z"},
          "spec": {"template": template}}  # fmt: skip
    out = await cluster.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(rc))
    assert json.loads(out)["status"] == {"replicas": 0}


async def test_a_workloads_status_write_may_change_labels_and_annotations(
    cluster: Cluster,
) -> None:
    # As jobStatusStrategy and its siblings have it: only the spec is kept from
    # the stored object, so the conformance test of jobs/status can patch an
    # annotation with the status; the spec and server-set metadata stay.
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
    patch = {"metadata": {"annotations": {"patchedstatus": "true"}, "labels": {"x": "y"},
                          "generation": 9},
             "spec": {"replicas": 7}, "status": {"observedGeneration": 1}}  # fmt: skip
    await cluster.kubectl("patch", "deploy", "web", "--subresource=status", "--type=merge",
                          "-p", json.dumps(patch))  # fmt: skip
    deploy = json.loads(await cluster.kubectl("get", "deploy", "web", "-o", "json"))
    assert deploy["metadata"]["annotations"]["patchedstatus"] == "true"
    assert deploy["metadata"]["labels"]["x"] == "y"
    assert deploy["metadata"]["generation"] == 1
    assert deploy["spec"]["replicas"] == DEPLOYMENT["spec"]["replicas"]
    assert deploy["status"] == {"observedGeneration": 1}
