"""Deployments: create, update, scale, repair and delete one, and the queries.

Each command checks the rules against the projections, loads the Deployment in a unit of
work, calls one domain method and commits it with the rollout it queues (the job runs in
`rollouts`). A repeated command id gets the first reply (`idempotent`).
"""

from __future__ import annotations

from typing import Any

from slipway_contracts.commands import (
    CreateDeployment,
    DeleteDeployment,
    DeploymentSpec,
    RepairDeployment,
    ScaleDeployment,
    UpdateDeployment,
)
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import check_if_match, idempotent
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.service_layer import admission, removal, usage
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import (
    queue_apply,
    queue_rollout,
    rollout_deadline,
    service_deadline,
)

KIND = "Deployment"


def deployment_spec(command: DeploymentSpec) -> DeploymentSpec:
    """The spec fields of a create or update command."""
    return DeploymentSpec.model_validate(
        command.model_dump(include=set(DeploymentSpec.model_fields))
    )


@idempotent
async def create_deployment(deps: Dependencies, command: CreateDeployment) -> dict[str, Any]:
    """Accept a Deployment (`pending`) and queue its first rollout."""
    spec = deployment_spec(command)
    image = await admission.deployable(deps, spec)
    async with deps.uow:  # a taken name: the unique index refuses the insert (no look-up)
        deployment = DeploymentAggregate.accept(
            spec,
            image,
            deployment_id=context.new_id(),
            rollout_id=context.new_id(),
            deadline=rollout_deadline(deps.settings, spec.progress_deadline_seconds),
        )
        deps.deployments.add(deployment)
        queue_rollout(deps.uow, deployment)
        return await deps.uow.commit(answer=deployment.snapshot())


@idempotent
async def update_deployment(deps: Dependencies, command: UpdateDeployment) -> dict[str, Any]:
    """Replace a Deployment's spec and roll it out again (`updating`); nothing happens to a
    running Deployment that has this spec already."""
    spec = deployment_spec(command)
    async with deps.uow:
        deployment = await deps.deployments.get(command.id)
        check_if_match(deployment, command.expected_revision)
        await admission.outside_release(deps, KIND, deployment.state)
        state = deployment.state
        rules.same_identity(
            (state.cluster_id, state.namespace, state.name),
            (spec.cluster_id, spec.namespace, spec.name),
        )
        image = await admission.deployable(deps, spec)
        if spec.container_port != state.container_port:
            services = await _names_of_services(deps, deployment.id)
            rules.port_kept_for_services(state, spec.container_port, services)
        rollout_id = context.new_id()
        deadline = rollout_deadline(deps.settings, spec.progress_deadline_seconds)
        if deployment.respecify(spec, image, rollout_id=rollout_id, deadline=deadline):
            queue_rollout(deps.uow, deployment)
        return await deps.uow.commit(answer=deployment.snapshot())


@idempotent
async def scale_deployment(deps: Dependencies, command: ScaleDeployment) -> dict[str, Any]:
    """Change a Deployment's replica count (`updating`); its cluster must be running."""
    async with deps.uow:
        deployment = await deps.deployments.get(command.id)
        check_if_match(deployment, command.expected_revision)
        await admission.outside_release(deps, KIND, deployment.state)
        await admission.running_cluster(deps, deployment.state.cluster_id)
        deadline = rollout_deadline(deps.settings, deployment.state.progress_deadline_seconds)
        if deployment.scale(command.replicas, rollout_id=context.new_id(), deadline=deadline):
            queue_rollout(deps.uow, deployment)
        return await deps.uow.commit(answer=deployment.snapshot())


@idempotent
async def repair_deployment(deps: Dependencies, command: RepairDeployment) -> dict[str, Any]:
    """Apply the Deployment (and its drifted or failed Kubernetes Services) again as
    recorded, undoing changes made in the cluster behind Slipway's back."""
    async with deps.uow:
        deployment = await deps.deployments.get(command.id)
        check_if_match(deployment, command.expected_revision)
        await admission.outside_release(deps, KIND, deployment.state)
        await admission.running_cluster(deps, deployment.state.cluster_id)
        deadline = rollout_deadline(deps.settings, deployment.state.progress_deadline_seconds)
        deployment.repair(rollout_id=context.new_id(), deadline=deadline)
        queue_rollout(deps.uow, deployment)
        for kube_service in await _kube_services_of(deps, deployment.id):
            if kube_service.broken:
                deadline = service_deadline(deps.settings, deployment.state)
                kube_service.repair(apply_id=context.new_id(), deadline=deadline)
                queue_apply(deps.uow, kube_service)
        return await deps.uow.commit(answer=deployment.snapshot())


@idempotent
async def delete_deployment(deps: Dependencies, command: DeleteDeployment) -> dict[str, Any]:
    """Remove the Deployment from its cluster, then the record (refused while Kubernetes
    Services select its pods); the reply's `reason` says what was left behind, if anything."""
    note = await _remove_from_cluster(deps, command)
    return await removal.remove_record(deps, deps.deployments, command, KIND, note)


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_deployment(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    """One deployment, with what its pods use now when it runs (`usage`)."""
    return await usage.with_usage(deps, await entity_reply(deps.deployments, query.id))


async def list_deployments(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    return await page_reply(deps.deployments, query)


# --- what the commands share ------------------------------------------------------


async def _kube_services_of(deps: Dependencies, deployment_id: str) -> list[KubeServiceAggregate]:
    """The Kubernetes Services that select the Deployment's pods, loaded in the open unit
    of work (to change them with it)."""
    found = await deps.kube_services.matching(deployment_id=deployment_id)
    loaded = [await deps.kube_services.find(s.id) for s in found]
    return [s for s in loaded if s is not None]


async def _names_of_services(deps: Dependencies, deployment_id: str) -> list[str]:
    """The names of the Kubernetes Services that select the Deployment's pods."""
    return [s.state.name for s in await deps.kube_services.matching(deployment_id=deployment_id)]


async def _remove_from_cluster(deps: Dependencies, command: DeleteDeployment) -> str | None:
    """Remove the object first (outside the transaction: the cluster may be slow); None
    when the Deployment does not exist (the delete then answers 404)."""
    deployment = await deps.deployments.find(command.id)
    if deployment is None:
        return None
    check_if_match(deployment, command.expected_revision)
    await admission.outside_release(deps, KIND, deployment.state)
    rules.not_in_use(deployment.state, await _names_of_services(deps, deployment.id))
    return await removal.remove_object(deps, KIND, deployment.state)
