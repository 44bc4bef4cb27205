"""ServiceAccount tokens: signed, reviewed and accepted as kube-apiserver does
(checklist Q04, and Q08's discovery documents checked from outside a pod)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kybernetes.apiserver.satokens import ISSUER, TokenSigner
from tests.apiserver.conftest import Cluster

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> TokenSigner:
    return TokenSigner.load_or_create(tmp_path_factory.mktemp("pki"))


def _claims(signer: TokenSigner, **overrides: Any) -> dict[str, Any]:
    claims = signer.claims(namespace="ns", account=("sa", "uid-1"), audiences=[ISSUER],
                           now=NOW, seconds=3600)  # fmt: skip
    return {**claims, **overrides}


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_a_signed_token_verifies_until_it_expires(signer: TokenSigner) -> None:
    token = signer.sign(_claims(signer))
    claims = signer.verify(token, now=NOW + 10)
    assert claims is not None and claims["sub"] == "system:serviceaccount:ns:sa"
    account = {"name": "sa", "uid": "uid-1"}
    assert claims["kubernetes.io"] == {"namespace": "ns", "serviceaccount": account}
    assert signer.verify(token, now=NOW + 3600 + 61) is None  # a minute's leeway, no more
    assert signer.verify(token, now=NOW, audiences=["vault"]) is None
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert signer.verify(forged, now=NOW) is None
    assert signer.verify(signer.sign(_claims(signer, iss="someone-else")), now=NOW) is None
    assert signer.verify("not-a-jwt", now=NOW) is None


def test_a_key_another_process_made_meanwhile_is_the_one_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API processes of one server (`--api-processes`) may both find no key;
    the one that makes it second signs with the first one's."""
    (tmp_path / "other").mkdir()
    theirs = TokenSigner.load_or_create(tmp_path / "other")
    generate = rsa.generate_private_key

    def racing(**kwargs: int) -> rsa.RSAPrivateKey:
        shutil.copy(tmp_path / "other" / "sa.key", tmp_path / "sa.key")  # they win
        return generate(**kwargs)

    monkeypatch.setattr(rsa, "generate_private_key", racing)
    assert TokenSigner.load_or_create(tmp_path).kid == theirs.kid


def test_the_key_survives_a_restart_and_the_jwks_verifies_its_tokens(tmp_path: Path) -> None:
    first = TokenSigner.load_or_create(tmp_path)
    again = TokenSigner.load_or_create(tmp_path)
    assert first.kid == again.kid and (tmp_path / "sa.key").stat().st_mode & 0o777 == 0o600
    (key,) = first.jwks()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", first.kid)

    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    public = rsa.RSAPublicNumbers(number(key["e"]), number(key["n"])).public_key()
    token = again.sign(_claims(again))
    header, payload, signature = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==="))["kid"] == key["kid"]
    public.verify(base64.urlsafe_b64decode(signature + "==="), f"{header}.{payload}".encode(),
                  padding.PKCS1v15(), hashes.SHA256())  # fmt: skip


async def test_kubectl_create_token_and_the_identity_it_gives(cluster: Cluster) -> None:
    await cluster.kubectl("create", "serviceaccount", "robot")
    token = (await cluster.kubectl("create", "token", "robot")).strip()
    claims = _payload(token)
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["aud"] == [ISSUER] and claims["exp"] - claims["iat"] == 3600
    as_robot = ["--kubeconfig", "/dev/null", "--server", cluster.api.url,
                "--certificate-authority", str(cluster.pki.ca_path), "--token", token]  # fmt: skip
    who = await cluster.kubectl(*as_robot, "auth", "whoami")
    assert "system:serviceaccount:default:robot" in who
    assert "[system:serviceaccounts system:serviceaccounts:default system:authenticated]" in who
    short = await cluster.kubectl("create", "token", "robot", "--duration=1m", check=False)
    assert short.strip() == (
        'error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: '
        "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 "
        "minutes"
    )
    missing = await cluster.kubectl("create", "token", "nobody", check=False)
    assert missing.strip() == 'error: failed to create token: serviceaccounts "nobody" not found'
    # A deleted account's tokens stop working at once.
    await cluster.kubectl("delete", "serviceaccount", "robot")
    refused = await cluster.kubectl(*as_robot, "get", "pods", check=False)
    assert "error: You must be logged in to the server (Unauthorized)" in refused


