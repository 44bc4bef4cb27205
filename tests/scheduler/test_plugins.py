"""Every plugin, pure: a pod and node state in, a status or a score out."""

from __future__ import annotations

from kybernetes.scheduler.framework import (
    SKIP,
    UNRESOLVABLE,
    UNSCHEDULABLE,
    CycleState,
    Exclusions,
    Status,
)
from kybernetes.scheduler.plugins.imagelocality import ImageLocality, image_score
from kybernetes.scheduler.plugins.interpodaffinity import ANTI, EXISTING_ANTI, InterPodAffinity
from kybernetes.scheduler.plugins.nodeaffinity import NodeAffinity
from kybernetes.scheduler.plugins.nodename import NodeName
from kybernetes.scheduler.plugins.nodeports import NodePorts
from kybernetes.scheduler.plugins.noderesources import (
    BalancedAllocation,
    LeastAllocated,
    NodeResourcesFit,
)
from kybernetes.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kybernetes.scheduler.plugins.podtopologyspread import PodTopologySpread
from kybernetes.scheduler.plugins.selectorspread import SelectorSpread
from kybernetes.scheduler.plugins.tainttoleration import TaintToleration, tolerates
from kybernetes.scheduler.types import NodeInfo, PodInfo, normalize_image
from tests.scheduler.helpers import cluster, make_node, make_node_obj, make_pod

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def reasons(status: Status | None) -> tuple[str, ...]:
    return () if status is None else status.reasons


# -- NodeResourcesFit ---------------------------------------------------------------


def test_resources_fit_cpu_memory_and_pod_count() -> None:
    fit = NodeResourcesFit()
    node = make_node(cpu="1", memory="1Gi", pods="2")
    assert fit.filter({}, make_pod(cpu="1", memory="1Gi"), node) is None
    status = fit.filter({}, make_pod(cpu="1001m", memory="2Gi"), node)
    assert status is not None and status.code == UNSCHEDULABLE
    assert status.reasons == ("Insufficient cpu", "Insufficient memory")
    node.add_pod(make_pod("a", cpu="600m"))
    assert reasons(fit.filter({}, make_pod(cpu="500m"), node)) == ("Insufficient cpu",)
    node.add_pod(make_pod("b"))
    assert reasons(fit.filter({}, make_pod(), node)) == ("Too many pods",)
    node.add_pod(make_pod("b"), -1)
    assert fit.filter({}, make_pod(cpu="400m"), node) is None


def test_resources_fit_extended_resources_and_quantities() -> None:
    fit = NodeResourcesFit()
    node = make_node(extra={"example.com/foo": "2"})
    pod = PodInfo(
        {
            "metadata": {"name": "p", "namespace": "d"},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"example.com/foo": "3"}}}]
            },
        }
    )
    assert reasons(fit.filter({}, pod, node)) == ("Insufficient example.com/foo",)
    assert reasons(fit.filter({}, make_pod(memory="1e3"), node)) == ()
    assert make_pod(memory="1e3").requests.memory == 1000


def test_init_containers_count_as_their_maximum_plus_overhead() -> None:
    pod = PodInfo(
        {
            "metadata": {"name": "p", "namespace": "d"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "200m"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "300m"}}},
                ],
                "initContainers": [
                    {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "1Mi"}}},
                    {"name": "j", "resources": {"requests": {"cpu": "100m"}}},
                ],
                "overhead": {"cpu": "50m"},
            },
        }
    )
    assert pod.requests.milli_cpu == 1050  # max(500m, 1) + 50m overhead
    assert pod.requests.memory == 1024 * 1024


def test_least_allocated_and_balanced_scores() -> None:
    empty, half = make_node("a", cpu="4", memory="8Gi"), make_node("b", cpu="4", memory="8Gi")
    half.add_pod(make_pod("x", cpu="2", memory="4Gi"))
    pod = make_pod(cpu="1", memory="2Gi")
    least = LeastAllocated()
    assert least.score({}, pod, empty) == 75
    assert least.score({}, pod, half) == 25
    balanced = BalancedAllocation()
    skewed = make_node("c", cpu="4", memory="8Gi")
    skewed.add_pod(make_pod("y", cpu="3", memory="100Mi"))
    assert balanced.score({}, pod, empty) == 100
    assert balanced.score({}, pod, skewed) < balanced.score({}, pod, empty)


def test_request_less_pods_count_a_default_when_scoring() -> None:
    node = make_node(cpu="1", memory="1Gi")
    node.add_pod(make_pod("bare"))
    assert node.requested.milli_cpu == 0 and node.non_zero_cpu == 100


