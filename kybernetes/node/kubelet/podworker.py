"""One pod on this node: its sandbox, its containers in order, restarts, its status.

`sync(pod)` takes one level-triggered step, as the kubelet's SyncPod does:
the sandbox (pod network namespace + address, pinned IPC/UTS, the managed
/etc files), then the init containers one by one, then every app
container, each started, left running, or restarted per the restart policy
with CrashLoopBackOff, and returns the status to report. Failures that
keep a container from starting are waiting reasons the user can read
(ErrImagePull, ImagePullBackOff, CreateContainerConfigError,
CrashLoopBackOff), each with its Event.

Probes run on their own timers (`prober.ProbeManager`), not in this step:
a step reads their results into each container's `ready` and `started`,
and kills a container whose liveness or startup probe failed (then the
restart policy decides, as for any exit). Every stop of a container, for a
probe, a failed postStart hook or the pod's deletion, is the kubelet's:
the preStop hook within the grace period, SIGTERM, SIGKILL at its end.
Each attempt gets its own file bound at `terminationMessagePath`, read
into `terminated.message` once it ends (or the log's tail, for
FallbackToLogsOnError). A running container's end wakes the pod's loop.

What was started is remembered in `state.json` beside the containers (the
attempts of each container, the sandbox address, the start time), so a
restarted kubelet picks every pod up where it was, without restarting a
container. The two most recent attempts of a container are kept (the
previous one serves `kubectl logs --previous`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kybernetes.api.times import format_time, parse_time
from kybernetes.client.events import EventRecorder
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.node.kubelet.containerspec import (
    ConfigError,
    build_env,
    container_config,
    needed_sources,
    verify_run_as_non_root,
)
from kybernetes.node.kubelet.ephemeral import (
    TargetNotRunning,
    ephemeral_containers,
    ephemeral_to_start,
    target_pid_namespace,
)
from kybernetes.node.kubelet.podfiles import hostname_of, write_pod_files
from kybernetes.node.kubelet.podstatus import (
    DEADLINE_MESSAGE,
    DEADLINE_REASON,
    Observed,
    deadline_left,
    pod_status,
)
from kybernetes.node.kubelet.prober import ProbeManager, Prober
from kybernetes.node.kubelet.probes import hook_failure_message, kill_message
from kybernetes.node.kubelet.restarts import CrashLoopBackoff, backoff_message, should_restart
from kybernetes.node.kubelet.serviceenv import service_env, visible_services
from kybernetes.node.kubelet.volumemanager import PodVolumes
from kybernetes.node.kubelet.volumes import VolumeError
from kybernetes.node.network.hostnet import HostNetwork
from kybernetes.node.network.podnet import PodAddress, PodNetwork
from kybernetes.node.runtime.base import ContainerRuntime
from kybernetes.node.runtime.process import ISOLATION_WARNING, NO_COMMAND, VOLUME_WARNING
from kybernetes.node.runtime.runc import SandboxFiles
from kybernetes.node.runtime.spec import Mount, SandboxPaths, oci_spec
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["Attempt", "ImageService", "PodRecord", "PodWorker", "PulledImage", "sandbox_paths"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KEEP_ATTEMPTS = 2
MIN_GRACE_AFTER_HOOK = 2.0  # the kubelet's minimum grace period once a preStop hook ran
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
MESSAGE_LIMIT = 4096  # bytes of a termination message file that are read
LOG_FALLBACK_LINES = 80  # FallbackToLogsOnError: the log's last lines ...
LOG_FALLBACK_BYTES = 2048  # ... and at most this much of them
EXIT_POLL = 0.5  # the longest wait between two looks for a container's exit record
EXIT_RECORD_POLL = 0.01  # the first wait, once its process has ended
EXIT_WATCH = 30.0  # a process watched this long is looked at afresh (a backstop)


@dataclass(frozen=True)
class PulledImage:
    name: str
    image_id: str  # what containerStatuses[].imageID shows
    layers: tuple[str, ...]  # unpacked layer directories, base first
    config: Mapping[str, Any]  # the image config's "config" object (Entrypoint, Cmd, Env, ...)
    size: int = 0


class ImageService(Protocol):
    async def ensure(
        self, image: str, *, policy: str, pull_secrets: Sequence[Mapping[str, Any]]
    ) -> tuple[PulledImage, bool]: ...


@dataclass
class Attempt:
    container_id: str
    number: int
    image: str
    image_id: str
    started_at: str = ""
    fallback_to_logs: bool = False  # terminationMessagePolicy FallbackToLogsOnError


@dataclass
class PodRecord:
    """What this node remembers of a pod, across kubelet restarts."""

    pod_ip: str = ""
    start_time: str = ""
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # container -> oldest first

    def to_json(self) -> Obj:
        return {"pod_ip": self.pod_ip, "start_time": self.start_time,
                "attempts": {k: [dataclasses.asdict(a) for a in v]
                             for k, v in self.attempts.items()}}  # fmt: skip

    @classmethod
    def from_json(cls, data: Obj) -> PodRecord:
        attempts = {name: [Attempt(**a) for a in runs]
                    for name, runs in (data.get("attempts") or {}).items()}  # fmt: skip
        return cls(data.get("pod_ip", ""), data.get("start_time", ""), attempts)


def _default_pull_policy(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    return "Always" if "@" not in tag and (":" not in tag or tag.endswith(":latest")) else (
        "IfNotPresent")  # fmt: skip


class PodWorker:
    def __init__(
        self,
        *,
        uid: str,
        state_dir: Path,
        runtime: ContainerRuntime,
        network: PodNetwork | HostNetwork,
        images: ImageService,
        client: ApiClient,
        events: EventRecorder,
        host_ip: str,
        backoff: CrashLoopBackoff,
        clock: Callable[[], float] = time.time,
        allocatable: Callable[[], Mapping[str, str]] = dict,
        services: Callable[[], Iterable[Obj]] = list,
    ) -> None:
        self.uid = uid
        self._services = services  # every Service the kubelet knows of (for their env vars)
        self.dir = state_dir
        self._runtime = runtime
        self._network = network
        self._images = images
        self._client = client
        self._events = events
        self._host_ip = host_ip
        self._backoff = backoff
        self._clock = clock
        # The node's allocatable, which a container without limits reads through the
        # downward API (resourceFieldRef), as the kubelet defaults those limits.
        self._allocatable = allocatable
        self._waiting: dict[str, Obj] = {}  # container -> waiting state while not running
        self._volumes = PodVolumes(state_dir / "volumes", client,
                                   mount_tmpfs=runtime.isolated)  # fmt: skip
        self._volume_paths: dict[str, str] = {}
        self.record = self._load()
        # The kubelet sets this to wake the pod's sync loop when a probe result flips.
        self.notify: Callable[[], None] = lambda: None
        self._pod: Obj | None = None  # the latest pod seen, for probe Events
        self._started_here: set[str] = set()  # attempts this worker started (not adopted)
        self._exit_watch: dict[str, asyncio.Task[None]] = {}  # container id -> its watcher
        self._expired = False  # past spec.activeDeadlineSeconds: failed for good
        self._prober = Prober(runc_root=str(runtime.runc_root), host_netns=network.host_netns,
                              exec_argv=runtime.exec_argv)  # fmt: skip
        self._probes = ProbeManager(self._prober, on_change=lambda: self.notify(),
                                    event=self._probe_event, pod_ip=lambda: self.record.pod_ip,
                                    clock=clock)  # fmt: skip

    # -- memory --------------------------------------------------------------------

    def _load(self) -> PodRecord:
        try:
            return PodRecord.from_json(json.loads((self.dir / "state.json").read_text()))
        except (OSError, ValueError, TypeError):
            return PodRecord()

    async def _save(self) -> None:
        data = json.dumps(self.record.to_json())
        path = self.dir / "state.json"

        def write() -> None:
            self.dir.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".tmp")
            scratch.write_text(data)
            scratch.replace(path)

        await asyncio.to_thread(write)

    def _now(self) -> str:
        return format_time(datetime.datetime.fromtimestamp(self._clock(), datetime.UTC))

    # -- one step ----------------------------------------------------------------

    async def sync(self, pod: Obj) -> Obj:
        """Move the pod one step toward running; the status to report."""
        self._pod = pod
        left = self.deadline_left(pod)
        if self._expired or (left is not None and left <= 0):
            return await self._expire(pod)
        sandbox = await self._ensure_sandbox(pod)
        spec = pod.get("spec") or {}
        init: dict[str, Observed] = {}
        app: dict[str, Observed] = {}
        try:
            self._volume_paths = await self._volumes.ensure(
                pod, pod_ip=self.record.pod_ip, host_ip=self._host_ip,
                node_allocatable=self._allocatable())  # fmt: skip
        except VolumeError as err:
            # As the kubelet: containers wait in ContainerCreating until the volumes mount.
            self._event(pod, "Warning", "FailedMount", str(err))
            seen_app, seen_init = await self.observe_all(pod)
            return self.status(pod, seen_app, seen_init, ephemeral=await self._ephemeral(pod))
        initialized = await self._run_init_containers(pod, sandbox, init)
        if initialized:
            for container in spec.get("containers") or []:
                app[container["name"]] = await self._keep_running(pod, sandbox, container)
        # After the app containers, so that one a debugger targets has started this step.
        for container in ephemeral_to_start(pod, started=set(self.record.attempts)):
            await self._start_ephemeral(pod, sandbox, container)
        return self.status(pod, app, init, ephemeral=await self._ephemeral(pod))

    def status(self, pod: Obj, app: Mapping[str, Observed], init: Mapping[str, Observed],
               failure: tuple[str, str] | None = None, *,
               ephemeral: Mapping[str, Observed] | None = None) -> Obj:  # fmt: skip
        return pod_status(pod, app, init, ephemeral=ephemeral, pod_ip=self.record.pod_ip,
                          host_ip=self._host_ip, start_time=self.record.start_time,
                          sandbox_ready=bool(self.record.pod_ip), now=self._now(),
                          failure=failure)  # fmt: skip

    def deadline_left(self, pod: Obj) -> float | None:
        """Seconds until the pod's activeDeadlineSeconds runs out; None: none runs (any more)."""
        if self._expired:
            return None
        started = parse_time(self.record.start_time) if self.record.start_time else None
        return deadline_left(pod.get("spec") or {}, now=self._clock(),
                             started_at=started.timestamp() if started else None)  # fmt: skip

    async def _expire(self, pod: Obj) -> Obj:
        """Past its deadline: the pod is failed for good, its containers stopped (as evicted)."""
        if not self._expired:
            self._expired = True
            self._event(pod, "Normal", DEADLINE_REASON, DEADLINE_MESSAGE)
        await self._stop_all(pod, _pod_grace(pod))
        app, init = await self.observe_all(pod)
        return self.status(pod, app, init, failure=(DEADLINE_REASON, DEADLINE_MESSAGE),
                           ephemeral=await self._ephemeral(pod))  # fmt: skip

    async def _ensure_sandbox(self, pod: Obj) -> SandboxPaths:
        spec = pod.get("spec") or {}
        if spec.get("hostNetwork"):
            # The node's own network (and address): nothing to make for it.
            address = PodAddress(netns_path="", ip=self._host_ip, gateway="", prefix=32)
            files = await self._runtime.create_sandbox(self.uid, hostname_of(pod),
                                                       share_pid=_shares_pid(spec))  # fmt: skip
        else:
            # Independent (network namespace vs. IPC/UTS/shm), so made side by side: each
            # is a few short commands, and a pod start waits for the slower one only.
            address, files = await asyncio.gather(
                self._network.setup(self.uid),
                self._runtime.create_sandbox(self.uid, hostname_of(pod),
                                             share_pid=_shares_pid(spec)),
            )  # fmt: skip
        if not self.record.start_time:
            self.record.start_time = self._now()
            if not self._runtime.isolated:
                self._warn_unisolated(pod)
        if self.record.pod_ip != address.ip:
            self.record.pod_ip = address.ip
            await self._save()
        return sandbox_paths(spec, netns=address.netns_path, files=files)

    def _warn_unisolated(self, pod: Obj) -> None:
        """Say, once per pod, what the process runtime does not give it."""
        self._event(pod, "Warning", "NoIsolation", ISOLATION_WARNING)
        names = [str(v.get("name")) for v in (pod.get("spec") or {}).get("volumes") or []]
        if names:
            self._event(pod, "Warning", "VolumesNotMounted",
                        VOLUME_WARNING.format(names=", ".join(names)))  # fmt: skip

    async def _run_init_containers(self, pod: Obj, sandbox: SandboxPaths,
                                   seen: dict[str, Observed]) -> bool:  # fmt: skip
        """Init containers in order; True once all have succeeded."""
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for container in (pod.get("spec") or {}).get("initContainers") or []:
            name = container["name"]
            observed = await self._observe(name)
            terminated = (observed.state.get("terminated") if observed else None) or {}
            if terminated.get("exitCode") == 0:
                seen[name] = observed  # type: ignore[assignment]
                continue
            if observed is not None and "running" in observed.state:
                seen[name] = observed
                return False
            if terminated and policy == "Never":
                seen[name] = observed  # type: ignore[assignment]
                return False  # the pod has failed
            seen[name] = await self._start_or_wait(pod, sandbox, container, observed)
            return False
        return True

    async def _keep_running(self, pod: Obj, sandbox: SandboxPaths, container: Obj) -> Observed:
        name = container["name"]
        observed = await self._observe(name)
        if observed is not None and "running" in observed.state:
            observed = await self._probed(pod, container, observed)
        else:
            self._probes.forget(name)  # nothing runs to probe
        if observed is not None and "terminated" not in observed.state:
            return observed
        if observed is not None:
            policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
            code = int(observed.state["terminated"].get("exitCode", 0))
            if not should_restart(policy, code):
                return observed
        return await self._start_or_wait(pod, sandbox, container, observed)

    async def _start_or_wait(self, pod: Obj, sandbox: SandboxPaths, container: Obj,
                             observed: Observed | None) -> Observed:  # fmt: skip
        """Start the container's next attempt, unless a back-off says wait."""
        name = container["name"]
        key = f"{self.uid}/{name}"
        if observed is not None:  # it ran and ended: CrashLoopBackOff may hold it back
            finished = parse_time(observed.state["terminated"].get("finishedAt"))
            ended = finished.timestamp() if finished else self._clock()
            wait = self._backoff.wait(key, finished_at=ended, now=self._clock())
            if wait > 0:
                meta = pod["metadata"]
                message = backoff_message(self._backoff.current(key), name, meta["name"],
                                          meta.get("namespace", ""), self.uid)  # fmt: skip
                self._event(pod, "Warning", "BackOff",
                            f"Back-off restarting failed container {name} in pod "
                            f"{meta['name']}_{meta.get('namespace', '')}({self.uid})")  # fmt: skip
                return dataclasses.replace(observed, state={"waiting": {
                    "reason": "CrashLoopBackOff", "message": message}},
                    last_state=observed.state)  # fmt: skip
            self._backoff.restarted(key, finished_at=ended)
        started = await self._start(pod, sandbox, container)
        now_seen = await self._observe(name)
        if started and now_seen is not None:
            if "running" in now_seen.state:  # not ready before its probes say so
                return await self._probed(pod, container, now_seen)
            return now_seen
        waiting = {"waiting": self._waiting.get(name, {"reason": "ContainerCreating"})}
        previous = observed.state if observed is not None else {}
        count = len(self.record.attempts.get(name, []))
        return Observed(state=waiting, last_state=previous if "terminated" in previous else {},
                        restart_count=max(0, count - 1) if count else 0,
                        image=str(container.get("image", "")))  # fmt: skip

    async def _start_ephemeral(self, pod: Obj, sandbox: SandboxPaths, container: Obj) -> None:
        """Start an ephemeral container, in its target's PID namespace if it names one
        (in a pod that shares one PID namespace, as kube, that one)."""
        name = str(container["name"])
        target = "" if sandbox.pid else str(container.get("targetContainerName") or "")
        try:
            state = await self._current_state(target) if target else None
            pid = target_pid_namespace(container, state)
        except TargetNotRunning as err:
            self._waiting[name] = {"reason": "CreateContainerError", "message": str(err)}
            self._event(pod, "Warning", "Failed", f"Error: {err}")
            return
        await self._start(pod, dataclasses.replace(sandbox, pid=pid), container)

    async def _current_state(self, name: str) -> Obj | None:
        """The runtime's state of a container's latest attempt (None: never started)."""
        attempts = self.record.attempts.get(name) or []
        return await self._runtime.state(attempts[-1].container_id) if attempts else None

    async def _ephemeral(self, pod: Obj) -> dict[str, Observed]:
        """What each ephemeral container is doing, or why it waits (never restarted, so
        an ended one stays terminated); a running one's end wakes the pod's sync."""
        seen: dict[str, Observed] = {}
        for container in ephemeral_containers(pod):
            name = str(container["name"])
            observed = await self._observe(name)
            if observed is None and name in self._waiting:
                observed = Observed(state={"waiting": dict(self._waiting[name])},
                                    image=str(container.get("image", "")))  # fmt: skip
            if observed is None:
                continue
            if "running" in observed.state:
                self._watch_exit(self.record.attempts[name][-1].container_id)
            seen[name] = dataclasses.replace(observed, ready=False)
        return seen

    async def _probed(self, pod: Obj, container: Obj, observed: Observed) -> Observed:
        """A running container as its probes see it; killed when liveness or startup fail."""
        name = str(container["name"])
        attempt = self.record.attempts[name][-1]
        self._watch_exit(attempt.container_id)
        started = parse_time(attempt.started_at)
        self._probes.ensure(container, attempt.container_id,
                            started_at=started.timestamp() if started else self._clock(),
                            adopted=attempt.container_id not in self._started_here)  # fmt: skip
        failed = self._probes.failed(name, attempt.container_id)
        if failed is None:
            return dataclasses.replace(
                observed, ready=self._probes.ready(name, attempt.container_id),
                started=self._probes.started(name, attempt.container_id))  # fmt: skip
        grace = failed.termination_grace
        if grace is None:
            grace = _pod_grace(pod)
        await self._stop_container(pod, container, attempt.container_id, grace,
                                   message=kill_message(failed.kind, name))  # fmt: skip
        self._probes.forget(name)
        return await self._observe(name) or observed

    def _watch_exit(self, container_id: str) -> None:
        """Wake the pod's sync when this running container ends (nothing else would)."""
        if container_id not in self._exit_watch:
            self._exit_watch[container_id] = asyncio.create_task(
                self._notify_on_exit(container_id), name=f"kyb-exit-{container_id}")  # fmt: skip

    async def _notify_on_exit(self, container_id: str) -> None:
        # The container's process is watched (runtime.wait_exit); its shim writes the exit
        # record a moment after. Looked for again and again, less and less often, should
        # the process be unknown or the record late, as it was always polled before.
        delay = EXIT_RECORD_POLL
        while self._runtime.exit_status(container_id) is None:
            try:
                async with asyncio.timeout(EXIT_WATCH):
                    await self._runtime.wait_exit(container_id)
            except TimeoutError:
                delay = EXIT_RECORD_POLL  # it still runs: its end will be looked for promptly
                continue
            if self._runtime.exit_status(container_id) is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, EXIT_POLL)
        self._exit_watch.pop(container_id, None)
        self.notify()

    def _probe_event(self, kind: str, reason: str, message: str) -> None:
        if self._pod is not None:
            self._event(self._pod, kind, reason, message)

    # -- starting ----------------------------------------------------------------

    async def _start(self, pod: Obj, sandbox: SandboxPaths, container: Obj) -> bool:
        """Pull, configure, create and start the next attempt; False when it could not."""
        name = container["name"]
        if self._runtime.needs_images:
            image = await self._pull(pod, container)
        elif container.get("command"):
            # Nothing to pull: the command runs on this host as it is.
            image = PulledImage(str(container.get("image", "")), "", (), {})
        else:
            image = None
            self._waiting[name] = {"reason": "CreateContainerError", "message": NO_COMMAND}
            self._event(pod, "Warning", "Failed", f"Error: {NO_COMMAND}")
        if image is None:
            return False
        try:
            env = await self._environment(pod, container)
            verify_run_as_non_root(pod, container, image.config)
        except ConfigError as err:
            self._waiting[name] = {"reason": "CreateContainerConfigError", "message": str(err)}
            self._event(pod, "Warning", "Failed", f"Error: {err}")
            return False
        attempts = self.record.attempts.setdefault(name, [])
        number = attempts[-1].number + 1 if attempts else 0
        container_id = f"{self.uid}-{name}-{number}"
        try:
            mounts = await self._mounts(pod, container, env)
        except VolumeError as err:
            self._waiting[name] = {"reason": "CreateContainerConfigError", "message": str(err)}
            self._event(pod, "Warning", "Failed", f"Error: {err}")
            return False
        mounts = (*mounts, await self._termination_mount(container, container_id))
        config = container_config(pod, container, image.config, env=env, mounts=mounts)
        # Remembered before it exists, so that a crash right after leaves nothing unknown.
        fallback = container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        attempts.append(Attempt(container_id, number, str(container.get("image", "")),
                                image.image_id, fallback_to_logs=fallback))  # fmt: skip
        await self._save()
        try:
            spec = oci_spec(config, sandbox, container_id=container_id)
            await self._runtime.create(container_id, spec=spec, layers=list(image.layers))
        except Exception as err:  # noqa: BLE001 - any runtime failure is the container's error
            self._waiting[name] = {"reason": "CreateContainerError", "message": str(err)}
            self._event(pod, "Warning", "Failed", f"Error: {err}")
            await self._runtime.delete(container_id)
            attempts.pop()
            await self._save()
            return False
        self._event(pod, "Normal", "Created", f"Created container {name}")
        await self._runtime.start(container_id)
        self._started_here.add(container_id)
        attempts[-1].started_at = self._now()
        await self._save()
        self._waiting.pop(name, None)
        self._event(pod, "Normal", "Started", f"Started container {name}")
        await self._forget_old_attempts(name)
        await self._post_start(pod, container, container_id)
        return True

    async def _post_start(self, pod: Obj, container: Obj, container_id: str) -> None:
        """Run the postStart hook; if it fails the container is killed (and restarts per policy)."""
        hook = (container.get("lifecycle") or {}).get("postStart")
        if not hook:
            return
        failure = await self._prober.hook(hook, container, container_id, self.record.pod_ip)
        if failure is None:
            return
        error, output = failure
        message = hook_failure_message(hook, container=str(container["name"]),
                                       pod=_pod_name(pod), error=error, output=output)  # fmt: skip
        self._event(pod, "Warning", "FailedPostStartHook", message)
        await self._stop_container(pod, container, container_id, _pod_grace(pod),
                                   message="FailedPostStartHook")  # fmt: skip

    def _termination_file(self, container_id: str) -> Path:
        return self.dir / "termination" / container_id

    async def _termination_mount(self, container: Obj, container_id: str) -> Mount:
        """A file of the pod's bound at terminationMessagePath, read after the container ends."""
        path = self._termination_file(container_id)

        def make() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            path.chmod(0o666)  # any container user may write its message

        await asyncio.to_thread(make)
        target = str(container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH)
        return Mount(target, str(path))

    async def _pull(self, pod: Obj, container: Obj) -> PulledImage | None:
        name, image = container["name"], str(container.get("image", ""))
        policy = str(container.get("imagePullPolicy") or _default_pull_policy(image))
        key = f"pull/{image}"
        wait = self._backoff.wait_since_failure(key, now=self._clock())
        if name in self._waiting and self._waiting[name]["reason"] in (
            "ErrImagePull", "ImagePullBackOff") and wait > 0:  # fmt: skip
            self._waiting[name] = {"reason": "ImagePullBackOff",
                                   "message": f'Back-off pulling image "{image}"'}  # fmt: skip
            self._event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"')
            return None
        secrets = await self._pull_secrets(pod)
        began = time.monotonic()
        try:
            if policy != "Never":
                self._event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
            pulled, fresh = await self._images.ensure(image, policy=policy, pull_secrets=secrets)
        except Exception as err:  # noqa: BLE001 - every image failure waits with its message
            self._backoff.restarted(key, finished_at=self._clock())
            reason = "ErrImageNeverPull" if policy == "Never" else "ErrImagePull"
            self._waiting[name] = {"reason": reason, "message": str(err)}
            self._event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {err}')
            self._event(pod, "Warning", "Failed", f"Error: {reason}")
            return None
        self._backoff.forget(key)
        took = time.monotonic() - began
        if fresh:
            self._event(pod, "Normal", "Pulled",
                        f'Successfully pulled image "{image}" in {took:.3f}s ({took:.3f}s '
                        f"including waiting). Image size: {pulled.size} bytes.")  # fmt: skip
        else:
            self._event(pod, "Normal", "Pulled",
                        f'Container image "{image}" already present on machine')  # fmt: skip
        return pulled

    async def _pull_secrets(self, pod: Obj) -> list[Obj]:
        documents = []
        namespace = pod["metadata"].get("namespace", "")
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            path = resource_path("", "v1", "secrets", namespace, str(ref.get("name", "")))
            try:
                secret = await self._client.get(path)
            except ApiStatusError:
                continue  # kube pulls anonymously then; the pull error will say so
            raw = (secret.get("data") or {}).get(".dockerconfigjson")
            if raw:
                documents.append(json.loads(base64.b64decode(raw)))
        return documents

    async def _environment(self, pod: Obj, container: Obj) -> dict[str, str]:
        namespace = pod["metadata"].get("namespace", "")
        sources: dict[tuple[str, str], Mapping[str, str] | None] = {}
        for kind, name in needed_sources(container):
            plural = "configmaps" if kind == "configmap" else "secrets"
            try:
                obj = await self._client.get(resource_path("", "v1", plural, namespace, name))
            except ApiStatusError as err:
                if err.code != 404:
                    raise
                sources[(kind, name)] = None
                continue
            if kind == "secret":
                sources[(kind, name)] = {k: base64.b64decode(v).decode(errors="replace")
                                         for k, v in (obj.get("data") or {}).items()}  # fmt: skip
            else:
                sources[(kind, name)] = dict(obj.get("data") or {})
        links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
        services = visible_services(self._services(), namespace, links=links)
        return build_env(pod, container, sources=sources, pod_ip=self.record.pod_ip,
                         host_ip=self._host_ip, node_allocatable=self._allocatable(),
                         service_env=service_env(services))  # fmt: skip

    async def _mounts(self, pod: Obj, container: Obj, env: Mapping[str, str]) -> tuple[Mount, ...]:
        """The managed /etc files, then the container's volumeMounts."""
        resolv = await asyncio.to_thread(_read_text, Path("/etc/resolv.conf"))
        files = await asyncio.to_thread(write_pod_files, self.dir / "etc", pod,
                                        self.record.pod_ip, resolv)  # fmt: skip
        volumes = await asyncio.to_thread(PodVolumes.mounts, container, self._volume_paths, env)
        taken = {m.destination for m in volumes}
        managed = [Mount(target, source) for target, source in files.items() if target not in taken]
        return (*managed, *volumes)

    async def _forget_old_attempts(self, name: str) -> None:
        attempts = self.record.attempts.get(name, [])
        while len(attempts) > KEEP_ATTEMPTS:
            old = attempts.pop(0)
            await self._runtime.delete(old.container_id)
            await asyncio.to_thread(self._termination_file(old.container_id).unlink, True)
        await self._save()

    # -- observing ---------------------------------------------------------------

    async def _observe(self, name: str) -> Observed | None:
        """What the latest attempt of a container is doing; None if never started."""
        attempts = self.record.attempts.get(name) or []
        if not attempts:
            return None
        current = attempts[-1]
        state = await self._state_of(current)
        last: Obj = {}
        if len(attempts) > 1:
            last = await self._state_of(attempts[-2])
            if "terminated" not in last:
                last = {}
        return Observed(state=state, last_state=last, restart_count=current.number,
                        ready="running" in state, started="running" in state,
                        image=current.image, image_id=current.image_id,
                        container_id=self._container_id(current))  # fmt: skip

    def _container_id(self, attempt: Attempt) -> str:
        """As the status shows it: the runtime's name as the scheme (`runc://`, `process://`)."""
        return f"{self._runtime.name}://{attempt.container_id}"

    async def _state_of(self, attempt: Attempt) -> Obj:
        ended = self._runtime.exit_status(attempt.container_id)
        if ended is not None:
            reason = "OOMKilled" if ended.oom_killed else (
                "Completed" if ended.exit_code == 0 else "Error")  # fmt: skip
            terminated: Obj = {"exitCode": ended.exit_code, "reason": reason,
                               "startedAt": attempt.started_at or ended.finished_at,
                               "finishedAt": ended.finished_at,
                               "containerID": self._container_id(attempt)}  # fmt: skip
            if ended.signal:
                terminated["signal"] = ended.signal
            message = await asyncio.to_thread(self._termination_message, attempt, ended.exit_code)
            if message:
                terminated["message"] = message
            return {"terminated": terminated}
        runc = await self._runtime.state(attempt.container_id)
        if runc is None:
            # Gone without a word (the node rebooted): as the kubelet reports a lost container.
            return {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                   "message": "The container could not be located when the pod "
                                   "was terminated", "startedAt": attempt.started_at,
                                   "finishedAt": self._now()}}  # fmt: skip
        if runc.get("status") == "running" and attempt.started_at:
            return {"running": {"startedAt": attempt.started_at}}
        return {"waiting": {"reason": "ContainerCreating"}}

    def _termination_message(self, attempt: Attempt, exit_code: int) -> str:
        """What the container wrote to its termination file, or its log's tail when asked."""
        try:
            with open(self._termination_file(attempt.container_id), "rb") as file:
                message = file.read(MESSAGE_LIMIT).decode(errors="replace")
        except OSError:
            message = ""
        if message or not attempt.fallback_to_logs or exit_code == 0:
            return message
        try:
            lines = self._runtime.log_path(attempt.container_id).read_bytes().splitlines()
        except OSError:
            return ""
        return _log_tail(lines[-LOG_FALLBACK_LINES:], LOG_FALLBACK_BYTES)

    async def observe_all(self, pod: Obj) -> tuple[dict[str, Observed], dict[str, Observed]]:
        spec = pod.get("spec") or {}
        app, init = {}, {}
        for container in spec.get("containers") or []:
            seen = await self._observe(container["name"])
            if seen is not None:
                app[container["name"]] = seen
        for container in spec.get("initContainers") or []:
            seen = await self._observe(container["name"])
            if seen is not None:
                init[container["name"]] = seen
        return app, init

    # -- stopping ------------------------------------------------------------------

    async def terminate(self, pod: Obj, grace: float) -> Obj:
        """Stop every running container (preStop, SIGTERM, SIGKILL after `grace`); the status."""
        await self._stop_all(pod, grace)
        app, init = await self.observe_all(pod)
        failure = (DEADLINE_REASON, DEADLINE_MESSAGE) if self._expired else None
        return self.status(pod, app, init, failure, ephemeral=await self._ephemeral(pod))

    async def _stop_all(self, pod: Obj, grace: float) -> None:
        await self._probes.close()
        spec = pod.get("spec") or {}
        every = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        containers = {str(c.get("name")): c for c in every}
        stops = []
        for name, attempts in self.record.attempts.items():
            if attempts and self._runtime.exit_status(attempts[-1].container_id) is None:
                stops.append(self._stop_container(
                    pod, containers.get(name, {"name": name}), attempts[-1].container_id, grace,
                    message=f"Stopping container {name}"))  # fmt: skip
        # Containers stop side by side, each with the whole grace period (as the kubelet).
        await asyncio.gather(*stops)

    async def _stop_container(self, pod: Obj, container: Obj, container_id: str, grace: float,
                              *, message: str) -> None:  # fmt: skip
        """Killing Event, preStop within the grace period, SIGTERM, then SIGKILL at its end."""
        self._event(pod, "Normal", "Killing", message)
        began = time.monotonic()
        hook = (container.get("lifecycle") or {}).get("preStop")
        if hook and grace > 0 and self._runtime.exit_status(container_id) is None:
            failure: tuple[str, str] | None = None
            try:
                async with asyncio.timeout(grace):
                    failure = await self._prober.hook(hook, container, container_id,
                                                      self.record.pod_ip)  # fmt: skip
            except TimeoutError:
                log.info("pod %s: preStop hook of %s not completed in the grace period",
                         self.uid, container.get("name"))  # fmt: skip
            if failure is not None:
                self._event(pod, "Warning", "FailedPreStopHook",
                            hook_failure_message(hook, container=str(container.get("name")),
                                                 pod=_pod_name(pod), error=failure[0],
                                                 output=failure[1]))  # fmt: skip
            grace = max(grace - (time.monotonic() - began), MIN_GRACE_AFTER_HOOK)
        await self._runtime.kill(container_id, "TERM")
        await self._wait_exit(container_id, time.monotonic() + max(grace, 0))
        if self._runtime.exit_status(container_id) is None:
            await self._runtime.kill(container_id, "KILL")
            await self._wait_exit(container_id, time.monotonic() + 10)

    async def close(self) -> None:
        """Stop probing (the kubelet stops looking after this pod; its containers go on)."""
        await self._probes.close()
        for task in list(self._exit_watch.values()):
            await cancel_and_wait(task)
        self._exit_watch.clear()

    async def _wait_exit(self, container_id: str, deadline: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._runtime.wait_exit(container_id)
        while self._runtime.exit_status(container_id) is None and time.monotonic() < deadline:
            if await self._runtime.state(container_id) is None:
                return  # runc no longer knows it
            await asyncio.sleep(0.05)

    async def kill_all(self) -> None:
        """SIGKILL whatever of the pod still runs (the node is being taken down)."""
        for attempts in self.record.attempts.values():
            for attempt in attempts:
                if self._runtime.exit_status(attempt.container_id) is None:
                    await self._runtime.kill(attempt.container_id, "KILL")
                    await self._wait_exit(attempt.container_id, time.monotonic() + 10)

    async def cleanup(self) -> None:
        """Remove every trace of the pod: containers, sandbox, network, state."""
        known = {a.container_id for runs in self.record.attempts.values() for a in runs}
        # Also any container of this pod the record missed (a crash mid-create).
        known |= {c for c in await self._runtime.containers() if c.startswith(f"{self.uid}-")}
        for container_id in sorted(known):
            await self._runtime.kill(container_id, "KILL")
            await self._runtime.delete(container_id)
        await self._volumes.teardown()
        await self._runtime.remove_sandbox(self.uid)
        await self._network.teardown(self.uid)
        await asyncio.to_thread(_remove_tree, self.dir)
        self.record = PodRecord()

    def _event(self, pod: Obj, kind: str, reason: str, message: str) -> None:
        self._events.record(pod, kind, reason, message)


def sandbox_paths(spec: Obj, *, netns: str, files: SandboxFiles) -> SandboxPaths:
    """What each container of the pod joins: the pod's namespaces (its PID namespace
    with shareProcessNamespace, else each container has its own), or the host's for
    hostIPC (with the host's /dev/shm, as containerd) and hostPID; a hostNetwork pod
    has the host's hostname too, as in Kubernetes."""
    host_ipc = bool(spec.get("hostIPC"))
    return SandboxPaths(netns=netns, ipc="" if host_ipc else files.ipc,
                        uts="" if spec.get("hostNetwork") else files.uts,
                        cgroup_parent=files.cgroup_parent,
                        shm=HOST_SHM if host_ipc and files.shm else files.shm,
                        pid=files.pid if _shares_pid(spec) else "",
                        host_pid=bool(spec.get("hostPID")))  # fmt: skip


HOST_SHM = "/dev/shm"


def _shares_pid(spec: Obj) -> bool:
    """One PID namespace for the pod's containers (never with the host's)."""
    return spec.get("shareProcessNamespace") is True and not spec.get("hostPID")


def _pod_grace(pod: Obj) -> float:
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(grace) if grace is not None else 30.0


def _pod_name(pod: Obj) -> str:
    """A pod as the kubelet names it in messages: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def _log_tail(records: Sequence[bytes], limit: int) -> str:
    """The text of CRI log records (`<time> <stream> <P|F> <text>`), the last `limit` bytes."""
    text = b""
    for record in records:
        parts = record.split(b" ", 3)
        if len(parts) == 4:
            text += parts[3] + (b"" if parts[2] == b"P" else b"\n")
    return text[-limit:].decode(errors="replace")


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
