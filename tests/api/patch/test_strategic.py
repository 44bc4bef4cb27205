"""Strategic merge patch: the patches kubectl sends, each directive, and Kubernetes' quirks.

Expected results were checked against kubectl 1.32's `patch --local`, which
runs the same apimachinery code as the API server.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.patch import (
    DEFAULT,
    MERGE,
    REPLACE,
    RETAIN_KEYS,
    PatchError,
    PatchSchema,
    apply_strategic_merge_patch,
    merge_by,
    schema_for,
)

DEPLOYMENT = schema_for("apps", "v1", "Deployment")


def patch_deployment(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    return apply_strategic_merge_patch(doc, patch, schema=DEPLOYMENT)


def deployment(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A live Deployment with the given containers and extra pod spec fields."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 2},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {"containers": list(containers), "restartPolicy": "Always", **spec},
            },
        },
    }


def web(image: str = "nginx:1.25", **fields: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        **fields,
    }


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# -- What kubectl sends -------------------------------------------------------


def test_kubectl_apply_changes_only_what_changed() -> None:
    # The body kubectl apply sent in kubectl-wire.md section 1.2.
    live = deployment(web("nginx:1.25", terminationMessagePath="/dev/termination-log"))
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"kind":"…"}\n'}
        },
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"image": "nginx:1.26", "name": "web"}],
                }
            },
        },
    }
    patched = patch_deployment(live, patch)
    expected = copy.deepcopy(live)
    expected["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"…"}\n'
    }
    expected["spec"]["replicas"] = 3
    pod_spec(expected)["containers"][0]["image"] = "nginx:1.26"
    assert patched == expected


def test_kubectl_set_image_keeps_the_container_order() -> None:
    live = deployment(web(), {"name": "log", "image": "fluentd:1"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
                    "containers": [{"image": "nginx:1.27", "name": "web"}],
                }
            }
        }
    }
    containers = pod_spec(patch_deployment(live, patch))["containers"]
    assert containers == [web("nginx:1.27"), {"name": "log", "image": "fluentd:1"}]


def test_kubectl_rollout_restart_adds_an_annotation_to_the_template() -> None:
    live = deployment(web())
    stamp = "2025-06-01T10:00:00Z"
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    patched = patch_deployment(live, patch)
    assert patched["spec"]["template"]["metadata"] == {
        "creationTimestamp": None,
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": stamp},
    }
    assert pod_spec(patched) == pod_spec(live)


def test_kubectl_patch_labels_adds_and_removes() -> None:
    live = deployment(web())
    live["metadata"]["labels"] = {"app": "web", "tier": "old"}
    patched = patch_deployment(live, {"metadata": {"labels": {"tier": "front", "env": "prod"}}})
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front", "env": "prod"}
    patched = patch_deployment(patched, {"metadata": {"labels": {"tier": None}}})
    assert patched["metadata"]["labels"] == {"app": "web", "env": "prod"}


def test_kubectl_set_env_merges_env_by_name() -> None:
    live = deployment(web(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    # kubectl's two-way patch names the full order, so the new variable lands last.
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                            "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                            "name": "web",
                        }
                    ],
                }
            }
        }
    }
    env = pod_spec(patch_deployment(live, patch))["containers"][0]["env"]
    assert env == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two"},
        {"name": "C", "value": "3"},
    ]


def test_kubectl_cordon_and_a_node_condition_update() -> None:
    node = {
        "metadata": {"name": "n1"},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.1.1.1"}],
        },
    }
    schema = schema_for("", "v1", "Node")
    patch = {
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NotReady"}]},
    }
    patched = apply_strategic_merge_patch(node, patch, schema=schema)
    assert patched["spec"] == {"podCIDR": "10.0.0.0/24", "unschedulable": True}
    assert patched["status"]["conditions"] == [
        {"type": "MemoryPressure", "status": "False"},
        {"type": "Ready", "status": "False", "reason": "NotReady"},
    ]


# -- Merging lists by key -------------------------------------------------------


def test_containers_merge_by_name_and_env_by_name() -> None:
    live = deployment(
        web(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        {"name": "log", "image": "fluentd:1"},
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "env": [{"name": "B", "value": "two"}]},
                        {"name": "log", "args": ["--verbose"]},
                    ]
                }
            }
        }
    }
    patched = patch_deployment(live, patch)
    assert pod_spec(patched)["containers"] == [
        web(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]),
        {"name": "log", "image": "fluentd:1", "args": ["--verbose"]},
    ]


def test_new_items_go_in_front_of_the_live_items_they_are_not_ordered_against() -> None:
    # Kubernetes' order: patch items in patch order, live items in live order,
    # and a live item goes first only if it preceded the patch item when live.
    live = deployment(web(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "env": [{"name": "C", "value": "3"}]}]}
            }
        }
    }
    env = pod_spec(patch_deployment(live, patch))["containers"][0]["env"]
    assert names(env) == ["C", "A", "B"]


@pytest.mark.parametrize(
    ("live", "patch", "result"),
    [
        (["1", "2", "3"], ["3", "1", "2"], ["3", "1", "2"]),
        (["1", "2", "3"], ["3", "1"], ["2", "3", "1"]),
        (["1", "2", "3"], ["2", "9"], ["1", "2", "9", "3"]),
        (["1", "2", "3"], ["9", "3"], ["9", "1", "2", "3"]),
        (["a", "b", "c", "d"], ["c", "x", "a"], ["b", "c", "x", "a", "d"]),
    ],
)
def test_order_of_a_merged_list(live: list[str], patch: list[str], result: list[str]) -> None:
    doc = deployment(*({"name": n} for n in live))
    merged = patch_deployment(
        doc, {"spec": {"template": {"spec": {"containers": [{"name": n} for n in patch]}}}}
    )
    assert names(pod_spec(merged)["containers"]) == result


def test_set_element_order_places_server_only_items_after_their_live_neighbours() -> None:
    live = deployment(*({"name": n} for n in ["1", "2", "7", "9", "8", "3", "4"]))
    patch = {
        "spec": {
            "template": {
                "spec": {"$setElementOrder/containers": [{"name": n} for n in ["2", "1", "4", "3"]]}
            }
        }
    }
    containers = pod_spec(patch_deployment(live, patch))["containers"]
    assert names(containers) == ["2", "1", "7", "9", "8", "4", "3"]


def test_set_element_order_may_name_items_that_are_not_there() -> None:
    live = deployment({"name": "a"}, {"name": "c"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}],
                }
            }
        }
    }
    containers = pod_spec(patch_deployment(live, patch))["containers"]
    assert containers == [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}]


def test_deleting_and_adding_around_a_server_only_sidecar_follows_go_slice_aliasing() -> None:
    # apply replaced container b by d; e was injected on the server. Go
    # shifts the live list in place for the delete and writes d into the
    # freed tail, so e sorts before d: [a, e, d, c], not [a, d, c, e].
    live = deployment(*({"name": n} for n in ["a", "b", "c", "e"]))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "d"}, {"name": "c"}],
                    "containers": [
                        {"name": "d", "image": "new"},
                        {"name": "b", "$patch": "delete"},
                    ],
                }
            }
        }
    }
    containers = pod_spec(patch_deployment(live, patch))["containers"]
    assert names(containers) == ["a", "e", "d", "c"]


def test_patch_delete_removes_a_container() -> None:
    live = deployment(web(), {"name": "log", "image": "fluentd:1"}, {"name": "x"})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "log", "$patch": "delete"}]}}}}
    assert names(pod_spec(patch_deployment(live, patch))["containers"]) == ["web", "x"]


def test_patch_delete_removes_every_duplicate_and_ignores_missing_items() -> None:
    live = deployment({"name": "a"}, {"name": "b"}, {"name": "a"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "$patch": "delete"},
                        {"name": "zz", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    assert names(pod_spec(patch_deployment(live, patch))["containers"]) == ["b"]


def test_patch_replace_item_replaces_the_whole_list() -> None:
    live = deployment(web(), {"name": "log", "image": "fluentd:1"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"$patch": "replace"}, {"name": "only", "image": "busybox"}]
                }
            }
        }
    }
    assert pod_spec(patch_deployment(live, patch))["containers"] == [
        {"name": "only", "image": "busybox"}
    ]
    emptied = {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}]}}}}
    assert pod_spec(patch_deployment(live, emptied))["containers"] == []


def test_patch_replace_in_a_map_replaces_the_map() -> None:
    live = deployment(web(), nodeSelector={"disk": "hdd", "zone": "a"})
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"$patch": "replace", "disk": "ssd"}}}}}
    assert pod_spec(patch_deployment(live, patch))["nodeSelector"] == {"disk": "ssd"}


def test_patch_delete_in_a_map_leaves_it_empty() -> None:
    live = deployment(web(), nodeSelector={"disk": "hdd"})
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"$patch": "delete"}}}}}
    assert pod_spec(patch_deployment(live, patch))["nodeSelector"] == {}


def test_patch_replace_at_the_root_replaces_the_object() -> None:
    patched = patch_deployment(deployment(web()), {"$patch": "replace", "kind": "Deployment"})
    assert patched == {"kind": "Deployment"}


# -- $retainKeys ----------------------------------------------------------------


def test_retain_keys_switching_rolling_update_to_recreate_drops_rolling_update() -> None:
    live = deployment(web())
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}
    }
    assert patch_deployment(live, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_without_retain_keys_a_plain_merge_keeps_rolling_update() -> None:
    patched = patch_deployment(deployment(web()), {"spec": {"strategy": {"type": "Recreate"}}})
    assert patched["spec"]["strategy"] == {
        "type": "Recreate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }


def test_retain_keys_in_a_volume_switches_its_source() -> None:
    live = deployment(web(), volumes=[{"name": "data", "emptyDir": {}}, {"name": "keep"}])
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {
                            "name": "data",
                            "$retainKeys": ["configMap", "name"],
                            "configMap": {"name": "settings"},
                        }
                    ]
                }
            }
        }
    }
    assert pod_spec(patch_deployment(live, patch))["volumes"] == [
        {"name": "data", "configMap": {"name": "settings"}},
        {"name": "keep"},
    ]


def test_retain_keys_refuses_a_patch_setting_a_key_it_does_not_keep() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys") as caught:
        patch_deployment(deployment(web()), patch)
    assert caught.value.code == 400


# -- Primitive lists: finalizers ---------------------------------------------------


def test_finalizers_merge_as_a_set() -> None:
    live = deployment(web())
    live["metadata"]["finalizers"] = ["a", "b"]
    patched = patch_deployment(live, {"metadata": {"finalizers": ["b", "c", "c"]}})
    assert patched["metadata"]["finalizers"] == ["a", "b", "c"]
    patched = patch_deployment(live, {"metadata": {"finalizers": ["z"]}})
    assert patched["metadata"]["finalizers"] == ["z", "a", "b"]


def test_delete_from_primitive_list_removes_finalizers() -> None:
    live = deployment(web())
    live["metadata"]["finalizers"] = ["a", "b", "c", "b"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "missing"]}}
    assert patch_deployment(live, patch)["metadata"]["finalizers"] == ["a", "c"]


def test_delete_from_primitive_list_never_creates_the_list() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    assert "finalizers" not in patch_deployment(deployment(web()), patch)["metadata"]


def test_set_element_order_and_deletion_on_finalizers_as_kubectl_apply_sends_them() -> None:
    live = deployment(web())
    live["metadata"]["finalizers"] = ["a", "b", "server"]
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["c", "a"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["c"],
        }
    }
    assert patch_deployment(live, patch)["metadata"]["finalizers"] == ["c", "a", "server"]


def test_a_list_of_primitives_without_merge_strategy_is_replaced() -> None:
    live = deployment(web(args=["-a", "-b"]))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "args": ["-c"]}]}}}}
    assert pod_spec(patch_deployment(live, patch))["containers"][0]["args"] == ["-c"]


# -- null, new values and fields without a strategy ------------------------------


def test_null_deletes_a_key_at_any_depth() -> None:
    live = deployment(web(resources={"limits": {"cpu": "1"}}), dnsPolicy="ClusterFirst")
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "dnsPolicy": None,
                    "notThere": None,
                    "containers": [{"name": "web", "resources": None}],
                }
            }
        }
    }
    patched = pod_spec(patch_deployment(live, patch))
    assert "dnsPolicy" not in patched
    assert "notThere" not in patched
    assert patched["containers"] == [web()]


def test_new_values_lose_nulls_and_directive_maps() -> None:
    live = deployment(web())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"runAsUser": 1000, "fsGroup": None},
                    "tolerations": [{"key": "a", "value": None}, {"$patch": "delete", "key": "b"}],
                    "affinity": {"$patch": "replace", "nodeAffinity": {}},
                }
            }
        }
    }
    patched = pod_spec(patch_deployment(live, patch))
    assert patched["securityContext"] == {"runAsUser": 1000}
    assert patched["tolerations"] == [{"key": "a"}]
    assert "affinity" not in patched


def test_lists_without_a_strategy_are_replaced_verbatim() -> None:
    live = deployment(web(), tolerations=[{"key": "a"}, {"key": "b"}])
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "c", "value": None}]}}}}
    assert pod_spec(patch_deployment(live, patch))["tolerations"] == [{"key": "c", "value": None}]


def test_a_value_of_another_type_replaces() -> None:
    live = deployment(web(), nodeSelector={"a": "b"})
    patch = {"spec": {"replicas": "3", "template": {"spec": {"nodeSelector": ["x"]}}}}
    patched = patch_deployment(live, patch)
    assert patched["spec"]["replicas"] == "3"
    assert pod_spec(patched)["nodeSelector"] == ["x"]


def test_unknown_kinds_merge_maps_and_replace_lists() -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["x"]},
        "spec": {"items": [{"name": "a", "size": 1}], "config": {"a": 1, "b": 2}},
    }
    patch = {
        "metadata": {"finalizers": ["y"]},
        "spec": {"items": [{"name": "a", "color": "red"}], "config": {"b": None, "c": 3}},
    }
    patched = apply_strategic_merge_patch(
        widget, patch, schema=schema_for("example.com", "v1", "Widget")
    )
    assert patched["metadata"]["finalizers"] == ["y", "x"]
    assert patched["spec"] == {"items": [{"name": "a", "color": "red"}], "config": {"a": 1, "c": 3}}


def test_directives_in_a_new_subtree_stay_as_kubernetes_leaves_them() -> None:
    # Kubernetes only strips `$patch` maps from a new subtree; its typed decode
    # then refuses or drops the rest. We return what the merge step returns.
    live = deployment(web())
    del live["spec"]["template"]["spec"]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"name": "a"}],
                }
            }
        }
    }
    assert pod_spec(patch_deployment(live, patch)) == {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "a"}],
    }


# -- Inputs stay untouched -------------------------------------------------------


def test_inputs_are_never_changed_nor_shared_with_the_result() -> None:
    live = deployment(web(env=[{"name": "A", "value": "1"}]), {"name": "log"})
    live["metadata"]["finalizers"] = ["a", "b"]
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "log"}, {"name": "web"}],
                    "containers": [
                        {"name": "web", "env": [{"name": "B", "value": "2"}]},
                        {"name": "log", "$patch": "delete"},
                    ],
                    "volumes": [{"name": "v", "emptyDir": {"medium": None}}],
                }
            },
        },
    }
    before_live, before_patch = copy.deepcopy(live), copy.deepcopy(patch)
    patched = patch_deployment(live, patch)
    assert live == before_live
    assert patch == before_patch
    pod_spec(patched)["containers"][0]["env"].append({"name": "Z"})
    pod_spec(patched)["volumes"][0]["emptyDir"]["x"] = 1
    assert live == before_live
    assert patch == before_patch


# -- Patches Kubernetes refuses ---------------------------------------------------


def containers_patch(containers: Any, **spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": containers, **spec}}}}


@pytest.mark.parametrize(
    ("patch", "message", "code"),
    [
        (
            containers_patch([{"image": "x"}]),
            "does not contain declared merge key: name",
            400,
        ),
        (
            containers_patch([{"image": "x", "$patch": "delete"}]),
            "does not contain declared merge key: name",
            400,
        ),
        (
            containers_patch(
                [{"name": "b"}, {"name": "web"}],
                **{"$setElementOrder/containers": [{"name": "web"}, {"name": "b"}]},
            ),
            "doesn't match \\$setElementOrder list",
            400,
        ),
        ({"spec": {"strategy": {"$patch": "merge"}}}, "unknown patch type: merge", 400),
        (containers_patch([{"$patch": "merge"}]), "merging lists cannot yet be specified", 400),
        (containers_patch([{"name": "web", "$patch": "remove"}]), "unknown patch type", 400),
        ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, "format of primitive list", 400),
        ({"metadata": {"$setElementOrder-finalizers": ["a"]}}, "format of setElementOrder", 400),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "format of retainKeys", 400),
        ({"metadata": {"finalizers": ["a", 1]}}, "list element types are not identical", 400),
        (containers_patch(["web"]), "list element types are not identical", 400),
        (
            containers_patch([{"name": "web"}], **{"$setElementOrder/containers": ["web"]}),
            "expected a map",
            400,
        ),
        (
            {"spec": {"template": {"spec": {"$setElementOrder/containers": {"name": "web"}}}}},
            "must be a list",
            400,
        ),
    ],
)
def test_bad_patches_raise(patch: dict[str, Any], message: str, code: int) -> None:
    # kube-apiserver answers 500 to most of these; a malformed patch is the
    # client's mistake, and we never answer 500 to bad input: 400.
    live = deployment(web())
    live["metadata"]["finalizers"] = ["a"]
    with pytest.raises(PatchError, match=message) as caught:
        patch_deployment(live, patch)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("finalizers", "message", "code"),
    [
        ([["a"]], "lists of lists are not supported", 422),
        ([{"name": "a"}], "cannot merge lists without merge key for metadata.finalizers", 400),
        ([None], "list items must not be null", 400),
    ],
)
def test_bad_items_in_a_merged_primitive_list(finalizers: Any, message: str, code: int) -> None:
    live = deployment(web())
    live["metadata"]["finalizers"] = []
    with pytest.raises(PatchError, match=message) as caught:
        patch_deployment(live, {"metadata": {"finalizers": finalizers}})
    assert caught.value.code == code


def test_a_patch_must_be_an_object() -> None:
    with pytest.raises(PatchError, match="must be a JSON object") as caught:
        apply_strategic_merge_patch(deployment(web()), [], schema=DEPLOYMENT)  # type: ignore[arg-type]
    assert caught.value.code == 400


def test_numbers_and_strings_do_not_match_as_merge_keys() -> None:
    live = deployment(web())
    patch = containers_patch([{"name": "web", "ports": [{"containerPort": "80", "name": "http"}]}])
    ports = pod_spec(patch_deployment(live, patch))["containers"][0]["ports"]
    assert ports == [
        {"containerPort": "80", "name": "http"},
        {"containerPort": 80, "protocol": "TCP"},
    ]


# -- The merge key table ----------------------------------------------------------


# Server-side apply names these lists' items by more fields than the merge key.
_CONTAINER_PORTS = merge_by(
    "containerPort", apply_keys=(("containerPort", None), ("protocol", "TCP"))
)
_SERVICE_PORTS = merge_by("port", apply_keys=(("port", None), ("protocol", "TCP")))
_SPREAD = merge_by("topologyKey", apply_keys=(("topologyKey", None), ("whenUnsatisfiable", None)))


@pytest.mark.parametrize(
    ("kind", "path", "strategy"),
    [
        (("", "v1", "Pod"), ("spec", "containers"), merge_by("name")),
        (("", "v1", "Pod"), ("spec", "initContainers", "env"), merge_by("name")),
        (("", "v1", "Pod"), ("spec", "ephemeralContainers", "ports"), _CONTAINER_PORTS),
        (("", "v1", "Pod"), ("spec", "containers", "volumeMounts"), merge_by("mountPath")),
        (("", "v1", "Pod"), ("spec", "containers", "volumeDevices"), merge_by("devicePath")),
        (("", "v1", "Pod"), ("spec", "volumes"), merge_by("name", retain_keys=True)),
        (("", "v1", "Pod"), ("spec", "imagePullSecrets"), merge_by("name")),
        (("", "v1", "Pod"), ("spec", "hostAliases"), merge_by("ip")),
        (("", "v1", "Pod"), ("spec", "topologySpreadConstraints"), _SPREAD),
        (("", "v1", "Pod"), ("spec", "resourceClaims"), merge_by("name", retain_keys=True)),
        (("", "v1", "Pod"), ("spec", "schedulingGates"), merge_by("name")),
        (("", "v1", "Pod"), ("spec", "tolerations"), DEFAULT),
        (("", "v1", "Pod"), ("spec", "readinessGates"), DEFAULT),
        (("", "v1", "Pod"), ("status", "conditions"), merge_by("type")),
        (("", "v1", "Pod"), ("status", "podIPs"), merge_by("ip")),
        (("", "v1", "Pod"), ("status", "containerStatuses"), DEFAULT),
        (("", "v1", "Pod"), ("metadata", "finalizers"), MERGE),
        (("", "v1", "Pod"), ("metadata", "ownerReferences"), merge_by("uid")),
        (("apps", "v1", "Deployment"), ("spec", "strategy"), RETAIN_KEYS),
        (
            ("apps", "v1", "Deployment"),
            ("spec", "template", "spec", "volumes"),
            merge_by("name", retain_keys=True),
        ),
        (("apps", "v1", "Deployment"), ("spec", "template", "metadata", "finalizers"), MERGE),
        (("apps", "v1", "Deployment"), ("status", "conditions"), merge_by("type")),
        (
            ("apps", "v1", "ReplicaSet"),
            ("spec", "template", "spec", "containers"),
            merge_by("name"),
        ),
        (
            ("apps", "v1", "StatefulSet"),
            ("spec", "template", "spec", "containers", "env"),
            merge_by("name"),
        ),
        (("apps", "v1", "StatefulSet"), ("spec", "volumeClaimTemplates"), DEFAULT),
        (("apps", "v1", "DaemonSet"), ("status", "conditions"), merge_by("type")),
        (("apps", "v1", "DaemonSet"), ("spec", "updateStrategy"), DEFAULT),
        (("batch", "v1", "Job"), ("spec", "template", "spec", "initContainers"), merge_by("name")),
        (("batch", "v1", "Job"), ("status", "conditions"), merge_by("type")),
        (
            ("batch", "v1", "CronJob"),
            ("spec", "jobTemplate", "spec", "template", "spec", "containers", "ports"),
            _CONTAINER_PORTS,
        ),
        (
            ("batch", "v1", "CronJob"),
            ("spec", "jobTemplate", "metadata", "ownerReferences"),
            merge_by("uid"),
        ),
        (("", "v1", "Service"), ("spec", "ports"), _SERVICE_PORTS),
        (("", "v1", "Node"), ("spec", "taints"), DEFAULT),
        (("", "v1", "Node"), ("spec", "podCIDRs"), MERGE),
        (("", "v1", "Node"), ("status", "addresses"), merge_by("type")),
        (("", "v1", "Node"), ("status", "conditions"), merge_by("type")),
        (("", "v1", "Namespace"), ("status", "conditions"), merge_by("type")),
        (("", "v1", "Namespace"), ("spec", "finalizers"), DEFAULT),
        (("", "v1", "PersistentVolumeClaim"), ("status", "conditions"), merge_by("type")),
        (("", "v1", "Endpoints"), ("subsets",), DEFAULT),
        (("", "v1", "ServiceAccount"), ("secrets",), merge_by("name")),
        (("rbac.authorization.k8s.io", "v1", "Role"), ("rules",), DEFAULT),
        (("networking.k8s.io", "v1", "Ingress"), ("spec", "rules"), DEFAULT),
        (("networking.k8s.io", "v1", "Ingress"), ("metadata", "finalizers"), MERGE),
        (("policy", "v1", "PodDisruptionBudget"), ("spec", "selector"), REPLACE),
        (("example.com", "v1", "Widget"), ("spec", "items"), DEFAULT),
    ],
)
def test_merge_key_table(kind: tuple[str, str, str], path: tuple[str, ...], strategy: Any) -> None:
    assert schema_for(*kind).lookup(path) == strategy


def test_service_ports_merge_on_the_port_alone() -> None:
    # Kubernetes' tag merges on "port" only: a UDP port patched onto a TCP one
    # with the same number becomes one entry.
    service = {"spec": {"ports": [{"port": 53, "protocol": "TCP", "name": "dns-tcp"}]}}
    patch = {"spec": {"ports": [{"port": 53, "protocol": "UDP", "name": "dns-udp"}]}}
    patched = apply_strategic_merge_patch(service, patch, schema=schema_for("", "v1", "Service"))
    assert patched["spec"]["ports"] == [{"port": 53, "protocol": "UDP", "name": "dns-udp"}]


def test_a_replace_map_field_is_taken_whole() -> None:
    pdb = {"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}}
    patch: dict[str, Any] = {"spec": {"selector": {"matchExpressions": []}}}
    patched = apply_strategic_merge_patch(
        pdb, patch, schema=schema_for("policy", "v1", "PodDisruptionBudget")
    )
    assert patched["spec"] == {"selector": {"matchExpressions": []}, "minAvailable": 1}


def test_a_schema_of_ones_own() -> None:
    schema = PatchSchema({("items",): merge_by("id"), ("tags",): MERGE})
    doc = {"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], "tags": ["x"], "other": [1]}
    patch = {"items": [{"id": 2, "v": "B"}], "tags": ["y"], "other": [2]}
    assert apply_strategic_merge_patch(doc, patch, schema=schema) == {
        "items": [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}],
        "tags": ["y", "x"],
        "other": [2],
    }
    assert PatchSchema().lookup(("anything",)) == DEFAULT
