"""The kubelet's `/metrics/resource` exposition: the contract between the
kubelet, which writes it, and the API server's metrics scraper, which reads it.

It is the Prometheus text format with the kubelet's metric names, labels and
help texts, every sample carrying its own timestamp in milliseconds (the time
its cgroup was read), as metrics-server ≥ 0.6 expects: it computes CPU rates
from those timestamps, never from when it scraped. The parser reads only what
the writer writes (no histograms, no escapes beyond `\\`, `\"` and `\\n`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "CONTAINER_CPU",
    "CONTAINER_MEMORY",
    "CONTAINER_START",
    "CONTENT_TYPE",
    "NODE_CPU",
    "NODE_MEMORY",
    "POD_CPU",
    "POD_MEMORY",
    "SCRAPE_ERROR",
    "Sample",
    "parse_exposition",
    "render_exposition",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

NODE_CPU = "node_cpu_usage_seconds_total"
NODE_MEMORY = "node_memory_working_set_bytes"
CONTAINER_CPU = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY = "container_memory_working_set_bytes"
CONTAINER_START = "container_start_time_seconds"
POD_CPU = "pod_cpu_usage_seconds_total"
POD_MEMORY = "pod_memory_working_set_bytes"
SCRAPE_ERROR = "scrape_error"

# (help, type) of each family, in the order the kubelet writes them.
FAMILIES = {
    CONTAINER_CPU: ("[STABLE] Cumulative cpu time consumed by the container in core-seconds",
                    "counter"),
    CONTAINER_MEMORY: ("[STABLE] Current working set of the container in bytes", "gauge"),
    CONTAINER_START: ("[STABLE] Start time of the container since unix epoch in seconds",
                      "gauge"),
    NODE_CPU: ("[STABLE] Cumulative cpu time consumed by the node in core-seconds", "counter"),
    NODE_MEMORY: ("[STABLE] Current working set of the node in bytes", "gauge"),
    POD_CPU: ("[STABLE] Cumulative cpu time consumed by the pod in core-seconds", "counter"),
    POD_MEMORY: ("[STABLE] Current working set of the pod in bytes", "gauge"),
    SCRAPE_ERROR: ("[ALPHA] 1 if there was an error while getting container metrics, "
                   "0 otherwise", "gauge"),
}  # fmt: skip


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    timestamp_ms: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _line(sample: Sample) -> str:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
    text = f"{sample.name}{{{labels}}}" if labels else sample.name
    text += f" {_number(sample.value)}"
    if sample.timestamp_ms is not None:
        text += f" {sample.timestamp_ms}"
    return text


def render_exposition(samples: Iterable[Sample]) -> str:
    """The text format, families in the kubelet's order, each with HELP and TYPE."""
    by_family: dict[str, list[Sample]] = {name: [] for name in FAMILIES}
    for sample in samples:
        by_family.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name, members in by_family.items():
        if not members:
            continue
        help_text, kind = FAMILIES.get(name, ("", "untyped"))
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [_line(sample) for sample in members]
    return "\n".join(lines) + "\n" if lines else ""


def _parse_labels(text: str, start: int) -> tuple[dict[str, str], int]:
    """The labels from just after `{`; returns them and the index after `}`."""
    labels: dict[str, str] = {}
    i = start
    while True:
        while i < len(text) and text[i] in " ,":
            i += 1
        if i >= len(text):
            raise ValueError("unterminated label set")
        if text[i] == "}":
            return labels, i + 1
        equals = text.index("=", i)
        key = text[i:equals].strip()
        if text[equals + 1] != '"':
            raise ValueError(f"label {key}: value not quoted")
        i, value = equals + 2, []
        while text[i] != '"':
            if text[i] == "\\":
                i += 1
                value.append("\n" if text[i] == "n" else text[i])
            else:
                value.append(text[i])
            i += 1
        labels[key] = "".join(value)
        i += 1


def _parse_line(line: str) -> Sample:
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        name = line[:brace]
        labels, end = _parse_labels(line, brace + 1)
        rest = line[end:].split()
    else:
        name, *rest = line.split()
        labels = {}
    if not rest or len(rest) > 2:
        raise ValueError(f"malformed sample: {line!r}")
    timestamp = int(rest[1]) if len(rest) == 2 else None
    return Sample(name, float(rest[0]), timestamp, labels)


def parse_exposition(text: str) -> list[Sample]:
    """Every sample of a text exposition; ValueError names the first bad line."""
    samples = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            samples.append(_parse_line(line))
        except (ValueError, IndexError) as err:
            raise ValueError(f"line {number}: {err}") from None
    return samples
