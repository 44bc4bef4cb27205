"""Which resources the API serves, from discovery (client-go's ServerPreferredResources).

Controllers that act on every resource (the garbage collector, namespace
deletion) ask the API rather than a built-in table, so custom resources
count the moment their CRD is served. One group version per group: the
preferred one, as the server says.
"""

from __future__ import annotations

from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError

__all__ = ["preferred_resource_lists"]

Obj = dict[str, Any]


async def preferred_resource_lists(client: ApiClient) -> list[tuple[str, list[Obj]]]:
    """(groupVersion, APIResource entries) for core v1 and each group's preferred version."""
    core = await client.get("/api/v1")
    found: list[tuple[str, list[Obj]]] = [("v1", list(core.get("resources") or []))]
    groups = await client.get("/apis")
    for group in groups.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if not preferred:
            continue
        try:
            listing = await client.get(f"/apis/{preferred}")
        except ApiStatusError as err:
            if err.code != 404:
                raise
            continue  # removed meanwhile (a CRD deleted between the two reads)
        found.append((str(preferred), list(listing.get("resources") or [])))
    return found
