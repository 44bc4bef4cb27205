"""The health endpoints' answers, as kube-apiserver words them."""

from __future__ import annotations

from kybernetes.apiserver.health import Check, one_check, report

PASSING: list[Check] = [("ping", lambda: None), ("informer-sync", lambda: None)]
FAILING: list[Check] = [("ping", lambda: None), ("shutdown", lambda: "the server is stopping")]


def test_a_passing_endpoint_says_ok_or_lists_its_checks() -> None:
    assert report("readyz", PASSING, verbose=False) == (200, "ok")
    assert report("readyz", PASSING, verbose=True) == (
        200, "[+]ping ok\n[+]informer-sync ok\nreadyz check passed\n")  # fmt: skip


def test_a_failure_lists_every_check_and_withholds_the_reason() -> None:
    expected = "[+]ping ok\n[-]shutdown failed: reason withheld\nreadyz check failed\n"
    assert report("readyz", FAILING, verbose=False) == (500, expected)
    assert report("readyz", FAILING, verbose=True) == (500, expected)


def test_excluded_checks_pass_and_unknown_names_are_warned_about() -> None:
    status, text = report("livez", FAILING, verbose=False, exclude=["shutdown", "etcd", "a"])
    assert status == 200 and text == "ok"
    status, text = report("livez", FAILING, verbose=True, exclude=["shutdown", "etcd", "a"])
    assert text.splitlines() == [
        "[+]ping ok", "[+]shutdown excluded: ok",
        'warn: some health checks cannot be excluded: no matches for "a","etcd"',
        "livez check passed",
    ]  # fmt: skip


def test_one_check_alone() -> None:
    assert one_check(FAILING, "ping") == (200, "ok")
    assert one_check(FAILING, "shutdown") == (500, "internal server error: the server is stopping")
    assert one_check(FAILING, "etcd") is None
