"""Links in proxied HTML (kybernetes/apiserver/proxy_html.py)."""

from __future__ import annotations

from kybernetes.apiserver.proxy_html import rewrite_html, rewrite_url

PREFIX = "/api/v1/namespaces/ns/pods/web:8080/proxy"


def test_root_relative_and_backend_urls_move_under_the_proxy_path() -> None:
    def url(u: str) -> str:
        return rewrite_url(u, prefix=PREFIX, backend_host="10.244.0.5:8080")

    assert url("/rewriteme") == f"{PREFIX}/rewriteme"
    assert url("/a/b?x=1#top") == f"{PREFIX}/a/b?x=1#top"
    assert url("http://10.244.0.5:8080/x") == f"{PREFIX}/x"
    assert url("relative/path") == "relative/path"
    assert url("http://example.com/x") == "http://example.com/x"
    assert url("mailto:a@example.com") == "mailto:a@example.com"
    assert url(f"{PREFIX}/done") == f"{PREFIX}/done"


def test_only_url_attributes_change_and_the_rest_is_written_back() -> None:
    page = ('<!DOCTYPE html><html><head><link rel="stylesheet" href="/s.css"></head>'
            '<body class="x"><a href="/rewriteme">test</a> &amp; <img src="/i.png" alt="/no"/>'
            '<p title="/t">keep</p><!-- /c --></body></html>')  # fmt: skip
    assert rewrite_html(page, prefix=PREFIX, backend_host="h") == (
        f'<!DOCTYPE html><html><head><link rel="stylesheet" href="{PREFIX}/s.css"></head>'
        f'<body class="x"><a href="{PREFIX}/rewriteme">test</a> &amp; '
        f'<img src="{PREFIX}/i.png" alt="/no" /><p title="/t">keep</p><!-- /c --></body></html>'
    )
    assert rewrite_html('<a href="/rewriteme">test</a>', prefix=PREFIX, backend_host="h") == (
        f'<a href="{PREFIX}/rewriteme">test</a>'
    )
