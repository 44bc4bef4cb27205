"""Per-kind behaviour over the generic REST store (STYLE.md habit 4).

A `Strategy` supplies defaulting, what a create resets, validation of a new
object and of an update; the generic REST code fixes the order they run in.
Adding a kind's rules is one class here (or in a module of its own) and one
line in `strategies.STRATEGIES`.
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.podspec import pod_update_causes, validate_pod_spec
from kybernetes.apiserver.service_types import drop_type_dependent_fields, external_name_causes
from kybernetes.apiserver.service_validation import default_session_affinity, service_spec_causes

__all__ = [
    "IngressStrategy",
    "NamespaceStrategy",
    "PodStrategy",
    "ResetStatus",
    "ServiceStrategy",
    "Strategy",
    "default_pod_spec",
    "validate_pod",
]


class Strategy:
    """The default: no defaults, no checks beyond the object metadata."""

    # Whether a write to the status subresource also changes the metadata it
    # sends (labels, annotations, ...), as for a kind whose status strategy in
    # kube-apiserver resets only the spec. Off, a status write changes the status alone.
    status_writes_metadata = False

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset what a client may not set on create (status, for most kinds)."""

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep what an update of the main resource may not change."""

    def default(self, obj: Obj) -> None:
        """Fill in defaults, as Kubernetes' defaulting functions do."""

    def validate(self, obj: Obj) -> list[Cause]:
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        return self.validate(new)


class ResetStatus(Strategy):
    """A kind whose status only its status subresource writes: a create starts
    from the status of the kind's zero value, as kube-apiserver's decode of an
    empty status prints it (its fields without omitempty: a new ReplicaSet
    reads `status: {replicas: 0}`, a Deployment `status: {}`)."""

    zero_counts: tuple[str, ...] = ()  # the status counters without omitempty

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = dict.fromkeys(self.zero_counts, 0)


class NamespaceStrategy(Strategy):
    # namespaceStatusStrategy keeps everything but the spec: the conformance
    # test patches namespaces/status with an annotation and expects it stored.
    status_writes_metadata = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        # Required on create only (not a default): the namespace controller
        # removes it, through namespaces/NAME/finalize, once the namespace is empty.
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        finalizers = spec.get("finalizers")
        if not isinstance(finalizers, list):
            finalizers = spec["finalizers"] = []
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        # spec.finalizers changes only through the finalize subresource.
        finalizers = (old.get("spec") or {}).get("finalizers")
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        if finalizers is None:
            spec.pop("finalizers", None)
        else:
            spec["finalizers"] = list(finalizers)

    def default(self, obj: Obj) -> None:
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("finalizers") == []:
            del spec["finalizers"]  # as Go's omitempty: an emptied list is no list

    def validate(self, obj: Obj) -> list[Cause]:
        causes = []
        finalizers = (obj.get("spec") or {}).get("finalizers") or []
        for i, name in enumerate(finalizers):
            # validateKubeFinalizerName: unqualified names are reserved to Kubernetes.
            if not isinstance(name, str) or ("/" not in name and name not in _STANDARD_FINALIZERS):
                causes.append(Cause(f"spec.finalizers[{i}]", "FieldValueInvalid",
                                    f'Invalid value: "{name}": name is neither a standard '
                                    "finalizer name nor is it fully qualified"))  # fmt: skip
        return causes


_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _image_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_handler(handler: Any) -> None:
    """An httpGet's path and scheme, a grpc's service, as kube-apiserver defaults them.

    kubectl describe reads them without a nil check (a grpc probe without its
    service made it panic).
    """
    if not isinstance(handler, dict):
        return
    if isinstance(handler.get("httpGet"), dict):
        handler["httpGet"].setdefault("path", "/")
        handler["httpGet"].setdefault("scheme", "HTTP")
    if isinstance(handler.get("grpc"), dict):
        handler["grpc"].setdefault("service", "")


