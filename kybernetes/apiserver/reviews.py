"""Reviews: questions about the asking user, answered and never stored.

`kubectl auth can-i` creates a SelfSubjectAccessReview; the answer comes
from the authorizer seam (everything is allowed until RBAC arrives, and the
reason says so). `kubectl auth whoami` creates a SelfSubjectReview: the
user as the server authenticated it.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.auth import Authorizer, UserInfo
from kybernetes.apiserver.objects import Obj

__all__ = ["self_subject_access_review", "self_subject_review", "self_subject_rules_review"]


def self_subject_access_review(body: Any, user: UserInfo, authorizer: Authorizer) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a SelfSubjectAccessReview")
    review = copy.deepcopy(body)
    spec = review.get("spec") or {}
    attributes = spec.get("resourceAttributes") or spec.get("nonResourceAttributes")
    if not isinstance(attributes, dict):
        raise errors.invalid("SelfSubjectAccessReview", "", [errors.Cause(
            "spec.resourceAttributes", "FieldValueRequired",
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be "
            "specified")], "authorization.k8s.io")  # fmt: skip
    allowed = authorizer.allowed(
        user,
        str(attributes.get("verb") or ""),
        str(attributes.get("group") or ""),
        str(attributes.get("resource") or attributes.get("path") or ""),
        str(attributes.get("namespace") or ""),
    )
    review["apiVersion"] = "authorization.k8s.io/v1"
    review["kind"] = "SelfSubjectAccessReview"
    review.setdefault("metadata", {}).pop("creationTimestamp", None)
    review["status"] = {
        "allowed": allowed,
        "reason": "no authorization policy is enforced yet: every authenticated user may do "
        "everything"
        if allowed
        else "",
    }
    return review


def self_subject_rules_review(body: Any, user: UserInfo, authorizer: Authorizer) -> Obj:
    """`kubectl auth can-i --list`: every rule the authorizer grants the user in
    `spec.namespace`, as kube-apiserver's rules review answers it."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a SelfSubjectRulesReview")
    review = copy.deepcopy(body)
    namespace = str((review.get("spec") or {}).get("namespace") or "")
    resource_rules, non_resource_rules = authorizer.rules(user, namespace)
    review["apiVersion"] = "authorization.k8s.io/v1"
    review["kind"] = "SelfSubjectRulesReview"
    review.setdefault("metadata", {}).pop("creationTimestamp", None)
    review["status"] = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                        "incomplete": False}  # fmt: skip
    return review


def self_subject_review(body: Any, user: UserInfo, now: str) -> Obj:
    """Who the request's user is, as kube-apiserver answers it: the review
    stamped with the moment it was made, the user's name and groups."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a SelfSubjectReview")
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": now},
        "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}},
    }
