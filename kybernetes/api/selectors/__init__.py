"""Label and field selectors, parsed and evaluated exactly as Kubernetes does.

Kubernetes' behaviour is the specification here, quirks included: clients (kubectl,
client-go informers, controllers) were written against the real apiserver, so a selector
must select the same objects and a bad one must fail with the same message. The
behaviour follows k8s.io/apimachinery `pkg/labels/selector.go`, `pkg/fields/selector.go`,
`pkg/apis/meta/v1/helpers.go` (LabelSelectorAsSelector) and its validation, and, for the
per-kind field selectors, kubernetes `pkg/apis/*/v1/conversion.go` (which field labels a
request may use) and `pkg/registry/*/*/strategy.go` (which fields an object exposes).

Field selectors work in two layers, as in Kubernetes, and the two lists differ:

* `convert_field_selector` is the request side: it accepts or rejects each field label
  for the requested kind and renames aliases (a pod's legacy `spec.host`,
  events.k8s.io's `regarding.*`) to the internal names;
* `selectable_fields` is the object side: the internal field set of one object.

Match the converted selector against the field set. A label one side accepts but the
other never sets reads as "" (a pod's `status.podIPs` is accepted and never matches a
non-empty value), and a field the object side sets but the request side rejects can
never be selected (a ReplicaSet's `status.replicas`).
"""

from kybernetes.api.selectors.errors import SelectorError
from kybernetes.api.selectors.fields import (
    FieldRequirement,
    FieldSelector,
    escape_field_value,
    parse_field_selector,
)
from kybernetes.api.selectors.kinds import (
    SUPPORTED_FIELDS,
    check_field_selector,
    convert_field_selector,
    selectable_fields,
)
from kybernetes.api.selectors.labels import (
    EVERYTHING,
    MATCH_NOTHING,
    LabelSelector,
    Operator,
    Requirement,
    label_selector_from_object,
    label_selector_from_set,
    parse_label_selector,
)

__all__ = [
    "EVERYTHING",
    "MATCH_NOTHING",
    "SUPPORTED_FIELDS",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "check_field_selector",
    "convert_field_selector",
    "escape_field_value",
    "label_selector_from_object",
    "label_selector_from_set",
    "parse_field_selector",
    "parse_label_selector",
    "selectable_fields",
]
