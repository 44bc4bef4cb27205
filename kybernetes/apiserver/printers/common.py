"""What every kind's printer shares: the column type, ages, and label formatting.

The server computes every cell (kubectl prints them as they come), so an age
is a string such as "5m", and the helpers here spell "unset" the way
kube-apiserver's printers do: `<none>`, `<unset>`, `<unknown>`, `""`. Which
one a cell uses is part of the wire contract, so each kind's module picks
it; these helpers never guess.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kybernetes.api.selectors import SelectorError, label_selector_from_object
from kybernetes.api.times import format_time, parse_time
from kybernetes.apiserver.objects import Obj

__all__ = [
    "AGE",
    "NAME",
    "Cell",
    "Column",
    "Now",
    "age",
    "containers_cells",
    "created_at",
    "format_label_selector",
    "format_labels",
    "get",
    "human_duration",
    "Since",
    "parse_time",
    "selector_string",
    "since",
]

Now = datetime.datetime


@dataclass(frozen=True, slots=True)
class Since:
    """A cell that reads the clock: how long ago `moment` was, written into `template`.

    Cells never see the time themselves, so a row depends on its object alone
    and can be kept from one request to the next (tables.py); only these
    values are filled in per request.
    """

    moment: Now | None
    template: str = "{}"

    def render(self, now: Now) -> str:
        if self.moment is None:
            return "<unknown>"
        return self.template.format(human_duration((now - self.moment).total_seconds()))


# What a cell may be: JSON, or a Since to be rendered at the time of the request.
Cell = Callable[[Obj], Any]


@dataclass(frozen=True)
class Column:
    """One column: its definition on the wire and how to compute its cell.

    `type` is what the real server declares, which is not always the type of
    the cell it sends (a Secret's DATA is declared "string" and sent as an
    integer); kubectl prints either.
    """

    name: str
    cell: Cell
    priority: int = 0
    type: str = "string"
    format: str = ""
    description: str = ""

    def definition(self) -> Obj:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def human_duration(seconds: float) -> str:
    """Kubernetes' HumanDuration: 45s, 5m10s, 3h, 2d4h, 1y30d, with its exact cut-offs.

    Up to one second in the future counts as now (clock skew between servers);
    more than that is `<invalid>`.
    """
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{days // 365}y{rest}d" if rest else f"{days // 365}y"
    return f"{days // 365}y"


def since(text: Any) -> Since:
    """How long ago `text` was, or `<unknown>` for an unset time (translateTimestampSince)."""
    return Since(parse_time(text))


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """obj[path[0]][path[1]]…, or `default` where a step is missing, null or the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return default
            obj = obj[key]
        elif isinstance(obj, dict):  # JSON objects are dicts; an ABC check was 12% of a LIST
            obj = obj.get(key)
        else:
            return default
    return default if obj is None else obj


def age(obj: Obj) -> Since:
    return since(get(obj, "metadata", "creationTimestamp"))


def created_at(obj: Obj) -> str:
    """The creation time as RFC 3339 in UTC: the default table's `date` cell, sent raw."""
    moment = parse_time(get(obj, "metadata", "creationTimestamp"))
    if moment is None:
        # Go formats the zero time; kubectl prints it as it comes.
        return "0001-01-01T00:00:00Z"
    return format_time(moment)


def _name(obj: Obj) -> str:
    return str(get(obj, "metadata", "name", default=""))


NAME = Column("Name", _name, format="name", description="The object's name, unique in its scope.")
AGE = Column("Age", age, description="How long ago the object was created.")


def format_labels(labels: Mapping[str, str] | None) -> str:
    """A plain label map as `a=b,c=d` sorted by key, `<none>` when empty (labels.FormatLabels)."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def selector_string(selector: Any) -> str:
    """A metav1.LabelSelector as Kubernetes prints it; "" when it selects everything or nothing.

    Raises SelectorError when the selector is not valid.
    """
    return str(label_selector_from_object(selector))


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: `<none>` for an empty or missing one, `<error>` if invalid."""
    try:
        text = selector_string(selector)
    except SelectorError:
        return "<error>"
    return text or "<none>"


def containers_cells(containers: Iterable[Any]) -> tuple[str, str]:
    """The CONTAINERS and IMAGES cells of a pod template: names and images joined by ","."""
    listed = [c for c in containers if isinstance(c, Mapping)]
    names = ",".join(str(c.get("name") or "") for c in listed)
    images = ",".join(str(c.get("image") or "") for c in listed)
    return names, images
