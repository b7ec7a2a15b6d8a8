"""Request-reply handlers: one command or query in, the use case's reply out."""

from __future__ import annotations

from typing import Any

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
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import deployments, kube_services

router = NatsRouter()
QUEUE = "workload-manager"
DEPLOYMENT = subjects.DEPLOYMENT
SERVICE = subjects.SERVICE


@router.subscriber(subjects.command(DEPLOYMENT, "create"), queue=QUEUE)
async def create_deployment(command: CreateDeployment, deps: Deps) -> dict[str, Any]:
    """Accept a Deployment (pending) and queue its rollout."""
    return await deployments.create_deployment(deps, command)


@router.subscriber(subjects.command(DEPLOYMENT, "update"), queue=QUEUE)
async def update_deployment(command: UpdateDeployment, deps: Deps) -> dict[str, Any]:
    """Replace a Deployment's spec and roll it out again (updating)."""
    return await deployments.update_deployment(deps, command)


@router.subscriber(subjects.command(DEPLOYMENT, "scale"), queue=QUEUE)
async def scale_deployment(command: ScaleDeployment, deps: Deps) -> dict[str, Any]:
    """Change a Deployment's replica count (updating)."""
    return await deployments.scale_deployment(deps, command)


@router.subscriber(subjects.command(DEPLOYMENT, "repair"), queue=QUEUE)
async def repair_deployment(command: RepairDeployment, deps: Deps) -> dict[str, Any]:
    """Apply a drifted Deployment (and its drifted Services) again as recorded."""
    return await deployments.repair_deployment(deps, command)


@router.subscriber(subjects.command(DEPLOYMENT, "delete"), queue=QUEUE)
async def delete_deployment(command: DeleteDeployment, deps: Deps) -> dict[str, Any]:
    """Remove a Deployment from its cluster, then the record."""
    return await deployments.delete_deployment(deps, command)


@router.subscriber(subjects.query(DEPLOYMENT, "get"), queue=QUEUE)
async def get_deployment(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await deployments.get_deployment(deps, query)


@router.subscriber(subjects.query(DEPLOYMENT, "list"), queue=QUEUE)
async def list_deployments(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await deployments.list_deployments(deps, query)


@router.subscriber(subjects.command(SERVICE, "create"), queue=QUEUE)
async def create_service(command: CreateService, deps: Deps) -> dict[str, Any]:
    """Accept a Service in front of a Deployment (pending) and queue its apply."""
    return await kube_services.create_service(deps, command)


@router.subscriber(subjects.command(SERVICE, "update"), queue=QUEUE)
async def update_service(command: UpdateService, deps: Deps) -> dict[str, Any]:
    """Replace a Service's spec and apply it again (pending)."""
    return await kube_services.update_service(deps, command)


@router.subscriber(subjects.command(SERVICE, "delete"), queue=QUEUE)
async def delete_service(command: DeleteService, deps: Deps) -> dict[str, Any]:
    """Remove a Service from its cluster, then the record."""
    return await kube_services.delete_service(deps, command)


@router.subscriber(subjects.query(SERVICE, "get"), queue=QUEUE)
async def get_service(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await kube_services.get_service(deps, query)


@router.subscriber(subjects.query(SERVICE, "list"), queue=QUEUE)
async def list_services(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await kube_services.list_services(deps, query)
