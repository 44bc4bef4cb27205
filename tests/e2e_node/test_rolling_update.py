"""A rolling update under load loses no request (issue 6's proof, on a whole node).

A 3-replica Deployment with a readiness probe and a short preStop sleep
takes a steady, bounded stream of requests through its ClusterIP and
through an Ingress while its template changes. A terminating pod leaves the
Endpoints at once (its deletionTimestamp) but keeps serving through its
preStop sleep, so the proxy's rules and the ingress move away from it
before it stops on SIGTERM; a new pod gets traffic only once its probe
passes. Every request is a new connection, so conntrack holds no flow to a
dead pod. Without the hook the same test fails ("Connection refused" for a
few requests per update: the pod stops before the rules change), checked by
hand; the proof is that with it, none fails. The sleep is 5 s, as
Kubernetes' own advice has it: with 2 s, one request in a CI run on two busy
cores still reached a pod already gone ("No route to host"), the Endpoints
and the rules having taken longer than that to follow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e_node.node import IMAGE, NODE_IP, Node, until
from tests.e2e_node.test_services import SERVE, endpoints

pytestmark = pytest.mark.root

# httpd as PID 1 would ignore SIGTERM and serve on until SIGKILL, hiding the very
# race under test: here the pod stops serving the moment it gets SIGTERM.
SERVE_UNTIL_TERM = SERVE.replace("exec /bin/busybox httpd -f -p 8080 -h /tmp/w",
                                 "{ /bin/busybox httpd -f -p 8080 -h /tmp/w & } && "
                                 "trap 'kill $!; exit 0' TERM && wait")  # fmt: skip
assert SERVE_UNTIL_TERM != SERVE

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: roll}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: roll}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: roll}}}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: web
        image: {IMAGE}
        command: [/bin/busybox, sh, -c, {json.dumps(SERVE_UNTIL_TERM)}]
        ports: [{{containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /ready, port: 8080}}
          periodSeconds: 1
          failureThreshold: 1
        lifecycle:
          preStop: {{exec: {{command: [/bin/busybox, sleep, "5"]}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: roll}}
spec:
  selector: {{app: roll}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: roll}}
spec:
  rules:
  - host: roll.example.test
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: roll, port: {{number: 80}}}}}}}}
"""

# The load: two clients per target, each one request at a time with a 10 ms pause
# (a bounded stream, ~100-200/s in all), until the stop file appears; prints a
# JSON tally ({"target": [ok, [failures...]]}).
LOAD = """
import json, os, subprocess, sys, threading, time, urllib.parse, urllib.request
stop, targets = sys.argv[1], sys.argv[2:]
tally = {t: [0, []] for t in targets}

def snapshot(url):
    # At a failure (the first two): the node's neighbours, the connections to the
    # target that were never NATed (their reply comes "from" the address itself)
    # or are still unanswered, and the service rules.
    host = urllib.parse.urlsplit(url).hostname
    out = []
    for argv in (["ip", "-4", "neigh", "show"],
                 ["conntrack", "-L", "-p", "tcp", "--reply-src", host],
                 ["conntrack", "-L", "-p", "tcp", "--state", "SYN_SENT"],
                 ["nft", "list", "table", "ip", "kybernetes"]):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            out.append(" ".join(argv) + ":\\n" + done.stdout[-4000:])
        except Exception as err:
            out.append(repr(err))
    return "\\n".join(out)

def client(target):
    url, _, host = target.partition("@")
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    while not os.path.exists(stop):
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                reply.read()
            tally[target][0] += 1
        except Exception as err:
            note = f"{time.time():.3f} {err!r}"
            if len(tally[target][1]) < 2:
                note += "\\n" + snapshot(url)
            tally[target][1].append(note)
        time.sleep(0.01)

clients = [threading.Thread(target=client, args=(t,)) for t in targets for _ in range(2)]
for thread in clients:
    thread.start()
for thread in clients:
    thread.join()
print(json.dumps(tally))
"""


def test_a_rolling_update_under_load_fails_no_request(node: Node, tmp_path: Path) -> None:
    node.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    node.kubectl("rollout", "status", "deployment/roll", "--timeout=90s")
    until(lambda: len(endpoints(node, "roll")) == 3, what="three endpoints")
    cluster_ip = node.jsonpath("service", "roll", path="{.spec.clusterIP}")
    targets = [f"http://{cluster_ip}/", f"http://{NODE_IP}/@roll.example.test"]
    # Both paths answer before the load starts: the proxy routes the service range
    # to the pod bridge only once the kubelet has made it (with the first pod).
    until(lambda: node.fetch(targets[0]), what="the ClusterIP to answer")
    until(lambda: node.fetch(targets[1].split("@")[0], "-H", "Host: roll.example.test"),
          what="the ingress to route")  # fmt: skip
    stop = tmp_path / "stop"
    load = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{node.netns}", sys.executable, "-c", LOAD, str(stop),
         *targets], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        old = set(node.jsonpath("pods", "-l", "app=roll", path="{.items[*].metadata.name}").split())
        node.kubectl("set", "env", "deployment/roll", "VERSION=2")
        node.kubectl("rollout", "status", "deployment/roll", "--timeout=180s")

        def old_pods_gone() -> bool:
            names = node.jsonpath("pods", "-l", "app=roll", path="{.items[*].metadata.name}")
            return not old & set(names.split())

        until(old_pods_gone, timeout=60, what="the old pods to go")
    finally:
        stop.touch()
        out, _ = load.communicate(timeout=30)
    tally = json.loads(out)
    for target, (ok, failures) in tally.items():
        assert ok > 20, f"{target}: too few requests to tell ({ok})"
        assert not failures, (f"{target}: {len(failures)} of {ok + len(failures)} failed:\n"
                              + "\n".join(failures))  # fmt: skip
    node.kubectl("delete", "-f", "-", stdin=DEPLOYMENT)
