"""Request-reply handlers: one command or query in, the service's reply out."""

from __future__ import annotations

from typing import Annotated, Any

from faststream import Context
from faststream.nats import NatsRouter

from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeleteDeployment,
    DeleteService,
    RepairDeployment,
    ScaleDeployment,
    UpdateDeployment,
    UpdateService,
)
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_workload_manager.service import WorkloadService

router = NatsRouter()
QUEUE = "workload-manager"
Workloads = Annotated[WorkloadService, Context("workloads")]
DEPLOYMENT = subjects.DEPLOYMENT
SERVICE = subjects.SERVICE


@router.subscriber(subjects.command(DEPLOYMENT, "create"), queue=QUEUE)
async def create_deployment(command: CreateDeployment, workloads: Workloads) -> dict[str, Any]:
    """Accept a Deployment (pending) and queue its rollout."""
    return await workloads.create_deployment(command)


@router.subscriber(subjects.command(DEPLOYMENT, "update"), queue=QUEUE)
async def update_deployment(command: UpdateDeployment, workloads: Workloads) -> dict[str, Any]:
    """Replace a Deployment's spec and roll it out again (updating)."""
    return await workloads.update_deployment(command)


@router.subscriber(subjects.command(DEPLOYMENT, "scale"), queue=QUEUE)
async def scale_deployment(command: ScaleDeployment, workloads: Workloads) -> dict[str, Any]:
    """Change a Deployment's replica count (updating)."""
    return await workloads.scale_deployment(command)


@router.subscriber(subjects.command(DEPLOYMENT, "repair"), queue=QUEUE)
async def repair_deployment(command: RepairDeployment, workloads: Workloads) -> dict[str, Any]:
    """Apply a drifted Deployment (and its drifted Services) again as recorded."""
    return await workloads.repair_deployment(command)


@router.subscriber(subjects.command(DEPLOYMENT, "delete"), queue=QUEUE)
async def delete_deployment(command: DeleteDeployment, workloads: Workloads) -> dict[str, Any]:
    """Remove a Deployment from its cluster, then the record."""
    return await workloads.delete_deployment(command)


@router.subscriber(subjects.query(DEPLOYMENT, "get"), queue=QUEUE)
async def get_deployment(query: GetEntity, workloads: Workloads) -> dict[str, Any]:
    return await workloads.get_deployment(query)


@router.subscriber(subjects.query(DEPLOYMENT, "list"), queue=QUEUE)
async def list_deployments(query: ListEntities, workloads: Workloads) -> dict[str, Any]:
    return await workloads.list_deployments(query)


@router.subscriber(subjects.command(SERVICE, "create"), queue=QUEUE)
async def create_service(command: CreateService, workloads: Workloads) -> dict[str, Any]:
    """Accept a Service in front of a Deployment (pending) and queue its apply."""
    return await workloads.create_service(command)


@router.subscriber(subjects.command(SERVICE, "update"), queue=QUEUE)
async def update_service(command: UpdateService, workloads: Workloads) -> dict[str, Any]:
    """Replace a Service's spec and apply it again (pending)."""
    return await workloads.update_service(command)


@router.subscriber(subjects.command(SERVICE, "delete"), queue=QUEUE)
async def delete_service(command: DeleteService, workloads: Workloads) -> dict[str, Any]:
    """Remove a Service from its cluster, then the record."""
    return await workloads.delete_service(command)


@router.subscriber(subjects.query(SERVICE, "get"), queue=QUEUE)
async def get_service(query: GetEntity, workloads: Workloads) -> dict[str, Any]:
    return await workloads.get_service(query)


@router.subscriber(subjects.query(SERVICE, "list"), queue=QUEUE)
async def list_services(query: ListEntities, workloads: Workloads) -> dict[str, Any]:
    return await workloads.list_services(query)
