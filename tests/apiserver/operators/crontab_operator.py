"""A small kopf operator for the CronTab CRD of tests/apiserver/test_crds.py.

On create it records the schedule in the status; on a change of the image
it counts the changes in an annotation. Run with `kopf run --standalone`.
"""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.create("stable.example.com", "v1", "crontabs")
def created(spec: dict[str, Any], **_: Any) -> dict[str, Any]:
    return {"schedule": spec.get("cronSpec"), "phase": "Scheduled"}


@kopf.on.field("stable.example.com", "v1", "crontabs", field="spec.image")
def image_changed(old: Any, new: Any, patch: kopf.Patch, meta: Any, **_: Any) -> None:
    changes = int(meta.get("annotations", {}).get("example.com/image-changes", "0"))
    patch.metadata.setdefault("annotations", {})["example.com/image-changes"] = str(changes + 1)
