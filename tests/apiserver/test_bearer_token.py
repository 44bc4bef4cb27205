"""Where a request's bearer token is read from (kybernetes/apiserver/auth.py)."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from kybernetes.apiserver.auth import Authenticator, UserInfo, bearer_token
from kybernetes.apiserver.streamsink import reader_protocol

UPGRADE = {"Upgrade": "websocket"}


def test_the_authorization_header_comes_first() -> None:
    assert bearer_token({"Authorization": "Bearer  abc "}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}) == ""
    both = {**UPGRADE, "Authorization": "Bearer header",
            "Sec-WebSocket-Protocol": "base64url.bearer.authorization.k8s.io.cHJvdG8"}  # fmt: skip
    assert bearer_token(both) == "header"


def test_a_websocket_may_carry_it_as_an_unpadded_base64url_subprotocol() -> None:
    offered = "binary.k8s.io, base64url.bearer.authorization.k8s.io.YT8-Yg"
    assert bearer_token({**UPGRADE, "Sec-WebSocket-Protocol": offered}) == "a?>b"
    # Only on an upgrade, and a token that does not decode is no token.
    assert bearer_token({"Sec-WebSocket-Protocol": offered}) == ""
    broken = "base64url.bearer.authorization.k8s.io.%%%"
    assert bearer_token({**UPGRADE, "Sec-WebSocket-Protocol": broken}) == ""


def test_a_known_token_names_its_user_among_the_authenticated() -> None:
    auth = Authenticator({"t1": UserInfo("ann", ("dev",)),
                          "t2": UserInfo("bob", ("system:authenticated",))})  # fmt: skip

    def user(headers: dict[str, str]) -> UserInfo | None:
        return auth.authenticate(make_mocked_request("GET", "/api", headers=headers))

    assert user({"Authorization": "Bearer t1"}) == UserInfo("ann", ("dev", "system:authenticated"))
    assert user({"Authorization": "Bearer t2"}) == UserInfo("bob", ("system:authenticated",))
    assert user({"Authorization": "Bearer t3"}) is None
    assert user({}) is None


def test_the_log_stream_answers_the_first_reader_protocol_offered() -> None:
    assert reader_protocol("v4.channel.k8s.io, base64.binary.k8s.io, binary.k8s.io") == (
        "base64.binary.k8s.io")  # fmt: skip
    assert reader_protocol("") == ""