async def test_token_request_and_review_with_the_official_client(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core, authn = client.CoreV1Api(api), client.AuthenticationV1Api(api)
        account = core.create_namespaced_service_account(
            "default", {"metadata": {"name": "reviewed"}}
        )
        core.create_namespaced_pod("default", {"metadata": {"name": "holder"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}})  # fmt: skip
        pod_uid = core.read_namespaced_pod("holder", "default").metadata.uid
        request = {"spec": {"audiences": ["vault", ISSUER], "expirationSeconds": 1200,
                            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                               "name": "holder"}}}  # fmt: skip
        made = core.create_namespaced_service_account_token("reviewed", "default", request)
        assert made.spec.expiration_seconds == 1200 and made.status.expiration_timestamp
        token = made.status.token
        review = authn.create_token_review({"spec": {"token": token, "audiences": ["vault"]}})
        assert review.status.authenticated is True
        assert review.status.audiences == ["vault"]
        user = review.status.user
        assert (user.username, user.uid) == ("system:serviceaccount:default:reviewed",
                                             account.metadata.uid)  # fmt: skip
        assert user.groups == ["system:serviceaccounts", "system:serviceaccounts:default",
                               "system:authenticated"]  # fmt: skip
        assert user.extra["authentication.kubernetes.io/pod-name"] == ["holder"]
        assert user.extra["authentication.kubernetes.io/pod-uid"] == [pod_uid]
        wrong = authn.create_token_review({"spec": {"token": token, "audiences": ["other"]}})
        assert wrong.status.authenticated is False and wrong.status.error
        # Bound to the pod: it dies with it.
        core.delete_namespaced_pod("holder", "default", grace_period_seconds=0)
        gone = authn.create_token_review({"spec": {"token": token}})
        assert gone.status.authenticated is False
        api.close()

    await asyncio.to_thread(scenario)


async def test_service_account_issuer_discovery(cluster: Cluster) -> None:
    context = ssl.create_default_context(cafile=str(cluster.pki.ca_path))
    context.load_cert_chain(*_admin_files(cluster))

    def fetch(path: str) -> tuple[str, dict[str, Any]]:
        with urllib.request.urlopen(cluster.api.url + path, context=context) as answer:
            return answer.headers["Content-Type"], json.loads(answer.read())

    kind, discovery = await asyncio.to_thread(fetch, "/.well-known/openid-configuration")
    assert kind.startswith("application/json")
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"] == f"{ISSUER}/openid/v1/jwks"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    kind, jwks = await asyncio.to_thread(fetch, "/openid/v1/jwks")
    assert kind.startswith("application/jwk-set+json")
    await cluster.kubectl("create", "serviceaccount", "discoverer")
    token = (await cluster.kubectl("create", "token", "discoverer")).strip()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))
    assert header == {"alg": "RS256", "kid": jwks["keys"][0]["kid"]}


def _admin_files(cluster: Cluster) -> tuple[str, str]:
    cert, key = cluster.home / "admin.crt", cluster.home / "admin.key"
    cert.write_bytes(cluster.pki.admin_cert_pem)
    key.write_bytes(cluster.pki.admin_key_pem)
    return str(cert), str(key)


async def test_service_account_lifecycle_seen_on_a_watch(cluster: Cluster) -> None:
    """Checklist Q06 and Q07: create, patch, list, replace, delete; a watch sees it."""
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        start = core.list_namespaced_service_account("default").metadata.resource_version
        core.create_namespaced_service_account(
            "default", {"metadata": {"name": "lifecycle", "labels": {"e2e": "sa"}}}
        )
        core.patch_namespaced_service_account(
            "lifecycle", "default", {"automountServiceAccountToken": False}
        )
        (listed,) = core.list_namespaced_service_account("default", label_selector="e2e=sa").items
        assert listed.automount_service_account_token is False
        listed.automount_service_account_token = True
        replaced = core.replace_namespaced_service_account("lifecycle", "default", listed)
        assert replaced.automount_service_account_token is True
        core.delete_namespaced_service_account("lifecycle", "default")
        seen = []
        for event in watch.Watch().stream(core.list_namespaced_service_account, "default",
                                          label_selector="e2e=sa", resource_version=start,
                                          timeout_seconds=5):  # fmt: skip
            seen.append(event["type"])
            if event["type"] == "DELETED":
                break
        assert seen == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
        api.close()

    await asyncio.to_thread(scenario)
