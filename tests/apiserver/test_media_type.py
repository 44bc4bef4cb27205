"""A Content-Type's media type, read without aiohttp's email parser
(kybernetes/apiserver/bodies.py: media_type)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from kybernetes.apiserver.bodies import media_type

PLAIN = ["application/json", "application/json; charset=utf-8", " Application/JSON ",
         "application/apply-patch+yaml", "application/strategic-merge-patch+json",
         "application/vnd.kubernetes.protobuf", "text/plain;;", 'a/b; x="y;z"']  # fmt: skip
ODD = ["", ";", "garbage", "application/json,text/plain", "a/b/c", "/json"]


@pytest.mark.parametrize("value", PLAIN)
def test_a_plain_value_reads_as_aiohttp_reads_it(value: str) -> None:
    aiohttp_reads = make_mocked_request("POST", "/", headers={"Content-Type": value}).content_type
    assert media_type(value) == aiohttp_reads


@pytest.mark.parametrize("value", ODD)
def test_an_odd_value_is_left_to_aiohttp(value: str) -> None:
    assert media_type(value) is None
