"""A checker for recorded store histories, in the spirit of etcd's robustness tests.

Pure functions over a `History`: no store, no clock. Instead of a
linearizability search it leans on two facts the traffic guarantees (the
trick of etcd's kubernetes traffic and of Redpanda's gobekli): every written
value is unique and every update is a compare-and-swap. So each watch event
names the one operation that made it, and per-key version chains show a lost
update directly; the whole check is near-linear.

The steps, in order (`check_history`):

1. merge the watchers' streams into one event per revision (they must agree);
2. each watch segment is ordered, free of duplicates, and has no gap where
   another watcher saw an event;
3. attribute every event to one operation. This resolves UNKNOWN writes (the
   value is in the history: it happened at that revision; it is not: it did
   not happen) and finds lost acknowledged writes, phantom writes and failed
   writes that took effect;
4. revisions are unique, ordered in real time, and never go back after a restart;
5. no two swaps start from the same version of a key (lost update);
6. replaying the merged events, each event's `prev` is the key's current
   version, and every list (clients', watchers' snapshots, the final one)
   equals the replay at its revision; no get returns a stale version;
7. each key's final state is the effect of its last applied write.

Union-agreement, gap-freedom and the replay's chain check together imply that
each watcher's own stream chains per key, so that is not checked twice.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kybernetes.store.types import Event, EventKind, KeyValue
from tests.store.history.recorder import History, OpRecord, Outcome, WatchSegment

__all__ = ["Report", "Violation", "check_history"]

MAX_PER_CHECK = 10


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    message: str
    ops: tuple[OpRecord, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"[{self.check}] {self.message}", *(f"    {op}" for op in self.ops)])


@dataclass(slots=True)
class Report:
    violations: list[Violation] = field(default_factory=list)
    applied: dict[int, OpRecord] = field(default_factory=dict)  # revision -> write
    resolved_unknown: int = 0  # UNKNOWN writes found in the history
    unchecked_reads: int = 0  # lists at a revision no watcher covered

    def add(self, check: str, message: str, *ops: OpRecord) -> None:
        self.violations.append(Violation(check, message, ops))

    def summary(self) -> str:
        shown: dict[str, int] = defaultdict(int)
        lines = []
        for v in self.violations:
            shown[v.check] += 1
            if shown[v.check] <= MAX_PER_CHECK:
                lines.append(str(v))
        lines += [
            f"[{c}] ... and {n - MAX_PER_CHECK} more" for c, n in shown.items() if n > MAX_PER_CHECK
        ]
        return "\n".join(lines)


def check_history(history: History) -> Report:
    report = Report()
    union = merge_watch_events(history.segments, report)
    check_watch_segments(history.segments, union, report)
    attribute_events(history, union, report)
    check_revisions(history, report)
    check_version_chains(union, report)
    check_replay(history, union, report)
    check_final_state(history, union, report)
    return report


def fmt(kv: KeyValue | None) -> str:
    if kv is None:
        return "absent"
    value = kv.value.decode(errors="replace")
    return f"{kv.key}={value}@{kv.mod_revision}(created {kv.create_revision})"


def fmt_event(event: Event) -> str:
    prev = f" prev@{event.prev.mod_revision}" if event.prev else ""
    return f"{event.kind.value} {fmt(event.kv)}{prev}"


def coverage(segments: Iterable[WatchSegment]) -> list[tuple[int, int]]:
    """Merged (after, through] ranges that some watcher was complete over."""
    merged: list[tuple[int, int]] = []
    for seg in sorted(segments, key=lambda s: s.after):
        if merged and seg.after <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], seg.through))
        else:
            merged.append((seg.after, seg.through))
    return merged


def is_covered(ranges: list[tuple[int, int]], revision: int) -> bool:
    i = bisect.bisect_left(ranges, (revision, revision)) - 1
    return i >= 0 and ranges[i][0] < revision <= ranges[i][1]


# -- 1, 2: watches -------------------------------------------------------------


def merge_watch_events(segments: list[WatchSegment], report: Report) -> dict[int, Event]:
    union: dict[int, Event] = {}
    for seg in segments:
        for event in seg.events:
            known = union.setdefault(event.revision, event)
            if known != event:
                report.add(
                    "watch-disagree",
                    f"watcher {seg.watcher} saw {fmt_event(event)} at revision "
                    f"{event.revision}, another watcher saw {fmt_event(known)}",
                )
    return union


def check_watch_segments(
    segments: list[WatchSegment], union: dict[int, Event], report: Report
) -> None:
    revisions = sorted(union)
    for seg in segments:
        where = f"watcher {seg.watcher} segment ({seg.after}, {seg.through}]"
        last, seen = seg.after, set()
        for event in seg.events:
            if event.revision in seen:
                report.add("watch-duplicate", f"{where} delivered {event.revision} twice")
            elif event.revision <= last:
                report.add("watch-order", f"{where} delivered {event.revision} after {last}")
            seen.add(event.revision)
            last = max(last, event.revision)
        lo = bisect.bisect_right(revisions, seg.after)
        hi = bisect.bisect_right(revisions, seg.through)
        missing = [r for r in revisions[lo:hi] if r not in seen]
        if missing:
            report.add("watch-gap", f"{where} missed revisions {missing[:10]} other watchers saw")


# -- 3: which operation made each revision -------------------------------------


def event_matches(op: OpRecord, event: Event) -> bool:
    """Could `op` have produced `event` (key, kind, value, compare-and-swap base)?"""
    if event.kv.key != op.key or (op.ok and op.kv != event.kv):
        return False
    base = event.prev.mod_revision if event.prev else 0
    if op.kind == "create":
        return event.kind is EventKind.CREATED and event.kv.value == op.value
    if op.kind == "update":
        return (
            event.kind is EventKind.UPDATED
            and event.kv.value == op.value
            and base == op.expected_revision
        )
    return event.kind is EventKind.DELETED and op.expected_revision in (0, base)


def _same_write(op: OpRecord, event: Event) -> bool:
    """Is `event` this op's write at all (right or wrong in its details)?"""
    if op.kind == "delete":
        return event.kv.key == op.key and event.kind is EventKind.DELETED
    return event.kv.value == op.value


