"""Strategies of the workload kinds: Deployment, ReplicaSet, StatefulSet,
DaemonSet, Job and CronJob.

Defaults are the ones kubectl shows back (`kubectl get deploy -o yaml`):
one replica, RollingUpdate 25%/25%, ten revisions of history, and the pod
template's own defaults. Validation checks what apps/v1 insists on: a
selector that is required, valid, and matches the template's labels.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from kybernetes.api import cron, selectors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.podspec import validate_pod_spec
from kybernetes.apiserver.strategy import ResetStatus, Strategy, default_pod_spec

__all__ = [
    "ControllerRevisionStrategy",
    "CronJobStrategy",
    "DaemonSetStrategy",
    "DeploymentStrategy",
    "JobStrategy",
    "PodTemplateStrategy",
    "ReplicaSetStrategy",
    "ReplicationControllerStrategy",
    "StatefulSetStrategy",
]


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    return spec if isinstance(spec, dict) else {}


def _default_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec = template.setdefault("spec", {})
        if isinstance(pod_spec, dict):
            default_pod_spec(pod_spec)
        meta = template.get("metadata")
        if isinstance(meta, dict) and meta.get("creationTimestamp") is None:
            meta.pop("creationTimestamp", None)  # clients send null (kubectl-wire G8)


def _validate_template(spec: dict[str, Any], path: str) -> list[Cause]:
    """The template of `spec`, at `path` ("" when the template is at the root)."""
    template = spec.get("template")
    at = f"{path}.template" if path else "template"
    if not isinstance(template, dict):
        return [Cause(at, "FieldValueRequired", "Required value")]
    pod_spec = template.get("spec")
    pod_spec = pod_spec if isinstance(pod_spec, dict) else {}
    causes = validate_pod_spec(pod_spec, f"{at}.spec")
    if pod_spec.get("ephemeralContainers"):
        # Only a running pod gets them (pods/NAME/ephemeralcontainers), never its template.
        message = "Forbidden: ephemeral containers not allowed in pod template"
        causes.append(Cause(f"{at}.spec.ephemeralContainers", "FieldValueForbidden", message))
    return causes


def _go_map(labels: dict[str, Any]) -> str:
    """A label map as kube-apiserver prints it in a cause (Go's %#v of the map)."""
    pairs = ", ".join(
        f"{json.dumps(str(k))}:{json.dumps(str(v))}" for k, v in sorted(labels.items())
    )
    return f"map[string]string{{{pairs}}}"


def _validate_selector(spec: dict[str, Any], path: str) -> list[Cause]:
    """apps/v1: a non-empty selector that selects the template's labels."""
    raw = spec.get("selector")
    if not raw:
        return [Cause(f"{path}.selector", "FieldValueRequired", "Required value")]
    try:
        selector = selectors.label_selector_from_object(raw, field_path=f"{path}.selector")
    except selectors.SelectorError as err:
        return [Cause(f"{path}.selector", "FieldValueInvalid", str(err))]
    if selector.empty:
        return [Cause(f"{path}.selector", "FieldValueInvalid",
                      "Invalid value: empty selector is invalid for deployment")]  # fmt: skip
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector.matches(labels):
        return [Cause(f"{path}.template.metadata.labels", "FieldValueInvalid",
                      f"Invalid value: {_go_map(labels)}: `selector` does not match template "
                      "`labels`")]  # fmt: skip
    return []


def _validate_replicas(spec: dict[str, Any], path: str) -> list[Cause]:
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        message = f"Invalid value: {replicas}: must be greater than or equal to 0"
        return [Cause(f"{path}.replicas", "FieldValueInvalid", message)]
    return []


def _immutable_selector(new: Obj, old: Obj) -> list[Cause]:
    if (new.get("spec") or {}).get("selector") != (old.get("spec") or {}).get("selector"):
        return [Cause("spec.selector", "FieldValueInvalid",
                      "Invalid value: field is immutable")]  # fmt: skip
    return []


class _AppsStrategy(ResetStatus):
    """Selector-checked workloads of apps/v1."""

    status_writes_metadata = True

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        return (
            _validate_replicas(spec, "spec")
            + _validate_template(spec, "spec")
            + (_validate_selector(spec, "spec"))
        )

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        return self.validate(new) + _immutable_selector(new, old)


class DeploymentStrategy(_AppsStrategy):
    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            kind = strategy.setdefault("type", "RollingUpdate")
            if kind == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _default_template(spec)


class ReplicaSetStrategy(_AppsStrategy):
    zero_counts = ("replicas",)

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        spec.setdefault("replicas", 1)
        _default_template(spec)


class PodTemplateStrategy(Strategy):
    """core/v1 PodTemplate: a pod template kept on its own (no spec, no status),
    defaulted and checked as a workload's template is."""

    def default(self, obj: Obj) -> None:
        _default_template(obj)

    def validate(self, obj: Obj) -> list[Cause]:
        return _validate_template(obj, "")


class ReplicationControllerStrategy(ResetStatus):
    """core/v1 ReplicationController: an equality selector (a plain map) that
    defaults, with the object's labels, to the template's labels."""

    status_writes_metadata = True

    zero_counts = ("replicas",)

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        spec.setdefault("replicas", 1)
        template = spec.get("template")
        labels = ((template or {}).get("metadata") or {}).get("labels") if isinstance(
            template, dict) else None  # fmt: skip
        if labels and not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if labels and not meta.get("labels"):
            meta["labels"] = dict(labels)
        _default_template(spec)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        causes = _validate_replicas(spec, "spec") + _validate_template(spec, "spec")
        selector = spec.get("selector")
        if not selector or not isinstance(selector, dict):
            return [*causes, Cause("spec.selector", "FieldValueRequired", "Required value")]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selectors.label_selector_from_set(selector).matches(labels):
            causes.append(Cause("spec.template.metadata.labels", "FieldValueInvalid",
                                f"Invalid value: {_go_map(labels)}: selector does not match "
                                "template labels"))  # fmt: skip
        return causes


class StatefulSetStrategy(_AppsStrategy):
    zero_counts = ("replicas", "availableReplicas")

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        update = spec.setdefault("updateStrategy", {})
        rolling = isinstance(update, dict) and update.setdefault("type", "RollingUpdate")
        if rolling == "RollingUpdate":
            update.setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        _default_template(spec)


class DaemonSetStrategy(_AppsStrategy):
    zero_counts = (
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
    )

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        update = spec.setdefault("updateStrategy", {})
        kind = isinstance(update, dict) and update.setdefault("type", "RollingUpdate")
        if kind == "RollingUpdate":
            rolling = update.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        _default_template(spec)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        return _validate_template(spec, "spec") + _validate_selector(spec, "spec")


class ControllerRevisionStrategy(Strategy):
    """A ControllerRevision is a snapshot: its `data` never changes once written
    (apps' controllerrevision strategy); only its revision number moves on."""

    def validate(self, obj: Obj) -> list[Cause]:
        revision = obj.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
            message = f"Invalid value: {revision}: must be greater than or equal to 0"
            return [Cause("revision", "FieldValueInvalid", message)]
        if obj.get("data") is None:
            return [Cause("data", "FieldValueRequired", "Required value: data is mandatory")]
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(new)
        if new.get("data") != old.get("data"):
            causes.append(Cause("data", "FieldValueInvalid", "Invalid value: field is immutable"))
        return causes


def _default_job_spec(spec: dict[str, Any]) -> None:
    # Only a Job with neither set is a single-pod Job: parallelism alone makes a
    # work queue (completions stays unset), as SetDefaults_Job has it.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    spec.setdefault("podReplacementPolicy", policy)
    _default_template(spec)


def _job_restart_policy(spec: dict[str, Any], path: str) -> list[Cause]:
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        return [Cause(f"{path}.template.spec.restartPolicy", "FieldValueNotSupported",
                      f'Unsupported value: "{policy}": supported values: "OnFailure", '
                      '"Never"')]  # fmt: skip
    return []


class JobStrategy(ResetStatus):
    """Jobs get a generated selector on the controller-uid label, as in Kubernetes."""

    status_writes_metadata = True

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        template = spec.get("template")
        _default_job_spec(spec)
        if not spec.get("manualSelector") and "selector" not in spec and isinstance(template, dict):
            uid = obj["metadata"].get("uid") or str(uuid.uuid4())
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.setdefault("batch.kubernetes.io/controller-uid", uid)
            labels.setdefault("batch.kubernetes.io/job-name", obj["metadata"]["name"])
            labels.setdefault("controller-uid", uid)
            labels.setdefault("job-name", obj["metadata"]["name"])
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        # A Job without labels of its own takes its template's (SetDefaults_Job), so
        # `kubectl get jobs -l job-name=pi` finds it as in Kubernetes.
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if template_labels and not obj["metadata"].get("labels"):
            obj["metadata"]["labels"] = dict(template_labels)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        return _validate_template(spec, "spec") + _job_restart_policy(spec, "spec")

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(new) + _immutable_selector(new, old)
        if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
            causes.append(Cause("spec.template", "FieldValueInvalid",
                                "Invalid value: field is immutable"))  # fmt: skip
        return causes


def _validate_schedule(spec: dict[str, Any]) -> list[Cause]:
    """A schedule the CronJob controller can run, in a real zone (as validateCronJobSpec)."""
    schedule, zone = str(spec.get("schedule") or ""), spec.get("timeZone")
    causes = []
    words = schedule.split(None, 1)
    legacy = bool(words) and words[0].startswith(("TZ=", "CRON_TZ="))
    try:
        cron.parse(words[1] if legacy and len(words) > 1 else schedule)
    except cron.CronError as err:
        causes.append(Cause("spec.schedule", "FieldValueInvalid",
                            f'Invalid value: "{schedule}": {err}'))  # fmt: skip
    if "TZ" in schedule:
        causes.append(Cause("spec.schedule", "FieldValueInvalid",
                            f'Invalid value: "{schedule}": cannot use TZ or CRON_TZ in schedule, '
                            "use timeZone field instead"))  # fmt: skip
    if zone is not None:
        message = ""
        if not zone:
            message = "timeZone must be nil or non-empty string"
        elif zone == "Local":
            message = ("timeZone must be an explicit time zone as defined in "
                       "https://www.iana.org/time-zones")  # fmt: skip
        else:
            try:
                cron.load_zone(zone)
            except cron.CronError as err:
                message = str(err)
        if message:
            causes.append(Cause("spec.timeZone", "FieldValueInvalid",
                                f'Invalid value: "{zone}": {message}'))  # fmt: skip
    return causes


class CronJobStrategy(ResetStatus):
    status_writes_metadata = True

    def default(self, obj: Obj) -> None:
        spec = _spec(obj)
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job = (spec.get("jobTemplate") or {}).get("spec")
        if isinstance(job, dict):
            _default_job_spec(job)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        causes = []
        if not spec.get("schedule"):
            causes.append(Cause("spec.schedule", "FieldValueRequired", "Required value"))
        else:
            causes += _validate_schedule(spec)
        job = (spec.get("jobTemplate") or {}).get("spec")
        if not isinstance(job, dict):
            return [*causes, Cause("spec.jobTemplate.spec", "FieldValueRequired", "Required value")]
        return (
            causes
            + _validate_template(job, "spec.jobTemplate.spec")
            + _job_restart_policy(job, "spec.jobTemplate.spec")
        )