# -- NodeName, NodeUnschedulable ------------------------------------------------------


def test_node_name() -> None:
    plugin = NodeName()
    assert plugin.pre_filter({}, make_pod(), cluster()) is SKIP
    pod = make_pod(node="n2")
    assert plugin.filter({}, pod, make_node("n2")) is None
    status = plugin.filter({}, pod, make_node("n1"))
    assert status is not None and status.code == UNRESOLVABLE
    assert status.reasons == ("node(s) didn't match the requested node name",)


def test_node_unschedulable_unless_tolerated() -> None:
    plugin = NodeUnschedulable()
    cordoned = make_node(unschedulable=True)
    assert reasons(plugin.filter({}, make_pod(), cordoned)) == ("node(s) were unschedulable",)
    tolerant = make_pod(
        tolerations=[
            {
                "key": "node.kubernetes.io/unschedulable",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        ]
    )
    assert plugin.filter({}, tolerant, cordoned) is None
    assert plugin.filter({}, make_pod(), make_node()) is None
    cache = cluster(make_node_obj("a"), make_node_obj("b", unschedulable=True))
    named = plugin.pre_filter({}, make_pod(), cache)
    assert isinstance(named, Exclusions) and list(named.statuses) == ["b"]
    assert plugin.pre_filter({}, tolerant, cache) is SKIP


# -- NodeAffinity -------------------------------------------------------------------------


def affinity_pod(terms: list[dict[str, object]], **kwargs: object) -> PodInfo:
    return make_pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        },
        **kwargs,
    )


def test_node_selector_and_required_affinity_operators() -> None:
    plugin = NodeAffinity()
    node = make_node("n1", labels={"disk": "ssd", "gen": "5"})
    assert plugin.pre_filter({}, make_pod(), cluster()) is SKIP
    assert plugin.filter({}, make_pod(nodeSelector={"disk": "ssd"}), node) is None
    mismatch = plugin.filter({}, make_pod(nodeSelector={"disk": "hdd"}), node)
    assert reasons(mismatch) == ("node(s) didn't match Pod's node affinity/selector",)
    assert mismatch is not None and mismatch.code == UNRESOLVABLE

    def fits(*exprs: dict[str, object], fields: list[dict[str, object]] | None = None) -> bool:
        term: dict[str, object] = {"matchExpressions": list(exprs)}
        if fields:
            term["matchFields"] = fields
        return plugin.filter({}, affinity_pod([term]), node) is None

    assert fits({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]})
    assert not fits({"key": "disk", "operator": "NotIn", "values": ["ssd"]})
    assert fits({"key": "disk", "operator": "Exists"})
    assert fits({"key": "gpu", "operator": "DoesNotExist"})
    assert fits({"key": "gen", "operator": "Gt", "values": ["4"]})
    assert not fits({"key": "gen", "operator": "Lt", "values": ["5"]})
    assert not fits({"key": "disk", "operator": "Gt", "values": ["1"]})  # not an integer
    assert fits(fields=[{"key": "metadata.name", "operator": "In", "values": ["n1"]}])
    assert not fits(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}])
    # Terms are ORed; an empty term matches nothing.
    either = affinity_pod(
        [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
            {"matchExpressions": [{"key": "gen", "operator": "In", "values": ["5"]}]},
        ]
    )
    assert plugin.filter({}, either, node) is None
    assert plugin.filter({}, affinity_pod([{}]), node) is not None


def test_preferred_node_affinity_scores() -> None:
    plugin = NodeAffinity()
    pod = make_pod(
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 80,
                        "preference": {
                            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]
                        },
                    },
                    {
                        "weight": 20,
                        "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]},
                    },
                ]
            }
        }
    )
    nodes = [
        make_node("a", labels={"zone": "a", "disk": "x"}),
        make_node("b", labels={"zone": "a"}),
        make_node("c"),
    ]
    state: CycleState = {}
    assert plugin.pre_score(state, pod, nodes, cluster())
    scores = [plugin.score(state, pod, n) for n in nodes]
    assert scores == [100, 80, 0]
    plugin.normalize(state, pod, scores)
    assert scores == [100, 80, 0]


# -- TaintToleration ------------------------------------------------------------------------