def attribute_events(history: History, union: dict[int, Event], report: Report) -> None:
    ranges = coverage(history.segments)
    versions = _versions_seen(history, union)
    applied = report.applied
    explained: set[int] = set()  # revisions whose event an acknowledged write made
    for op in history.ops:
        if not (op.is_write and op.ok and op.kv is not None):
            continue
        rev = op.kv.mod_revision
        if rev in applied:
            report.add("duplicate-revision", f"two writes acknowledged at {rev}", applied[rev], op)
            continue
        applied[rev] = op
        event = union.get(rev)
        if event is None:
            if is_covered(ranges, rev) or not _confirmed(op, versions, history):
                report.add("lost-write", f"acknowledged revision {rev} is in no watch stream", op)
        elif not _same_write(op, event):
            report.add("lost-write", f"revision {rev} holds {fmt_event(event)}", op)
        else:
            explained.add(rev)
            if not event_matches(op, event):
                report.add("cas-violated", f"history has {fmt_event(event)}", op)

    by_value = {op.value: op for op in history.ops if op.kind in ("create", "update")}
    unknown_deletes: dict[str, list[OpRecord]] = defaultdict(list)
    for op in history.ops:
        if op.kind == "delete" and op.outcome is Outcome.UNKNOWN:
            unknown_deletes[op.key].append(op)
    claimed: set[int] = set()
    for rev, event in sorted(union.items()):
        if rev in explained:
            continue
        if event.kind is EventKind.DELETED:
            candidates = [op for op in unknown_deletes[event.kv.key] if event_matches(op, event)]
            maker = candidates[0] if candidates else None
            if maker is not None:
                unknown_deletes[event.kv.key].remove(maker)
        else:
            maker = by_value.get(event.kv.value)
        if maker is None:
            report.add("phantom-write", f"{fmt_event(event)} was written by no client")
        elif maker.outcome is Outcome.ERROR:
            report.add("failed-write-applied", f"{fmt_event(event)} after {maker.error}", maker)
        elif maker.ok or maker.id in claimed:
            report.add("duplicate-apply", f"{fmt_event(event)} applies a write again", maker)
        elif not event_matches(maker, event):
            report.add("cas-violated", f"{fmt_event(event)} does not match its request", maker)
        else:
            claimed.add(maker.id)
            applied.setdefault(rev, maker)
    report.resolved_unknown = len(claimed)


def _versions_seen(history: History, union: dict[int, Event]) -> set[tuple[str, int, bytes]]:
    """Versions some read or later event proves existed: (key, mod_revision, value)."""
    kvs = [kv for op in (*history.ops, history.final) if op.ok for kv in (*op.kvs, op.kv)]
    kvs += [kv for seg in history.segments for kv in seg.snapshot or ()]
    kvs += [event.prev for event in union.values()]
    return {(kv.key, kv.mod_revision, kv.value) for kv in kvs if kv is not None}


