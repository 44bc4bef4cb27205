"""Kubernetes timestamps (metav1.Time): RFC 3339 in UTC, whole seconds."""

from __future__ import annotations

import datetime
import time
from typing import Any

__all__ = ["format_time", "now_rfc3339", "parse_time"]


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_last_second: list[tuple[int, str]] = [(-1, "")]


def now_rfc3339() -> str:
    """Now, to the second; the text is made once per second (every create
    writes it twice, and strftime is most of its cost)."""
    second = int(time.time())
    cached = _last_second[0]
    if cached[0] == second:
        return cached[1]
    text = format_time(datetime.datetime.fromtimestamp(second, datetime.UTC))
    _last_second[0] = (second, text)
    return text


def parse_time(text: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp (metav1.Time or MicroTime), or None when unset or invalid."""
    if not text or not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
