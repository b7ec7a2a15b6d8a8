"""The workload-manager's commands and queries: each checks the rules against the
projections, loads an entity, calls one domain method and saves it with its job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from pymongo import ASCENDING

from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeleteDeployment,
    DeleteService,
    DeploymentSpec,
    RepairDeployment,
    ScaleDeployment,
    ServiceSpec,
    UpdateDeployment,
    UpdateService,
)
from slipway_contracts.entities import Deployment, Service
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.errors import Conflict, InvalidInput
from slipway_libs.messaging import (
    CommandProcessor,
    conflict_on,
    entity_reply,
    page_reply,
)
from slipway_libs.storage import Repository, UnitOfWork, matching
from slipway_libs.unit_of_work import check_if_match
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.projections import ProjectedCluster, ProjectedImage
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.domain.workload import WorkloadAggregate
from slipway_workload_manager.parts import UseCases, WorkloadParts
from slipway_workload_manager.scheduling import (
    Deployments,
    Services,
    queue_apply,
    queue_rollout,
    rollout_deadline,
    service_deadline,
)

log = logging.getLogger(__name__)

UNIQUE_NAME_INDEX = "cluster_namespace_name_unique"
W = TypeVar("W", bound=WorkloadAggregate[Any])
T = TypeVar("T")


async def ensure_workload_indexes(deployments: Deployments, services: Services) -> None:
    """(cluster, namespace, name) is unique per entity type: it names the cluster object."""
    for repository in (deployments, services):
        await repository.collection.create_index(
            [("cluster_id", ASCENDING), ("namespace", ASCENDING), ("name", ASCENDING)],
            unique=True,
            name=UNIQUE_NAME_INDEX,
        )
    await deployments.collection.create_index([("image_id", ASCENDING)])
    await services.collection.create_index([("deployment_id", ASCENDING)])


def _deployment_spec(command: DeploymentSpec) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        command.model_dump(include=set(DeploymentSpec.model_fields))
    )


def _service_spec(command: ServiceSpec) -> ServiceSpec:
    return ServiceSpec.model_validate(command.model_dump(include=set(ServiceSpec.model_fields)))


def _name_taken(command: DeploymentSpec | ServiceSpec, kind: str) -> AbstractContextManager[None]:
    """A taken (cluster, namespace, name) is a 409 naming it."""
    namespace, name = command.namespace, command.name
    return conflict_on(
        UNIQUE_NAME_INDEX,
        Conflict(
            f"a {kind} named '{name}' already exists in namespace '{namespace}' of this cluster",
            {"namespace": namespace, "name": name},
        ),
    )


class WorkloadService(UseCases):
    def __init__(self, parts: WorkloadParts) -> None:
        super().__init__(parts)
        self.processor = CommandProcessor(parts.deployments.database)

    # --- checks ---------------------------------------------------------------

    async def _deployable(self, spec: DeploymentSpec) -> ProjectedImage:
        """The rules of a Deployment's spec; every invalid field is reported at once."""
        invalid: list[InvalidInput] = []
        conflicts: list[Conflict] = []
        image: ProjectedImage | None = None

        async def check(
            rule: Callable[[], Awaitable[Any]], entity: str, ids: Callable[[], Awaitable[list[str]]]
        ) -> Any:
            """Run `rule` (see `_caught_up`), keeping its refusal to report with the others."""
            try:
                return await self._caught_up(rule, entity, ids)
            except (InvalidInput, Conflict) as refused:
                (invalid if isinstance(refused, InvalidInput) else conflicts).append(refused)
            return None

        async def image_rule() -> ProjectedImage:
            by_id = await self.projections.image(spec.image_id) if spec.image_id else None
            named = [] if spec.image_id else await self.projections.images_named(spec.image or "")
            return rules.deployable_image(spec.image_id, spec.image, by_id, named)

        async def image_ids() -> list[str]:
            if spec.image_id:
                return [spec.image_id]
            return [i.id for i in await self.projections.images_named(spec.image or "")]

        async def cluster_rule() -> None:
            cluster = await self.projections.cluster(spec.cluster_id)
            rules.running_cluster(spec.cluster_id, cluster)

        async def chart_rule() -> None:
            if spec.chart_id:
                rules.valid_chart(spec.chart_id, await self.projections.chart(spec.chart_id))

        async def just(*ids: str | None) -> list[str]:
            return [i for i in ids if i]

        image = await check(image_rule, subjects.CONTAINER_IMAGE, image_ids)
        await check(cluster_rule, subjects.MINIKUBE_CLUSTER, lambda: just(spec.cluster_id))
        await check(chart_rule, subjects.HELM_CHART, lambda: just(spec.chart_id))
        if invalid:
            details = [d for exc in invalid for d in (exc.details or [])]
            raise InvalidInput("; ".join(exc.message for exc in invalid), details)
        if conflicts:
            raise conflicts[0]
        assert image is not None
        return image

    async def _caught_up(
        self, rule: Callable[[], Awaitable[T]], entity: str, ids: Callable[[], Awaitable[list[str]]]
    ) -> T:
        """Run `rule`; when it refuses, catch the projection up with the owner of the
        entities it read and run it once more (their events may still be on the way)."""
        try:
            return await rule()
        except (InvalidInput, Conflict):
            if not await self.projections.catch_up(entity, await ids()):
                raise
        return await rule()

    async def _running_cluster(self, cluster_id: str) -> ProjectedCluster:
        async def rule() -> ProjectedCluster:
            return rules.running_cluster(cluster_id, await self.projections.cluster(cluster_id))

        async def ids() -> list[str]:
            return [cluster_id]

        return await self._caught_up(rule, subjects.MINIKUBE_CLUSTER, ids)

    async def _services_of(self, deployment_id: str) -> list[ServiceAggregate]:
        return await matching(self.services, {"deployment_id": deployment_id})

    async def _create(
        self,
        command: CreateDeployment | CreateService,
        repository: Repository[W],
        accept: Callable[[], Awaitable[W]],
        queue: Callable[[UnitOfWork, W], Awaitable[None]],
    ) -> dict[str, Any]:
        """Accept a new workload (checked by `accept` in the transaction) with its job."""

        async def action(uow: UnitOfWork) -> dict[str, Any]:
            workload = await accept()
            await repository.save(uow, workload)
            await queue(uow, workload)
            snapshot: dict[str, Any] = workload.state.snapshot()
            return snapshot

        with _name_taken(command, repository.entity):
            return await self.processor.run(command, action)

    # --- deployment commands ----------------------------------------------------

    async def create_deployment(self, command: CreateDeployment) -> dict[str, Any]:
        spec = _deployment_spec(command)

        async def accept() -> DeploymentAggregate:
            return DeploymentAggregate.accept(
                spec,
                await self._deployable(spec),
                deployment_id=context.new_id(),
                rollout_id=context.new_id(),
                deadline=rollout_deadline(self.settings, spec.progress_deadline_seconds),
            )

        return await self._create(command, self.deployments, accept, queue_rollout)

    async def update_deployment(self, command: UpdateDeployment) -> dict[str, Any]:
        spec = _deployment_spec(command)

        async def respecify(uow: UnitOfWork, deployment: DeploymentAggregate) -> None:
            state = deployment.state
            rules.same_identity(
                (state.cluster_id, state.namespace, state.name),
                (spec.cluster_id, spec.namespace, spec.name),
            )
            image = await self._deployable(spec)
            if spec.container_port != state.container_port:
                await self._refuse_orphaned_services(deployment, spec.container_port)
            rolled = deployment.respecify(
                spec,
                image,
                rollout_id=context.new_id(),
                deadline=rollout_deadline(self.settings, spec.progress_deadline_seconds),
            )
            if rolled:
                await self.deployments.save(uow, deployment)
                await queue_rollout(uow, deployment)

        with _name_taken(command, self.deployments.entity):
            return await self.processor.run_on(command, self.deployments, respecify)

    async def _refuse_orphaned_services(self, deployment: DeploymentAggregate, port: int) -> None:
        names = [s.state.name for s in await self._services_of(deployment.id)]
        if names:
            raise InvalidInput.field(
                "container_port",
                f"services {', '.join(sorted(names))} target port "
                f"{deployment.state.container_port}: change their target_port along with it "
                f"(or delete them) before moving the container to port {port}",
            )

    async def scale_deployment(self, command: ScaleDeployment) -> dict[str, Any]:
        async def scale(uow: UnitOfWork, deployment: DeploymentAggregate) -> None:
            await self._running_cluster(deployment.state.cluster_id)
            rolled = deployment.scale(
                command.replicas,
                rollout_id=context.new_id(),
                deadline=rollout_deadline(
                    self.settings, deployment.state.progress_deadline_seconds
                ),
            )
            if rolled:
                await self.deployments.save(uow, deployment)
                await queue_rollout(uow, deployment)

        return await self.processor.run_on(command, self.deployments, scale)

    async def repair_deployment(self, command: RepairDeployment) -> dict[str, Any]:
        """Apply the Deployment (and its drifted or failed Services) again as recorded."""

        async def repair(uow: UnitOfWork, deployment: DeploymentAggregate) -> None:
            await self._running_cluster(deployment.state.cluster_id)
            deployment.repair(
                rollout_id=context.new_id(),
                deadline=rollout_deadline(
                    self.settings, deployment.state.progress_deadline_seconds
                ),
            )
            await self.deployments.save(uow, deployment)
            await queue_rollout(uow, deployment)
            for service in await self._services_of(deployment.id):
                if service.state.drift or service.state.status == "failed":
                    service.repair(
                        apply_id=context.new_id(),
                        deadline=service_deadline(self.settings, deployment.state),
                    )
                    await self.services.save(uow, service)
                    await queue_apply(uow, service)

        return await self.processor.run_on(command, self.deployments, repair)

    async def delete_deployment(self, command: DeleteDeployment) -> dict[str, Any]:
        """Remove the Deployment from its cluster, then the record (refused while Services
        select its pods)."""
        return await self._delete(
            command, self.deployments, "Deployment", self._refuse_with_services
        )

    async def _delete(
        self,
        command: DeleteDeployment | DeleteService,
        repository: Repository[W],
        kind: str,
        check: Callable[[W], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Remove a workload's object from its cluster, then the record.

        When the cluster is not running (or does not answer in time) the record is removed
        anyway and the reply's `reason` says so; the object is removed when the cluster is
        next seen running (a leftover, kept with the deletion).
        """
        existing = await repository.find(command.id)
        note: str | None = None
        if existing is not None:  # (gone: a replay gets its kept reply, else a 404)
            check_if_match(existing, command.expected_revision)
            if check is not None:
                await check(existing)
            note = await self._remove_object(kind, existing.state)

        async def remove(uow: UnitOfWork, workload: W) -> None:
            state = workload.state
            workload.remove(note)
            await repository.save(uow, workload)
            await self.leftovers.add(
                uow,
                entity_id=state.id,
                kind=kind,
                cluster_id=state.cluster_id,
                namespace=state.namespace,
                name=state.name,
            )

        return await self.processor.run_on(command, repository, remove)

    async def _refuse_with_services(self, deployment: DeploymentAggregate) -> None:
        names = sorted(s.state.name for s in await self._services_of(deployment.id))
        if names:
            raise Conflict(
                f"deployment '{deployment.state.name}' is in use by services "
                f"{', '.join(names)}: delete them first",
                {"services": names},
            )

    async def _remove_object(self, kind: str, state: Deployment | Service) -> str | None:
        """Delete one object from the entity's cluster; a note when that was not possible."""
        cluster = await self.projections.cluster(state.cluster_id)
        where = f"{kind} {state.namespace}/{state.name}"
        outage = rules.cluster_outage(cluster, state.cluster_id)
        if cluster is None:
            return f"removed from Slipway; {outage}"  # and its objects went with it
        if outage is not None:
            return f"removed from Slipway; {outage}: its {where} is removed when it runs again"
        try:
            async with asyncio.timeout(self.settings.delete_timeout_s):
                access = await self.connections.access(cluster)
                await self.cluster.delete(access, kind, state.namespace, state.name)
        except Exception as exc:  # whatever the cause, the user is told what was left
            self.connections.forget(cluster.id)
            why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                why = f"no answer within {self.settings.delete_timeout_s:g} s"
            log.warning(
                "object not removed from its cluster", extra={"object": where, "error": why}
            )
            return (
                f"removed from Slipway; cluster '{cluster.name}' could not remove its {where} "
                f"now ({why}): it is retried while the cluster runs"
            )
        return None

    # --- service commands -------------------------------------------------------

    async def _service_backend(self, spec: ServiceSpec) -> Deployment:
        deployment = await self.deployments.find(spec.deployment_id)
        backend = rules.service_backend(
            spec.deployment_id,
            deployment.state if deployment else None,
            namespace=spec.namespace,
            target_port=spec.target_port,
        )
        await self._running_cluster(backend.cluster_id)
        return backend

    async def create_service(self, command: CreateService) -> dict[str, Any]:
        spec = _service_spec(command)

        async def accept() -> ServiceAggregate:
            backend = await self._service_backend(spec)
            return ServiceAggregate.accept(
                spec,
                backend,
                service_id=context.new_id(),
                apply_id=context.new_id(),
                deadline=service_deadline(self.settings, backend),
            )

        return await self._create(command, self.services, accept, queue_apply)

    async def update_service(self, command: UpdateService) -> dict[str, Any]:
        spec = _service_spec(command)

        async def respecify(uow: UnitOfWork, service: ServiceAggregate) -> None:
            backend = await self._service_backend(spec)
            state = service.state
            if backend.cluster_id != state.cluster_id:
                raise InvalidInput.field(
                    "deployment_id",
                    f"deployment '{backend.name}' is on another cluster: a Service stays on "
                    "its cluster; delete this one and create another",
                )
            rules.same_identity(
                (state.cluster_id, state.namespace, state.name),
                (backend.cluster_id, spec.namespace, spec.name),
            )
            if service.respecify(
                spec,
                backend,
                apply_id=context.new_id(),
                deadline=service_deadline(self.settings, backend),
            ):
                await self.services.save(uow, service)
                await queue_apply(uow, service)

        with _name_taken(command, self.services.entity):
            return await self.processor.run_on(command, self.services, respecify)

    async def delete_service(self, command: DeleteService) -> dict[str, Any]:
        """Remove the Service from its cluster, then the record."""
        return await self._delete(command, self.services, "Service")

    # --- queries --------------------------------------------------------------

    async def get_deployment(self, query: GetEntity) -> dict[str, Any]:
        return await entity_reply(self.deployments, query.id)

    async def list_deployments(self, query: ListEntities) -> dict[str, Any]:
        return await page_reply(self.deployments, query)

    async def get_service(self, query: GetEntity) -> dict[str, Any]:
        return await entity_reply(self.services, query.id)

    async def list_services(self, query: ListEntities) -> dict[str, Any]:
        return await page_reply(self.services, query)
