"""Crash test: kill the store server under Kubernetes-shaped traffic, then check the history.

The store server runs as its own process on a SQLite file; eight clients and
three watchers talk to it through `kyb://` while a seeded nemesis SIGKILLs
it at random moments and restarts it on the same file and port. Three of the
restarts set a failpoint (`KYB_STORE_FAILPOINT`), so that incarnation dies
by itself just before or just after its next COMMIT, or inside its next
compaction chunk. After the traffic the server is killed once more, so the
final list also proves the last writes were durable. The history checker
then decides (see tests/store/history/checker.py).

CI runs three seeds; run many by hand with, e.g.,
``KYB_HISTORY_SEEDS=1-100 pytest -m slow -s tests/store/test_crash_history.py -x``.
A failure leaves the history as JSON and the server logs in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from kybernetes.store import open_store
from tests.store.history.checker import check_history
from tests.store.history.recorder import Fault, Traffic
from tests.support.etcd import free_port

MAX_TRAFFIC_SECONDS = 60.0  # the traffic runs until the nemesis is done, then CALM_SECONDS
CALM_SECONDS = 0.5
FAILPOINTS = ("before-commit", "after-commit", "compact-chunk")


def seeds() -> list[int]:
    """`KYB_HISTORY_SEEDS`: comma-separated seeds or ranges (`1-100`); 1,2,3 by default."""
    chosen: list[int] = []
    for part in os.environ.get("KYB_HISTORY_SEEDS", "1,2,3").split(","):
        low, _, high = part.strip().partition("-")
        chosen.extend(range(int(low), int(high or low) + 1))
    return chosen


class StoreServer:
    """`python -m kybernetes.store.remote.server` on one file and one port, restartable."""

    def __init__(self, db: Path, port: int, logs: Path) -> None:
        self.db, self.port, self.logs = db, port, logs
        self.url = f"kyb://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.logs / f"server-{self.starts}.log"

    async def start(self, failpoint: str = "", timeout: float = 20.0) -> None:
        """Start it and return once it says it is listening."""
        env = {k: v for k, v in os.environ.items() if k != "KYB_STORE_FAILPOINT"}
        if failpoint:
            env["KYB_STORE_FAILPOINT"] = failpoint
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kybernetes.store.remote.server",
                "--store-url",
                f"sqlite:///{self.db}",
                "--listen",
                f"127.0.0.1:{self.port}",
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while b"listening on http://" not in self.log_path.read_bytes():
            if self.process.returncode is not None or time.monotonic() > deadline:
                await self.kill()
                log_text = self.log_path.read_text(errors="replace")
                raise AssertionError(f"store server did not start:\n{log_text}")
            await asyncio.sleep(0.01)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            await self.process.wait()

    async def died_within(self, seconds: float) -> bool:
        assert self.process is not None
        try:
            await asyncio.wait_for(self.process.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            if not await self.died_within(10):
                await self.kill()


async def nemesis(server: StoreServer, rng: random.Random) -> list[Fault]:
    """SIGKILL the server 3-5 times at random moments, plus once per failpoint."""
    plan = ["sigkill"] * rng.randint(3, 5) + list(FAILPOINTS)
    rng.shuffle(plan)
    faults: list[Fault] = []
    for kind in plan:
        await asyncio.sleep(rng.uniform(0.3, 1.0))  # uptime
        down = time.monotonic_ns()
        await server.kill()
        await asyncio.sleep(rng.uniform(0.0, 0.3))  # downtime
        await server.start(failpoint="" if kind == "sigkill" else kind)
        faults.append(Fault("sigkill", down, time.monotonic_ns()))
        if kind == "sigkill":
            continue
        # This incarnation dies by itself at the failpoint; then start a sound one.
        died = await server.died_within(5.0)
        down = time.monotonic_ns()
        await server.kill()
        await server.start()
        faults.append(
            Fault(f"failpoint {kind}" if died else f"{kind} not reached", down, time.monotonic_ns())
        )
    return faults


@pytest.mark.slow
@pytest.mark.parametrize("seed", seeds())
async def test_history_survives_crashes(tmp_path: Path, seed: int) -> None:
    server = StoreServer(tmp_path / "state.db", free_port(), tmp_path)
    await server.start()
    began = time.monotonic()
    store = await open_store(server.url)
    try:
        traffic = Traffic(store, seed=seed, compact_every=0.5, compact_lag=2.0)
        await traffic.start_watchers()
        clients = asyncio.create_task(traffic.run(MAX_TRAFFIC_SECONDS), name="history-traffic")
        try:
            faults = await nemesis(server, random.Random(seed))
            await asyncio.sleep(CALM_SECONDS)
        finally:
            traffic.stop()
            await clients
        # One more crash with the traffic quiet: the final state must hold every ack.
        down = time.monotonic_ns()
        await server.kill()
        await server.start()
        faults.append(Fault("sigkill (final)", down, time.monotonic_ns()))
        final = await traffic.final_list()
        await traffic.stop_watchers(through=final.revision)
    finally:
        await store.close()
        await server.stop()

    history = traffic.history(final, faults)
    report = check_history(history)
    took = time.monotonic() - began
    print(
        f"\nseed {seed}: {history.summary()} resolved_unknown={report.resolved_unknown} "
        f"compactions={traffic.compactions} unchecked_reads={report.unchecked_reads} "
        f"({took:.1f}s)\n  faults: {', '.join(f.kind for f in faults)}"
    )
    if report.violations:
        history.dump(tmp_path / "history.json")
        pytest.fail(
            f"seed {seed}: {len(report.violations)} violations "
            f"(history and server logs in {tmp_path}):\n{report.summary()}"
        )
    assert sum(op.is_write and op.ok for op in history.ops) > 100
    assert {f.kind for f in faults} >= {f"failpoint {name}" for name in FAILPOINTS}
