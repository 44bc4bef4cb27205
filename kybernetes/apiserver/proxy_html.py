"""Links in HTML that comes back through `pods/proxy` and `services/proxy` keep working.

A page served at a pod's `/` links to `/style.css`; through the API server
that page lives under `/api/v1/namespaces/NS/pods/NAME/proxy/`, so a link
to the backend's root must be prefixed with that path, as kube-apiserver's
proxy transport does (apimachinery util/proxy/transport.go): the URL
attributes of the elements it knows, when the URL has no host or names the
backend itself, are rewritten; everything else is written back as it came.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

__all__ = ["rewrite_html", "rewrite_url"]

# The element/attribute pairs holding URLs that kube's transport rewrites.
URL_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "applet": frozenset({"codebase"}),
    "area": frozenset({"href"}),
    "audio": frozenset({"src"}),
    "base": frozenset({"href"}),
    "blockquote": frozenset({"cite"}),
    "body": frozenset({"background"}),
    "button": frozenset({"formaction"}),
    "command": frozenset({"icon"}),
    "del": frozenset({"cite"}),
    "embed": frozenset({"src"}),
    "form": frozenset({"action"}),
    "frame": frozenset({"longdesc", "src"}),
    "head": frozenset({"profile"}),
    "html": frozenset({"manifest"}),
    "iframe": frozenset({"longdesc", "src"}),
    "img": frozenset({"longdesc", "src", "usemap"}),
    "input": frozenset({"src", "usemap", "formaction"}),
    "ins": frozenset({"cite"}),
    "link": frozenset({"href"}),
    "object": frozenset({"classid", "codebase", "data", "usemap"}),
    "q": frozenset({"cite"}),
    "script": frozenset({"src"}),
    "source": frozenset({"src"}),
    "video": frozenset({"poster", "src"}),
}


def rewrite_url(url: str, *, prefix: str, backend_host: str) -> str:
    """`url` as the client must ask for it: a root-relative path, or a URL naming the
    backend, moves under `prefix` (the request's path up to `/proxy`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme and parts.scheme not in ("http", "https"):
        return url  # mailto:, javascript:, data: ...
    if parts.netloc and parts.netloc != backend_host:
        return url
    if not parts.path.startswith("/") or parts.path.startswith(prefix + "/"):
        return url  # relative links already work; a rewritten one stays as it is
    return urlunsplit(("", "", prefix + parts.path, parts.query, parts.fragment))


class _Rewriter(HTMLParser):
    def __init__(self, prefix: str, backend_host: str) -> None:
        super().__init__(convert_charrefs=False)
        self.prefix = prefix
        self.backend_host = backend_host
        self.out: list[str] = []

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: str) -> None:
        names = URL_ATTRIBUTES.get(tag, frozenset())
        raw = self.get_starttag_text() or ""
        if not any(name in names and value for name, value in attrs):
            self.out.append(raw)
            return
        written = []
        for name, value in attrs:
            if value is None:
                written.append(f" {name}")
                continue
            if name in names:
                value = rewrite_url(value, prefix=self.prefix, backend_host=self.backend_host)
            written.append(f' {name}="{escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(written)}{close}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, " /")

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def rewrite_html(page: str, *, prefix: str, backend_host: str) -> str:
    parser = _Rewriter(prefix, backend_host)
    parser.feed(page)
    parser.close()
    return "".join(parser.out)
