"""ConfigMaps and Secrets: their keys, sizes, types and immutability.

The rules are kube-apiserver's `ValidateConfigMap(Update)` and
`ValidateSecret(Update)`, with its words, because users meet them through
kubectl: every key is a config key (the name of a file in a volume, so no
`/`, no `..` prefix), the data together is at most 1 MiB (an etcd value),
a Secret's `type` promises keys (`kubernetes.io/tls` holds `tls.crt` and
`tls.key`, ...) and never changes, and once `immutable` is true neither the
data nor the flag may change again (labels, annotations and deletion still
may). A Secret's `stringData` is write-only: merged into `data` by
defaulting, before validation, as kube-apiserver's conversion does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.strategy import Strategy

__all__ = ["ConfigMapStrategy", "MAX_DATA_BYTES", "SecretStrategy", "config_key_errors"]

MAX_DATA_BYTES = 1024 * 1024  # corev1.MaxSecretSize, also the ConfigMap limit
_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)  # validation.IsConfigMapKey's RegexError, its two spaces before "or" included
_IMMUTABLE = "Forbidden: field is immutable when `immutable` is set"
_TOO_LONG = f"Too long: may not be more than {MAX_DATA_BYTES} bytes"
_REDACTED = "<secret contents redacted>"


def config_key_errors(key: str) -> list[str]:
    """What is wrong with a data key, in IsConfigMapKey's words (empty when fine)."""
    errors = []
    if len(key) > 253:
        errors.append("must be no more than 253 bytes")
    if not _KEY.fullmatch(key):
        errors.append(_KEY_MSG)
    if key in (".", ".."):
        errors.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def _key_causes(field: str, data: Mapping[str, Any]) -> Iterator[Cause]:
    for key in data:
        for error in config_key_errors(str(key)):
            yield Cause(f"{field}[{key}]", "FieldValueInvalid", f'Invalid value: "{key}": {error}')


def _mapping(obj: Obj, field: str, causes: list[Cause]) -> dict[str, Any]:
    value = obj.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        causes.append(Cause(field, "FieldValueInvalid", "Invalid value: must be an object"))
        return {}
    return value


def _decoded(value: Any) -> bytes | None:
    """A base64 value of `data`/`binaryData` as the bytes it stands for; None if it is not."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def _immutability(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes = []
    if new.get("immutable") is not True:
        causes.append(Cause("immutable", "FieldValueForbidden", _IMMUTABLE))
    for field in fields:
        # Absent and empty are one thing to Go (a nil map equals an empty one only
        # through omitempty); compare what a client would read back.
        if (new.get(field) or {}) != (old.get(field) or {}):
            causes.append(Cause(field, "FieldValueForbidden", _IMMUTABLE))
    return causes


class ConfigMapStrategy(Strategy):
    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        data = _mapping(obj, "data", causes)
        binary = _mapping(obj, "binaryData", causes)
        causes += _key_causes("data", data)
        size = 0
        for key, value in data.items():
            if not isinstance(value, str):
                causes.append(Cause(f"data[{key}]", "FieldValueInvalid",
                                    "Invalid value: must be a string"))  # fmt: skip
                continue
            if key in binary:
                causes.append(Cause(f"data[{key}]", "FieldValueInvalid",
                                    f'Invalid value: "{key}": duplicate of key present in '
                                    "binaryData"))  # fmt: skip
            size += len(value.encode())
        causes += _key_causes("binaryData", binary)
        for key, value in binary.items():
            raw = _decoded(value)
            if raw is None:
                causes.append(Cause(f"binaryData[{key}]", "FieldValueInvalid",
                                    "Invalid value: must be base64-encoded bytes"))  # fmt: skip
                continue
            size += len(raw)
        if size > MAX_DATA_BYTES:
            causes.append(Cause("", "FieldValueTooLong", _TOO_LONG))
        return causes

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        return _immutability(new, old, ("data", "binaryData")) + self.validate(new)


def _type_causes(secret: Obj, data: Mapping[str, bytes]) -> list[Cause]:
    """The keys (or annotation) a Secret's type promises, as ValidateSecret checks them."""
    kind = secret.get("type") or "Opaque"
    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [Cause("metadata.annotations[kubernetes.io/service-account.name]",
                          "FieldValueRequired", "Required value")]  # fmt: skip
    if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [Cause(f"data[{key}]", "FieldValueRequired", "Required value")]
        try:
            if not isinstance(json.loads(data[key]), dict):
                raise ValueError("cannot unmarshal into an object")
        except ValueError as err:
            return [Cause(f"data[{key}]", "FieldValueInvalid",
                          f'Invalid value: "{_REDACTED}": {err}')]  # fmt: skip
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        return [Cause("data[username]", "FieldValueRequired", "Required value"),
                Cause("data[password]", "FieldValueRequired", "Required value")]  # fmt: skip
    if kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        return [Cause("data[ssh-privatekey]", "FieldValueRequired", "Required value")]
    if kind == "kubernetes.io/tls":
        return [Cause(f"data[{key}]", "FieldValueRequired", "Required value")
                for key in ("tls.crt", "tls.key") if key not in data]  # fmt: skip
    return []


class SecretStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        obj.setdefault("type", "Opaque")
        # stringData is write-only: it is merged into data and never stored.
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()

    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        encoded = _mapping(obj, "data", causes)
        causes += _key_causes("data", encoded)
        data: dict[str, bytes] = {}
        for key, value in encoded.items():
            raw = _decoded(value)
            if raw is None:
                causes.append(Cause(f"data[{key}]", "FieldValueInvalid",
                                    "Invalid value: must be base64-encoded bytes"))  # fmt: skip
            else:
                data[str(key)] = raw
        if sum(len(raw) for raw in data.values()) > MAX_DATA_BYTES:
            causes.append(Cause("data", "FieldValueTooLong", _TOO_LONG))
        return causes + _type_causes(obj, data)

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        causes = []
        if new.get("type") != old.get("type"):
            shown = new.get("type")
            causes.append(Cause("type", "FieldValueInvalid",
                                f'Invalid value: "{shown}": field is immutable'))  # fmt: skip
        return causes + _immutability(new, old, ("data",)) + self.validate(new)
