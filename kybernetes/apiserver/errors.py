"""Kubernetes `Status` errors: every failure the API answers is one of these.

kubectl prints `Error from server (<reason>): <message>` and, for Invalid,
rebuilds the text from `details.causes`, so code, reason, message and
details must match what kube-apiserver sends for the same mistake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ApiError",
    "Cause",
    "already_exists",
    "bad_request",
    "conflict",
    "continue_expired",
    "expired",
    "forbidden",
    "from_http_status",
    "gone",
    "internal",
    "invalid",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "or_none_if_missing",
    "service_unavailable",
    "status_success",
    "timeout",
    "too_large",
    "too_large_resource_version",
    "unauthorized",
    "unsupported_media_type",
]


@dataclass(frozen=True)
class Cause:
    """One bad field of an Invalid error (`details.causes[]`)."""

    field: str
    reason: str
    message: str


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    kind: str = ""
    name: str = ""
    group: str = ""
    causes: Sequence[Cause] = field(default_factory=tuple)
    retry_after: int = 0

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            # Go omits an empty `field` (ResourceVersionTooLarge has none); kubectl
            # rebuilds an Invalid message from `field` + `message`.
            details["causes"] = [
                {
                    "reason": c.reason,
                    "message": c.message,
                    **({"field": c.field} if c.field else {}),
                }
                for c in self.causes
            ]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def status_success(
    *, kind: str = "", name: str = "", group: str = "", uid: str = ""
) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    if uid:
        details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        kind=resource,
        name=name,
        group=group,
    )


T = TypeVar("T")


async def or_none_if_missing(read: Awaitable[T]) -> T | None:
    """What `read` answers, or None when it answers 404 Not Found."""
    try:
        return await read
    except ApiError as err:
        if err.code == 404:
            return None
        raise


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        kind=resource,
        name=name,
        group=group,
    )


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        kind=resource,
        name=name,
        group=group,
    )


def invalid(kind: str, name: str, causes: Sequence[Cause], group: str = "") -> ApiError:
    text = "; ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    qualified = f"{kind}.{group}" if group else kind
    message = f'{qualified} "{name}" is invalid: {text}'
    if len(causes) > 1:
        message = f'{qualified} "{name}" is invalid: [{text.replace("; ", ", ")}]'
    return ApiError(422, "Invalid", message, kind=kind, name=name, group=group, causes=causes)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def continue_expired() -> ApiError:
    """A list's continue token whose snapshot was compacted (kube's etcd3 store words)."""
    return expired(
        "The provided continue parameter is too old to display a consistent list result. "
        "You can start a new list without the continue parameter."
    )


def too_large(message: str) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")


# What create and update bodies may be, as kube-apiserver lists them in a 415.
BODY_MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def unsupported_media_type(
    content_type: str, accepted: Sequence[str] = BODY_MEDIA_TYPES
) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got {content_type!r})",
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def timeout(message: str, retry_after: int = 0) -> ApiError:
    return ApiError(504, "Timeout", f"Timeout: {message}", retry_after=retry_after)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """A read at a resourceVersion the store has not reached (after waiting for it).

    client-go's reflector recognises this case by the ResourceVersionTooLarge
    cause, not by the message, so the cause is part of the contract.
    """
    err = timeout(f"Too large resource version: {requested}, current: {current}", retry_after=1)
    err.causes = (Cause("", "ResourceVersionTooLarge", "Too large resource version"),)
    return err


# What kube-apiserver answers for a bare HTTP status (apimachinery's
# NewGenericServerResponse): used when the HTTP layer itself refuses a
# request (aiohttp's router or body limit) rather than an API handler.
_GENERIC: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: ("NotAcceptable",
          "the server was unable to respond with a content type that the client supports"),
    409: ("Conflict", "the server reported a conflict"),
    413: ("RequestEntityTooLarge", "Request entity too large"),
    415: ("UnsupportedMediaType", "the body of the request was in an unknown format"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests",
          "the server has received too many requests and has asked us to try again later"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, "
          "but may still be processing the request"),
}  # fmt: skip


def from_http_status(code: int) -> ApiError:
    """The Status kube-apiserver sends for a bare HTTP error code."""
    if code in _GENERIC:
        reason, message = _GENERIC[code]
    elif code >= 500:
        reason, message = "InternalError", "an error on the server has prevented the request"
    else:
        reason = "Unknown"
        message = f"the server responded with the status code {code} but did not return more "
        message += "information"
    return ApiError(code, reason, message)
