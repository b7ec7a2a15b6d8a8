"""Kubernetes Services (the `Service` entity, `slipway.service.*`): create, update and
delete one in front of a Deployment, and the queries.

Each command checks the rules (its Deployment, a running cluster), loads the Service in a
unit of work, calls one domain method and commits it with the apply it queues (the job
runs in `rollouts`). A repeated command id gets the first reply (`idempotent`).
"""

from __future__ import annotations

from typing import Any

from slipway_contracts.commands import CreateService, DeleteService, ServiceSpec, UpdateService
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import check_if_match, idempotent
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.service_layer import admission, removal
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import queue_apply, service_deadline

KIND = "Service"


def service_spec(command: ServiceSpec) -> ServiceSpec:
    """The spec fields of a create or update command."""
    return ServiceSpec.model_validate(command.model_dump(include=set(ServiceSpec.model_fields)))


@idempotent
async def create_service(deps: Dependencies, command: CreateService) -> dict[str, Any]:
    """Accept a Kubernetes Service in front of a Deployment (`pending`) and queue its apply."""
    spec = service_spec(command)
    backend = await admission.service_backend(deps, spec)
    async with deps.uow:  # a taken name: the unique index refuses the insert (no look-up)
        kube_service = KubeServiceAggregate.accept(
            spec,
            backend,
            service_id=context.new_id(),
            apply_id=context.new_id(),
            deadline=service_deadline(deps.settings, backend),
        )
        deps.kube_services.add(kube_service)
        queue_apply(deps.uow, kube_service)
        return await deps.uow.commit(answer=kube_service.snapshot())


@idempotent
async def update_service(deps: Dependencies, command: UpdateService) -> dict[str, Any]:
    """Replace a Kubernetes Service's spec and apply it again (`pending`); nothing happens
    to an active one that has this spec already."""
    spec = service_spec(command)
    async with deps.uow:
        kube_service = await deps.kube_services.get(command.id)
        check_if_match(kube_service, command.expected_revision)
        await admission.outside_release(deps, KIND, kube_service.state)
        backend = await admission.service_backend(deps, spec)
        state = kube_service.state
        rules.same_cluster(backend, state.cluster_id)
        rules.same_identity(
            (state.cluster_id, state.namespace, state.name),
            (backend.cluster_id, spec.namespace, spec.name),
        )
        apply_id, deadline = context.new_id(), service_deadline(deps.settings, backend)
        if kube_service.respecify(spec, backend, apply_id=apply_id, deadline=deadline):
            queue_apply(deps.uow, kube_service)
        return await deps.uow.commit(answer=kube_service.snapshot())


@idempotent
async def delete_service(deps: Dependencies, command: DeleteService) -> dict[str, Any]:
    """Remove the Kubernetes Service from its cluster, then the record; the reply's
    `reason` says what was left behind, if anything."""
    note = await _remove_from_cluster(deps, command)
    return await removal.remove_record(deps, deps.kube_services, command, KIND, note)


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_service(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    return await entity_reply(deps.kube_services, query.id)


async def list_services(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    return await page_reply(deps.kube_services, query)


async def _remove_from_cluster(deps: Dependencies, command: DeleteService) -> str | None:
    """Remove the object first (outside the transaction: the cluster may be slow); None
    when the Service does not exist (the delete then answers 404)."""
    kube_service = await deps.kube_services.find(command.id)
    if kube_service is None:
        return None
    check_if_match(kube_service, command.expected_revision)
    await admission.outside_release(deps, KIND, kube_service.state)
    return await removal.remove_object(deps, KIND, kube_service.state)
