"""Registering and reading clusters (deleting one is an operation: see `operations`).

A cluster is registered `stopped` (with `start`, its first start is queued at once); its
request is checked against the host's capabilities, or, for an attached cluster, against
its kubeconfig: a file under the kubeconfig roots, or the content itself, which is kept
sealed beside the record (never in it) in the same transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway_cluster_manager.domain.capabilities import minimums_for, validate_cluster_request
from slipway_cluster_manager.domain.cluster import ClusterAggregate
from slipway_cluster_manager.domain.ports import DriverError, InvalidClusterSpec
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.service_layer.drivers import (
    driver_with_credentials,
    refusal,
)
from slipway_cluster_manager.service_layer.operations import new_operation, queue_operation
from slipway_contracts.commands import CreateCluster
from slipway_contracts.entities import ClusterDriverName
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities
from slipway_libs import context
from slipway_libs.errors import Conflict, InvalidInput
from slipway_libs.messaging import conflict_on, entity_reply, page_reply
from slipway_libs.unit_of_work import idempotent, ok

UNIQUE_NAME_INDEX = "name_unique"
"""The storage's unique index on `name` (it settles two creates racing for one name)."""


@idempotent
async def create_cluster(deps: Dependencies, command: CreateCluster) -> dict[str, Any]:
    """Register a cluster, stopped; with `start` its start is queued too."""
    checked = _checked_request(deps, command)
    taken = Conflict(f"a cluster named '{command.name}' already exists", {"name": command.name})
    async with deps.uow:  # a taken name: the unique index refuses the insert (no look-up)
        start = new_operation(deps.settings, checked.driver, "start") if checked.start else None
        cluster = ClusterAggregate.register(checked, cluster_id=context.new_id(), start=start)
        deps.clusters.add(cluster)
        if checked.kubeconfig_data is not None:
            await deps.credentials.keep_kubeconfig(cluster.id, checked.kubeconfig_data)
        if start is not None:
            queue_operation(deps.uow, cluster)
        with conflict_on(UNIQUE_NAME_INDEX, taken):
            return await deps.uow.commit(answer=cluster.snapshot())


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_cluster(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    """One cluster (NotFound naming it)."""
    return await entity_reply(deps.clusters, query.id)


async def list_clusters(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    """One page of clusters, oldest first, optionally of one status."""
    return await page_reply(deps.clusters, query)


async def cluster_kubeconfig(deps: Dependencies, query: GetKubeconfig) -> dict[str, Any]:
    """The running cluster's self-contained kubeconfig (YAML text), for kubectl."""
    cluster = await deps.clusters.get(query.id)
    cluster.require_running("hand out its kubeconfig")
    try:
        driver, spec = await driver_with_credentials(deps, cluster.state)
        text = await driver.kubeconfig(spec)
    except DriverError as error:
        raise refusal(error) from None
    return ok(
        {
            "id": cluster.id,
            "name": cluster.name,
            "api_server": deps.kubeconfigs.api_server(text),
            "kubeconfig": text,
        }
    )


def _checked_request(deps: Dependencies, command: CreateCluster) -> CreateCluster:
    """The request as it will be kept, or InvalidInput naming every bad field."""
    if command.driver is ClusterDriverName.KUBECONFIG:
        return _checked_attachment(deps, command)
    for field in ("kubeconfig", "kubeconfig_data", "context"):
        if getattr(command, field) is not None:
            raise InvalidInput.field(field, "is only for clusters with driver 'kubeconfig'")
    errors = validate_cluster_request(
        name=command.name,
        cpus=command.cpus,
        memory_mb=command.memory,
        disk_size_mb=command.disk_size,
        kubernetes_version=command.kubernetes_version,
        host=deps.host(),
        minimums=minimums_for(str(command.driver)),
    )
    if errors:
        raise InvalidInput(
            "invalid input: " + "; ".join(str(e) for e in errors),
            [{"field": e.field, "message": e.message} for e in errors],
        )
    return command


def _checked_attachment(deps: Dependencies, command: CreateCluster) -> CreateCluster:
    """An attached cluster needs a kubeconfig, a file under the kubeconfig roots or its
    content (not both), holding the named context."""
    if command.start:
        raise InvalidInput.field(
            "start",
            "an attached cluster is not started by Slipway; it turns running once its "
            "API server answers a health probe",
        )
    if command.kubeconfig_data is not None:
        return _checked_inline_attachment(deps, command, command.kubeconfig_data)
    if command.kubeconfig and not Path(command.kubeconfig).expanduser().is_absolute():
        raise InvalidInput.field("kubeconfig", f"'{command.kubeconfig}' is not an absolute path")
    try:
        attachment = deps.kubeconfigs.attachment(command.kubeconfig, command.context)
    except InvalidClusterSpec as error:
        raise refusal(error) from None
    return command.model_copy(
        update={"kubeconfig": attachment.kubeconfig, "context": attachment.context}
    )


def _checked_inline_attachment(
    deps: Dependencies, command: CreateCluster, content: str
) -> CreateCluster:
    """A kubeconfig given as content must be self-contained and hold the named context."""
    if command.kubeconfig is not None:
        raise InvalidInput.field(
            "kubeconfig_data",
            "give either kubeconfig (a file under the kubeconfig roots) or kubeconfig_data "
            "(its content), not both",
        )
    try:
        attached_context = deps.kubeconfigs.inline_context(content, command.context)
    except InvalidClusterSpec as error:
        raise refusal(error) from None
    return command.model_copy(update={"context": attached_context})