def test_taints_filter_with_the_kube_scheduler_reason() -> None:
    plugin = TaintToleration()
    node = make_node(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    status = plugin.filter({}, make_pod(), node)
    assert reasons(status) == ("node(s) had untolerated taint {dedicated: db}",)
    assert status is not None and status.code == UNRESOLVABLE
    equal = make_pod(
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
        ]
    )
    assert plugin.filter({}, equal, node) is None
    wrong_value = make_pod(tolerations=[{"key": "dedicated", "value": "web"}])
    assert plugin.filter({}, wrong_value, node) is not None
    assert plugin.filter({}, make_pod(tolerations=[{"operator": "Exists"}]), node) is None
    soft = make_node(taints=[{"key": "x", "effect": "PreferNoSchedule"}])
    assert plugin.filter({}, make_pod(), soft) is None
    # In a cycle the tainted nodes are named up front, from the cache's list of them.
    cache = cluster(
        make_node_obj("clean"),
        make_node_obj("db", taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]),
    )
    named = plugin.pre_filter({}, make_pod(), cache)
    assert isinstance(named, Exclusions) and list(named.statuses) == ["db"]
    assert plugin.pre_filter({}, make_pod(tolerations=[{"operator": "Exists"}]), cache) is SKIP


def test_toleration_rules() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoExecute"}
    assert tolerates([{"key": "k", "operator": "Exists"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}], taint)
    assert tolerates([{"key": "k", "value": "v"}], taint)
    assert not tolerates([{"key": "other", "operator": "Exists"}], taint)
    assert not tolerates([], taint)


def test_prefer_no_schedule_lowers_the_score() -> None:
    plugin = TaintToleration()
    cache = cluster(
        make_node_obj("a"), make_node_obj("b", taints=[{"key": "x", "effect": "PreferNoSchedule"}])
    )
    clean, soft = cache.nodes["a"], cache.nodes["b"]
    pod = make_pod()
    state: CycleState = {}
    assert not plugin.pre_score(state, pod, [clean], cluster(make_node_obj("a")))
    assert plugin.pre_score(state, pod, [clean, soft], cache)
    scores = [plugin.score(state, pod, n) for n in (clean, soft)]
    plugin.normalize(state, pod, scores)
    assert scores == [100, 0]
    tolerant = make_pod(tolerations=[{"key": "x", "operator": "Exists"}])
    state = {}
    plugin.pre_score(state, tolerant, [clean, soft], cache)
    assert plugin.score(state, tolerant, soft) == 0


# -- NodePorts -----------------------------------------------------------------------------


def port(number: int, *, ip: str = "", protocol: str = "TCP") -> dict[str, object]:
    spec: dict[str, object] = {"containerPort": 80, "hostPort": number, "protocol": protocol}
    if ip:
        spec["hostIP"] = ip
    return spec


def test_host_ports() -> None:
    plugin = NodePorts()
    assert plugin.pre_filter({}, make_pod(), cluster()) is SKIP
    node = make_node()
    node.add_pod(make_pod("a", ports=[port(8080, ip="127.0.0.1")]))
    conflict = plugin.filter({}, make_pod(ports=[port(8080)]), node)  # 0.0.0.0 takes every IP
    assert reasons(conflict) == ("node(s) didn't have free ports for the requested pod ports",)
    assert plugin.filter({}, make_pod(ports=[port(8080, ip="10.0.0.1")]), node) is None
    assert (
        plugin.filter({}, make_pod(ports=[port(8080, ip="127.0.0.1", protocol="UDP")]), node)
        is None
    )
    assert plugin.filter({}, make_pod(ports=[port(8080, ip="127.0.0.1")]), node) is not None
    node.add_pod(make_pod("a", ports=[port(8080, ip="127.0.0.1")]), -1)
    assert plugin.filter({}, make_pod(ports=[port(8080)]), node) is None


# -- InterPodAffinity ------------------------------------------------------------------------


def anti(selector: dict[str, str], key: str = HOST) -> dict[str, object]:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": selector}, "topologyKey": key}
            ]
        }
    }


def together(selector: dict[str, str], key: str = HOST) -> dict[str, object]:
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": selector}, "topologyKey": key}
            ]
        }
    }


def run_filter(
    plugin: InterPodAffinity | PodTopologySpread, pod: PodInfo, cache: object, node: NodeInfo
) -> Status | None:
    state: CycleState = {}
    result = plugin.pre_filter(state, pod, cache)  # type: ignore[arg-type]
    if result is SKIP:
        return None
    if isinstance(result, Exclusions):  # the failing nodes, named up front
        return result.statuses.get(node.name)
    assert result is None
    return plugin.filter(state, pod, node)