def _default_probes(container: dict[str, Any]) -> None:
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if isinstance(probe, dict):
            for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                                 ("successThreshold", 1), ("failureThreshold", 3)):  # fmt: skip
                if not probe.get(field):  # 0 means unset, as in the Go types
                    probe[field] = value
            _default_handler(probe)
    for hook in (container.get("lifecycle") or {}).values():
        _default_handler(hook)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Pod spec defaults, as in a pod template or a pod (kubectl shows them)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    # Ephemeral containers get a container's defaults too (SetDefaults_EphemeralContainer).
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image") or "")
            container.setdefault("imagePullPolicy", _image_pull_policy(image))
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            _default_probes(container)
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


class PodStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pod_spec(spec)
            # The deprecated serviceAccount mirrors serviceAccountName (kube's v1 conversion).
            account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
            spec["serviceAccountName"] = spec["serviceAccount"] = account
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("priority", 0)

    def validate(self, obj: Obj) -> list[Cause]:
        causes = validate_pod(obj)
        if (obj.get("spec") or {}).get("ephemeralContainers"):
            # They are added to a running pod, through pods/NAME/ephemeralcontainers only.
            causes.append(Cause("spec.ephemeralContainers", "FieldValueForbidden",
                                "Forbidden: cannot be set on create"))  # fmt: skip
        return causes

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        return validate_pod(new) + pod_update_causes(new, old)


def validate_pod(obj: Obj) -> list[Cause]:
    """A pod's spec, as every write of a pod checks it (create, update, subresources)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [Cause("spec", "FieldValueRequired", "Required value")]
    return validate_pod_spec(spec, "spec")


_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


class ServiceStrategy(ResetStatus):
    # kube-apiserver's service status strategy resets only the spec: the conformance
    # test patches services/status with an annotation and expects it stored.
    status_writes_metadata = True

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        drop_type_dependent_fields(new, old)

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        kind = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        default_session_affinity(spec)
        if kind != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if kind in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                # Unset, or 0 as a protobuf body says unset, means "same as port".
                if port.get("targetPort") in (None, 0, "") and isinstance(port.get("port"), int):
                    port["targetPort"] = port["port"]
        # A Go struct is never left out: every Service reads `status: {loadBalancer: {}}`.
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("loadBalancer", {})

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        causes: list[Cause] = []
        kind = spec.get("type")
        if kind not in _SERVICE_TYPES:
            supported = ", ".join(f'"{t}"' for t in _SERVICE_TYPES)
            causes.append(
                Cause(
                    "spec.type",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{kind}": supported values: {supported}',
                )
            )
        ports = spec.get("ports") or []
        headless = spec.get("clusterIP") == "None"
        if not ports and kind != "ExternalName" and not headless:
            causes.append(Cause("spec.ports", "FieldValueRequired", "Required value"))
        names: set[str] = set()
        for i, port in enumerate(ports):
            path = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append(Cause(path, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            number = port.get("port")
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(
                    Cause(
                        f"{path}.port",
                        "FieldValueInvalid",
                        f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                    )
                )
            name = port.get("name") or ""
            if len(ports) > 1 and not name:
                causes.append(Cause(f"{path}.name", "FieldValueRequired", "Required value"))
            if name and name in names:
                causes.append(
                    Cause(f"{path}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"')
                )
            names.add(name)
            if port.get("protocol") not in ("TCP", "UDP", "SCTP"):
                causes.append(
                    Cause(
                        f"{path}.protocol",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{port.get("protocol")}": supported '
                        'values: "SCTP", "TCP", "UDP"',
                    )
                )
        if kind == "ExternalName" and not spec.get("externalName"):
            causes.append(Cause("spec.externalName", "FieldValueRequired", "Required value"))
        return causes + external_name_causes(spec) + service_spec_causes(spec)  # fmt: skip


class IngressStrategy(ResetStatus):
    """A new Ingress starts without a status, which only ingresses/status writes; that
    write may also change the metadata it sends (kube's ingress status strategy resets
    only the spec, and the conformance test's status patch carries an annotation)."""

    status_writes_metadata = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}
