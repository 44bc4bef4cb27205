from __future__ import annotations

import pytest

from kybernetes.node.images.config import ImageConfig, resolve_argv

DOC = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Entrypoint": ["/entry.sh"],
        "Cmd": ["serve", "--port=80"],
        "Env": ["PATH=/bin", "A=1", "A=2", "EMPTY="],
        "WorkingDir": "/srv",
        "User": "33:33",
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Labels": {"org.example": "yes"},
        "StopSignal": "SIGQUIT",
    },
}


def test_from_json() -> None:
    config = ImageConfig.from_json(DOC)
    assert config.entrypoint == ("/entry.sh",)
    assert config.cmd == ("serve", "--port=80")
    assert config.working_dir == "/srv" and config.user == "33:33"
    assert config.exposed_ports == ("53/udp", "8080/tcp")
    assert config.labels == {"org.example": "yes"}
    assert config.stop_signal == "SIGQUIT"
    assert config.env_map() == {"PATH": "/bin", "A": "2", "EMPTY": ""}
    assert (config.os, config.architecture) == ("linux", "amd64")
    empty = ImageConfig.from_json({"config": None})
    assert empty == ImageConfig()


@pytest.mark.parametrize(
    ("command", "args", "argv"),
    [
        # The four "Containers, ..." conformance cases.
        (None, None, ["/entry.sh", "serve", "--port=80"]),
        (None, ["x", "y"], ["/entry.sh", "x", "y"]),
        (["/bin/sh", "-c"], None, ["/bin/sh", "-c"]),
        (["/bin/sh", "-c"], ["echo hi"], ["/bin/sh", "-c", "echo hi"]),
        ([], [], ["/entry.sh", "serve", "--port=80"]),
    ],
)
def test_resolve_argv(command: list[str] | None, args: list[str] | None, argv: list[str]) -> None:
    assert resolve_argv(ImageConfig.from_json(DOC), command=command, args=args) == argv


def test_an_empty_entrypoint_means_none() -> None:
    config = ImageConfig(entrypoint=("",), cmd=("sh",))
    assert resolve_argv(config, command=None, args=None) == ["sh"]
