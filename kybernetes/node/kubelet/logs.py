"""Container logs as `kubectl logs` shows them, read from the shim's CRI log files.

Each record is `<RFC 3339 time> <stream> <F|P> <text>` (shim.py); partial
records (P) join the next one into one line. The options are the kubelet's:
`tailLines`, `sinceSeconds`/`sinceTime`, `timestamps` (the record's time
before each line), `limitBytes`; `follow` keeps reading what the container
writes next until the container has ended and everything is read.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogOptions", "LogRecord", "follow", "parse_records", "render"]

POLL = 0.2


@dataclass(frozen=True)
class LogRecord:
    time: str
    stream: str
    text: bytes  # the whole line, newline included


@dataclass(frozen=True)
class LogOptions:
    tail_lines: int | None = None
    since: datetime.datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


def parse_records(data: bytes) -> tuple[list[LogRecord], bytes]:
    """Whole lines from CRI records; what is not a whole line yet is returned to carry.

    Partial (P) records join the next final record of the same stream: stdout and
    stderr interleave in the file.
    """
    records = []
    *lines, rest = data.split(b"\n")
    pending: dict[bytes, list[bytes]] = {}  # stream -> raw P records awaiting their F
    for line in lines:
        parts = line.split(b" ", 3)
        if len(parts) < 4:
            continue  # not a CRI record: skip it rather than fail the whole read
        stamp, stream, tag, text = parts
        if tag == b"P":
            pending.setdefault(stream, []).append(line)
            continue
        joined = b"".join(p.split(b" ", 3)[3] for p in pending.pop(stream, [])) + text
        records.append(LogRecord(stamp.decode(), stream.decode(), joined + b"\n"))
    held = sorted((line for lines_ in pending.values() for line in lines_), key=lines.index)
    carry = b"\n".join([*held, rest]) if held else rest
    return records, carry


def _when(record: LogRecord) -> datetime.datetime:
    return datetime.datetime.fromisoformat(record.time.replace("Z", "+00:00"))


def render(records: Iterable[LogRecord], options: LogOptions) -> bytes:
    """What a non-follow request returns."""
    chosen = [r for r in records if options.since is None or _when(r) >= options.since]
    if options.tail_lines is not None:
        chosen = chosen[-options.tail_lines :] if options.tail_lines > 0 else []
    out = b"".join(_line(r, options) for r in chosen)
    return out if options.limit_bytes is None else out[: options.limit_bytes]


def _line(record: LogRecord, options: LogOptions) -> bytes:
    if options.timestamps:
        return record.time.encode() + b" " + record.text
    return record.text


async def follow(
    path: Path, options: LogOptions, *, ended: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The log so far (as `render`), then every new line until `ended()` and all is read."""
    sent = 0
    offset = 0
    carry = b""
    first = True
    while True:
        data = await asyncio.to_thread(_read_from, path, offset)
        offset += len(data)
        records, carry = parse_records(carry + data)
        if first:
            chunk = render(records, options)
            first = False
        else:
            chunk = b"".join(_line(r, options) for r in records)
        if options.limit_bytes is not None:
            chunk = chunk[: max(0, options.limit_bytes - sent)]
        if chunk:
            sent += len(chunk)
            yield chunk
        if options.limit_bytes is not None and sent >= options.limit_bytes:
            return
        if not data:
            if ended():
                return
            await asyncio.sleep(POLL)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read()
    except FileNotFoundError:
        return b""