def test_pod_anti_affinity_by_hostname_and_zone() -> None:
    plugin = InterPodAffinity()
    cache = cluster(
        make_node_obj("a", labels={ZONE: "z1"}),
        make_node_obj("b", labels={ZONE: "z1"}),
        make_node_obj("c", labels={ZONE: "z2"}),
        pods=(make_pod("db-0", labels={"app": "db"}, node="a"),),
    )
    pod = make_pod("db-1", labels={"app": "db"}, affinity=anti({"app": "db"}))
    a, b, c = (cache.nodes[n] for n in "abc")
    assert reasons(run_filter(plugin, pod, cache, a)) == (
        "node(s) didn't match pod anti-affinity rules",
    )
    assert run_filter(plugin, pod, cache, b) is None
    by_zone = make_pod("db-1", labels={"app": "db"}, affinity=anti({"app": "db"}, ZONE))
    assert run_filter(plugin, by_zone, cache, b) is not None
    assert run_filter(plugin, by_zone, cache, c) is None
    # Other namespaces do not count.
    elsewhere = make_pod(
        "db-1", namespace="other", labels={"app": "db"}, affinity=anti({"app": "db"})
    )
    assert run_filter(plugin, elsewhere, cache, a) is None
    # No terms, no matching existing anti-affinity: the plugin skips itself.
    assert plugin.pre_filter({}, make_pod(), cache) is SKIP


def test_existing_pods_anti_affinity_is_symmetric() -> None:
    plugin = InterPodAffinity()
    cache = cluster(
        make_node_obj("a"),
        make_node_obj("b"),
        pods=(make_pod("lonely", node="a", affinity=anti({"app": "web"})),),
    )
    web = make_pod("web", labels={"app": "web"})
    assert reasons(run_filter(plugin, web, cache, cache.nodes["a"])) == (
        "node(s) didn't satisfy existing pods anti-affinity rules",
    )
    assert run_filter(plugin, web, cache, cache.nodes["b"]) is None
    assert (
        run_filter(plugin, make_pod("other", labels={"app": "db"}), cache, cache.nodes["a"]) is None
    )
    cache.remove_pod("default/lonely")
    assert run_filter(plugin, web, cache, cache.nodes["a"]) is None


def test_pod_affinity_and_the_first_pod_of_a_group() -> None:
    plugin = InterPodAffinity()
    cache = cluster(make_node_obj("a"), make_node_obj("b"))
    first = make_pod("w0", labels={"app": "w"}, affinity=together({"app": "w"}))
    # Nothing matches yet, but the pod matches its own term: anywhere will do.
    assert run_filter(plugin, first, cache, cache.nodes["a"]) is None
    stranger = make_pod("x", labels={"app": "x"}, affinity=together({"app": "w"}))
    status = run_filter(plugin, stranger, cache, cache.nodes["a"])
    assert reasons(status) == ("node(s) didn't match pod affinity rules",)
    assert status is not None and status.code == UNRESOLVABLE
    cache.assume(first, "b")
    second = make_pod("w1", labels={"app": "w"}, affinity=together({"app": "w"}))
    assert run_filter(plugin, second, cache, cache.nodes["a"]) is not None
    assert run_filter(plugin, second, cache, cache.nodes["b"]) is None


def test_preferred_pod_affinity_scores() -> None:
    plugin = InterPodAffinity()
    cache = cluster(
        make_node_obj("a"),
        make_node_obj("b"),
        pods=(make_pod("cache", labels={"app": "cache"}, node="b"),),
    )
    pod = make_pod(
        affinity={
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "cache"}},
                            "topologyKey": HOST,
                        },
                    }
                ]
            }
        }
    )
    nodes = [cache.nodes["a"], cache.nodes["b"]]
    state: CycleState = {}
    assert plugin.pre_score(state, pod, nodes, cache)
    scores = [plugin.score(state, pod, n) for n in nodes]
    plugin.normalize(state, pod, scores)
    assert scores == [0, 100]


# -- PodTopologySpread ------------------------------------------------------------------------


def spread(max_skew: int, when: str = "DoNotSchedule", key: str = ZONE) -> list[dict[str, object]]:
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]


