"""Label and field selectors, checked against Kubernetes' own behaviour and wording."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.api.selectors import (
    EVERYTHING,
    MATCH_NOTHING,
    SUPPORTED_FIELDS,
    FieldRequirement,
    FieldSelector,
    Operator,
    Requirement,
    SelectorError,
    check_field_selector,
    convert_field_selector,
    escape_field_value,
    label_selector_from_object,
    label_selector_from_set,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
)

# --- label selector syntax ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("", []),
        ("a=b", [("a", Operator.EQUALS, ("b",))]),
        ("a==b", [("a", Operator.DOUBLE_EQUALS, ("b",))]),
        ("a!=b", [("a", Operator.NOT_EQUALS, ("b",))]),
        ("a in (x,y)", [("a", Operator.IN, ("x", "y"))]),
        ("a notin (x)", [("a", Operator.NOT_IN, ("x",))]),
        ("a", [("a", Operator.EXISTS, ())]),
        ("!a", [("a", Operator.DOES_NOT_EXIST, ())]),
        ("a>3", [("a", Operator.GREATER_THAN, ("3",))]),
        ("a<3", [("a", Operator.LESS_THAN, ("3",))]),
        # Whitespace: spaces, tabs, CR and LF separate tokens anywhere.
        ("  a  in\t( x ,\ny )  ", [("a", Operator.IN, ("x", "y"))]),
        ("\rx", [("x", Operator.EXISTS, ())]),
        ("a = b , c", [("a", Operator.EQUALS, ("b",)), ("c", Operator.EXISTS, ())]),
        # An exact match with nothing after the operator selects the empty value.
        ("a=", [("a", Operator.EQUALS, ("",))]),
        ("a=,b!=", [("a", Operator.EQUALS, ("",)), ("b", Operator.NOT_EQUALS, ("",))]),
        # Value sets are deduplicated and sorted; empty slots are the empty value.
        ("a in (z,b,z)", [("a", Operator.IN, ("b", "z"))]),
        ("a in (x,)", [("a", Operator.IN, ("", "x"))]),
        ("a in (,x)", [("a", Operator.IN, ("", "x"))]),
        ("a in (x,,,)", [("a", Operator.IN, ("", "x"))]),
        # "()" is not an error in Kubernetes: it is the set of the empty value.
        ("a in ()", [("a", Operator.IN, ("",))]),
        ("a notin ( )", [("a", Operator.NOT_IN, ("",))]),
        # "in" and "notin" are operators only right after a key.
        ("in in (in,notin)", [("in", Operator.IN, ("in", "notin"))]),
        ("notin=in", [("notin", Operator.EQUALS, ("in",))]),
        # Requirements come out sorted by key, whatever the input order.
        (
            "z,b=1,a",
            [
                ("a", Operator.EXISTS, ()),
                ("b", Operator.EQUALS, ("1",)),
                ("z", Operator.EXISTS, ()),
            ],
        ),
        (
            "example.com/tier in (db),app.kubernetes.io/name=web",
            [
                ("app.kubernetes.io/name", Operator.EQUALS, ("web",)),
                ("example.com/tier", Operator.IN, ("db",)),
            ],
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, t.c)",
            [("0.1.2.domain/99", Operator.NOT_IN, ("10.10.100.1", "t.c"))],
        ),
        ("A_b.c-D=X_y.z-1", [("A_b.c-D", Operator.EQUALS, ("X_y.z-1",))]),
        ("a=" + "v" * 63, [("a", Operator.EQUALS, ("v" * 63,))]),
        ("k" * 63, [("k" * 63, Operator.EXISTS, ())]),
    ],
)
def test_parse_label_selector(
    text: str, requirements: list[tuple[str, Operator, tuple[str, ...]]]
) -> None:
    selector = parse_label_selector(text)
    assert selector.requirements == tuple(Requirement(*r) for r in requirements)
    assert selector.empty == (not requirements)


_NAME_PART_REGEX = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_REGEX = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_OPERATORS = "in, notin, =, ==, !=, gt, lt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Bad keys.
        (
            "-a",
            'unable to parse requirement: <nil>: Invalid value: "-a": '
            f"name part {_NAME_PART_REGEX}",
        ),
        (
            "k" * 64,
            f'unable to parse requirement: <nil>: Invalid value: "{"k" * 64}": '
            "name part must be no more than 63 bytes",
        ),
        (
            "a/b/c=x",
            f'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key '
            f"{_NAME_PART_REGEX} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')",
        ),
        (
            "/a",
            'unable to parse requirement: <nil>: Invalid value: "/a": '
            "prefix part must be non-empty",
        ),
        (
            "example.com/",
            'unable to parse requirement: <nil>: Invalid value: "example.com/": '
            f"name part must be non-empty; name part {_NAME_PART_REGEX}",
        ),
        (
            "Example.com/a",
            'unable to parse requirement: <nil>: Invalid value: "Example.com/a": prefix part a '
            "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
            "[a-z0-9])?)*')",
        ),
        # Bad values.
        (
            "a=" + "v" * 64,
            f'unable to parse requirement: values[0][a]: Invalid value: "{"v" * 64}": '
            "must be no more than 63 bytes",
        ),
        ("a=b.", f'unable to parse requirement: values[0][a]: Invalid value: "b.": {_VALUE_REGEX}'),
        (
            "a in (ok,-bad)",
            f'unable to parse requirement: values[0][a]: Invalid value: "-bad": {_VALUE_REGEX}',
        ),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a>",
            'unable to parse requirement: values[0]: Invalid value: "": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a<-1",
            f'unable to parse requirement: values[0][a]: Invalid value: "-1": {_VALUE_REGEX}',
        ),
        (
            "a>1.5.",
            "unable to parse requirement: [values[0]: Invalid value: \"1.5.\": for 'Gt', 'Lt' "
            f'operators, the value must be an integer, values[0][a]: Invalid value: "1.5.": '
            f"{_VALUE_REGEX}]",
        ),
        # Unbalanced or missing parentheses.
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (x,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a in (x))", "found ')', expected: ',' or 'end of string'"),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("a (", f"unable to parse requirement: found '(', expected: {_OPERATORS}"),
        # Structure.
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        # The value is checked before the parser looks further.
        (
            "x=a||y=b",
            f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {_VALUE_REGEX}',
        ),
        ("x=a,y=b c", "found 'c', expected: ',' or 'end of string'"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a!", f"unable to parse requirement: found '!', expected: {_OPERATORS}"),
        ("a nott in (y)", f"unable to parse requirement: found 'nott', expected: {_OPERATORS}"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x= ,z= ", "x=,z="),
        ("z notin (b,a), y in (d,c), x", "x,y in (c,d),z notin (a,b)"),
        ("x==abc,y!=a,!z", "x==abc,y!=a,!z"),
        ("b>2,a<8", "a<8,b>2"),
        ("x in (a,,)", "x in (,a)"),
        ("x notin ()", "x notin ()"),
        ("x=a,a=x", "a=x,x=a"),
    ],
)
def test_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical
    assert str(parse_label_selector(canonical)) == canonical


# --- label selector matching -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x==y", {"x": "y"}, True),
        ("x=y", {"x": "z"}, False),
        ("x=y", {}, False),
        ("x=", {"x": ""}, True),
        ("x=", {}, False),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x=y,z=w", {"x": "y"}, False),
        # != and notin match objects that do not have the label at all.
        ("x!=y", {}, True),
        ("x!=y", {"x": "z"}, True),
        ("x!=y", {"x": "y"}, False),
        ("x notin (a,b)", {}, True),
        ("x notin (a,b)", {"x": "c"}, True),
        ("x notin (a,b)", {"x": "a"}, False),
        ("x notin ()", {"x": ""}, False),
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {}, False),
        ("x in ()", {"x": ""}, True),
        ("x", {"x": ""}, True),
        ("x", {"y": "x"}, False),
        ("!x", {"y": "x"}, True),
        ("!x", {"x": ""}, False),
        # gt / lt compare integers and never match a missing or non-integer label.
        ("x>1", {"x": "2"}, True),
        ("x>1", {"x": "1"}, False),
        ("x>1", {"x": "+2"}, True),
        ("x>1", {"x": "10"}, True),
        ("x<10", {"x": "9"}, True),
        ("x<10", {"x": "-5"}, True),
        ("x<1", {"x": "2"}, False),
        ("x>1", {}, False),
        ("x>1", {"x": "v2"}, False),
        ("x>1", {"x": "2.5"}, False),
        ("x>1", {"x": " 2"}, False),
        ("x>1", {"x": "1_000"}, False),
        ("x>1", {"x": str(2**63)}, False),
        ("x<1", {"x": str(-(2**63))}, True),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_matching_none_labels_is_matching_no_labels() -> None:
    assert parse_label_selector("!a,b!=c").matches(None)
    assert not parse_label_selector("a").matches(None)
    assert EVERYTHING.matches(None)


# --- metav1.LabelSelector ----------------------------------------------------------------


def test_none_selects_nothing_and_empty_selects_everything() -> None:
    nothing = label_selector_from_object(None)
    assert nothing is MATCH_NOTHING
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert not nothing.empty
    assert str(nothing) == ""  # Kubernetes prints "nothing" as "" too
    everything: dict[str, Any]
    for everything in ({}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}):
        selector = label_selector_from_object(everything)
        assert selector.empty
        assert selector.matches({}) and selector.matches({"a": "b"})


def test_label_selector_from_object() -> None:
    selector = label_selector_from_object(
        {
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                {"key": "app", "operator": "NotIn", "values": ["legacy"]},
                {"key": "team", "operator": "Exists"},
                {"key": "debug", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert str(selector) == (
        "app=shop,app notin (legacy),!debug,env in (canary,prod),team,tier=web"
    )
    labels = {"app": "shop", "tier": "web", "env": "prod", "team": "a"}
    assert selector.matches(labels)
    assert not selector.matches({**labels, "debug": "1"})
    assert not selector.matches({**labels, "env": "dev"})
    assert not selector.matches({k: v for k, v in labels.items() if k != "team"})


def test_label_selector_from_set_treats_empty_as_everything() -> None:
    assert label_selector_from_set(None) is EVERYTHING
    assert label_selector_from_set({}) is EVERYTHING
    selector = label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "matchExpressions[0].values: Required value: "
            "must be specified when `operator` is 'In' or 'NotIn'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
            "matchExpressions[0].values: Required value: "
            "must be specified when `operator` is 'In' or 'NotIn'",
        ),
        (
            {
                "matchExpressions": [
                    {"key": "a", "operator": "Exists"},
                    {"key": "b", "operator": "Exists", "values": ["x"]},
                ]
            },
            "matchExpressions[1].values: Forbidden: "
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            'matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator',
        ),
        (
            {"matchExpressions": [{"key": "-a", "operator": "Exists"}]},
            f'matchExpressions[0].key: Invalid value: "-a": name part {_NAME_PART_REGEX}',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "b."]}]},
            f'matchExpressions[0].values[1]: Invalid value: "b.": {_VALUE_REGEX}',
        ),
        (
            {"matchLabels": {"a": "x" * 64}},
            f'matchLabels: Invalid value: "{"x" * 64}": must be no more than 63 bytes',
        ),
        (
            {"matchLabels": {"a b": "c"}},
            f'matchLabels: Invalid value: "a b": name part {_NAME_PART_REGEX}',
        ),
        (
            {
                "matchLabels": {"a": "b."},
                "matchExpressions": [{"key": "c", "operator": "In"}],
            },
            f'[matchLabels: Invalid value: "b.": {_VALUE_REGEX}, matchExpressions[0].values: '
            "Required value: must be specified when `operator` is 'In' or 'NotIn']",
        ),
        ({"matchLabels": ["a"]}, 'matchLabels: Invalid value: ["a"]: must be a map of strings'),
        ({"matchLabels": {"a": 1}}, "matchLabels: Invalid value: 1: must be a string"),
        ({"matchLabels": {2: "a", "b": "c"}}, "matchLabels: Invalid value: 2: must be a string"),
        (
            {"matchExpressions": {"key": "a"}},
            'matchExpressions: Invalid value: {"key": "a"}: must be a list',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
            'matchExpressions[0].values: Invalid value: "x": must be a list of strings',
        ),
    ],
)
def test_label_selector_from_object_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_object(obj)
    assert str(info.value) == message


def test_label_selector_from_object_errors_name_the_enclosing_field() -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_object(
            {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, field_path="spec.selector"
        )
    assert str(info.value) == (
        'spec.selector.matchExpressions[0].operator: Invalid value: "Bogus": '
        "not a valid selector operator"
    )


# --- field selectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "requirements", "canonical"),
    [
        ("", [], ""),
        ("a=b", [("a", "=", "b")], "a=b"),
        ("a==b", [("a", "=", "b")], "a=b"),
        ("a!=b", [("a", "!=", "b")], "a!=b"),
        ("a=", [("a", "=", "")], "a="),
        # Terms are sorted as strings; empty terms are skipped.
        ("z=1,a!=2,,m==3,", [("a", "!=", "2"), ("m", "=", "3"), ("z", "=", "1")], "a!=2,m=3,z=1"),
        # Escapes in values; the field part splits at the first operator.
        (r"a=x\,y", [("a", "=", "x,y")], r"a=x\,y"),
        (r"a=x\=y", [("a", "=", "x=y")], r"a=x\=y"),
        (r"a=x\\y", [("a", "=", "x\\y")], r"a=x\\y"),
        (r"a=\\\,\=,b=c", [("a", "=", "\\,="), ("b", "=", "c")], r"a=\\\,\=,b=c"),
        ("x=a||y\\=b", [("x", "=", "a||y=b")], "x=a||y\\=b"),
        # No trimming: spaces belong to the field and the value.
        ("a = b", [("a ", "=", " b")], "a = b"),
        # A bare "=" selects everything, so Kubernetes drops it.
        ("=", [], ""),
        ("=x", [("", "=", "x")], "=x"),
        ("함=수,목=록", [("목", "=", "록"), ("함", "=", "수")], "목=록,함=수"),
    ],
)
def test_parse_field_selector(
    text: str, requirements: list[tuple[str, str, str]], canonical: str
) -> None:
    selector = parse_field_selector(text)
    assert selector.requirements == tuple(FieldRequirement(*r) for r in requirements)
    assert all(isinstance(r, tuple) for r in selector.requirements)
    assert selector.empty == (not requirements)
    assert str(selector) == canonical
    assert parse_field_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a!==b", "invalid field selector: unescaped character in value: 61"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=\\\\\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


def test_escape_field_value_round_trips() -> None:
    for value in ["", "a", "=", ",", "\\", "\\=\\,\\", "a,b=c\\d"]:
        text = "f=" + escape_field_value(value)
        assert parse_field_selector(text).requirements == (FieldRequirement("f", "=", value),)
    assert escape_field_value("\\=\\,\\") == r"\\\=\\\,\\"


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a=", {}, True),  # a missing field reads as ""
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=", {}, False),
        ("a=b,c!=d", {"a": "b", "c": "e"}, True),
        ("a=b,c!=d", {"a": "b", "c": "d"}, False),
    ],
)
def test_field_selector_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


# --- per-kind field support --------------------------------------------------------------


def test_every_kind_supports_name_and_namespaced_kinds_namespace() -> None:
    for kind, supported in SUPPORTED_FIELDS.items():
        assert "metadata.name" in supported, kind
    for kind in ["Pod", "Event", "Secret", "Service", "Job", "ReplicationController"]:
        assert "metadata.namespace" in SUPPORTED_FIELDS[kind]
    # Kinds with their own conversion func reject metadata.namespace when cluster-scoped.
    assert "metadata.namespace" not in SUPPORTED_FIELDS["Node"]
    assert "metadata.namespace" not in SUPPORTED_FIELDS["Namespace"]


def test_supported_fields_per_kind() -> None:
    assert SUPPORTED_FIELDS["Pod"] == {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        "spec.host",
    }
    assert SUPPORTED_FIELDS["Secret"] == {"metadata.name", "metadata.namespace", "type"}
    assert SUPPORTED_FIELDS["Node"] == {"metadata.name", "spec.unschedulable"}
    assert SUPPORTED_FIELDS["Namespace"] == {"metadata.name", "status.phase"}
    assert SUPPORTED_FIELDS["Service"] == {
        "metadata.name",
        "metadata.namespace",
        "spec.clusterIP",
        "spec.type",
    }
    assert SUPPORTED_FIELDS["Job"] == {"metadata.name", "metadata.namespace", "status.successful"}
    assert "status.replicas" in SUPPORTED_FIELDS["ReplicationController"]
    # apps/v1 registers no conversion func: ReplicaSets only take the metadata fields.
    assert SUPPORTED_FIELDS["ReplicaSet"] == {"metadata.name", "metadata.namespace"}
    assert SUPPORTED_FIELDS["PersistentVolume"] == {"metadata.name", "metadata.namespace"}
    assert SUPPORTED_FIELDS["PersistentVolumeClaim"] == {"metadata.name", "metadata.namespace"}
    assert {"involvedObject.uid", "reason", "reportingComponent", "source", "type"} <= (
        SUPPORTED_FIELDS["Event"]
    )
    assert {"regarding.name", "reportingController", "reason", "type"} <= (
        SUPPORTED_FIELDS["events.k8s.io/Event"]
    )
    assert "involvedObject.name" not in SUPPORTED_FIELDS["events.k8s.io/Event"]


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("Pod", "spec.containers=x", "field label not supported: spec.containers"),
        ("Pod", "metadata.name=a,status.hostIP=b", "field label not supported: status.hostIP"),
        ("Node", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        ("Secret", "data=x", "field label not supported: data"),
        ("Event", "regarding.name=x", "field label not supported: regarding.name"),
        (
            "events.k8s.io/Event",
            "involvedObject.name=x",
            "field label not supported: involvedObject.name",
        ),
        ("Job", "status.failed=1", 'field label "status.failed" not supported for Job'),
        (
            "ReplicaSet",
            "status.replicas=0",
            '"status.replicas" is not a known field selector: '
            'only "metadata.name", "metadata.namespace"',
        ),
        (
            "Deployment",
            "spec.paused=true",
            '"spec.paused" is not a known field selector: '
            'only "metadata.name", "metadata.namespace"',
        ),
        ("Pod", "=x", "field label not supported: "),
    ],
)
def test_unsupported_fields_are_rejected(kind: str, text: str, message: str) -> None:
    selector = parse_field_selector(text)
    with pytest.raises(SelectorError) as info:
        check_field_selector(kind, selector)
    assert str(info.value) == message


def test_supported_fields_pass_and_aliases_convert() -> None:
    check_field_selector("Pod", parse_field_selector("spec.nodeName=n1,status.phase!=Running"))
    check_field_selector("Deployment", parse_field_selector("metadata.name=a,metadata.namespace=b"))
    pods = convert_field_selector("Pod", parse_field_selector("spec.host=n1"))
    assert pods.requirements == (FieldRequirement("spec.nodeName", "=", "n1"),)
    events = convert_field_selector(
        "events.k8s.io/Event",
        parse_field_selector("regarding.kind=Pod,reportingController=kubelet,type=Warning"),
    )
    assert events.requirements == (
        FieldRequirement("involvedObject.kind", "=", "Pod"),
        FieldRequirement("reportingComponent", "=", "kubelet"),
        FieldRequirement("type", "=", "Warning"),
    )


def test_pod_fields() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "web",
            "hostNetwork": True,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.9",
            "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
            "nominatedNodeName": "n2",
        },
    }
    assert selectable_fields("Pod", pod) == {
        "metadata.name": "web-0",
        "metadata.namespace": "shop",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "web",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.0.0.7",  # the first of podIPs wins, as in the internal type
        "status.nominatedNodeName": "n2",
    }


def test_unscheduled_pod_has_empty_and_zero_values() -> None:
    fields = selectable_fields("Pod", {"metadata": {"name": "p"}, "spec": {}, "status": {}})
    assert fields["spec.nodeName"] == ""
    assert fields["status.podIP"] == ""
    assert fields["metadata.namespace"] == ""
    assert fields["spec.hostNetwork"] == "false"  # a bool's zero value, not ""
    # The kubelet's and the scheduler's selectors.
    assert convert_field_selector("Pod", parse_field_selector("spec.nodeName=")).matches(fields)
    assert not convert_field_selector("Pod", parse_field_selector("spec.host=n1")).matches(fields)
    # status.podIPs is accepted but never exposed, so it only ever equals "".
    podips = convert_field_selector("Pod", parse_field_selector("status.podIPs=10.0.0.7"))
    assert not podips.matches(
        selectable_fields("Pod", {"status": {"podIPs": [{"ip": "10.0.0.7"}]}})
    )


def test_pod_legacy_fields() -> None:
    fields = selectable_fields(
        "Pod", {"spec": {"serviceAccount": "old"}, "status": {"podIP": "10.1.1.1"}}
    )
    assert fields["spec.serviceAccountName"] == "old"
    assert fields["status.podIP"] == "10.1.1.1"


def test_core_event_fields() -> None:
    event = {
        "metadata": {"name": "web-0.17", "namespace": "shop"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "shop",
            "name": "web-0",
            "uid": "u-1",
            "apiVersion": "v1",
            "resourceVersion": "42",
            "fieldPath": "spec.containers{web}",
        },
        "reason": "BackOff",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "n1"},
        "reportingComponent": "kubelet-n1",
    }
    assert selectable_fields("Event", event) == {
        "metadata.name": "web-0.17",
        "metadata.namespace": "shop",
        "involvedObject.kind": "Pod",
        "involvedObject.namespace": "shop",
        "involvedObject.name": "web-0",
        "involvedObject.uid": "u-1",
        "involvedObject.apiVersion": "v1",
        "involvedObject.resourceVersion": "42",
        "involvedObject.fieldPath": "spec.containers{web}",
        "reason": "BackOff",
        "reportingComponent": "kubelet-n1",
        "source": "kubelet",
        "type": "Warning",
    }
    # kubectl describe's query for a pod's events.
    selector = parse_field_selector(
        "involvedObject.name=web-0,involvedObject.namespace=shop,"
        "involvedObject.kind=Pod,involvedObject.uid=u-1"
    )
    assert convert_field_selector("Event", selector).matches(selectable_fields("Event", event))


def test_event_with_missing_values() -> None:
    fields = selectable_fields("Event", {"metadata": {"name": "e"}, "reportingComponent": "ctl"})
    assert fields["involvedObject.name"] == ""
    assert fields["reason"] == ""
    assert fields["source"] == "ctl"  # no source.component: the reporting controller


def test_events_k8s_io_event_fields_use_the_internal_names() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "shop"},
        "regarding": {"kind": "Pod", "name": "web-0", "namespace": "shop"},
        "reportingController": "example.com/ctl",
        "reason": "Started",
        "type": "Normal",
    }
    fields = selectable_fields("events.k8s.io/Event", event)
    assert fields["involvedObject.kind"] == "Pod"
    assert fields["involvedObject.name"] == "web-0"
    assert fields["reportingComponent"] == "example.com/ctl"
    assert fields["source"] == "example.com/ctl"
    selector = convert_field_selector(
        "events.k8s.io/Event", parse_field_selector("regarding.name=web-0,type=Normal")
    )
    assert selector.matches(fields)


def test_secret_node_namespace_fields() -> None:
    secret = {"metadata": {"name": "s", "namespace": "n"}, "type": "kubernetes.io/tls"}
    assert selectable_fields("Secret", secret) == {
        "metadata.name": "s",
        "metadata.namespace": "n",
        "type": "kubernetes.io/tls",
    }
    assert selectable_fields("Secret", {"metadata": {"name": "s"}})["type"] == ""
    assert selectable_fields(
        "Node", {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    ) == {
        "metadata.name": "n1",
        "spec.unschedulable": "true",
    }
    node = selectable_fields("Node", {"metadata": {"name": "n1"}})
    assert node == {"metadata.name": "n1", "spec.unschedulable": "false"}
    assert convert_field_selector("Node", parse_field_selector("spec.unschedulable=false")).matches(
        node
    )
    namespace = selectable_fields(
        "Namespace", {"metadata": {"name": "shop"}, "status": {"phase": "Active"}}
    )
    assert namespace["status.phase"] == "Active"
    assert "metadata.namespace" not in namespace


def test_counted_and_typed_fields() -> None:
    assert selectable_fields("Job", {"status": {"succeeded": 3}})["status.successful"] == "3"
    assert selectable_fields("Job", {})["status.successful"] == "0"
    rc = {"metadata": {"name": "rc", "namespace": "n"}, "status": {"replicas": 2}}
    assert selectable_fields("ReplicationController", rc)["status.replicas"] == "2"
    assert selectable_fields("ReplicaSet", {})["status.replicas"] == "0"
    service = {"spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP"}}
    assert selectable_fields("Service", service)["spec.clusterIP"] == "10.96.0.1"
    assert selectable_fields("Service", service)["spec.type"] == "ClusterIP"
    pv = selectable_fields("PersistentVolume", {"metadata": {"name": "pv1"}})
    assert pv == {"metadata.name": "pv1", "name": "pv1"}
    # Cluster-scoped PVs still accept metadata.namespace, which only ever equals "".
    in_ns = convert_field_selector("PersistentVolume", parse_field_selector("metadata.namespace=x"))
    assert not in_ns.matches(pv)


def test_unknown_kinds_expose_metadata_only() -> None:
    obj = {"metadata": {"name": "d", "namespace": "n"}, "spec": {"paused": True}}
    assert selectable_fields("Deployment", obj) == {"metadata.name": "d", "metadata.namespace": "n"}


def test_field_selector_is_a_value() -> None:
    assert parse_field_selector("a=b,c!=d") == FieldSelector(
        (FieldRequirement("a", "=", "b"), FieldRequirement("c", "!=", "d"))
    )
    assert hash(parse_label_selector("a in (x,y)")) == hash(parse_label_selector("a in (y,x)"))
