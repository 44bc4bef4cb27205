"""The `kyb` console script: parses arguments and dispatches by command name."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from kybernetes import __version__
from kybernetes.cli import lifecycle
from kybernetes.cli.components import COMPONENTS, Settings, run_alone
from kybernetes.cli.images import add_image_commands, run_image_command
from kybernetes.cli.paths import default_data_dir, default_store_url
from kybernetes.node.runtime.base import RUNTIME_NAMES
from kybernetes.store import StoreError

__all__ = ["main"]

DEFAULT_PORT = 6443


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--datastore-endpoint",
        "--store",
        dest="store",
        default=None,
        help="store URL: sqlite:///path/state.db (default, in the data dir) or "
        "etcd://host:2379[,host:2379]",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"HTTPS port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--bind-address",
        default="0.0.0.0",
        help="address the API listens on (default 0.0.0.0)",
    )
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        choices=sorted(COMPONENTS),
        help="do not run this component inside the server (run it alone instead); repeatable",
    )
    parser.add_argument(
        "--api-processes",
        type=_positive,
        default=1,
        metavar="N",
        help="serve the API from N processes sharing the port and the store (default 1; "
        "each uses up to one core: on a busy API, 2 on a 2-core machine serves ~1.3-1.7x)",
    )
    parser.add_argument(
        "--serve-store",
        default="",
        metavar="HOST:PORT",
        help="also serve the store itself to other processes (kyb://HOST:PORT)",
    )
    parser.add_argument(
        "--token-auth-file",
        type=Path,
        default=None,
        metavar="FILE",
        help='accept the bearer tokens of this CSV file (token,user,uid[,"group1,group2"]), '
        "as kube-apiserver's flag of that name",
    )


def _node_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-name", default="", help="the node's name (default: hostname)")
    parser.add_argument("--node-ip", default="",
                        help="the node's InternalIP (default: this machine's address)")  # fmt: skip
    parser.add_argument("--node-netns", default="", metavar="NAME",
                        help="keep the node's pod network behind this network namespace "
                        "(/run/netns/NAME) instead of the machine's own (tests)")  # fmt: skip
    parser.add_argument("--runtime", choices=RUNTIME_NAMES, default="",
                        help="runc: real containers (root and runc needed); process: each "
                        "container's command as a plain host process, no isolation (default: "
                        "runc when possible, else process)")  # fmt: skip
    parser.add_argument("--kubelet-port", type=int, default=10250,
                        help="the kubelet API port (default 10250; 0: any free port)")  # fmt: skip
    parser.add_argument("--dns-port", type=int, default=53,
                        help="cluster DNS port on the node's address (default 53)")  # fmt: skip
    parser.add_argument("--ingress-http-port", type=int, default=80,
                        help="the ingress's HTTP port (default 80)")  # fmt: skip
    parser.add_argument("--ingress-https-port", type=int, default=443,
                        help="the ingress's HTTPS port (default 443)")  # fmt: skip
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST:PORT",
                        help="pull from this registry over plain HTTP; repeatable")  # fmt: skip


def _sim_flags(parser: argparse.ArgumentParser, flag: str) -> None:
    parser.add_argument(flag, dest="simulated_nodes", type=int, default=0, metavar="N",
                        help="simulated nodes to add (pods on them are API-only)")  # fmt: skip
    parser.add_argument("--simulated-prefix", default="sim-",
                        help="name prefix of simulated nodes (default sim-)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kyb", description="Kybernetes: a small Kubernetes-compatible cluster."
    )
    parser.add_argument("--version", action="version", version=f"kyb {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the cluster keeps its files (default: $KYB_DATA_DIR, "
        "/var/lib/kybernetes as root, ~/.kybernetes otherwise)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in [
        ("start", "start a cluster in the background and wait until it is ready"),
        ("server", "run the cluster in the foreground (what start runs)"),
    ]:
        command = commands.add_parser(name, help=text, parents=[common])
        _server_flags(command)
        _node_flags(command)
        _sim_flags(command, "--simulated-nodes")
    for component in COMPONENTS.values():
        alone = commands.add_parser(
            component.command, help=f"{component.help}, alone, against any cluster",
            parents=[common],
        )  # fmt: skip
        if component.name in ("kubelet", "ingress", "proxy", "dns"):
            _node_flags(alone)
        if component.name == "simulated-nodes":
            _sim_flags(alone, "--nodes")
        alone.add_argument(
            "--kubeconfig",
            type=Path,
            default=None,
            help="the cluster to work for (default: the admin kubeconfig in the data dir)",
        )
    add_image_commands(commands, common)
    commands.add_parser("status", help="show what runs", parents=[common])
    commands.add_parser("stop", help="stop the cluster, keeping its data", parents=[common])
    commands.add_parser(
        "delete", help="stop the cluster, delete its data and kubeconfig entry", parents=[common]
    )
    kubectl = commands.add_parser(
        "kubectl", help="run kubectl against this cluster: kyb kubectl -- ARGS", parents=[common]
    )
    kubectl.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _server_args(args: argparse.Namespace) -> list[str]:
    flags = ["--port", str(args.port), "--bind-address", args.bind_address]
    if args.api_processes != 1:
        flags += ["--api-processes", str(args.api_processes)]
    if args.store:
        flags += ["--datastore-endpoint", args.store]
    if args.serve_store:
        flags += ["--serve-store", args.serve_store]
    if args.token_auth_file:
        flags += ["--token-auth-file", str(args.token_auth_file.resolve())]
    for name in args.disable:
        flags += ["--disable", name]
    for flag, value in (("--node-name", args.node_name), ("--node-ip", args.node_ip),
                        ("--node-netns", args.node_netns),
                        ("--runtime", getattr(args, "runtime", ""))):  # fmt: skip
        if value:
            flags += [flag, value]
    flags += ["--kubelet-port", str(args.kubelet_port),
              "--dns-port", str(args.dns_port),
              "--ingress-http-port", str(args.ingress_http_port),
              "--ingress-https-port", str(args.ingress_https_port)]  # fmt: skip
    for registry in args.insecure_registry:
        flags += ["--insecure-registry", registry]
    if args.simulated_nodes:
        flags += ["--simulated-nodes", str(args.simulated_nodes),
                  "--simulated-prefix", args.simulated_prefix]  # fmt: skip
    return flags


def _settings(args: argparse.Namespace, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        node_name=getattr(args, "node_name", ""),
        node_ip=getattr(args, "node_ip", ""),
        node_netns=getattr(args, "node_netns", ""),
        runtime=getattr(args, "runtime", ""),
        kubelet_listen=("0.0.0.0", getattr(args, "kubelet_port", 10250)),
        dns_port=getattr(args, "dns_port", 53),
        ingress_http=("0.0.0.0", getattr(args, "ingress_http_port", 80)),
        ingress_https=("0.0.0.0", getattr(args, "ingress_https_port", 443)),
        insecure_registries=tuple(getattr(args, "insecure_registry", ())),
        simulated_nodes=getattr(args, "simulated_nodes", 0),
        simulated_prefix=getattr(args, "simulated_prefix", "sim-"),
    )


def _run_server(args: argparse.Namespace, data_dir: Path) -> int:
    from kybernetes.cli.server import run_server
    from kybernetes.util.tasks import run_to_completion

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store_url = args.store or default_store_url(data_dir)
    settings = _settings(args, data_dir)
    # A node in this process starts hundreds of subprocesses: see util/tasks.py.
    node_here = "kubelet" not in args.disable and COMPONENTS["kubelet"].in_server(settings)
    try:
        run_to_completion(
            run_server(
                data_dir=data_dir,
                store_url=store_url,
                bind=args.bind_address,
                port=args.port,
                serve_store_at=args.serve_store,
                api_processes=args.api_processes,
                token_auth_file=args.token_auth_file,
                disable=frozenset(args.disable),
                settings=settings,
            ),
            spawns=node_here,
        )
    except (StoreError, OSError, ValueError) as err:
        # Expected failures (bad URL, port taken, data dir not writable,
        # etcd unreachable) are one line, not a traceback.
        print(f"kyb server: {err}", file=sys.stderr)
        return 1
    return 0


def _run_component(args: argparse.Namespace, data_dir: Path) -> int:
    from kybernetes.util.tasks import run_to_completion

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    kubeconfig: Path = args.kubeconfig or data_dir / "kubeconfig"
    if not kubeconfig.is_file():
        print(f"kyb {args.command}: no kubeconfig at {kubeconfig}; pass --kubeconfig PATH "
              "or start a cluster with `kyb start`", file=sys.stderr)  # fmt: skip
        return 1
    component = next(c for c in COMPONENTS.values() if c.command == args.command)
    try:
        run_to_completion(run_alone(component, kubeconfig, _settings(args, data_dir)),
                          spawns=args.command == "agent")  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f"kyb {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


def _kubectl(args: argparse.Namespace, data_dir: Path) -> int:
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return lifecycle.kubectl(data_dir=data_dir, args=rest)


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "start": lambda args, data_dir: lifecycle.start(
        data_dir=data_dir, server_args=_server_args(args)
    ),
    "server": _run_server,
    "status": lambda args, data_dir: lifecycle.status(data_dir=data_dir),
    "stop": lambda args, data_dir: lifecycle.stop(data_dir=data_dir),
    "delete": lambda args, data_dir: lifecycle.delete(data_dir=data_dir),
    "kubectl": _kubectl,
    "image": run_image_command,
    **{component.command: _run_component for component in COMPONENTS.values()},
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    return COMMANDS[args.command](args, data_dir)
