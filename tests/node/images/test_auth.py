from __future__ import annotations

import base64
import json

from kybernetes.node.images.auth import (
    Credential,
    credentials_for,
    docker_configs_from_secrets,
    parse_challenge,
    parse_docker_config,
)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_docker_config_forms() -> None:
    config = {
        "auths": {
            "registry.example.com": {"auth": _auth("alice", "pa:ss")},
            "https://index.docker.io/v1/": {"username": "bob", "password": "hub"},
            "broken.example.com": {"auth": "!!notbase64:"},
            "empty.example.com": {},
        }
    }
    assert parse_docker_config(config) == [
        Credential("registry.example.com", "alice", "pa:ss"),
        Credential("https://index.docker.io/v1/", "bob", "hub"),
    ]
    # The legacy .dockercfg form has no "auths" wrapper.
    legacy = {"r.example.com": {"auth": _auth("c", "d")}}
    assert parse_docker_config(legacy) == [Credential("r.example.com", "c", "d")]
    assert Credential("k", "alice", "pw").basic() == "Basic " + _auth("alice", "pw")


def test_credentials_match_like_the_kubelet_keyring() -> None:
    secret_a = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": _auth("hub", "1")},
            "registry.example.com": {"auth": _auth("host", "2")},
            "registry.example.com/team": {"auth": _auth("team", "3")},
            "*.corp.example": {"auth": _auth("wild", "4")},
            "127.0.0.1:5000": {"auth": _auth("local", "5")},
        }
    }
    secret_b = {"auths": {"registry.example.com": {"auth": _auth("other", "6")}}}

    def users(domain: str, path: str) -> list[str]:
        return [c.username for c in credentials_for([secret_a, secret_b], domain=domain, path=path)]

    assert users("docker.io", "library/nginx") == ["hub"]
    # Most specific key first, then every other secret's match, in order.
    assert users("registry.example.com", "team/app") == ["team", "host", "other"]
    assert users("registry.example.com", "teamx/app") == ["host", "other"]
    assert users("eu.corp.example", "x") == ["wild"]
    assert users("a.b.corp.example", "x") == []
    assert users("127.0.0.1:5000", "x") == ["local"]
    assert users("127.0.0.1:5001", "x") == []
    assert users("quay.io", "x") == []


def test_bearer_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/nginx:pull,push",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic.scheme == "basic"
    assert basic.params == {"realm": "Registry Realm"}
    unquoted = parse_challenge('Bearer realm=http://x/token, error="invalid_token"')
    assert unquoted.params == {"realm": "http://x/token", "error": "invalid_token"}


def test_docker_configs_from_secret_objects() -> None:
    config = {"auths": {"r.example.com": {"auth": _auth("a", "b")}}}
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    legacy = base64.b64encode(json.dumps({"old.example.com": {"auth": _auth("c", "d")}}).encode())
    secrets = [
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": encoded}},
        {"type": "kubernetes.io/dockercfg", "data": {".dockercfg": legacy.decode()}},
        {"type": "Opaque", "data": {"password": "eHl6"}},
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "not base64!"}},
        {"metadata": {"name": "no-data"}},
    ]
    documents = docker_configs_from_secrets(secrets)
    assert documents == [config, {"old.example.com": {"auth": _auth("c", "d")}}]
    assert [c.username for c in credentials_for(documents, domain="old.example.com", path="x")] == [
        "c"
    ]
