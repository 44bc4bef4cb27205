"""The controller manager: every controller, under one leader-elected Lease.

Only the leader runs controllers, so two `kyb server`s never reconcile the
same objects at once; losing the Lease cancels them all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from typing import Protocol

from kybernetes.client.factory import InformerFactory
from kybernetes.client.leaderelection import LeaderElector, LeaseConfig
from kybernetes.client.rest import ApiClient
from kybernetes.controllers.cronjob import CronJobController
from kybernetes.controllers.csrsigning import CSRSigningController, SigningCA
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.deployment import DeploymentController
from kybernetes.controllers.disruption import DisruptionController
from kybernetes.controllers.endpoints import EndpointsController
from kybernetes.controllers.endpointslice import EndpointSliceController
from kybernetes.controllers.endpointslicemirroring import EndpointSliceMirroringController
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.hpa import HorizontalPodAutoscalerController
from kybernetes.controllers.job import JobController
from kybernetes.controllers.namespace import NamespaceController
from kybernetes.controllers.nodeipam import NodeIpamController
from kybernetes.controllers.nodelifecycle import NodeLifecycleController
from kybernetes.controllers.podgc import PodGCController
from kybernetes.controllers.replicaset import ReplicaSetController
from kybernetes.controllers.replicationcontroller import ReplicationManager
from kybernetes.controllers.resourcequota import ResourceQuotaController
from kybernetes.controllers.rootcacert import RootCACertPublisher
from kybernetes.controllers.serviceaccount import ServiceAccountController
from kybernetes.controllers.servicelb import ServiceLBController
from kybernetes.controllers.statefulset import StatefulSetController
from kybernetes.controllers.ttlafterfinished import TTLAfterFinishedController

__all__ = ["run_controller_manager"]

log = logging.getLogger(__name__)

LEASE = ("kube-system", "kyb-controller-manager")


class Controller(Protocol):
    async def run(self) -> None: ...


# The registry of controllers the manager runs: one line per controller. Each
# takes the shared informers (and through them the client).
CONTROLLERS: tuple[Callable[[InformerFactory], Controller], ...] = (
    ReplicaSetController,
    DeploymentController,
    EndpointsController,
    EndpointSliceController,
    EndpointSliceMirroringController,
    DaemonSetController,
    StatefulSetController,
    JobController,
    CronJobController,
    TTLAfterFinishedController,
    NodeIpamController,
    NodeLifecycleController,
    GarbageCollector,
    NamespaceController,
    ServiceAccountController,
    RootCACertPublisher,
    ServiceLBController,
    ReplicationManager,
    ResourceQuotaController,
    DisruptionController,
    PodGCController,
    HorizontalPodAutoscalerController,
)


async def _run_all(client: ApiClient, signing: SigningCA | None) -> None:
    informers = InformerFactory(client)
    controllers = [make(informers) for make in CONTROLLERS]
    if signing is not None:
        controllers.append(CSRSigningController(informers, signing))
    informers.start()  # after every controller added its handlers and indexes
    try:
        async with asyncio.TaskGroup() as group:
            for controller in controllers:
                group.create_task(controller.run(), name=f"kyb-{type(controller).__name__}")
    finally:
        await informers.stop()


async def run_controller_manager(
    client: ApiClient, identity: str = "", *, signing: SigningCA | None = None
) -> None:
    """Lead (or wait to lead) and run the controllers until cancelled; with the
    cluster CA (`signing`), the CSR signer too."""
    name = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(client, LeaseConfig(*LEASE, identity=name))
    try:
        while True:
            await elector.run(lambda: _run_all(client, signing))
            log.warning("controller manager %s lost leadership; campaigning again", name)
    finally:
        await asyncio.shield(elector.release())