def test_topology_spread_max_skew() -> None:
    plugin = PodTopologySpread()
    cache = cluster(
        make_node_obj("a", labels={ZONE: "z1"}),
        make_node_obj("b", labels={ZONE: "z2"}),
        make_node_obj("bare"),
        pods=(make_pod("s0", labels={"app": "s"}, node="a"),),
    )
    pod = make_pod("s1", labels={"app": "s"}, topologySpreadConstraints=spread(1))
    status = run_filter(plugin, pod, cache, cache.nodes["a"])
    assert reasons(status) == ("node(s) didn't match pod topology spread constraints",)
    assert run_filter(plugin, pod, cache, cache.nodes["b"]) is None
    missing = run_filter(plugin, pod, cache, cache.nodes["bare"])
    assert reasons(missing) == (
        "node(s) didn't match pod topology spread constraints (missing required label)",
    )
    loose = make_pod("s1", labels={"app": "s"}, topologySpreadConstraints=spread(2))
    assert run_filter(plugin, loose, cache, cache.nodes["a"]) is None
    assert plugin.pre_filter({}, make_pod(), cache) is SKIP


def test_topology_spread_schedule_anyway_scores() -> None:
    plugin = PodTopologySpread()
    cache = cluster(
        make_node_obj("a", labels={ZONE: "z1"}),
        make_node_obj("b", labels={ZONE: "z2"}),
        pods=(make_pod("s0", labels={"app": "s"}, node="a"),),
    )
    pod = make_pod("s1", labels={"app": "s"}, topologySpreadConstraints=spread(1, "ScheduleAnyway"))
    assert plugin.pre_filter({}, pod, cache) is SKIP  # nothing hard to filter
    nodes = [cache.nodes["a"], cache.nodes["b"]]
    state: CycleState = {}
    assert plugin.pre_score(state, pod, nodes, cache)
    scores = [plugin.score(state, pod, n) for n in nodes]
    plugin.normalize(state, pod, scores)
    assert scores == [0, 100]


# -- SelectorSpread, ImageLocality ---------------------------------------------------------------


def test_selector_spread_prefers_nodes_with_fewer_of_the_same_controller() -> None:
    plugin = SelectorSpread()
    a, b = make_node("a"), make_node("b")
    a.add_pod(make_pod("r0", owner="rs1"))
    a.add_pod(make_pod("r1", owner="rs1"))
    b.add_pod(make_pod("other", owner="rs2"))
    pod = make_pod("r2", owner="rs1")
    state: CycleState = {}
    assert plugin.pre_score(state, pod, [a, b], cluster())
    scores = [plugin.score(state, pod, n) for n in (a, b)]
    plugin.normalize(state, pod, scores)
    assert scores == [0, 100]
    assert not plugin.pre_score({}, make_pod(), [a, b], cluster())


def test_image_locality() -> None:
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("me/app:1") == "docker.io/me/app:1"
    assert normalize_image("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    big = [{"names": ["docker.io/library/nginx:latest"], "sizeBytes": 500 * 1024 * 1024}]
    cache = cluster(make_node_obj("with", images=big), make_node_obj("without"))
    plugin = ImageLocality()
    pod = make_pod(image="nginx")
    nodes = [cache.nodes["with"], cache.nodes["without"]]
    state: CycleState = {}
    assert plugin.pre_score(state, pod, nodes, cache)
    scores = [plugin.score(state, pod, n) for n in nodes]
    assert scores[0] > 0 and scores[1] == 0
    assert image_score(0, 1) == 0 and image_score(10**12, 1) == 100


def test_anti_affinity_terms_without_an_equality_and_with_several_requirements() -> None:
    plugin = InterPodAffinity()
    exists = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                    "topologyKey": HOST,
                }
            ]
        }
    }
    cache = cluster(
        make_node_obj("a"), make_node_obj("b"), pods=(make_pod("guard", node="a", affinity=exists),)
    )
    assert run_filter(plugin, make_pod("t", labels={"tier": "x"}), cache, cache.nodes["a"]) == (
        EXISTING_ANTI
    )
    assert run_filter(plugin, make_pod("u", labels={"other": "x"}), cache, cache.nodes["a"]) is None
    # Two requirements: the label index narrows, the selector still decides.
    both = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "db", "role": "primary"}},
                    "topologyKey": HOST,
                }
            ]
        }
    }
    cache.add_pod(make_pod("replica", labels={"app": "db", "role": "replica"}, node="b"))
    pod = make_pod("p", labels={"app": "db", "role": "primary"}, affinity=both)
    assert run_filter(plugin, pod, cache, cache.nodes["b"]) is None
    cache.add_pod(make_pod("primary", labels={"app": "db", "role": "primary"}, node="b"))
    assert run_filter(plugin, pod, cache, cache.nodes["b"]) == ANTI