def _confirmed(op: OpRecord, versions: set[tuple[str, int, bytes]], history: History) -> bool:
    """Outside watch coverage, is an acknowledged write still visible somewhere?"""
    assert op.kv is not None
    if op.kind != "delete":
        return (op.key, op.kv.mod_revision, op.value) in versions
    final = {kv.key: kv for kv in history.final.kvs}.get(op.key)
    return final is None or final.create_revision > op.kv.mod_revision


# -- 4: revisions --------------------------------------------------------------


def observed_floors(history: History) -> dict[int, OpRecord]:
    """For each ok op, the ok op with the highest revision that returned before it began."""
    seen = sorted((op for op in history.ops if op.ok and op.revision), key=lambda o: o.return_ns)
    returns = [op.return_ns for op in seen]
    best: list[OpRecord] = []
    for op in seen:
        best.append(op if not best or op.revision > best[-1].revision else best[-1])
    floors = {}
    for op in history.ops:
        i = bisect.bisect_left(returns, op.invoke_ns)
        if op.ok and i:
            floors[op.id] = best[i - 1]
    return floors


def _reached_before(op: OpRecord) -> int:
    """The revision the store must have reached before `op` (a write or a list) ran."""
    return op.revision - 1 if op.is_write else op.revision


def check_revisions(history: History, report: Report) -> None:
    floors = observed_floors(history)
    for op in history.ops:
        floor = floors.get(op.id)
        if floor is not None and op.kind != "get" and _reached_before(op) < floor.revision:
            report.add(
                "real-time-order",
                f"{op.kind} at revision {op.revision} ran after revision {floor.revision} "
                "had been observed",
                floor,
                op,
            )
    observing = [op for op in history.ops if op.ok and op.revision]
    for n, fault in enumerate(history.faults):
        before = [op for op in observing if op.return_ns <= fault.down_ns]
        after = [op for op in observing if op.invoke_ns >= fault.up_ns and op.kind != "get"]
        if not before or not after:
            continue
        high = max(before, key=lambda o: o.revision)
        low = min(after, key=_reached_before)
        if _reached_before(low) < high.revision:
            report.add(
                "revision-regressed",
                f"after restart {n} ({fault.kind}) a {low.kind} saw revision {low.revision}, "
                f"but {high.revision} had been observed before the crash",
                high,
                low,
            )


# -- 5: version chains ---------------------------------------------------------


def check_version_chains(union: dict[int, Event], report: Report) -> None:
    swaps: dict[tuple[str, int], OpRecord] = {}
    for rev, op in sorted(report.applied.items()):
        if op.kind == "create" or not op.expected_revision:
            continue
        base = (op.key, op.expected_revision)
        if base in swaps:
            report.add("lost-update", f"two swaps from {op.key}@{base[1]}", swaps[base], op)
        swaps[base] = op
        if op.kind != "update":
            continue
        made = op.kv if op.ok else union[rev].kv
        before = union.get(op.expected_revision)
        if made is None or made.mod_revision <= op.expected_revision:
            report.add("update-chain", "update did not move the revision forward", op)
        elif before is not None and (
            before.kv.key != op.key
            or before.kind is EventKind.DELETED
            or made.create_revision != before.kv.create_revision
        ):
            report.add(
                "update-chain", f"update of {fmt(made)} does not continue {fmt_event(before)}", op
            )


# -- 6: replay -----------------------------------------------------------------


def check_replay(history: History, union: dict[int, Event], report: Report) -> None:
    checkpoints: list[tuple[int, str, tuple[KeyValue, ...], OpRecord | None]] = [
        (op.revision, "list", op.kvs, op) for op in history.ops if op.kind == "list" and op.ok
    ]
    snapshots = {}
    for seg in history.segments:
        if seg.snapshot is not None:
            snapshots[seg.after] = seg.snapshot
            checkpoints.append((seg.after, f"watcher {seg.watcher}'s list", seg.snapshot, None))
    checkpoints.append((history.final.revision, "final list", history.final.kvs, history.final))
    checkpoints.sort(key=lambda c: c[0])
    revisions = sorted(union)
    state: dict[str, KeyValue] = {}
    done = 0  # checkpoints handled
    reached = -1  # replay is exact for revisions up to here
    for lo, hi in coverage(history.segments):
        # Merged ranges neither touch nor overlap, so no watcher saw (reached, lo]:
        # a watcher that had to start again from a list at lo supplies the state.
        if lo not in snapshots:
            report.add("replay-gap", f"no watcher covered ({reached}, {lo}] nor listed at {lo}")
            continue
        state = {kv.key: kv for kv in snapshots[lo]}
        todo = revisions[bisect.bisect_right(revisions, lo) : bisect.bisect_right(revisions, hi)]
        for rev in [*todo, hi + 1]:
            while done < len(checkpoints) and checkpoints[done][0] < rev:
                at, what, kvs, op = checkpoints[done]
                done += 1
                if at < lo:  # read at a revision no watcher covered
                    report.unchecked_reads += 1
                else:
                    _compare(state, at, what, kvs, op, report)
            if rev <= hi:
                _apply(state, union[rev], report)
        reached = hi
    if history.final.revision > reached:
        report.add(
            "watch-incomplete",
            f"watches reached revision {reached}, the final list is at {history.final.revision}",
        )
    _check_gets(history, union, report)


