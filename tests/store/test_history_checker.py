"""The history checker on hand-made histories: good ones pass, each kind of bug is named.

`Model` is a tiny sequential store that writes down a correct history as it
goes (one op at a time, so real-time order is simply op order). Each bad
history is a good one with one bug put in by hand: the check that must
catch it is named in the test. A last pair of tests runs the real traffic
against an in-process SQLite store and expects a clean report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.types import Event, EventKind, KeyValue
from tests.store.history.checker import Report, check_history
from tests.store.history.recorder import (
    PREFIX,
    Fault,
    History,
    OpKind,
    OpRecord,
    Outcome,
    Traffic,
    WatchSegment,
)

A, B = PREFIX + "a", PREFIX + "b"


class Model:
    """A correct store, run sequentially, recording ops and the one event stream."""

    def __init__(self) -> None:
        self.revision = 0
        self.state: dict[str, KeyValue] = {}
        self.ops: list[OpRecord] = []
        self.events: list[Event] = []
        self.clock = 0

    def _op(self, kind: OpKind, key: str, value: bytes = b"", expected: int = 0) -> OpRecord:
        self.clock += 10
        op = OpRecord(len(self.ops) + 1, 0, kind, key, value, expected, self.clock, self.clock + 5)
        self.ops.append(op)
        return op

    def _commit(self, kind: EventKind, key: str, value: bytes) -> KeyValue:
        self.revision += 1
        prev = self.state.get(key)
        if kind is EventKind.CREATED:
            kv = KeyValue(key, value, self.revision, self.revision)
        else:
            assert prev is not None
            value = value if kind is EventKind.UPDATED else prev.value
            kv = KeyValue(key, value, prev.create_revision, self.revision)
        self.events.append(Event(kind, kv, prev))
        if kind is EventKind.DELETED:
            del self.state[key]
        else:
            self.state[key] = kv
        return kv

    def _done(self, op: OpRecord, kv: KeyValue, outcome: Outcome) -> OpRecord:
        op.outcome = outcome
        if outcome is Outcome.OK:
            op.kv, op.revision = kv, kv.mod_revision
        else:
            op.error = "StoreUnavailableError"
        return op

    def create(self, key: str, value: bytes, outcome: Outcome = Outcome.OK) -> OpRecord:
        op = self._op("create", key, value)
        assert key not in self.state
        return self._done(op, self._commit(EventKind.CREATED, key, value), outcome)

    def update(self, key: str, value: bytes, outcome: Outcome = Outcome.OK) -> OpRecord:
        op = self._op("update", key, value, self.state[key].mod_revision)
        return self._done(op, self._commit(EventKind.UPDATED, key, value), outcome)

    def delete(self, key: str, *, cas: bool = True, outcome: Outcome = Outcome.OK) -> OpRecord:
        op = self._op("delete", key, expected=self.state[key].mod_revision if cas else 0)
        return self._done(op, self._commit(EventKind.DELETED, key, b""), outcome)

    def failed(self, kind: OpKind, key: str, value: bytes, error: str) -> OpRecord:
        """A write the store refused (or lost in transit): no event."""
        op = self._op(kind, key, value, expected=1 if kind != "create" else 0)
        op.outcome = Outcome.ERROR if error != "StoreUnavailableError" else Outcome.UNKNOWN
        op.error = error
        return op

    def get(self, key: str) -> OpRecord:
        op = self._op("get", key)
        op.outcome, op.kv = Outcome.OK, self.state[key]
        op.revision = op.kv.mod_revision
        return op

    def list(self) -> OpRecord:
        op = self._op("list", PREFIX)
        op.outcome, op.revision = Outcome.OK, self.revision
        op.kvs = tuple(self.state[k] for k in sorted(self.state))
        return op

    def history(self, watchers: int = 2) -> History:
        final = OpRecord(0, -1, "list", PREFIX, outcome=Outcome.OK, revision=self.revision)
        final.kvs = tuple(self.state[k] for k in sorted(self.state))
        segments = [
            WatchSegment(w, 0, (), list(self.events), through=self.revision)
            for w in range(watchers)
        ]
        return History(list(self.ops), segments, final)


def busy_model() -> Model:
    """Creates, swaps, deletes (both kinds), re-creates, reads: revisions 1..8."""
    m = Model()
    m.create(A, b"a1")
    m.create(B, b"b1")
    m.update(A, b"a2")
    m.get(A)
    m.list()
    m.failed("update", A, b"lost-race", "ConflictError")
    m.delete(B, cas=False)
    m.update(A, b"a3")
    m.create(B, b"b2")
    m.delete(A)
    m.create(A, b"a4")
    m.update(B, b"b3")
    m.list()
    return m


def checks(history: History) -> set[str]:
    report = check_history(history)
    return {v.check for v in report.violations}


def op_with(history: History, value: bytes) -> OpRecord:
    return next(op for op in history.ops if op.value == value)


def kv_of(op: OpRecord) -> KeyValue:
    assert op.kv is not None
    return op.kv


def event_at(segment: WatchSegment, revision: int) -> int:
    return next(i for i, e in enumerate(segment.events) if e.revision == revision)


def replace_event(history: History, revision: int, make: Callable[[Event], Event]) -> None:
    for seg in history.segments:
        i = event_at(seg, revision)
        seg.events[i] = make(seg.events[i])


# -- good histories --------------------------------------------------------------


def test_a_correct_history_passes() -> None:
    report = check_history(busy_model().history())
    assert report.violations == []
    assert len(report.applied) == 9


def test_unknown_writes_resolve_both_ways() -> None:
    m = busy_model()
    m.update(A, b"maybe-applied", outcome=Outcome.UNKNOWN)
    m.failed("update", B, b"maybe-not", "StoreUnavailableError")
    m.delete(B, outcome=Outcome.UNKNOWN)
    m.list()
    report = check_history(m.history())
    assert report.violations == []
    assert report.resolved_unknown == 2


def state_at(events: list[Event], revision: int) -> tuple[KeyValue, ...]:
    state: dict[str, KeyValue] = {}
    for e in events:
        if e.revision > revision:
            break
        if e.kind is EventKind.DELETED:
            del state[e.kv.key]
        else:
            state[e.kv.key] = e.kv
    return tuple(state[k] for k in sorted(state))


def test_watch_resumed_and_restarted_from_a_list_passes() -> None:
    h = busy_model().history(watchers=1)
    whole = h.segments[0]
    # Resumed at 4 after a broken stream; at 5 its history was compacted
    # away, so it listed again (at 6) and watched from there.
    h.segments = [
        dataclasses.replace(whole, through=4, events=whole.events[:4], end="Unavailable"),
        dataclasses.replace(
            whole, after=4, snapshot=None, through=5, events=whole.events[4:5], end="Compacted"
        ),
        dataclasses.replace(
            whole, after=6, snapshot=state_at(whole.events, 6), events=whole.events[6:]
        ),
    ]
    assert check_history(h).violations == []


def test_faults_with_revisions_moving_on_pass() -> None:
    m = busy_model()
    h = m.history()
    h.faults = [Fault("sigkill", down_ns=h.ops[5].return_ns + 1, up_ns=h.ops[6].invoke_ns - 1)]
    assert check_history(h).violations == []


# -- bad histories: one bug each ---------------------------------------------------


def drop_event_everywhere(h: History, revision: int) -> None:
    for seg in h.segments:
        del seg.events[event_at(seg, revision)]


def test_acknowledged_write_missing_from_every_watch_is_lost() -> None:
    h = busy_model().history()
    drop_event_everywhere(h, 3)  # the acknowledged update a1 -> a2
    lost = [v for v in check_history(h).violations if v.check == "lost-write"]
    assert [v.ops for v in lost] == [(op_with(h, b"a2"),)]
    assert "a2" in str(lost[0])


def test_acknowledged_write_overwritten_in_history_is_lost() -> None:
    h = busy_model().history()
    replace_event(h, 3, lambda e: dataclasses.replace(e, kv=dataclasses.replace(e.kv, value=b"x")))
    assert {"lost-write", "phantom-write"} <= checks(h)


def test_acknowledged_write_lost_from_the_final_state() -> None:
    h = busy_model().history()
    h.final.kvs = tuple(kv for kv in h.final.kvs if kv.key != B)  # b3 vanished
    assert checks(h) == {"final-state", "replay-mismatch"}


def test_two_writes_acknowledged_at_one_revision() -> None:
    h = busy_model().history()
    op = op_with(h, b"a3")
    op.kv = dataclasses.replace(kv_of(op), mod_revision=3)
    op.revision = 3  # a2's revision
    assert "duplicate-revision" in checks(h)


def test_write_ordered_before_one_that_finished_earlier() -> None:
    h = busy_model().history()
    first, second = op_with(h, b"a1"), op_with(h, b"b1")
    # b1 (revision 2) finished before a1 (revision 1) began.
    first.invoke_ns, first.return_ns = second.return_ns + 1, second.return_ns + 2
    assert checks(h) == {"real-time-order"}


def test_revision_going_back_after_a_restart() -> None:
    h = busy_model().history()
    early, late = op_with(h, b"a1"), op_with(h, b"b2")  # revisions 1 and 6
    fault = Fault("sigkill", down_ns=late.return_ns + 1, up_ns=late.return_ns + 2)
    h.faults = [fault]
    early.invoke_ns, early.return_ns = fault.up_ns + 1, fault.up_ns + 2
    assert "revision-regressed" in checks(h)


def test_two_swaps_from_one_revision_are_a_lost_update() -> None:
    m = busy_model()
    base = m.state[A].mod_revision
    m.update(A, b"first")
    m.update(A, b"second")
    h = m.history()
    second = op_with(h, b"second")
    second.expected_revision = base  # the store let a stale swap through
    replace_event(h, second.revision, lambda e: dataclasses.replace(e, prev=m.events[base - 1].kv))
    assert {"lost-update", "replay-chain"} <= checks(h)


def test_update_that_starts_a_new_life_breaks_the_chain() -> None:
    h = busy_model().history()
    op = op_with(h, b"a2")
    wrong = dataclasses.replace(kv_of(op), create_revision=2)
    op.kv = wrong
    replace_event(h, 3, lambda e: dataclasses.replace(e, kv=wrong))
    assert "update-chain" in checks(h)


def test_watch_out_of_order_and_duplicate() -> None:
    h = busy_model().history()
    events = h.segments[0].events
    events[2], events[3] = events[3], events[2]
    h.segments[1].events.insert(4, h.segments[1].events[4])
    assert {"watch-order", "watch-duplicate"} <= checks(h)


def test_one_watcher_missing_an_event_the_other_saw() -> None:
    h = busy_model().history()
    del h.segments[1].events[event_at(h.segments[1], 4)]
    assert checks(h) == {"watch-gap"}


def test_watchers_disagreeing_on_a_revision() -> None:
    h = busy_model().history()
    i = event_at(h.segments[1], 3)
    e = h.segments[1].events[i]
    h.segments[1].events[i] = dataclasses.replace(e, kv=dataclasses.replace(e.kv, value=b"z"))
    assert "watch-disagree" in checks(h)


def test_event_whose_prev_does_not_chain() -> None:
    h = busy_model().history()
    replace_event(h, 8, lambda e: dataclasses.replace(e, prev=h.segments[0].events[0].kv))
    assert "replay-chain" in checks(h)


def test_list_that_does_not_match_the_replay() -> None:
    h = busy_model().history()
    listed = next(op for op in h.ops if op.kind == "list")
    listed.kvs = listed.kvs[:1]  # a key went missing from a client's list
    assert checks(h) == {"replay-mismatch"}


def test_write_by_nobody_is_a_phantom() -> None:
    m = busy_model()
    m.create(PREFIX + "ghost", b"ghost")
    h = m.history()
    h.ops.remove(op_with(h, b"ghost"))
    assert checks(h) == {"phantom-write", "final-state"}


def test_refused_write_that_took_effect() -> None:
    m = busy_model()
    m.update(B, b"refused")
    h = m.history()
    op = op_with(h, b"refused")
    op.outcome, op.error, op.kv, op.revision = Outcome.ERROR, "ConflictError", None, 0
    assert checks(h) == {"failed-write-applied", "final-state"}


def test_write_applied_twice() -> None:
    m = busy_model()
    m.update(B, b"twice")
    m.update(B, b"twice")
    h = m.history()
    h.ops.pop()  # only one client call wrote it
    assert "duplicate-apply" in checks(h)


def test_acknowledged_swap_applied_on_the_wrong_base() -> None:
    h = busy_model().history()
    op_with(h, b"a3").expected_revision = 1  # acknowledged, but a2 (3) was its base
    assert "cas-violated" in checks(h)


def test_unknown_swap_applied_on_the_wrong_base() -> None:
    m = busy_model()
    m.update(A, b"unsure", outcome=Outcome.UNKNOWN)
    h = m.history()
    op_with(h, b"unsure").expected_revision = 1
    assert "cas-violated" in checks(h)


def test_stale_get() -> None:
    m = busy_model()
    old = m.state[B]
    m.update(B, b"newer")
    stale = m.get(B)
    stale.kv, stale.revision = old, old.mod_revision
    assert checks(m.history()) == {"stale-read"}


def test_get_of_a_version_that_never_existed() -> None:
    m = busy_model()
    op = m.get(B)
    op.kv = dataclasses.replace(kv_of(op), value=b"invented")
    assert checks(m.history()) == {"bad-read"}


def test_watch_that_stops_short_of_the_final_revision() -> None:
    h = busy_model().history()
    for seg in h.segments:
        seg.events, seg.through = seg.events[:-2], seg.through - 2
    assert "watch-incomplete" in checks(h)


def test_hole_no_watcher_covered_without_a_list() -> None:
    h = busy_model().history(watchers=1)
    whole = h.segments[0]
    h.segments = [
        dataclasses.replace(whole, through=4, events=whole.events[:4]),
        dataclasses.replace(whole, after=6, snapshot=None, events=whole.events[6:]),
    ]
    assert "replay-gap" in checks(h)


# -- the real traffic against an in-process store ------------------------------------


def _clean(report: Report) -> None:
    assert report.violations == [], report.summary()


async def test_traffic_against_sqlite_checks_clean(tmp_path: object) -> None:
    store = await SqliteStore.open(f"{tmp_path}/s.db", compact_interval=0)
    try:
        traffic = Traffic(store, seed=7)
        await traffic.start_watchers()
        await traffic.run(1.0)
        final = await traffic.final_list()
        await traffic.stop_watchers(through=final.revision)
    finally:
        await store.close()
    history = traffic.history(final)
    assert {op.kind for op in history.ops} == {"create", "update", "delete", "get", "list"}
    assert sum(op.is_write and op.ok for op in history.ops) > 100
    report = check_history(history)
    _clean(report)
    assert len(report.applied) == final.revision


async def test_traffic_with_dropped_watches_and_compaction_checks_clean(tmp_path: object) -> None:
    # A tiny watch buffer and a slow watcher get watches dropped and resumed;
    # compacting right behind them makes some resumes fail with CompactedError.
    store = await SqliteStore.open(f"{tmp_path}/s.db", compact_interval=0, max_watch_buffer=20)
    try:
        traffic = Traffic(store, seed=3, compact_every=0.1, compact_lag=0.05, watch_delay=0.005)
        await traffic.start_watchers()
        await traffic.run(1.5)
        final = await traffic.final_list()
        await traffic.stop_watchers(through=final.revision)
    finally:
        await store.close()
    history = traffic.history(final)
    ends = {seg.end for seg in history.segments}
    assert "WatchDroppedError" in ends
    _clean(check_history(history))
