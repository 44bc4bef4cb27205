"""Which handler answers a request: the API server's routes, by method and path.

aiohttp's `web.Application` finds a route by walking the path's prefixes,
one dict lookup and one coroutine per candidate, then wraps the handler in
its middleware chain: for a GET of one object that was ~15% of what the
server can serve (`bench/run abtest`). The API server has a handful of
routes, so it runs aiohttp's low-level server with this router instead:
exact paths are one dict lookup, the few patterns are tried in the order
added (each only when the path starts with its literal prefix), and what
nothing matches goes to the default handler (every resource path).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aiohttp import web

__all__ = ["READS", "Handler", "Router", "route_params"]

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
READS = frozenset({"GET", "HEAD"})  # what a GET route answers, as aiohttp's add_get
_NONE: Mapping[str, str] = MappingProxyType({})
_PARAMS = web.RequestKey("route_params", Mapping[str, str])
# `{name}` (one path segment) or `{name:regex}`, as aiohttp writes route patterns.
_PLACEHOLDER = re.compile(r"\{(?P<name>\w+)(?::(?P<regex>[^{}]+))?\}")


@dataclass(frozen=True, slots=True)
class _Pattern:
    prefix: str  # the literal text before the first placeholder
    regex: re.Pattern[str]
    handler: Handler
    methods: frozenset[str] | None


def _compile(pattern: str, placeholders: list[re.Match[str]]) -> re.Pattern[str]:
    parts: list[str] = []
    at = 0
    for found in placeholders:
        parts.append(re.escape(pattern[at : found.start()]))
        parts.append(f"(?P<{found['name']}>{found['regex'] or '[^/]+'})")
        at = found.end()
    parts.append(re.escape(pattern[at:]))
    return re.compile("".join(parts))


class Router:
    """Routes by path; a route added with `methods` is passed over for others.

    An exact path wins over patterns; patterns are tried in the order added;
    `default` answers the rest. A pattern's placeholders (`{group}` matches
    one segment, `{tail:.+}` its own regex) are the request's `route_params`.
    """

    def __init__(self, default: Handler) -> None:
        self._default = default
        self._exact: dict[str, list[tuple[frozenset[str] | None, Handler]]] = {}
        self._patterns: list[_Pattern] = []

    def add(self, pattern: str, handler: Handler, methods: frozenset[str] | None = None) -> None:
        placeholders = list(_PLACEHOLDER.finditer(pattern))
        if not placeholders:
            self._exact.setdefault(pattern, []).append((methods, handler))
            return
        prefix = pattern[: placeholders[0].start()]
        self._patterns.append(_Pattern(prefix, _compile(pattern, placeholders), handler, methods))

    def resolve(self, method: str, path: str) -> tuple[Handler, Mapping[str, str]]:
        for methods, handler in self._exact.get(path, ()):
            if methods is None or method in methods:
                return handler, _NONE
        for route in self._patterns:
            if not path.startswith(route.prefix):
                continue
            if route.methods is not None and method not in route.methods:
                continue
            found = route.regex.fullmatch(path)
            if found is not None:
                return route.handler, found.groupdict()
        return self._default, _NONE

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer `request` with the handler its method and path resolve to."""
        handler, params = self.resolve(request.method, request.path)
        if params:
            request[_PARAMS] = params
        return await handler(request)


def route_params(request: web.BaseRequest) -> Mapping[str, str]:
    """The placeholders of the pattern that matched `request`'s path."""
    params: Mapping[str, str] = request.get(_PARAMS, _NONE)
    return params
