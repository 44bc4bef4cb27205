"""Which Ingresses are ours, our IngressClass, the status patch, and the default-class admission."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.apiserver.ingressclass import default_ingress_class
from kybernetes.ingress.classes import (
    belongs_to_class,
    ingress_class,
    is_default_class,
    status_patch,
)

Obj = dict[str, Any]


def ing(class_name: str | None = None, annotation: str | None = None) -> Obj:
    obj: Obj = {"metadata": {"name": "i", "namespace": "default"}, "spec": {}}
    if class_name is not None:
        obj["spec"]["ingressClassName"] = class_name
    if annotation is not None:
        obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": annotation}
    return obj


@pytest.mark.parametrize(
    ("obj", "is_default", "ours"),
    [
        (ing("kybernetes"), False, True),
        (ing("nginx"), True, False),
        (ing(None), True, True),
        (ing(None), False, False),
        (ing(None, "kybernetes"), False, True),
        (ing(None, "nginx"), True, False),
        (ing("kybernetes", "nginx"), False, True),  # the field wins over the annotation
    ],
)
def test_belongs_to_class(obj: Obj, is_default: bool, ours: bool) -> None:
    assert belongs_to_class(obj, class_name="kybernetes", is_default=is_default) is ours


def test_our_class_is_the_default() -> None:
    ic = ingress_class()
    assert ic["spec"]["controller"] == "kybernetes.io/ingress"
    assert is_default_class(ic)
    assert not is_default_class({"metadata": {"name": "x"}})
    assert not is_default_class(None)


def test_status_patch_names_the_address_once() -> None:
    obj = ing("kybernetes")
    assert status_patch(obj, "192.0.2.7") == {
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}
    }
    assert status_patch(obj, "node.example") == {
        "status": {"loadBalancer": {"ingress": [{"hostname": "node.example"}]}}
    }
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}
    assert status_patch(obj, "192.0.2.7") is None
    assert status_patch(obj, "192.0.2.8") is not None


def _ic(name: str, created: str, default: bool) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true" if default else "false"}
    return {"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations}}


def test_default_ingress_class_is_the_newest_marked_one() -> None:
    assert default_ingress_class([]) == ""
    assert default_ingress_class([_ic("a", "2026-01-01T00:00:00Z", False)]) == ""
    classes = [_ic("old", "2026-01-01T00:00:00Z", True), _ic("new", "2026-02-01T00:00:00Z", True),
               _ic("newest-unmarked", "2026-03-01T00:00:00Z", False)]  # fmt: skip
    assert default_ingress_class(classes) == "new"
    tie = [_ic("b", "2026-01-01T00:00:00Z", True), _ic("a", "2026-01-01T00:00:00Z", True)]
    assert default_ingress_class(tie) == "a"
