"""Columns of the apps/v1 workload kinds.

The four kinds print their replica counts differently on purpose, as the
real server does: Deployments and StatefulSets a READY `ready/desired`
string, ReplicaSets and DaemonSets separate integer cells. A missing
`spec.replicas` is shown as 1, the value the server would have defaulted.
"""

from __future__ import annotations

from kybernetes.api.selectors import SelectorError
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import (
    AGE,
    NAME,
    Cell,
    Column,
    containers_cells,
    format_label_selector,
    format_labels,
    get,
    selector_string,
)

__all__ = ["COLUMNS"]


def _desired(obj: Obj) -> int:
    return int(get(obj, "spec", "replicas", default=1))


def _status(field: str) -> Cell:
    return lambda obj: int(get(obj, "status", field, default=0))


def _ready_of_desired(obj: Obj) -> str:
    return f"{int(get(obj, 'status', 'readyReplicas', default=0))}/{_desired(obj)}"


def _template_containers(obj: Obj) -> tuple[str, str]:
    return containers_cells(get(obj, "spec", "template", "spec", "containers", default=[]))


def _own_template_containers(obj: Obj) -> tuple[str, str]:
    return containers_cells(get(obj, "template", "spec", "containers", default=[]))


def _deployment_selector(obj: Obj) -> str:
    # Deployments print the selector bare: "" when empty, where other kinds print <none>.
    try:
        return selector_string(get(obj, "spec", "selector"))
    except SelectorError:
        return "<invalid>"


CONTAINERS = Column(
    "Containers",
    lambda o: _template_containers(o)[0],
    priority=1,
    description="Names of the template's containers.",
)
IMAGES = Column(
    "Images",
    lambda o: _template_containers(o)[1],
    priority=1,
    description="Images of the template's containers.",
)
SELECTOR = Column(
    "Selector",
    lambda o: format_label_selector(get(o, "spec", "selector")),
    priority=1,
    description="The label selector of the pods.",
)


def _revision_controller(obj: Obj) -> str:
    """`daemonset.apps/fluentd`: the controller as kind.group/name, <none> when orphaned."""
    for ref in get(obj, "metadata", "ownerReferences", default=None) or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            kind = f"{kind}.{group}" if group else kind
            return f"{kind}/{ref.get('name', '')}"
    return "<none>"


COLUMNS = {
    ("apps", "Deployment"): [
        NAME,
        Column("Ready", _ready_of_desired, description="Ready pods out of the desired count."),
        Column("Up-to-date", _status("updatedReplicas"),
               description="Pods running the current template."),
        Column("Available", _status("availableReplicas"),
               description="Pods ready for at least minReadySeconds."),
        AGE, CONTAINERS, IMAGES,
        Column("Selector", _deployment_selector, priority=1,
               description="The label selector of the pods."),
    ],
    ("apps", "ReplicaSet"): [
        NAME,
        Column("Desired", _desired, type="integer",
               description="The desired number of pods."),
        Column("Current", _status("replicas"), type="integer",
               description="The pods the set has now."),
        Column("Ready", _status("readyReplicas"), type="integer",
               description="The pods that are ready."),
        AGE, CONTAINERS, IMAGES, SELECTOR,
    ],
    # kube-apiserver prints a PodTemplate without an age.
    ("", "PodTemplate"): [
        NAME,
        Column("Containers", lambda o: _own_template_containers(o)[0],
               description="Names of the template's containers."),
        Column("Images", lambda o: _own_template_containers(o)[1],
               description="Images of the template's containers."),
        Column("Pod Labels", lambda o: format_labels(get(o, "template", "metadata", "labels")),
               description="The labels of the template's pods."),
    ],
    ("", "ReplicationController"): [
        NAME,
        Column("Desired", _desired, type="integer",
               description="The desired number of pods."),
        Column("Current", _status("replicas"), type="integer",
               description="The pods the controller has now."),
        Column("Ready", _status("readyReplicas"), type="integer",
               description="The pods that are ready."),
        AGE, CONTAINERS, IMAGES,
        # A plain map, printed as labels are: <none> when empty.
        Column("Selector", lambda o: format_labels(get(o, "spec", "selector")), priority=1,
               description="The labels of the pods."),
    ],
    ("apps", "StatefulSet"): [
        NAME,
        Column("Ready", _ready_of_desired, description="Ready pods out of the desired count."),
        AGE, CONTAINERS, IMAGES,
    ],
    ("apps", "DaemonSet"): [
        NAME,
        Column("Desired", _status("desiredNumberScheduled"), type="integer",
               description="Nodes that should run the daemon pod."),
        Column("Current", _status("currentNumberScheduled"), type="integer",
               description="Nodes that run at least one daemon pod."),
        Column("Ready", _status("numberReady"), type="integer",
               description="Nodes whose daemon pod is ready."),
        Column("Up-to-date", _status("updatedNumberScheduled"), type="integer",
               description="Nodes that run the current template."),
        Column("Available", _status("numberAvailable"), type="integer",
               description="Nodes whose daemon pod is available."),
        Column("Node Selector", lambda o: format_labels(
            get(o, "spec", "template", "spec", "nodeSelector")),
               description="The template's node selector."),
        AGE, CONTAINERS, IMAGES, SELECTOR,
    ],
    ("apps", "ControllerRevision"): [
        NAME,
        Column("Controller", _revision_controller,
               description="The object whose history this revision is."),
        Column("Revision", lambda o: int(get(o, "revision", default=0)), type="integer",
               description="The revision number."),
        AGE,
    ],
}  # fmt: skip
