"""managedfields.py: field sets, ownership after writes, apply's merge, conflicts, removal."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kybernetes.api.patch import schema_for
from kybernetes.apiserver import managedfields as mf
from kybernetes.apiserver.zero_values import present_fields

SCHEMA = schema_for("apps", "v1", "Deployment")
WEB = 'k:{"name":"web"}'


def _deploy(*, replicas: int = 2, image: str = "nginx", env: bool = True) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image}
    if env:
        container["env"] = [{"name": "MODE", "value": "prod"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [container], "tolerations": [{"key": "k"}]}},
        },
        "status": {"replicas": 1},
    }


def _apply(live: dict[str, Any], config: dict[str, Any], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"manager": mf.Manager("kubectl", "Apply"), "force": False,
                            "schema": SCHEMA, "api_version": "apps/v1", "now": "t2",
                            "status": False}  # fmt: skip
    return mf.apply_config(copy.deepcopy(live), config, **{**args, **kw})


def _update(new: dict[str, Any], old: dict[str, Any] | None, manager: mf.Manager) -> Any:
    return mf.record_update(new, old, manager=manager, schema=SCHEMA, api_version="apps/v1",
                            now="t1", status=False)  # fmt: skip


def _owned(obj: dict[str, Any]) -> dict[tuple[str, str, str], mf.FieldSet]:
    return {(e.manager.name, e.manager.operation, e.manager.subresource): e.fields
            for e in mf.entries_of(obj)}  # fmt: skip


def test_field_set_uses_merge_keys_and_atomic_lists() -> None:
    fields = mf.field_set(_deploy(), SCHEMA, status=False)
    containers = ("f:spec", "f:template", "f:spec", "f:containers")
    assert (*containers, WEB) in fields  # the item itself
    assert (*containers, WEB, "f:image") in fields
    assert (*containers, WEB, "f:env", 'k:{"name":"MODE"}', "f:value") in fields
    # tolerations have no merge key in Kubernetes: the list is one leaf.
    assert ("f:spec", "f:template", "f:spec", "f:tolerations") in fields
    assert ("f:metadata", "f:labels", "f:app") in fields
    assert not any(p[0] in ("f:status", "f:apiVersion", "f:kind") for p in fields)
    assert ("f:metadata", "f:name") not in fields


def test_fields_v1_round_trip_marks_members_with_children() -> None:
    fields = mf.field_set(_deploy(), SCHEMA, status=False)
    tree = mf.to_fields_v1(fields)
    item = tree["f:spec"]["f:template"]["f:spec"]["f:containers"][WEB]
    assert item["."] == {}
    assert item["f:image"] == {}
    assert "." not in tree["f:spec"]
    assert mf.from_fields_v1(tree) == fields


def test_path_string_is_kubernetes_style() -> None:
    path = ("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image")
    assert mf.path_string(path) == '.spec.template.spec.containers[name="web"].image'
    assert mf.path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_update_owns_what_it_changed_and_takes_it_from_others() -> None:
    created = _update(_deploy(), None, mf.Manager("creator"))
    scaled = copy.deepcopy(created)
    scaled["spec"]["replicas"] = 5
    scaled = _update(scaled, created, mf.Manager("scaler", subresource="scale"))
    owned = _owned(scaled)
    assert owned[("scaler", "Update", "scale")] == {("f:spec", "f:replicas")}
    assert ("f:spec", "f:replicas") not in owned[("creator", "Update", "")]
    raw = {e["manager"]: e for e in scaled["metadata"]["managedFields"]}
    assert raw["scaler"]["subresource"] == "scale"
    assert raw["scaler"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_update_that_changes_nothing_keeps_the_entries() -> None:
    created = _update(_deploy(), None, mf.Manager("creator"))
    again = _update(copy.deepcopy(created), created, mf.Manager("other"))
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_apply_conflicts_with_another_owner_unless_forced() -> None:
    live = _apply(_deploy(), _deploy())
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled = _update(scaled, live, mf.Manager("kubectl-scale", subresource="scale"))
    with pytest.raises(mf.ApplyConflict) as caught:
        _apply(scaled, _deploy(replicas=2))
    assert str(caught.value) == (
        'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    )
    # Applying the value the other owner set is no conflict: both own it.
    shared = _apply(scaled, _deploy(replicas=5))
    assert ("f:spec", "f:replicas") in _owned(shared)[("kubectl-scale", "Update", "scale")]
    forced = _apply(scaled, _deploy(replicas=2), force=True)
    assert forced["spec"]["replicas"] == 2
    assert list(_owned(forced)) == [("kubectl", "Apply", "")]


def test_apply_removes_what_it_no_longer_applies() -> None:
    live = _apply(_deploy(), _deploy())
    after = _apply(live, _deploy(env=False))
    container = after["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container  # the emptied list goes too, as Go's omitempty drops it
    assert container["image"] == "nginx"


def test_apply_keeps_dropped_fields_another_manager_owns() -> None:
    live = _apply(_deploy(), _deploy())
    labelled = copy.deepcopy(live)
    labelled["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "dev"
    labelled = _update(labelled, live, mf.Manager("editor"))
    after = _apply(labelled, _deploy(env=False))
    env = after["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "dev"}]


def test_apply_merges_keyed_lists_and_replaces_atomic_ones() -> None:
    live = _deploy()
    live["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    config = _deploy(image="nginx:2")
    config["spec"]["template"]["spec"]["tolerations"] = [{"key": "other"}]
    merged = _apply(live, config)
    names = [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]]
    assert names == ["web", "side"]
    assert merged["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert merged["spec"]["template"]["spec"]["tolerations"] == [{"key": "other"}]


def test_fields_in_the_last_applied_annotation_move_to_server_side_apply() -> None:
    live = _update(_deploy(), None, mf.Manager("kubectl-client-side-apply"))
    with pytest.raises(mf.ApplyConflict):
        _apply(live, _deploy(replicas=3))
    last = json.dumps(_deploy())
    live["metadata"]["annotations"] = {mf.LAST_APPLIED: last}
    moved = _apply(live, _deploy(replicas=3))
    assert moved["spec"]["replicas"] == 3
    csa = _owned(moved)[("kubectl-client-side-apply", "Update", "")]
    assert ("f:spec", "f:replicas") not in csa


def test_malformed_entries_are_ignored() -> None:
    obj = {"metadata": {"managedFields": [{"manager": "x", "operation": "Bogus"}, "junk"]}}
    assert mf.entries_of(obj) == []


def test_default_manager_is_the_user_agent_product() -> None:
    assert mf.default_manager("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == "kubectl"
    assert mf.default_manager("") == ""


def test_record_update_copies_unless_in_place() -> None:
    manager = mf.Manager("kubectl-edit", "Update")
    new = _deploy()
    copied = _update(new, None, manager)
    assert "managedFields" not in new["metadata"] and copied is not new
    same = mf.record_update(new, None, manager=manager, schema=SCHEMA, api_version="apps/v1",
                            now="t1", status=False, in_place=True)  # fmt: skip
    assert same is new and same == copied


LIVE = [{"manager": "live", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:a": {}}}}]  # fmt: skip
SENT = [{"manager": "sent", "operation": "Apply", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:a": {}}}}]  # fmt: skip


@pytest.mark.parametrize(
    ("sent", "subresource", "start"),
    [
        (SENT, "", SENT),  # readable and owning something: the client's
        (None, "", LIVE),  # not sent: kept
        ([], "", []),  # cleared
        ([{}], "", []),
        (SENT, "status", LIVE),  # a subresource write never takes them
        ([{"manager": "x", "operation": "Steal"}], "", LIVE),  # unreadable
        ([{**SENT[0], "fieldsV1": {}}], "", LIVE),  # owns nothing
        ([{**SENT[0], "fieldsV1": {".": {}}}], "", LIVE),
        ([{**SENT[0], "fieldsV1": ["f:data"]}], "", LIVE),
        (
            [{**SENT[0], "fieldsV1": {"f:data": {".": {}}}}],
            "",
            [{**SENT[0], "fieldsV1": {"f:data": {".": {}}}}],
        ),
        ([{**SENT[0], "fieldsV1": {"f:data": 1}}], "", [{**SENT[0], "fieldsV1": {"f:data": 1}}]),
        ([{**SENT[0], "fieldsV1": {}}, SENT[0]], "", [{**SENT[0], "fieldsV1": {}}, SENT[0]]),
        ([SENT[0], "junk"], "", LIVE),
    ],
)
def test_a_write_starts_from_the_entries_kube_apiserver_would(
    sent: object, subresource: str, start: object
) -> None:
    assert mf.starting_entries(sent, LIVE, subresource=subresource) == start
    assert mf.starting_entries(sent, LIVE, subresource=subresource, sent_owned=True) == start


def test_kept_entries_are_copied_unless_the_request_owns_them() -> None:
    sent = copy.deepcopy(SENT)
    kept = mf.starting_entries(sent, LIVE, subresource="")
    assert kept == sent and kept is not sent and kept[0]["fieldsV1"] is not sent[0]["fieldsV1"]
    assert mf.starting_entries(sent, LIVE, subresource="", sent_owned=True) is sent
    # The live object's (the watch cache's, shared) are copied all the same.
    live = mf.starting_entries(None, LIVE, subresource="", sent_owned=True)
    assert live == LIVE and live[0] is not LIVE[0]


# -- "." : the maps and merged lists a write added ------------------------------------

DEPLOYMENT_ZERO = present_fields("apps", "v1", "Deployment")


def _record(new: dict[str, Any], old: dict[str, Any] | None, manager: mf.Manager,
            *, kind: tuple[str, str, str] = ("apps", "v1", "Deployment"),
            status: bool | None = False) -> dict[str, Any]:  # fmt: skip
    group, version, name = kind
    schema, present = schema_for(group, version, name), present_fields(group, version, name)
    return mf.record_update(new, old, manager=manager, schema=schema, now="t1",
                            api_version=f"{group}/{version}".lstrip("/"), status=status,
                            present=present)  # fmt: skip


def _fields(obj: dict[str, Any], manager: str) -> Any:
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    return entry["fieldsV1"]


def _created_deployment() -> dict[str, Any]:
    """`kubectl create deployment web --image=nginx` as stored, defaults and all."""
    container = {"image": "nginx", "imagePullPolicy": "Always", "name": "nginx", "resources": {},
                 "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File"}  # fmt: skip
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                         "type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [container], "dnsPolicy": "ClusterFirst",
                                  "restartPolicy": "Always", "schedulerName": "default-scheduler",
                                  "securityContext": {}, "terminationGracePeriodSeconds": 30}},
        },
    }  # fmt: skip


# What a real kube-apiserver records for that create (kubectl-create's entry): a map
# the create added has its own "." (labels, rollingUpdate, the container); spec,
# strategy, template and its metadata and spec are struct values every Deployment
# has, and containers has no omitempty, so none of them is added. One difference
# stays: since 1.20 kube-apiserver keeps a LabelSelector atomic (`f:selector: {}`);
# here, as in 1.19, its matchLabels are fields of their own.
KUBECTL_CREATE_DEPLOYMENT = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
        "f:selector": {"f:matchLabels": {".": {}, "f:app": {}}},
        "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                       "f:type": {}},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                    "f:resources": {}, "f:terminationMessagePath": {},
                    "f:terminationMessagePolicy": {}}},
                "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                "f:securityContext": {}, "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}  # fmt: skip


def test_a_create_owns_the_maps_it_adds_as_kube_apiserver_records_them() -> None:
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    assert _fields(created, "kubectl-create") == KUBECTL_CREATE_DEPLOYMENT
    # A create over entries it was given compares with the same zero value.
    given = _created_deployment()
    given["metadata"]["managedFields"] = [{"manager": "x", "operation": "Update",
                                           "fieldsV1": {"f:spec": {"f:paused": {}}}}]  # fmt: skip
    created = _record(given, None, mf.Manager("kubectl-create"))
    assert _fields(created, "kubectl-create") == KUBECTL_CREATE_DEPLOYMENT


def test_a_custom_resource_has_no_zero_value_so_its_spec_is_added() -> None:
    route = {"apiVersion": "example.com/v1", "kind": "Route", "metadata": {"name": "r"},
             "spec": {"host": "a.example", "tls": {"secret": "s"}}}  # fmt: skip
    created = _record(
        route, None, mf.Manager("kubectl-create"), kind=("example.com", "v1", "Route")
    )
    assert _fields(created, "kubectl-create") == {
        "f:spec": {".": {}, "f:host": {}, "f:tls": {".": {}, "f:secret": {}}}
    }


def test_an_update_owns_a_map_it_adds_but_not_one_that_was_there() -> None:
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    edited = copy.deepcopy(created)
    edited["metadata"]["labels"]["squad"] = "devops"  # labels were there
    edited["spec"]["template"]["metadata"]["annotations"] = {"restartedAt": "now"}  # new map
    edited = _record(edited, created, mf.Manager("kubectl-edit"))
    assert _fields(edited, "kubectl-edit") == {
        "f:metadata": {"f:labels": {"f:squad": {}}},
        "f:spec": {"f:template": {"f:metadata": {"f:annotations": {".": {}, "f:restartedAt": {}}}}},
    }
    assert _fields(edited, "kubectl-create") == KUBECTL_CREATE_DEPLOYMENT


def test_a_status_write_adds_the_lists_it_starts_but_not_status() -> None:
    # The deployment controller's first status: every Deployment has a status
    # struct (no "."), its conditions list is new (".").
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    with_status = copy.deepcopy(created)
    with_status["status"] = {
        "replicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
        ],
    }
    with_status = _record(with_status, created,
                          mf.Manager("kube-controller-manager", subresource="status"),
                          status=True)  # fmt: skip
    assert _fields(with_status, "kube-controller-manager") == {"f:status": {
        "f:replicas": {},
        "f:conditions": {".": {}, 'k:{"type":"Available"}': {
            ".": {}, "f:type": {}, "f:status": {}, "f:reason": {}}},
    }}  # fmt: skip


def test_a_struct_value_missing_from_the_stored_object_is_still_not_added() -> None:
    # A Node stored without a status: Go's view of it has status.nodeInfo all the same.
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    reported = {**node, "status": {"nodeInfo": {"kubeletVersion": "v1.32.0"},
                                   "capacity": {"cpu": "2"}}}  # fmt: skip
    reported = _record(reported, node, mf.Manager("kubelet", subresource="status"),
                       kind=("", "v1", "Node"), status=True)  # fmt: skip
    assert _fields(reported, "kubelet") == {"f:status": {
        "f:nodeInfo": {"f:kubeletVersion": {}},
        "f:capacity": {".": {}, "f:cpu": {}},
    }}  # fmt: skip


def test_the_dot_goes_with_the_map_and_stays_while_the_map_does() -> None:
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    annotated = copy.deepcopy(created)
    annotated["metadata"]["annotations"] = {"a": "1", "b": "2"}
    annotated = _record(annotated, created, mf.Manager("annotator"))
    # Another manager changes one annotation: annotator keeps the map's "." and the rest.
    edited = copy.deepcopy(annotated)
    edited["metadata"]["annotations"]["a"] = "changed"
    edited = _record(edited, annotated, mf.Manager("kubectl-edit"))
    assert _fields(edited, "annotator") == {"f:metadata": {"f:annotations": {".": {}, "f:b": {}}}}
    # A write that drops the map takes its "." (and what was in it) from everyone.
    dropped = copy.deepcopy(edited)
    del dropped["metadata"]["annotations"]
    dropped = _record(dropped, edited, mf.Manager("kubectl-edit"))
    managers = {e["manager"] for e in dropped["metadata"]["managedFields"]}
    assert managers == {"kubectl-create"}  # the annotator and the editor own nothing now


def test_an_apply_owns_items_but_not_the_maps_of_its_config() -> None:
    # The applied config's field set (ToFieldSet): leaves and list items, no map
    # of its own, as the Kubernetes docs' example shows
    # (f:metadata: {f:labels: {f:test-label: {}}}, f:data: {f:key: {}}).
    applied = _apply(_deploy(), _deploy())
    (entry,) = applied["metadata"]["managedFields"]
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert "." not in fields["f:spec"]["f:selector"]["f:matchLabels"]
    assert "." in fields["f:spec"]["f:template"]["f:spec"]["f:containers"][WEB]


def test_an_apply_that_empties_a_map_takes_its_dot_from_the_manager_that_added_it() -> None:
    live = _apply(_deploy(), _deploy())
    annotated = copy.deepcopy(live)
    annotated["metadata"]["annotations"] = {"note": "x"}
    annotated = _update(annotated, live, mf.Manager("annotator"))
    assert _owned(annotated)[("annotator", "Update", "")] == {
        ("f:metadata", "f:annotations"),
        ("f:metadata", "f:annotations", "f:note"),
    }
    # The applier takes the annotation over (forced), then drops it from its config:
    # the map is empty, so it goes, and with it the annotator's ".".
    config = _deploy()
    config["metadata"]["annotations"] = {"note": "y"}
    taken = _apply(annotated, config, force=True)
    assert _owned(taken)[("annotator", "Update", "")] == {("f:metadata", "f:annotations")}
    released = _apply(taken, _deploy())
    assert "annotations" not in released["metadata"]
    assert list(_owned(released)) == [("kubectl", "Apply", "")]


# -- null in an applied config ---------------------------------------------------------
# structured-merge-diff lists a null as a leaf of the applier's set (typed/tofieldset.go;
# its toset tests: {"color": null} -> {color}), merges nothing from it into a map
# (typed/merge.go: the null side has no items), and replaces a scalar with it, which
# kube-apiserver's decode into the Go type then drops.


def test_an_applied_null_is_owned_and_leaves_a_map_to_pruning() -> None:
    config = _deploy()
    config["metadata"]["labels"] = {"app": "web", "tier": "db"}
    live = _apply(_deploy(), config)
    labelled = copy.deepcopy(live)
    labelled["metadata"]["labels"]["team"] = "a"
    labelled = _update(labelled, live, mf.Manager("kubectl-label"))
    config["metadata"]["labels"] = None
    after = _apply(labelled, config)
    # What the applier had goes; the label another manager added stays.
    assert after["metadata"]["labels"] == {"team": "a"}
    owned = _owned(after)
    assert ("f:metadata", "f:labels") in owned[("kubectl", "Apply", "")]
    assert not any(p[:2] == ("f:metadata", "f:labels") and len(p) > 2
                   for p in owned[("kubectl", "Apply", "")])  # fmt: skip


def test_an_applied_null_changes_a_value_another_manager_owns_only_by_force() -> None:
    live = _apply(_deploy(), _deploy())
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled = _update(scaled, live, mf.Manager("kubectl-scale", subresource="scale"))
    config = _deploy()
    config["spec"]["replicas"] = None
    with pytest.raises(mf.ApplyConflict):
        _apply(scaled, config)
    forced = _apply(scaled, config, force=True)
    assert forced["spec"]["replicas"] is None  # the write's decode drops it (drop_nulls)
    assert ("f:spec", "f:replicas") in _owned(forced)[("kubectl", "Apply", "")]
    assert ("kubectl-scale", "Update", "scale") not in _owned(forced)


def test_an_applied_null_over_a_missing_map_is_owned_and_sets_nothing() -> None:
    config = _deploy()
    config["metadata"]["annotations"] = None
    after = _apply(_deploy(), config)
    assert after["metadata"]["annotations"] is None
    mf.drop_nulls(after)
    assert "annotations" not in after["metadata"]
    assert ("f:metadata", "f:annotations") in _owned(after)[("kubectl", "Apply", "")]


def test_drop_nulls_removes_null_fields_at_any_depth() -> None:
    value = {"a": None, "b": {"c": None, "d": 1}, "e": [{"f": None, "g": [None]}], "h": [None]}
    mf.drop_nulls(value)
    assert value == {"b": {"d": 1}, "e": [{"g": [None]}], "h": [None]}


def test_an_entry_a_write_leaves_alone_keeps_its_wire_form() -> None:
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    edited = copy.deepcopy(created)
    edited["metadata"]["labels"]["squad"] = "devops"
    creator = edited["metadata"]["managedFields"][0]["fieldsV1"]
    edited = mf.record_update(edited, created, manager=mf.Manager("kubectl-edit"),
                              schema=schema_for("apps", "v1", "Deployment"), api_version="apps/v1",
                              now="t2", status=False, present=DEPLOYMENT_ZERO,
                              in_place=True)  # fmt: skip
    assert _fields(edited, "kubectl-create") is creator  # not encoded again
    # One that loses a field is written afresh.
    relabelled = copy.deepcopy(edited)
    relabelled["metadata"]["labels"]["app"] = "other"
    relabelled = _record(relabelled, edited, mf.Manager("kubectl-edit"))
    assert "f:app" not in _fields(relabelled, "kubectl-create")["f:metadata"]["f:labels"]


def test_a_manager_changing_only_what_it_owns_keeps_its_wire_form_and_takes_the_new_time() -> None:
    created = _record(_created_deployment(), None, mf.Manager("kubectl-create"))
    edited = copy.deepcopy(created)
    edited["spec"]["replicas"] = 7  # kubectl-create's already
    own = edited["metadata"]["managedFields"][0]["fieldsV1"]
    edited = mf.record_update(edited, created, manager=mf.Manager("kubectl-create"),
                              schema=schema_for("apps", "v1", "Deployment"), api_version="apps/v1",
                              now="t2", status=False, present=DEPLOYMENT_ZERO,
                              in_place=True)  # fmt: skip
    (entry,) = edited["metadata"]["managedFields"]
    assert entry["fieldsV1"] is own  # the same fields: not encoded again
    assert entry["time"] == "t2"