def _apply(state: dict[str, KeyValue], event: Event, report: Report) -> None:
    key = event.kv.key
    current = state.get(key)
    if event.kind is EventKind.CREATED:
        fine = current is None and event.prev is None and event.kv.create_revision == event.revision
    elif current is None or event.prev != current:
        fine = False
    elif event.kind is EventKind.UPDATED:
        fine = event.kv.create_revision == current.create_revision
    else:  # a delete carries the value it removed
        fine = event.kv.value == current.value
    if not fine:
        report.add("replay-chain", f"{fmt_event(event)} does not follow {fmt(current)}")
    if event.kind is EventKind.DELETED:
        state.pop(key, None)
    else:
        state[key] = event.kv


def _compare(
    state: dict[str, KeyValue],
    revision: int,
    what: str,
    kvs: tuple[KeyValue, ...],
    op: OpRecord | None,
    report: Report,
) -> None:
    read = {kv.key: kv for kv in kvs}
    if read == state and len(read) == len(kvs):
        return
    diffs = [
        f"{key}: replay {fmt(state.get(key))}, read {fmt(read.get(key))}"
        for key in sorted(state.keys() | read.keys())
        if state.get(key) != read.get(key)
    ]
    ops = (op,) if op is not None else ()
    report.add("replay-mismatch", f"{what} at {revision} differs: " + "; ".join(diffs[:3]), *ops)


def _check_gets(history: History, union: dict[int, Event], report: Report) -> None:
    """A get returns a version that existed, and no older one than it had to."""
    changes: dict[str, list[int]] = defaultdict(list)
    for rev in sorted(union):
        changes[union[rev].kv.key].append(rev)
    floors = observed_floors(history)
    for op in history.ops:
        if op.kind != "get" or not op.ok or op.kv is None:
            continue
        made = union.get(op.kv.mod_revision)
        if made is not None and (made.kind is EventKind.DELETED or made.kv != op.kv):
            report.add("bad-read", f"get returned {fmt(op.kv)}, history has {fmt_event(made)}", op)
        key_changes = changes[op.key]
        later = bisect.bisect_right(key_changes, op.kv.mod_revision)
        floor = floors.get(op.id)
        if floor is not None and later < len(key_changes) and key_changes[later] <= floor.revision:
            report.add(
                "stale-read",
                f"get returned {fmt(op.kv)} although revision {key_changes[later]} "
                f"replaced it before the get began",
                floor,
                op,
            )


# -- 7: final state ------------------------------------------------------------


def check_final_state(history: History, union: dict[int, Event], report: Report) -> None:
    last: dict[str, tuple[int, OpRecord | None]] = {}
    for rev, write in sorted(report.applied.items()):
        last[write.key] = (rev, write)
    final = {kv.key: kv for kv in history.final.kvs}
    unknown = {op.value for op in history.ops if op.outcome is Outcome.UNKNOWN}
    ranges = coverage(history.segments)
    for key in sorted(last.keys() | final.keys()):
        rev, op = last.get(key, (0, None))
        got = final.get(key)
        if got is not None and got.value in unknown and not is_covered(ranges, got.mod_revision):
            continue  # an unknown write no watcher could confirm: the final read does
        if op is None or op.kind == "delete":
            wrong = got is not None
        else:
            wrong = got is None or (got.mod_revision, got.value) != (rev, op.value)
        if wrong:
            expected = "absent" if op is None or op.kind == "delete" else f"{op.value!r}@{rev}"
            ops = (op, history.final) if op is not None else (history.final,)
            report.add("final-state", f"{key} is {fmt(got)}, expected {expected}", *ops)
